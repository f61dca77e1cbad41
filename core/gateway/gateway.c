/*
 * The gateway's HTTP front: libmicrohttpd with epoll and a thread pool, one
 * request context per connection (body collected under a size limit, request
 * id chosen), routing by path segments, and one place that turns an answer
 * into a response (X-Request-Id, ETag/304, Retry-After) and counts it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "gateway/gw.h"
#include "gateway/gw_rank.h"
#include "gateway/gw_ws.h"
#include "log/log.h"

int64_t gw_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *gw_header(gw_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *gw_arg(gw_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* 5xx: one error_logs row (best effort: the database may be what failed). */
static void error_row(gw_req *r, const char *code, const char *msg)
{
    PGconn *c = gw_pool_get(&r->g->pool, 200);
    if (!c)
        return;
    char ctx[600];
    json_t *j = json_pack("{s:s, s:s}", "method", r->method, "url", r->url);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    snprintf(ctx, sizeof ctx, "%s", s ? s : "{}");
    free(s);
    json_decref(j);
    const char *p[4] = {code, msg, r->id, ctx};
    PQclear(PQexecParams(c,
                         "INSERT INTO error_logs (service, error_type, error_message, request_id, "
                         "context) VALUES ('gateway', $1, $2, $3, $4::jsonb)",
                         4, NULL, p, NULL, NULL, 0));
    gw_pool_put(&r->g->pool, c);
}

void gw_error(gw_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Unavailable is temporary: tell the client when to come back, unless already said. */
    if (status == 503 && !r->retry_after[0])
        snprintf(r->retry_after, sizeof r->retry_after, "%d", GW_RETRY_AFTER_S);
    json_t *j = json_pack("{s:s, s:s, s:s}", "error", code, "message", msg, "requestId", r->id);
    gw_json(r, status, j);
    if (status >= 500) {
        bm_logf(BM_LOG_LVL_ERROR, "gateway",
                "request_id=%s method=%s path=%s status=%d error=%s %s", r->id, r->method, r->url,
                status, code, msg);
        error_row(r, code, msg);
    }
}

void gw_json(gw_req *r, int status, json_t *body)
{
    bm_buf_reset(&r->out);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (s) {
        bm_buf_puts(&r->out, s);
        free(s);
    }
    r->status = status;
    r->content_type = "application/json";
}

/* An incoming X-Request-Id is echoed when it is short and plain; else a new UUID. */
static void pick_request_id(gw_req *r)
{
    const char *in = gw_header(r, "X-Request-Id");
    size_t n = in ? strlen(in) : 0;
    int ok = n > 0 && n < 65;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)in[i]) || in[i] == '-' || in[i] == '_' || in[i] == '.';
    if (ok)
        snprintf(r->id, sizeof r->id, "%s", in);
    else if (bm_auth_uuid(r->id) != 0)
        snprintf(r->id, sizeof r->id, "req-%lld", (long long)gw_now_us());
}

/* Splits the path into at most `max` segments (in place). */
static int split_path(char *path, char **seg, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return -1;
        seg[n++] = t;
    }
    return n;
}

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static void method_not_allowed(gw_req *r, const char *allow)
{
    gw_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", r->method,
             allow);
}

static void dispatch(gw_req *r)
{
    char path[2048];
    if (strlen(r->url) >= sizeof path) {
        gw_error(r, 404, "not_found", "no such route");
        return;
    }
    snprintf(path, sizeof path, "%s", r->url);
    char *seg[12];
    int n = split_path(path, seg, 12);
    int get = is(r->method, "GET") || is(r->method, "HEAD");
    if (n == 1 && (is(seg[0], "healthz") || is(seg[0], "readyz") || is(seg[0], "metrics"))) {
        r->route = is(seg[0], "healthz")  ? GW_R_HEALTHZ
                   : is(seg[0], "readyz") ? GW_R_READYZ
                                          : GW_R_METRICS;
        if (!get)
            method_not_allowed(r, "GET");
        else if (r->route == GW_R_HEALTHZ)
            gw_json(r, 200, json_pack("{s:s}", "status", "ok"));
        else if (r->route == GW_R_READYZ)
            gw_readyz(r);
        else
            gw_metrics_text(r);
        return;
    }
    if (n == 2 && is(seg[0], "c")) {
        r->route = GW_R_REFERRAL;
        if (!get)
            method_not_allowed(r, "GET");
        else
            gw_referral(r, seg[1]);
        return;
    }
    if (n < 2 || !is(seg[0], "v1")) {
        gw_error(r, 404, "not_found", "no such route");
        return;
    }
    if (n == 2 && is(seg[1], "events")) {
        r->route = GW_R_EVENTS;
        if (!is(r->method, "POST"))
            method_not_allowed(r, "POST");
        else if (!gw_player_refused(r))
            gw_events_post(r);
        return;
    }
    if (is(seg[1], "admin")) {
        r->route = GW_R_ADMIN;
        if (n > 2 && is(seg[2], "communities"))
            gw_admin_communities(r, seg + 2, n - 2);
        else
            gw_admin(r, seg + 2, n - 2);
        return;
    }
    if (n == 4 && is(seg[1], "communities") && is(seg[3], "join")) {
        r->route = GW_R_COMMUNITY_JOIN;
        if (!is(r->method, "POST"))
            method_not_allowed(r, "POST");
        else
            gw_community_join(r, seg[2]);
        return;
    }
    if (n == 3 && is(seg[1], "communities")) {
        r->route = GW_R_COMMUNITY;
        if (!get)
            method_not_allowed(r, "GET");
        else
            gw_community_show(r, seg[2]);
        return;
    }
    if (is(seg[1], "tournaments")) {
        gw_tournament(r, seg + 2, n - 2);
        return;
    }
    if (n == 6 && is(seg[1], "battlepasses") && is(seg[3], "users") &&
        (is(seg[5], "claim") || is(seg[5], "purchase"))) {
        r->route = GW_R_BP_COMMAND;
        if (!is(r->method, "POST"))
            method_not_allowed(r, "POST");
        else if (!gw_player_refused(r))
            gw_bp_command(r, seg[2], seg[4], seg[5]);
        return;
    }
    if (!get) {
        /* Every other /v1 route is a read: a write method on one is 405, not 404. */
        gw_query(r, seg + 1, -(n - 1));
        return;
    }
    gw_query(r, seg + 1, n - 1);
}

/* Turns the answer into a response. */
static enum MHD_Result respond(gw_req *r)
{
    int status = r->status ? r->status : 500;
    int is_get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (is_get && status == 200 && r->route != GW_R_METRICS && r->route != GW_R_HEALTHZ &&
        r->route != GW_R_READYZ) {
        char h[65];
        bm_auth_sha256_hex(r->out.p ? r->out.p : "", r->out.len, h);
        snprintf(r->etag, sizeof r->etag, "\"%.32s\"", h);
        const char *inm = gw_header(r, "If-None-Match");
        if (inm && (strstr(inm, r->etag) || strcmp(inm, "*") == 0)) {
            status = 304;
            bm_buf_reset(&r->out);
        }
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->out.len, r->out.p ? r->out.p : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    if (r->out.len || status != 304)
        MHD_add_response_header(resp, "Content-Type",
                                r->content_type ? r->content_type : "application/json");
    if (r->etag[0]) {
        MHD_add_response_header(resp, "ETag", r->etag);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
    }
    if (r->retry_after[0])
        MHD_add_response_header(resp, "Retry-After", r->retry_after);
    if (r->location[0])
        MHD_add_response_header(resp, "Location", r->location);
    gw_cors_headers(r, resp);
    if (status == 405)
        MHD_add_response_header(resp, "Allow",
                                r->route == GW_R_EVENTS || r->route == GW_R_COMMUNITY_JOIN ? "POST"
                                                                                           : "GET");
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    bm_gateway *g = cls;
    gw_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->g = g;
        r->conn = conn;
        r->method = method;
        r->url = url;
        r->t0_us = gw_now_us();
        *con_cls = r;
        pick_request_id(r);
        const char *cl = gw_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoll(cl, NULL, 10) > g->cfg.http_max_body_bytes) {
            /* Answer before reading a byte of it; libmicrohttpd closes the connection. */
            gw_error(r, 413, "payload_too_large", "body of %s bytes exceeds %d", cl,
                     g->cfg.http_max_body_bytes);
            return respond(r);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->status) {
            *upload_size = 0; /* already answered (413): drain */
            return MHD_YES;
        }
        if (r->body.len + *upload_size > (size_t)g->cfg.http_max_body_bytes)
            r->too_large = 1;
        else
            bm_buf_append(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->status)
        return MHD_YES;
    if (r->too_large || r->body.oom)
        gw_error(r, 413, "payload_too_large", "body exceeds %d bytes", g->cfg.http_max_body_bytes);
    else if (bm_ws_route(url) && g->ws) {
        int up = bm_ws_request(g->ws, r); /* 1: the 101 upgrade is queued */
        if (up != 0)
            return up > 0 ? MHD_YES : MHD_NO;
    } else if (!gw_cors_preflight(r))
        dispatch(r);
    return respond(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    bm_gateway *g = cls;
    gw_req *r = *con_cls;
    if (!r)
        return;
    if (r->status)
        gw_metrics_record(g, r->route, r->status, gw_now_us() - r->t0_us);
    bm_buf_free(&r->body);
    bm_buf_free(&r->out);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    bm_warn("http", "%s", line);
}

static int parse_listen(const char *s, struct sockaddr_in *sa, char *err, size_t errlen)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host) {
        snprintf(err, errlen, "http.listen '%s': expected host:port", s);
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf(err, errlen, "http.listen '%s': bad port", s);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host[0] ? host : "0.0.0.0", NULL, &hints, &ai) != 0 || !ai) {
        snprintf(err, errlen, "http.listen '%s': cannot resolve %s", s, host);
        return -1;
    }
    memcpy(sa, ai->ai_addr, sizeof *sa);
    freeaddrinfo(ai);
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

bm_gateway *bm_gateway_start(const bm_role_env *env, char *err, size_t errlen)
{
    bm_gateway *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->cfg = *env->cfg;
    g->stats = env->stats;
    g->loader = env->loader;
    pthread_mutex_init(&g->mods_lock, NULL);
    snprintf(g->bootstrap, sizeof g->bootstrap, "%s", env->bootstrap);
    atomic_store(&g->run, 1);
    pthread_mutex_init(&g->keys_lock, NULL);
    pthread_mutex_init(&g->jwks_lock, NULL);
    pthread_mutex_init(&g->boards_lock, NULL);
    struct sockaddr_in sa;
    if (parse_listen(g->cfg.http_listen, &sa, err, errlen) != 0)
        goto fail;
    if (gw_pool_init(&g->pool, g->cfg.pg_dsn, g->cfg.http_pg_pool, err, errlen) != 0)
        goto fail;
    if (bm_cmdauth_load(&g->cmdkeys, &g->cfg, 1, err, errlen) != 0 ||
        gw_producer_start(g, err, errlen) != 0)
        goto fail;
    if (!(g->ranks = gw_ranks_start(g, err, errlen)))
        goto fail;
    if (g->cfg.auth_certs[0]) {
        g->jwks = bm_jwks_load(g->cfg.auth_certs, err, errlen);
        if (!g->jwks)
            goto fail;
    }
    if (!(g->ws = bm_ws_start(g, err, errlen)))
        goto fail;
    g->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE,
                            0, NULL, NULL, on_request, g, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
                            (unsigned)g->cfg.http_threads, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)(g->cfg.http_max_connections + g->cfg.ws_max_connections),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)g->cfg.http_conn_timeout_s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, g,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, g, MHD_OPTION_END);
    if (!g->d) {
        snprintf(err, errlen, "http.listen %s: cannot listen (address in use?)",
                 g->cfg.http_listen);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(g->d, MHD_DAEMON_INFO_BIND_PORT);
    g->port = info ? info->port : 0;
    char path[1100];
    snprintf(path, sizeof path, "%s/http.port", g->cfg.run_dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%d\n", g->port);
        fclose(f);
    }
    bm_info("gateway", "listening on http://%s:%d threads=%d certs=%zu", inet_ntoa(sa.sin_addr),
            g->port, g->cfg.http_threads, bm_jwks_count(g->jwks));
    return g;
fail:
    bm_gateway_stop(g);
    return NULL;
}

int bm_gateway_port(const bm_gateway *g)
{
    return g->port;
}

void bm_gateway_reload(bm_gateway *g)
{
    if (!g || !g->cfg.auth_certs[0])
        return;
    char err[512];
    bm_jwks *k = bm_jwks_load(g->cfg.auth_certs, err, sizeof err);
    if (!k) {
        bm_error("gateway", "certificates not reloaded, keeping %zu: %s", bm_jwks_count(g->jwks),
                 err);
        return;
    }
    pthread_mutex_lock(&g->jwks_lock);
    bm_jwks *old = g->jwks;
    g->jwks = k;
    pthread_mutex_unlock(&g->jwks_lock);
    bm_jwks_free(old);
    bm_info("gateway", "certificates reloaded count=%zu", bm_jwks_count(k));
}

void bm_gateway_stop(bm_gateway *g)
{
    if (!g)
        return;
    atomic_store(&g->run, 0);
    bm_ws_stop(g->ws); /* upgraded sockets are closed before the daemon stops */
    if (g->d)
        MHD_stop_daemon(g->d);
    bm_ws_free(g->ws);
    gw_ranks_stop(g->ranks);
    gw_producer_stop(g);
    bm_cmdauth_clear(&g->cmdkeys);
    gw_pool_free(&g->pool);
    gw_keys_free(g);
    bm_jwks_free(g->jwks);
    pthread_mutex_destroy(&g->keys_lock);
    pthread_mutex_destroy(&g->jwks_lock);
    pthread_mutex_destroy(&g->boards_lock);
    pthread_mutex_destroy(&g->mods_lock);
    bm_buf_free(&g->mods_text);
    free(g->boards);
    char path[1100];
    snprintf(path, sizeof path, "%s/http.port", g->cfg.run_dir);
    unlink(path);
    free(g);
}

/* --- the role ----------------------------------------------------------------------- */

static int role_start(const bm_role_env *env, void **state, char *err, size_t errlen)
{
    bm_gateway *g = bm_gateway_start(env, err, errlen);
    *state = g;
    return g ? 0 : -1;
}

static void role_stop(void *state)
{
    bm_gateway_stop(state);
}

static void role_step(void *state)
{
    gw_metrics_modules(state);
}

static void role_reload(void *state)
{
    bm_gateway_reload(state);
}

const bm_role_ops bm_gateway_role = {.name = "gateway",
                                     .start = role_start,
                                     .step = role_step,
                                     .stop = role_stop,
                                     .reload = role_reload};
