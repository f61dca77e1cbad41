#include "stats/stats.h"

/*
 * HDR-style buckets: values below 16 ms exactly; above, each power of two is
 * split into 16 linear sub-buckets, so any value is known within 1/16 (6.25%)
 * whatever its size, while the table stays a fixed 640 counters.
 */
static int hdr_index(int64_t v)
{
    if (v < 16)
        return v < 0 ? 0 : (int)v;
    int e = 63 - __builtin_clzll((unsigned long long)v); /* >= 4 */
    int sub = (int)((v >> (e - 4)) & 15);
    int i = 16 + (e - 4) * 16 + sub;
    return i < BM_STATS_HDR_BUCKETS ? i : BM_STATS_HDR_BUCKETS - 1;
}

/* Midpoint of HDR bucket i, in ms. */
static double hdr_value(int i)
{
    if (i < 16)
        return (double)i;
    int e = (i - 16) / 16 + 4, sub = (i - 16) % 16;
    double width = (double)(1ULL << (e - 4));
    return (double)(16 + sub) * width + (width > 1 ? width / 2 : 0);
}

void bm_stats_latency_add(bm_stats *st, int64_t ms)
{
    int bucket = 0;
    int64_t v = ms;
    while (v > 0 && bucket < 31) {
        v >>= 1;
        bucket++;
    }
    atomic_fetch_add(&st->latency_hist[bucket], 1);
    atomic_fetch_add(&st->latency_hdr[hdr_index(ms)], 1);
}

double bm_stats_latency_pct(bm_stats *st, double pct)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < BM_STATS_HDR_BUCKETS; i++)
        total += atomic_load(&st->latency_hdr[i]);
    if (!total)
        return 0;
    for (int i = 0; i < BM_STATS_HDR_BUCKETS; i++) {
        seen += atomic_load(&st->latency_hdr[i]);
        if ((double)seen >= pct / 100.0 * (double)total)
            return hdr_value(i);
    }
    return 0;
}
