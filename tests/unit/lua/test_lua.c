/*
 * Lua formula sandbox: the three source forms, the read-only event view, and
 * hostile formulas that must fail one event with the right counter while the
 * formula keeps working on the next one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lua/lua_sandbox.h"

static const bm_lua_limits LIMITS = {
    .instructions = 1000000,
    .memory_kb = 2048,
    .pattern_max_len = 64,
};

/* Builds an event the way the decoder would, from a whole JSON document. */
static void ev_make(bm_event *ev, const char *json)
{
    json_error_t jerr;
    memset(ev, 0, sizeof(*ev));
    ev->root = json_loads(json, 0, &jerr);
    assert_non_null(ev->root);
    ev->data = json_object_get(ev->root, "data");
    ev->event_id = json_string_value(json_object_get(ev->root, "eventId"));
    ev->game_id = json_string_value(json_object_get(ev->root, "gameId"));
    ev->user_id = json_string_value(json_object_get(ev->root, "userId"));
    ev->event_type = json_string_value(json_object_get(ev->root, "eventType"));
    ev->source = json_string_value(json_object_get(ev->root, "source"));
    ev->partition = -1;
}

static void ev_done(bm_event *ev)
{
    json_decref(ev->root);
    memset(ev, 0, sizeof(*ev));
}

#define GOOD_EVENT                                                                                 \
    "{\"eventId\":\"e1\",\"gameId\":\"g1\",\"userId\":\"user_42\",\"eventType\":\"kill\","         \
    "\"timestamp\":\"2026-11-23T10:00:00.000Z\",\"source\":\"sdk\",\"data\":{\"kills\":3,"         \
    "\"score\":7,\"ratio\":0.5,\"alive\":true,\"dead\":false,\"nothing\":null,\"weapon\":"         \
    "\"axe\",\"stats\":{\"hp\":90,\"tags\":[\"a\",\"b\"]},\"items\":[10,20,30]}}"

#define EVIL_EVENT                                                                                 \
    "{\"eventId\":\"e2\",\"gameId\":\"g1\",\"userId\":\"user_7\",\"eventType\":\"kill\","          \
    "\"timestamp\":\"2026-11-23T10:00:01.000Z\",\"data\":{\"kills\":1,\"evil\":true,\"stats\":{"   \
    "\"hp\":5}}}"

static bm_lua_formula *compile_ok(const char *src)
{
    char err[256] = "";
    bm_lua_formula *f = bm_lua_compile("t", src, &LIMITS, err, sizeof(err));
    if (f == NULL)
        fail_msg("compile failed for [%s]: %s", src, err);
    return f;
}

/* Evaluates src on the good event and returns the number it produced. */
static double eval_number(const char *src)
{
    bm_event ev;
    char err[256] = "";
    double out = -1;
    bm_lua_formula *f = compile_ok(src);
    ev_make(&ev, GOOD_EVENT);
    int rc = bm_lua_eval(f, &ev, &out, err, sizeof(err));
    if (rc != BM_OK)
        fail_msg("eval of [%s] gave %d: %s", src, rc, err);
    ev_done(&ev);
    bm_lua_free(f);
    return out;
}

static void test_expression(void **state)
{
    (void)state;
    assert_true(eval_number("data.kills * 100 + data.score") == 307.0);
    assert_true(eval_number("data.ratio * 4") == 2.0);
    /* JSON integers stay Lua integers, JSON reals are floats. */
    assert_true(eval_number("math.type(data.kills) == 'integer' and 1 or 0") == 1.0);
    assert_true(eval_number("math.type(data.ratio) == 'float' and 1 or 0") == 1.0);
    assert_true(eval_number("(data.alive and 1 or 0) + (data.dead and 10 or 0)") == 1.0);
    assert_true(eval_number("data.nothing == nil and 5 or 6") == 5.0);
}

static void test_event_fields(void **state)
{
    (void)state;
    assert_true(eval_number("event.eventType == 'kill' and event.userId == 'user_42' and "
                            "event.gameId == 'g1' and event.source == 'sdk' and 1 or 0") == 1.0);
    assert_true(eval_number("#event.timestamp") == 24.0);
    assert_true(eval_number("event.data.kills + data.stats.hp") == 93.0);
    assert_true(eval_number("data.items[2] + #data.items + #data.stats.tags") == 25.0);
    assert_true(eval_number("tonumber(event.userId:match('^user_(%d+)$'))") == 42.0);
    assert_true(eval_number("local s = 0 for _, v in ipairs(data.items) do s = s + v end "
                            "return s") == 60.0);
    assert_true(eval_number("local n = 0 for k in pairs(data) do n = n + 1 end return n") == 9.0);
    assert_true(eval_number("data.items[0] == nil and data.items[4] == nil and data[1] == nil "
                            "and 1 or 0") == 1.0);
    assert_true(eval_number("event.data == data and 1 or 0") == 1.0);
}

static void test_chunk_form(void **state)
{
    (void)state;
    const char *src = "local k = data.kills or 0\n"
                      "if event.eventType == 'kill' then return k * 10 end\n"
                      "return nil\n";
    bm_lua_formula *f = compile_ok(src);
    bm_event ev;
    double out = 0;
    char err[256] = "";

    ev_make(&ev, GOOD_EVENT);
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof(err)), BM_OK);
    assert_true(out == 30.0);
    ev_done(&ev);

    ev_make(&ev, "{\"userId\":\"u\",\"eventType\":\"login\",\"data\":{}}");
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof(err)), BM_SKIP);
    ev_done(&ev);

    bm_lua_stats st;
    bm_lua_stats_get(f, &st);
    assert_int_equal(st.calls, 2);
    assert_int_equal(st.ok, 1);
    assert_int_equal(st.skipped, 1);
    assert_int_equal(st.errors, 0);
    assert_string_equal(bm_lua_name(f), "t");
    bm_lua_free(f);
}

static void test_function_form(void **state)
{
    (void)state;
    /* Upvalues set by the top level persist between events. */
    assert_true(eval_number("local bonus = 5\n"
                            "return function(e) return e.data.kills + bonus end") == 8.0);
    /* A bare function expression works the same way. */
    assert_true(eval_number("function(e) return #e.data.items * 2 end") == 6.0);

    bm_lua_formula *f = compile_ok("local n = 0\nreturn function(e) n = n + 1 return n end");
    bm_event ev;
    double out = 0;
    char err[256];
    ev_make(&ev, GOOD_EVENT);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof(err)), BM_OK);
        assert_true(out == (double)i);
    }
    ev_done(&ev);
    bm_lua_free(f);
}

static void test_nil_skips(void **state)
{
    (void)state;
    bm_lua_formula *f = compile_ok("data.missing");
    bm_event ev;
    double out = 123;
    char err[256];
    ev_make(&ev, GOOD_EVENT);
    assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof(err)), BM_SKIP);
    assert_true(out == 123.0);
    ev_done(&ev);
    bm_lua_free(f);
}

/*
 * A hostile formula runs its attack only when data.evil is set and otherwise
 * returns data.kills, so each case also shows the formula still works.
 */
enum { C_RUNTIME, C_INSTRUCTIONS, C_MEMORY, C_BAD_RESULT };

typedef struct hostile {
    const char *attack;
    int counter;
    const char *msg; /* expected in the error text, or NULL */
} hostile;

static const hostile HOSTILE[] = {
    {"while true do end", C_INSTRUCTIONS, "instruction budget"},
    {"local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1000) end", C_MEMORY, "memory budget"},
    {"return string.find(('a'):rep(5000) .. 'b', ('a-'):rep(20) .. 'c')", C_RUNTIME, "pattern too"},
    {"os.exit()", C_RUNTIME, "os"},
    {"io.open('/etc/passwd')", C_RUNTIME, "io"},
    {"require 'os'", C_RUNTIME, "require"},
    {"return load('return 1')()", C_RUNTIME, "load"},
    {"return string.dump(function() end)", C_RUNTIME, "dump"},
    {"loadfile('/etc/passwd')", C_RUNTIME, "loadfile"},
    {"dofile('/etc/passwd')", C_RUNTIME, "dofile"},
    {"debug.getregistry()", C_RUNTIME, "debug"},
    {"package.loadlib('libc.so.6', 'system')", C_RUNTIME, "package"},
    {"error('boom')", C_RUNTIME, "boom"},
    {"error({})", C_RUNTIME, "table"},
    {"return 'a string'", C_BAD_RESULT, "string"},
    {"return {}", C_BAD_RESULT, "table"},
    {"return true", C_BAD_RESULT, "boolean"},
    {"return 0/0", C_BAD_RESULT, "non-finite"},
    {"return 1/0", C_BAD_RESULT, "non-finite"},
    {"collectgarbage()", C_RUNTIME, "collectgarbage"},
    {"print('hello')", C_RUNTIME, "print"},
    {"data.kills = 99", C_RUNTIME, "read-only"},
    {"event.userId = 'someone'", C_RUNTIME, "read-only"},
    {"data.stats.hp = 1", C_RUNTIME, "read-only"},
    {"rawset(data, 'kills', 99)", C_RUNTIME, "table expected"},
    {"getmetatable(data).__newindex = nil", C_RUNTIME, NULL},
    /* Catching the overrun must not let the formula go on. */
    {"while true do pcall(function() while true do end end) end", C_INSTRUCTIONS, NULL},
    {"xpcall(function() while true do end end, function() while true do end end)", C_INSTRUCTIONS,
     NULL},
    {"local ok = pcall(function() local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1000) end "
     "end) while true do end",
     C_MEMORY, NULL},
    {"local x <close> = setmetatable({}, {__close = function() while true do end end}) "
     "while true do end",
     C_INSTRUCTIONS, NULL},
    /* Loops inside C where the count hook never fires. */
    {"setmetatable({}, {__gc = function() while true do end end})", C_RUNTIME, "__gc"},
    {"table.move({}, 1, 1e15, 2)", C_RUNTIME, "table.move"},
    {"table.remove(setmetatable({}, {__len = function() return 1e15 end}), 1)", C_RUNTIME,
     "metatable"},
    {"for w in string.gmatch(('ab'):rep(3000), '(.-)(.-)(.-)x') do end", C_RUNTIME, "pattern too"},
    {"return ('a'):rep(100000):gsub('%s+$', '')", C_RUNTIME, "subject too long"},
    {"return string.match('x', ('x?'):rep(40))", C_RUNTIME, "pattern too long"},
    {"return string.find(('a'):rep(60000), 'a*b')", C_RUNTIME, "pattern too complex"},
    /* Each call is accepted, but together they spend the instruction budget. */
    {"local s = ('a'):rep(60000) for i = 1, 1e6 do s:find('a*', 2) s:gsub('%s+', '') end",
     C_INSTRUCTIONS, "instruction budget"},
    /* Few instructions, each doing a lot of work in C: stopped by the CPU-time check. */
    {"local s = ('x'):rep(500000) for i = 1, 1e6 do local u = s:upper() end", C_INSTRUCTIONS,
     "CPU time"},
    {"local a, b = ('x'):rep(400000) .. 'a', ('x'):rep(400000) .. 'b' "
     "for i = 1, 1e6 do local e = a == b end",
     C_INSTRUCTIONS, "CPU time"},
};

static void test_hostile(void **state)
{
    (void)state;
    bm_event good, evil;
    ev_make(&good, GOOD_EVENT);
    ev_make(&evil, EVIL_EVENT);
    for (size_t i = 0; i < sizeof(HOSTILE) / sizeof(HOSTILE[0]); i++) {
        const hostile *h = &HOSTILE[i];
        char src[512], err[256] = "";
        double out = -1;
        snprintf(src, sizeof(src), "if data.evil then\n%s\nend\nreturn data.kills", h->attack);
        bm_lua_formula *f = compile_ok(src);

        /* The budget is CPU time: measure this thread's, not the wall clock, so a
         * loaded machine does not make a bounded formula look unbounded. */
        struct timespec t0, t1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        int rc = bm_lua_eval(f, &evil, &out, err, sizeof(err));
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (rc != BM_ERROR)
            fail_msg("[%s] gave %d (out %g), expected an error", h->attack, rc, out);
        if (secs > 1.0)
            fail_msg("[%s] took %.2f s to fail", h->attack, secs);
        if (strchr(err, '\n') != NULL || err[0] == '\0')
            fail_msg("[%s] error is not one line: [%s]", h->attack, err);
        if (h->msg != NULL && strstr(err, h->msg) == NULL)
            fail_msg("[%s] error [%s] does not mention [%s]", h->attack, err, h->msg);

        bm_lua_stats st;
        bm_lua_stats_get(f, &st);
        uint64_t counted[] = {st.runtime, st.instructions, st.memory, st.bad_result};
        if (counted[h->counter] != 1 || st.errors != 1)
            fail_msg("[%s] counters runtime=%llu instructions=%llu memory=%llu bad=%llu "
                     "(err: %s)",
                     h->attack, (unsigned long long)st.runtime, (unsigned long long)st.instructions,
                     (unsigned long long)st.memory, (unsigned long long)st.bad_result, err);

        /* The same formula handles the next, ordinary event. */
        rc = bm_lua_eval(f, &good, &out, err, sizeof(err));
        if (rc != BM_OK || out != 3.0)
            fail_msg("[%s] next event gave %d (out %g): %s", h->attack, rc, out, err);
        bm_lua_stats_get(f, &st);
        assert_int_equal(st.calls, 2);
        assert_int_equal(st.ok, 1);
        bm_lua_free(f);
    }
    ev_done(&good);
    ev_done(&evil);
}

static void test_sandbox_contents(void **state)
{
    (void)state;
    assert_true(eval_number("(os or io or debug or package or require or load or loadfile or "
                            "dofile or collectgarbage or print or string.dump or coroutine) "
                            "and 1 or 0") == 0.0);
    assert_true(eval_number("getmetatable(data) == false and 1 or 0") == 1.0);
    assert_true(eval_number("(table.concat({1, 2}) == '12' and utf8.len('héllo') == 5 and "
                            "math.floor(2.5) == 2 and ('x'):upper() == 'X') and 1 or 0") == 1.0);
    /* pcall still catches ordinary errors. */
    assert_true(eval_number("local ok, e = pcall(error, 'x') return ok and 0 or 1") == 1.0);
    assert_true(eval_number("local ok, e = xpcall(function() error('x') end, "
                            "function(m) return 7 end) return e") == 7.0);
}

/* A memory overrun that leaves the garbage reachable from a global forces a rebuild. */
static void test_memory_rebuild(void **state)
{
    (void)state;
    bm_lua_formula *f = compile_ok("if data.evil then big = big or {}\n"
                                   "for i = 1, 1e9 do big[i] = ('x'):rep(1000) end end\n"
                                   "return data.kills + (big and 100 or 0)");
    bm_event good, evil;
    double out = 0;
    char err[256];
    ev_make(&good, GOOD_EVENT);
    ev_make(&evil, EVIL_EVENT);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(bm_lua_eval(f, &evil, &out, err, sizeof(err)), BM_ERROR);
        assert_int_equal(bm_lua_eval(f, &good, &out, err, sizeof(err)), BM_OK);
        /* The rebuilt state starts without the global. */
        assert_true(out == 3.0);
    }
    bm_lua_stats st;
    bm_lua_stats_get(f, &st);
    assert_int_equal(st.memory, 3);
    assert_int_equal(st.ok, 3);
    ev_done(&good);
    ev_done(&evil);
    bm_lua_free(f);
}

/* A proxy kept past its event must not read the freed event. */
static void test_stash(void **state)
{
    (void)state;
    const char *srcs[] = {
        "if data.stash then saved = data return 0 end return saved.kills",
        "if data.stash then saved = data.stats return 0 end return saved.hp",
        "if data.stash then saved = event return 0 end return saved.userId and 1",
        ("if data.stash then saved = data.items return 0 end "
         "for k, v in pairs(saved) do end return 1"),
    };
    for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
        bm_lua_formula *f = compile_ok(srcs[i]);
        bm_event ev;
        double out = -1;
        char err[256] = "";
        ev_make(&ev, "{\"userId\":\"u\",\"eventType\":\"x\",\"data\":{\"stash\":true,"
                     "\"kills\":5,\"stats\":{\"hp\":1},\"items\":[1]}}");
        assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof(err)), BM_OK);
        ev_done(&ev); /* the stashed proxy now points at freed memory */
        ev_make(&ev, GOOD_EVENT);
        assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof(err)), BM_ERROR);
        assert_non_null(strstr(err, "earlier event"));
        bm_lua_stats st;
        bm_lua_stats_get(f, &st);
        assert_int_equal(st.runtime, 1);
        ev_done(&ev);
        bm_lua_free(f);
    }
}

static void test_patterns_allowed(void **state)
{
    (void)state;
    assert_true(eval_number("select(2, ('a  b c'):gsub('%s+', ''))") == 2.0);
    assert_true(eval_number("local n = 0 for w in ('a,b,c,d'):gmatch('[^,]+') do n = n + 1 end "
                            "return n") == 4.0);
    assert_true(eval_number("#(('lvl_3_7_9'):match('^(%a+)_(%d+)_(%d+)_(%d+)$'))") == 3.0);
    assert_true(eval_number("string.find(event.userId, '_', 1, true)") == 5.0);
    /* Plain find ignores the pattern length and subject caps. */
    assert_true(eval_number("string.find(('a'):rep(100000) .. '.*+?' .. ('b'):rep(100), "
                            "'.*+?' .. ('b'):rep(100), 1, true)") == 100001.0);
    assert_true(eval_number("('weapon:axe'):find('axe')") == 8.0);
    /* A trailing quantifier never backtracks, so it is fine on long subjects. */
    assert_true(eval_number("#(((' a'):rep(30000)):gsub('%s+', ''))") == 30000.0);
    assert_true(eval_number("select(2, ((' a'):rep(30000)):gsub('(%a+)', '%1'))") == 30000.0);
}

static void test_compile_errors(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(bm_lua_compile("bad", "data.kills *", &LIMITS, err, sizeof(err)));
    assert_non_null(strstr(err, "syntax error"));
    assert_non_null(strstr(err, "bad:1:"));
    /* Line and token of the error. */
    err[0] = '\0';
    assert_null(
        bm_lua_compile("multi", "local a = 1\nlocal b = = 2\nreturn a", &LIMITS, err, sizeof(err)));
    assert_non_null(strstr(err, "multi:2:"));
    assert_non_null(strstr(err, "near '='"));
    /* A 1 MB formula gets a size error, not a misleading syntax error. */
    size_t big = 1 << 20;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, ' ', big);
    memcpy(huge, "data.kills", 10);
    huge[big] = '\0';
    err[0] = '\0';
    assert_null(bm_lua_compile("huge", huge, &LIMITS, err, sizeof(err)));
    free(huge);
    assert_non_null(strstr(err, "formula is 1048576 bytes"));
    assert_null(strstr(err, "syntax error"));

    err[0] = '\0';
    assert_null(bm_lua_compile("loop", "while true do end", &LIMITS, err, sizeof(err)));
    assert_non_null(strstr(err, "instruction budget"));

    err[0] = '\0';
    assert_null(bm_lua_compile("hog", "local t = {} for i = 1, 1e9 do t[i] = i end", &LIMITS, err,
                               sizeof(err)));
    assert_non_null(strstr(err, "memory budget"));

    /* Binary chunks are refused: only text is loaded. */
    err[0] = '\0';
    assert_null(bm_lua_compile("bin", "\x1bLua\x54", &LIMITS, err, sizeof(err)));
    assert_non_null(strstr(err, "binary"));
}

/* Prints the cost of a simple expression; the number is informational. */
static void test_benchmark(void **state)
{
    (void)state;
    bm_lua_formula *f = compile_ok("data.kills * 100 + data.score");
    bm_event ev;
    double out = 0, sum = 0;
    char err[256];
    ev_make(&ev, GOOD_EVENT);
    const int n = 200000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(bm_lua_eval(f, &ev, &out, err, sizeof(err)), BM_OK);
        sum += out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n;
    printf("lua formula eval: %.0f ns/eval over %d evals\n", ns, n);
    assert_true(sum == 307.0 * n);
    ev_done(&ev);
    bm_lua_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expression),
        cmocka_unit_test(test_event_fields),
        cmocka_unit_test(test_chunk_form),
        cmocka_unit_test(test_function_form),
        cmocka_unit_test(test_nil_skips),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_sandbox_contents),
        cmocka_unit_test(test_memory_rebuild),
        cmocka_unit_test(test_stash),
        cmocka_unit_test(test_patterns_allowed),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_benchmark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
