/*
 * Sandboxed Lua formulas: one private lua_State per compiled formula, with a
 * capped allocator and a count hook as budgets. Every call into Lua that can
 * raise goes through lua_pcall, so a formula can fail an event but never the
 * process. The per-event function lives in stack slot 1 of its state.
 */
#include "lua_sandbox.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "log/log.h"
#include "lua_internal.h"

/* Used when the corresponding limit is zero or negative. */
#define DEF_INSTRUCTIONS 1000000L
#define DEF_MEMORY_KB 4096L
#define DEF_PATTERN_MAX_LEN 128

/*
 * Instructions between hook calls. The first call comes early so the CPU
 * clock starts near the beginning of the run without reading it on every
 * event; the later period bounds both the hook overhead and how late a run
 * of slow C calls is noticed. Once a budget is spent the hook keeps firing
 * at the later period: __close handlers still run while the error unwinds,
 * and each must be cut short too.
 */
#define FIRST_PERIOD 128
#define HOOK_PERIOD 1000

/* CPU time allowed per run: this much per budgeted instruction, at least MIN_CPU_NS. */
#define CPU_NS_PER_INSTRUCTION 50
#define MIN_CPU_NS 20000000LL

/* After a memory overrun the state is rebuilt when a full GC cannot get below this share. */
#define REBUILD_SHARE 2

enum { FAIL_RUNTIME, FAIL_INSTRUCTIONS, FAIL_MEMORY };

/* Allocator with a hard cap; only growth can be refused, as Lua requires. */
static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    bm_lua_formula *f = ud;
    size_t old = ptr ? osize : 0; /* for new blocks osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        f->mem_used -= old;
        return NULL;
    }
    if (nsize > old && (f->mem_used > f->mem_cap || nsize - old > f->mem_cap - f->mem_used))
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        if (nsize > old)
            return NULL;
        p = ptr; /* a failed shrink keeps the larger block, which Lua accepts */
    }
    f->mem_used = f->mem_used - old + nsize;
    return p;
}

static void sb_hook(lua_State *L, lua_Debug *ar);

static int64_t sb_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Arms the hook for the next min(period, remaining budget) instructions. */
static void sb_arm(lua_State *L, bm_lua_formula *f, long period)
{
    long left = f->lim.instructions - f->insn_used;
    if (left < period)
        period = left > 0 ? left : 1;
    f->hook_period = (int)period;
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, f->hook_period);
}

static void sb_trip(lua_State *L, bm_lua_formula *f, int time)
{
    f->insn_hit = 1;
    f->time_hit = time;
    f->hook_period = HOOK_PERIOD;
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_PERIOD);
    luaL_error(L, time ? "CPU time budget exceeded" : "instruction budget exceeded");
}

static void sb_hook(lua_State *L, lua_Debug *ar)
{
    bm_lua_formula *f = bm_lua_self(L);
    (void)ar;
    if (f->insn_hit)
        luaL_error(L, "budget exceeded");
    f->insn_used += f->hook_period;
    if (f->insn_used >= f->lim.instructions)
        sb_trip(L, f, 0);
    int64_t now = sb_cpu_ns();
    if (!f->clock_started) {
        f->clock_started = 1;
        f->cpu_start = now;
    } else if (now - f->cpu_start > f->cpu_limit) {
        sb_trip(L, f, 1);
    }
    sb_arm(L, f, HOOK_PERIOD);
}

void bm_lua_charge(lua_State *L, double work)
{
    bm_lua_formula *f = bm_lua_self(L);
    if (work >= (double)(f->lim.instructions - f->insn_used)) {
        f->insn_used = f->lim.instructions;
        sb_trip(L, f, 0);
    }
    f->insn_used += (long)work;
}

/* Reached only if a raise escapes every pcall, which the code below never allows. */
static int sb_panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    bm_error("lua", "unprotected Lua error: %s", msg);
    return 0;
}

/* Protected: opens the allowed libraries, installs the guards and the event view. */
static int sb_setup(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},
    };
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    bm_lua_guard_install(L);
    bm_lua_view_open(L);
    return 0;
}

/* Protected: publishes `event` and `data` for this run and calls the function below it. */
static int sb_run(lua_State *L)
{
    bm_lua_formula *f = bm_lua_self(L);
    /* Raw sets: a formula's metatable on _G must not intercept them. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushliteral(L, "data");
    bm_lua_view_push(L, f->cur_data);
    lua_rawset(L, -3);
    lua_pushliteral(L, "event");
    bm_lua_view_push(L, f->cur_root);
    lua_pushvalue(L, -1);
    lua_insert(L, 2); /* the argument, right after the function */
    lua_rawset(L, -3);
    lua_settop(L, 2);
    lua_call(L, 1, 1);
    return 1;
}

/*
 * Runs the function in slot 1 on one event under fresh budgets. Leaves the
 * result or the error object in slot 2 and returns the lua_pcall status.
 * Every proxy made during the run is stale once this returns.
 */
static int sb_call(bm_lua_formula *f, json_t *root, json_t *data)
{
    lua_State *L = f->L;
    lua_settop(L, 1);
    f->cur_root = root;
    f->cur_data = data;
    f->insn_hit = 0;
    f->time_hit = 0;
    f->mem_hit = 0;
    f->insn_used = 0;
    f->clock_started = 0;
    sb_arm(L, f, FIRST_PERIOD);
    lua_pushcfunction(L, sb_run);
    lua_pushvalue(L, 1);
    int status = lua_pcall(L, 1, 1, 0);
    lua_sethook(L, NULL, 0, 0);
    if (status == LUA_ERRMEM)
        f->mem_hit = 1;
    f->gen++;
    f->cur_root = NULL;
    f->cur_data = NULL;
    return status;
}

/* Copies the first line of s into err, with control bytes blanked. */
static void sb_line(char *err, size_t errlen, const char *prefix, const char *s, size_t len)
{
    if (errlen == 0)
        return;
    size_t n = (size_t)snprintf(err, errlen, "%s", prefix);
    for (size_t i = 0; i < len && n + 1 < errlen && s[i] != '\n'; i++)
        err[n++] = ((unsigned char)s[i] < 0x20) ? ' ' : s[i];
    if (n < errlen)
        err[n] = '\0';
}

/* Classifies a failed run and describes it in err; the error object is at the top. */
static int sb_failure(bm_lua_formula *f, const char *prefix, char *err, size_t errlen)
{
    lua_State *L = f->L;
    if (f->time_hit) {
        snprintf(err, errlen, "%sCPU time budget exceeded (%lld ms)", prefix,
                 (long long)(f->cpu_limit / 1000000));
        return FAIL_INSTRUCTIONS;
    }
    if (f->insn_hit) {
        snprintf(err, errlen, "%sinstruction budget exceeded (%ld instructions)", prefix,
                 f->lim.instructions);
        return FAIL_INSTRUCTIONS;
    }
    if (f->mem_hit) {
        snprintf(err, errlen, "%smemory budget exceeded (%ld KiB)", prefix, f->lim.memory_kb);
        return FAIL_MEMORY;
    }
    /* Only raw types are read: a __tostring here would run unprotected. */
    int t = lua_type(L, -1);
    if (t == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        sb_line(err, errlen, prefix, s, len);
    } else if (t == LUA_TNUMBER) {
        snprintf(err, errlen, "%serror %.14g", prefix, (double)lua_tonumber(L, -1));
    } else {
        snprintf(err, errlen, "%serror object is a %s value", prefix, lua_typename(L, t));
    }
    return FAIL_RUNTIME;
}

/*
 * Creates the state, loads the source (as an expression first) and runs its
 * top level once on an empty event: a function result is the per-event
 * function, anything else means the chunk itself runs per event. A runtime
 * error there only says the chunk needs a real event; a budget overrun is
 * fatal. On failure f->L is NULL.
 */
static int sb_build(bm_lua_formula *f, char *err, size_t errlen)
{
    char *expr = NULL, *chunkname = NULL;
    json_t *empty = NULL;
    size_t srclen = strlen(f->source);

    f->mem_used = 0;
    f->mem_hit = 0;
    f->insn_hit = 0;
    f->time_hit = 0;
    f->L = lua_newstate(sb_alloc, f);
    if (f->L == NULL) {
        snprintf(err, errlen, "memory budget too small for a Lua state (%ld KiB)",
                 f->lim.memory_kb);
        goto fail;
    }
    lua_State *L = f->L;
    *(bm_lua_formula **)lua_getextraspace(L) = f;
    lua_atpanic(L, sb_panic);
    lua_pushcfunction(L, sb_setup);
    int status = lua_pcall(L, 0, 0, 0);
    if (status != LUA_OK) {
        f->mem_hit = status == LUA_ERRMEM;
        sb_failure(f, "sandbox setup: ", err, errlen);
        goto fail;
    }

    expr = malloc(srclen + 8);
    chunkname = malloc(strlen(f->name) + 2);
    if (expr == NULL || chunkname == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    memcpy(expr, "return ", 7);
    memcpy(expr + 7, f->source, srclen + 1);
    chunkname[0] = '='; /* error messages then read "name:line: ..." */
    memcpy(chunkname + 1, f->name, strlen(f->name) + 1);
    if (luaL_loadbufferx(L, expr, srclen + 7, chunkname, "t") != LUA_OK) {
        lua_pop(L, 1);
        status = luaL_loadbufferx(L, f->source, srclen, chunkname, "t");
        if (status != LUA_OK) {
            f->mem_hit = status == LUA_ERRMEM;
            sb_failure(f, "syntax error: ", err, errlen);
            goto fail;
        }
    }

    empty = json_pack("{s:{}}", "data");
    if (empty == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (sb_call(f, empty, json_object_get(empty, "data")) != LUA_OK) {
        char why[256];
        if (sb_failure(f, "top level: ", why, sizeof(why)) != FAIL_RUNTIME) {
            snprintf(err, errlen, "%s", why);
            goto fail;
        }
    } else if (lua_type(L, 2) == LUA_TFUNCTION) {
        lua_replace(L, 1);
    }
    lua_settop(L, 1);
    json_decref(empty);
    free(expr);
    free(chunkname);
    return 0;

fail:
    if (f->L != NULL)
        lua_close(f->L);
    f->L = NULL;
    json_decref(empty);
    free(expr);
    free(chunkname);
    return -1;
}

/*
 * After a memory overrun the formula's garbage is usually collectable; if
 * its globals still hold most of the budget, every later event would fail
 * too, so the state is rebuilt from the source.
 */
static void sb_recover(bm_lua_formula *f)
{
    lua_settop(f->L, 1);
    lua_gc(f->L, LUA_GCCOLLECT);
    if (f->mem_used <= f->mem_cap / REBUILD_SHARE)
        return;
    char err[256];
    lua_close(f->L);
    f->L = NULL;
    if (sb_build(f, err, sizeof(err)) != 0)
        bm_error("lua", "formula %s: rebuilding after a memory overrun failed: %s", f->name, err);
}

bm_lua_formula *bm_lua_compile(const char *name, const char *source, const bm_lua_limits *lim,
                               char *err, size_t errlen)
{
    bm_lua_formula *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (source == NULL) {
        snprintf(err, errlen, "no source");
        goto fail;
    }
    if (strlen(source) > BM_LUA_MAX_SOURCE) {
        snprintf(err, errlen, "formula is %zu bytes, more than the %d a formula may have",
                 strlen(source), BM_LUA_MAX_SOURCE);
        goto fail;
    }
    f->name = strdup(name ? name : "formula");
    f->source = strdup(source);
    if (f->name == NULL || f->source == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (lim != NULL)
        f->lim = *lim;
    if (f->lim.instructions <= 0)
        f->lim.instructions = DEF_INSTRUCTIONS;
    if (f->lim.memory_kb <= 0)
        f->lim.memory_kb = DEF_MEMORY_KB;
    if (f->lim.pattern_max_len <= 0)
        f->lim.pattern_max_len = DEF_PATTERN_MAX_LEN;
    if (f->lim.instructions > INT_MAX)
        f->lim.instructions = INT_MAX;
    f->mem_cap = (size_t)f->lim.memory_kb * 1024;
    f->cpu_limit = (int64_t)f->lim.instructions * CPU_NS_PER_INSTRUCTION;
    if (f->cpu_limit < MIN_CPU_NS)
        f->cpu_limit = MIN_CPU_NS;
    if (sb_build(f, err, errlen) != 0)
        goto fail;
    bm_lua_registry_add(f);
    return f;

fail:
    bm_lua_free(f);
    return NULL;
}

static int eval_run(bm_lua_formula *f, const bm_event *ev, double *out, char *err, size_t errlen);

int bm_lua_eval(bm_lua_formula *f, const bm_event *ev, double *out, char *err, size_t errlen)
{
    int64_t t0;
    int rc = bm_lua_breaker_admit(f, &t0, err, errlen);
    if (rc != 0)
        return rc;
    rc = eval_run(f, ev, out, err, errlen);
    bm_lua_breaker_account(f, rc == BM_ERROR, t0);
    return rc;
}

static int eval_run(bm_lua_formula *f, const bm_event *ev, double *out, char *err, size_t errlen)
{
    f->st.calls++;
    if (f->L == NULL) {
        snprintf(err, errlen, "formula state unavailable");
        f->st.errors++;
        f->st.runtime++;
        return BM_ERROR;
    }
    lua_State *L = f->L;
    json_t *root = ev ? ev->root : NULL;
    json_t *data = ev ? ev->data : NULL;
    if (data == NULL && root != NULL)
        data = json_object_get(root, "data");

    if (sb_call(f, root, data) != LUA_OK) {
        int kind = sb_failure(f, "", err, errlen);
        f->st.errors++;
        if (kind == FAIL_INSTRUCTIONS)
            f->st.instructions++;
        else if (kind == FAIL_MEMORY)
            f->st.memory++;
        else
            f->st.runtime++;
        if (kind == FAIL_MEMORY)
            sb_recover(f);
        else
            lua_settop(L, 1);
        return BM_ERROR;
    }

    int t = lua_type(L, 2);
    if (t == LUA_TNIL) {
        lua_settop(L, 1);
        f->st.skipped++;
        return BM_SKIP;
    }
    if (t == LUA_TNUMBER) {
        double v = lua_isinteger(L, 2) ? (double)lua_tointeger(L, 2) : (double)lua_tonumber(L, 2);
        lua_settop(L, 1);
        if (isfinite(v)) {
            *out = v;
            f->st.ok++;
            return BM_OK;
        }
        snprintf(err, errlen, "formula returned a non-finite number");
    } else if (t == LUA_TSTRING && bm_event_number_text(lua_tostring(L, 2), out)) {
        /* The rule field sources follow: a numeric string counts as its number. */
        lua_settop(L, 1);
        f->st.ok++;
        return BM_OK;
    } else {
        snprintf(err, errlen, "formula returned a %s, expected a number or nil",
                 lua_typename(L, t));
        lua_settop(L, 1);
    }
    f->st.errors++;
    f->st.bad_result++;
    return BM_ERROR;
}

void bm_lua_stats_get(const bm_lua_formula *f, bm_lua_stats *out)
{
    *out = f->st;
}

const char *bm_lua_name(const bm_lua_formula *f)
{
    return f->name;
}

void bm_lua_free(bm_lua_formula *f)
{
    if (f == NULL)
        return;
    bm_lua_registry_remove(f);
    if (f->L != NULL)
        lua_close(f->L);
    free(f->name);
    free(f->source);
    free(f);
}
