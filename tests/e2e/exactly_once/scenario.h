/*
 * The exactly-once scenario shared by the single-run and the kill -9 tests:
 * four boards, one bm-loadgen stream with duplicates and malformed messages,
 * and the final comparison of everything with the independent count.
 */
#ifndef BM_E2E_SCENARIO_H
#define BM_E2E_SCENARIO_H

#include "e2e/common/e2e.h"

typedef struct scenario {
    char sum_id[64], max_id[64], count_id[64], lua_id[64];
    char expect_path[400];
    long long produced;
    bm_e2e_expect x;
} scenario;

/* Creates the four campaigns with `bmctl campaign create`. */
void scenario_campaigns(bm_e2e *e, scenario *s);
/* Produces the stream (seed, events) and loads its expect file; checks that
 * the broker kept every message. */
void scenario_produce(bm_e2e *e, scenario *s, const char *seed, const char *events);
/* Every user on every board, the offsets counters and the DLQ, exactly. */
void scenario_verify(bm_e2e *e, scenario *s);
void scenario_free(scenario *s);

#endif
