/* Hand-checked battle pass scenarios: each pins down one rule of README.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "bp_cases.h"
#include "event/event.h"
#include "harness/modharness.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define MIDNIGHT 1772409600000LL /* 2026-03-02T00:00:00Z */

static void load(void)
{
    char err[256];
    assert_int_equal(harness_load(harness_module_path("battlepass"), err, sizeof err), 0);
}

static void add(const char *json)
{
    char err[512] = "";
    if (harness_add_campaign(json, err, sizeof err) != 0)
        fail_msg("refused: %s", err);
}

static int send(const char *user, const char *type, int64_t t, const char *data)
{
    char ts[40], buf[1024];
    bm_rfc3339_format(t, ts, sizeof ts);
    snprintf(buf, sizeof buf,
             "{\"gameId\":\"g1\",\"userId\":\"%s\",\"eventType\":\"%s\",\"timestamp\":\"%s\","
             "\"data\":%s}",
             user, type, ts, data ? data : "{}");
    int rc = harness_event(buf);
    assert_true(rc >= 0);
    return rc;
}

static int purchase(const char *camp, const char *user, int64_t t)
{
    char data[128];
    snprintf(data, sizeof data, "{\"campaignId\":\"%s\"}", camp);
    return send(user, "bm.battlepass.purchase", t, data);
}

static int claim(const char *camp, const char *user, int tier, int premium, int64_t t)
{
    char data[160];
    snprintf(data, sizeof data, "{\"campaignId\":\"%s\",\"tier\":%d,\"premium\":%s}", camp, tier,
             premium ? "true" : "false");
    return send(user, "bm.battlepass.claim", t, data);
}

/* Reason of the last claim_refused message, or "" if the last UI message is not one. */
static const char *last_refusal(void)
{
    static char buf[64];
    buf[0] = '\0';
    for (size_t i = harness_message_count(); i-- > 0;) {
        const harness_msg *m = harness_message_at(i);
        if (strcmp(m->topic, "ui.battlepass_updates") != 0 || strcmp(m->key, "u1") != 0)
            continue;
        json_t *j = json_loads(m->json, 0, NULL);
        const char *r = json_string_value(json_object_get(j, "reason"));
        snprintf(buf, sizeof buf, "%s", r ? r : "");
        json_decref(j);
        break;
    }
    return buf;
}

/* Tiers cost 100, 200, 300 XP: they complete at 100, 300 and 600 XP in total. */
static char *bp_doc(const char *sources, const char *extra)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"id\":\"bx\",\"type\":\"battlepass\",\"gameId\":\"g1\",\"xpSources\":[%s],"
             "\"tiers\":[{\"tier\":1,\"xpRequired\":100,"
             "\"freeReward\":{\"type\":\"in_game\",\"config\":{\"item\":\"a\"}},"
             "\"premiumReward\":{\"type\":\"token\",\"config\":{\"amount\":1}}},"
             "{\"tier\":2,\"xpRequired\":200,"
             "\"premiumReward\":{\"type\":\"token\",\"config\":{\"amount\":2}}},"
             "{\"tier\":3,\"xpRequired\":300,"
             "\"freeReward\":{\"type\":\"in_game\",\"config\":{\"item\":\"c\"}}}]%s}",
             sources, extra ? extra : "");
    return buf;
}

#define SRC "{\"eventType\":\"MATCH_END\",\"xpValue\":50}"

void test_bp_invalid_configs(void **unused)
{
    (void)unused;
    static const struct {
        const char *sources, *extra, *want;
    } cases[] = {
        {"{\"eventType\":\"MATCH_END\",\"xpValue\":10,\"dailyLimit\":0}", NULL,
         "xpSources[0].dailyLimit: must be a positive number"},
        {SRC ",{\"eventType\":\"X\",\"xpValue\":10,\"dailyLimit\":\"lots\"}", NULL,
         "xpSources[1].dailyLimit: must be a positive number"},
        {"{\"eventType\":\"X\"}", NULL, "xpSources[0].xpValue: required"},
        {"{\"eventType\":\"X\",\"xpValue\":-3}", NULL, "xpSources[0].xpValue: must be a positive"},
        {"{\"xpValue\":3}", NULL, "xpSources[0].eventType"},
        {"{\"eventType\":\"bm.battlepass.claim\",\"xpValue\":3}", NULL,
         "xpSources[0].eventType: event types starting with bm. are reserved"},
        {"{\"eventType\":\"X\",\"xpValue\":3,\"filter\":\"sword\"}", NULL,
         "xpSources[0].filter: must be an object"},
        {"{\"eventType\":\"X\",\"xpvalue\":3}", NULL, "xpSources[0].xpvalue: unknown key"},
        {"{\"eventType\":\"X\",\"formula\":\"return (\"}", NULL, "xpSources[0].formula:"},
        {"{\"eventType\":\"X\",\"formula\":\"data.k\",\"xpValue\":2}", NULL,
         "xpSources[0].formula: cannot be combined with field or xpValue"},
        {"{\"eventType\":\"X\",\"field\":\"a b\"}", NULL, "xpSources[0].field"},
        {SRC, ",\"entryRequirement\":{\"type\":\"community\",\"config\":{}}",
         "entryRequirement.config.communities: must name at least one community"},
        {SRC, ",\"entryRequirement\":{\"type\":\"community\"}",
         "entryRequirement.config: must be an object with communities"},
        {SRC, ",\"entryRequirement\":{\"type\":\"community\",\"config\":{\"guild\":\"x\"}}",
         "entryRequirement.config.guild: unknown key"},
        {SRC, ",\"entryRequirement\":{\"type\":\"nft\"}", "entryRequirement.type: nft"},
        {SRC, ",\"entryRequirement\":{\"type\":\"vip\"}",
         "entryRequirement.type: must be one of free, purchase, nft, community"},
        {SRC, ",\"entryRequirement\":\"free\"", "entryRequirement: must be an object"},
        {SRC, ",\"gating\":{\"communities\":[7]}", "gating.communities[0]: must be a community id"},
        {SRC, ",\"gating\":{\"requiredLevel\":\"high\"}", "gating.requiredLevel"},
        {SRC, ",\"gating\":{\"minLevel\":3}", "gating.minLevel: unknown key"},
        {SRC, ",\"maxTier\":4", "maxTier: must not exceed the number of tiers listed (3)"},
        {SRC, ",\"maxTier\":2.5", "maxTier: must be a whole number"},
        {SRC, ",\"tierCurve\":{\"base\":100,\"growth\":1.1}",
         "tierCurve: give either tiers or tierCurve, not both"},
        {SRC, ",\"rewardTemplate\":{}", "rewardTemplate: only used with tierCurve"},
        {SRC, ",\"endDate\":\"2026-13-01T00:00:00Z\"", "endDate: must be an RFC 3339"},
    };
    load();
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        int rc = harness_add_campaign(bp_doc(cases[i].sources, cases[i].extra), err, sizeof err);
        if (rc == 0 || !strstr(err, cases[i].want))
            fail_msg("case %zu: rc=%d err='%s' want '%s'", i, rc, err, cases[i].want);
    }
    static const struct {
        const char *json, *want;
    } docs[] = {
        {"{\"id\":\"bx\",\"xpSources\":[],\"tiers\":[]}", "xpSources: must be a non-empty list"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"tiers\":[],\"maxTier\":100}",
         "tiers: must list at least one tier (or give tierCurve)"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"tiers\":[{\"tier\":2,\"xpRequired\":5}]}",
         "tiers[0].tier: must be 1"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"cumulative\":true,"
         "\"tiers\":[{\"tier\":1,\"xpRequired\":50},{\"tier\":2,\"xpRequired\":40}]}",
         "tiers[1].xpRequired: must be at least tiers[0].xpRequired"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"cumulative\":\"yes\","
         "\"tiers\":[{\"tier\":1,\"xpRequired\":50}]}",
         "cumulative: must be true or false"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"cumulative\":true,\"maxTier\":3,"
         "\"tierCurve\":{\"base\":100,\"growth\":1.1}}",
         "cumulative: only applies to an explicit tiers list"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"tiers\":[{\"tier\":1,\"xpRequired\":5}],"
         "\"xpSource\":[]}",
         "xpSource: unknown key (did you mean xpSources?)"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"tiers\":[{\"tier\":1,\"xpRequired\":5}],"
         "\"scoringMetadata\":{}}",
         "scoringMetadata: unknown key"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"tiers\":[{\"tier\":1,\"xpRequired\":50,"
         "\"freeReward\":{\"type\":\"Gems!\"}}]}",
         "tiers[0].freeReward.type: must be a reward type"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"tierCurve\":{\"base\":100,\"growth\":1.1}}",
         "maxTier: required with tierCurve"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"maxTier\":10,"
         "\"tierCurve\":{\"base\":0.5,\"growth\":1.1}}",
         "tierCurve.base: must be a number >= 1"},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"maxTier\":1000,"
         "\"tierCurve\":{\"base\":100,\"growth\":2}}",
         "tierCurve: tier "},
        {"{\"id\":\"bx\",\"xpSources\":[" SRC "],\"maxTier\":10,"
         "\"tierCurve\":{\"base\":100,\"growth\":1.1},\"rewardTemplate\":{\"freeEvery\":0}}",
         "rewardTemplate.freeEvery: must be a whole number"},
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        err[0] = '\0';
        int rc = harness_add_campaign(docs[i].json, err, sizeof err);
        if (rc == 0 || !strstr(err, docs[i].want))
            fail_msg("doc %zu: rc=%d err='%s' want '%s'", i, rc, err, docs[i].want);
    }
    harness_unload();
}

void test_bp_daily_limit_midnight(void **unused)
{
    (void)unused;
    load();
    add(bp_doc("{\"eventType\":\"MATCH_END\",\"field\":\"score\",\"dailyLimit\":100}", NULL));
    send("u1", "MATCH_END", MIDNIGHT - 2 * MIN, "{\"score\":70}");
    send("u1", "MATCH_END", MIDNIGHT - 1 * MIN, "{\"score\":70}"); /* 30 of 70 fit */
    assert_true(harness_state("bx", "u1")->value == 100);
    assert_int_equal(send("u1", "MATCH_END", MIDNIGHT - 1, "{\"score\":5}"), 0); /* day full */
    send("u1", "MATCH_END", MIDNIGHT, "{\"score\":70}");                         /* new UTC day */
    send("u1", "MATCH_END", MIDNIGHT + MIN, "{\"score\":70}");
    assert_true(harness_state("bx", "u1")->value == 200);
    /* A late event for the previous day still meets that day's (full) counter. */
    assert_int_equal(send("u1", "MATCH_END", MIDNIGHT - 30 * MIN, "{\"score\":1}"), 0);
    assert_int_equal(harness_state("bx", "u1")->count, 4);
    assert_int_equal((int)harness_state("bx", "u1")->aux, 2); /* tier 1 done: on tier 2 */
    harness_unload();
}

void test_bp_late_events(void **unused)
{
    (void)unused;
    load();
    add(bp_doc("{\"eventType\":\"A\",\"xpValue\":10,\"dailyLimit\":10},"
               "{\"eventType\":\"B\",\"xpValue\":10}",
               NULL));
    send("u1", "A", MIDNIGHT + 8 * DAY, NULL);
    assert_int_equal(send("u1", "A", MIDNIGHT + 1 * DAY, NULL), 0); /* 7 days older: dropped */
    assert_int_equal(send("u1", "A", MIDNIGHT + 2 * DAY, NULL), 1); /* 6 days older: kept */
    assert_int_equal(send("u1", "B", MIDNIGHT, NULL), 1);           /* unlimited: any age */
    assert_true(harness_state("bx", "u1")->value == 30);
    harness_unload();
}

void test_bp_purchase_after_progress(void **unused)
{
    (void)unused;
    load();
    add(bp_doc(SRC, ",\"entryRequirement\":{\"type\":\"free\"}"));
    for (int i = 0; i < 7; i++)
        send("u1", "MATCH_END", MIDNIGHT + i * MIN, NULL);    /* 350 XP: tiers 1-2 done */
    assert_int_equal((int)harness_state("bx", "u1")->aux, 3); /* on tier 3 */
    assert_int_equal(claim("bx", "u1", 1, 0, MIDNIGHT + HOUR), 1);
    assert_int_equal(claim("bx", "u1", 1, 0, MIDNIGHT + HOUR), 0);
    assert_string_equal(last_refusal(), "already_claimed");
    assert_int_equal(claim("bx", "u1", 2, 1, MIDNIGHT + HOUR), 0);
    assert_string_equal(last_refusal(), "not_purchased");
    assert_int_equal(claim("bx", "u1", 3, 0, MIDNIGHT + HOUR), 0);
    assert_string_equal(last_refusal(), "tier_not_reached");
    assert_int_equal(claim("bx", "u1", 2, 0, MIDNIGHT + HOUR), 0);
    assert_string_equal(last_refusal(), "no_reward");
    assert_int_equal(claim("bx", "u1", 4, 0, MIDNIGHT + HOUR), 0);
    assert_string_equal(last_refusal(), "invalid_tier");
    assert_int_equal(harness_reward_count(), 1);

    assert_int_equal(purchase("bx", "u1", MIDNIGHT + 2 * HOUR), 1);
    assert_int_equal(purchase("bx", "u1", MIDNIGHT + 3 * HOUR), 0); /* idempotent */
    /* ... but both purchases are acknowledged on battlepass.progress. */
    int acks = 0, repeated = 0;
    for (size_t i = 0; i < harness_message_count(); i++) {
        const harness_msg *m = harness_message_at(i);
        json_t *j = json_loads(m->json, 0, NULL);
        if (strcmp(m->topic, "battlepass.progress") == 0 &&
            strcmp(json_string_value(json_object_get(j, "type")), "purchase") == 0) {
            acks++;
            repeated += json_is_true(json_object_get(j, "repeated"));
            assert_int_equal(json_integer_value(json_object_get(j, "claimable")), 2);
        }
        json_decref(j);
    }
    assert_int_equal(acks, 2);
    assert_int_equal(repeated, 1);
    assert_int_equal(harness_state("bx", "u1")->flags & 1, 1);
    assert_int_equal(claim("bx", "u1", 2, 1, MIDNIGHT + 4 * HOUR), 1);
    assert_int_equal(claim("bx", "u1", 1, 1, MIDNIGHT + 4 * HOUR), 1);
    assert_int_equal(claim("bx", "u1", 2, 1, MIDNIGHT + 4 * HOUR), 0);
    assert_int_equal(harness_reward_count(), 3);
    assert_int_equal(harness_reward_duplicates(), 0);
    const harness_grant *g = harness_reward_find("bp:bx:u1:2:premium");
    assert_non_null(g);
    assert_string_equal(g->reward_json, "{\"config\":{\"amount\":2},\"type\":\"token\"}");
    assert_non_null(harness_reward_find("bp:bx:u1:1:free"));
    /* The document lists the claims. */
    json_t *doc = json_loads(harness_state("bx", "u1")->doc, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(doc, "cp")), 2);
    assert_int_equal(json_array_size(json_object_get(doc, "cf")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "p")), 1);
    json_decref(doc);
    harness_unload();
}

/* A pass that must be bought: XP counts from the start; buying unlocks the rewards of
 * every tier already completed, each claimable once. */
void test_bp_entry_purchase(void **unused)
{
    (void)unused;
    load();
    add(bp_doc(SRC, ",\"entryRequirement\":{\"type\":\"purchase\",\"config\":{}}"));
    for (int i = 0; i < 7; i++)
        assert_int_equal(send("u1", "MATCH_END", MIDNIGHT + i * MIN, NULL), 1);
    assert_true(harness_state("bx", "u1")->value == 350); /* earned before the purchase */
    assert_int_equal(claim("bx", "u1", 1, 0, MIDNIGHT + HOUR), 0);
    assert_string_equal(last_refusal(), "not_purchased");
    purchase("bx", "u1", MIDNIGHT + HOUR);
    assert_int_equal(claim("bx", "u1", 1, 0, MIDNIGHT + 3 * HOUR), 1);
    assert_int_equal(claim("bx", "u1", 1, 1, MIDNIGHT + 3 * HOUR), 1);
    assert_int_equal(claim("bx", "u1", 2, 1, MIDNIGHT + 3 * HOUR), 1);
    assert_int_equal(claim("bx", "u1", 2, 1, MIDNIGHT + 3 * HOUR), 0);
    assert_string_equal(last_refusal(), "already_claimed");
    assert_int_equal(claim("bx", "u1", 3, 0, MIDNIGHT + 3 * HOUR), 0);
    assert_string_equal(last_refusal(), "tier_not_reached");
    assert_int_equal(harness_reward_count(), 3);
    harness_unload();
}

void test_bp_tier_curve(void **unused)
{
    (void)unused;
    load();
    add("{\"id\":\"bc\",\"xpSources\":[{\"eventType\":\"XP\",\"field\":\"n\"}],\"maxTier\":5,"
        "\"tierCurve\":{\"base\":100,\"growth\":1.1},\"rewardTemplate\":{\"premiumEvery\":2,"
        "\"premiumReward\":{\"type\":\"nft\",\"config\":{\"token\":\"tier-{tier}\"}}}}");
    /* costs 100, 110, 121, 133, 146 -> completed at 100, 210, 331, 464, 610; `tier` is
     * the tier the player is on (1 at the start, 5 at most) */
    static const struct {
        int add, tier;
    } steps[] = {{99, 1},  {1, 2},   {109, 2}, {1, 3},    {121, 4},
                 {133, 5}, {145, 5}, {1, 5},   {10000, 5}};
    char data[64];
    double total = 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        snprintf(data, sizeof data, "{\"n\":%d}", steps[i].add);
        send("u1", "XP", MIDNIGHT + (int64_t)i * MIN, data);
        total += steps[i].add;
        const bm_state *st = harness_state("bc", "u1");
        assert_true(st->value == total); /* XP keeps counting past the last tier */
        assert_int_equal((int)st->aux, steps[i].tier);
    }
    purchase("bc", "u1", MIDNIGHT + HOUR);
    assert_int_equal(claim("bc", "u1", 4, 1, MIDNIGHT + HOUR), 1);
    assert_int_equal(claim("bc", "u1", 3, 1, MIDNIGHT + HOUR), 0);
    assert_string_equal(last_refusal(), "no_reward");
    assert_int_equal(claim("bc", "u1", 6, 1, MIDNIGHT + HOUR), 0);
    assert_string_equal(last_refusal(), "invalid_tier");
    assert_string_equal(harness_reward_find("bp:bc:u1:4:premium")->reward_json,
                        "{\"config\":{\"token\":\"tier-4\"},\"type\":\"nft\"}");
    harness_unload();
}

void test_bp_foreign_commands(void **unused)
{
    (void)unused;
    load();
    add(bp_doc(SRC, NULL));
    size_t before = harness_message_count();
    assert_int_equal(purchase("other", "u1", MIDNIGHT), 0);
    assert_int_equal(claim("other", "u1", 1, 0, MIDNIGHT), 0);
    assert_int_equal(send("u1", "bm.battlepass.purchase", MIDNIGHT, "{}"), 0);
    assert_int_equal(harness_message_count(), before); /* not ours: not a word */
    assert_null(harness_state("bx", "u1"));
    harness_unload();
}

void test_bp_formula(void **unused)
{
    (void)unused;
    load();
    add(bp_doc("{\"eventType\":\"HIT\",\"formula\":\"if data.boom then error('x') end "
               "return data.dmg and data.dmg * 2\"}",
               NULL));
    assert_int_equal(send("u1", "HIT", MIDNIGHT, "{\"dmg\":21}"), 1);
    assert_int_equal(send("u1", "HIT", MIDNIGHT, "{}"), 0);                        /* nil */
    assert_int_equal(send("u1", "HIT", MIDNIGHT, "{\"dmg\":-5}"), 0);              /* < 0 */
    assert_int_equal(send("u1", "HIT", MIDNIGHT, "{\"dmg\":5,\"boom\":true}"), 0); /* error */
    assert_true(harness_state("bx", "u1")->value == 42);
    assert_int_equal(harness_state("bx", "u1")->count, 1);
    char err[256];
    assert_int_equal(harness_reload(err, sizeof err), 0); /* recompiled on re-add */
    assert_int_equal(send("u1", "HIT", MIDNIGHT, "{\"dmg\":4}"), 1);
    assert_true(harness_state("bx", "u1")->value == 50);
    harness_unload();
}

void test_bp_messages(void **unused)
{
    (void)unused;
    load();
    add(bp_doc(SRC, NULL));
    harness_set_batch_size(10);
    for (int i = 0; i < 7; i++)
        send("u1", "MATCH_END", MIDNIGHT + i * MIN, NULL);
    harness_flush();
    /* Coalesced: one progress and one UI snapshot per (pass, user) per batch; the tier
     * changes each get their own UI notice. */
    assert_int_equal(harness_message_count_topic("battlepass.progress"), 1);
    int tiers = 0, snapshots = 0;
    for (size_t i = 0; i < harness_message_count(); i++) {
        const harness_msg *m = harness_message_at(i);
        json_t *j = json_loads(m->json, 0, NULL);
        const char *type = json_string_value(json_object_get(j, "type"));
        if (strcmp(m->topic, "battlepass.progress") == 0) {
            assert_string_equal(m->key, "bx:u1");
            assert_true(json_number_value(json_object_get(j, "xp")) == 350);
            assert_int_equal(json_integer_value(json_object_get(j, "tier")), 3);
            assert_int_equal(json_integer_value(json_object_get(j, "tiersCompleted")), 2);
            assert_true(json_number_value(json_object_get(j, "nextTierXp")) == 600);
        } else if (strcmp(type, "tier_reached") == 0) {
            tiers++;
        } else if (strcmp(type, "progress") == 0) {
            snapshots++;
            assert_int_equal(json_integer_value(json_object_get(j, "claimable")), 1);
        }
        json_decref(j);
    }
    assert_int_equal(tiers, 2);
    assert_int_equal(snapshots, 1);
    harness_unload();
}

/* The product's tier generator (tier i costs floor(100 * 1.1^(i-1))), pasted as an
 * explicit list, the same curve, and the list of totals with cumulative: true give
 * the same tier for every XP: tier 10 is completed at 1,591 XP. */
void test_bp_product_tiers(void **unused)
{
    (void)unused;
    char doc[16384], cum[16384];
    size_t n = 0, m = 0;
    double total = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n,
                          "{\"id\":\"bl\",\"xpSources\":[{\"eventType\":\"XP\","
                          "\"field\":\"n\"}],\"maxTier\":30,\"tiers\":[");
    m += (size_t)snprintf(cum + m, sizeof cum - m,
                          "{\"id\":\"bt\",\"xpSources\":[{\"eventType\":\"XP\","
                          "\"field\":\"n\"}],\"cumulative\":true,\"tiers\":[");
    for (int i = 1; i <= 30; i++) {
        double cost = floor(100 * pow(1.1, i - 1)); /* generateTiers() of the dashboard */
        total += cost;
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s{\"tier\":%d,\"xpRequired\":%.0f}",
                              i > 1 ? "," : "", i, cost);
        m += (size_t)snprintf(cum + m, sizeof cum - m, "%s{\"tier\":%d,\"xpRequired\":%.0f}",
                              i > 1 ? "," : "", i, total);
    }
    snprintf(doc + n, sizeof doc - n, "]}");
    snprintf(cum + m, sizeof cum - m, "]}");
    load();
    add(doc);
    add(cum);
    add("{\"id\":\"bc\",\"xpSources\":[{\"eventType\":\"XP\",\"field\":\"n\"}],"
        "\"maxTier\":30,\"tierCurve\":{\"base\":100,\"growth\":1.1}}");
    double xp = 0;
    for (int step = 0; xp < total + 50; step++) {
        int add_xp = 1 + (step * 37) % 97;
        char data[32];
        snprintf(data, sizeof data, "{\"n\":%d}", add_xp);
        send("u1", "XP", MIDNIGHT + step, data);
        xp += add_xp;
        double aux = harness_state("bl", "u1")->aux;
        assert_true(harness_state("bt", "u1")->aux == aux);
        assert_true(harness_state("bc", "u1")->aux == aux);
    }
    harness_unload();
    /* Tier 10 is completed at exactly 1,591 XP. */
    load();
    add(doc);
    send("u1", "XP", MIDNIGHT, "{\"n\":1590}");
    assert_int_equal((int)harness_state("bl", "u1")->aux, 10);
    send("u1", "XP", MIDNIGHT + 1, "{\"n\":1}");
    assert_int_equal((int)harness_state("bl", "u1")->aux, 11);
    json_t *d = json_loads(harness_state("bl", "u1")->doc, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(d, "tc")), 10);
    json_decref(d);
    harness_unload();
}

/* requiredLevel compares the player's level, kept from any event (LEVEL_UP too). */
void test_bp_player_level(void **unused)
{
    (void)unused;
    load();
    add(bp_doc(SRC, ",\"gating\":{\"requiredLevel\":10}"));
    assert_int_equal(send("u1", "MATCH_END", MIDNIGHT, "{\"level\":9}"), 0);
    assert_int_equal(send("u1", "LEVEL_UP", MIDNIGHT + 1, "{\"level\":10}"), 0);
    assert_int_equal(send("u1", "MATCH_END", MIDNIGHT + 2, NULL), 1);        /* level 10 now */
    assert_int_equal(send("u1", "MATCH_END", MIDNIGHT, "{\"level\":1}"), 1); /* older: kept 10 */
    assert_int_equal(send("u2", "MATCH_END", MIDNIGHT, NULL), 0);            /* no level known */
    assert_true(harness_state("bx", "u1")->value == 100);
    harness_unload();
}

/* Totals never silently reset: XP that would overflow is refused, the old total kept. */
void test_bp_nonfinite(void **unused)
{
    (void)unused;
    load();
    add(bp_doc("{\"eventType\":\"XP\",\"field\":\"n\"}", NULL));
    assert_int_equal(send("u1", "XP", MIDNIGHT, "{\"n\":1e308}"), 1);
    assert_int_equal(send("u1", "XP", MIDNIGHT + 1, "{\"n\":1e308}"), 0);
    const bm_state *st = harness_state("bx", "u1");
    assert_true(st->value == 1e308);
    assert_int_equal((int)st->aux, 3);
    assert_int_equal(st->count, 1);
    assert_int_equal(harness_stats_get().error, 1);
    /* Numeric strings count as their number, as a formula's "3" does. */
    harness_unload();
    load();
    add(bp_doc("{\"eventType\":\"XP\",\"field\":\"n\"},"
               "{\"eventType\":\"XF\",\"formula\":\"return data.n\"}",
               NULL));
    assert_int_equal(send("u1", "XP", MIDNIGHT, "{\"n\":\"3\"}"), 1);
    assert_int_equal(send("u1", "XF", MIDNIGHT, "{\"n\":\"3\"}"), 1);
    assert_int_equal(send("u1", "XP", MIDNIGHT, "{\"n\":\"3 apples\"}"), 0);
    assert_int_equal(send("u1", "XF", MIDNIGHT, "{\"n\":\"0x10\"}"), 0);
    assert_true(harness_state("bx", "u1")->value == 6);
    harness_unload();
}
