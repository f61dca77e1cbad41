/*
 * Scheduled leaderboard resets (resetSchedule) with two engines in one group:
 * a board of 20-second periods is reset twice. Each closed period keeps its
 * final standings as history with the right winner (late events within the
 * grace counted for their period), the live board starts from zero, and each
 * period is closed exactly once although one engine is killed with kill -9
 * right before a close and started again.
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

#include "e2e/common/e2e.h"
#include "util/rfc3339.h"

#define NUSERS 8
#define PERIOD_MS 20000
#define GRACE_MS 8000
#define SETTLE_MS 2000 /* LB_SETTLE_MS in modules/leaderboard */

static void sleep_until(int64_t wall)
{
    while (bm_e2e_wall_ms() < wall)
        bm_e2e_sleep_ms(50);
}

typedef struct board {
    long long v[NUSERS];
} board;

static void send_score(rd_kafka_t *p, int user, int64_t t, int score, const char *tag, board *b)
{
    char buf[512], ts[40];
    bm_rfc3339_format(t, ts, sizeof ts);
    int len = snprintf(buf, sizeof buf,
                       "{\"eventId\":\"rs-%s-%d\",\"gameId\":\"demo-game\",\"userId\":\"a%d\","
                       "\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\",\"data\":{\"score\":%d}}",
                       tag, user, user, ts, score);
    char key[8];
    snprintf(key, sizeof key, "a%d", user);
    bm_e2e_produce(p, key, buf, (size_t)len);
    b->v[user] += score;
}

static long long live(bm_e2e *e, const char *id, int user)
{
    return bm_e2e_ll(e,
                     "SELECT COALESCE((SELECT current_value::bigint FROM user_progress WHERE "
                     "campaign_id = '%s' AND user_id = 'a%d'), 0)",
                     id, user);
}

static long long periods(bm_e2e *e, const char *id)
{
    return bm_e2e_ll(e,
                     "SELECT count(*) FROM module_results WHERE campaign_id = '%s' AND kind = "
                     "'leaderboard_period'",
                     id);
}

/* The period's history through bmctl: every player's score equals the oracle
 * and the winner is `winner`. */
static void check_history(bm_e2e *e, const char *id, int64_t start, const board *b, int winner)
{
    char key[40], *out = NULL;
    bm_rfc3339_format(start, key, sizeof key);
    /* the key has no milliseconds */
    char *dot = strchr(key, '.');
    if (dot)
        snprintf(dot, sizeof key - (size_t)(dot - key), "Z");
    const char *args[] = {"leaderboard", "history", id, "--period", key, "--json", NULL};
    int rc = bm_e2e_bmctl(e, &out, args);
    if (rc != 0)
        fprintf(stderr, "%s\n", out ? out : "");
    assert_int_equal(rc, 0);
    json_t *j = json_loads(strstr(out, "{"), JSON_DISABLE_EOF_CHECK, NULL);
    free(out);
    json_t *rows = json_object_get(j, "standings");
    int players = 0;
    for (int u = 0; u < NUSERS; u++)
        players += b->v[u] > 0;
    assert_int_equal(json_array_size(rows), players);
    char w[8];
    snprintf(w, sizeof w, "a%d", winner);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "userId")), w);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        int u = atoi(json_string_value(json_object_get(r, "userId")) + 1);
        assert_true(u >= 0 && u < NUSERS);
        assert_int_equal((long long)json_number_value(json_object_get(r, "score")), b->v[u]);
        assert_int_equal(json_integer_value(json_object_get(r, "rank")), (json_int_t)i + 1);
    }
    json_decref(j);
}

static void wait_periods(bm_e2e *e, const char *id, long long n)
{
    int64_t deadline = bm_e2e_now_ms() + 120000;
    while (periods(e, id) < n && bm_e2e_now_ms() < deadline)
        bm_e2e_sleep_ms(200);
    assert_int_equal(periods(e, id), n);
}

static void test_reset_twice_kill9(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "reset", 4);
    char id[64];
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"sprint\",\"gameId\":\"demo-game\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"sum\"},\"resetSchedule\":{\"periodSeconds\":20,"
                    "\"graceSeconds\":8}}",
                    id, sizeof id);
    bm_e2e_engine g[2];
    bm_e2e_engine_start(e, &g[0]);
    bm_e2e_engine_start(e, &g[1]);

    /* Period A: the one now, or the next when little of it is left. */
    int64_t a = bm_e2e_wall_ms() / PERIOD_MS * PERIOD_MS;
    if (bm_e2e_wall_ms() - a > 8000) {
        a += PERIOD_MS;
        sleep_until(a + 200);
    }
    int64_t bstart = a + PERIOD_MS, cstart = bstart + PERIOD_MS;
    board ha = {{0}}, hb = {{0}}, hc = {{0}};
    rd_kafka_t *p = bm_e2e_producer(e);
    for (int u = 0; u < NUSERS; u++) {
        send_score(p, u, a + 100 + u, 10 * (u + 1), "a1", &ha);
        send_score(p, u, a + 200 + u, 5, "a2", &ha);
    }
    bm_e2e_producer_close(p);
    long long produced = 2 * NUSERS;
    bm_e2e_wait_offsets(e, NULL, produced, 60000);
    assert_int_equal(live(e, id, 7), 85);

    /* Period B: a0..a3 play (a0 wins); late events of A within the grace for a6
     * (no B event) and a1 (already in B). */
    sleep_until(bstart + 300);
    p = bm_e2e_producer(e);
    for (int u = 0; u < 4; u++)
        send_score(p, u, bstart + 100 + u, 100 - 10 * u, "b1", &hb);
    send_score(p, 6, a + 5000, 50, "late6", &ha); /* a6: 70 + 5 + 50 = 125, the winner of A */
    send_score(p, 1, a + 6000, 7, "late1", &ha);
    bm_e2e_producer_close(p);
    produced += 6;
    bm_e2e_wait_offsets(e, NULL, produced, 60000);

    /* kill -9 one engine right before A's close, start it again. */
    sleep_until(bstart + GRACE_MS + SETTLE_MS - 300);
    bm_e2e_engine_kill9(&g[1]);
    bm_e2e_engine_start(e, &g[1]);
    wait_periods(e, id, 1);
    check_history(e, id, a, &ha, 6);
    /* The live board: B's scores only, zero for the players who have not played since. */
    for (int u = 0; u < NUSERS; u++)
        assert_int_equal(live(e, id, u), hb.v[u]);

    /* Period C: a5 only. B closes while it runs. */
    sleep_until(cstart + 300);
    p = bm_e2e_producer(e);
    send_score(p, 5, cstart + 100, 3, "c1", &hc);
    bm_e2e_producer_close(p);
    produced += 1;
    bm_e2e_wait_offsets(e, NULL, produced, 60000);
    sleep_until(cstart + GRACE_MS + SETTLE_MS - 300);
    bm_e2e_engine_kill9(&g[0]);
    bm_e2e_engine_start(e, &g[0]);
    wait_periods(e, id, 2);
    check_history(e, id, bstart, &hb, 0);
    for (int u = 0; u < NUSERS; u++)
        assert_int_equal(live(e, id, u), hc.v[u]);

    /* Exactly once: one reset announcement per closed period with players (the
     * claims of both engines meet on one work_claims row per period). */
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM outbox WHERE topic = "
                               "'ui.leaderboard_refresh' AND payload LIKE '%%LEADERBOARD_RESET%%'"),
                     2);
    /* The list of periods, newest first, with their winners. */
    char *out = NULL;
    const char *args[] = {"leaderboard", "history", id, "--json", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, args), 0);
    json_t *j = json_loads(strstr(out, "{"), JSON_DISABLE_EOF_CHECK, NULL);
    free(out);
    json_t *ps = json_object_get(j, "periods");
    assert_int_equal(json_array_size(ps), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(ps, 0), "winner"), "userId")),
                        "a0");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(ps, 1), "winner"), "userId")),
                        "a6");
    json_decref(j);
    bm_e2e_engine_stop(&g[0], 30000);
    bm_e2e_engine_stop(&g[1], 30000);
}

/* Bad schedules are refused naming the field; nothing is created. */
static void test_reset_refusals(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "resetbad", 2);
    const char *bad[][2] = {
        {"\"hourly\"", "resetSchedule: must be daily, weekly or monthly"},
        {"{\"periodSeconds\":0}", "resetSchedule.periodSeconds: must be an integer"},
        {"{\"every\":\"daily\",\"periodSeconds\":60}", "give one of every or periodSeconds"},
        {"{\"every\":\"weekly\",\"utcOffsetMinutes\":9999}", "resetSchedule.utcOffsetMinutes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[512], path[400], *out = NULL;
        snprintf(json, sizeof json,
                 "{\"type\":\"leaderboard\",\"name\":\"x\",\"gameId\":\"demo-game\","
                 "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\"},"
                 "\"resetSchedule\":%s}",
                 bad[i][0]);
        snprintf(path, sizeof path, "%s/bad-%zu.json", e->dir, i);
        bm_e2e_write_file(path, json, strlen(json));
        const char *args[] = {"campaign", "create", path, NULL};
        assert_int_not_equal(bm_e2e_bmctl(e, &out, args), 0);
        if (!strstr(out, bad[i][1]))
            fprintf(stderr, "%s\n", out);
        assert_non_null(strstr(out, bad[i][1]));
        free(out);
    }
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM campaigns"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_twice_kill9, bm_e2e_setup, bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_reset_refusals, bm_e2e_setup, bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
