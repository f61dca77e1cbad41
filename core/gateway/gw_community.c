/*
 * Communities over HTTP: a player joins (POST /v1/communities/{slug}/join,
 * the same signed COMMUNITY_JOIN command bmctl produces, applied by the
 * engine's exactly-once batch), the referral link (GET /c/{slug}) redirects
 * and records a click, and the admin API (/v1/admin/communities/...) lets a
 * studio_owner manage its studio's communities and a community_admin the
 * communities it administers. The scope is in every statement's WHERE
 * clause: another studio's community is a 404, never read and filtered.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "community/community.h"
#include "community/community_db.h"
#include "event/command_tn.h"
#include "gateway/gw.h"
#include "log/log.h"
#include "util/clock.h"

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static PGconn *conn(gw_req *r)
{
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c)
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
    return c;
}

/* The request body as a JSON object; NULL with the 400/415 answer set. */
static json_t *body_object(gw_req *r)
{
    const char *ct = gw_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        gw_error(r, 415, "unsupported_media_type", "Content-Type must be application/json");
        return NULL;
    }
    json_error_t je;
    json_t *b = json_loadb(r->body.p ? r->body.p : "", r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(b)) {
        json_decref(b);
        gw_error(r, 400, "invalid_body", "body must be a JSON object%s%s", b ? "" : ": ",
                 b ? "" : je.text);
        return NULL;
    }
    return b;
}

/* An optional string field of 1..maxlen bytes: 0 (*out NULL when absent), -1 with 400 set. */
static int opt_string(gw_req *r, json_t *b, const char *name, size_t maxlen, const char **out)
{
    json_t *v = json_object_get(b, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > maxlen) {
        gw_error(r, 400, "invalid_field", "field %s: a string of 1 to %zu bytes", name, maxlen);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* Who joins: a game's API key (userId in the body) or a player's ID token (the token's
 * subject). 0 with user set, or -1 with the answer set. */
static int joiner(gw_req *r, json_t *b, char *user, size_t ulen, char *studio, size_t slen)
{
    const char *auth = gw_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *body_user;
    if (opt_string(r, b, "userId", 256, &body_user) != 0)
        return -1;
    studio[0] = '\0';
    if (auth && strncmp(auth, "Bearer " BM_APIKEY_PREFIX, 7 + strlen(BM_APIKEY_PREFIX)) == 0) {
        gw_key k;
        if (gw_key_auth(r, &k) != 0 || gw_key_take(r, &k, 1) != 0)
            return -1;
        if (!body_user) {
            gw_error(r, 400, "invalid_field", "field userId: required with a game key");
            return -1;
        }
        snprintf(user, ulen, "%s", body_user);
        snprintf(studio, slen, "%s", k.studio);
        return 0;
    }
    gw_principal p;
    if (gw_jwt_auth(r, &p) != 0)
        return -1;
    if (!is(p.role, "player")) {
        gw_error(r, 403, "forbidden",
                 "role '%s' cannot join for a player: use a game key or the "
                 "player's own ID token",
                 p.role);
        return -1;
    }
    /* gw_jwt_auth resolved the player's user id and game (gw_player.c). */
    if (body_user && !is(body_user, p.user)) {
        gw_error(r, 403, "forbidden", "a player joins as itself only (user %s)", p.user);
        return -1;
    }
    snprintf(user, ulen, "%s", p.user);
    /* Its game's studio scopes the slug, as a game key's does. */
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return -1;
    }
    const char *par[1] = {p.game_uuid};
    PGresult *res =
        PQexecParams(c, "SELECT COALESCE(studio_id::text, '') FROM games WHERE id = $1::uuid", 1,
                     NULL, par, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (ok)
        snprintf(studio, slen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    gw_pool_put(&r->g->pool, c);
    if (!ok) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
        return -1;
    }
    return 0;
}

void gw_community_join(gw_req *r, const char *slug)
{
    char user[257], studio[40], id[64], err[512];
    const char *ref = NULL, *invite = NULL;
    json_t *b = body_object(r), *config = NULL, *norm = NULL;
    PGconn *c = NULL;
    if (!b || joiner(r, b, user, sizeof user, studio, sizeof studio) != 0 ||
        opt_string(r, b, "ref", 256, &ref) != 0 || opt_string(r, b, "inviteCode", 128, &invite))
        goto out;
    json_t *meta = json_object_get(b, "metadata");
    if (meta && !json_is_object(meta)) {
        gw_error(r, 400, "invalid_field", "field metadata: an object");
        goto out;
    }
    if (!(c = conn(r)))
        goto out;
    /* A game key joins its studio's communities (and those of no studio). */
    const char *p[2] = {slug, studio[0] ? studio : NULL};
    PGresult *res = PQexecParams(c,
                                 "SELECT id::text, config::text FROM communities WHERE status = "
                                 "'active' AND referral_slug = $1 AND ($2::uuid IS NULL OR "
                                 "studio_id IS NULL OR studio_id = $2::uuid)",
                                 2, NULL, p, NULL, NULL, 0);
    int st = PQresultStatus(res), found = st == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (found) {
        snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
        config = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    }
    PQclear(res);
    gw_pool_put(&r->g->pool, c);
    c = NULL;
    if (st != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
        goto out;
    }
    if (!found || !config) {
        gw_error(r, 404, "not_found", "no such community");
        goto out;
    }
    json_t *empty = json_object();
    /* The engine checks again in the batch; here the player learns at once what to fix. */
    int bad = bm_community_member_check(config, meta ? meta : empty, &norm, err, sizeof err);
    if (bad) {
        json_decref(empty);
        gw_error(r, 400, "invalid_metadata", "%s", err);
        goto out;
    }
    json_t *ev =
        bm_command_community_join(id, user, meta ? meta : empty, ref, invite, bm_now_ms(), "api");
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_t *eid = json_incref(json_object_get(ev, "eventId"));
    json_decref(ev);
    json_decref(empty);
    char sig[BM_CMDAUTH_SIG_SIZE];
    const char *sigs[1] = {sig};
    const char *keys[1] = {user};
    snprintf(err, sizeof err, "out of memory");
    if (text)
        bm_cmdauth_sign(&r->g->cmdkeys, text, strlen(text), sig);
    int rc =
        text ? gw_produce_acked(r->g, r->g->cfg.events_topic, &text, keys, 1, sigs, err, sizeof err)
             : -1;
    free(text);
    if (rc != 0) {
        json_decref(eid);
        gw_error(r, 503, "broker_unavailable", "%s", err);
        goto out;
    }
    gw_json(r, 202,
            json_pack("{s:s, s:s, s:s, s:o, s:s}", "queued", "join", "communityId", id, "userId",
                      user, "eventId", eid ? eid : json_null(), "requestId", r->id));
out:
    gw_pool_put(&r->g->pool, c);
    json_decref(norm);
    json_decref(config);
    json_decref(b);
}

/* Appends s to out, percent-encoding everything but unreserved characters. */
static void url_encode(bm_buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            bm_buf_append(out, s, 1);
        } else {
            char e[4];
            snprintf(e, sizeof e, "%%%02X", ch);
            bm_buf_append(out, e, 3);
        }
    }
}

/* A keyed hash of the client address (HMAC with the command key, domain-separated), so
 * clicks can be told apart without storing addresses: 32 hex digits, or "" when unknown. */
static void ip_hash(gw_req *r, char out[33])
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    char addr[INET6_ADDRSTRLEN + 16] = "referral-ip:";
    size_t n = strlen(addr);
    const struct sockaddr *sa = ci->client_addr;
    const void *src =
        sa->sa_family == AF_INET6
            ? (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr
            : (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    if (!inet_ntop(sa->sa_family, src, addr + n, (socklen_t)(sizeof addr - n)))
        return;
    char sig[BM_CMDAUTH_SIG_SIZE];
    bm_cmdauth_sign(&r->g->cmdkeys, addr, strlen(addr), sig);
    snprintf(out, 33, "%.32s", sig + 3);
}

void gw_referral(gw_req *r, const char *slug)
{
    char err[256], id[64];
    const char *ref = gw_arg(r, "ref");
    if (bm_community_slug_check(slug, err, sizeof err) != 0) {
        gw_error(r, 404, "not_found", "no such community");
        return;
    }
    if (ref && (!*ref || strlen(ref) > 256)) {
        gw_error(r, 400, "invalid_parameter", "query parameter ref: 1 to 256 bytes");
        return;
    }
    PGconn *c = conn(r);
    if (!c)
        return;
    const char *p[1] = {slug};
    PGresult *res = PQexecParams(c,
                                 "SELECT id::text, redirect_url FROM communities WHERE status = "
                                 "'active' AND referral_slug = $1",
                                 1, NULL, p, NULL, NULL, 0);
    int st = PQresultStatus(res), found = st == PGRES_TUPLES_OK && PQntuples(res) == 1;
    bm_buf url = {0};
    if (found) {
        snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
        const char *to = PQgetvalue(res, 0, 1);
        bm_buf_puts(&url, to);
        bm_buf_puts(&url, strchr(to, '?') ? "&slug=" : "?slug=");
        url_encode(&url, slug);
        if (ref) {
            bm_buf_puts(&url, "&ref=");
            url_encode(&url, ref);
        }
    }
    PQclear(res);
    if (st != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
    } else if (!found) {
        gw_error(r, 404, "not_found", "no such community");
    } else if (url.oom || url.len >= sizeof r->location) {
        gw_error(r, 500, "internal", "redirect address too long");
    } else {
        char hash[33], referer[1025];
        const char *h = gw_header(r, MHD_HTTP_HEADER_REFERER);
        snprintf(referer, sizeof referer, "%s", h ? h : "");
        ip_hash(r, hash);
        /* The player is sent on even when the click cannot be stored; a HEAD (a link
         * preview) is answered the same but is not a click. */
        if (strcmp(r->method, "GET") == 0 &&
            bm_cmdb_click(c, id, ref, h ? referer : NULL, hash[0] ? hash : NULL) != 0)
            bm_warn("gateway", "request_id=%s referral click of %s not recorded: %s", r->id, slug,
                    PQerrorMessage(c));
        memcpy(r->location, url.p, url.len);
        r->location[url.len] = '\0';
        gw_json(r, 302, json_pack("{s:s}", "location", r->location));
    }
    bm_buf_free(&url);
    gw_pool_put(&r->g->pool, c);
}

/* --- the admin API ------------------------------------------------------------------- */

/* The scope of a principal: the studio of a studio_owner, the subject of a community_admin. */
typedef struct scope {
    const char *studio, *admin;
    int owner;
} scope;

/* S: the studio parameter, A: the admin parameter ("$2", "$3"). */
#define IN_SCOPE(S, A)                                                                             \
    "((" S "::uuid IS NOT NULL AND c.studio_id = " S "::uuid) OR (" A "::text IS NOT NULL AND "    \
    "EXISTS (SELECT 1 FROM community_admins a WHERE a.community_id = c.id AND a.firebase_uid = " A \
    ")))"

static PGresult *q(gw_req *r, PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23505") == 0)
            gw_error(r, 409, "conflict", "already exists");
        else
            gw_error(r, 503, "unavailable", "database query failed: %s", PQerrorMessage(c));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* The community `ref` (id or slug) in the scope: 0 with id set, -1 with the 404/503 set. */
static int in_scope(gw_req *r, PGconn *c, const scope *s, const char *ref, char *id, size_t idlen)
{
    const char *p[3] = {ref, s->studio, s->admin};
    PGresult *res = q(r, c,
                      "SELECT c.id::text FROM communities c WHERE c.status = 'active' AND "
                      "(c.referral_slug = $1 OR c.id::text = $1) AND " IN_SCOPE("$2", "$3"),
                      3, p);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        snprintf(id, idlen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!found)
        gw_error(r, 404, "not_found", "no such community");
    return found ? 0 : -1;
}

static void list(gw_req *r, PGconn *c, const scope *s)
{
    const char *p[2] = {s->studio, s->admin};
    PGresult *res =
        q(r, c,
          "SELECT c.id::text, c.referral_slug, c.name, c.is_open FROM communities c "
          "WHERE c.status = 'active' AND " IN_SCOPE("$1", "$2") " ORDER BY c.created_at, c.id",
          2, p);
    if (!res)
        return;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:o}", "id",
                                             PQgetvalue(res, i, 0), "slug", PQgetvalue(res, i, 1),
                                             "name", PQgetvalue(res, i, 2), "isOpen",
                                             PQgetvalue(res, i, 3)[0] == 't', "members",
                                             bm_cmdb_counts(c, PQgetvalue(res, i, 0))));
    PQclear(res);
    gw_json(r, 200, json_pack("{s:o}", "communities", arr));
}

static void show(gw_req *r, PGconn *c, const char *id)
{
    char cid[64];
    json_t *config = NULL;
    int f = bm_cmdb_find(c, id, cid, sizeof cid, &config);
    if (f != 0) {
        json_decref(config);
        gw_error(r, f > 0 ? 404 : 503, f > 0 ? "not_found" : "unavailable",
                 f > 0 ? "no such community" : "database query failed");
        return;
    }
    gw_json(r, 200,
            json_pack("{s:s, s:o, s:o, s:o}", "id", cid, "config", config ? config : json_object(),
                      "members", bm_cmdb_counts(c, cid), "referrals", bm_cmdb_referrals(c, cid)));
}

static void members(gw_req *r, PGconn *c, const char *id)
{
    const char *status = gw_arg(r, "status");
    if (status && !is(status, "active") && !is(status, "pending") && !is(status, "banned")) {
        gw_error(r, 400, "invalid_parameter", "query parameter status: active, pending or banned");
        return;
    }
    const char *p[2] = {id, status};
    PGresult *res = q(r, c,
                      "SELECT user_id, status, user_metadata::text, referral_source, "
                      "to_char(joined_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                      "FROM community_members WHERE community_id = $1::uuid AND ($2::text IS "
                      "NULL OR status = $2) ORDER BY joined_at, id LIMIT 1000",
                      2, p);
    if (!res)
        return;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *meta = json_loads(PQgetvalue(res, i, 2), 0, NULL);
        json_t *o = json_pack("{s:s, s:s, s:o, s:s}", "userId", PQgetvalue(res, i, 0), "status",
                              PQgetvalue(res, i, 1), "metadata", meta ? meta : json_object(),
                              "joinedAt", PQgetvalue(res, i, 4));
        json_object_set_new(o, "referralSource",
                            PQgetisnull(res, i, 3) ? json_null()
                                                   : json_string(PQgetvalue(res, i, 3)));
        json_array_append_new(arr, o);
    }
    PQclear(res);
    gw_json(r, 200, json_pack("{s:s, s:o}", "communityId", id, "members", arr));
}

static void moderate(gw_req *r, PGconn *c, const char *id, const char *user, const char *what)
{
    char err[512] = "";
    const char *status = "";
    if (strlen(user) > 256) {
        gw_error(r, 404, "not_found", "no such member");
        return;
    }
    int rc = bm_cmdb_moderate(c, what, id, user, &status, err, sizeof err);
    if (rc == 2)
        gw_error(r, 404, "not_found", "no such route");
    else if (rc == 1)
        gw_error(r, 409, "conflict", "%s", err);
    else if (rc < 0)
        gw_error(r, 503, "unavailable", "database: %s", err);
    else
        gw_json(r, 200,
                json_pack("{s:s, s:s, s:s, s:s}", "communityId", id, "userId", user, "action", what,
                          "status", status));
}

/* GET lists a community's admins; POST {"uid"} adds one (studio_owner only). */
static void admins(gw_req *r, PGconn *c, const scope *s, const char *id)
{
    if (is(r->method, "POST")) {
        if (!s->owner) {
            gw_error(r, 403, "forbidden", "only the studio owner names community admins");
            return;
        }
        json_t *b = body_object(r);
        const char *uid = NULL;
        if (!b || opt_string(r, b, "uid", 128, &uid) != 0 || !uid) {
            if (b && !uid && r->status == 0)
                gw_error(r, 400, "invalid_field", "field uid: a string of 1 to 128 bytes");
            json_decref(b);
            return;
        }
        const char *p[2] = {id, uid};
        PGresult *res = q(r, c,
                          "INSERT INTO community_admins (community_id, firebase_uid) VALUES "
                          "($1::uuid, $2) ON CONFLICT DO NOTHING",
                          2, p);
        if (res)
            gw_json(r, 201, json_pack("{s:s, s:s}", "communityId", id, "uid", uid));
        PQclear(res);
        json_decref(b);
        return;
    }
    const char *p[1] = {id};
    PGresult *res = q(r, c,
                      "SELECT firebase_uid FROM community_admins WHERE community_id = $1::uuid "
                      "ORDER BY created_at, firebase_uid",
                      1, p);
    if (!res)
        return;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr, json_string(PQgetvalue(res, i, 0)));
    PQclear(res);
    gw_json(r, 200, json_pack("{s:s, s:o}", "communityId", id, "admins", arr));
}

void gw_admin_communities(gw_req *r, char **seg, int nseg)
{
    int get = is(r->method, "GET"), post = is(r->method, "POST");
    enum { NONE, LIST, SHOW, MEMBERS, MODERATE, ADMINS } what = NONE;
    int ok_method = 0;
    if (nseg == 1)
        what = LIST, ok_method = get;
    else if (nseg == 2)
        what = SHOW, ok_method = get;
    else if (nseg == 3 && is(seg[2], "members"))
        what = MEMBERS, ok_method = get;
    else if (nseg == 3 && is(seg[2], "admins"))
        what = ADMINS, ok_method = get || post;
    else if (nseg == 5 && is(seg[2], "members") &&
             (is(seg[4], "approve") || is(seg[4], "ban") || is(seg[4], "unban") ||
              is(seg[4], "remove")))
        what = MODERATE, ok_method = post;
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
    scope s = {0};
    if (is(p.role, "studio_owner") && p.studio[0]) {
        s.studio = p.studio;
        s.owner = 1;
    } else if (is(p.role, "community_admin")) {
        s.admin = p.sub;
    } else {
        gw_error(r, 403, "forbidden", "role '%s' cannot manage communities", p.role);
        return;
    }
    PGconn *c = conn(r);
    if (!c)
        return;
    char id[64];
    if (what == LIST)
        list(r, c, &s);
    else if (in_scope(r, c, &s, seg[1], id, sizeof id) != 0)
        ; /* answered */
    else if (what == SHOW)
        show(r, c, id);
    else if (what == MEMBERS)
        members(r, c, id);
    else if (what == ADMINS)
        admins(r, c, &s, id);
    else
        moderate(r, c, id, seg[3], seg[4]);
    gw_pool_put(&r->g->pool, c);
}
