/* Shared between the files of the Lua sandbox; not part of its interface. */
#ifndef BM_LUA_INTERNAL_H
#define BM_LUA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lua.h>

#include "lua_sandbox.h"

struct bm_lua_formula {
    char *name;
    char *source;
    bm_lua_limits lim;
    lua_State *L; /* stack slot 1 holds the per-event function */

    /* Memory budget, kept by the allocator. */
    size_t mem_used;
    size_t mem_cap;

    /*
     * CPU budget of one run. The count hook fires every thousand
     * instructions or so and adds them to insn_used; the pattern guards add
     * their estimated work too. C functions that take long on big strings (upper,
     * .., ==) are caught by the CPU-time check at each hook call.
     */
    long insn_used;
    int hook_period;   /* instructions until the next hook call */
    int clock_started; /* cpu_start is set (from the first hook call on) */
    int64_t cpu_start; /* thread CPU time at the first hook call, ns */
    int64_t cpu_limit; /* ns of thread CPU time allowed per run */

    /* Set during a run when a budget is overrun; cleared when the next run starts. */
    int mem_hit;  /* a memory error was raised */
    int insn_hit; /* the instruction or CPU-time budget was overrun */
    int time_hit; /* ... and it was the CPU-time part */

    /*
     * Proxies carry the generation they were made in and refuse to read once
     * it has moved on, so nothing a formula keeps can reach a freed event.
     */
    uint64_t gen;
    json_t *cur_root;
    json_t *cur_data;
    int mt_ref; /* registry slot of the proxy metatable */

    bm_lua_stats st;

    /* circuit breaker and batch budget (lua_breaker.c) */
    char owner[64];                     /* campaign id, "" if unknown */
    int consecutive;                    /* failures in a row */
    int64_t suspended_until;            /* monotonic ms; 0 = running */
    int64_t cooldown_ms;                /* the next suspension's length */
    uint64_t epoch;                     /* batch the time below belongs to */
    int64_t batch_ns;                   /* time used in that batch */
    struct bm_lua_formula *next, *prev; /* registry of live formulas */
};

/* Before a run: 0 to run it (t0 set), or BM_SKIP with err when the breaker or
 * the batch budget says no. */
int bm_lua_breaker_admit(bm_lua_formula *f, int64_t *t0, char *err, size_t errlen);
/* After a run: its outcome and time. */
void bm_lua_breaker_account(bm_lua_formula *f, int failed, int64_t t0);
/* Registry of live formulas (compile/free). */
void bm_lua_registry_add(bm_lua_formula *f);
void bm_lua_registry_remove(bm_lua_formula *f);

/* The formula owning this state (stored in the state's extra space). */
static inline bm_lua_formula *bm_lua_self(lua_State *L)
{
    return *(bm_lua_formula **)lua_getextraspace(L);
}

/* True when a budget has been overrun and the run must unwind to the host. */
static inline int bm_lua_tripped(const bm_lua_formula *f)
{
    return f->insn_hit || f->mem_hit;
}

/* Charges `work` instruction-equivalents to the run; raises when the budget is spent. */
void bm_lua_charge(lua_State *L, double work);

/* Creates the proxy metatable; call from protected code during setup. */
void bm_lua_view_open(lua_State *L);

/* Pushes the Lua view of `j` (proxy for objects/arrays, plain value otherwise). */
void bm_lua_view_push(lua_State *L, json_t *j);

/* Replaces the escape hatches of the opened libraries with guarded versions. */
void bm_lua_guard_install(lua_State *L);

/* Upper bound on matcher work accepted for one pattern call (see lua_guard.c). */
#define BM_LUA_PATTERN_STEPS 1e6
/* Longest subject accepted by the pattern functions. */
#define BM_LUA_SUBJECT_MAX (64 * 1024)

#endif
