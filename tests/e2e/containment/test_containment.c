/*
 * Crashing and hanging modules never take the engine down or into a crash
 * loop. Each case runs the real engine (supervised by its master process)
 * with a leaderboard next to the template module `example`, broken in one
 * callback, and checks what an operator sees: one restart, the file named
 * as quarantined, the last good copy serving (or the module's campaigns
 * disabled with the reason when there is none), every other campaign exact.
 */
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "containment.h"

static int setup(void **state)
{
    bm_e2e *e = calloc(1, sizeof *e);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    bm_e2e_cleanup(*state);
    free(*state);
    return 0;
}

static void init_world(bm_e2e *e, const char *name, int partitions)
{
    bm_e2e_init(e, name, partitions);
    bm_e2e_setenv(e, "BM_ENGINE_SUPERVISE", "1");
    bm_e2e_setenv(e, "BM_ENGINE_PROBATION_S", "1");
    bm_e2e_setenv(e, "BM_WATCHDOG_EVENT_MS", "500");
    bm_e2e_setenv(e, "BM_ENGINE_STOP_TIMEOUT_MS", "3000");
}

/* A module loaded for the first time (no good copy) that crashes or hangs on
 * its first event: one restart, its campaign disabled with the reason, the
 * leaderboard next to it counts every event, and a fresh start with the file
 * still in place does not crash again. */
static void first_event_fault(bm_e2e *e, const char *fixture, const char *death, const char *blame)
{
    char ex[64], board[64];
    ct_install(e, "tpl_good"); /* bmctl validates the campaign with a working build */
    ct_campaigns(e, ex, board, sizeof ex);
    ct_install(e, fixture);

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    long long want = ct_produce(e, 200, 1);
    bm_e2e_wait_log(&g, death, 30000);
    bm_e2e_wait_offsets(e, &g, 200, 60000);
    ct_wait_total(e, &g, board, want, 30000);
    assert_true(bm_e2e_log_contains(&g, blame));
    assert_true(bm_e2e_log_contains(&g, "level=error module=loader msg=\"quarantined file="));
    assert_int_equal(bm_e2e_log_count(&g, "died:"), 1); /* no crash loop */

    json_t *ct, *m = ct_modules(e, &ct);
    assert_int_equal(json_integer_value(json_object_get(ct, "restarts")), 1);
    json_t *q = json_array_get(json_object_get(ct, "quarantined"), 0);
    assert_non_null(strstr(json_string_value(json_object_get(q, "file")), "/example.so"));
    assert_string_equal(json_string_value(json_object_get(q, "goodCopy")), "");
    assert_non_null(strstr(ct_refused(m, ex), "quarantined"));
    assert_string_equal(ct_refused(m, board), "");
    json_decref(m);
    assert_int_equal(ct_total(e, ex), 0);
    bm_e2e_engine_stop(&g, 20000);

    /* A fresh start with the same file: refused at once, named, no crash. */
    bm_e2e_engine g2;
    bm_e2e_engine_start(e, &g2);
    bm_e2e_wait_log(&g2, "started roles=", 30000);
    want += ct_produce(e, 50, 2);
    bm_e2e_wait_offsets(e, &g2, 250, 60000);
    ct_wait_total(e, &g2, board, want, 30000);
    assert_true(bm_e2e_log_contains(&g2, "not loaded, no good copy"));
    assert_int_equal(bm_e2e_log_count(&g2, "died:"), 0);
    bm_e2e_engine_stop(&g2, 20000);
}

static void test_abort_on_first_event(void **state)
{
    bm_e2e *e = *state;
    init_world(e, "ct_abort", 3);
    first_event_fault(e, "tpl_event_abort", "died: signal 6",
                      "crashed with signal 6 (SIGABRT) module=example campaign=");
}

static void test_infinite_loop_in_on_event(void **state)
{
    bm_e2e *e = *state;
    init_world(e, "ct_loop", 3);
    first_event_fault(e, "tpl_event_loop", "died: exit 70", "callback=on_event generation=1 file=");
}

/* A proven generation replaced by one whose init segfaults: the reload kills
 * the worker once; the restart serves the last good copy, which counts every
 * event; later starts with the bad file in place do the same without crashing. */
static void test_init_segfault_on_reload_rolls_back(void **state)
{
    bm_e2e *e = *state;
    init_world(e, "ct_reload", 3);
    char ex[64], board[64];
    ct_install(e, "tpl_good");
    ct_campaigns(e, ex, board, sizeof ex);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    long long want = ct_produce(e, 100, 3);
    ct_wait_total(e, &g, ex, want, 60000);
    bm_e2e_wait_log(&g, "module=example generation=1 version=1.0.0 proven", 30000);

    ct_install(e, "tpl_init_segv");
    char *out = NULL;
    const char *args[] = {"reload", NULL};
    bm_e2e_bmctl(e, &out, args); /* the worker dies under it: any answer will do */
    free(out);
    bm_e2e_wait_log(&g, "died: signal 11", 30000);
    bm_e2e_wait_log(&g, "the last good copy", 30000);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    want += ct_produce(e, 100, 4);
    ct_wait_total(e, &g, ex, want, 60000);
    json_t *ct, *m = ct_modules(e, &ct);
    assert_string_equal(ct_module_version(m, "example"), "1.0.0");
    json_t *q = json_array_get(json_object_get(ct, "quarantined"), 0);
    assert_non_null(strstr(json_string_value(json_object_get(q, "reason")), "init"));
    assert_non_null(strstr(json_string_value(json_object_get(q, "goodCopy")), "example.so"));
    json_decref(m);
    assert_int_equal(bm_e2e_log_count(&g, "died:"), 1);
    long ms = bm_e2e_engine_stop(&g, 20000);
    fprintf(stderr, "containment: SIGTERM stop took %ld ms\n", ms);

    bm_e2e_engine g2;
    bm_e2e_engine_start(e, &g2);
    bm_e2e_wait_log(&g2, "started roles=", 30000);
    assert_true(bm_e2e_log_contains(&g2, "loading the last good copy"));
    want += ct_produce(e, 50, 5);
    ct_wait_total(e, &g2, ex, want, 60000);
    assert_int_equal(bm_e2e_log_count(&g2, "died:"), 0);
    bm_e2e_engine_stop(&g2, 20000);
}

/* A module whose init segfaults from the first start: one restart, then the
 * leaderboard serves alone; the per-generation copy of the crash is gone. */
static void test_init_segfault_at_startup(void **state)
{
    bm_e2e *e = *state;
    init_world(e, "ct_start", 3);
    char ex[64], board[64];
    ct_install(e, "tpl_good");
    ct_campaigns(e, ex, board, sizeof ex);
    ct_install(e, "tpl_init_segv");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "died: signal 11", 30000);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    assert_true(bm_e2e_log_contains(&g, "stale per-generation copies"));
    long long want = ct_produce(e, 100, 6);
    ct_wait_total(e, &g, board, want, 60000);
    json_t *ct, *m = ct_modules(e, &ct);
    assert_non_null(strstr(ct_refused(m, ex), "quarantined"));
    json_decref(m);
    assert_int_equal(bm_e2e_log_count(&g, "died:"), 1);
    bm_e2e_engine_stop(&g, 20000);
}

/* SIGTERM while a module hangs (its watchdog deadline far away): the master
 * ends the worker within engine.stop_timeout_ms. */
static void test_sigterm_is_bounded(void **state)
{
    bm_e2e *e = *state;
    init_world(e, "ct_term", 3);
    bm_e2e_setenv(e, "BM_WATCHDOG_EVENT_MS", "600000");
    char ex[64], board[64];
    ct_install(e, "tpl_good");
    ct_campaigns(e, ex, board, sizeof ex);
    ct_install(e, "tpl_event_loop");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    ct_produce(e, 10, 7);
    bm_e2e_wait_log(&g, "partition=", 30000);
    bm_e2e_sleep_ms(1500); /* the worker is inside on_event by now */
    long ms = bm_e2e_engine_stop(&g, 10000);
    fprintf(stderr, "containment: SIGTERM with a hung module took %ld ms\n", ms);
    assert_true(ms < 6000);
    assert_true(bm_e2e_log_contains(&g, "after SIGTERM: SIGKILL"));
}

/* config.campaigns with more partitions than the product's three: every new
 * campaign is seen within seconds (not the 30 s periodic refresh) and counts
 * its first events. 12 campaign ids over 8 partitions: the chance that none
 * lands beyond partition 2 is (3/8)^12, below 1e-5. */
static void test_campaigns_on_every_config_partition(void **state)
{
    bm_e2e *e = *state;
    init_world(e, "ct_parts", 3);
    char err[256];
    bm_broker_stop(e->broker);
    e->broker = bm_broker_start_with(3, 8, NULL, err, sizeof err);
    if (!e->broker)
        bm_e2e_fail("broker: %s", err);
    snprintf(e->bootstrap, sizeof e->bootstrap, "%s", bm_broker_bootstraps(e->broker));
    bm_e2e_setenv(e, "BM_KAFKA_BROKERS", e->bootstrap);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "notifications from config.campaigns partitions=8", 30000);
    bm_e2e_wait_log(&g, "started roles=", 30000);

    enum { NCAMP = 12, NEV = 10 };
    char ids[NCAMP][64];
    int64_t t0 = bm_e2e_now_ms();
    for (int i = 0; i < NCAMP; i++) {
        char json[400];
        snprintf(json, sizeof json,
                 "{\"type\":\"leaderboard\",\"name\":\"late %d\",\"gameId\":\"" CT_GAME "\","
                 "\"scoringMetadata\":{\"eventType\":\"late_%d\",\"aggregation\":\"count\"}}",
                 i, i);
        bm_e2e_campaign(e, json, ids[i], sizeof ids[i]);
    }
    /* Every campaign served well before the periodic refresh could have found it. */
    int seen = 0;
    while (seen < NCAMP && bm_e2e_now_ms() - t0 < 20000) {
        json_t *m = bm_e2e_modules(e);
        seen = 0;
        for (int i = 0; i < NCAMP; i++)
            seen += bm_e2e_modules_campaign(m, ids[i]) != NULL;
        json_decref(m);
        if (seen < NCAMP)
            bm_e2e_sleep_ms(100);
    }
    fprintf(stderr, "containment: %d campaigns served %lld ms after the first was created\n", seen,
            (long long)(bm_e2e_now_ms() - t0));
    assert_int_equal(seen, NCAMP);

    rd_kafka_t *p = bm_e2e_producer(e);
    char ev[300], ts[40];
    ct_now(ts, sizeof ts);
    for (int i = 0; i < NCAMP; i++)
        for (int k = 0; k < NEV; k++) {
            int len = snprintf(ev, sizeof ev,
                               "{\"gameId\":\"" CT_GAME "\",\"userId\":\"u%d\",\"eventType\":"
                               "\"late_%d\",\"data\":{},\"timestamp\":\"%s\"}",
                               k, i, ts);
            char user[16];
            snprintf(user, sizeof user, "u%d", k);
            bm_e2e_produce(p, user, ev, (size_t)len);
        }
    bm_e2e_producer_close(p);
    bm_e2e_wait_offsets(e, &g, NCAMP * NEV, 60000);
    for (int i = 0; i < NCAMP; i++)
        ct_wait_total(e, &g, ids[i], NEV, 10000);
    bm_e2e_engine_stop(&g, 20000);
}

/* CPU time (user + system, ms) the engine's worker process has used so far. */
static long long worker_cpu_ms(const bm_e2e_engine *g)
{
    char path[128], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)g->pid, (int)g->pid);
    char *kids = bm_e2e_slurp(path, NULL);
    int worker = kids ? atoi(kids) : 0;
    free(kids);
    if (worker <= 0)
        bm_e2e_fail("no worker process under the master %d", (int)g->pid);
    snprintf(path, sizeof path, "/proc/%d/stat", worker);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f))
        bm_e2e_fail("cannot read %s", path);
    fclose(f);
    /* Fields after "(comm)": state is field 3, utime 14, stime 15. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        bm_e2e_fail("cannot parse %s", path);
    return (long long)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* Produces n events; returns the worker's CPU ms until it has committed them
 * (*wall gets the elapsed ms). CPU time, not elapsed time, is what a neighbour
 * takes away from a campaign, and it does not depend on what else the shared
 * machine is doing. */
static long long timed_round(bm_e2e *e, bm_e2e_engine *g, long long *base, long long *want, int n,
                             int seed, long long *wall)
{
    int64_t t0 = bm_e2e_now_ms();
    long long c0 = worker_cpu_ms(g);
    *want += ct_produce(e, n, seed);
    *base += n;
    bm_e2e_wait_offsets(e, g, *base, 120000);
    *wall = (long long)(bm_e2e_now_ms() - t0);
    return worker_cpu_ms(g) - c0;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* A formula that overruns its instruction budget on every event, next to a
 * fast campaign on the same events: the breaker suspends it, and the fast
 * campaign's throughput stays within 10% of normal (the same neighbour with a
 * formula that works, which costs its routing and state like any campaign),
 * measured as the engine's CPU time for the same events (what a neighbour
 * takes away, whatever else the shared machine is doing), the median of five
 * rounds each side. */
static void test_burning_formula_next_to_fast_campaign(void **state)
{
    bm_e2e *e = *state;
    /* Six partitions: a round must stay far below the embedded broker's
     * per-partition cap, or the broker would drop events before they are read. */
    bm_e2e_init(e, "ct_formula", 6);
    bm_e2e_setenv(e, "BM_ENGINE_SUPERVISE", "1");
    bm_e2e_setenv(e, "BM_WATCHDOG_EVENT_MS", "10000");
    char fast[64], slow[64];
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"fast\",\"gameId\":\"" CT_GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"match_end\",\"dataField\":\"points\","
                    "\"aggregation\":\"sum\"}}",
                    fast, sizeof fast);
    /* The neighbour of the normal case: the same shape, a formula that works. */
    char cheap[64];
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"neighbour\",\"gameId\":\"" CT_GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"match_end\"},\"customFormula\":"
                    "\"data.points * 2\"}",
                    cheap, sizeof cheap);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    long long base = 0, want = 0, wall;
    /* Warm up: partitions assigned, caches filled. */
    timed_round(e, &g, &base, &want, 2000, 10, &wall);
    enum { N = 60000, ROUNDS = 5 };
    /* Medians of the rounds: one round's CPU time on a busy machine (10 ms ticks,
     * other tests running) can be far off either way. */
    long long alone_ms[ROUNDS], beside_ms[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        long long ms = timed_round(e, &g, &base, &want, N, 20 + r, &wall);
        fprintf(stderr,
                "containment: fast campaign beside a working formula: %d events, %lld ms CPU, "
                "%lld ms\n",
                N, ms, wall);
        alone_ms[r] = ms;
    }
    char *out = NULL;
    const char *disable[] = {"campaign", "disable", cheap, NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, disable), 0);
    free(out);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"burner\",\"gameId\":\"" CT_GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"match_end\"},\"customFormula\":"
                    "\"return function(event) local x = 0 while true do x = x + 1 end end\"}",
                    slow, sizeof slow);
    for (int i = 0; i < 100; i++) {
        json_t *m = bm_e2e_modules(e);
        int served =
            bm_e2e_modules_campaign(m, slow) != NULL && bm_e2e_modules_campaign(m, cheap) == NULL;
        json_decref(m);
        if (served)
            break;
        bm_e2e_sleep_ms(100);
    }
    for (int r = 0; r < ROUNDS; r++) {
        long long ms = timed_round(e, &g, &base, &want, N, 30 + r, &wall);
        fprintf(stderr,
                "containment: fast campaign beside the burner: %d events, %lld ms CPU, %lld ms\n",
                N, ms, wall);
        beside_ms[r] = ms;
    }
    qsort(alone_ms, ROUNDS, sizeof alone_ms[0], cmp_ll);
    qsort(beside_ms, ROUNDS, sizeof beside_ms[0], cmp_ll);
    long long alone = alone_ms[ROUNDS / 2], beside = beside_ms[ROUNDS / 2];
    fprintf(stderr,
            "containment: median beside a working formula %lld ms CPU, beside the burner %lld ms "
            "CPU (%+.1f%%)\n",
            alone, beside, 100.0 * (double)(beside - alone) / (double)alone);
    ct_wait_total(e, &g, fast, want, 30000);
    json_t *ct, *m = ct_modules(e, &ct);
    json_t *c = bm_e2e_modules_campaign(m, slow);
    json_t *f = json_object_get(c, "formula");
    assert_non_null(f);
    long long by_breaker = json_integer_value(json_object_get(f, "skippedByBreaker"));
    long long runs = json_integer_value(json_object_get(f, "calls"));
    fprintf(stderr, "containment: burner ran %lld times, %lld events skipped by its breaker\n",
            runs, by_breaker);
    assert_true(json_integer_value(json_object_get(f, "breakerTrips")) >= 1);
    assert_true(by_breaker > N);
    assert_true(runs < 100);
    json_decref(m);
    assert_true(beside * 10 <= alone * 11);
    bm_e2e_engine_stop(&g, 20000);
}

/* Produces n valid match_end events of about 1 KiB each to partition 0. */
static void produce_big(bm_e2e *e, int n, int64_t *low, int64_t *high)
{
    rd_kafka_t *p = bm_e2e_producer(e);
    char ts[40], ev[1400], pad[1001];
    static uint64_t x = 0x9e3779b97f4a7c15ULL;
    ct_now(ts, sizeof ts);
    for (int i = 0; i < n; i++) {
        /* Random letters: the producer compresses, and the cap counts stored bytes. */
        for (int k = 0; k < 1000; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pad[k] = (char)('a' + x % 26);
        }
        pad[1000] = '\0';
        int len = snprintf(ev, sizeof ev,
                           "{\"gameId\":\"" CT_GAME "\",\"userId\":\"u%d\",\"eventType\":"
                           "\"match_end\",\"data\":{\"points\":1,\"pad\":\"%s\"},"
                           "\"timestamp\":\"%s\"}",
                           i % 10, pad, ts);
        bm_e2e_produce(p, "k", ev, (size_t)len);
    }
    if (rd_kafka_flush(p, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        bm_e2e_fail("flush");
    if (rd_kafka_query_watermark_offsets(p, BM_TOPIC_EVENTS, 0, low, high, 10000))
        bm_e2e_fail("watermarks");
    bm_e2e_producer_close(p);
}

/* Events the broker deleted before they were applied: a retention gap made with
 * the embedded broker's per-partition cap while the engine was stopped. The
 * gap is recorded with its offsets, logged at error level, counted, shown by
 * bmctl, and either carried past (default) or waited at until acknowledged. */
static void retention_gap(bm_e2e *e, int stop)
{
    char board[64];
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"count\",\"gameId\":\"" CT_GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"match_end\",\"aggregation\":\"count\"}}",
                    board, sizeof board);
    if (stop)
        bm_e2e_setenv(e, "BM_PIPELINE_ON_GAP", "stop");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    int64_t low, high;
    produce_big(e, 100, &low, &high);
    bm_e2e_wait_offsets(e, &g, 100, 60000);
    bm_e2e_engine_stop(&g, 20000);

    /* ~8 MiB more (compressed) while nobody reads: the broker keeps ~5 MiB and
     * drops the oldest. */
    produce_big(e, 12000, &low, &high);
    fprintf(stderr, "containment: broker keeps offsets %lld..%lld of partition 0\n", (long long)low,
            (long long)high);
    assert_true(low > 100);

    bm_e2e_engine g2;
    bm_e2e_engine_start(e, &g2);
    char needle[128];
    snprintf(needle, sizeof needle, "gap partition=0 from=100 to=%lld", (long long)low);
    bm_e2e_wait_log(&g2, needle, 60000);
    assert_true(bm_e2e_log_contains(&g2, "level=error module=pipeline msg=\"gap partition=0"));
    char *out = NULL;
    const char *list[] = {"gap", "list", "--json", NULL};
    if (stop) {
        bm_e2e_wait_log(&g2, "partition stopped until", 30000);
        bm_e2e_sleep_ms(2000);
        assert_int_equal(bm_e2e_offsets_sum(e), 100); /* waits at the gap */
        const char *status[] = {"status", NULL};
        assert_int_equal(bm_e2e_bmctl(e, &out, status), 0);
        fprintf(stderr, "%s", out);
        assert_non_null(strstr(out, "STOPPED partition 0 at a gap"));
        free(out);
        const char *ack[] = {"gap", "ack", "--all", NULL};
        assert_int_equal(bm_e2e_bmctl(e, &out, ack), 0);
        free(out);
    }
    bm_e2e_wait_offsets(e, &g2, high, 60000);
    ct_wait_total(e, &g2, board, 100 + (high - low), 30000);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM event_gaps WHERE partition = 0 AND "
                               "from_offset = 100 AND to_offset = %lld AND action = '%s'",
                               (long long)low, stop ? "stopped" : "carried_on"),
                     1);
    assert_int_equal(bm_e2e_bmctl(e, &out, list), 0);
    json_t *gaps = json_loads(out, 0, NULL);
    free(out);
    assert_int_equal(json_array_size(gaps), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(gaps, 0), "events")),
                     low - 100);
    json_decref(gaps);
    json_t *ct, *m = ct_modules(e, &ct);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ct, "gaps"), "gaps")), 1);
    json_decref(m);
    bm_e2e_engine_stop(&g2, 20000);
}

static void test_retention_gap_carry_on(void **state)
{
    bm_e2e *e = *state;
    init_world(e, "ct_gap", 1);
    retention_gap(e, 0);
}

static void test_retention_gap_stop_until_ack(void **state)
{
    bm_e2e *e = *state;
    init_world(e, "ct_gapstop", 1);
    retention_gap(e, 1);
}

/* `test_e2e_containment [NAME]` runs the cases whose name contains NAME, so
 * CTest can run them as separate, shorter tests. */
int main(int argc, char **argv)
{
    const struct CMUnitTest all[] = {
        cmocka_unit_test_setup_teardown(test_abort_on_first_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infinite_loop_in_on_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_segfault_on_reload_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_segfault_at_startup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_campaigns_on_every_config_partition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burning_formula_next_to_fast_campaign, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retention_gap_carry_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_gap_stop_until_ack, setup, teardown),
    };
    struct CMUnitTest tests[sizeof all / sizeof all[0]];
    size_t n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (argc < 2 || strstr(all[i].name, argv[1]))
            tests[n++] = all[i];
    return bm_e2e_exit(_cmocka_run_group_tests("containment", tests, n, NULL, NULL));
}
