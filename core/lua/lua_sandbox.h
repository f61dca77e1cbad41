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
    /* circuit breaker (0 = the defaults: 5 failures, 1000 ms, 50 ms) */
    int breaker_failures;    /* failures or overruns in a row that suspend the formula */
    int breaker_cooldown_ms; /* first suspension; doubles on each repeat, up to an hour */
    int batch_budget_ms;     /* time the formula may use per batch */
} bm_lua_limits;

typedef struct bm_lua_stats {
    uint64_t calls;           /* evaluations attempted */
    uint64_t ok;              /* returned a finite number */
    uint64_t skipped;         /* returned nil */
    uint64_t errors;          /* every failure below, summed */
    uint64_t runtime;         /* error() or a runtime error */
    uint64_t instructions;    /* ran past the instruction budget */
    uint64_t memory;          /* ran past the memory budget */
    uint64_t bad_result;      /* returned something that is not a finite number or nil */
    uint64_t breaker_skipped; /* not run: suspended by the circuit breaker */
    uint64_t budget_skipped;  /* not run: the batch's time budget was spent */
    uint64_t breaker_trips;   /* times the breaker suspended it */
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

/*
 * Circuit breaker and batch budget (lua_breaker.c). A formula that fails or
 * overruns breaker_failures times in a row is suspended for a cooldown that
 * doubles on each repeat; while suspended, bm_lua_eval returns BM_SKIP
 * without running it (counted in breaker_skipped). A formula that has used
 * batch_budget_ms in the current batch skips its remaining events of that
 * batch (budget_skipped). Compiling again (a formula update) starts afresh.
 */

/* Marks the start of a batch: every formula's batch budget starts again. */
void bm_lua_batch_begin(void);
/* Ties a formula to the campaign it serves, for status reports. */
void bm_lua_set_owner(bm_lua_formula *f, const char *campaign_id);
/* State of the formula owned by campaign_id as JSON, or NULL when it has none. */
struct json_t *bm_lua_owner_json(const char *campaign_id);
/* Every live formula: name, campaign, state, counters (caller owns). */
struct json_t *bm_lua_formulas_json(void);

#endif
