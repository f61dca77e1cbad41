/* What `bmctl modules` shows: modules, retiring generations, campaigns, counters. */
#include <jansson.h>
#include <stdlib.h>

#include "engine/engine_int.h"
#include "host/host.h"
#include "rewards/rewards.h"
#include "loader/probation.h"
#include "lua/lua_sandbox.h"
#include "pipeline/gap.h"
#include "supervisor/supervisor.h"
#include "watchdog/wd_call.h"

static json_t *modules_array(bm_engine *e)
{
    const bm_modset *set = bm_loader_current(e->loader);
    json_t *mods = json_array();
    for (size_t i = 0; set && i < set->n; i++) {
        const bm_modinst *mi = set->mods[i];
        const bm_module *mod = bm_modinst_module(mi);
        bm_modinst_counts n = bm_modinst_counters(mi);
        size_t ncamps = bm_camps_served_by(&e->camps, mi);
        json_t *m = json_pack(
            "{s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:I, s:I}", "name", bm_modinst_name(mi),
            "version", mod->version, "kind", mod->kind == BM_KIND_CAMPAIGN ? "campaign" : "reward",
            "serves", mod->serves, "generation", bm_modinst_generation(mi), "file",
            bm_modinst_file(mi), "campaigns", (json_int_t)ncamps, "events", (json_int_t)n.events,
            "errors", (json_int_t)n.errors, "skipped", (json_int_t)n.skipped);
        json_object_set_new(m, "abiVersion", json_integer(mod->abi_version));
        json_object_set_new(m, "metrics", bm_host_metrics_json(bm_modinst_host(mi)));
        json_array_append_new(mods, m);
    }
    return mods;
}

static json_t *campaigns_array(bm_engine *e)
{
    json_t *camps = json_array();
    for (size_t s = 0; s < bm_camps_nslots(&e->camps); s++) {
        bm_camp *c = bm_camps_at(&e->camps, (uint32_t)s);
        if (!c)
            continue;
        json_t *o = bm_camp_json(c);
        if (!o)
            continue;
        json_t *f = bm_lua_owner_json(bm_camp_id(c)); /* its formula's breaker, if it has one */
        if (f)
            json_object_set_new(o, "formula", f);
        json_array_append_new(camps, o);
    }
    return camps;
}

static json_t *stats_object(bm_stats *st)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "batches",
                          (json_int_t)atomic_load(&st->batches), "events",
                          (json_int_t)atomic_load(&st->events), "applied",
                          (json_int_t)atomic_load(&st->applied), "rejected",
                          (json_int_t)atomic_load(&st->rejected), "duplicates",
                          (json_int_t)atomic_load(&st->duplicates), "commitsFailed",
                          (json_int_t)atomic_load(&st->commits_failed), "fenceLost",
                          (json_int_t)atomic_load(&st->fence_lost), "outboxPublished",
                          (json_int_t)atomic_load(&st->outbox_published), "ticks",
                          (json_int_t)atomic_load(&st->ticks), "campaignsEnded",
                          (json_int_t)atomic_load(&st->campaigns_ended));
    json_object_set_new(o, "latencyP50Ms", json_real(bm_stats_latency_pct(st, 50)));
    json_object_set_new(o, "latencyP99Ms", json_real(bm_stats_latency_pct(st, 99)));
    json_object_set_new(o, "latencyP999Ms", json_real(bm_stats_latency_pct(st, 99.9)));
    json_object_set_new(o, "forwarded", json_integer((json_int_t)atomic_load(&st->forwarded)));
    json_object_set_new(o, "suspendedEvents",
                        json_integer((json_int_t)atomic_load(&st->suspended_events)));
    json_object_set_new(o, "outboxParked",
                        json_integer((json_int_t)atomic_load(&st->outbox_parked)));
    return o;
}

char *bm_engine_modules_json(bm_engine *e)
{
    const bm_modset *set = bm_loader_current(e->loader);
    json_t *root = json_object();
    json_object_set_new(root, "generation", json_integer(set ? set->generation : 0));
    json_object_set_new(root, "roles", json_string(e->cfg.roles));
    json_object_set_new(root, "modules", modules_array(e));
    char *ret = bm_loader_retiring_json(e->loader);
    json_t *retiring = ret ? json_loads(ret, 0, NULL) : NULL;
    free(ret);
    json_object_set_new(root, "retiring", retiring ? retiring : json_array());
    json_object_set_new(root, "campaigns", campaigns_array(e));
    json_object_set_new(root, "stats", stats_object(&e->stats));
    json_object_set_new(root, "rewards", bm_rewards_stats_json(e->roles[BM_ROLE_REWARDS].state));
    json_t *ct = bm_probation_json(); /* restarts, quarantine, probation (DESIGN: Containment) */
    json_object_set_new(ct, "restarts", json_integer(bm_supervisor_restarts()));
    json_object_set_new(ct, "lastRestartReason", json_string(bm_supervisor_restart_reason()));
    json_object_set_new(ct, "watchdogAborts", json_integer(bm_supervisor_watchdog_aborts()));
    json_object_set_new(
        ct, "callTimeouts",
        json_pack("{s:I, s:I, s:i}", "query", (json_int_t)bm_wd_timeouts(BM_WD_QUERY), "on_reward",
                  (json_int_t)bm_wd_timeouts(BM_WD_REWARD), "stuck", bm_wd_stuck()));
    json_object_set_new(ct, "formulas", bm_lua_formulas_json());
    json_object_set_new(ct, "gaps", bm_gap_json());
    json_object_set_new(root, "containment", ct);
    pthread_mutex_lock(&e->report_lock);
    json_object_set_new(root, "lastReload", json_string(e->report));
    pthread_mutex_unlock(&e->report_lock);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}
