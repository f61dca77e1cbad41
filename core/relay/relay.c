/*
 * Outbox relay: publishes outbox rows written by batch transactions, then
 * marks them published. At-least-once by construction (a crash between
 * produce and mark publishes again), so every message carries an `event_id`
 * header ("<outbox id>:<line>") for consumers to dedupe on. Rows are claimed
 * with FOR UPDATE SKIP LOCKED so several relays never publish the same row at
 * the same time.
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
#include "util/clock.h"

typedef struct bm_relay {
    pthread_t thread;
    atomic_int run;
    char dsn[1024];
    rd_kafka_t *producer;
    bm_stats *stats;
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
            rd_kafka_resp_err_t rc = rd_kafka_producev(
                r->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(l, strlen(l)),
                RD_KAFKA_V_VALUE((void *)json, strlen(json)),
                RD_KAFKA_V_HEADER("event_id", eid, (ssize_t)strlen(eid)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(o), RD_KAFKA_V_END);
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

/* Runs one statement with an id array ($1) and optional text ($2); 0 or -1. */
static int exec_ids(PGconn *pg, const char *sql, const char *ids, const char *text)
{
    const char *p[2] = {ids, text};
    PGresult *res = PQexecParams(pg, sql, text ? 2 : 1, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        bm_error("relay", "mark: %s", PQerrorMessage(pg));
    PQclear(res);
    return ok ? 0 : -1;
}

/* Parks row `id`: the broker refused one of its messages for good. */
static int park(bm_relay *r, PGconn *pg, const char *id, const char *topic, const row_out *o)
{
    char why[300], ids[40];
    snprintf(why, sizeof why, "line %d: %s", o->line, rd_kafka_err2str(o->err));
    snprintf(ids, sizeof ids, "{%s}", id);
    bm_error("relay", "outbox row %s parked topic=%s error=\"%s\" (bmctl outbox retry|drop %s)", id,
             topic, why, id);
    atomic_fetch_add(&r->stats->outbox_parked, 1);
    return exec_ids(pg,
                    "UPDATE outbox SET parked_at = now(), park_error = $2 "
                    "WHERE id = ANY($1::bigint[])",
                    ids, why);
}

/* One round: claim up to 64 rows, publish, wait for delivery, mark published or
 * parked. Returns the rows settled, or -1 to try again later. */
static int relay_round(bm_relay *r, PGconn *pg)
{
    PGresult *res = PQexec(pg, "BEGIN");
    PQclear(res);
    res = PQexec(pg, "SELECT id, topic, payload FROM outbox WHERE published_at IS NULL "
                     "AND parked_at IS NULL ORDER BY id LIMIT 64 FOR UPDATE SKIP LOCKED");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        bm_error("relay", "claim: %s", PQerrorMessage(pg));
        PQclear(res);
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    int n = PQntuples(res);
    row_out out[64];
    long msgs[64];
    memset(out, 0, sizeof out);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        char *payload = strdup(PQgetvalue(res, i, 2));
        if (!payload) {
            ok = 0;
            break;
        }
        msgs[i] = publish_row(r, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), payload, &out[i]);
        free(payload);
    }
    if (ok && n && rd_kafka_flush(r->producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        ok = 0;
    /* A transient failure anywhere sends the whole round again (in order); a
     * permanent one parks its row and the rest is published. */
    int parked = 0;
    for (int i = 0; i < n; i++) {
        if (out[i].err && !permanent(out[i].err))
            ok = 0;
        else if (out[i].err)
            parked++;
    }
    if (n == 0 || (!ok && !parked)) {
        PQclear(res);
        PQclear(PQexec(pg, "ROLLBACK"));
        if (!ok)
            bm_warn("relay", "round not delivered, will publish again");
        return ok ? 0 : -1;
    }
    /* ids of the rows delivered, as an array literal */
    size_t cap = (size_t)n * 24 + 4, len = 0;
    char *ids = malloc(cap);
    if (!ids) {
        PQclear(res);
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    long messages = 0;
    int marked = 0, fine = 1;
    ids[len++] = '{';
    for (int i = 0; i < n && fine; i++) {
        if (out[i].err) {
            if (permanent(out[i].err) &&
                park(r, pg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), &out[i]) != 0)
                fine = 0;
            continue;
        }
        len += (size_t)snprintf(ids + len, cap - len, "%s%s", marked ? "," : "",
                                PQgetvalue(res, i, 0));
        marked++;
        messages += msgs[i];
    }
    snprintf(ids + len, cap - len, "}");
    PQclear(res);
    if (fine && ok && marked)
        fine = exec_ids(pg, "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                        ids, NULL) == 0;
    free(ids);
    res = PQexec(pg, fine ? "COMMIT" : "ROLLBACK");
    fine = fine && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (fine && ok)
        atomic_fetch_add(&r->stats->outbox_published, (uint64_t)messages);
    if (!ok)
        bm_warn("relay", "round not delivered, will publish again");
    return fine && ok ? n : -1;
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
