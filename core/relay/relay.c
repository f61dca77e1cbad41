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

#include <jansson.h>

#include "cmdauth/cmdauth.h"
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
    char events_topic[128]; /* rows for it are events forwarded to their owner */
    bm_cmdauth keys;        /* a forwarded command is signed again (it was verified) */
} bm_relay;

/* What happened to the messages of one outbox row in the current round. */
typedef struct row_out {
    rd_kafka_resp_err_t err; /* first failure, or NO_ERROR */
    int line;                /* its line */
} row_out;

/* A refusal that retrying cannot cure: the row is parked, the rest goes on. */
static int permanent(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
        return 1;
    default:
        return 0;
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    row_out *o = m->_private;
    if (m->err && o && o->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        o->err = m->err;
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

/* The processor forwards a command only after verifying its signature, and
 * the forwarded bytes may differ (line breaks): sign them again. */
static void sign_forwarded(bm_relay *r, rd_kafka_headers_t *h, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    if (j && bm_cmdauth_is_command(json_string_value(json_object_get(j, "eventType")))) {
        char sig[BM_CMDAUTH_SIG_SIZE];
        bm_cmdauth_sign(&r->keys, json, strlen(json), sig);
        rd_kafka_header_add(h, BM_CMDAUTH_HEADER, -1, sig, -1);
    }
    json_decref(j);
}

/* Queues every message of one row; a refusal at produce time is noted in *o
 * and ends the row. Returns the messages queued. */
static int publish_row(bm_relay *r, const char *id, const char *topic, char *payload, row_out *o)
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
            rd_kafka_headers_t *h = rd_kafka_headers_new(2);
            rd_kafka_header_add(h, "event_id", -1, eid, -1);
            if (strcmp(topic, r->events_topic) == 0)
                sign_forwarded(r, h, json);
            rd_kafka_resp_err_t rc = rd_kafka_producev(
                r->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(l, strlen(l)),
                RD_KAFKA_V_VALUE((void *)json, strlen(json)), RD_KAFKA_V_HEADERS(h),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(o), RD_KAFKA_V_END);
            if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
                rd_kafka_headers_destroy(h);
            if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                o->err = rc;
                o->line = line;
                return line;
            }
            rd_kafka_poll(r->producer, 50);
        }
    }
    return line;
}

/* Parks row `id`: the broker refused one of its messages for good. */
static int park(bm_relay *r, PGconn *pg, const char *id, const char *topic, const row_out *o)
{
    char why[300];
    snprintf(why, sizeof why, "line %d: %s", o->line, rd_kafka_err2str(o->err));
    bm_error("relay", "outbox row %s parked topic=%s error=\"%s\" (bmctl outbox retry|drop %s)", id,
             topic, why, id);
    const char *p[2] = {id, why};
    PGresult *res = PQexecParams(pg,
                                 "UPDATE outbox SET parked_at = now(), park_error = $2, "
                                 "leased_until = NULL WHERE id = $1::bigint",
                                 2, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        bm_error("relay", "park: %s", PQerrorMessage(pg));
    PQclear(res);
    if (ok)
        atomic_fetch_add(&r->stats->outbox_parked, 1);
    return ok ? 0 : -1;
}

/* One round: lease up to 64 rows, publish, wait for delivery, then mark each
 * row published or parked. Rows settled, or -1. The lease is its own short
 * transaction: no row lock is held while the broker is waited for. */
static int relay_round(bm_relay *r, PGconn *pg)
{
    /* clang-format off */
    PGresult *res = PQexec(pg,
        "UPDATE outbox o SET leased_until = now() + interval '" BM_RELAY_LEASE_S " seconds' "
        "FROM (SELECT id FROM outbox "
        "      WHERE published_at IS NULL AND parked_at IS NULL "
        "      AND (leased_until IS NULL OR leased_until < now()) "
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
    /* RETURNING gives no order: publish in id order, so per key order holds. */
    int order[64];
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && strtoll(PQgetvalue(res, order[k], 0), NULL, 10) <
                                     strtoll(PQgetvalue(res, order[k - 1], 0), NULL, 10);
             k--) {
            int t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    row_out out[64];
    long msgs[64];
    memset(out, 0, sizeof out);
    memset(msgs, 0, sizeof msgs);
    int ok = 1;
    for (int k = 0; k < n && ok; k++) {
        int i = order[k];
        char *payload = strdup(PQgetvalue(res, i, 2));
        if (!payload) {
            ok = 0;
            break;
        }
        msgs[i] = publish_row(r, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), payload, &out[i]);
        free(payload);
    }
    if (ok && rd_kafka_flush(r->producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        ok = 0;
    /* A transient failure anywhere sends the round again when its lease runs out
     * (in order); a permanent one parks its row and the rest is published. */
    long messages = 0;
    bm_buf ids = {0};
    bm_buf_puts(&ids, "{");
    int marked = 0;
    for (int i = 0; i < n; i++) {
        if (out[i].err && !permanent(out[i].err))
            ok = 0;
        if (out[i].err && permanent(out[i].err)) {
            if (park(r, pg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), &out[i]) != 0)
                ok = 0;
            continue;
        }
        bm_buf_printf(&ids, "%s%s", marked ? "," : "", PQgetvalue(res, i, 0));
        marked++;
        messages += msgs[i];
    }
    bm_buf_puts(&ids, "}");
    PQclear(res);
    if (!ok || ids.oom) {
        bm_warn("relay", "round not delivered, will publish again");
        bm_buf_free(&ids);
        return -1;
    }
    int done = 1;
    if (marked) {
        const char *p[1] = {bm_buf_cstr(&ids)};
        res = PQexecParams(pg,
                           "UPDATE outbox SET published_at = now(), leased_until = NULL "
                           "WHERE id = ANY($1::bigint[])",
                           1, NULL, p, NULL, NULL, 0);
        done = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!done)
            bm_error("relay", "mark published: %s", PQerrorMessage(pg));
        PQclear(res);
    }
    bm_buf_free(&ids);
    if (done)
        atomic_fetch_add(&r->stats->outbox_published, (uint64_t)messages);
    return done ? n : -1;
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
    snprintf(r->events_topic, sizeof r->events_topic, "%s", cfg->events_topic);
    if (bm_cmdauth_load(&r->keys, cfg, 1, err, errlen) != 0) {
        free(r);
        return -1;
    }
    r->stats = env->stats;
    char sock[16];
    snprintf(sock, sizeof sock, "%d", cfg->socket_timeout_ms);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        rd_kafka_conf_set(conf, "linger.ms", "10", err, errlen) ||
        /* forwarded events reach their userId's partition */
        rd_kafka_conf_set(conf, "partitioner", bm_kafka_partitioner_property(cfg->partitioner), err,
                          errlen) ||
        rd_kafka_conf_set(conf, "compression.codec", "lz4", err, errlen) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, errlen) ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", sock, err, errlen) ||
        bm_kafka_conf_props(conf, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        free(r);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
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
    bm_cmdauth_clear(&r->keys);
    free(r);
}

const bm_role_ops bm_relay_role = {
    .name = "relay",
    .start = relay_start,
    .step = NULL,
    .stop = relay_stop,
};
