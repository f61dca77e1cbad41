/*
 * leaderboard.so through the module harness, checked against the rules of
 * modules/leaderboard/README.md written out here as a table: every
 * aggregation over a field that is a string, a number, a numeric string, a
 * boolean, null, an object or missing; minLevel against the player's level;
 * a total that would overflow; unknown config keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "event/event.h"
#include "harness/modharness.h"

#define T0 1772402400000LL /* 2026-03-01T22:00:00Z */

static void load(void)
{
    char err[256];
    assert_int_equal(harness_load(harness_module_path("leaderboard"), err, sizeof err), 0);
}

static void add_board(const char *id, const char *agg, const char *field, const char *extra)
{
    char doc[1024], err[512] = "";
    snprintf(doc, sizeof doc,
             "{\"id\":\"%s\",\"type\":\"leaderboard\",\"gameId\":\"g1\",\"name\":\"%s\","
             "\"scoringMetadata\":{\"eventType\":\"HIT\"%s%s%s,\"aggregation\":\"%s\"}%s}",
             id, id, field ? ",\"dataField\":\"" : "", field ? field : "", field ? "\"" : "", agg,
             extra ? extra : "");
    if (harness_add_campaign(doc, err, sizeof err) != 0)
        fail_msg("%s refused: %s", id, err);
}

static int send(const char *user, const char *type, int64_t t, const char *data)
{
    char ts[40], buf[1024];
    bm_rfc3339_format(t, ts, sizeof ts);
    snprintf(buf, sizeof buf,
             "{\"gameId\":\"g1\",\"userId\":\"%s\",\"eventType\":\"%s\",\"timestamp\":\"%s\","
             "\"data\":%s}",
             user, type, ts, data);
    int rc = harness_event(buf);
    assert_true(rc >= 0);
    return rc;
}

/* The field `f` as each JSON type; `num` is its value when it counts as a number. */
static const struct {
    const char *data;
    int carries; /* has a value other than null */
    int numeric; /* a number, or a string that is entirely a decimal number */
    double num;
} KINDS[] = {
    {"{\"f\":\"sniper\"}", 1, 0, 0}, {"{\"f\":5}", 1, 1, 5},      {"{\"f\":\"7\"}", 1, 1, 7},
    {"{\"f\":true}", 1, 0, 0},       {"{\"f\":null}", 0, 0, 0},   {"{}", 0, 0, 0},
    {"{\"f\":{\"a\":1}}", 1, 0, 0},  {"{\"f\":[1]}", 1, 0, 0},    {"{\"f\":\"-2.5\"}", 1, 1, -2.5},
    {"{\"f\":\" 4\"}", 1, 0, 0},     {"{\"f\":\"nan\"}", 1, 0, 0}};
#define NKINDS (sizeof KINDS / sizeof KINDS[0])

static void test_every_aggregation_every_type(void **unused)
{
    (void)unused;
    static const char *const aggs[] = {"sum", "max", "min", "count", "average", "last"};
    for (size_t k = 0; k < NKINDS; k++) {
        load();
        for (size_t a = 0; a < 6; a++)
            add_board(aggs[a], aggs[a], "f", NULL);
        add_board("count-all", "count", NULL, NULL);
        /* Twice the same value, then a number, so sum/min/max/average/last differ. */
        send("u1", "HIT", T0, KINDS[k].data);
        send("u1", "HIT", T0 + 1, KINDS[k].data);
        send("u1", "HIT", T0 + 2, "{\"f\":10}");
        int n = KINDS[k].numeric ? 2 : 0;
        double x = KINDS[k].num;
        double want[6] = {n * x + 10,
                          n && x > 10 ? x : 10,
                          n && x < 10 ? x : 10,
                          2 * KINDS[k].carries + 1,
                          (n * x + 10) / (n + 1),
                          10};
        for (size_t a = 0; a < 6; a++) {
            const bm_state *st = harness_state(aggs[a], "u1");
            assert_non_null(st);
            if (st->value != want[a])
                fail_msg("%s over %s: value %g, want %g", aggs[a], KINDS[k].data, st->value,
                         want[a]);
            int64_t events = a == 3 ? 2 * KINDS[k].carries + 1 : n + 1;
            assert_int_equal(st->count, events);
        }
        /* Without dataField, count counts every event. */
        assert_true(harness_state("count-all", "u1")->value == 3);
        harness_unload();
    }
}

static void test_min_level_is_the_players(void **unused)
{
    (void)unused;
    load();
    add_board("b", "count", NULL, ",\"gating\":{\"minLevel\":5}");
    assert_int_equal(send("u1", "HIT", T0, "{\"level\":4}"), 0);
    send("u1", "LEVEL_UP", T0 + 1, "{\"level\":5}");
    assert_int_equal(send("u1", "HIT", T0 + 2, "{}"), 1);
    assert_int_equal(send("u1", "HIT", T0, "{\"level\":1}"), 1); /* older: level stays 5 */
    assert_int_equal(send("u2", "HIT", T0, "{}"), 0);
    assert_true(harness_state("b", "u1")->value == 2);
    harness_unload();
}

static void test_overflow_refused(void **unused)
{
    (void)unused;
    load();
    add_board("s", "sum", "f", NULL);
    add_board("v", "average", "f", NULL);
    send("u1", "HIT", T0, "{\"f\":1e308}");
    send("u1", "HIT", T0 + 1, "{\"f\":1e308}");
    assert_true(harness_state("s", "u1")->value == 1e308);
    assert_int_equal(harness_state("s", "u1")->count, 1);
    assert_true(harness_state("v", "u1")->value == 1e308);
    assert_int_equal(harness_stats_get().error, 2);
    send("u1", "HIT", T0 + 2, "{\"f\":-1}");
    assert_true(harness_state("s", "u1")->value == 1e308 - 1);
    harness_unload();
}

static void test_unknown_keys(void **unused)
{
    (void)unused;
    static const struct {
        const char *doc, *want;
    } cases[] = {
        {"\"customFormla\":\"return 1\",\"scoringMetadata\":{\"eventType\":\"HIT\","
         "\"aggregation\":\"count\"}",
         "customFormla: unknown key (did you mean customFormula?)"},
        {"\"scoringMetadata\":{\"eventType\":\"HIT\",\"dataFeild\":\"s\"}",
         "scoringMetadata.dataFeild: unknown key (did you mean dataField?)"},
        {"\"scoringMetadata\":{\"eventType\":\"HIT\",\"aggregation\":\"count\"},"
         "\"gating\":{\"minlevel\":3}",
         "gating.minlevel: unknown key (did you mean minLevel?)"},
        {"\"scoringMetadata\":{\"eventType\":\"HIT\",\"aggregation\":\"count\"},"
         "\"displayConfig\":{\"maxEntrys\":3}",
         "displayConfig.maxEntrys: unknown key (did you mean maxEntries?)"},
        {"\"scoringMetadata\":{\"eventType\":\"HIT\",\"aggregation\":\"count\"},\"xyz\":1",
         "xyz: unknown key"},
    };
    load();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char doc[1024], err[512] = "";
        snprintf(doc, sizeof doc, "{\"id\":\"b\",\"gameId\":\"g1\",\"name\":\"b\",%s}",
                 cases[i].doc);
        int rc = harness_add_campaign(doc, err, sizeof err);
        if (rc == 0 || !strstr(err, cases[i].want))
            fail_msg("case %zu: rc=%d err='%s' want '%s'", i, rc, err, cases[i].want);
    }
    /* The product's whole LeaderboardConfig is accepted. */
    char err[512] = "";
    assert_int_equal(
        harness_add_campaign(
            "{\"id\":\"ok\",\"type\":\"leaderboard\",\"name\":\"n\",\"gameId\":\"g1\","
            "\"description\":\"d\",\"dateRange\":{\"ongoing\":true},\"refreshFrequency\":"
            "\"real-time\",\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":"
            "\"score\",\"aggregation\":\"sum\"},\"customFormula\":\"\",\"gating\":{\"communities\":"
            "[],\"whitelist\":[],\"minLevel\":0},\"displayConfig\":{\"maxEntries\":100,"
            "\"showPlayerCount\":true,\"theme\":\"default\"}}",
            err, sizeof err),
        0);
    harness_unload();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_aggregation_every_type),
        cmocka_unit_test(test_min_level_is_the_players),
        cmocka_unit_test(test_overflow_refused),
        cmocka_unit_test(test_unknown_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
