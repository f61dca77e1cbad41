/* /metrics (Prometheus text format 0.0.4), /readyz, and the per-route counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/gw_ws.h"
#include "host/host.h"
#include "loader/loader.h"
#include "loader/probation.h"
#include "lua/lua_sandbox.h"
#include "pipeline/gap.h"
#include "supervisor/supervisor.h"
#include "watchdog/wd_call.h"

static const char *const k_routes[GW_NROUTES] = {"other",
                                                 "/healthz",
                                                 "/readyz",
                                                 "/metrics",
                                                 "/v1/events",
                                                 "/v1/leaderboards/{id}",
                                                 "/v1/leaderboards/{id}/users/{userId}",
                                                 "/v1/quests/{id}/users/{userId}",
                                                 "/v1/games/{gameId}/users/{userId}/quests",
                                                 "/v1/battlepasses/{id}/users/{userId}",
                                                 "/v1/battlepasses/{id}/users/{userId}/{command}",
                                                 "/v1/games/{gameId}/campaigns",
                                                 "/v1/admin",
                                                 "/v1/communities/{slug}/join",
                                                 "/c/{slug}",
                                                 "/v1/tournaments/{id}",
                                                 "/v1/tournaments/{id}/users/{userId}",
                                                 "/v1/leaderboards/{id}/history",
                                                 "/v1/communities/{slug}"};
/* Upper bounds of the latency buckets, in microseconds. */
static const int64_t k_bounds_us[GW_NBUCKETS] = {250,    500,     1000,    2500,   5000,
                                                 10000,  25000,   50000,   100000, 250000,
                                                 500000, 1000000, 1500000, 2000000};

void gw_metrics_record(bm_gateway *g, int route, int status, int64_t us)
{
    int cls = status / 100;
    if (cls < 1 || cls > 5)
        cls = 5;
    atomic_fetch_add(&g->m.req[route][cls], 1);
    int b = 0;
    while (b < GW_NBUCKETS && us > k_bounds_us[b])
        b++;
    atomic_fetch_add(&g->m.hist[route][b], 1);
    atomic_fetch_add(&g->m.sum_us[route], (uint64_t)us);
}

/* A label value with quote, backslash and newline escaped (Prometheus text format). */
static void label(bm_buf *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            bm_buf_printf(o, "\\%c", *s);
        else if (*s == '\n')
            bm_buf_puts(o, "\\n");
        else
            bm_buf_append(o, s, 1);
    }
}

void gw_metrics_modules(bm_gateway *g)
{
    int64_t now = gw_now_us();
    if (!g->loader || now - g->mods_at_us < 2000000)
        return;
    g->mods_at_us = now;
    bm_buf b = {0};
    const bm_modset *set = bm_loader_current(g->loader);
    static const char *const kinds[3] = {"events", "errors", "skipped"};
    for (int k = 0; k < 3; k++) {
        bm_buf_printf(&b,
                      "# HELP brightmatter_module_%s_total module %s (bmctl modules)\n"
                      "# TYPE brightmatter_module_%s_total counter\n",
                      kinds[k], kinds[k], kinds[k]);
        for (size_t i = 0; set && i < set->n; i++) {
            bm_modinst_counts n = bm_modinst_counters(set->mods[i]);
            uint64_t v = k == 0 ? n.events : k == 1 ? n.errors : n.skipped;
            bm_buf_printf(&b, "brightmatter_module_%s_total{module=\"", kinds[k]);
            label(&b, bm_modinst_name(set->mods[i]));
            bm_buf_printf(&b, "\"} %llu\n", (unsigned long long)v);
        }
    }
    bm_buf_puts(&b, "# HELP brightmatter_module_metric counters modules add with metric_add\n"
                    "# TYPE brightmatter_module_metric gauge\n");
    for (size_t i = 0; set && i < set->n; i++) {
        json_t *m = bm_host_metrics_json(bm_modinst_host(set->mods[i]));
        const char *name;
        json_t *v;
        json_object_foreach(m, name, v)
        {
            bm_buf_puts(&b, "brightmatter_module_metric{module=\"");
            label(&b, bm_modinst_name(set->mods[i]));
            bm_buf_puts(&b, "\",name=\"");
            label(&b, name);
            bm_buf_printf(&b, "\"} %.17g\n", json_number_value(v));
        }
        json_decref(m);
    }
    pthread_mutex_lock(&g->mods_lock);
    bm_buf old = g->mods_text;
    g->mods_text = b;
    pthread_mutex_unlock(&g->mods_lock);
    bm_buf_free(&old);
}

static void counter(bm_buf *o, const char *name, const char *help, uint64_t v)
{
    bm_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                  (unsigned long long)v);
}

static void gauge(bm_buf *o, const char *name, const char *help, long long v)
{
    bm_buf_printf(o, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

/* The containment figures `bmctl status` and `bmctl modules` show (DESIGN: Containment). */
static void containment(bm_buf *o)
{
    counter(o, "brightmatter_worker_restarts_total",
            "worker restarts by the master after a crash or a watchdog abort",
            (uint64_t)bm_supervisor_restarts());
    counter(o, "brightmatter_watchdog_aborts_total",
            "of those restarts, the ones after a watchdog abort or crash handler exit",
            (uint64_t)bm_supervisor_watchdog_aborts());
    gauge(o, "brightmatter_quarantined_generations",
          "module files quarantined after a crash or a hang",
          (long long)bm_probation_quarantined());
    bm_buf_puts(o, "# HELP brightmatter_watchdog_call_timeouts_total calls into modules on other "
                   "threads abandoned past their deadline\n"
                   "# TYPE brightmatter_watchdog_call_timeouts_total counter\n");
    bm_buf_printf(o, "brightmatter_watchdog_call_timeouts_total{callback=\"query\"} %llu\n",
                  (unsigned long long)bm_wd_timeouts(BM_WD_QUERY));
    bm_buf_printf(o, "brightmatter_watchdog_call_timeouts_total{callback=\"on_reward\"} %llu\n",
                  (unsigned long long)bm_wd_timeouts(BM_WD_REWARD));
    gauge(o, "brightmatter_watchdog_calls_stuck",
          "abandoned calls still running in a module (watchdog.max_stuck restarts the worker)",
          bm_wd_stuck());
    long long trips = 0, skipped = 0, suspended = 0;
    json_t *fs = bm_lua_formulas_json();
    size_t i;
    json_t *f;
    json_array_foreach(fs, i, f)
    {
        trips += json_integer_value(json_object_get(f, "breakerTrips"));
        skipped += json_integer_value(json_object_get(f, "skippedByBreaker"));
        const char *st = json_string_value(json_object_get(f, "state"));
        suspended += st && strcmp(st, "suspended") == 0;
    }
    json_decref(fs);
    counter(o, "brightmatter_formula_breaker_suspensions_total",
            "times a formula's circuit breaker suspended it", (uint64_t)trips);
    counter(o, "brightmatter_formula_breaker_skipped_total",
            "events a suspended formula was not evaluated for", (uint64_t)skipped);
    gauge(o, "brightmatter_formulas_suspended", "formulas suspended right now", suspended);
    json_t *gaps = bm_gap_json();
    counter(o, "brightmatter_gaps_total",
            "offset ranges the broker deleted before they were applied",
            (uint64_t)json_integer_value(json_object_get(gaps, "gaps")));
    counter(o, "brightmatter_gap_events_lost_total", "events in those ranges",
            (uint64_t)json_integer_value(json_object_get(gaps, "eventsLost")));
    gauge(o, "brightmatter_gap_partitions_stopped",
          "partitions stopped at a gap until bmctl gap ack (pipeline.on_gap = stop)",
          (long long)json_array_size(json_object_get(gaps, "stoppedPartitions")));
    json_decref(gaps);
}

/* Consumer lag per partition (broker high watermark - committed next_offset in
 * PostgreSQL) and the outbox rows the relay has not published yet. */
static void lag_and_backlog(bm_gateway *g, bm_buf *o)
{
    PGconn *c = gw_pool_get(&g->pool, 500);
    if (!c)
        return;
    const char *p[2] = {g->cfg.group_id, g->cfg.events_topic};
    PGresult *res = PQexecParams(c,
                                 "SELECT partition, next_offset FROM consumer_offsets WHERE "
                                 "group_id = $1 AND topic = $2 ORDER BY partition",
                                 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
        bm_buf_puts(o, "# HELP brightmatter_consumer_lag messages of game.events not yet "
                       "committed, per partition\n# TYPE brightmatter_consumer_lag gauge\n");
        for (int i = 0; i < PQntuples(res); i++) {
            int part = atoi(PQgetvalue(res, i, 0));
            long long next = atoll(PQgetvalue(res, i, 1));
            int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(g->producer, g->cfg.events_topic, part, &lo, &hi,
                                                 500) != RD_KAFKA_RESP_ERR_NO_ERROR)
                continue;
            bm_buf_printf(o, "brightmatter_consumer_lag{partition=\"%d\"} %lld\n", part,
                          (long long)hi > next ? (long long)hi - next : 0);
        }
    }
    PQclear(res);
    res =
        PQexec(c, "SELECT COALESCE(sum(message_count), 0) FROM outbox WHERE published_at IS NULL");
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        bm_buf_printf(o,
                      "# HELP brightmatter_relay_backlog outbox messages not yet published\n"
                      "# TYPE brightmatter_relay_backlog gauge\nbrightmatter_relay_backlog %s\n",
                      PQgetvalue(res, 0, 0));
    PQclear(res);
    gw_pool_put(&g->pool, c);
}

void gw_metrics_text(gw_req *r)
{
    bm_gateway *g = r->g;
    bm_stats *st = g->stats;
    bm_buf *o = &r->out;
    bm_buf_reset(o);
    counter(o, "brightmatter_events_consumed_total", "events read from game.events",
            atomic_load(&st->events));
    counter(o, "brightmatter_events_applied_total", "events applied and committed",
            atomic_load(&st->applied));
    counter(o, "brightmatter_events_duplicate_total", "events dropped as already applied",
            atomic_load(&st->duplicates));
    counter(o, "brightmatter_events_rejected_total", "events sent to the DLQ",
            atomic_load(&st->rejected));
    counter(o, "brightmatter_batches_total", "batches committed", atomic_load(&st->batches));
    counter(o, "brightmatter_commits_failed_total", "batch transactions that failed",
            atomic_load(&st->commits_failed));
    counter(o, "brightmatter_outbox_published_total", "outbox messages the relay published",
            atomic_load(&st->outbox_published));
    /* Event-to-commit latency: the engine keeps log2 buckets of milliseconds. */
    bm_buf_puts(o, "# HELP brightmatter_commit_latency_ms event time to batch commit\n"
                   "# TYPE brightmatter_commit_latency_ms histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < 32; i++) {
        cum += atomic_load(&st->latency_hist[i]);
        if (i < 31)
            bm_buf_printf(o, "brightmatter_commit_latency_ms_bucket{le=\"%llu\"} %llu\n",
                          (unsigned long long)(1ULL << i), (unsigned long long)cum);
    }
    bm_buf_printf(o, "brightmatter_commit_latency_ms_bucket{le=\"+Inf\"} %llu\n",
                  (unsigned long long)cum);
    bm_buf_printf(o, "brightmatter_commit_latency_ms_count %llu\n", (unsigned long long)cum);
    bm_buf_puts(o, "# HELP brightmatter_partitions_owned partitions of game.events owned\n"
                   "# TYPE brightmatter_partitions_owned gauge\n");
    bm_buf_printf(o, "brightmatter_partitions_owned %d\n", atomic_load(&st->partitions_owned));
    bm_ws_metrics(g->ws, o);

    bm_buf_puts(o, "# HELP brightmatter_http_requests_total HTTP requests by route and status "
                   "class\n# TYPE brightmatter_http_requests_total counter\n");
    for (int rt = 0; rt < GW_NROUTES; rt++)
        for (int c = 1; c <= 5; c++) {
            uint64_t v = atomic_load(&g->m.req[rt][c]);
            if (v)
                bm_buf_printf(o,
                              "brightmatter_http_requests_total{route=\"%s\",status=\"%dxx\"} "
                              "%llu\n",
                              k_routes[rt], c, (unsigned long long)v);
        }
    bm_buf_puts(o, "# HELP brightmatter_http_request_seconds HTTP latency by route\n"
                   "# TYPE brightmatter_http_request_seconds histogram\n");
    for (int rt = 0; rt < GW_NROUTES; rt++) {
        uint64_t total = 0;
        for (int b = 0; b <= GW_NBUCKETS; b++)
            total += atomic_load(&g->m.hist[rt][b]);
        if (!total)
            continue;
        cum = 0;
        for (int b = 0; b < GW_NBUCKETS; b++) {
            cum += atomic_load(&g->m.hist[rt][b]);
            bm_buf_printf(o,
                          "brightmatter_http_request_seconds_bucket{route=\"%s\",le=\"%g\"} "
                          "%llu\n",
                          k_routes[rt], (double)k_bounds_us[b] / 1e6, (unsigned long long)cum);
        }
        bm_buf_printf(o,
                      "brightmatter_http_request_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                      "brightmatter_http_request_seconds_sum{route=\"%s\"} %g\n"
                      "brightmatter_http_request_seconds_count{route=\"%s\"} %llu\n",
                      k_routes[rt], (unsigned long long)total, k_routes[rt],
                      (double)atomic_load(&g->m.sum_us[rt]) / 1e6, k_routes[rt],
                      (unsigned long long)total);
    }
    containment(o);
    lag_and_backlog(g, o);
    pthread_mutex_lock(&g->mods_lock);
    if (g->mods_text.len)
        bm_buf_append(o, g->mods_text.p, g->mods_text.len);
    pthread_mutex_unlock(&g->mods_lock);
    counter(o, "brightmatter_http_rate_limited_total", "requests refused with 429",
            atomic_load(&g->m.rate_limited));
    counter(o, "brightmatter_http_events_accepted_total", "events acknowledged by the broker",
            atomic_load(&g->m.events_accepted));
    counter(o, "brightmatter_http_events_invalid_total", "events refused by validation",
            atomic_load(&g->m.events_invalid));
    counter(o, "brightmatter_http_produce_failures_total", "bodies answered 503 (broker)",
            atomic_load(&g->m.produce_timeouts));
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4";
}

void gw_readyz(gw_req *r)
{
    bm_gateway *g = r->g;
    int db = 0, broker = 0, owned = 0;
    PGconn *c = gw_pool_get(&g->pool, 1000);
    if (c) {
        PGresult *res = PQexec(c, "SELECT 1");
        db = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        gw_pool_put(&g->pool, c);
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(g->producer, g->cfg.events_topic, NULL);
    if (t && rd_kafka_metadata(g->producer, 0, t, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        broker = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_metadata_destroy(md);
    }
    if (t)
        rd_kafka_topic_destroy(t);
    int processor = bm_config_has_role(&g->cfg, BM_ROLE_PROCESSOR);
    owned = atomic_load(&g->stats->partitions_owned);
    int ready = db && broker && (!processor || owned > 0);
    json_t *j = json_pack("{s:s, s:b, s:b, s:i}", "status", ready ? "ready" : "not_ready",
                          "database", db, "broker", broker, "partitionsOwned", owned);
    gw_json(r, ready ? 200 : 503, j);
}
