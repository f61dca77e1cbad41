/*
 * A recurring tournament (resetSchedule periodSeconds 20, duration 15) through
 * the real engine, PostgreSQL and the Kafka protocol, with two engines in one
 * consumer group. Two runs each get their own scores, seats and attempts; each
 * run is finalised once with its own table, equal to an independent ranking
 * computed here, and its own prizes keyed by the run. The engine that logs the
 * first run's finalisation is killed with SIGKILL at that moment and restarted
 * before the second run ends: nothing is paid twice, nothing is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "e2e/common/e2e.h"
#include "event/event.h"
#include "support/testdb.h"

#define NUSERS 12
#define SEATS 8
#define NRUNS 2
#define PERIOD_MS 20000LL
#define DURATION_MS 15000LL
#define GRACE_S 30
static const long long PRIZES[3] = {50, 30, 20}; /* totalValue 100: 50 %, 30 %, 20 % */

typedef struct ouser {
    char name[8];
    long long sum;
    int64_t first, reached;
    int seated, position;
} ouser;

/* The run name: its start as RFC 3339 UTC, whole seconds. */
static void run_name(int64_t start, char *buf, size_t len)
{
    time_t s = (time_t)(start / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* User i's scoring events in run k (start rs): 1..3, each user in its own second. */
static int events_of(int i, int k, int64_t rs, int64_t t[3], int score[3])
{
    int n = 1 + (i + k) % 3;
    for (int j = 0; j < n; j++) {
        t[j] = rs + 300 + 1000LL * ((i * 5 + k * 7) % NUSERS) + 250LL * j;
        score[j] = 10 + (i * 13 + k * 29 + j * 7) % 41;
    }
    return n;
}

static int better(const ouser *a, const ouser *b)
{
    if (a->sum != b->sum)
        return a->sum > b->sum;
    if (a->reached != b->reached)
        return a->reached < b->reached;
    return strcmp(a->name, b->name) < 0;
}

/* The expected table of run k, from the stream alone. */
static void oracle(ouser *u, int k, int64_t rs)
{
    for (int i = 0; i < NUSERS; i++) {
        int64_t t[3];
        int score[3], n = events_of(i, k, rs, t, score);
        snprintf(u[i].name, sizeof u[i].name, "u%02d", i);
        u[i].sum = 0;
        for (int j = 0; j < n; j++)
            u[i].sum += score[j];
        u[i].first = t[0];
        u[i].reached = t[n - 1];
    }
    for (int i = 0; i < NUSERS; i++) {
        int before = 0;
        for (int x = 0; x < NUSERS; x++)
            before += u[x].first < u[i].first;
        u[i].seated = before < SEATS;
    }
    for (int i = 0; i < NUSERS; i++) {
        u[i].position = 1;
        for (int x = 0; x < NUSERS; x++)
            if (x != i && u[x].seated && better(&u[x], &u[i]))
                u[i].position++;
    }
}

/* Run k's scores, plus one event per user between runs that must not count. */
static void produce_run(bm_e2e *e, int k, int64_t rs, long long *produced)
{
    rd_kafka_t *p = bm_e2e_producer(e);
    char buf[512], ts[40];
    for (int i = 0; i < NUSERS; i++) {
        int64_t t[4];
        int score[4], n = events_of(i, k, rs, t, score);
        t[n] = rs + DURATION_MS + 200LL * i;
        score[n] = 1000;
        char user[8];
        snprintf(user, sizeof user, "u%02d", i);
        for (int j = 0; j <= n; j++) {
            bm_rfc3339_format(t[j], ts, sizeof ts);
            int len = snprintf(buf, sizeof buf,
                               "{\"eventId\":\"tr-%d-%s-%d\",\"gameId\":\"demo-game\",\"userId\":"
                               "\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\","
                               "\"data\":{\"score\":%d}}",
                               k, user, j, user, ts, score[j]);
            bm_e2e_produce(p, user, buf, (size_t)len);
            (*produced)++;
        }
    }
    bm_e2e_producer_close(p);
}

static void wait_wall(int64_t t)
{
    while (bm_e2e_wall_ms() < t)
        bm_e2e_sleep_ms(100);
}

static void wait_claim(bm_e2e *e, bm_e2e_engine *g, const char *id, const char *rn)
{
    for (int64_t t0 = bm_e2e_now_ms();
         bm_e2e_ll(e,
                   "SELECT count(*) FROM work_claims WHERE campaign_id = '%s' AND work_key = "
                   "'finalise:%s'",
                   id, rn) == 0;) {
        if (bm_e2e_now_ms() - t0 > 120000) {
            bm_e2e_log_tail(&g[0], 40);
            bm_e2e_log_tail(&g[1], 40);
            fail_msg("run %s was not finalised", rn);
        }
        bm_e2e_sleep_ms(100);
    }
}

static void verify_run(bm_e2e *e, const char *id, const char *rn, const ouser *u)
{
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM work_claims WHERE module = 'tournament' AND "
                               "campaign_id = '%s' AND work_key = 'finalise:%s'",
                               id, rn),
                     1);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM tournament_results WHERE campaign_id = '%s' "
                               "AND period = '%s'",
                               id, rn),
                     SEATS);
    for (int i = 0; i < NUSERS; i++) {
        assert_int_equal(bm_e2e_ll(e,
                                   "SELECT count(*) FROM tournament_results WHERE campaign_id = "
                                   "'%s' AND period = '%s' AND user_id = '%s'",
                                   id, rn, u[i].name),
                         u[i].seated);
        if (!u[i].seated)
            continue;
        assert_int_equal(bm_e2e_ll(e,
                                   "SELECT rank FROM tournament_results WHERE campaign_id = '%s' "
                                   "AND period = '%s' AND user_id = '%s'",
                                   id, rn, u[i].name),
                         u[i].position);
        assert_int_equal(bm_e2e_ll(e,
                                   "SELECT score::bigint FROM tournament_results WHERE "
                                   "campaign_id = '%s' AND period = '%s' AND user_id = '%s'",
                                   id, rn, u[i].name),
                         u[i].sum);
        long long prize = u[i].position <= 3 ? PRIZES[u[i].position - 1] : 0;
        assert_int_equal(bm_e2e_ll(e,
                                   "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = "
                                   "'%s' AND user_id = '%s' AND idempotency_key = "
                                   "'tournament:%s:%s:%d' AND (reward_config->>'amount')::bigint "
                                   "= %lld",
                                   id, u[i].name, id, rn, u[i].position, prize),
                         prize > 0);
    }
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s' "
                               "AND idempotency_key LIKE 'tournament:%s:%s:%%'",
                               id, id, rn),
                     3);
    /* bmctl shows that run's stored table. */
    char *out = NULL;
    const char *args[] = {"tournament", "show", id, "--period", rn, "--json", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, args), 0);
    json_t *o = json_loads(out, 0, NULL);
    if (!o)
        fail_msg("bmctl tournament show --period: %s", out);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "paid");
    assert_string_equal(json_string_value(json_object_get(o, "period")), rn);
    json_t *first = json_array_get(json_object_get(o, "results"), 0);
    assert_int_equal(json_array_size(json_object_get(o, "results")), SEATS);
    for (int i = 0; i < NUSERS; i++)
        if (u[i].seated && u[i].position == 1)
            assert_string_equal(json_string_value(json_object_get(first, "userId")), u[i].name);
    json_decref(o);
    free(out);
}

static void test_recurring_two_runs(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "tnrecur", 4);
    bm_e2e_install_module(e, "tournament.so");
    bm_e2e_setenv(e, "BM_KAFKA_SESSION_TIMEOUT_MS", "3000");
    bm_e2e_setenv(e, "BM_ENGINE_CAMPAIGN_END_GRACE_S", "300");
    /* The series: two runs, [S, S+15 s) and [S+20 s, S+35 s). */
    int64_t s0 = (bm_e2e_wall_ms() / PERIOD_MS + 1) * PERIOD_MS;
    if (s0 - bm_e2e_wall_ms() < 8000)
        s0 += PERIOD_MS;
    char s_ts[40], e_ts[40], json[2048], id[64], rn[NRUNS][40];
    bm_rfc3339_format(s0, s_ts, sizeof s_ts);
    bm_rfc3339_format(s0 + NRUNS * PERIOD_MS, e_ts, sizeof e_ts);
    snprintf(json, sizeof json,
             "{\"type\":\"tournament\",\"name\":\"Daily Cup\",\"gameId\":\"demo-game\","
             "\"startDate\":\"%s\",\"endDate\":\"%s\",\"gracePeriodSeconds\":%d,"
             "\"resetSchedule\":{\"periodSeconds\":20},\"duration\":15,"
             "\"maxParticipants\":%d,\"scoringConfig\":{\"eventType\":\"MATCH_END\","
             "\"dataField\":\"score\",\"aggregation\":\"sum\"},\"prizePool\":{\"totalValue\":100,"
             "\"rewardType\":\"token\",\"rewardConfig\":{\"token\":\"GEM\"},"
             "\"distribution\":[{\"rank\":1,\"percentage\":50},{\"rank\":2,\"percentage\":30},"
             "{\"rank\":3,\"percentage\":20}]}}",
             s_ts, e_ts, GRACE_S, SEATS);
    bm_e2e_campaign(e, json, id, sizeof id);
    ouser u[NRUNS][NUSERS];
    memset(u, 0, sizeof u);
    for (int k = 0; k < NRUNS; k++) {
        oracle(u[k], k, s0 + k * PERIOD_MS);
        run_name(s0 + k * PERIOD_MS, rn[k], sizeof rn[k]);
    }
    bm_e2e_engine g[2];
    bm_e2e_engine_start(e, &g[0]);
    bm_e2e_engine_start(e, &g[1]);
    long long produced = 0;
    for (int k = 0; k < NRUNS; k++) {
        /* a run's events once its scoring events are in the past, well inside the grace */
        wait_wall(s0 + k * PERIOD_MS + 12500);
        produce_run(e, k, s0 + k * PERIOD_MS, &produced);
        bm_e2e_wait_offsets(e, NULL, produced, 60000);
        if (k > 0)
            continue;
        /* The engine that logs the first run's finalisation is killed right then. */
        char needle[80];
        snprintf(needle, sizeof needle, "period=%s finalising", rn[0]);
        int victim = -1;
        for (int64_t t0 = bm_e2e_now_ms(); victim < 0 && bm_e2e_now_ms() - t0 < 90000;) {
            for (int x = 0; x < 2 && victim < 0; x++)
                if (bm_e2e_log_contains(&g[x], needle))
                    victim = x;
            bm_e2e_sleep_ms(10);
        }
        if (victim < 0) {
            bm_e2e_log_tail(&g[0], 40);
            bm_e2e_log_tail(&g[1], 40);
            fail_msg("no engine finalised the first run");
        }
        bm_e2e_engine_kill9(&g[victim]);
        fprintf(stderr, "e2e: engine %d killed as it finalised run %s\n", victim, rn[0]);
        wait_claim(e, g, id, rn[0]);
        verify_run(e, id, rn[0], u[0]);
        bm_e2e_engine_start(e, &g[victim]);
    }
    wait_claim(e, g, id, rn[1]);
    verify_run(e, id, rn[1], u[1]);
    /* Both engines tick on: the first run is not paid again, nothing else is paid. */
    bm_e2e_sleep_ms(6000);
    verify_run(e, id, rn[0], u[0]);
    verify_run(e, id, rn[1], u[1]);
    assert_int_equal(
        bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s'", id), 6);
    bm_e2e_engine_stop(&g[0], 15000);
    bm_e2e_engine_stop(&g[1], 15000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recurring_two_runs, bm_e2e_setup, bm_e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
