/* Shared helpers of the host-v2 end-to-end tests (the fx_v2 fixture module). */
#ifndef BM_E2E_HOSTV2_H
#define BM_E2E_HOSTV2_H

#include "e2e/common/e2e.h"

#define HV2_GAME "hv2-game"

/* bm_e2e_init plus fx_v2.so in the modules dir, session timeout 3 s. */
void hv2_init(bm_e2e *e, const char *name, int partitions);
/* Starts an engine with its own run dir (two engines never share an admin socket). */
void hv2_engine(bm_e2e *e, bm_e2e_engine *g, const char *roles, const char *tag);
/* Creates an fx_v2 campaign; extra is appended to the JSON object (may be ""). */
void hv2_campaign(bm_e2e *e, const char *extra, char *id, size_t idlen);
/* Produces one event of `type` for user with eventId id. */
void hv2_event(bm_e2e *e, const char *type, const char *user, const char *id);
/* Polls a query until it returns at least want; fails after timeout_ms. */
long long hv2_wait_ll(bm_e2e *e, long long want, int timeout_ms, const char *sql);
/* A module metric of fx_v2 from bmctl modules (0 when absent). */
double hv2_metric(bm_e2e *e, const char *name);
/* The doc of module_results(campaign, kind, key) as text, or NULL (malloc'd). */
char *hv2_result(bm_e2e *e, const char *camp, const char *kind, const char *key);

#endif
