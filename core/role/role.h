/*
 * Roles: the parts of the engine a process can run (engine.roles). Each role
 * is a subsystem behind this small table; the engine starts the configured
 * ones in order, calls `step` (when set) on the processing thread once per
 * turn of its loop, and stops them in reverse order.
 *
 * Contract for a role:
 *  - start() gets the environment below, which stays valid until stop().
 *    It returns 0 with *state set, or -1 with err filled (the process then
 *    refuses to start). A role that needs a thread starts it here.
 *  - stop() joins what start() started and frees state. It is called once,
 *    also after a failed start of a later role.
 *  - A role never reads another subsystem's structs: it uses the handles in
 *    the environment and the public headers of their subsystems.
 *  - Module calls from a role's own threads go through the loader's pinned
 *    references (bm_loader_acquire / bm_loader_acquire_campaign, then
 *    bm_loader_release), never through a bm_modinst kept across calls: a
 *    reload may retire that generation at any batch boundary.
 *  - `camps` is the campaign registry. Only the processing thread (that is,
 *    step()) may read it; other threads resolve campaigns through
 *    bm_loader_acquire_campaign.
 *
 * Adding a role: its name is known to the config parser (config.h,
 * BM_ROLE_*); its ops table is listed in core/engine/roles.c.
 */
#ifndef BM_ROLE_H
#define BM_ROLE_H

#include <signal.h>
#include <stddef.h>

#include "campaign/campaign.h"
#include "config/config.h"
#include "loader/loader.h"
#include "stats/stats.h"

typedef struct bm_role_env {
    const bm_config *cfg;        /* the process's configuration (read-only) */
    const char *bootstrap;       /* Kafka bootstrap servers (embedded or configured) */
    bm_loader *loader;           /* module generations: acquire/release from any thread */
    bm_stats *stats;             /* counters shown by bmctl modules and /metrics */
    volatile sig_atomic_t *run;  /* cleared when the process is asked to stop */
    bm_camps *camps;             /* campaign registry: processing thread only */
    const bm_host_api *host_api; /* the table modules were initialised with */
} bm_role_env;

typedef struct bm_role_ops {
    const char *name; /* as written in engine.roles */
    /* Starts the role; 0 with *state set, or -1 with err. */
    int (*start)(const bm_role_env *env, void **state, char *err, size_t errlen);
    /* Optional: one unit of work on the processing thread, after the batch
     * boundary work (reload, campaign refresh, admin requests). */
    void (*step)(void *state);
    /* Stops the role and frees state (state may be NULL after a failed start). */
    void (*stop)(void *state);
} bm_role_ops;

#endif
