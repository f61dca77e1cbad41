/*
 * Recurring tournaments (resetSchedule + duration): the runs of the calendar,
 * config refusals, and random streams over several runs checked against an
 * independent oracle: each run has its own attempts, table and prizes, paid
 * once with keys that name the run, also across a module reload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "campaign/campaign.h"
#include "harness/modharness.h"
#include "host/host.h"
#include "tn_cases.h"
#include "tournament.h"
#include "util/rfc3339.h"

#define T0 1893456000000LL /* 2030-01-01T00:00:00Z */
#define PERIOD 30000LL
#define DUR 20000LL
#define NRUNS 4
#define NU 6
#define GRACE 15000LL
#define DOC                                                                                        \
    "{\"id\":\"r1\",\"type\":\"tournament\",\"gameId\":\"g1\",\"name\":\"R\","                     \
    "\"startDate\":\"2030-01-01T00:00:00Z\",\"endDate\":\"2030-01-01T00:02:00Z\","                 \
    "\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\"},"                     \
    "\"maxAttempts\":2,\"gracePeriodSeconds\":15,"                                                 \
    "\"resetSchedule\":{\"periodSeconds\":30},\"duration\":20,"                                    \
    "\"prizePool\":{\"totalValue\":100,\"rewardType\":\"token\",\"distribution\":"                 \
    "[{\"rank\":1,\"percentage\":60},{\"rank\":2,\"percentage\":40}]}}"

static int64_t g_now;

static int64_t now_fn(bm_host *h)
{
    (void)h;
    return g_now;
}

static void send(const char *user, int64_t t, int score)
{
    char buf[512], ts[40];
    static int seq;
    bm_rfc3339_format(t, ts, sizeof ts);
    snprintf(buf, sizeof buf,
             "{\"eventId\":\"r%d\",\"gameId\":\"g1\",\"userId\":\"%s\",\"eventType\":\"MATCH_END\","
             "\"timestamp\":\"%s\",\"data\":{\"score\":%d}}",
             ++seq, user, ts, score);
    assert_true(harness_event(buf) >= 0);
}

static tn_cfg *parse(const char *doc, char *err, size_t errlen)
{
    bm_campaign c = {.id = "r1", .config_json = doc};
    if (bm_camp_window(doc, &c.start_ms, &c.end_ms, err, errlen) != 0)
        return NULL;
    bm_host *h = bm_host_new("tournament", NULL);
    tn_cfg *cfg = tn_cfg_parse(bm_host_api_get(), h, &c, err, errlen);
    bm_host_free(h);
    return cfg;
}

void test_tn_runs(void **unused)
{
    (void)unused;
    char err[256];
    tn_cfg *cfg = parse(DOC, err, sizeof err);
    if (!cfg)
        fail_msg("refused: %s", err);
    int64_t s, e;
    /* In a run, between runs, and the last run that fits before endDate. */
    assert_int_equal(tn_run_of(cfg, T0 + 19999, &s, &e), 0);
    assert_int_equal(s, T0);
    assert_int_equal(e, T0 + DUR);
    assert_int_equal(tn_run_of(cfg, T0 + 20000, &s, &e), -1);
    assert_int_equal(tn_run_of(cfg, T0 + 95000, &s, &e), 0);
    assert_int_equal(s, T0 + 3 * PERIOD);
    assert_int_equal(tn_run_of(cfg, T0 + 120000, &s, &e), -1);
    assert_int_equal(tn_run_of(cfg, T0 - 1, &s, &e), -1);
    /* A command between runs is for the next run; after the last one, for none. */
    assert_int_equal(tn_run_for_command(cfg, T0 + 25000, &s, &e), 0);
    assert_int_equal(s, T0 + PERIOD);
    assert_int_equal(tn_run_for_command(cfg, T0 + 115000, &s, &e), -1);
    char name[40];
    tn_run_name(cfg, T0 + PERIOD, name, sizeof name);
    assert_string_equal(name, "2030-01-01T00:00:30Z");
    tn_cfg_free(bm_host_api_get(), cfg);
    static const struct {
        const char *extra, *expect;
    } bad[] = {
        {"\"duration\":20}", "duration: only with a resetSchedule"},
        {"\"resetSchedule\":\"daily\"}", "duration: required with resetSchedule"},
        {"\"resetSchedule\":{\"periodSeconds\":30},\"duration\":31}", "duration: required"},
        {"\"resetSchedule\":{\"periodSeconds\":30,\"graceSeconds\":5},\"duration\":5}",
         "resetSchedule.graceSeconds"},
        {"\"resetSchedule\":\"hourly\",\"duration\":5}", "resetSchedule: must be daily"},
        {"\"resetSchedule\":\"daily\",\"duration\":7200}", "no run fits"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char doc[1024];
        snprintf(doc, sizeof doc,
                 "{\"startDate\":\"2030-01-01T00:00:00Z\",\"endDate\":\"2030-01-01T00:02:00Z\","
                 "\"scoringConfig\":{\"eventType\":\"E\",\"dataField\":\"s\"},%s",
                 bad[i].extra);
        err[0] = '\0';
        tn_cfg *c = parse(doc, err, sizeof err);
        if (c)
            fail_msg("accepted: %s", doc);
        if (!strstr(err, bad[i].expect))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].expect);
    }
}

/* The oracle: per run, per user, sum of the first two scores; reached = time of the last. */
typedef struct o_user {
    double score;
    int attempts;
    int64_t reached;
} o_user;

static void check_run(int r, o_user ou[NRUNS][NU])
{
    int order[NU], n = 0;
    for (int u = 0; u < NU; u++)
        if (ou[r][u].attempts > 0)
            order[n++] = u;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            const o_user *a = &ou[r][order[j - 1]], *b = &ou[r][order[j]];
            int swap =
                b->score > a->score || (b->score == a->score && b->reached < a->reached) ||
                (b->score == a->score && b->reached == a->reached && order[j] < order[j - 1]);
            if (swap) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        }
    char name[40];
    bm_period_name(T0 + r * PERIOD, name, sizeof name);
    for (int i = 0; i < NU; i++) {
        char key[80], idem[120], user[8];
        snprintf(key, sizeof key, "%s:%d", name, i + 1);
        snprintf(idem, sizeof idem, "tournament:r1:%s:%d", name, i + 1);
        const harness_result *row = harness_result_find("r1", "tournament_result", key);
        const harness_grant *g = harness_reward_find(idem);
        if (i >= n) {
            assert_null(row);
            assert_null(g);
            continue;
        }
        snprintf(user, sizeof user, "u%d", order[i]);
        if (!row)
            fail_msg("run %d (%s): no result row at position %d of %d", r, name, i + 1, n);
        char want[64];
        snprintf(want, sizeof want, "\"userId\":\"%s\"", user);
        if (!strstr(row->doc, want))
            fail_msg("run %d position %d: %s, expected %s", r, i + 1, row->doc, user);
        int64_t prize = i == 0 ? 60 : i == 1 ? 40 : 0;
        snprintf(want, sizeof want, "\"prize\":%lld", (long long)prize);
        assert_non_null(strstr(row->doc, want));
        if (prize == 0) {
            assert_null(g);
            continue;
        }
        assert_non_null(g);
        assert_string_equal(g->user, user);
        snprintf(want, sizeof want, "\"amount\":%lld", (long long)prize);
        assert_non_null(strstr(g->reward_json, want));
    }
    char fk[64];
    snprintf(fk, sizeof fk, "final:%s", name);
    assert_non_null(harness_result_find("r1", "tournament", fk));
}

/* Counts an event of time ts, processed at wall time now, in the oracle. */
static void o_count(o_user ou[NRUNS][NU], int u, int64_t ts, int64_t now, int score)
{
    for (int r = 0; r < NRUNS; r++) {
        int64_t rs = T0 + r * PERIOD;
        if (ts >= rs && ts < rs + DUR && now < rs + DUR + GRACE && ou[r][u].attempts < 2) {
            ou[r][u].score += score;
            ou[r][u].attempts++;
            ou[r][u].reached = ts;
        }
    }
}

static size_t expected_grants(o_user ou[NRUNS][NU], int upto)
{
    size_t g = 0;
    for (int r = 0; r < upto; r++) {
        int players = 0;
        for (int u = 0; u < NU; u++)
            players += ou[r][u].attempts > 0;
        g += players >= 2 ? 2 : (size_t)players;
    }
    return g;
}

/*
 * One time-ordered stream over the whole series (wall clock = event time),
 * with late events: in the first seconds of a period, some events carry a
 * time inside the previous run (still in its grace), for players who have
 * already scored in the new run. The campaign is ticked at every step; each
 * run must be paid exactly when its end + grace + settle has passed.
 */
static void stream(uint64_t seed)
{
    char err[256];
    assert_int_equal(harness_load(harness_module_path("tournament"), err, sizeof err), 0);
    ((bm_host_api *)harness_api())->now_ms = now_fn;
    if (harness_add_campaign(DOC, err, sizeof err) != 0)
        fail_msg("refused: %s", err);
    static o_user ou[NRUNS][NU];
    memset(ou, 0, sizeof ou);
    uint64_t s = seed;
    int64_t t = T0 - 2000;
    int reloaded = 0;
    for (int k = 0; t < T0 + NRUNS * PERIOD + 10000; k++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        t += 2 * (1 + (int64_t)((s >> 20) % 400)); /* even: late times are odd */
        g_now = t;
        int u = (int)((s >> 33) % NU), score = 1 + (int)((s >> 40) % 50);
        int64_t ts = t, since = (t - T0) % PERIOD;
        int r = (int)((t - T0) / PERIOD);
        if (r >= 1 && r <= NRUNS && since < GRACE - PERIOD + DUR && (s >> 50) % 3 == 0)
            ts = T0 + (r - 1) * PERIOD + 1 + 2 * ((k * 977LL) % (DUR / 2));
        char user[8];
        snprintf(user, sizeof user, "u%d", u);
        send(user, ts, score);
        o_count(ou, u, ts, t, score);
        if (!reloaded && t > T0 + PERIOD + 5000) {
            assert_int_equal(harness_reload(err, sizeof err), 0);
            ((bm_host_api *)harness_api())->now_ms = now_fn;
            reloaded = 1;
        }
        harness_campaign_tick("r1", t);
        int paid = 0;
        while (paid < NRUNS && t >= T0 + paid * PERIOD + DUR + GRACE + TN_SETTLE_MS)
            paid++;
        assert_int_equal(harness_reward_count(), expected_grants(ou, paid));
    }
    for (int r = 0; r < NRUNS; r++)
        check_run(r, ou);
    /* reloaded, ticked again and ended: nothing is paid twice */
    size_t grants = harness_reward_count();
    assert_int_equal(harness_reload(err, sizeof err), 0);
    ((bm_host_api *)harness_api())->now_ms = now_fn;
    harness_campaign_tick("r1", g_now + 5000);
    harness_end_campaign("r1", BM_END_WINDOW, g_now + 6000);
    assert_int_equal(harness_reward_count(), grants);
    assert_int_equal(harness_reward_duplicates(), 0);
    for (int r = 0; r < NRUNS; r++)
        check_run(r, ou);
    harness_unload();
}

void test_tn_recurring_streams(void **unused)
{
    (void)unused;
    for (uint64_t seed = 1; seed <= 20; seed++)
        stream(seed);
}
