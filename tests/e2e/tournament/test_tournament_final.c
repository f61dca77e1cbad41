/*
 * Tournament finalisation, exactly once, through the real engine, PostgreSQL
 * and the Kafka protocol. Two engines share the consumer group; a tournament
 * with contested seats, a tie and a prize pool with a rounding remainder
 * ends. A trigger holds the first finalising transaction for a few seconds
 * (the database drops a transaction whose client died, as it would in
 * production with client_connection_check_interval); the engine that logged
 * the finalisation first is killed with SIGKILL while it is held. The other
 * engine (and later the restarted one) must then finalise: one claim, every
 * result row equal to an independent ranking, every prize granted once, one
 * "ended" message.
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

#define NUSERS 30
#define SEATS 20
#define TOTAL_MINOR 100000 /* totalValue 1000 with 2 decimals */
#define NLINES 4

/* Prize lines: ranks [from, to] each get bp hundredths of a percent. */
static const int LINES[NLINES][3] = {{1, 1, 4000}, {2, 2, 2500}, {3, 3, 1500}, {4, 10, 250}};

typedef struct ouser {
    char name[8];
    long long sum;
    int64_t first, reached;
    int seated, position, rank;
    long long prize;
} ouser;

/* Events per user: u05 and u06 score the same at the same times (a tie). */
static int events_of(int u, int64_t start, int64_t t[4], int score[4])
{
    int src = u == 6 ? 5 : u;
    int n = 1 + src % 4;
    for (int j = 0; j < n; j++) {
        /* Seat times are distinct per user except the tied pair; later users enter later. */
        t[j] = start + 1000LL * (src * 7 % NUSERS) + 40000LL * j + 1000LL;
        score[j] = 10 + (src * 37 + j * 11) % 50;
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

/* The expected table, computed here from the stream without the module's code. */
static void oracle(ouser *u, int64_t start)
{
    for (int i = 0; i < NUSERS; i++) {
        int64_t t[4];
        int score[4], n = events_of(i, start, t, score);
        snprintf(u[i].name, sizeof u[i].name, "u%02d", i);
        u[i].sum = 0;
        for (int j = 0; j < n; j++)
            u[i].sum += score[j];
        u[i].first = t[0];
        u[i].reached = t[n - 1];
    }
    for (int i = 0; i < NUSERS; i++) {
        int before = 0;
        for (int k = 0; k < NUSERS; k++)
            before += u[k].first < u[i].first ||
                      (u[k].first == u[i].first && strcmp(u[k].name, u[i].name) < 0);
        u[i].seated = before < SEATS;
    }
    long long table[NUSERS + 1] = {0}, sum = 0, bp_all = 0;
    for (int l = 0; l < NLINES; l++)
        for (int r = LINES[l][0]; r <= LINES[l][1]; r++) {
            table[r] = (long long)TOTAL_MINOR * LINES[l][2] / 10000;
            sum += table[r];
            bp_all += LINES[l][2];
        }
    table[1] += (long long)TOTAL_MINOR * bp_all / 10000 - sum;
    for (int i = 0; i < NUSERS; i++) {
        if (!u[i].seated)
            continue;
        int pos = 1, first_tied = 0, ntied = 0, idx = 0;
        for (int k = 0; k < NUSERS; k++) {
            if (!u[k].seated || k == i)
                continue;
            pos += better(&u[k], &u[i]);
        }
        for (int k = 0; k < NUSERS; k++)
            if (u[k].seated && u[k].sum == u[i].sum && u[k].reached == u[i].reached) {
                ntied++;
                idx += strcmp(u[k].name, u[i].name) < 0;
            }
        first_tied = pos - idx;
        long long pot = 0;
        for (int p = first_tied; p < first_tied + ntied; p++)
            pot += p <= NUSERS ? table[p] : 0;
        u[i].position = pos;
        u[i].rank = first_tied;
        u[i].prize = pot / ntied + (idx < pot % ntied ? 1 : 0);
    }
}

static void produce_stream(bm_e2e *e, int64_t start, long long *produced)
{
    rd_kafka_t *p = bm_e2e_producer(e);
    char buf[512], ts[40];
    for (int i = 0; i < NUSERS; i++) {
        int64_t t[4];
        int score[4], n = events_of(i, start, t, score);
        char user[8];
        snprintf(user, sizeof user, "u%02d", i);
        for (int j = 0; j < n; j++) {
            bm_rfc3339_format(t[j], ts, sizeof ts);
            int len = snprintf(buf, sizeof buf,
                               "{\"eventId\":\"tn-%s-%d\",\"gameId\":\"demo-game\",\"userId\":"
                               "\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\","
                               "\"data\":{\"score\":%d}}",
                               user, j, user, ts, score[j]);
            bm_e2e_produce(p, user, buf, (size_t)len);
            (*produced)++;
        }
    }
    bm_e2e_producer_close(p);
}

static void verify(bm_e2e *e, const char *id, const ouser *u)
{
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM work_claims WHERE module = 'tournament' AND "
                               "campaign_id = '%s' AND work_key = 'finalise'",
                               id),
                     1);
    assert_int_equal(
        bm_e2e_ll(e, "SELECT count(*) FROM tournament_results WHERE campaign_id = '%s'", id),
        SEATS);
    long long granted = 0, total = 0;
    for (int i = 0; i < NUSERS; i++) {
        long long rows = bm_e2e_ll(e,
                                   "SELECT count(*) FROM tournament_results WHERE campaign_id = "
                                   "'%s' AND user_id = '%s'",
                                   id, u[i].name);
        assert_int_equal(rows, u[i].seated);
        if (!u[i].seated)
            continue;
        assert_int_equal(bm_e2e_ll(e,
                                   "SELECT rank FROM tournament_results WHERE campaign_id = '%s' "
                                   "AND user_id = '%s'",
                                   id, u[i].name),
                         u[i].position);
        assert_int_equal(bm_e2e_ll(e,
                                   "SELECT tied_rank FROM tournament_results WHERE campaign_id = "
                                   "'%s' AND user_id = '%s'",
                                   id, u[i].name),
                         u[i].rank);
        assert_int_equal(bm_e2e_ll(e,
                                   "SELECT score::bigint FROM tournament_results WHERE campaign_id "
                                   "= '%s' AND user_id = '%s'",
                                   id, u[i].name),
                         u[i].sum);
        long long prize =
            bm_e2e_ll(e,
                      "SELECT COALESCE((prize->>'amount')::bigint, 0) FROM "
                      "tournament_results WHERE campaign_id = '%s' AND user_id = '%s'",
                      id, u[i].name);
        assert_int_equal(prize, u[i].prize);
        long long grants = bm_e2e_ll(e,
                                     "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = "
                                     "'%s' AND user_id = '%s' AND idempotency_key = "
                                     "'tournament:%s:%d' AND (reward_config->>'amount')"
                                     "::bigint = %lld",
                                     id, u[i].name, id, u[i].position, u[i].prize);
        assert_int_equal(grants, u[i].prize > 0);
        granted += u[i].prize > 0;
        total += u[i].prize;
    }
    assert_int_equal(
        bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s'", id),
        granted);
    assert_true(total <= TOTAL_MINOR);
    assert_true(granted >= 10);
    long long ended = bm_e2e_ll(e, "SELECT COALESCE(sum((length(payload) - length(replace(payload, "
                                   "'\"type\":\"ended\"', ''))) / 14), 0) FROM outbox WHERE "
                                   "topic = 'tournament.events'");
    assert_int_equal(ended, 1);
    /* bmctl shows the stored table as paid, with the same winner. */
    char *out = NULL;
    const char *args[] = {"tournament", "show", id, "--json", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, args), 0);
    json_t *o = json_loads(out, 0, NULL);
    if (!o)
        fail_msg("bmctl tournament show: %s", out);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "paid");
    assert_int_equal(json_array_size(json_object_get(o, "results")), SEATS);
    assert_int_equal(json_integer_value(json_object_get(o, "refused")), NUSERS - SEATS);
    json_t *first = json_array_get(json_object_get(o, "standings"), 0);
    for (int i = 0; i < NUSERS; i++)
        if (u[i].seated && u[i].position == 1)
            assert_string_equal(json_string_value(json_object_get(first, "userId")), u[i].name);
    json_decref(o);
    free(out);
}

static void test_finalise_kill9(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "tnfinal", 4);
    bm_e2e_install_module(e, "tournament.so");
    bm_e2e_setenv(e, "BM_KAFKA_SESSION_TIMEOUT_MS", "3000");
    bm_e2e_setenv(e, "BM_ENGINE_CAMPAIGN_END_GRACE_S", "120");
    /* A dead client's transaction is dropped within 100 ms even mid-statement. */
    char dbname[128];
    PGresult *r = PQexec(e->db, "SELECT current_database()");
    snprintf(dbname, sizeof dbname, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "ALTER DATABASE \"%s\" SET client_connection_check_interval = '100ms'", dbname);
    bm_testdb_exec(e->db, sql);
    /* The first transaction that writes a tournament result is held for 4 s. */
    bm_testdb_exec(e->db,
                   "CREATE SEQUENCE bm_test_hold_seq;"
                   "CREATE FUNCTION bm_test_hold() RETURNS trigger LANGUAGE plpgsql AS $$"
                   " BEGIN IF nextval('bm_test_hold_seq') = 1 THEN PERFORM pg_sleep(4); END IF;"
                   " RETURN NEW; END $$;"
                   "CREATE TRIGGER bm_test_hold BEFORE INSERT ON module_results FOR EACH ROW "
                   "WHEN (NEW.kind = 'tournament_result') EXECUTE FUNCTION bm_test_hold();");

    int64_t now = bm_e2e_wall_ms();
    int64_t start = now - 200000, end = now + 30000;
    char s_ts[40], e_ts[40], json[2048], id[64];
    bm_rfc3339_format(start, s_ts, sizeof s_ts);
    bm_rfc3339_format(end, e_ts, sizeof e_ts);
    snprintf(json, sizeof json,
             "{\"type\":\"tournament\",\"name\":\"Cup\",\"gameId\":\"demo-game\","
             "\"startDate\":\"%s\",\"endDate\":\"%s\",\"gracePeriodSeconds\":2,"
             "\"maxParticipants\":%d,\"scoringConfig\":{\"eventType\":\"MATCH_END\","
             "\"dataField\":\"score\",\"aggregation\":\"sum\"},\"prizePool\":{\"totalValue\":1000,"
             "\"decimals\":2,\"rewardType\":\"token\",\"rewardConfig\":{\"token\":\"GEM\"},"
             "\"distribution\":[{\"rank\":1,\"percentage\":40},{\"rank\":2,\"percentage\":25},"
             "{\"rank\":3,\"percentage\":15},{\"rank\":4,\"rankTo\":10,\"percentage\":2.5}]}}",
             s_ts, e_ts, SEATS);
    bm_e2e_campaign(e, json, id, sizeof id);
    ouser u[NUSERS];
    memset(u, 0, sizeof u);
    oracle(u, start);

    bm_e2e_engine g[2];
    bm_e2e_engine_start(e, &g[0]);
    bm_e2e_engine_start(e, &g[1]);
    long long produced = 0;
    produce_stream(e, start, &produced);
    bm_e2e_wait_offsets(e, NULL, produced, 60000);
    assert_true(bm_e2e_wall_ms() < end);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM tournament_results"), 0);

    /* The first engine to log the finalisation is killed while its commit is held. */
    int victim = -1;
    for (int64_t t0 = bm_e2e_now_ms(); victim < 0 && bm_e2e_now_ms() - t0 < 60000;) {
        for (int k = 0; k < 2 && victim < 0; k++)
            if (bm_e2e_log_contains(&g[k], "finalising"))
                victim = k;
        bm_e2e_sleep_ms(20);
    }
    if (victim < 0) {
        bm_e2e_log_tail(&g[0], 40);
        bm_e2e_log_tail(&g[1], 40);
        fail_msg("no engine finalised the tournament");
    }
    for (int64_t t0 = bm_e2e_now_ms();
         bm_e2e_ll(e, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'") == 0;) {
        if (bm_e2e_now_ms() - t0 > 10000)
            fail_msg("the finalising commit never reached the held insert");
        bm_e2e_sleep_ms(10);
    }
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM work_claims WHERE work_key = 'finalise'"),
                     0);
    bm_e2e_engine_kill9(&g[victim]);
    fprintf(stderr, "e2e: engine %d killed inside its finalising commit\n", victim);

    int other = 1 - victim;
    for (int64_t t0 = bm_e2e_now_ms();
         bm_e2e_ll(e, "SELECT count(*) FROM work_claims WHERE work_key = 'finalise'") == 0;) {
        if (bm_e2e_now_ms() - t0 > 30000) {
            bm_e2e_log_tail(&g[other], 30);
            fail_msg("the surviving engine did not finalise");
        }
        bm_e2e_sleep_ms(50);
    }
    /* The held transaction died with its client: nothing of it was committed. */
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = "
                                  "'PgSleep'"),
                     0);
    verify(e, id, u);

    /* The killed engine comes back and ticks the ended tournament: nothing is paid twice. */
    bm_e2e_engine_start(e, &g[victim]);
    bm_e2e_sleep_ms(6000);
    verify(e, id, u);
    bm_e2e_engine_stop(&g[victim], 15000);
    bm_e2e_engine_stop(&g[other], 15000);
    verify(e, id, u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_finalise_kill9, bm_e2e_setup, bm_e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
