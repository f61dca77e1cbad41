/* Hand-checked quest scenarios: each states the rule of README.md it pins down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "event/event.h"
#include "harness/modharness.h"
#include "quest_cases.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
#define T0 1772402400000LL /* 2026-03-01T22:00:00Z */

static void load(void)
{
    char err[256];
    assert_int_equal(harness_load(harness_module_path("quest"), err, sizeof err), 0);
}

static void add(const char *json)
{
    char err[512] = "";
    if (harness_add_campaign(json, err, sizeof err) != 0)
        fail_msg("refused: %s", err);
}

/* Sends one event; returns how many campaigns took it (BM_OK). */
static int send(const char *game, const char *user, const char *type, int64_t t, const char *data)
{
    char ts[40], buf[1024];
    bm_rfc3339_format(t, ts, sizeof ts);
    snprintf(buf, sizeof buf,
             "{\"gameId\":\"%s\",\"userId\":\"%s\",\"eventType\":\"%s\",\"timestamp\":\"%s\","
             "\"data\":%s}",
             game, user, type, ts, data ? data : "{}");
    int rc = harness_event(buf);
    assert_true(rc >= 0);
    return rc;
}

static char *quest_doc(const char *conds, const char *extra)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"id\":\"qx\",\"type\":\"quest\",\"gameId\":\"g1\",\"name\":\"x\","
             "\"conditions\":[%s],\"reward\":{\"type\":\"in_game\",\"config\":{}}%s}",
             conds, extra ? extra : "");
    return buf;
}

#define KILL10 "{\"type\":\"count\",\"eventType\":\"ENEMY_KILL\",\"target\":10}"

void test_invalid_configs(void **unused)
{
    (void)unused;
    static const struct {
        const char *conds, *extra, *want;
    } cases[] = {
        {KILL10 ",{\"type\":\"count\",\"eventType\":\"X\",\"operator\":\"gt\",\"target\":1}", NULL,
         "conditions[1].operator: must be one of gte, lte, eq, exists"},
        {"{\"type\":\"sum\",\"eventType\":\"X\",\"target\":1}", NULL,
         "conditions[0].type: must be one of count, value, exists, time_based"},
        {"{\"type\":\"count\",\"target\":1}", NULL, "conditions[0].eventType"},
        {"{\"type\":\"count\",\"eventType\":\"bm.battlepass.claim\",\"target\":1}", NULL,
         "conditions[0].eventType: event types starting with bm. are reserved"},
        {"{\"type\":\"value\",\"eventType\":\"X\",\"target\":1}", NULL,
         "conditions[0].field: required for value conditions"},
        {"{\"type\":\"value\",\"eventType\":\"X\",\"field\":\"a..b\",\"target\":1}", NULL,
         "conditions[0].field"},
        {"{\"type\":\"count\",\"eventType\":\"X\",\"target\":\"ten\"}", NULL,
         "conditions[0].target: must be a number"},
        {"{\"type\":\"count\",\"eventType\":\"X\",\"target\":-1}", NULL, "conditions[0].target"},
        {"{\"type\":\"time_based\",\"eventType\":\"X\",\"operator\":\"lte\",\"target\":5}", NULL,
         "conditions[0].operator: time_based conditions take operator gte"},
        {"{\"type\":\"time_based\",\"eventType\":\"X\",\"target\":0}", NULL,
         "conditions[0].target: must be a number of seconds > 0"},
        {"{\"type\":\"exists\",\"eventType\":\"X\",\"operator\":\"gte\"}", NULL,
         "conditions[0].operator: exists conditions take operator exists"},
        {"{\"type\":\"count\",\"eventType\":\"X\",\"target\":1,\"filter\":[1]}", NULL,
         "conditions[0].filter: must be an object"},
        {"{\"type\":\"count\",\"evenType\":\"X\",\"eventType\":\"X\",\"target\":1}", NULL,
         "conditions[0].evenType: unknown key"},
        {"{\"type\":\"count\",\"eventType\":\"X\",\"target\":1,\"aggregate\":\"sum\"}", NULL,
         "conditions[0].aggregate: only value conditions"},
        {"{\"type\":\"value\",\"eventType\":\"X\",\"field\":\"s\",\"target\":1,"
         "\"aggregate\":\"avg\"}",
         NULL, "conditions[0].aggregate: must be one of max, min, last, sum"},
        {"7", NULL, "conditions[0]: must be an object"},
        {KILL10, ",\"gating\":{\"communities\":[\"c-1\"]}",
         "gating.communities: community gating is not available yet"},
        {KILL10, ",\"gating\":{\"minLevel\":-1}", "gating.minLevel: must be a number >= 0"},
        {KILL10, ",\"gating\":{\"whitelist\":[\"u1\",\"\"]}", "gating.whitelist[1]"},
        {KILL10, ",\"gating\":{\"requiredQuests\":[\"qx\"]}",
         "gating.requiredQuests[0]: a quest cannot require itself"},
        {KILL10, ",\"gating\":{\"guild\":\"x\"}", "gating.guild: unknown key"},
        {KILL10, ",\"cooldownHours\":5", "cooldownHours: only applies when repeatable is true"},
        {KILL10, ",\"repeatable\":true,\"cooldownHours\":-1", "cooldownHours"},
        {KILL10, ",\"repeatable\":\"yes\"", "repeatable: must be true or false"},
        {KILL10, ",\"startDate\":\"yesterday\"", "startDate: must be an RFC 3339 date-time"},
        {KILL10, ",\"startDate\":\"2026-03-05T00:00:00Z\",\"endDate\":\"2026-03-04T00:00:00Z\"",
         "endDate: must be after the start"},
        {KILL10, ",\"dateRange\":{\"start\":\"2026-02-30T00:00:00Z\"}", "dateRange.start"},
        {KILL10, ",\"ongoing\":\"always\"", "ongoing: must be true or false"},
    };
    load();
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        int rc = harness_add_campaign(quest_doc(cases[i].conds, cases[i].extra), err, sizeof err);
        if (rc == 0 || !strstr(err, cases[i].want))
            fail_msg("case %zu: rc=%d err='%s' want '%s'", i, rc, err, cases[i].want);
    }
    /* Reward and overall shape. */
    static const struct {
        const char *json, *want;
    } docs[] = {
        {"{\"id\":\"qx\",\"conditions\":[" KILL10 "]}", "reward: required"},
        {"{\"id\":\"qx\",\"conditions\":[" KILL10 "],\"reward\":{\"type\":\"\"}}",
         "reward.type: must be a reward type"},
        {"{\"id\":\"qx\",\"conditions\":[" KILL10 "],\"reward\":{\"type\":\"token\","
         "\"amount\":3}}",
         "reward: unknown key 'amount'"},
        {"{\"id\":\"qx\",\"conditions\":[" KILL10 "],\"reward\":{\"type\":\"token\","
         "\"config\":[]}}",
         "reward.config: must be an object"},
        {"{\"id\":\"qx\",\"conditions\":[],\"reward\":{\"type\":\"token\"}}",
         "conditions: must be a non-empty list"},
        {"{\"id\":\"qx\",\"reward\":{\"type\":\"token\"}}", "conditions: must be a non-empty list"},
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        err[0] = '\0';
        int rc = harness_add_campaign(docs[i].json, err, sizeof err);
        if (rc == 0 || !strstr(err, docs[i].want))
            fail_msg("doc %zu: rc=%d err='%s' want '%s'", i, rc, err, docs[i].want);
    }
    harness_unload();
}

void test_valid_configs(void **unused)
{
    (void)unused;
    load();
    /* The seed's default quest, plus every optional shape. */
    add("{\"id\":\"q1\",\"type\":\"quest\",\"name\":\"\",\"description\":\"\",\"gameId\":\"g1\","
        "\"ongoing\":true,\"conditions\":[{\"type\":\"count\",\"eventType\":\"ENEMY_KILL\","
        "\"target\":10}],\"reward\":{\"type\":\"in_game\",\"config\":{}},\"gating\":{},"
        "\"repeatable\":false}");
    add("{\"id\":\"q2\",\"gameId\":\"g1\",\"dateRange\":{\"start\":\"2026-03-01T00:00:00+02:00\","
        "\"end\":null,\"ongoing\":false},\"conditions\":[{\"type\":\"exists\",\"eventType\":\"A\","
        "\"field\":\"x.y\",\"target\":true},{\"type\":\"value\",\"eventType\":\"B\","
        "\"field\":\"s\",\"operator\":\"exists\"},{\"type\":\"time_based\",\"eventType\":\"C\","
        "\"operator\":\"gte\",\"target\":60,\"filter\":{}}],\"reward\":{\"type\":\"webhook\"},"
        "\"gating\":{\"whitelist\":[],\"requiredQuests\":[\"q1\"],\"communities\":[],"
        "\"minLevel\":0},\"repeatable\":true,\"cooldownHours\":0.5}");
    harness_unload();
}

void test_cooldown(void **unused)
{
    (void)unused;
    load();
    add(quest_doc("{\"type\":\"count\",\"eventType\":\"KILL\",\"target\":2}",
                  ",\"repeatable\":true,\"cooldownHours\":1"));
    send("g1", "u1", "KILL", T0, NULL);
    assert_int_equal(send("g1", "u1", "KILL", T0 + 10 * MIN, NULL), 1); /* completion 1 */
    assert_int_equal(send("g1", "u1", "KILL", T0 + 30 * MIN, NULL), 0); /* in cooldown */
    assert_int_equal(send("g1", "u1", "KILL", T0 + 70 * MIN, NULL), 1); /* cooldown over */
    assert_int_equal(send("g1", "u1", "KILL", T0 + 69 * MIN, NULL), 0); /* late: before it */
    const bm_state *st = harness_state("qx", "u1");
    assert_int_equal(st->completed, 1);
    assert_int_equal(st->value, 0); /* the new attempt has 1 of 2 kills: not met */
    assert_int_equal(send("g1", "u1", "KILL", T0 + 80 * MIN, NULL), 1); /* completion 2 */
    st = harness_state("qx", "u1");
    assert_int_equal(st->completed, 2);
    assert_int_equal(st->completed_ms, T0 + 80 * MIN);
    assert_int_equal(st->count, 4);
    assert_non_null(harness_reward_find("quest:qx:u1:1"));
    assert_non_null(harness_reward_find("quest:qx:u1:2"));
    assert_int_equal(harness_reward_count(), 2);
    assert_string_equal(harness_reward_find("quest:qx:u1:2")->reward_json,
                        "{\"config\":{},\"type\":\"in_game\"}");
    harness_unload();
}

void test_non_repeatable_stops(void **unused)
{
    (void)unused;
    load();
    add(quest_doc("{\"type\":\"count\",\"eventType\":\"KILL\",\"target\":2}", NULL));
    for (int i = 0; i < 6; i++)
        send("g1", "u1", "KILL", T0 + i * HOUR, NULL);
    const bm_state *st = harness_state("qx", "u1");
    assert_int_equal(st->completed, 1);
    assert_int_equal(st->count, 2); /* nothing counts after the completion */
    assert_int_equal(st->value, 1); /* progress stays visible: 1 of 1 condition met */
    assert_int_equal(st->completed_ms, T0 + HOUR);
    assert_int_equal(harness_reward_count(), 1);
    harness_unload();
}

void test_time_based(void **unused)
{
    (void)unused;
    load();
    add(quest_doc("{\"type\":\"time_based\",\"eventType\":\"LOGIN\",\"target\":3600}", NULL));
    assert_int_equal(send("g1", "u1", "LOGIN", T0 + 60 * MIN, NULL), 1);
    assert_int_equal(send("g1", "u1", "LOGIN", T0 + 30 * MIN, NULL), 1); /* earlier: widens */
    send("g1", "u1", "LOGIN", T0 + 84 * MIN, NULL);                      /* span 54 min */
    assert_int_equal(harness_state("qx", "u1")->completed, 0);
    send("g1", "u1", "LOGIN", T0 + 90 * MIN, NULL); /* span exactly 60 min: holds */
    assert_int_equal(harness_state("qx", "u1")->completed, 1);
    assert_int_equal(harness_state("qx", "u1")->completed_ms, T0 + 90 * MIN);
    harness_unload();
}

/* B requires A; A completes on the very event B also sees. Whatever the order the
 * campaigns run in, that event does not count for B (A was not done before it). */
void test_prerequisite_same_event(void **unused)
{
    (void)unused;
    const char *a = "{\"id\":\"qa\",\"gameId\":\"g1\",\"conditions\":[{\"type\":\"count\","
                    "\"eventType\":\"KILL\",\"target\":1}],\"reward\":{\"type\":\"token\"}}";
    const char *b = "{\"id\":\"qb\",\"gameId\":\"g1\",\"conditions\":[{\"type\":\"count\","
                    "\"eventType\":\"KILL\",\"target\":1}],\"reward\":{\"type\":\"token\"},"
                    "\"gating\":{\"requiredQuests\":[\"qa\"]}}";
    for (int order = 0; order < 2; order++) {
        load();
        add(order ? a : b);
        add(order ? b : a);
        send("g1", "u1", "KILL", T0, NULL);
        assert_null(harness_state("qb", "u1"));
        send("g1", "u1", "KILL", T0, NULL); /* same time as A's completion: still not before */
        assert_null(harness_state("qb", "u1"));
        send("g1", "u1", "KILL", T0 + 1, NULL);
        assert_int_equal(harness_state("qb", "u1")->completed, 1);
        assert_int_equal(harness_state("qa", "u1")->completed, 1);
        assert_int_equal(harness_reward_count(), 2);
        harness_unload();
    }
}

void test_level_and_whitelist(void **unused)
{
    (void)unused;
    load();
    add(quest_doc("{\"type\":\"count\",\"eventType\":\"KILL\",\"target\":5}",
                  ",\"gating\":{\"minLevel\":5,\"whitelist\":[\"u1\",\"u2\"]}"));
    send("g1", "u1", "KILL", T0, "{\"level\":4}");
    send("g1", "u1", "KILL", T0, "{}");
    send("g1", "u1", "KILL", T0, "{\"level\":\"9\"}"); /* not a number: no level */
    assert_null(harness_state("qx", "u1"));
    send("g1", "u1", "KILL", T0, "{\"level\":5}");
    send("g1", "u1", "KILL", T0, "{\"level\":12.5}");
    send("g1", "u3", "KILL", T0, "{\"level\":50}"); /* not on the whitelist */
    assert_int_equal(harness_state("qx", "u1")->count, 2);
    assert_null(harness_state("qx", "u3"));
    harness_unload();
}

void test_messages(void **unused)
{
    (void)unused;
    load();
    add(quest_doc("{\"type\":\"count\",\"eventType\":\"KILL\",\"target\":2}",
                  ",\"repeatable\":true"));
    harness_set_batch_size(3);
    send("g1", "u1", "KILL", T0, NULL);
    send("g1", "u1", "KILL", T0 + MIN, NULL);
    send("g1", "u1", "KILL", T0 + 2 * MIN, NULL);
    harness_flush();
    /* quest.progress: one message per completion; ui: the completion notice plus one
     * coalesced progress snapshot per (quest, user) per batch. */
    assert_int_equal(harness_message_count_topic("quest.progress"), 1);
    assert_int_equal(harness_message_count_topic("ui.quest_updates"), 2);
    int seen_completed = 0, seen_progress = 0;
    for (size_t i = 0; i < harness_message_count(); i++) {
        const harness_msg *m = harness_message_at(i);
        json_t *j = json_loads(m->json, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "questId")), "qx");
        assert_string_equal(json_string_value(json_object_get(j, "userId")), "u1");
        const char *type = json_string_value(json_object_get(j, "type"));
        if (strcmp(m->topic, "quest.progress") == 0) {
            assert_string_equal(m->key, "u1");
            assert_int_equal(json_integer_value(json_object_get(j, "completion")), 1);
            assert_string_equal(json_string_value(json_object_get(j, "idempotencyKey")),
                                "quest:qx:u1:1");
        } else if (type && strcmp(type, "completed") == 0) {
            seen_completed++;
            assert_non_null(json_object_get(j, "reward"));
        } else {
            seen_progress++;
            assert_string_equal(m->key, "qx:u1");
            json_t *c0 = json_array_get(json_object_get(j, "conditions"), 0);
            assert_true(json_number_value(json_object_get(c0, "current")) == 1.0);
            assert_true(json_number_value(json_object_get(c0, "target")) == 2.0);
            assert_true(json_is_false(json_object_get(c0, "met")));
        }
        json_decref(j);
    }
    assert_int_equal(seen_completed, 1);
    assert_int_equal(seen_progress, 1);
    harness_unload();
}

void test_window_and_other_games(void **unused)
{
    (void)unused;
    load();
    add(quest_doc("{\"type\":\"count\",\"eventType\":\"KILL\",\"target\":3}",
                  ",\"startDate\":\"2026-03-02T00:00:00Z\",\"endDate\":\"2026-03-03T00:00:00Z\""));
    send("g1", "u1", "KILL", T0, NULL);                        /* before the window */
    send("g1", "u1", "KILL", T0 + 2 * HOUR, NULL);             /* inside */
    send("g2", "u1", "KILL", T0 + 3 * HOUR, NULL);             /* another game */
    send("g1", "u1", "DANCE", T0 + 3 * HOUR, NULL);            /* not subscribed */
    send("g1", "u1", "KILL", T0 + 26 * HOUR, NULL);            /* end is exclusive: 03-03T00:00 */
    send("g1", "u1", "KILL", T0 + 25 * HOUR + 59 * MIN, NULL); /* last minute inside */
    assert_int_equal(harness_state("qx", "u1")->count, 2);
    assert_int_equal(harness_stats_get().out_of_window, 2);
    harness_unload();
}
