/*
 * The standard scenario of the e2e tests: four boards (sum, max, count, Lua
 * formula), a bm-loadgen stream with duplicates and malformed messages, and
 * the comparison of everything the engine wrote with the stream's independent
 * count.
 */
#ifndef BM_E2E_SCENARIO_H
#define BM_E2E_SCENARIO_H

#include "e2e/common/e2e.h"

typedef struct bm_e2e_boards {
    char sum_id[64];   /* MATCH_END.score, sum */
    char max_id[64];   /* MATCH_END.score, max */
    char count_id[64]; /* ENEMY_KILL, count */
    char lua_id[64];   /* MATCH_END, "data.kills * 100 + data.score" */
} bm_e2e_boards;

/* One bm-loadgen run: seed, valid events, rate (0 = full speed), user prefix. */
typedef struct bm_e2e_stream {
    const char *seed;
    const char *events;
    const char *rate;
    const char *user_prefix;
    char expect_path[400];
    char out_path[400];
    pid_t pid;
    long long produced;
} bm_e2e_stream;

/* Creates the four campaigns with `bmctl campaign create`. */
void bm_e2e_boards_create(bm_e2e *e, bm_e2e_boards *b);
/* Every user on every board, the offsets counters and the DLQ, exactly. */
void bm_e2e_boards_verify(bm_e2e *e, const bm_e2e_boards *b, const bm_e2e_expect *x,
                          long long produced);

/* Starts bm-loadgen in the background (2000 users, 2% duplicates, 1% malformed). */
void bm_e2e_stream_start(bm_e2e *e, bm_e2e_stream *s);
/* Waits for it, adds its expect file to x, returns the messages it produced. */
long long bm_e2e_stream_finish(bm_e2e_stream *s, bm_e2e_expect *x);

#endif
