/* Sandboxed Lua 5.4 scoring formulas (DESIGN section 5). */
#ifndef BM_LUA_SANDBOX_H
#define BM_LUA_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

typedef struct bm_lua_limits {
    long instructions;   /* VM instructions per call before the call is aborted */
    long memory_kb;      /* bytes the formula's state may hold, in KiB */
    int pattern_max_len; /* longest Lua pattern accepted by find/match/gmatch/gsub */
} bm_lua_limits;

typedef struct bm_lua_stats {
    uint64_t calls;        /* evaluations attempted */
    uint64_t ok;           /* returned a finite number */
    uint64_t skipped;      /* returned nil */
    uint64_t errors;       /* every failure below, summed */
    uint64_t runtime;      /* error() or a runtime error */
    uint64_t instructions; /* ran past the instruction budget */
    uint64_t memory;       /* ran past the memory budget */
    uint64_t bad_result;   /* returned something that is not a finite number or nil */
} bm_lua_stats;

typedef struct bm_lua_formula bm_lua_formula;

/* Longest formula source accepted (bytes). */
#define BM_LUA_MAX_SOURCE 65536

/*
 * Compiles `source` once. It may be an expression ("data.kills * 100"), a
 * chunk with a return statement, or a chunk returning a function(event).
 * Returns NULL with err filled when it is too long, does not compile
 * ("name:line: message near 'token'") or its top level overruns a budget.
 */
bm_lua_formula *bm_lua_compile(const char *name, const char *source, const bm_lua_limits *lim,
                               char *err, size_t errlen);

/*
 * Evaluates on one event. The formula sees `event` (read-only table view of
 * the whole event) and `data` (= event.data). Returns 0 (BM_OK) with *out
 * set, 1 (BM_SKIP) when the formula returned nil, or -2 (BM_ERROR) with err
 * filled; never aborts the process whatever the formula does.
 */
int bm_lua_eval(bm_lua_formula *f, const bm_event *ev, double *out, char *err, size_t errlen);

/* Counters since compile. */
void bm_lua_stats_get(const bm_lua_formula *f, bm_lua_stats *out);

/* The name given at compile time. */
const char *bm_lua_name(const bm_lua_formula *f);

void bm_lua_free(bm_lua_formula *f);

#endif
