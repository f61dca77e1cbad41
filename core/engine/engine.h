/*
 * The engine: lifecycle and the batch boundary of one process. It owns the
 * module generations (core/loader), the campaign registry (core/campaign)
 * and the admin socket (core/admin), and runs the configured roles
 * (core/role) through their ops tables. Everything that changes what events
 * are dispatched to (module generations, campaigns) happens on the
 * processing thread at a batch boundary, so the hot path takes no locks.
 */
#ifndef BM_ENGINE_H
#define BM_ENGINE_H

#include <signal.h>
#include <stddef.h>

#include "config/config.h"
#include "role/role.h"

typedef struct bm_engine bm_engine;

/* Starts everything the configured roles need; the engine, or NULL with err. */
bm_engine *bm_engine_start(const bm_config *cfg, volatile sig_atomic_t *run, char *err,
                           size_t errlen);
/* One boundary (admin, reload, campaigns) plus one step of each role that has one. */
void bm_engine_run_once(bm_engine *e);
/* Asks for a module reload at the next boundary (async-signal-safe). */
void bm_engine_request_reload(bm_engine *e);
/* Stops the roles in reverse order and frees everything. */
void bm_engine_stop(bm_engine *e);

/* The ops table of a role (BM_ROLE_x), or NULL if this build has none. */
const bm_role_ops *bm_engine_role_ops(int role);

#endif
