/*
 * The latency percentiles bmctl modules reports: with samples spread from 1 ms
 * to 1 s, p50, p99 and p99.9 must each be within the histogram's 6.25% of the
 * true value (log2 buckets read 768 ms for all three).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "stats/stats.h"

static void near(double got, double want)
{
    if (got < want * 0.9375 || got > want * 1.0625)
        fail_msg("percentile %.1f ms, want %.1f ms within 6.25%%", got, want);
}

static void test_percentiles_resolve(void **state)
{
    (void)state;
    bm_stats *st = calloc(1, sizeof *st);
    assert_non_null(st);
    assert_true(bm_stats_latency_pct(st, 50) == 0); /* no samples */
    for (int v = 1; v <= 1000; v++)
        bm_stats_latency_add(st, v);
    near(bm_stats_latency_pct(st, 50), 500);
    near(bm_stats_latency_pct(st, 99), 990);
    near(bm_stats_latency_pct(st, 99.9), 999);
    assert_true(bm_stats_latency_pct(st, 50) < bm_stats_latency_pct(st, 99));
    /* small values are exact, huge ones do not overflow the table */
    bm_stats *s2 = calloc(1, sizeof *s2);
    assert_non_null(s2);
    bm_stats_latency_add(s2, 3);
    assert_true(bm_stats_latency_pct(s2, 50) == 3);
    bm_stats_latency_add(s2, INT64_MAX);
    bm_stats_latency_add(s2, -5);
    assert_true(bm_stats_latency_pct(s2, 100) > 1e9);
    /* the log2 histogram for /metrics still counts every sample */
    uint64_t n = 0;
    for (int i = 0; i < 32; i++)
        n += st->latency_hist[i];
    assert_int_equal(n, 1000);
    free(st);
    free(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_percentiles_resolve)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
