/*
 * POST /v1/events and the battle pass commands: validate with the engine's
 * own decoder checks (bm_event_from_json, event/event.h), produce to game.events keyed by userId
 * with the idempotent producer, and answer only once the broker acknowledged every message, so an
 * accepted event is never lost. A broker that does not answer within http.produce_timeout_ms gets
 * the client a 503; the client retries with the same eventIds and the engine drops what was already
 * applied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "util/clock.h"
#include "event/command.h"
#include "event/event.h"
#include "gateway/gw.h"
#include "gateway/gw_body.h"
#include "kafka/kafka.h"
#include "log/log.h"

/* One body's acknowledgements; freed by whoever drops the last reference. */
typedef struct tracker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t pending;
    int refs;
    rd_kafka_resp_err_t err;
} tracker;

static void tracker_unref(tracker *t)
{
    int left = --t->refs;
    pthread_mutex_unlock(&t->lock);
    if (left == 0) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->cond);
        free(t);
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tracker *t = m->_private;
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    if (m->err && !t->err)
        t->err = m->err;
    t->pending--;
    pthread_cond_signal(&t->cond);
    tracker_unref(t);
}

static void *poller(void *arg)
{
    bm_gateway *g = arg;
    while (atomic_load(&g->run))
        rd_kafka_poll(g->producer, 50);
    return NULL;
}

int gw_producer_start(bm_gateway *g, char *err, size_t errlen)
{
    char tmo[16], sock[16];
    snprintf(tmo, sizeof tmo, "%d", g->cfg.http_produce_timeout_ms);
    snprintf(sock, sizeof sock, "%d", g->cfg.socket_timeout_ms);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", g->bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "client.id", "brightmatter-gateway", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        rd_kafka_conf_set(conf, "linger.ms", "1", err, errlen) ||
        /* A body waits for its acknowledgements: pipelined produce requests stall on
         * Nagle + delayed ACK (40 ms) on brokers that do not set TCP_NODELAY (the mock
         * cluster), one request at a time does not. */
        rd_kafka_conf_set(conf, "socket.nagle.disable", "true", err, errlen) ||
        rd_kafka_conf_set(conf, "max.in.flight", "1", err, errlen) ||
        rd_kafka_conf_set(conf, "compression.codec", "lz4", err, errlen) ||
        rd_kafka_conf_set(conf, "message.timeout.ms", tmo, err, errlen) ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", sock, err, errlen) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, errlen) ||
        /* One owner per player: the engine's partitioner, or every event is forwarded. */
        (bm_kafka_partitioner_property(g->cfg.partitioner) &&
         rd_kafka_conf_set(conf, "partitioner", bm_kafka_partitioner_property(g->cfg.partitioner),
                           err, errlen))) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    g->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!g->producer) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* conf is now owned by the producer; a thread serves its delivery reports. */
    if (pthread_create(&g->poller, NULL, poller, g) != 0) {
        snprintf(err, errlen, "cannot start the producer thread");
        rd_kafka_destroy(g->producer);
        g->producer = NULL;
        return -1;
    }
    return 0;
}

void gw_producer_stop(bm_gateway *g)
{
    if (!g->producer)
        return;
    atomic_store(&g->run, 0);
    pthread_join(g->poller, NULL);
    rd_kafka_flush(g->producer, 2000);
    rd_kafka_destroy(g->producer);
    g->producer = NULL;
}

int gw_produce_acked(bm_gateway *g, const char *topic, char **vals, const char **keys, size_t n,
                     const char *const *sigs, char *err, size_t errlen)
{
    tracker *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->refs = 1;
    pthread_mutex_lock(&t->lock);
    rd_kafka_resp_err_t perr = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < n; i++) {
        t->pending++;
        t->refs++;
        /* A signed command carries its signature header (event/command.h, cmdauth.h). */
        perr = sigs ? rd_kafka_producev(g->producer, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_KEY(keys[i], strlen(keys[i])),
                                        RD_KAFKA_V_VALUE(vals[i], strlen(vals[i])),
                                        RD_KAFKA_V_HEADER(BM_CMDAUTH_HEADER, sigs[i], -1),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END)
                    : rd_kafka_producev(g->producer, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_KEY(keys[i], strlen(keys[i])),
                                        RD_KAFKA_V_VALUE(vals[i], strlen(vals[i])),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
        if (perr) {
            t->pending--;
            t->refs--;
            break;
        }
    }
    /* Wait for every report; librdkafka fails a message after message.timeout.ms,
     * the extra second only covers the report's own trip. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += g->cfg.http_produce_timeout_ms / 1000 + 1;
    until.tv_nsec += (long)(g->cfg.http_produce_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (t->pending && pthread_cond_timedwait(&t->cond, &t->lock, &until) == 0)
        ;
    int rc = 0;
    if (perr) {
        snprintf(err, errlen, "broker queue: %s", rd_kafka_err2str(perr));
        rc = -1;
    } else if (t->pending) {
        snprintf(err, errlen, "broker did not acknowledge within %d ms",
                 g->cfg.http_produce_timeout_ms);
        rc = -1;
    } else if (t->err) {
        snprintf(err, errlen, "broker: %s", rd_kafka_err2str(t->err));
        rc = -1;
    }
    tracker_unref(t);
    return rc;
}

/* 415 unless Content-Type is application/json (parameters allowed). */
static int json_content(gw_req *r)
{
    const char *ct = gw_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = strlen("application/json");
    if (ct && strncasecmp(ct, "application/json", n) == 0 &&
        (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
        return 0;
    gw_error(r, 415, "unsupported_media_type", "Content-Type must be application/json (got %s)",
             ct ? ct : "none");
    return -1;
}

/* Inflates a gzip body in place, under the body limit. 0, or -1 with the answer set. */
static int gunzip(gw_req *r)
{
    const char *enc = gw_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (!enc || strcasecmp(enc, "identity") == 0)
        return 0;
    if (strcasecmp(enc, "gzip") != 0) {
        gw_error(r, 415, "unsupported_media_type", "Content-Encoding %s is not supported", enc);
        return -1;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        gw_error(r, 500, "internal", "cannot start gzip decoding");
        return -1;
    }
    bm_buf out = {0};
    size_t limit = (size_t)r->g->cfg.http_max_body_bytes;
    zs.next_in = (unsigned char *)r->body.p;
    zs.avail_in = (unsigned)r->body.len;
    int zr = Z_OK;
    while (zr == Z_OK) {
        if (bm_buf_reserve(&out, 65536) != 0 || out.len >= limit)
            break;
        zs.next_out = (unsigned char *)out.p + out.len;
        zs.avail_out = 65536;
        zr = inflate(&zs, Z_NO_FLUSH);
        out.len += 65536 - zs.avail_out;
        if (zr == Z_BUF_ERROR && zs.avail_in == 0)
            break;
    }
    inflateEnd(&zs);
    if (out.len > limit) {
        bm_buf_free(&out);
        gw_error(r, 413, "payload_too_large", "inflated body exceeds %zu bytes", limit);
        return -1;
    }
    if (zr != Z_STREAM_END) {
        bm_buf_free(&out);
        gw_error(r, 400, "invalid_body", "body is not valid gzip");
        return -1;
    }
    bm_buf_free(&r->body);
    r->body = out;
    return 0;
}

static json_t *bad_event(size_t index, const char *reason)
{
    const char *colon = strchr(reason, ':');
    char code[64];
    snprintf(code, sizeof code, "%.*s", colon ? (int)(colon - reason) : (int)strlen(reason),
             reason);
    return json_pack("{s:I, s:s, s:s}", "index", (json_int_t)index, "field", colon ? colon + 1 : "",
                     "reason", code);
}

void gw_events_post(gw_req *r)
{
    bm_gateway *g = r->g;
    gw_key key;
    if (gw_key_auth(r, &key) != 0 || json_content(r) != 0 || gunzip(r) != 0)
        return;
    int status;
    char why[256];
    json_t *list = gw_body_events(r->body.p, r->body.len, (size_t)g->cfg.http_max_events, &status,
                                  why, sizeof why);
    if (!list) {
        gw_error(r, status, status == 413 ? "too_many_events" : "invalid_body", "%s", why);
        return;
    }
    size_t n = json_array_size(list);
    json_t *bad = json_array();
    gw_body_item *items = calloc(n, sizeof *items);
    if (!items) {
        gw_error(r, 500, "internal", "out of memory");
        goto out;
    }
    const char *partial = gw_arg(r, "partial");
    int allow_partial = partial && strcmp(partial, "1") == 0;
    bm_event_limits lim = {.max_bytes = (size_t)g->cfg.max_event_bytes,
                           .now_ms = bm_now_ms(),
                           .past_ms = (int64_t)g->cfg.past_bound_s * 1000,
                           .future_ms = (int64_t)g->cfg.future_bound_s * 1000};
    size_t nok = 0, foreign = 0;
    char other[300] = "";
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_array_get(list, i);
        char reason[128];
        int rc = gw_body_event(ev, key.game, &lim, &items[i], reason, sizeof reason);
        if (items[i].foreign) {
            foreign++;
            snprintf(other, sizeof other, "%s", json_string_value(json_object_get(ev, "gameId")));
        }
        if (rc != 0)
            json_array_append_new(bad, bad_event(i, reason));
        else
            nok++;
    }
    if (foreign) {
        gw_error(r, 403, "forbidden", "this key is for game %s; %zu event(s) are for %s", key.game,
                 foreign, other);
        goto out;
    }
    atomic_fetch_add(&g->m.events_invalid, n - nok);
    if (nok < n && (!allow_partial || nok == 0)) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:O}", "error", "invalid_events", "message",
                              allow_partial ? "no valid event in the body"
                                            : "invalid events; nothing was accepted (send "
                                              "?partial=1 to accept the valid ones)",
                              "requestId", r->id, "events", bad);
        gw_json(r, 400, j);
        goto out;
    }
    if (gw_key_take(r, &key, (double)nok) != 0)
        goto out;
    char **vals = calloc(nok, sizeof *vals);
    const char **keys = calloc(nok, sizeof *keys);
    if (!vals || !keys) {
        free(vals);
        free(keys);
        gw_error(r, 500, "internal", "out of memory");
        goto out;
    }
    json_t *ids = json_array();
    for (size_t i = 0, k = 0; i < n; i++) {
        if (!items[i].ok)
            continue;
        vals[k] = items[i].text;
        keys[k++] = items[i].user;
        json_array_append_new(ids, json_string(items[i].eid));
    }
    char err[256];
    int rc = gw_produce_acked(g, g->cfg.events_topic, vals, keys, nok, NULL, err, sizeof err);
    free(vals);
    free(keys);
    if (rc != 0) {
        json_decref(ids);
        atomic_fetch_add(&g->m.produce_timeouts, 1);
        snprintf(r->retry_after, sizeof r->retry_after, "1");
        gw_error(r, 503, "broker_unavailable", "%s; retry with the same eventIds", err);
        goto out;
    }
    atomic_fetch_add(&g->m.events_accepted, nok);
    json_t *ans = json_pack("{s:I, s:o, s:s}", "accepted", (json_int_t)nok, "eventIds", ids,
                            "requestId", r->id);
    if (nok < n)
        json_object_set(ans, "invalid", bad);
    gw_json(r, 202, ans);
out:
    for (size_t i = 0; items && i < n; i++)
        free(items[i].text);
    free(items);
    json_decref(bad);
    json_decref(list);
}

/* A purchase is the studio's word that a player paid: only a studio owner's ID token
 * makes one (never a game key, which ships inside the game client). Fills *key with
 * the campaign's game when the studio owns it; 0, or -1 with the answer set. */
static int purchase_auth(gw_req *r, const char *campaign, gw_key *key)
{
    const char *auth = gw_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && strncmp(auth, "Bearer bmk_", 11) == 0) {
        gw_error(r, 403, "forbidden",
                 "purchases are made by the studio's server (admin ID token or bmctl), never "
                 "with a game key");
        return -1;
    }
    gw_principal pr;
    if (gw_jwt_auth(r, &pr) != 0)
        return -1;
    if (strcmp(pr.role, "studio_owner") != 0 || !pr.studio[0] || !bm_auth_is_uuid(campaign)) {
        gw_error(r, 403, "forbidden", "only the studio that owns the battle pass sells it");
        return -1;
    }
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return -1;
    }
    const char *p[2] = {campaign, pr.studio};
    PGresult *res = PQexecParams(c,
                                 "SELECT g.id, g.identifier FROM campaigns c JOIN games g ON "
                                 "g.id = c.game_id WHERE c.id = $1::uuid AND g.studio_id = "
                                 "$2::uuid",
                                 2, NULL, p, NULL, NULL, 0);
    int st = PQresultStatus(res), found = st == PGRES_TUPLES_OK && PQntuples(res) == 1;
    memset(key, 0, sizeof *key);
    if (found) {
        snprintf(key->game_uuid, sizeof key->game_uuid, "%s", PQgetvalue(res, 0, 0));
        snprintf(key->game, sizeof key->game, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    gw_pool_put(&r->g->pool, c);
    if (st != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
        return -1;
    }
    if (!found) {
        gw_error(r, 404, "not_found", "no such battle pass in this studio");
        return -1;
    }
    return 0;
}

void gw_bp_command(gw_req *r, const char *campaign, const char *user, const char *what)
{
    gw_key key;
    int claim = strcmp(what, "claim") == 0;
    if (claim ? gw_key_auth(r, &key) != 0 : purchase_auth(r, campaign, &key) != 0)
        return;
    long tier = 0;
    int premium = 0;
    if (claim) {
        if (json_content(r) != 0)
            return;
        json_t *b =
            json_loadb(r->body.p ? r->body.p : "", r->body.len, JSON_REJECT_DUPLICATES, NULL);
        json_t *t = json_object_get(b, "tier"), *p = json_object_get(b, "premium");
        if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > 1000 ||
            (p && !json_is_boolean(p))) {
            json_decref(b);
            gw_error(r, 400, "invalid_body",
                     "field tier: a whole number from 1 to 1000 is required (premium: boolean)");
            return;
        }
        tier = (long)json_integer_value(t);
        premium = json_is_true(p);
        json_decref(b);
    }
    if (!bm_auth_is_uuid(campaign) || strlen(user) == 0 || strlen(user) > 256) {
        gw_error(r, 404, "not_found", "no such battle pass");
        return;
    }
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return;
    }
    const char *p[2] = {campaign, key.game_uuid};
    PGresult *res = PQexecParams(c,
                                 "SELECT 1 FROM campaigns WHERE id = $1::uuid AND game_id = "
                                 "$2::uuid AND type = 'battlepass'",
                                 2, NULL, p, NULL, NULL, 0);
    int st = PQresultStatus(res), found = st == PGRES_TUPLES_OK && PQntuples(res) == 1;
    PQclear(res);
    gw_pool_put(&r->g->pool, c);
    if (st != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
        return;
    }
    if (!found) {
        gw_error(r, 404, "not_found", "no such battle pass for this game");
        return;
    }
    json_t *ev =
        bm_command_battlepass(campaign, key.game, user, (int)tier, premium, bm_now_ms(), "api");
    char *text = json_dumps(ev, JSON_COMPACT);
    json_t *eid = json_incref(json_object_get(ev, "eventId"));
    json_decref(ev);
    char err[256] = "out of memory";
    char sig[BM_CMDAUTH_SIG_SIZE];
    const char *sigs[1] = {sig};
    if (text)
        bm_cmdauth_sign(&r->g->cmdkeys, text, strlen(text), sig);
    int rc = text ? gw_produce_acked(r->g, r->g->cfg.events_topic, &text, &user, 1, sigs, err,
                                     sizeof err)
                  : -1;
    free(text);
    if (rc != 0) {
        json_decref(eid);
        gw_error(r, 503, "broker_unavailable", "%s", err);
        return;
    }
    gw_json(r, 202,
            json_pack("{s:s, s:o, s:s}", "queued", what, "eventId", eid, "requestId", r->id));
}
