/* Helpers of the containment tests (tests/e2e/containment). */
#ifndef BM_TEST_CONTAINMENT_H
#define BM_TEST_CONTAINMENT_H

#include "e2e/common/e2e.h"

#define CT_GAME "contained-game"

/* Installs BM_CONTAINMENT_MODS/<fixture>.so as <modules_dir>/example.so (tmp + rename). */
void ct_install(bm_e2e *e, const char *fixture);
/* Creates the example module's campaign (type tournament) and a leaderboard summing
 * data.points of match_end events, both on CT_GAME. */
void ct_campaigns(bm_e2e *e, char *example_id, char *board_id, size_t idlen);
/* Now as RFC 3339 (an event timestamp). */
void ct_now(char *ts, size_t len);
/* Produces n match_end events of CT_GAME with points 1..7 over 20 users; returns
 * the sum of their points. */
long long ct_produce(bm_e2e *e, int n, int seed);
/* sum(current_value) of a campaign. */
long long ct_total(bm_e2e *e, const char *campaign);
/* The engine's `containment` object from `bmctl modules --json` (caller decrefs
 * the returned root; *ct points into it). */
json_t *ct_modules(bm_e2e *e, json_t **ct);
/* The campaigns[] entry's "refused" text ("" if served). */
const char *ct_refused(json_t *modules, const char *id);
/* Version of the module named `name`, or "". */
const char *ct_module_version(json_t *modules, const char *name);
/* Polls until total(campaign) == want; fails after timeout_ms. */
void ct_wait_total(bm_e2e *e, bm_e2e_engine *g, const char *campaign, long long want,
                   int timeout_ms);

#endif
