/*
 * Outbox relay: publishes outbox rows written by batch transactions, then
 * marks them published. At-least-once by construction (a crash between
 * produce and mark publishes again), so every message carries an `event_id`
 * header ("<outbox id>:<line>") for consumers to dedupe on. Rows are leased
 * (outbox.leased_until, taken with FOR UPDATE SKIP LOCKED in a short
 * transaction) so several relays never publish the same row at the same
 * time, and no row lock is held while the broker is waited for.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka/kafka.h"
#include "log/log.h"
#include "pg/pg.h"
#include "relay/relay.h"
#include "util/buf.h"
#include "util/clock.h"

/* How long a leased round may take before another relay takes its rows over. */
#define BM_RELAY_LEASE_S "60"

typedef struct bm_relay {
    pthread_t thread;
    atomic_int run;
    char dsn[1024];
    rd_kafka_t *producer;
    bm_stats *stats;
    atomic_int failed; /* delivery failures in the current round */
} bm_relay;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    bm_relay *r = opaque;
    if (m->err)
        atomic_fetch_add(&r->failed, 1);
}

/* Unescapes a COPY-style key in place (\\t, \\n, \\r, \\\\). */
static void unescape_key(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
}

static int publish_row(bm_relay *r, const char *id, const char *topic, char *payload)
{
    int line = 0;
    char *save = NULL;
    for (char *l = strtok_r(payload, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
        char *tab = strchr(l, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        unescape_key(l);
        const char *json = tab + 1;
        char eid[64];
        snprintf(eid, sizeof eid, "%s:%d", id, line);
        for (;;) {
            rd_kafka_resp_err_t rc = rd_kafka_producev(
                r->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(l, strlen(l)),
                RD_KAFKA_V_VALUE((void *)json, strlen(json)),
                RD_KAFKA_V_HEADER("event_id", eid, (ssize_t)strlen(eid)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                bm_error("relay", "produce topic=%s: %s", topic, rd_kafka_err2str(rc));
                return -1;
            }
            rd_kafka_poll(r->producer, 50);
        }
    }
    return line;
}

/* One round: lease up to 64 rows, publish, wait for delivery, mark. Rows
 * published, or -1. The lease is its own short transaction: no row lock is
 * held while the broker is waited for. */
static int relay_round(bm_relay *r, PGconn *pg)
{
    /* clang-format off */
    PGresult *res = PQexec(pg,
        "UPDATE outbox o SET leased_until = now() + interval '" BM_RELAY_LEASE_S " seconds' "
        "FROM (SELECT id FROM outbox "
        "      WHERE published_at IS NULL AND (leased_until IS NULL OR leased_until < now()) "
        "      ORDER BY id LIMIT 64 FOR UPDATE SKIP LOCKED) c "
        "WHERE o.id = c.id "
        "RETURNING o.id, o.topic, o.payload");
    /* clang-format on */
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        bm_error("relay", "lease: %s", PQerrorMessage(pg));
        PQclear(res);
        return -1;
    }
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return 0;
    }
    atomic_store(&r->failed, 0);
    int ok = 1;
    long messages = 0;
    bm_buf ids = {0};
    bm_buf_puts(&ids, "{");
    for (int i = 0; i < n && ok; i++) {
        char *payload = strdup(PQgetvalue(res, i, 2));
        int m =
            payload ? publish_row(r, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), payload) : -1;
        free(payload);
        if (m < 0)
            ok = 0;
        else
            messages += m;
        bm_buf_printf(&ids, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
    }
    bm_buf_puts(&ids, "}");
    PQclear(res);
    if (ok && rd_kafka_flush(r->producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        ok = 0;
    if (atomic_load(&r->failed) || ids.oom)
        ok = 0;
    if (!ok) {
        /* The lease runs out and the rows are published again. */
        bm_warn("relay", "round not delivered, will publish again");
        bm_buf_free(&ids);
        return -1;
    }
    const char *p[1] = {bm_buf_cstr(&ids)};
    res = PQexecParams(pg,
                       "UPDATE outbox SET published_at = now(), leased_until = NULL "
                       "WHERE id = ANY($1::bigint[])",
                       1, NULL, p, NULL, NULL, 0);
    int marked = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!marked)
        bm_error("relay", "mark published: %s", PQerrorMessage(pg));
    PQclear(res);
    bm_buf_free(&ids);
    if (marked)
        atomic_fetch_add(&r->stats->outbox_published, (uint64_t)messages);
    return marked ? n : -1;
}

static void *relay_main(void *arg)
{
    bm_relay *r = arg;
    PGconn *pg = NULL;
    int64_t last_gc = 0;
    while (atomic_load(&r->run)) {
        if (!pg || PQstatus(pg) != CONNECTION_OK) {
            char err[256];
            if (pg)
                PQfinish(pg);
            pg = bm_pg_connect(r->dsn, err, sizeof err);
            if (!pg) {
                usleep(500 * 1000);
                continue;
            }
        }
        int n = relay_round(r, pg);
        rd_kafka_poll(r->producer, 0);
        int64_t now = bm_now_ms();
        if (now - last_gc > 60000) {
            /* Published rows are kept an hour for inspection, then dropped. */
            PQclear(
                PQexec(pg, "DELETE FROM outbox WHERE published_at < now() - interval '1 hour'"));
            last_gc = now;
        }
        if (n <= 0)
            usleep(n < 0 ? 200 * 1000 : 20 * 1000);
    }
    if (pg)
        PQfinish(pg);
    return NULL;
}

static int relay_start(const bm_role_env *env, void **state, char *err, size_t errlen)
{
    const bm_config *cfg = env->cfg;
    const char *bootstrap = env->bootstrap;
    bm_relay *r = calloc(1, sizeof *r);
    *state = NULL;
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(r->dsn, sizeof r->dsn, "%s", cfg->pg_dsn);
    r->stats = env->stats;
    char sock[16];
    snprintf(sock, sizeof sock, "%d", cfg->socket_timeout_ms);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        rd_kafka_conf_set(conf, "linger.ms", "10", err, errlen) ||
        rd_kafka_conf_set(conf, "compression.codec", "lz4", err, errlen) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, errlen) ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", sock, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        free(r);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    rd_kafka_conf_set_opaque(conf, r);
    r->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!r->producer) {
        rd_kafka_conf_destroy(conf);
        free(r);
        return -1;
    }
    /* conf is now owned by the producer. */
    atomic_store(&r->run, 1);
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        snprintf(err, errlen, "relay: cannot start its thread");
        rd_kafka_destroy(r->producer);
        free(r);
        return -1;
    }
    bm_info("relay", "outbox relay started");
    *state = r;
    return 0;
}

static void relay_stop(void *state)
{
    bm_relay *r = state;
    if (!r)
        return;
    atomic_store(&r->run, 0);
    pthread_join(r->thread, NULL);
    rd_kafka_flush(r->producer, 5000);
    rd_kafka_destroy(r->producer);
    free(r);
}

const bm_role_ops bm_relay_role = {
    .name = "relay",
    .start = relay_start,
    .step = NULL,
    .stop = relay_stop,
};
