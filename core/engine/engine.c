/* Engine lifecycle and the work done at batch boundaries. */
#include "engine/engine.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "campaign/campaign.h"
#include "engine/engine_int.h"
#include "host/host.h"
#include "kafka/kafka.h"
#include "loader/probation.h"
#include "log/log.h"
#include "pg/pg.h"
#include "supervisor/supervisor.h"
#include "util/clock.h"
#include "util/fs.h"
#include "watchdog/watchdog.h"
#include "watchdog/wd_call.h"

/* --- loader hooks ------------------------------------------------------------- */

static bm_host *hook_host_new(void *ud, const char *name)
{
    bm_engine *e = ud;
    bm_host *h = bm_host_new(name, &e->lua);
    bm_host_use_config(h, &e->cfg); /* the settings modules may read ([chain]) */
    return h;
}

static void hook_host_free(void *ud, bm_host *h)
{
    (void)ud;
    bm_host_free(h);
}

static int hook_adopt(void *ud, bm_modinst *mi, char *err, size_t errlen)
{
    bm_engine *e = ud;
    return bm_camps_adopt(&e->camps, mi, err, errlen);
}

static void hook_release(void *ud, bm_modinst *mi)
{
    bm_engine *e = ud;
    bm_camps_release(&e->camps, mi);
}

static void hook_swapped(void *ud, const bm_modset *now, bm_modinst *const *retired, size_t n)
{
    bm_engine *e = ud;
    bm_camps_swapped(&e->camps, now, retired, n);
}

static void *hook_campaign_pin(void *ud, const char *id, bm_modinst **mi, void **cctx)
{
    bm_engine *e = ud;
    return bm_camps_pin(&e->camps, id, mi, cctx);
}

static void hook_campaign_unpin(void *ud, void *camp)
{
    (void)ud;
    bm_camps_unpin(camp);
}

static void set_report(bm_engine *e, const char *text)
{
    pthread_mutex_lock(&e->report_lock);
    snprintf(e->report, sizeof e->report, "%s", text);
    pthread_mutex_unlock(&e->report_lock);
}

void bm_engine_reload(bm_engine *e)
{
    bm_scan_result res;
    memset(&res, 0, sizeof res);
    if (bm_loader_reload(e->loader, &res) != 0) {
        bm_error("loader", "cannot scan modules_dir=%s", e->cfg.modules_dir);
        set_report(e, res.report[0] ? res.report : "scan failed: modules directory unreadable");
        return;
    }
    set_report(e, res.report);
    const bm_modset *cur = bm_loader_current(e->loader);
    if (res.loaded == 0 && res.removed == 0) {
        bm_info("loader", "reload: nothing changed (generation %d)", cur ? cur->generation : 0);
        return;
    }
    /* Campaigns that waited for a module of their type may be served now. */
    bm_engine_refresh_campaigns(e);
    bm_info("loader", "generation=%d active: loaded=%d kept=%d refused=%d removed=%d",
            cur ? cur->generation : 0, res.loaded, res.kept, res.refused, res.removed);
}

void bm_engine_refresh_campaigns(bm_engine *e)
{
    bm_camp_row *rows;
    size_t n;
    char err[512];
    int rc = bm_camps_fetch(e->pg, &e->camps, &e->cfg, &rows, &n, err, sizeof err);
    if (rc != 0 && PQstatus(e->pg) != CONNECTION_OK) {
        /* The database restarted: its old connection shows it only when used. */
        PQreset(e->pg);
        if (PQstatus(e->pg) == CONNECTION_OK)
            rc = bm_camps_fetch(e->pg, &e->camps, &e->cfg, &rows, &n, err, sizeof err);
    }
    if (rc != 0) {
        bm_error("campaign", "refresh failed: %s", err);
        return;
    }
    /* Out-of-band callers look campaigns up under the loader's lock. */
    bm_loader_lock(e->loader);
    int changes = bm_camps_sync(&e->camps, rows, n, bm_loader_current(e->loader));
    bm_loader_unlock(e->loader);
    bm_camp_rows_free(rows, n);
    e->last_campaign_refresh_ms = bm_now_ms();
    if (changes)
        bm_info("campaign", "campaigns refreshed changes=%d", changes);
}

/* --- config.campaigns: every host reads every partition, no group ------------ */

static int config_consumer_start(bm_engine *e, char *err, size_t errlen)
{
    char sock[16];
    snprintf(sock, sizeof sock, "%d", e->cfg.socket_timeout_ms);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", e->bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", sock, err, errlen) ||
        rd_kafka_conf_set(conf, "group.id", "brightmatter-config-unused", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, errlen) ||
        bm_kafka_conf_props(conf, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    e->config_consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!e->config_consumer) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* conf is now owned by config_consumer. The table is the truth, the topic
     * only says "look again". From the beginning, not the end: "end" is
     * resolved at the first fetch, so an announcement made right after startup
     * could fall before it and wait for the 30 s refresh. Old announcements
     * (a compacted topic) cost one extra refresh at startup. Every partition
     * the broker has: a notification keyed by campaign id may land on any of
     * them (a count assumed here left campaigns uncounted for 30 s). */
    int nparts = bm_kafka_partition_count(e->config_consumer, BM_TOPIC_CONFIG_CAMPAIGNS, 10000);
    if (nparts <= 0) {
        /* Broker not answering yet: start with the product's count; the periodic
         * refresh adds what the metadata shows later (config_consumer_fit). */
        for (size_t i = 0; i < bm_ntopics; i++)
            if (strcmp(bm_topics[i].name, BM_TOPIC_CONFIG_CAMPAIGNS) == 0)
                nparts = bm_topics[i].partitions;
        bm_warn("campaign", "%s: no metadata yet, assuming %d partitions",
                BM_TOPIC_CONFIG_CAMPAIGNS, nparts);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(l, BM_TOPIC_CONFIG_CAMPAIGNS, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    bm_info("campaign", "notifications from %s partitions=%d", BM_TOPIC_CONFIG_CAMPAIGNS, nparts);
    rd_kafka_assign(e->config_consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
}

/* Partitions added to config.campaigns since the start (or missed then) are
 * assigned from their beginning: everything in them is newer than this process. */
static void config_consumer_fit(bm_engine *e)
{
    rd_kafka_topic_partition_list_t *cur = NULL;
    if (!e->config_consumer || rd_kafka_assignment(e->config_consumer, &cur) != 0 || !cur)
        return;
    int have = cur->cnt;
    rd_kafka_topic_partition_list_destroy(cur);
    int n = bm_kafka_partition_count(e->config_consumer, BM_TOPIC_CONFIG_CAMPAIGNS, 2000);
    if (n <= have)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n - have);
    for (int p = have; p < n; p++)
        rd_kafka_topic_partition_list_add(l, BM_TOPIC_CONFIG_CAMPAIGNS, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *ke = rd_kafka_incremental_assign(e->config_consumer, l);
    if (ke) {
        bm_warn("campaign", "%s: cannot add partitions: %s", BM_TOPIC_CONFIG_CAMPAIGNS,
                rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
    } else {
        bm_info("campaign", "notifications from %s partitions=%d (was %d)",
                BM_TOPIC_CONFIG_CAMPAIGNS, n, have);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void config_consumer_poll(bm_engine *e)
{
    if (!e->config_consumer)
        return;
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(e->config_consumer, 0))) {
        if (!m->err)
            atomic_store(&e->campaigns_changed, 1);
        rd_kafka_message_destroy(m);
    }
}

/* --- admin requests (answered at the boundary) ------------------------------------ */

static char *admin_handle(void *ud, const char *req)
{
    bm_engine *e = ud;
    if (strcmp(req, "reload") == 0) {
        bm_engine_reload(e);
        return bm_engine_modules_json(e);
    }
    if (strcmp(req, "modules") == 0)
        return bm_engine_modules_json(e);
    if (strcmp(req, "campaigns") == 0) {
        bm_engine_refresh_campaigns(e);
        return bm_engine_modules_json(e);
    }
    json_t *j = json_pack("{s:s}", "error", "unknown request");
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return out;
}

/* --- lifecycle ------------------------------------------------------------------ */

static int start_roles(bm_engine *e, char *err, size_t errlen)
{
    e->env = (bm_role_env){.cfg = &e->cfg,
                           .bootstrap = e->bootstrap,
                           .loader = e->loader,
                           .stats = &e->stats,
                           .run = e->run,
                           .camps = &e->camps,
                           .host_api = bm_host_api_get()};
    for (int r = 0; r < BM_NROLES; r++) {
        if (!bm_config_has_role(&e->cfg, r))
            continue;
        const bm_role_ops *ops = bm_engine_role_ops(r);
        if (!ops) {
            snprintf(err, errlen, "engine.roles: role '%s' is not part of this build",
                     bm_config_role_names[r]);
            return -1;
        }
        char why[512] = "";
        e->roles[r].ops = ops;
        if (ops->start(&e->env, &e->roles[r].state, why, sizeof why) != 0) {
            snprintf(err, errlen, "role %s: %s", ops->name, why[0] ? why : "failed to start");
            return -1;
        }
    }
    return 0;
}

bm_engine *bm_engine_start(const bm_config *cfg, volatile sig_atomic_t *run, char *err,
                           size_t errlen)
{
    bm_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = *cfg;
    e->run = run;
    pthread_mutex_init(&e->report_lock, NULL);
    bm_camps_init(&e->camps);
    e->lua = (bm_lua_limits){.instructions = cfg->lua_instruction_limit,
                             .memory_kb = cfg->lua_memory_limit_kb,
                             .pattern_max_len = cfg->lua_pattern_max_len,
                             .breaker_failures = cfg->lua_breaker_failures,
                             .breaker_cooldown_ms = cfg->lua_breaker_cooldown_ms,
                             .batch_budget_ms = cfg->lua_batch_budget_ms};
    e->lh = (bm_loader_host){.api = bm_host_api_get(),
                             .host_new = hook_host_new,
                             .host_free = hook_host_free,
                             .adopt = hook_adopt,
                             .release = hook_release,
                             .swapped = hook_swapped,
                             .campaign_pin = hook_campaign_pin,
                             .campaign_unpin = hook_campaign_unpin,
                             .ud = e};
    char copy_dir[1100];
    snprintf(copy_dir, sizeof copy_dir, "%s/modules", cfg->run_dir);
    if (bm_mkdirs(cfg->run_dir) != 0 || bm_mkdirs(copy_dir) != 0) {
        snprintf(err, errlen, "engine.run_dir %s: %s", cfg->run_dir, strerror(errno));
        goto fail;
    }
    if (bm_engine_secure_paths(cfg, copy_dir, err, errlen) != 0)
        goto fail;
    /* Containment before any module is touched: what the last worker crashed in is
     * quarantined, and every call into a module from here on runs under the watchdog. */
    const int deadlines[BM_WD_NKINDS] = {
        cfg->wd_init_ms,     cfg->wd_campaign_ms, cfg->wd_campaign_ms,
        cfg->wd_campaign_ms, cfg->wd_event_ms,    cfg->wd_tick_ms,
        cfg->wd_other_ms,    cfg->wd_other_ms,    cfg->wd_other_ms};
    char state_dir[1100];
    snprintf(state_dir, sizeof state_dir, "%s/containment", cfg->run_dir);
    if (bm_probation_open(state_dir, copy_dir, bm_supervisor_restart_reason()[0] != '\0',
                          cfg->probation_s, err, errlen) != 0 ||
        bm_watchdog_start(bm_probation_crash_path(), deadlines, err, errlen) != 0)
        goto fail;
    bm_wd_set_max_stuck(cfg->wd_max_stuck);
    e->loader =
        bm_loader_new(cfg->modules_dir, copy_dir, &e->lh, cfg->drain_deadline_ms, err, errlen);
    if (!e->loader)
        goto fail;
    if (strcmp(cfg->brokers, "embedded") == 0) {
        char path[1100];
        bm_kafka_bootstrap_path(cfg, path, sizeof path);
        e->broker = bm_broker_start(cfg->embedded_partitions, path, err, errlen);
        if (!e->broker)
            goto fail;
        snprintf(e->bootstrap, sizeof e->bootstrap, "%s", bm_broker_bootstraps(e->broker));
    } else {
        snprintf(e->bootstrap, sizeof e->bootstrap, "%s", cfg->brokers);
    }
    e->pg = bm_pg_connect(cfg->pg_dsn, err, errlen);
    if (!e->pg || bm_pg_check_schema(e->pg, err, errlen) != 0)
        goto fail;
    /* Modules first, then campaigns: campaigns are adopted by the modules of their type. */
    bm_engine_reload(e);
    bm_engine_refresh_campaigns(e);
    if (config_consumer_start(e, err, errlen) != 0)
        goto fail;
    if (start_roles(e, err, errlen) != 0)
        goto fail;
    if (!(e->admin = bm_admin_start(cfg->run_dir, admin_handle, e, err, errlen)) ||
        bm_engine_secure_socket(cfg, err, errlen) != 0)
        goto fail;
    bm_admin_set_direct(e->admin, "query ", bm_engine_admin_query);
    const bm_modset *cur = bm_loader_current(e->loader);
    bm_info("engine", "started roles=%s brokers=%s modules=%zu campaigns=%zu", cfg->roles,
            e->bootstrap, cur ? cur->n : (size_t)0, bm_camps_nslots(&e->camps));
    return e;
fail:
    bm_engine_stop(e);
    return NULL;
}

void bm_engine_request_reload(bm_engine *e)
{
    atomic_store(&e->reload_requested, 1);
}

/* Work that must happen between batches. */
static void boundary(bm_engine *e)
{
    int64_t now = bm_now_ms();
    if (atomic_exchange(&e->reload_requested, 0)) {
        bm_engine_reload(e);
        for (int r = 0; r < BM_NROLES; r++)
            if (e->roles[r].ops && e->roles[r].ops->reload)
                e->roles[r].ops->reload(e->roles[r].state);
    }
    config_consumer_poll(e);
    if (now - e->last_campaign_refresh_ms > 30000)
        config_consumer_fit(e);
    /* A batch that marked campaigns ended also changes what is served. */
    uint64_t ends = atomic_load(&e->stats.ends_committed);
    int ended = ends != e->ends_seen;
    e->ends_seen = ends;
    if (atomic_exchange(&e->campaigns_changed, 0) || ended ||
        now - e->last_campaign_refresh_ms > 30000)
        bm_engine_refresh_campaigns(e);
    bm_loader_lock(e->loader);
    bm_camps_reap(&e->camps);
    bm_loader_unlock(e->loader);
    bm_loader_collect(e->loader);
    if (e->admin)
        bm_admin_serve(e->admin);
    bm_probation_tick(bm_loader_current(e->loader));
}

void bm_engine_run_once(bm_engine *e)
{
    boundary(e);
    int stepped = 0;
    for (int r = 0; r < BM_NROLES; r++) {
        if (e->roles[r].ops && e->roles[r].ops->step) {
            e->roles[r].ops->step(e->roles[r].state);
            stepped = 1;
        }
    }
    if (!stepped)
        usleep(100 * 1000);
}

void bm_engine_stop(bm_engine *e)
{
    if (!e)
        return;
    /* Consumers leave their groups by then, answered or not (core/kafka/close.c). */
    bm_kafka_stop_by(bm_mono_ms() + (int64_t)e->cfg.stop_timeout_ms * 3 / 4);
    bm_admin_stop(e->admin);
    e->admin = NULL;
    for (int r = BM_NROLES - 1; r >= 0; r--) {
        if (e->roles[r].ops)
            e->roles[r].ops->stop(e->roles[r].state);
        e->roles[r].ops = NULL;
        e->roles[r].state = NULL;
    }
    if (e->config_consumer) {
        bm_kafka_consumer_end(e->config_consumer, 2000);
        e->config_consumer = NULL;
    }
    if (bm_wd_stuck() > 0) {
        /* Unloading a module a thread is still stuck in would pull its code from
         * under that thread: leave the modules loaded until the process ends. */
        bm_warn("engine", "%d module calls still stuck past their deadline: modules stay loaded",
                bm_wd_stuck());
    } else {
        bm_camps_free(&e->camps, e->loader ? bm_loader_current(e->loader) : NULL);
        bm_loader_free(e->loader);
    }
    e->loader = NULL;
    bm_watchdog_stop();
    bm_probation_close();
    if (e->pg)
        PQfinish(e->pg);
    e->pg = NULL;
    bm_broker_stop(e->broker);
    e->broker = NULL;
    pthread_mutex_destroy(&e->report_lock);
    free(e);
}
