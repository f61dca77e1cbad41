#include "stats/stats.h"

void bm_stats_latency_add(bm_stats *st, int64_t ms)
{
    int bucket = 0;
    while (ms > 0 && bucket < 31) {
        ms >>= 1;
        bucket++;
    }
    atomic_fetch_add(&st->latency_hist[bucket], 1);
}

double bm_stats_latency_pct(bm_stats *st, double pct)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < 32; i++)
        total += atomic_load(&st->latency_hist[i]);
    if (!total)
        return 0;
    for (int i = 0; i < 32; i++) {
        seen += atomic_load(&st->latency_hist[i]);
        if ((double)seen >= pct / 100.0 * (double)total)
            return i == 0 ? 0.5 : (double)(1ULL << (i - 1)) * 1.5; /* bucket midpoint */
    }
    return 0;
}
