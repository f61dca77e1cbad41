/*
 * "No more than 2 deaths before the deadline" through the real engine: an
 * upper-bound quest condition is decided when the quest ends (its end date
 * plus engine.campaign_end_grace_s), once, for every player with progress,
 * across a kill -9 before the end and a restart after it. The expected
 * outcome is written out per player from modules/quest/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/progression/prog.h"
#include "event/event.h"

#define WINDOW_MS 12000 /* the quest ends this long after it is created */

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

static void send_event(rd_kafka_t *p, int *seq, const char *user, const char *type, int64_t t)
{
    char buf[512], ts[40];
    bm_rfc3339_format(t, ts, sizeof ts);
    int n = snprintf(buf, sizeof buf,
                     "{\"eventId\":\"end-%d\",\"gameId\":\"" PROG_GAME "\",\"userId\":\"%s\","
                     "\"eventType\":\"%s\",\"timestamp\":\"%s\",\"data\":{}}",
                     ++*seq, user, type, ts);
    bm_e2e_produce(p, user, buf, (size_t)n);
}

static long long completed(bm_e2e *e, const char *camp, const char *user)
{
    return bm_e2e_ll(e,
                     "SELECT COALESCE((SELECT completed FROM user_progress WHERE campaign_id = "
                     "'%s' AND user_id = '%s'), -1)",
                     camp, user);
}

static void test_upper_bound_decided_once_at_end(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "questend", 3);
    bm_e2e_setenv(e, "BM_ENGINE_CAMPAIGN_END_GRACE_S", "1");
    prog_install_modules(e);
    int64_t end = bm_e2e_wall_ms() + WINDOW_MS;
    char end_s[40], doc[1024], camp[64];
    bm_rfc3339_format(end, end_s, sizeof end_s);
    snprintf(doc, sizeof doc,
             "{\"type\":\"quest\",\"name\":\"Careful\",\"gameId\":\"" PROG_GAME "\","
             "\"endDate\":\"%s\",\"conditions\":["
             "{\"type\":\"count\",\"eventType\":\"DEATH\",\"operator\":\"lte\",\"target\":2},"
             "{\"type\":\"exists\",\"eventType\":\"MATCH_END\"}],"
             "\"reward\":{\"type\":\"token\",\"config\":{\"amount\":5}}}",
             end_s);
    bm_e2e_campaign(e, doc, camp, sizeof camp);

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    rd_kafka_t *p = bm_e2e_producer(e);
    int seq = 0;
    int64_t now = bm_e2e_wall_ms();
    send_event(p, &seq, "careful", "MATCH_END", now); /* 0 deaths: completes at the end */
    send_event(p, &seq, "reckless", "MATCH_END", now);
    for (int i = 0; i < 3; i++)
        send_event(p, &seq, "reckless", "DEATH", now + i); /* 3 deaths: does not */
    send_event(p, &seq, "edge", "MATCH_END", now);
    send_event(p, &seq, "edge", "DEATH", now);
    send_event(p, &seq, "edge", "DEATH", now + 1);  /* exactly 2: completes */
    send_event(p, &seq, "spectator", "DEATH", now); /* never played a match */
    bm_e2e_producer_close(p);
    bm_e2e_wait_offsets(e, &g, seq, 30000);
    bm_e2e_sleep_ms(500); /* the offsets commit with the states: let the log show them */
    /* During the window nothing is decided, whatever the counts say. */
    assert_int_equal(completed(e, camp, "careful"), 0);
    assert_int_equal(completed(e, camp, "edge"), 0);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments"), 0);

    /* A crash before the end changes nothing: the restarted engine decides. */
    bm_e2e_engine_kill9(&g);
    bm_e2e_engine_start(e, &g);
    int64_t deadline = end + 1000 + 30000;
    while (completed(e, camp, "careful") != 1 && bm_e2e_wall_ms() < deadline)
        bm_e2e_sleep_ms(250);
    assert_int_equal(completed(e, camp, "careful"), 1);
    assert_int_equal(completed(e, camp, "edge"), 1);
    assert_int_equal(completed(e, camp, "reckless"), 0);
    assert_int_equal(completed(e, camp, "spectator"), 0);
    /* Decided as of the end date, and marked decided for every player with progress. */
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM user_progress WHERE campaign_id = '%s' "
                               "AND flags & 2 = 2",
                               camp),
                     4);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT abs((extract(epoch FROM completed_at) * 1000)::bigint - "
                               "%lld) FROM user_progress WHERE campaign_id = '%s' AND user_id = "
                               "'careful'",
                               (long long)end, camp),
                     0);

    /* Once: a restart after the end decides nothing again. */
    bm_e2e_engine_stop(&g, 10000);
    bm_e2e_engine_start(e, &g);
    bm_e2e_sleep_ms(3000);
    bm_e2e_engine_stop(&g, 10000);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments"), 2);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM reward_fulfillments WHERE idempotency_key "
                               "IN ('quest:%s:careful:1', 'quest:%s:edge:1')",
                               camp, camp),
                     2);
    assert_int_equal(bm_e2e_outbox_count(e, "quest.progress"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upper_bound_decided_once_at_end, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
