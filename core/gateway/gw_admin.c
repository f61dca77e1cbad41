/*
 * The admin API for a studio's dashboard (/v1/admin/...), with Firebase ID
 * tokens. A studio_owner acts on its own studio only (studios.firebase_uid =
 * sub): every statement below carries the studio id in its WHERE clause, so
 * another studio's rows are never read, let alone filtered afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campdoc/campdoc.h"
#include "gateway/gw.h"
#include "gateway/gw_body.h"
#include "kafka/kafka.h"
#include "log/log.h"

int gw_jwt_auth(gw_req *r, gw_principal *p)
{
    memset(p, 0, sizeof *p);
    bm_gateway *g = r->g;
    const char *auth = gw_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        gw_error(r, 401, "unauthorized", "Authorization: Bearer <Firebase ID token> is required");
        return -1;
    }
    char reason[128];
    bm_jwt_claims cl;
    pthread_mutex_lock(&g->jwks_lock);
    int rc = g->jwks ? bm_jwt_verify(g->jwks, auth + 7, g->cfg.auth_project, (int64_t)time(NULL),
                                     g->cfg.auth_clock_skew_s, &cl, reason, sizeof reason)
                     : -1;
    pthread_mutex_unlock(&g->jwks_lock);
    if (rc != 0) {
        gw_error(r, 401, "unauthorized", "ID token refused: %s",
                 g->jwks ? reason : "no certificates configured (auth.certs_file)");
        return -1;
    }
    snprintf(p->sub, sizeof p->sub, "%s", cl.sub);
    snprintf(p->role, sizeof p->role, "%s", cl.role);
    int player = strcmp(p->role, "player") == 0;
    int prc = player ? gw_player_resolve(r, &cl, p) : 0;
    bm_jwt_claims_clear(&cl);
    if (player)
        return prc;
    if (strcmp(p->role, "studio_owner") != 0)
        return 0;
    PGconn *c = gw_pool_get(&g->pool, 2000);
    if (!c) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return -1;
    }
    const char *par[1] = {p->sub};
    PGresult *res = PQexecParams(c, "SELECT id FROM studios WHERE firebase_uid = $1", 1, NULL, par,
                                 NULL, NULL, 0);
    int st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK && PQntuples(res) == 1)
        snprintf(p->studio, sizeof p->studio, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    gw_pool_put(&g->pool, c);
    if (st != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
        return -1;
    }
    if (!p->studio[0]) {
        gw_error(r, 403, "forbidden", "no studio is registered for this account");
        return -1;
    }
    return 0;
}

/* Runs a statement; rows as an array of objects named by the columns (text values). */
static json_t *rows(gw_req *r, PGconn *c, const char *sql, int n, const char *const *p, int *st)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    *st = PQresultStatus(res);
    if (*st != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23505") == 0)
            gw_error(r, 409, "conflict", "already exists");
        else
            gw_error(r, 503, "unavailable", "database query failed: %s", PQerrorMessage(c));
        PQclear(res);
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = json_object();
        for (int f = 0; f < PQnfields(res); f++) {
            const char *v = PQgetvalue(res, i, f);
            json_t *val;
            if (PQgetisnull(res, i, f))
                val = json_null();
            else if (PQftype(res, f) == 3802 || PQftype(res, f) == 114) /* jsonb, json */
                val = json_loads(v, 0, NULL);
            else if (PQftype(res, f) == 20 || PQftype(res, f) == 23) /* int8, int4 */
                val = json_integer(atoll(v));
            else
                val = json_string(v);
            json_object_set_new(o, PQfname(res, f), val ? val : json_null());
        }
        json_array_append_new(arr, o);
    }
    PQclear(res);
    return arr;
}

static json_t *body_json(gw_req *r)
{
    const char *ct = gw_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        gw_error(r, 415, "unsupported_media_type", "Content-Type must be application/json");
        return NULL;
    }
    char err[256];
    json_t *b = gw_body_object(r->body.p, r->body.len, err, sizeof err);
    if (!b)
        gw_error(r, 400, "invalid_body", "%s", err);
    return b;
}

/* A required string field of 1..maxlen bytes; NULL with 400 set. */
static const char *field(gw_req *r, json_t *b, const char *name, size_t maxlen, int required)
{
    char err[256];
    const char *v = gw_body_string(b, name, maxlen, required, err, sizeof err);
    if (!v && err[0])
        gw_error(r, 400, "invalid_field", "%s", err);
    return v;
}

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static void games(gw_req *r, PGconn *c, const gw_principal *p)
{
    int st;
    if (is(r->method, "GET")) {
        const char *par[1] = {p->studio};
        json_t *a = rows(r, c,
                         "SELECT identifier AS \"gameId\", name, webhook_url AS \"webhookUrl\", "
                         "id::text AS uuid, created_at::text AS \"createdAt\" FROM games WHERE "
                         "studio_id = $1::uuid ORDER BY created_at, id",
                         1, par, &st);
        if (a)
            gw_json(r, 200, json_pack("{s:o}", "games", a));
        return;
    }
    json_t *b = body_json(r);
    if (!b)
        return;
    const char *name = field(r, b, "name", 200, 1);
    const char *ident = name ? field(r, b, "gameId", 200, 1) : NULL;
    const char *hook = ident ? field(r, b, "webhookUrl", 2000, 0) : NULL;
    if (name && ident && (hook || !json_object_get(b, "webhookUrl"))) {
        const char *par[4] = {p->studio, name, ident, hook};
        json_t *a = rows(r, c,
                         "INSERT INTO games (studio_id, name, identifier, webhook_url) VALUES "
                         "($1::uuid, $2, $3, $4) RETURNING identifier AS \"gameId\", name, "
                         "webhook_url AS \"webhookUrl\", id::text AS uuid",
                         4, par, &st);
        if (a)
            gw_json(r, 201, json_incref(json_array_get(a, 0)));
        json_decref(a);
    }
    json_decref(b);
}

static void keys(gw_req *r, PGconn *c, const gw_principal *p, const char *game)
{
    int st;
    if (is(r->method, "GET")) {
        const char *par[2] = {p->studio, game};
        json_t *a = rows(r, c,
                         "SELECT k.id, k.key_prefix AS prefix, k.created_at::text AS "
                         "\"createdAt\", k.revoked_at::text AS \"revokedAt\" FROM api_keys k "
                         "JOIN games g ON g.id = k.game_id WHERE g.studio_id = $1::uuid AND "
                         "g.identifier = $2 ORDER BY k.id",
                         2, par, &st);
        if (a)
            gw_json(r, 200, json_pack("{s:s, s:o}", "gameId", game, "keys", a));
        return;
    }
    char key[80], err[256];
    long long id;
    int rc = bm_apikey_create(c, game, p->studio, key, &id, err, sizeof err);
    if (rc > 0)
        gw_error(r, 404, "not_found", "no such game");
    else if (rc < 0)
        gw_error(r, 503, "unavailable", "cannot create the key: %s", err);
    else
        gw_json(r, 201,
                json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "gameId", game, "key", key));
}

static void key_revoke(gw_req *r, PGconn *c, const gw_principal *p, const char *id)
{
    char *end;
    long long v = strtoll(id, &end, 10);
    if (!*id || *end || v <= 0) {
        gw_error(r, 404, "not_found", "no such key");
        return;
    }
    int st;
    const char *par[2] = {p->studio, id};
    json_t *a = rows(r, c,
                     "UPDATE api_keys k SET revoked_at = COALESCE(k.revoked_at, now()) FROM "
                     "games g WHERE g.id = k.game_id AND g.studio_id = $1::uuid AND k.id = "
                     "$2::bigint RETURNING k.id",
                     2, par, &st);
    if (!a)
        return;
    if (json_array_size(a) == 0)
        gw_error(r, 404, "not_found", "no such key");
    else
        gw_json(r, 200,
                json_pack("{s:s, s:s}", "revoked", id, "note",
                          "the key stops working within http.key_cache_ms"));
    json_decref(a);
}

static void campaigns(gw_req *r, PGconn *c, const gw_principal *p, const char *id)
{
    int st;
    if (id && !bm_auth_is_uuid(id)) {
        gw_error(r, 404, "not_found", "no such campaign");
        return;
    }
    const char *par[2] = {p->studio, id};
    json_t *a = rows(r, c,
                     "SELECT c.id::text AS id, g.identifier AS \"gameId\", c.type, c.name, "
                     "c.status, c.version, c.config, c.gating, c.start_date::text AS "
                     "\"startDate\", c.end_date::text AS \"endDate\" FROM campaigns c JOIN games "
                     "g ON g.id = c.game_id WHERE g.studio_id = $1::uuid AND ($2::uuid IS NULL "
                     "OR c.id = $2::uuid) ORDER BY c.created_at, c.id",
                     2, par, &st);
    if (!a)
        return;
    if (!id) {
        gw_json(r, 200, json_pack("{s:o}", "campaigns", a));
        return;
    }
    if (json_array_size(a) == 0)
        gw_error(r, 404, "not_found", "no such campaign");
    else
        gw_json(r, 200, json_incref(json_array_get(a, 0)));
    json_decref(a);
}

/* Tells running engines to look again (they also re-read every 30 s). */
static void announce(gw_req *r, const char *id, const char *what)
{
    char msg[256], err[256];
    snprintf(msg, sizeof msg, "{\"type\":\"%s\",\"id\":\"%s\"}", what, id);
    char *vals[1] = {msg};
    const char *keys[1] = {id};
    if (gw_produce_acked(r->g, BM_TOPIC_CONFIG_CAMPAIGNS, vals, keys, 1, NULL, err, sizeof err) !=
        0)
        bm_warn("gateway",
                "request_id=%s campaign %s saved, engines not told (%s): they "
                "re-read within 30 s",
                r->id, id, err);
}

/* POST /campaigns (create), PUT /campaigns/{id} (replace), POST /campaigns/{id}/disable. */
static void campaign_write(gw_req *r, PGconn *c, const gw_principal *p, const char *id, int disable)
{
    char err[1024], newid[64];
    if (id && !bm_auth_is_uuid(id)) {
        gw_error(r, 404, "not_found", "no such campaign");
        return;
    }
    if (disable) {
        int rc = bm_campdoc_disable(c, id, p->studio, err, sizeof err);
        if (rc > 0)
            gw_error(r, 404, "not_found", "no such campaign");
        else if (rc < 0)
            gw_error(r, 503, "unavailable", "database: %s", err);
        else {
            announce(r, id, "CAMPAIGN_DISABLE");
            gw_json(r, 200, json_pack("{s:s, s:s}", "id", id, "status", "cancelled"));
        }
        return;
    }
    json_t *b = body_json(r);
    if (!b)
        return;
    if (id)
        json_object_set_new(b, "id", json_string(id));
    long long version = 0;
    /* The same validation as `bmctl campaign create`: the module of the type decides. */
    int rc =
        bm_campdoc_save(c, r->g->cfg.modules_dir, b, p->studio, newid, &version, err, sizeof err);
    json_decref(b);
    if (rc == 1) {
        gw_error(r, 400, "invalid_campaign", "%s", err);
    } else if (rc == 2) {
        gw_error(r, 404, "not_found", "%s", err);
    } else if (rc < 0) {
        gw_error(r, 503, "unavailable", "database: %s", err);
    } else {
        announce(r, newid, "CAMPAIGN_UPSERT");
        gw_json(r, id ? 200 : 201,
                json_pack("{s:s, s:I}", "id", newid, "version", (json_int_t)version));
    }
}

static void rewards(gw_req *r, PGconn *c, const gw_principal *p)
{
    const char *status = gw_arg(r, "status");
    if (status && !is(status, "pending") && !is(status, "processing") && !is(status, "completed") &&
        !is(status, "failed")) {
        gw_error(r, 400, "invalid_parameter",
                 "query parameter status: pending, processing, completed or failed");
        return;
    }
    int st;
    const char *par[2] = {p->studio, status};
    json_t *a = rows(r, c,
                     "SELECT f.id, f.campaign_id::text AS \"campaignId\", f.user_id AS "
                     "\"userId\", f.reward_type AS \"rewardType\", f.status, f.attempts, "
                     "f.error_message AS \"errorMessage\", f.created_at::text AS \"createdAt\" "
                     "FROM reward_fulfillments f JOIN campaigns c ON c.id = f.campaign_id JOIN "
                     "games g ON g.id = c.game_id WHERE g.studio_id = $1::uuid AND ($2::text IS "
                     "NULL OR f.status = $2) ORDER BY f.id DESC LIMIT 500",
                     2, par, &st);
    if (a)
        gw_json(r, 200, json_pack("{s:o}", "rewards", a));
}

/* A failed reward goes back to pending, to be delivered again (same idempotency key). */
static void reward_retry(gw_req *r, PGconn *c, const gw_principal *p, const char *id)
{
    char *end;
    long long v = strtoll(id, &end, 10);
    if (!*id || *end || v <= 0) {
        gw_error(r, 404, "not_found", "no such reward");
        return;
    }
    int st;
    const char *par[2] = {p->studio, id};
    json_t *a = rows(r, c,
                     "UPDATE reward_fulfillments f SET status = 'pending', next_attempt_at = "
                     "now(), updated_at = now() FROM campaigns c, games g WHERE c.id = "
                     "f.campaign_id AND g.id = c.game_id AND g.studio_id = $1::uuid AND f.id = "
                     "$2::bigint AND f.status = 'failed' RETURNING f.id, f.status",
                     2, par, &st);
    if (!a)
        return;
    if (json_array_size(a) == 1) {
        gw_json(r, 200, json_incref(json_array_get(a, 0)));
    } else {
        /* Not failed, or not this studio's: say which without revealing others' rows. */
        json_t *b = rows(r, c,
                         "SELECT f.status FROM reward_fulfillments f JOIN campaigns c ON c.id = "
                         "f.campaign_id JOIN games g ON g.id = c.game_id WHERE g.studio_id = "
                         "$1::uuid AND f.id = $2::bigint",
                         2, par, &st);
        if (b && json_array_size(b) == 1)
            gw_error(r, 409, "conflict", "reward %s is %s, only a failed reward is retried", id,
                     json_string_value(json_object_get(json_array_get(b, 0), "status")));
        else if (b)
            gw_error(r, 404, "not_found", "no such reward");
        json_decref(b);
    }
    json_decref(a);
}

void gw_admin(gw_req *r, char **seg, int nseg)
{
    int get = is(r->method, "GET"), post = is(r->method, "POST"), del = is(r->method, "DELETE");
    enum {
        NONE,
        GAMES,
        KEYS,
        REVOKE,
        CAMPS,
        CAMP_WRITE,
        CAMP_DISABLE,
        REWARDS,
        RETRY,
        MODULES,
        RELOAD
    } what = NONE;
    int put = is(r->method, "PUT");
    int ok_method = 0;
    if (nseg == 1 && is(seg[0], "games"))
        what = GAMES, ok_method = get || post;
    else if (nseg == 3 && is(seg[0], "games") && is(seg[2], "keys"))
        what = KEYS, ok_method = get || post;
    else if (nseg == 2 && is(seg[0], "keys"))
        what = REVOKE, ok_method = del;
    else if (nseg == 3 && is(seg[0], "campaigns") && is(seg[2], "disable"))
        what = CAMP_DISABLE, ok_method = post;
    else if ((nseg == 1 || nseg == 2) && is(seg[0], "campaigns") && !get)
        what = CAMP_WRITE, ok_method = nseg == 1 ? post : put;
    else if ((nseg == 1 || nseg == 2) && is(seg[0], "campaigns"))
        what = CAMPS, ok_method = get;
    else if (nseg == 1 && is(seg[0], "rewards"))
        what = REWARDS, ok_method = get;
    else if (nseg == 3 && is(seg[0], "rewards") && is(seg[2], "retry"))
        what = RETRY, ok_method = post;
    else if (nseg == 1 && is(seg[0], "modules"))
        what = MODULES, ok_method = get;
    else if (nseg == 2 && is(seg[0], "modules") && is(seg[1], "reload"))
        what = RELOAD, ok_method = post;
    if (what == NONE) {
        gw_error(r, 404, "not_found", "no such route");
        return;
    }
    if (!ok_method) {
        gw_error(r, 405, "method_not_allowed", "%s is not allowed here", r->method);
        return;
    }
    gw_principal p;
    if (gw_jwt_auth(r, &p) != 0)
        return;
    if (what == MODULES || what == RELOAD) {
        gw_admin_modules(r, &p, what == RELOAD);
        return;
    }
    if (!p.studio[0]) {
        gw_error(r, 403, "forbidden", "role '%s' has no access to the admin API", p.role);
        return;
    }
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return;
    }
    if (what == GAMES)
        games(r, c, &p);
    else if (what == KEYS)
        keys(r, c, &p, seg[1]);
    else if (what == REVOKE)
        key_revoke(r, c, &p, seg[1]);
    else if (what == CAMPS)
        campaigns(r, c, &p, nseg == 2 ? seg[1] : NULL);
    else if (what == CAMP_WRITE || what == CAMP_DISABLE)
        campaign_write(r, c, &p, nseg >= 2 ? seg[1] : NULL, what == CAMP_DISABLE);
    else if (what == RETRY)
        reward_retry(r, c, &p, seg[1]);
    else
        rewards(r, c, &p);
    gw_pool_put(&r->g->pool, c);
}
