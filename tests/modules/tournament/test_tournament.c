/*
 * tournament.so property tests: randomised streams of scores, entry and join
 * commands and membership changes through the module harness, compared with
 * an oracle written here from modules/tournament/README.md (window by event
 * time, entry fee, joinRequired, minLevel, any-of community gating,
 * maxAttempts, sum/max/count/formula), then the final table (seats in event
 * order, ranks, prizes in minor units with ties and remainders) computed by
 * the module's ranking from the harness's committed states, compared with
 * the oracle's own table. The oracle shares no code with the module.
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
#include "event/event.h"
#include "harness/modharness.h"
#include "host/host.h"
#include "log/log.h"
#include "tn_cases.h"
#include "tournament.h"

#define NUSERS 10
#define NCAMP 4
#define T0 1893456000000LL /* 2030-01-01T00:00:00Z */
#define SEC 1000LL

enum { K_SCORE, K_OTHER, K_ENTRY, K_JOIN, K_MEMBER };

typedef struct tev {
    int kind, user;
    int64_t t;
    int score, kills, level; /* -1 = absent */
    int camp;                /* commands: 0..3, 4 = a tournament that is not loaded */
    int amount;              /* -1 = absent */
    int community;           /* K_MEMBER: which community flips for user */
} tev;

static const char *const CAMP[5] = {"ta", "tb", "tc", "td", "tz"};

typedef struct ocamp {
    int64_t start, end;
    double fee;
    int join_required, max_attempts, max_participants, min_level, gated;
    int agg; /* 0 sum of score, 1 max of score, 2 sum of formula, 3 count */
    int64_t total;
    int64_t bp[16]; /* per position 1..15 */
} ocamp;

static const ocamp OC[NCAMP] = {
    {T0, T0 + 600 * SEC, 10, 0, 0, 5, -1, 0, 0, 99999, {0, 3333, 1111, 1111, 1111, 550, 550}},
    {T0 + 120 * SEC, T0 + 480 * SEC, 0, 1, 3, 0, 5, 1, 1, 50, {0, 6000, 2500, 1500}},
    {T0, T0 + 600 * SEC, 0, 0, 4, 0, -1, 0, 2, 7, {0, 3334, 3333, 3333}},
    {T0, T0 + 300 * SEC, 0, 0, 0, 3, -1, 0, 3, 0, {0}},
};

static const char *const CAMP_JSON[NCAMP] = {
    "{\"id\":\"ta\",\"type\":\"tournament\",\"gameId\":\"g1\",\"name\":\"A\","
    "\"startDate\":\"2030-01-01T00:00:00Z\",\"endDate\":\"2030-01-01T00:10:00Z\","
    "\"maxParticipants\":5,\"entryRequirements\":{\"fee\":10,\"tokenType\":\"erc20\"},"
    "\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\",\"aggregation\":"
    "\"sum\"},"
    "\"prizePool\":{\"totalValue\":999.99,\"decimals\":2,\"rewardType\":\"token\","
    "\"rewardConfig\":{\"token\":\"GEM\"},\"distribution\":[{\"rank\":1,\"percentage\":33.33},"
    "{\"rank\":2,\"rankTo\":4,\"percentage\":11.11},{\"rank\":5,\"rankTo\":6,\"percentage\":5.5}]}"
    "}",
    "{\"id\":\"tb\",\"type\":\"tournament\",\"gameId\":\"g1\",\"name\":\"B\","
    "\"startDate\":\"2030-01-01T00:02:00Z\",\"endDate\":\"2030-01-01T00:08:00Z\","
    "\"joinRequired\":true,\"maxAttempts\":3,"
    "\"entryRequirements\":{\"minLevel\":5,\"communities\":[\"c1\"]},"
    "\"gating\":{\"communities\":[\"c2\"]},"
    "\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\",\"aggregation\":"
    "\"max\"},"
    "\"prizePool\":{\"totalValue\":50,\"rewardType\":\"in_game\",\"distribution\":["
    "{\"rank\":1,\"percentage\":60},{\"rank\":2,\"percentage\":25},{\"rank\":3,\"percentage\":15}]}"
    "}",
    "{\"id\":\"tc\",\"type\":\"tournament\",\"gameId\":\"g1\",\"name\":\"C\","
    "\"startDate\":\"2030-01-01T00:00:00Z\",\"endDate\":\"2030-01-01T00:10:00Z\","
    "\"maxAttempts\":4,\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"aggregation\":\"sum\","
    "\"formula\":\"if data.score == nil then return nil end return data.score * 2 + (data.kills or "
    "0)\"},"
    "\"prizePool\":{\"totalValue\":7,\"rewardType\":\"webhook\",\"distribution\":["
    "{\"rank\":1,\"percentage\":33.34},{\"rank\":2,\"rankTo\":3,\"percentage\":33.33}]}}",
    "{\"id\":\"td\",\"type\":\"tournament\",\"gameId\":\"g1\",\"name\":\"D\","
    "\"startDate\":\"2030-01-01T00:00:00Z\",\"endDate\":\"2030-01-01T00:05:00Z\","
    "\"maxParticipants\":3,\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"aggregation\":"
    "\"count\"}}",
};

/* Community membership as the test's host answers it (both the module and the oracle read it). */
static int g_member[2][NUSERS];

static int test_member(bm_batch *b, const char *community, const char *user)
{
    (void)b;
    int c = strcmp(community, "c1") == 0 ? 0 : strcmp(community, "c2") == 0 ? 1 : -1;
    int u = atoi(user + 1);
    return c >= 0 && u >= 0 && u < NUSERS ? g_member[c][u] : 0;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rng_int(uint64_t *s, int n)
{
    return (int)(rng_next(s) % (uint64_t)n);
}

static void gen_events(uint64_t seed, tev *out, int n)
{
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        tev *e = &out[i];
        memset(e, 0, sizeof *e);
        /* Coarse seconds around the windows: equal times (ties) and out-of-window events. */
        int64_t base = T0 + (int64_t)(i * 640 / n - 20) * SEC;
        e->t = base + rng_int(&s, 40) * SEC - 20 * SEC;
        e->user = rng_int(&s, NUSERS);
        int r = rng_int(&s, 100);
        e->kind = r < 62   ? K_SCORE
                  : r < 70 ? K_OTHER
                  : r < 82 ? K_ENTRY
                  : r < 96 ? K_JOIN
                           : K_MEMBER;
        e->score = rng_int(&s, 10) == 0 ? -1 : rng_int(&s, 8);
        e->kills = rng_int(&s, 3) == 0 ? -1 : rng_int(&s, 4);
        e->level = rng_int(&s, 6) == 0 ? -1 : rng_int(&s, 10);
        e->camp = rng_int(&s, 12) == 0 ? 4 : rng_int(&s, NCAMP);
        e->amount = rng_int(&s, 5) == 0 ? -1 : rng_int(&s, 16);
        e->community = rng_int(&s, 2);
    }
}

static void event_json(const tev *e, int idx, char *buf, size_t len)
{
    static const char *const types[] = {"MATCH_END", "EMOTE", TN_CMD_ENTRY, TN_CMD_JOIN};
    char ts[40], data[256] = "";
    size_t n = 0;
    bm_rfc3339_format(e->t, ts, sizeof ts);
#define ADD(...) n += (size_t)snprintf(data + n, sizeof data - n, __VA_ARGS__)
    if (e->kind == K_ENTRY || e->kind == K_JOIN) {
        ADD(",\"campaignId\":\"%s\"", CAMP[e->camp]);
        if (e->amount >= 0)
            ADD(",\"amount\":%d", e->amount);
    } else {
        if (e->score >= 0)
            ADD(",\"score\":%d", e->score);
        if (e->kills >= 0)
            ADD(",\"kills\":%d", e->kills);
        if (e->level >= 0)
            ADD(",\"level\":%d", e->level);
    }
#undef ADD
    snprintf(buf, len,
             "{\"eventId\":\"e%d\",\"gameId\":\"g1\",\"userId\":\"u%d\",\"eventType\":\"%s\","
             "\"timestamp\":\"%s\",\"data\":{%s}}",
             idx, e->user, types[e->kind], ts, data[0] ? data + 1 : "");
}

/* ---- the oracle ----------------------------------------------------------- */

typedef struct ouser {
    int entered, joined;
    double value;
    long count;
    int64_t first, reached;
} ouser;

static ouser OU[NCAMP][NUSERS];
static int o_fee_low, o_ended;

static void o_command(const tev *e)
{
    if (e->camp >= NCAMP)
        return;
    const ocamp *c = &OC[e->camp];
    ouser *u = &OU[e->camp][e->user];
    if (e->t >= c->end) {
        o_ended++;
        return;
    }
    int want_enter = e->kind == K_ENTRY || (c->fee > 0);
    int want_join = e->kind == K_JOIN;
    int need_enter = want_enter && !u->entered, need_join = want_join && !u->joined;
    if (!need_enter && !need_join)
        return;
    if (need_enter && c->fee > 0 && (e->amount < 0 ? 0 : e->amount) < c->fee) {
        o_fee_low++;
        return;
    }
    if (need_enter)
        u->entered = 1;
    if (need_join)
        u->joined = 1;
}

/* The player's level as the host keeps it: the level of the player's latest event by
 * event time (ties: the later one in the stream), commands carrying none. */
static int g_level[NUSERS], g_has_level[NUSERS];
static int64_t g_level_t[NUSERS];

static void o_level(const tev *e)
{
    if (e->level < 0 || (g_has_level[e->user] && e->t < g_level_t[e->user]))
        return;
    g_level[e->user] = e->level;
    g_level_t[e->user] = e->t;
    g_has_level[e->user] = 1;
}

static void o_score(int k, const tev *e)
{
    const ocamp *c = &OC[k];
    ouser *u = &OU[k][e->user];
    if (e->t < c->start || e->t >= c->end)
        return;
    if (c->min_level >= 0 && (!g_has_level[e->user] || g_level[e->user] < c->min_level))
        return;
    if (c->gated && !g_member[0][e->user] && !g_member[1][e->user])
        return;
    double x;
    if (c->agg == 3)
        x = 1;
    else if (e->score < 0)
        return;
    else if (c->agg == 2)
        x = e->score * 2 + (e->kills < 0 ? 0 : e->kills);
    else
        x = e->score;
    if ((c->fee > 0 && !u->entered) || (c->join_required && !u->joined))
        return;
    if (c->max_attempts && u->count >= c->max_attempts)
        return;
    double before = u->value;
    if (c->agg == 1)
        u->value = u->count == 0 || x > u->value ? x : u->value;
    else
        u->value += x;
    if (u->count == 0 || e->t < u->first)
        u->first = e->t;
    if (u->count == 0 || u->value != before)
        u->reached = e->t;
    u->count++;
}

/* Expected prize of each player (minor units), -1 for no seat; positions in pos[]. */
static void o_results(int k, int64_t prize[NUSERS], int pos[NUSERS], int rank[NUSERS])
{
    const ocamp *c = &OC[k];
    const ouser *U = OU[k];
    int seated[NUSERS];
    for (int u = 0; u < NUSERS; u++) {
        int before = 0;
        for (int v = 0; v < NUSERS; v++) {
            const ouser *o = &U[v];
            if (o->count > 0 && (o->first < U[u].first || (o->first == U[u].first && v < u)))
                before++;
        }
        seated[u] = U[u].count > 0 && (!c->max_participants || before < c->max_participants);
    }
    int64_t table[NUSERS + 2] = {0}, base_sum = 0, bp_all = 0;
    for (int p = 1; p < 16; p++)
        bp_all += c->bp[p];
    for (int p = 1; p <= NUSERS; p++) {
        table[p] = p < 16 ? c->total * c->bp[p] / 10000 : 0;
        base_sum += table[p];
    }
    for (int p = NUSERS + 1; p < 16; p++)
        base_sum += c->total * c->bp[p] / 10000;
    table[1] += c->total * bp_all / 10000 - base_sum;
    for (int u = 0; u < NUSERS; u++) {
        prize[u] = -1;
        pos[u] = rank[u] = 0;
        if (!seated[u])
            continue;
        int p = 1, first = 0, k_tied = 0, my_idx = 0;
        for (int v = 0; v < NUSERS; v++) {
            if (!seated[v] || v == u)
                continue;
            int tied = U[v].value == U[u].value && U[v].reached == U[u].reached;
            if (U[v].value > U[u].value ||
                (U[v].value == U[u].value && U[v].reached < U[u].reached) || (tied && v < u))
                p++;
            if (tied && v < u)
                my_idx++;
        }
        for (int v = 0; v < NUSERS; v++)
            if (seated[v] && U[v].value == U[u].value && U[v].reached == U[u].reached)
                k_tied++;
        first = p - my_idx;
        int64_t pot = 0;
        for (int q = first; q < first + k_tied; q++)
            pot += q <= NUSERS ? table[q] : 0;
        prize[u] = pot / k_tied + (my_idx < pot % k_tied ? 1 : 0);
        pos[u] = p;
        rank[u] = first;
    }
}

/* ---- the run -------------------------------------------------------------- */

static size_t count_refused(const char *reason)
{
    size_t n = 0;
    char needle[64];
    snprintf(needle, sizeof needle, "\"reason\":\"%s\"", reason);
    for (size_t i = 0; i < harness_message_count(); i++) {
        const harness_msg *m = harness_message_at(i);
        n += strcmp(m->topic, "tournament.events") == 0 && strstr(m->json, needle) != NULL;
    }
    return n;
}

static void check_camp(int k, int *paid_players)
{
    char err[256];
    tn_entry entries[NUSERS];
    char names[NUSERS][8];
    size_t n = 0;
    for (int u = 0; u < NUSERS; u++) {
        char user[8];
        snprintf(user, sizeof user, "u%d", u);
        const bm_state *st = harness_state(CAMP[k], user);
        const ouser *o = &OU[k][u];
        if (o->count == 0) {
            assert_true(st == NULL || st->count == 0);
            continue;
        }
        assert_non_null(st);
        assert_int_equal(st->count, o->count);
        assert_true(st->value == o->value);
        assert_int_equal(st->first_ms, o->first);
        assert_int_equal(st->reached_ms, o->reached);
        snprintf(names[n], sizeof names[n], "u%d", u);
        entries[n] = (tn_entry){names[n], st->value, st->reached_ms, st->first_ms, NULL};
        n++;
    }
    /* The module's own parse of the document feeds its ranking. */
    bm_campaign c = {.id = CAMP[k], .config_json = CAMP_JSON[k]};
    assert_int_equal(bm_camp_window(CAMP_JSON[k], &c.start_ms, &c.end_ms, err, sizeof err), 0);
    bm_host *host = bm_host_new("tournament-test", NULL);
    tn_cfg *cfg = tn_cfg_parse(harness_api(), host, &c, err, sizeof err);
    assert_non_null(cfg);
    tn_result res[NUSERS];
    size_t refused = 0;
    int nres = tn_rank(cfg, entries, n, res, &refused);
    int64_t prize[NUSERS];
    int pos[NUSERS], rank[NUSERS], seated = 0;
    o_results(k, prize, pos, rank);
    int64_t sum = 0;
    for (int u = 0; u < NUSERS; u++)
        seated += prize[u] >= 0;
    assert_int_equal(nres, seated);
    assert_int_equal(refused, n - (size_t)seated);
    for (int i = 0; i < nres; i++) {
        int u = atoi(res[i].user + 1);
        assert_int_equal(res[i].position, pos[u]);
        assert_int_equal(res[i].rank, rank[u]);
        assert_int_equal(res[i].prize, prize[u]);
        sum += res[i].prize;
        *paid_players += res[i].prize > 0;
    }
    assert_true(sum <= cfg->total_minor);
    tn_cfg_free(harness_api(), cfg);
    bm_host_free(host);
}

static void property_run(uint64_t seed, int batch, int reload_every)
{
    enum { N = 1500 };
    static tev evs[N];
    char buf[1024], err[512];
    memset(OU, 0, sizeof OU);
    memset(g_level, 0, sizeof g_level);
    memset(g_has_level, 0, sizeof g_has_level);
    memset(g_level_t, 0, sizeof g_level_t);
    o_fee_low = o_ended = 0;
    uint64_t s = seed ^ 0x5eed;
    for (int c = 0; c < 2; c++)
        for (int u = 0; u < NUSERS; u++)
            g_member[c][u] = rng_int(&s, 3) == 0;
    gen_events(seed, evs, N);
    assert_int_equal(harness_load(harness_module_path("tournament"), err, sizeof err), 0);
    ((bm_host_api *)harness_api())->community_member = test_member;
    for (int k = 0; k < NCAMP; k++) {
        if (harness_add_campaign(CAMP_JSON[k], err, sizeof err) != 0)
            fail_msg("campaign %s refused: %s", CAMP[k], err);
    }
    harness_set_batch_size(batch);
    for (int i = 0; i < N; i++) {
        const tev *e = &evs[i];
        if (e->kind == K_MEMBER) {
            g_member[e->community][e->user] ^= 1;
            continue;
        }
        event_json(e, i, buf, sizeof buf);
        assert_true(harness_event(buf) >= 0);
        if (reload_every && i % reload_every == reload_every - 1)
            assert_int_equal(harness_reload(err, sizeof err), 0);
        if (e->kind == K_SCORE || e->kind == K_OTHER)
            o_level(e);
        if (e->kind == K_ENTRY || e->kind == K_JOIN)
            o_command(e);
        else if (e->kind == K_SCORE)
            for (int k = 0; k < NCAMP; k++)
                o_score(k, e);
    }
    harness_flush();
    int paid = 0;
    for (int k = 0; k < NCAMP; k++)
        check_camp(k, &paid);
    assert_int_equal(count_refused("fee_too_low"), (size_t)o_fee_low);
    assert_int_equal(count_refused("ended"), (size_t)o_ended);
    /* The stream must exercise what it claims to. */
    assert_true(o_fee_low > 5 && o_ended > 5);
    assert_true(paid >= 6);
    int capped = 0;
    for (int u = 0; u < NUSERS; u++)
        capped += OU[1][u].count == 3 || OU[2][u].count == 4;
    assert_true(capped > 0);
    harness_unload();
}

static void test_property_seeds(void **unused)
{
    (void)unused;
    for (uint64_t seed = 1; seed <= 12; seed++)
        property_run(seed * 7919, (int)(seed % 5) + 1, 0);
}

static void test_reload_mid_stream(void **unused)
{
    (void)unused;
    property_run(77, 3, 97);
}

int main(void)
{
    bm_log_set_level(BM_LOG_LVL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_property_seeds),
        cmocka_unit_test(test_reload_mid_stream),
        TN_CASE_TESTS,
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
