/* /metrics (Prometheus text format 0.0.4), /readyz, and the per-route counters. */
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "gateway/gw.h"
#include "ws/ws.h"

static const char *const k_routes[GW_NROUTES] = {"other",
                                                 "/healthz",
                                                 "/readyz",
                                                 "/metrics",
                                                 "/v1/events",
                                                 "/v1/leaderboards/{id}",
                                                 "/v1/leaderboards/{id}/users/{userId}",
                                                 "/v1/quests",
                                                 "/v1/games/{gameId}/users/{userId}/quests",
                                                 "/v1/battlepasses",
                                                 "/v1/battlepasses/{id}/users/{userId}/{command}",
                                                 "/v1/games/{gameId}/campaigns",
                                                 "/v1/admin"};
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

static void counter(bm_buf *o, const char *name, const char *help, uint64_t v)
{
    bm_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                  (unsigned long long)v);
}

void gw_metrics_text(gw_req *r)
{
    bm_gateway *g = r->g;
    bm_engine_stats *st = &g->e->stats;
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
    int owned = 0;
    for (int p = 0; p < g->e->npart_seen && p < BM_MAX_PARTITIONS; p++)
        owned += g->e->parts[p].owned != 0;
    bm_buf_printf(o, "brightmatter_partitions_owned %d\n", owned);
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
    int processor = strstr(g->cfg.roles, "processor") != NULL;
    for (int p = 0; p < g->e->npart_seen && p < BM_MAX_PARTITIONS; p++)
        owned += g->e->parts[p].owned != 0;
    int ready = db && broker && (!processor || owned > 0);
    json_t *j = json_pack("{s:s, s:b, s:b, s:i}", "status", ready ? "ready" : "not_ready",
                          "database", db, "broker", broker, "partitionsOwned", owned);
    gw_json(r, ready ? 200 : 503, j);
}
