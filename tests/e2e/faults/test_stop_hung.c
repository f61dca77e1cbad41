/*
 * SIGTERM while the group coordinator answers nothing. librdkafka's blocking
 * consumer close waits for the coordinator, and after a broker fault it has
 * been seen to wait for good (the engine then hung on SIGTERM). The engine
 * closes its consumers within engine.stop_timeout_ms and, past that, stops
 * without the coordinator's answer. Here the group rebalances and the broker
 * then holds every answer for two minutes: the engine must exit 0 within its
 * stop timeout, say that it left the group unanswered, and a process started
 * afterwards must carry on from what the first one committed: every total
 * exact, nothing lost or applied twice.
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

#define BROKER_ID 1
/* ApiKeys (Kafka protocol). */
#define API_JOIN_GROUP 11
#define API_HEARTBEAT 12
#define STOP_TIMEOUT_MS 4000

static int setup(void **state)
{
    *state = calloc(1, sizeof(bm_e2e));
    return 0;
}

static int teardown(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_cleanup(e);
    free(e);
    return 0;
}

static void wait_outbox_published(bm_e2e *e)
{
    int64_t deadline = bm_e2e_now_ms() + 120000;
    long long pending;
    while ((pending = bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE published_at IS NULL")) > 0) {
        if (bm_e2e_now_ms() > deadline)
            bm_e2e_fail("%lld outbox rows still unpublished after 120 s", pending);
        bm_e2e_sleep_ms(100);
    }
}

static void test_stop_with_hung_coordinator(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "stophung", 6);
    char stop[16];
    snprintf(stop, sizeof stop, "%d", STOP_TIMEOUT_MS);
    bm_e2e_setenv(e, "BM_ENGINE_STOP_TIMEOUT_MS", stop);
    bm_e2e_setenv(e, "BM_KAFKA_SESSION_TIMEOUT_MS", "3000");
    /* Requests wait a minute for an answer before librdkafka gives up on them:
     * longer than this test waits for the stop (a JoinGroup waits longer still). */
    bm_e2e_setenv(e, "BM_KAFKA_SOCKET_TIMEOUT_MS", "60000");
    rd_kafka_mock_cluster_t *mc = bm_broker_mock(e->broker);
    bm_e2e_boards b;
    bm_e2e_expect x;
    memset(&x, 0, sizeof x);
    bm_e2e_boards_create(e, &b);

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_stream s = {.seed = "5151", .events = "3000"};
    bm_e2e_stream_start(e, &s);
    long long produced = bm_e2e_stream_finish(&s, &x);
    bm_e2e_wait_offsets(e, &g, produced, 120000);
    wait_outbox_published(e);

    /* The group rebalances and the coordinator holds the answer to the rejoin
     * for two minutes (librdkafka waits for a JoinGroup up to
     * max.poll.interval.ms), then answers nothing at all. */
    rd_kafka_mock_broker_push_request_error_rtts(mc, BROKER_ID, API_JOIN_GROUP, 1,
                                                 RD_KAFKA_RESP_ERR_NO_ERROR, 120000);
    rd_kafka_mock_push_request_errors(mc, API_HEARTBEAT, 1,
                                      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
    /* The rejoin is sent within a heartbeat interval (1 s); this is setup, not a check. */
    bm_e2e_sleep_ms(3000);
    rd_kafka_mock_broker_set_rtt(mc, BROKER_ID, 120000);
    /* Generous for a loaded machine, far below the minute a blocking close waits. */
    long took = bm_e2e_engine_stop(&g, STOP_TIMEOUT_MS + 11000);
    fprintf(stderr, "e2e: SIGTERM with the coordinator not answering: exited 0 after %ld ms\n",
            took);
    assert_true(bm_e2e_log_contains(&g, "not closed within"));
    rd_kafka_mock_broker_set_rtt(mc, BROKER_ID, 0);

    /* A new process takes over once the group has dropped the old member. */
    bm_e2e_engine g2;
    bm_e2e_engine_start(e, &g2);
    bm_e2e_stream s2 = {.seed = "5152", .events = "2000", .user_prefix = "w"};
    bm_e2e_stream_start(e, &s2);
    produced += bm_e2e_stream_finish(&s2, &x);
    bm_e2e_wait_offsets(e, &g2, produced, 120000);
    bm_e2e_boards_verify(e, &b, &x, produced);
    bm_e2e_engine_stop(&g2, 30000);
    bm_e2e_expect_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stop_with_hung_coordinator, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
