/*
 * Guards for the library functions that could run unbounded work where the
 * count hook never fires (inside C), or swallow a budget overrun. Each guard
 * checks its arguments and then calls the original function, kept as the
 * closure's only upvalue where Lua code cannot reach it.
 */
#include <string.h>

#include <lauxlib.h>

#include "lua_internal.h"

/* --- patterns ---------------------------------------------------------------
 *
 * Lua's matcher backtracks in C. Its work is bounded by this model, which the
 * guard evaluates before each call and refuses above BM_LUA_PATTERN_STEPS:
 *
 *   With N = subject length + 1, the work for the pattern items from i on is
 *     C(i) = 1 + C(i+1)      for a plain item: a single-char class, '(', ')', '$', '%f[set]'
 *     C(i) = N + C(i+1)      for '%bxy' and back-references '%1'-'%9' (one linear scan)
 *     C(i) = 1 + 2 C(i+1)    for a class followed by '?' (tries with and without)
 *     C(i) = N + N C(i+1)    for a class followed by '*', '+' or '-' (up to N retries of the rest)
 *     C(end) = 1
 *   and an unanchored search retries from every start position: total = N C(0)
 *   (gmatch and gsub walk the whole subject, so the same bound covers all of
 *   their iterations; only find, match and gsub honour '^').
 *
 *   One refinement keeps everyday patterns such as '%s+' usable on long
 *   subjects: a quantifier followed only by ')' cannot fail afterwards, so it
 *   is tried once (C(i) = 1 + C(i+1)), and its scan only covers characters
 *   that end up in a match; matches do not overlap, so all its scans add up
 *   to N per call rather than per start.
 *
 * So a pattern with q backtracking quantifiers costs up to about N^(q+1):
 * short identifiers may use several ('^(%a+)_(%d+)_(%d+)$' on a 40-byte id),
 * long subjects get one or two, and the classic bombs are refused outright.
 * The model counts calls of the matcher's inner functions; one step is a few
 * nanoseconds, so the bound keeps any accepted call in the low milliseconds,
 * and the accepted work is charged to the run's instruction budget so that
 * many calls in a loop add up like instructions.
 * Patterns are also capped at pattern_max_len bytes and subjects at
 * BM_LUA_SUBJECT_MAX bytes. A plain find (4th argument true, or a pattern
 * with no special characters) is a substring search and is always allowed
 * unless the naive search itself would compare more than 64 bytes per step.
 */

enum { PAT_FIND, PAT_MATCH, PAT_GMATCH, PAT_GSUB };

#define PAT_SPECIALS "^$*+?.([%-"

/* True when p has none of the characters that make find() use the matcher. */
static int pat_is_literal(const char *p, size_t m)
{
    for (size_t i = 0; i < m; i++)
        if (p[i] != '\0' && strchr(PAT_SPECIALS, p[i]) != NULL)
            return 0;
    return 1;
}

/* True when p[i..m) is only closing parentheses, which always match. */
static int pat_rest_closes(const char *p, size_t m, size_t i)
{
    while (i < m && p[i] == ')')
        i++;
    return i == m;
}

/* Index just past the single-char class starting at p[i], or -1 when malformed. */
static long pat_class_end(const char *p, size_t m, size_t i)
{
    if (p[i] == '%')
        return i + 1 < m ? (long)(i + 2) : -1;
    if (p[i] != '[')
        return (long)(i + 1);
    size_t j = i + 1;
    if (j < m && p[j] == '^')
        j++;
    /* The first character of a set is always a member, so "[]]" is valid. */
    for (;;) {
        if (j >= m)
            return -1;
        if (p[j++] == '%') {
            if (j >= m)
                return -1;
            j++;
        }
        if (j >= m)
            return -1;
        if (p[j] == ']')
            return (long)(j + 1);
    }
}

/* Upper bound of matcher steps for pattern p[0..m) on a subject of n bytes; -1 if malformed. */
static double pat_cost(const char *p, size_t m, size_t n, int kind)
{
    const double N = (double)n + 1;
    double a = 0, b = 1; /* C(0) = a + b * C(rest), folded left to right */
    double once = 0;     /* work done at most once per call */
    size_t i = 0;
    int anchored = 0;
    if (kind != PAT_GMATCH && m > 0 && p[0] == '^') {
        anchored = 1;
        i = 1;
    }
    while (i < m && a + b <= BM_LUA_PATTERN_STEPS) {
        double ia = 1, ib = 1; /* this item's C = ia + ib * C(next) */
        char c = p[i];
        if (c == '(' || c == ')' || (c == '$' && i + 1 == m)) {
            i++;
        } else if (c == '%' && i + 1 < m && p[i + 1] == 'b') {
            if (i + 3 >= m)
                return -1;
            ia = N;
            i += 4;
        } else if (c == '%' && i + 1 < m && p[i + 1] == 'f') {
            i += 2;
            long e = (i < m && p[i] == '[') ? pat_class_end(p, m, i) : -1;
            if (e < 0)
                return -1;
            i = (size_t)e;
        } else if (c == '%' && i + 1 < m && p[i + 1] >= '0' && p[i + 1] <= '9') {
            ia = N;
            i += 2;
        } else {
            long e = pat_class_end(p, m, i);
            if (e < 0)
                return -1;
            i = (size_t)e;
            if (i < m && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
                i++;
                if (pat_rest_closes(p, m, i)) {
                    once = N;
                } else {
                    ia = N;
                    ib = N;
                }
            } else if (i < m && p[i] == '?') {
                i++;
                if (!pat_rest_closes(p, m, i))
                    ib = 2;
            }
        }
        a += b * ia;
        b *= ib;
    }
    return (a + b) * (anchored ? 1 : N) + once;
}

/* Raises unless the call (subject at 1, pattern at 2) is within the bounds above. */
static void pat_check(lua_State *L, int kind)
{
    const bm_lua_formula *f = bm_lua_self(L);
    size_t n, m;
    (void)luaL_checklstring(L, 1, &n);
    const char *p = luaL_checklstring(L, 2, &m);
    if (kind == PAT_FIND && (lua_toboolean(L, 4) || pat_is_literal(p, m))) {
        /* memchr + memcmp per candidate start: at most (n - m + 1) * m bytes compared. */
        double work = n >= m ? (double)(n - m + 1) * (double)m : 0;
        if (work > BM_LUA_PATTERN_STEPS * 64)
            luaL_error(L, "plain find too expensive (%I-byte needle in %I bytes)", (lua_Integer)m,
                       (lua_Integer)n);
        bm_lua_charge(L, work / 64);
        return;
    }
    if (m > (size_t)f->lim.pattern_max_len)
        luaL_error(L, "pattern too long (%I bytes, limit %d)", (lua_Integer)m,
                   f->lim.pattern_max_len);
    if (n > BM_LUA_SUBJECT_MAX)
        luaL_error(L, "subject too long for pattern matching (%I bytes, limit %d)", (lua_Integer)n,
                   BM_LUA_SUBJECT_MAX);
    double cost = pat_cost(p, m, n, kind);
    if (cost < 0)
        luaL_error(L, "malformed pattern");
    if (cost > BM_LUA_PATTERN_STEPS)
        luaL_error(L, "pattern too complex for a %I-byte subject", (lua_Integer)n);
    bm_lua_charge(L, cost);
}

/* Calls the original function (upvalue 1) with all arguments, returning all results. */
static int guard_forward(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int guard_find(lua_State *L)
{
    pat_check(L, PAT_FIND);
    return guard_forward(L);
}

static int guard_match(lua_State *L)
{
    pat_check(L, PAT_MATCH);
    return guard_forward(L);
}

static int guard_gmatch(lua_State *L)
{
    pat_check(L, PAT_GMATCH);
    return guard_forward(L);
}

static int guard_gsub(lua_State *L)
{
    pat_check(L, PAT_GSUB);
    return guard_forward(L);
}

/* --- tables -----------------------------------------------------------------
 *
 * table.insert/remove loop in C up to #t, and #t can come from a __len
 * metamethod returning 2^53; table.move loops over whatever range it is
 * given. Both are confined to plain tables, and move to ranges that a table
 * within the memory budget could hold (16 bytes per slot).
 */

static void tab_check_plain(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    if (lua_getmetatable(L, idx))
        luaL_error(L, "table functions accept only tables without a metatable");
}

static int guard_insert_remove(lua_State *L)
{
    tab_check_plain(L, 1);
    return guard_forward(L);
}

static int guard_move(lua_State *L)
{
    const bm_lua_formula *f = bm_lua_self(L);
    tab_check_plain(L, 1);
    if (!lua_isnoneornil(L, 5))
        tab_check_plain(L, 5);
    lua_Integer from = luaL_checkinteger(L, 2);
    lua_Integer to = luaL_checkinteger(L, 3);
    lua_Unsigned cap = (lua_Unsigned)(f->mem_cap / 16) + 1024;
    if (to >= from && (lua_Unsigned)to - (lua_Unsigned)from >= cap)
        luaL_error(L, "table.move range too large");
    return guard_forward(L);
}

/* --- metatables and protected calls ------------------------------------------ */

/*
 * Finalizers run with hooks disabled, so a __gc loop would never be stopped.
 * An object is marked for finalization only if its metatable has __gc when
 * setmetatable is called, so refusing it there covers later edits too.
 */
static int guard_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            luaL_error(L, "__gc metamethods are not allowed");
        lua_pop(L, 1);
    }
    return guard_forward(L);
}

/* Budget overruns unwind through pcall/xpcall so a formula cannot retry forever. */
static int guard_finish(lua_State *L, int status, int base)
{
    bm_lua_formula *f = bm_lua_self(L);
    if (status == LUA_ERRMEM)
        f->mem_hit = 1;
    if (status != LUA_OK && bm_lua_tripped(f))
        return lua_error(L);
    lua_pushboolean(L, status == LUA_OK);
    lua_replace(L, base);
    return lua_gettop(L) - base + 1;
}

static int guard_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushnil(L); /* slot for the status, below the function */
    lua_insert(L, 1);
    int status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    return guard_finish(L, status, 1);
}

/*
 * After the count hook raises, hooks stay off while the message handler runs,
 * so a looping handler would hang. This handler skips the formula's handler
 * once a budget is overrun.
 */
static int guard_msgh(lua_State *L)
{
    if (bm_lua_tripped(bm_lua_self(L)))
        return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int guard_xpcall(lua_State *L)
{
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, guard_msgh, 1);
    lua_replace(L, 2);
    lua_pushnil(L);
    lua_insert(L, 1);
    /* Swap function and handler: status slot, handler, function, args... */
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_replace(L, 2);
    lua_replace(L, 3);
    int status = lua_pcall(L, lua_gettop(L) - 3, LUA_MULTRET, 2);
    lua_remove(L, 2);
    return guard_finish(L, status, 1);
}

/* --- installation ------------------------------------------------------------ */

/* Replaces t[name] (t at the top of the stack) with fn wrapping the current value. */
static void guard_wrap(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
}

void bm_lua_guard_install(lua_State *L)
{
    static const char *const removed[] = {"load",  "loadfile", "dofile",        "require",
                                          "print", "warn",     "collectgarbage"};

    lua_pushglobaltable(L);
    for (size_t i = 0; i < sizeof(removed) / sizeof(removed[0]); i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, removed[i]);
    }
    lua_pushcfunction(L, guard_pcall);
    lua_setfield(L, -2, "pcall");
    lua_pushcfunction(L, guard_xpcall);
    lua_setfield(L, -2, "xpcall");
    guard_wrap(L, "setmetatable", guard_setmetatable);

    /* The string metatable's __index is this same table, so s:find() is guarded too. */
    lua_getfield(L, -1, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    guard_wrap(L, "find", guard_find);
    guard_wrap(L, "match", guard_match);
    guard_wrap(L, "gmatch", guard_gmatch);
    guard_wrap(L, "gsub", guard_gsub);
    lua_pop(L, 1);

    lua_getfield(L, -1, "table");
    guard_wrap(L, "insert", guard_insert_remove);
    guard_wrap(L, "remove", guard_insert_remove);
    guard_wrap(L, "move", guard_move);
    lua_pop(L, 2);
}
