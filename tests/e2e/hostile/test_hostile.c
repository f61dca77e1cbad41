/*
 * Hostile input through the real engine.
 *
 * (a) Malformed and fuzzed messages mixed into a valid stream: random bytes,
 *     truncated JSON, wrong types, missing fields, payloads over 64 KiB,
 *     timestamps out of bounds, duplicate keys, deep nesting, bad UTF-8.
 *     Each lands in the DLQ once, with the reason for that very message and
 *     the original bytes; the valid events count exactly; no partition stalls.
 * (b) Hostile Lua formulas as campaigns: endless loops, memory and pattern
 *     bombs, escapes from the sandbox, errors, non-numbers. The engine keeps
 *     going, those boards stay empty (or hold only what the formula scored),
 *     their errors are counted per event, and a normal board next to them on
 *     the same events is exact. A formula whose top level never ends is
 *     refused by `bmctl campaign create`.
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

#include "e2e/common/e2e_scenario.h"
#include "event/event.h"
#include "hostile.h"

static int setup(void **state)
{
    *state = calloc(1, sizeof(bm_e2e));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    bm_e2e_cleanup(*state);
    free(*state);
    return 0;
}

/* --- (a) malformed messages --------------------------------------------------------- */

static void test_malformed_to_dlq(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "hostile_in", 6);
    bm_e2e_boards b;
    bm_e2e_expect x;
    memset(&x, 0, sizeof x);
    bm_e2e_boards_create(e, &b);

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    hostile_stream hs;
    hostile_stream_produce(e, &hs, &x, 20261123);
    long long produced = hs.produced;
    bm_e2e_wait_offsets(e, &g, produced, 90000);

    bm_e2e_boards_verify(e, &b, &x, produced);
    hostile_check_dlq(e, &hs);
    assert_true(bm_e2e_engine_alive(&g));
    bm_e2e_engine_stop(&g, 10000);
    hostile_stream_free(&hs);
    bm_e2e_expect_free(&x);
}

/* --- (b) hostile formulas ----------------------------------------------------------- */

typedef struct formula_case {
    const char *name;
    const char *source;
    int partial; /* scores even levels, fails on odd ones */
    char id[64];
} formula_case;

static formula_case k_formulas[] = {
    {"endless loop", "return function(event) while true do end end", 0, ""},
    {"memory bomb",
     "return function(event) local t = {} while true do t[#t + 1] = string.rep('x', 4096) end end",
     0, ""},
    {"table bomb",
     "return function(event) local t = {} local i = 0 while true do i = i + 1 "
     "t[i] = {i, i, i} end end",
     0, ""},
    {"pattern bomb", "string.find(string.rep('a', 5000)..'b', string.rep('a-', 20)..'c')", 0, ""},
    {"os.exit", "os.exit()", 0, ""},
    {"io.open", "io.open('/etc/passwd')", 0, ""},
    {"require", "require('os')", 0, ""},
    {"load", "load('return 1')()", 0, ""},
    {"string.dump", "string.dump(print)", 0, ""},
    {"error", "error('boom')", 0, ""},
    {"a string", "'not a number'", 0, ""},
    {"a table", "{data.level}", 0, ""},
    {"nan", "0/0", 0, ""},
    {"metatable escape", "return function(event) return getmetatable('').__index.rep('x', 1e9) end",
     0, ""},
    {"even levels only", "data.level % 2 == 0 and data.level or error('odd level')", 1, ""},
};
#define NFORMULAS (sizeof k_formulas / sizeof k_formulas[0])

static void create_formula_campaign(bm_e2e *e, formula_case *f)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:{s:s}, s:s}", "type", "leaderboard", "name", f->name,
                          "gameId", HOSTILE_GAME, "scoringMetadata", "eventType", "LEVEL_UP",
                          "customFormula", f->source);
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    bm_e2e_campaign(e, text, f->id, sizeof f->id);
    free(text);
}

/* `bmctl campaign create` refuses formulas that cannot run at all, and says why. */
static void expect_refused(bm_e2e *e, const char *source, const char *why)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:{s:s}, s:s}", "type", "leaderboard", "name", "refused",
                          "gameId", HOSTILE_GAME, "scoringMetadata", "eventType", "LEVEL_UP",
                          "customFormula", source);
    char *text = json_dumps(c, JSON_COMPACT), path[400], *out = NULL;
    json_decref(c);
    snprintf(path, sizeof path, "%s/refused.json", e->dir);
    bm_e2e_write_file(path, text, strlen(text));
    free(text);
    const char *args[] = {"campaign", "create", path, NULL};
    int rc = bm_e2e_bmctl(e, &out, args);
    fprintf(stderr, "e2e: bmctl on %s: exit %d: %s", source, rc, out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "customFormula"));
    assert_non_null(strstr(out, why));
    free(out);
}

static double even_sum(const bm_e2e_row *r, const void *ud)
{
    (void)ud;
    return (double)bm_e2e_row_field(r, "even")->sum;
}

static void test_hostile_formulas(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "hostile_lua", 6);
    /* The sandbox is under test here, every formula on every event: no circuit
     * breaker and no batch budget (tests/unit/lua_breaker and the containment
     * tests cover those). */
    bm_e2e_setenv(e, "BM_LUA_BREAKER_FAILURES", "1000000");
    bm_e2e_setenv(e, "BM_LUA_BATCH_BUDGET_MS", "3600000");
    expect_refused(e, "while true do end", "budget");
    expect_refused(e, "return +", "syntax");
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM campaigns"), 0);

    char sum_id[64], count_id[64];
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"levels\",\"gameId\":\"" HOSTILE_GAME
                    "\",\"scoringMetadata\":{\"eventType\":\"LEVEL_UP\",\"dataField\":\"level\","
                    "\"aggregation\":\"sum\"}}",
                    sum_id, sizeof sum_id);
    bm_e2e_campaign(
        e,
        "{\"type\":\"leaderboard\",\"name\":\"level ups\",\"gameId\":\"" HOSTILE_GAME
        "\",\"scoringMetadata\":{\"eventType\":\"LEVEL_UP\",\"aggregation\":\"count\"}}",
        count_id, sizeof count_id);
    for (size_t i = 0; i < NFORMULAS; i++)
        create_formula_campaign(e, &k_formulas[i]);

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_expect x, even;
    memset(&x, 0, sizeof x);
    memset(&even, 0, sizeof even);
    long long n_events = 0, n_odd = 0;
    long long produced = hostile_levelups(e, &x, &even, &n_events, &n_odd);
    int64_t t0 = bm_e2e_now_ms();
    bm_e2e_wait_offsets(e, &g, produced, 120000);
    fprintf(stderr, "e2e: %lld LEVEL_UP events through %zu hostile formulas in %lld ms\n", n_events,
            NFORMULAS, (long long)(bm_e2e_now_ms() - t0));

    /* The normal boards next to them are exact. */
    bm_e2e_assert_board(e, sum_id, &x, "LEVEL_UP", bm_e2e_value_sum, "level");
    bm_e2e_assert_board(e, count_id, &x, "LEVEL_UP", bm_e2e_value_count, NULL);
    bm_e2e_assert_counters(e, produced, x.valid, 0, 0);

    json_t *m = bm_e2e_modules(e);
    for (size_t i = 0; i < NFORMULAS; i++) {
        formula_case *f = &k_formulas[i];
        json_t *c = bm_e2e_modules_campaign(m, f->id);
        assert_non_null(c);
        long long errors = json_integer_value(json_object_get(c, "errors"));
        long long events = json_integer_value(json_object_get(c, "events"));
        fprintf(stderr, "e2e: formula %-17s events %lld errors %lld\n", f->name, events, errors);
        assert_int_equal(events, n_events);
        if (f->partial) {
            assert_int_equal(errors, n_odd);
            bm_e2e_assert_board(e, f->id, &even, "LEVEL_UP", even_sum, NULL);
        } else {
            assert_int_equal(errors, n_events);
            assert_int_equal(
                bm_e2e_ll(e, "SELECT count(*) FROM user_progress WHERE campaign_id = '%s'", f->id),
                0);
        }
    }
    json_decref(m);
    /* Failures are counted, not each logged: a hostile formula cannot flood the log. */
    int lua_lines = bm_e2e_log_count(&g, "module=lua");
    fprintf(stderr, "e2e: %d log lines about formulas\n", lua_lines);
    assert_true(lua_lines <= (int)NFORMULAS * 6);
    /* Still the same engine, still consuming. */
    assert_true(bm_e2e_engine_alive(&g));
    bm_e2e_engine_stop(&g, 10000);
    bm_e2e_expect_free(&x);
    bm_e2e_expect_free(&even);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_malformed_to_dlq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_formulas, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
