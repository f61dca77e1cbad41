/* Engine lifecycle and the work done at batch boundaries. */
#include "engine/engine.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "host/host.h"
#include "loader/probation.h"
#include "log/log.h"
#include "pg/pg.h"
#include "supervisor/supervisor.h"
#include "watchdog/watchdog.h"

int64_t bm_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* --- loader hooks ------------------------------------------------------------- */

static bm_host *hook_host_new(void *ud, const char *name)
{
    bm_engine *e = ud;
    return bm_host_new(name, &e->lua);
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
    if (bm_loader_scan(e->cfg.modules_dir, e->copy_dir, e->mods, &e->lh, &res) != 0) {
        bm_error("loader", "cannot scan modules_dir=%s", e->cfg.modules_dir);
        set_report(e, res.report[0] ? res.report : "scan failed: modules directory unreadable");
        return;
    }
    set_report(e, res.report);
    if (!res.set) {
        bm_info("loader", "reload: nothing changed (generation %d)",
                e->mods ? e->mods->generation : 0);
        return;
    }
    /* The swap: we are between batches on the processing thread, so no event is
     * in flight in any module. */
    bm_modset *old = e->mods;
    e->mods = res.set;
    bm_camps_switch(&e->camps, e->mods);
    for (size_t i = 0; i < res.nretired; i++)
        bm_loader_close(res.retired[i], &e->lh);
    free(res.retired);
    bm_modset_free(old);
    /* Campaigns that waited for a module of their type may be served now. */
    bm_engine_refresh_campaigns(e);
    bm_info("loader", "generation=%d active: loaded=%d kept=%d refused=%d removed=%d",
            e->mods->generation, res.loaded, res.kept, res.refused, res.removed);
}

void bm_engine_refresh_campaigns(bm_engine *e)
{
    bm_camp_row *rows;
    size_t n;
    char err[512];
    if (bm_camps_fetch(e->pg, &rows, &n, err, sizeof err) != 0) {
        bm_error("campaign", "refresh failed: %s", err);
        return;
    }
    int changes = bm_camps_sync(&e->camps, rows, n, e->mods);
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
        rd_kafka_conf_set(conf, "log_level", "3", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    e->config_consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!e->config_consumer) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* conf is now owned by config_consumer. Start at the end: the table is the
     * truth, the topic only says "look again". */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(3);
    for (size_t i = 0; i < bm_ntopics; i++)
        if (strcmp(bm_topics[i].name, BM_TOPIC_CONFIG_CAMPAIGNS) == 0)
            for (int p = 0; p < bm_topics[i].partitions; p++)
                rd_kafka_topic_partition_list_add(l, BM_TOPIC_CONFIG_CAMPAIGNS, p)->offset =
                    RD_KAFKA_OFFSET_END;
    rd_kafka_assign(e->config_consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
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

/* --- lifecycle ------------------------------------------------------------------ */

int bm_engine_start(bm_engine *e, const bm_config *cfg, volatile sig_atomic_t *run, char *err,
                    size_t errlen)
{
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    e->run = run;
    pthread_mutex_init(&e->report_lock, NULL);
    bm_camps_init(&e->camps);
    bm_state_cache_init(&e->cache);
    e->lua = (bm_lua_limits){.instructions = cfg->lua_instruction_limit,
                             .memory_kb = cfg->lua_memory_limit_kb,
                             .pattern_max_len = cfg->lua_pattern_max_len};
    e->lh = (bm_loader_host){.api = bm_host_api_get(),
                             .host_new = hook_host_new,
                             .host_free = hook_host_free,
                             .adopt = hook_adopt,
                             .release = hook_release,
                             .ud = e};
    snprintf(e->copy_dir, sizeof e->copy_dir, "%s/modules", cfg->run_dir);
    if (make_dirs(cfg->run_dir) != 0 || make_dirs(e->copy_dir) != 0) {
        snprintf(err, errlen, "engine.run_dir %s: %s", cfg->run_dir, strerror(errno));
        return -1;
    }
    /* Containment before any module is touched: what the last worker crashed in is
     * quarantined, and every call into a module from here on runs under the watchdog. */
    const int deadlines[BM_WD_NKINDS] = {
        cfg->wd_init_ms,  cfg->wd_campaign_ms, cfg->wd_campaign_ms, cfg->wd_campaign_ms,
        cfg->wd_event_ms, cfg->wd_tick_ms,     cfg->wd_other_ms,    cfg->wd_other_ms,
        cfg->wd_other_ms};
    char state_dir[1100];
    snprintf(state_dir, sizeof state_dir, "%s/containment", cfg->run_dir);
    if (bm_probation_open(state_dir, e->copy_dir, bm_supervisor_restart_reason()[0] != '\0',
                          cfg->probation_s, err, errlen) != 0 ||
        bm_watchdog_start(bm_probation_crash_path(), deadlines, err, errlen) != 0)
        return -1;
    if (strcmp(cfg->brokers, "embedded") == 0) {
        char path[1100];
        bm_kafka_bootstrap_path(cfg, path, sizeof path);
        e->broker = bm_broker_start(cfg->embedded_partitions, path, err, errlen);
        if (!e->broker)
            return -1;
        snprintf(e->bootstrap, sizeof e->bootstrap, "%s", bm_broker_bootstraps(e->broker));
    } else {
        snprintf(e->bootstrap, sizeof e->bootstrap, "%s", cfg->brokers);
    }
    e->pg = bm_pg_connect(cfg->pg_dsn, err, errlen);
    if (!e->pg)
        return -1;
    /* Modules first, then campaigns: campaigns are adopted by the modules of their type. */
    bm_engine_reload(e);
    bm_engine_refresh_campaigns(e);
    if (config_consumer_start(e, err, errlen) != 0)
        return -1;
    if (strstr(cfg->roles, "processor") && bm_pipeline_start(e, err, errlen) != 0)
        return -1;
    if (strstr(cfg->roles, "relay") &&
        !(e->relay = bm_relay_start(cfg, e->bootstrap, &e->stats, err, errlen)))
        return -1;
    if (!(e->admin = bm_admin_start(e, err, errlen)))
        return -1;
    bm_info("engine", "started roles=%s brokers=%s modules=%zu campaigns=%zu", cfg->roles,
            e->bootstrap, e->mods ? e->mods->n : (size_t)0, e->camps.nslots);
    return 0;
}

/* Work that must happen between batches. */
static void boundary(bm_engine *e)
{
    int64_t now = bm_now_ms();
    if (atomic_exchange(&e->reload_requested, 0))
        bm_engine_reload(e);
    config_consumer_poll(e);
    if (atomic_exchange(&e->campaigns_changed, 0) || now - e->last_campaign_refresh_ms > 30000)
        bm_engine_refresh_campaigns(e);
    if (now - e->last_prune_ms > 60000) {
        uint32_t oldest = (uint32_t)(now / 1000 - e->cfg.dedup_window_s);
        for (int p = 0; p < e->npart_seen; p++)
            bm_dedup_prune(&e->parts[p].dedup, oldest);
        char win[16];
        snprintf(win, sizeof win, "%d", e->cfg.dedup_window_s);
        const char *p[1] = {win};
        PQclear(PQexecParams(e->pg,
                             "DELETE FROM event_dedup WHERE created_at < now() - "
                             "make_interval(secs => $1)",
                             1, NULL, p, NULL, NULL, 0));
        e->last_prune_ms = now;
    }
    if (e->admin)
        bm_admin_serve(e->admin);
    bm_probation_tick(e->mods);
}

void bm_engine_run_once(bm_engine *e)
{
    boundary(e);
    if (e->consumer)
        bm_pipeline_step(e);
    else
        usleep(100 * 1000);
}

void bm_engine_stop(bm_engine *e)
{
    bm_admin_stop(e->admin);
    e->admin = NULL;
    bm_relay_stop(e->relay);
    e->relay = NULL;
    bm_pipeline_stop(e);
    bm_pipeline_free_run();
    if (e->config_consumer) {
        rd_kafka_consumer_close(e->config_consumer);
        rd_kafka_destroy(e->config_consumer);
        e->config_consumer = NULL;
    }
    bm_camps_free(&e->camps, e->mods);
    if (e->mods) {
        for (size_t i = 0; i < e->mods->n; i++)
            bm_loader_close(e->mods->mods[i], &e->lh);
        bm_modset_free(e->mods);
        e->mods = NULL;
    }
    bm_watchdog_stop();
    bm_probation_close();
    bm_state_cache_free(&e->cache);
    if (e->pg)
        PQfinish(e->pg);
    e->pg = NULL;
    bm_broker_stop(e->broker);
    e->broker = NULL;
    pthread_mutex_destroy(&e->report_lock);
}

char *bm_engine_modules_json(bm_engine *e)
{
    json_t *root = json_object();
    json_t *mods = json_array();
    for (size_t i = 0; e->mods && i < e->mods->n; i++) {
        bm_modinst *mi = e->mods->mods[i];
        size_t ncamps = 0;
        for (size_t s = 0; s < e->camps.nslots; s++)
            if (e->camps.by_slot[s] && e->camps.by_slot[s]->mi == mi)
                ncamps++;
        json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:I, s:I}", "name",
                              mi->name, "version", mi->m->version, "kind",
                              mi->m->kind == BM_KIND_CAMPAIGN ? "campaign" : "reward", "serves",
                              mi->m->serves, "generation", mi->generation, "file", mi->src_path,
                              "campaigns", (json_int_t)ncamps, "events", (json_int_t)mi->events,
                              "errors", (json_int_t)mi->errors, "skipped", (json_int_t)mi->skipped);
        json_object_set_new(m, "metrics", bm_host_metrics_json(mi->host));
        json_array_append_new(mods, m);
    }
    json_object_set_new(root, "generation", json_integer(e->mods ? e->mods->generation : 0));
    json_object_set_new(root, "modules", mods);
    json_t *camps = json_array();
    for (size_t s = 0; s < e->camps.nslots; s++) {
        bm_camp *c = e->camps.by_slot[s];
        if (!c)
            continue;
        json_array_append_new(
            camps, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "id", c->row.id, "type",
                             c->row.type, "name", c->row.name, "module", c->mi ? c->mi->name : "",
                             "events", (json_int_t)c->events, "errors", (json_int_t)c->errors,
                             "skipped", (json_int_t)c->skipped, "refused", c->refused));
    }
    json_object_set_new(root, "campaigns", camps);
    json_t *st = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "batches",
                           (json_int_t)atomic_load(&e->stats.batches), "events",
                           (json_int_t)atomic_load(&e->stats.events), "applied",
                           (json_int_t)atomic_load(&e->stats.applied), "rejected",
                           (json_int_t)atomic_load(&e->stats.rejected), "duplicates",
                           (json_int_t)atomic_load(&e->stats.duplicates), "commitsFailed",
                           (json_int_t)atomic_load(&e->stats.commits_failed), "fenceLost",
                           (json_int_t)atomic_load(&e->stats.fence_lost), "outboxPublished",
                           (json_int_t)atomic_load(&e->stats.outbox_published));
    json_object_set_new(st, "latencyP50Ms", json_real(bm_stats_latency_pct(&e->stats, 50)));
    json_object_set_new(st, "latencyP99Ms", json_real(bm_stats_latency_pct(&e->stats, 99)));
    json_object_set_new(root, "stats", st);
    json_t *ct = bm_probation_json();
    json_object_set_new(ct, "restarts", json_integer(bm_supervisor_restarts()));
    json_object_set_new(ct, "lastRestartReason", json_string(bm_supervisor_restart_reason()));
    json_object_set_new(root, "containment", ct);
    pthread_mutex_lock(&e->report_lock);
    json_object_set_new(root, "lastReload", json_string(e->report));
    pthread_mutex_unlock(&e->report_lock);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}
