/*
 * Faults while the engine consumes a steady stream: the database server is
 * stopped and started again, the broker answers Fetch, OffsetCommit and
 * Heartbeat requests with errors (the last one forces a rebalance), and its
 * round trips jump to a second. Then the broker goes down for two seconds and
 * a second stream follows once it is back. The engine must ride all of it out
 * in the same process, say in its log that the database went away and came
 * back, and end with every total exact; the outbox relay must publish
 * everything.
 *
 * The database is a cluster of this test's own (stopping the shared one would
 * break the tests running next to this one).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e_scenario.h"
/* after rdkafka.h, which e2e.h includes */
#include <librdkafka/rdkafka_mock.h>

/* ApiKeys (Kafka protocol). */
#define API_FETCH 1
#define API_OFFSET_COMMIT 8
#define API_HEARTBEAT 12
#define BROKER_ID 1

typedef struct world {
    bm_e2e_pg pg;
    bm_e2e e;
} world;

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    bm_e2e_cleanup(&w->e);
    bm_e2e_pg_stop(&w->pg);
    free(w);
    return 0;
}

/* Offsets must move on after a fault: the engine recovered by itself. */
static long long expect_progress(bm_e2e *e, bm_e2e_engine *g, long long from, const char *what)
{
    long long now = bm_e2e_wait_offsets(e, g, from + 1, 60000);
    fprintf(stderr, "e2e: after %s: offsets %lld\n", what, now);
    return now;
}

static void test_faults_mid_stream(void **state)
{
    world *w = *state;
    bm_e2e *e = &w->e;
    bm_e2e_pg_start(&w->pg);
    bm_e2e_init(e, "faults", 6);
    rd_kafka_mock_cluster_t *mc = bm_broker_mock(e->broker);
    bm_e2e_boards b;
    bm_e2e_expect x;
    memset(&x, 0, sizeof x);
    bm_e2e_boards_create(e, &b);

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    pid_t pid = g.pid;
    /* 40000 events at 2500/s: the stream flows through every fault below. */
    bm_e2e_stream s = {.seed = "31337", .events = "40000", .rate = "2500"};
    bm_e2e_stream_start(e, &s);
    long long at = bm_e2e_wait_offsets(e, &g, 1, 60000);

    /* 1. The database server goes away for 1.5 s (fast shutdown ends every
     * session), then comes back. */
    bm_e2e_pg_down(&w->pg);
    bm_e2e_sleep_ms(1500);
    bm_e2e_pg_up(&w->pg);
    bm_e2e_wait_log(&g, "database connection restored", 30000);
    at = expect_progress(e, &g, at, "database restart");

    /* 2. Fetch errors. */
    rd_kafka_mock_push_request_errors(
        mc, API_FETCH, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    at = expect_progress(e, &g, at, "fetch errors");

    /* 3. Lag commits fail (offsets live in PostgreSQL, so nothing else may change). */
    rd_kafka_mock_push_request_errors(
        mc, API_OFFSET_COMMIT, 5, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    at = expect_progress(e, &g, at, "offset commit errors");

    /* 4. A heartbeat answered "rebalance in progress": the engine rejoins, its
     * partitions are revoked and assigned again mid-stream. */
    rd_kafka_mock_push_request_errors(mc, API_HEARTBEAT, 1,
                                      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
    at = expect_progress(e, &g, at, "forced rebalance");

    /* 5. Round trips of a second for two seconds. */
    rd_kafka_mock_broker_set_rtt(mc, BROKER_ID, 1000);
    bm_e2e_sleep_ms(2000);
    rd_kafka_mock_broker_set_rtt(mc, BROKER_ID, 0);
    at = expect_progress(e, &g, at, "slow broker");

    long long produced = bm_e2e_stream_finish(&s, &x);
    at = bm_e2e_wait_offsets(e, &g, produced, 120000);

    /* 6. The broker is down for two seconds; a second stream comes after it. */
    rd_kafka_mock_broker_set_down(mc, BROKER_ID);
    bm_e2e_sleep_ms(2000);
    rd_kafka_mock_broker_set_up(mc, BROKER_ID);
    int64_t t_up = bm_e2e_now_ms();
    bm_e2e_stream s2 = {.seed = "31338", .events = "5000", .user_prefix = "v"};
    bm_e2e_stream_start(e, &s2);
    produced += bm_e2e_stream_finish(&s2, &x);
    fprintf(stderr, "e2e: second stream produced %lld ms after the broker came back\n",
            (long long)(bm_e2e_now_ms() - t_up));
    bm_e2e_wait_offsets(e, &g, produced, 120000);
    fprintf(stderr, "e2e: second stream applied %lld ms after the broker came back\n",
            (long long)(bm_e2e_now_ms() - t_up));
    bm_e2e_boards_verify(e, &b, &x, produced);

    /* Same process all along, and it said what happened. */
    assert_true(bm_e2e_engine_alive(&g));
    assert_int_equal(g.pid, pid);
    assert_true(bm_e2e_log_contains(&g, "not applied, will retry"));
    assert_true(bm_e2e_log_contains(&g, "database connection restored"));
    /* The log stays one logfmt record per line after the reconnect: the session
     * settings of the new connection (client_min_messages) are those of the first. */
    if (bm_e2e_log_contains(&g, "NOTICE:  ")) {
        bm_e2e_log_tail(&g, 5);
        bm_e2e_fail("the engine log has raw PostgreSQL NOTICE lines after the database restart");
    }

    /* The relay came through the same faults: every outbox row gets published. */
    int64_t deadline = bm_e2e_now_ms() + 120000;
    long long pending;
    while ((pending = bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE published_at IS NULL")) > 0) {
        if (bm_e2e_now_ms() > deadline)
            bm_e2e_fail("%lld outbox rows still unpublished after 120 s", pending);
        bm_e2e_sleep_ms(100);
    }
    /* The DLQ topic has at least every malformed message (the relay is at least once). */
    long long dlq = bm_e2e_topic_end(e, BM_TOPIC_DLQ);
    fprintf(stderr, "e2e: %lld malformed messages, %lld DLQ messages published\n", x.bad, dlq);
    assert_true(dlq >= x.bad);

    bm_e2e_engine_stop(&g, 10000);
    bm_e2e_expect_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_faults_mid_stream, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
