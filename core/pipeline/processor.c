/*
 * The processor role: owns the pipeline (its connection, consumer, committer
 * and state cache) and runs one batch per engine turn on the processing
 * thread. Periodic upkeep of its own data (the dedup window) happens here
 * too, not in the engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pg/pg.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_int.h"
#include "pipeline/replay.h"
#include "pipeline/store.h"
#include "util/clock.h"

static void processor_stop(void *state);

static int processor_start(const bm_role_env *env, void **state, char *err, size_t errlen)
{
    bm_pipeline *p = calloc(1, sizeof *p);
    *state = p;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->cfg = *env->cfg;
    p->bootstrap = env->bootstrap;
    p->camps = env->camps;
    p->loader = env->loader;
    p->stats = env->stats;
    p->run = env->run;
    p->last_prune_ms = bm_now_ms();
    bm_state_cache_init(&p->cache);
    bm_levels_init(&p->levels);
    p->last_tick_ms = bm_now_ms();
    if (bm_cmdauth_load(&p->cmdkeys, &p->cfg, 1, err, errlen) != 0)
        return -1;
    if (strcmp(p->cfg.store_events, "on") != 0 && strcmp(p->cfg.store_events, "off") != 0) {
        snprintf(err, errlen, "store.events: '%s' is neither on nor off", p->cfg.store_events);
        return -1;
    }
    p->store_events = strcmp(p->cfg.store_events, "on") == 0;
    p->pg = bm_pg_connect(p->cfg.pg_dsn, err, errlen);
    if (!p->pg)
        return -1;
    if (bm_members_start(p, err, errlen) != 0)
        return -1;
    return bm_pipeline_consume(p, err, errlen);
}

/* Forgets applied eventIds older than the window, in memory and in PostgreSQL. */
static void prune_dedup(bm_pipeline *p, int64_t now)
{
    uint32_t oldest = (uint32_t)(now / 1000 - p->cfg.dedup_window_s);
    for (int i = 0; i < p->npart_seen; i++)
        bm_dedup_prune(&p->parts[i].dedup, oldest);
    char win[16];
    snprintf(win, sizeof win, "%d", p->cfg.dedup_window_s);
    const char *v[1] = {win};
    PGresult *r = PQexecParams(
        p->pg, "DELETE FROM event_dedup WHERE created_at < now() - make_interval(secs => $1)", 1,
        NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        bm_warn("pipeline", "dedup prune: %s", PQerrorMessage(p->pg));
    PQclear(r);
}

static void processor_step(void *state)
{
    bm_pipeline *p = state;
    int64_t now = bm_now_ms();
    if (now - p->last_prune_ms > 60000) {
        prune_dedup(p, now);
        p->last_prune_ms = now;
    }
    if (p->store_events && (!p->last_retain_ms || now - p->last_retain_ms > 3600 * 1000)) {
        bm_store_retain(p->pg, p->cfg.store_retention_days);
        p->last_retain_ms = now;
    }
    bm_members_poll(p);
    bm_pipeline_step(p);
    bm_pipeline_reconcile(p);
    bm_pipeline_presence(p, 0);
}

static void processor_stop(void *state)
{
    bm_pipeline *p = state;
    if (!p)
        return;
    bm_pipeline_unconsume(p);
    if (p->pg)
        bm_pipeline_absent(p);
    bm_pipeline_free_run(p);
    bm_members_stop(p);
    bm_replay_free(p);
    bm_strset_free(&p->claimed);
    bm_strset_free(&p->inflight);
    bm_state_cache_free(&p->cache);
    bm_levels_free(&p->levels);
    bm_cmdauth_clear(&p->cmdkeys);
    if (p->pg)
        PQfinish(p->pg);
    free(p);
}

const bm_role_ops bm_pipeline_role = {
    .name = "processor",
    .start = processor_start,
    .step = processor_step,
    .stop = processor_stop,
};
