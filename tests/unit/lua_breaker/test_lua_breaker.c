/*
 * Formula circuit breaker: a formula that overruns its budget on every call is
 * suspended after N failures in a row, costs next to nothing while suspended,
 * is tried again after a cooldown that doubles on each repeat, and one success
 * closes the breaker. A formula that is merely slow is held to its per-batch
 * time budget.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <brightmatter/module.h>

#include "lua/lua_sandbox.h"

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bm_event make_event(json_t **root)
{
    bm_event ev;
    memset(&ev, 0, sizeof ev);
    *root = json_loads("{\"gameId\":\"g\",\"userId\":\"u\",\"eventType\":\"t\","
                       "\"data\":{\"n\":3}}",
                       0, NULL);
    ev.root = *root;
    ev.data = json_object_get(*root, "data");
    return ev;
}

static void test_breaker_suspends_and_backs_off(void **state)
{
    (void)state;
    bm_lua_limits lim = {.instructions = 100000,
                         .memory_kb = 1024,
                         .pattern_max_len = 64,
                         .breaker_failures = 3,
                         .breaker_cooldown_ms = 200,
                         .batch_budget_ms = 10000};
    char err[256];
    bm_lua_formula *f =
        bm_lua_compile("burn", "return function(event) local x = 0 while true do x = x + 1 end end",
                       &lim, err, sizeof err);
    assert_non_null(f);
    bm_lua_set_owner(f, "camp-1");
    json_t *root;
    bm_event ev = make_event(&root);
    double out;

    /* Three overruns in a row: each really runs and fails. */
    int64_t t0 = now_us();
    for (int i = 0; i < 3; i++)
        assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_ERROR);
    int64_t per_failure = (now_us() - t0) / 3;

    /* Suspended: skipped, counted, and far cheaper than a run. */
    t0 = now_us();
    for (int i = 0; i < 1000; i++)
        assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_SKIP);
    int64_t per_skip_x1000 = now_us() - t0; /* total of 1000 skips */
    fprintf(stderr, "breaker: failure %lld us, suspended call %.3f us\n", (long long)per_failure,
            per_skip_x1000 / 1000.0);
    assert_true(per_skip_x1000 < per_failure * 5); /* 1000 skips cost < 5 failures */
    bm_lua_stats st;
    bm_lua_stats_get(f, &st);
    assert_int_equal(st.breaker_skipped, 1000);
    assert_int_equal(st.breaker_trips, 1);
    assert_int_equal(st.calls, 3);

    json_t *j = bm_lua_owner_json("camp-1");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "suspended");
    assert_int_equal(json_integer_value(json_object_get(j, "skippedByBreaker")), 1000);
    json_decref(j);

    /* After the cooldown one run is tried; it fails and the next cooldown is longer. */
    sleep_ms(250);
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_ERROR);
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_SKIP);
    sleep_ms(250); /* 250 < 400: still suspended */
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_SKIP);
    bm_lua_stats_get(f, &st);
    assert_int_equal(st.breaker_trips, 2);
    assert_int_equal(st.calls, 4);
    bm_lua_free(f);
    assert_null(bm_lua_owner_json("camp-1"));
    json_decref(root);
}

static void test_success_closes_the_breaker(void **state)
{
    (void)state;
    bm_lua_limits lim = {.instructions = 100000,
                         .memory_kb = 1024,
                         .pattern_max_len = 64,
                         .breaker_failures = 2,
                         .breaker_cooldown_ms = 50,
                         .batch_budget_ms = 10000};
    char err[256];
    /* Fails while data.n is 3, succeeds otherwise. */
    bm_lua_formula *f = bm_lua_compile(
        "flaky", "if data.n == 3 then error('boom') end return data.n", &lim, err, sizeof err);
    assert_non_null(f);
    json_t *root;
    bm_event ev = make_event(&root);
    double out;
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_ERROR);
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_ERROR);
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_SKIP);
    sleep_ms(80);
    json_object_set_new(ev.data, "n", json_integer(4));
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_OK);
    assert_true(out == 4);
    /* Closed again: one failure alone does not suspend it. */
    json_object_set_new(ev.data, "n", json_integer(3));
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_ERROR);
    json_object_set_new(ev.data, "n", json_integer(5));
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_OK);
    bm_lua_free(f);
    json_decref(root);
}

static void test_batch_budget_caps_a_slow_formula(void **state)
{
    (void)state;
    bm_lua_limits lim = {.instructions = 100000000,
                         .memory_kb = 1024,
                         .pattern_max_len = 64,
                         .breaker_failures = 5,
                         .breaker_cooldown_ms = 1000,
                         .batch_budget_ms = 20};
    char err[256];
    /* Slow but correct: about a millisecond per call. */
    bm_lua_formula *f = bm_lua_compile(
        "slow", "local x = 0 for i = 1, 200000 do x = x + 1 end return x", &lim, err, sizeof err);
    assert_non_null(f);
    json_t *root;
    bm_event ev = make_event(&root);
    double out;
    bm_lua_batch_begin();
    int ran = 0, skipped = 0;
    int64_t t0 = now_us();
    for (int i = 0; i < 2000; i++) {
        int rc = bm_lua_eval(f, &ev, &out, err, sizeof err);
        if (rc == BM_OK)
            ran++;
        else if (rc == BM_SKIP)
            skipped++;
    }
    int64_t spent = now_us() - t0;
    fprintf(stderr, "budget: ran %d, skipped %d, batch took %lld us\n", ran, skipped,
            (long long)spent);
    assert_true(ran >= 1);
    assert_true(skipped > 0);
    assert_int_equal(ran + skipped, 2000);
    /* The batch is held up by about the budget, not by 2000 runs. */
    assert_true(spent < 200 * 1000);
    bm_lua_stats st;
    bm_lua_stats_get(f, &st);
    assert_int_equal(st.budget_skipped, (uint64_t)skipped);
    /* A new batch: it runs again. */
    bm_lua_batch_begin();
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof err), BM_OK);
    bm_lua_free(f);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker_suspends_and_backs_off),
        cmocka_unit_test(test_success_closes_the_breaker),
        cmocka_unit_test(test_batch_budget_caps_a_slow_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
