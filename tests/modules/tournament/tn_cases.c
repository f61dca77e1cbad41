/* Hand-checked tournament scenarios and config refusals. */
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

#define HEAD                                                                                       \
    "{\"id\":\"t1\",\"type\":\"tournament\",\"gameId\":\"g1\",\"name\":\"T\","                     \
    "\"startDate\":\"2030-01-01T00:00:00Z\",\"endDate\":\"2030-01-01T01:00:00Z\","
#define SCORING "\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\"}"
#define T0 1893456000000LL
#define END (T0 + 3600000LL)

static void load(void)
{
    char err[256];
    assert_int_equal(harness_load(harness_module_path("tournament"), err, sizeof err), 0);
}

static void add(const char *json)
{
    char err[512];
    if (harness_add_campaign(json, err, sizeof err) != 0)
        fail_msg("refused: %s", err);
}

static void send(const char *user, const char *type, int64_t t, const char *data)
{
    char buf[1024], ts[40];
    static int seq;
    bm_rfc3339_format(t, ts, sizeof ts);
    snprintf(buf, sizeof buf,
             "{\"eventId\":\"c%d\",\"gameId\":\"g1\",\"userId\":\"%s\",\"eventType\":\"%s\","
             "\"timestamp\":\"%s\",\"data\":%s}",
             ++seq, user, type, ts, data);
    assert_true(harness_event(buf) >= 0);
}

void test_tn_invalid_configs(void **unused)
{
    (void)unused;
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {HEAD "\"x\":1}", "scoringConfig: required"},
        {"{\"id\":\"t1\",\"startDate\":\"2030-01-01T00:00:00Z\"," SCORING "}", "endDate: required"},
        {HEAD "\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\",\"agg\":1}}",
         "scoringConfig.agg: unknown key"},
        {HEAD "\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"aggregation\":\"avg\"}}",
         "scoringConfig.aggregation"},
        {HEAD "\"scoringConfig\":{\"eventType\":\"MATCH_END\"}}", "scoringConfig.dataField"},
        {HEAD "\"scoringConfig\":{\"eventType\":\"bm.x\",\"dataField\":\"s\"}}", "reserved"},
        {HEAD "\"scoringConfig\":{\"eventType\":\"E\",\"formula\":\"return (\"}}",
         "scoringConfig.formula"},
        {HEAD SCORING ",\"maxParticipants\":0}", "maxParticipants"},
        {HEAD SCORING ",\"maxAttempts\":1.5}", "maxAttempts"},
        {HEAD SCORING ",\"entryRequirements\":{\"fee\":-1}}", "entryRequirements.fee"},
        {HEAD SCORING ",\"entryRequirements\":{\"level\":3}}",
         "entryRequirements.level: unknown key"},
        {HEAD SCORING ",\"entryRequirements\":{\"communities\":[1]}}",
         "entryRequirements.communities[0]"},
        {HEAD SCORING
         ",\"prizePool\":{\"totalValue\":100,\"rewardType\":\"token\","
         "\"distribution\":[{\"rank\":1,\"percentage\":60},{\"rank\":2,\"percentage\":50}]}}",
         "more than 100"},
        {HEAD SCORING ",\"prizePool\":{\"totalValue\":100,\"rewardType\":\"token\","
                      "\"distribution\":[{\"rank\":1,\"rankTo\":3,\"percentage\":10},"
                      "{\"rank\":3,\"percentage\":5}]}}",
         "overlap"},
        {HEAD SCORING ",\"prizePool\":{\"totalValue\":10.5,\"rewardType\":\"token\","
                      "\"distribution\":[]}}",
         "prizePool.totalValue"},
        {HEAD SCORING ",\"prizePool\":{\"totalValue\":10,\"rewardType\":\"cash\","
                      "\"distribution\":[]}}",
         "prizePool.rewardType"},
        {HEAD SCORING ",\"prizePool\":{\"totalValue\":10,\"rewardType\":\"token\","
                      "\"distribution\":[{\"rank\":1,\"percentage\":12.345}]}}",
         "distribution[0].percentage"},
        {HEAD SCORING ",\"resetSchedule\":\"0 12 * * *\"}", "resetSchedule"},
        {HEAD SCORING ",\"gating\":{\"whitelist\":[]}}", "gating.whitelist: unknown key"},
    };
    char err[512];
    load();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        if (harness_add_campaign(cases[i].json, err, sizeof err) == 0)
            fail_msg("case %zu accepted: %s", i, cases[i].json);
        if (!strstr(err, cases[i].expect))
            fail_msg("case %zu: '%s' does not name '%s'", i, err, cases[i].expect);
    }
    add(HEAD SCORING ",\"prizePool\":{\"totalValue\":10,\"rewardType\":\"token\","
                     "\"distribution\":[{\"rank\":1,\"percentage\":100}]}}");
    harness_unload();
}

/* Parses a prize pool and returns its table for ranks 1..n. */
static int64_t table_of(const char *pool, int64_t *out, int n)
{
    char json[1024], err[256];
    snprintf(json, sizeof json, HEAD SCORING ",\"prizePool\":%s}", pool);
    bm_campaign c = {.id = "t1", .config_json = json};
    assert_int_equal(bm_camp_window(json, &c.start_ms, &c.end_ms, err, sizeof err), 0);
    bm_host *h = bm_host_new("t", NULL);
    tn_cfg *cfg = tn_cfg_parse(bm_host_api_get(), h, &c, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    int64_t sum = tn_prize_table(cfg, out, n);
    tn_cfg_free(bm_host_api_get(), cfg);
    bm_host_free(h);
    return sum;
}

void test_tn_prize_table(void **unused)
{
    (void)unused;
    int64_t t[4];
    /* 100 split 33.33/33.33/33.34: floors 33+33+33, the remainder 1 goes to rank 1. */
    assert_int_equal(table_of("{\"totalValue\":100,\"rewardType\":\"token\",\"distribution\":["
                              "{\"rank\":1,\"percentage\":33.33},{\"rank\":2,\"percentage\":33.33},"
                              "{\"rank\":3,\"percentage\":33.34}]}",
                              t, 3),
                     100);
    assert_int_equal(t[0], 34);
    assert_int_equal(t[1], 33);
    assert_int_equal(t[2], 33);
    /* 0.05 with 2 decimals = 5 minor units: 2.5, 1.5, 1 -> 2, 1, 1 + remainder 1 to rank 1. */
    assert_int_equal(table_of("{\"totalValue\":0.05,\"decimals\":2,\"rewardType\":\"token\","
                              "\"distribution\":[{\"rank\":1,\"percentage\":50},"
                              "{\"rank\":2,\"percentage\":30},{\"rank\":3,\"percentage\":20}]}",
                              t, 3),
                     5);
    assert_int_equal(t[0], 3);
    assert_int_equal(t[1], 1);
    assert_int_equal(t[2], 1);
    /* 90% of 11: pool floor(9.9) = 9; 4.95 + 4.95 -> 4 + 4, remainder 1 to rank 1; never 11. */
    assert_int_equal(table_of("{\"totalValue\":11,\"rewardType\":\"token\",\"distribution\":["
                              "{\"rank\":1,\"rankTo\":2,\"percentage\":45}]}",
                              t, 3),
                     9);
    assert_int_equal(t[0], 5);
    assert_int_equal(t[1], 4);
    assert_int_equal(t[2], 0);
    /* Large pools stay exact: 2^53 - 1 minor units, 1/3 each. */
    assert_int_equal(table_of("{\"totalValue\":9007199254740991,\"rewardType\":\"token\","
                              "\"distribution\":[{\"rank\":1,\"rankTo\":3,\"percentage\":33.33}]}",
                              t, 3),
                     9007199254740991LL / 10000 * 9999 +
                         (9007199254740991LL % 10000) * 9999 / 10000);
}

/* Ranks and prizes from the harness's committed states. */
static int final_table(const char *json, tn_result *res, size_t *refused)
{
    static const char *const users[] = {"a", "b", "c", "d", "e", "f"};
    static tn_entry entries[6];
    char err[256];
    size_t n = 0;
    for (size_t i = 0; i < 6; i++) {
        const bm_state *st = harness_state("t1", users[i]);
        if (st && st->count > 0)
            entries[n++] = (tn_entry){users[i], st->value, st->reached_ms, st->first_ms, NULL};
    }
    bm_campaign c = {.id = "t1", .config_json = json};
    assert_int_equal(bm_camp_window(json, &c.start_ms, &c.end_ms, err, sizeof err), 0);
    tn_cfg *cfg = tn_cfg_parse(harness_api(), NULL, &c, err, sizeof err);
    assert_non_null(cfg);
    int nres = tn_rank(cfg, entries, n, res, refused);
    tn_cfg_free(harness_api(), cfg);
    return nres;
}

void test_tn_ties_at_boundary(void **unused)
{
    (void)unused;
    static const char json[] = HEAD SCORING
        ",\"maxParticipants\":5,\"prizePool\":{\"totalValue\":100,\"rewardType\":\"token\","
        "\"distribution\":[{\"rank\":1,\"percentage\":50},{\"rank\":2,\"percentage\":30},"
        "{\"rank\":3,\"percentage\":20}]}}";
    load();
    add(json);
    /* f scores first but late in the stream; e is the sixth to score and gets no seat. */
    send("a", "MATCH_END", T0 + 5000, "{\"score\":10}");
    send("b", "MATCH_END", T0 + 6000, "{\"score\":8}");
    send("c", "MATCH_END", T0 + 6000, "{\"score\":8}");
    send("d", "MATCH_END", T0 + 7000, "{\"score\":5}");
    send("e", "MATCH_END", T0 + 9000, "{\"score\":50}");
    send("f", "MATCH_END", T0 + 1000, "{\"score\":1}");
    harness_flush();
    tn_result r[6];
    size_t refused = 9;
    assert_int_equal(final_table(json, r, &refused), 5);
    assert_int_equal(refused, 1);
    static const char *const users[] = {"a", "b", "c", "d", "f"};
    static const int ranks[] = {1, 2, 2, 4, 5};
    static const int64_t prizes[] = {50, 25, 25, 0, 0};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(r[i].user, users[i]);
        assert_int_equal(r[i].position, i + 1);
        assert_int_equal(r[i].rank, ranks[i]);
        assert_int_equal(r[i].prize, prizes[i]);
    }
    harness_unload();

    /* Three tied for first share 100: 34 to the first by user id, then 33, 33. */
    load();
    add(json);
    send("c", "MATCH_END", T0 + 5000, "{\"score\":10}");
    send("a", "MATCH_END", T0 + 5000, "{\"score\":10}");
    send("b", "MATCH_END", T0 + 5000, "{\"score\":10}");
    harness_flush();
    assert_int_equal(final_table(json, r, &refused), 3);
    assert_int_equal(refused, 0);
    assert_int_equal(r[0].prize, 34);
    assert_string_equal(r[0].user, "a");
    assert_int_equal(r[1].prize, 33);
    assert_int_equal(r[2].prize, 33);
    assert_int_equal(r[2].rank, 1);
    harness_unload();
}

void test_tn_fee_and_join(void **unused)
{
    (void)unused;
    load();
    add(HEAD SCORING ",\"joinRequired\":true,\"entryRequirements\":{\"fee\":5}}");
    send("a", "MATCH_END", T0 + 1000, "{\"score\":3}"); /* before the join: not counted */
    send("a", "bm.tournament.join", T0 + 2000, "{\"campaignId\":\"t1\",\"amount\":3}");
    send("a", "MATCH_END", T0 + 3000, "{\"score\":4}"); /* the join was refused */
    send("a", "bm.tournament.join", T0 + 4000, "{\"campaignId\":\"t1\",\"amount\":5}");
    send("a", "bm.tournament.join", T0 + 4500, "{\"campaignId\":\"t1\",\"amount\":5}");
    send("a", "MATCH_END", T0 + 5000, "{\"score\":7}");
    send("b", "bm.tournament.entry", T0 + 5000, "{\"campaignId\":\"t1\",\"amount\":9}");
    send("b", "MATCH_END", T0 + 6000, "{\"score\":7}"); /* paid but not joined */
    send("b", "bm.tournament.join", END, "{\"campaignId\":\"t1\"}");
    send("c", "bm.tournament.join", T0, "{\"campaignId\":\"other\",\"amount\":5}");
    harness_flush();
    const bm_state *a = harness_state("t1", "a");
    assert_non_null(a);
    assert_true(a->value == 7);
    assert_int_equal(a->count, 1);
    assert_int_equal(a->flags, TN_FLAG_ENTERED | TN_FLAG_JOINED);
    const bm_state *b = harness_state("t1", "b");
    assert_non_null(b);
    assert_int_equal(b->count, 0);
    assert_int_equal(b->flags, TN_FLAG_ENTERED);
    assert_null(harness_state("t1", "c"));
    size_t joined = 0, low = 0, ended = 0;
    for (size_t i = 0; i < harness_message_count(); i++) {
        const harness_msg *m = harness_message_at(i);
        if (strcmp(m->topic, "tournament.events") != 0)
            continue;
        joined += strstr(m->json, "\"type\":\"joined\"") != NULL;
        low += strstr(m->json, "fee_too_low") != NULL;
        ended += strstr(m->json, "\"ended\"") != NULL;
    }
    assert_int_equal(joined, 1);
    assert_int_equal(low, 1);
    assert_int_equal(ended, 1);
    harness_unload();
}

static int64_t g_now;

static int64_t fixed_now(bm_host *h)
{
    (void)h;
    return g_now;
}

void test_tn_grace_cut(void **unused)
{
    (void)unused;
    load();
    ((bm_host_api *)harness_api())->now_ms = fixed_now;
    add(HEAD SCORING ",\"gracePeriodSeconds\":30}");
    /* After the end, within the grace: an in-window event still counts, a late one never. */
    g_now = END + 29000;
    send("a", "MATCH_END", END - 1, "{\"score\":3}");
    send("a", "MATCH_END", END, "{\"score\":100}");
    /* Past end + grace the standings are final. */
    g_now = END + 30000;
    send("a", "MATCH_END", END - 2, "{\"score\":5}");
    harness_flush();
    const bm_state *a = harness_state("t1", "a");
    assert_non_null(a);
    assert_true(a->value == 3);
    assert_int_equal(a->count, 1);
    harness_unload();
}

void test_tn_split(void **unused)
{
    (void)unused;
    tn_entry m[3] = {{"a", 10, 1, 0, NULL}, {"b", 6, 2, 0, NULL}, {"c", 0, 3, 0, NULL}};
    int64_t sh[3];
    /* Equal: 70 / 3 = 23 r 1, the remainder to the best member. */
    tn_split(70, m, 3, 0, sh);
    assert_int_equal(sh[0], 24);
    assert_int_equal(sh[1], 23);
    assert_int_equal(sh[2], 23);
    /* By score 10:6:0 of 70: 43.75, 26.25, 0 -> 43, 26, 0 + 1 to the best member. */
    tn_split(70, m, 3, 1, sh);
    assert_int_equal(sh[0], 44);
    assert_int_equal(sh[1], 26);
    assert_int_equal(sh[2], 0);
    /* Nobody scored above 0: equal shares. */
    tn_entry z[2] = {{"a", 0, 1, 0, NULL}, {"b", -3, 2, 0, NULL}};
    tn_split(5, z, 2, 1, sh);
    assert_int_equal(sh[0], 3);
    assert_int_equal(sh[1], 2);
    /* Random prizes and scores: shares are >= 0 and sum to the prize exactly. */
    uint64_t s = 99;
    for (int k = 0; k < 2000; k++) {
        tn_entry r[5];
        int64_t out[5], sum = 0;
        size_t n = 1 + (size_t)(k % 5);
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t prize = (int64_t)(s >> 20) % 9007199254740991LL;
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            r[i] = (tn_entry){"u", (double)((s >> 33) % 1000), (int64_t)i, 0, NULL};
        }
        tn_split(prize, r, n, k % 2, out);
        for (size_t i = 0; i < n; i++) {
            assert_true(out[i] >= 0);
            sum += out[i];
        }
        assert_int_equal(sum, prize);
    }
}

/* scoreBy community: a player scores for the first listed community they belong to. */
static int g_in[2];

static int two_communities(bm_batch *b, const char *community, const char *user)
{
    (void)b;
    (void)user;
    return strcmp(community, "cA") == 0 ? g_in[0] : strcmp(community, "cB") == 0 ? g_in[1] : 0;
}

void test_tn_score_by_community(void **unused)
{
    (void)unused;
    char err[512];
    load();
    ((bm_host_api *)harness_api())->community_member = two_communities;
    assert_int_equal(
        harness_add_campaign(HEAD SCORING ",\"scoreBy\":\"community\"}", err, sizeof err), -1);
    assert_non_null(strstr(err, "scoreBy"));
    add(HEAD SCORING ",\"scoreBy\":\"community\",\"communityPrizeSplit\":\"score\","
                     "\"entryRequirements\":{\"communities\":[\"cA\",\"cB\"]}}");
    g_in[0] = 0, g_in[1] = 0;
    send("a", "MATCH_END", T0 + 1000, "{\"score\":5}"); /* in no community: not counted */
    g_in[1] = 1;
    send("a", "MATCH_END", T0 + 2000, "{\"score\":6}"); /* for cB */
    g_in[0] = 1;
    send("a", "MATCH_END", T0 + 3000, "{\"score\":7}"); /* still for cB, its first */
    g_in[1] = 0;
    send("a", "MATCH_END", T0 + 4000, "{\"score\":8}"); /* left cB: not counted */
    harness_flush();
    const bm_state *st = harness_state("t1", "a");
    assert_non_null(st);
    assert_true(st->value == 13);
    assert_int_equal(st->count, 2);
    assert_non_null(st->doc);
    assert_non_null(strstr(st->doc, "\"c\":\"cB\""));
    harness_unload();
}
