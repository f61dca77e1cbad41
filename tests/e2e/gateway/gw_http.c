#include "e2e/gateway/gw_http.h"

#include "event/event.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

void gw_bmctl_line(gw_world *w, char *out, size_t cap, const char *const *args)
{
    char *text = NULL;
    int rc = bm_e2e_bmctl(&w->e, &text, args);
    if (rc != 0)
        bm_e2e_fail("bmctl %s failed (%d): %s", args[0], rc, text ? text : "");
    /* bmctl prints notes on stderr too: take the first line that is not one. */
    const char *line = text;
    while (line && (strncmp(line, "key ", 4) == 0 || strncmp(line, "bmctl:", 6) == 0)) {
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    snprintf(out, cap, "%s", line ? line : "");
    out[strcspn(out, "\n")] = '\0';
    free(text);
}

void gw_world_start(gw_world *w, const char *name, const char *const *env)
{
    memset(w, 0, sizeof *w);
    bm_e2e_init(&w->e, name, 3);
    bm_e2e_setenv(&w->e, "BM_HTTP_PRODUCE_TIMEOUT_MS", "1500");
    for (size_t i = 0; env && env[i]; i += 2) {
        if (strcmp(env[i], "GW_MODULE") == 0) {
            char src[1100], dst[1200];
            bm_e2e_build_path(&w->e, "modules", src, sizeof src);
            snprintf(dst, sizeof dst, "%s/%s", src, env[i + 1]);
            size_t len;
            char *so = bm_e2e_slurp(dst, &len);
            if (!so)
                bm_e2e_fail("no %s", dst);
            snprintf(dst, sizeof dst, "%s/%s", w->e.mods_dir, env[i + 1]);
            bm_e2e_write_file(dst, so, len);
            free(so);
        } else if (strcmp(env[i], "GW_CAMPAIGN") != 0) {
            bm_e2e_setenv(&w->e, env[i], env[i + 1]);
        }
    }
    char line[256];
    const char *s[] = {"studio",   "create",  "--firebase-uid", "uid-a", "--name",
                       "Studio A", "--email", "a@example.com",  NULL};
    gw_bmctl_line(w, line, sizeof line, s);
    const char *g[] = {"game",    "create",       "--studio", "uid-a", "--name",
                       "GW game", "--identifier", "gw-game",  NULL};
    gw_bmctl_line(w, line, sizeof line, g);
    const char *k[] = {"key", "create", "--game", "gw-game", NULL};
    gw_bmctl_line(w, w->key, sizeof w->key, k);
    assert_int_equal(strncmp(w->key, "bmk_", 4), 0);
    bm_e2e_campaign(&w->e,
                    "{\"type\":\"leaderboard\",\"name\":\"gw board\",\"gameId\":\"gw-game\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"sum\"}}",
                    w->board, sizeof w->board);
    for (size_t i = 0; env && env[i]; i += 2) {
        if (strcmp(env[i], "GW_CAMPAIGN") == 0 && w->ncamps < 4) {
            bm_e2e_campaign(&w->e, env[i + 1], w->camps[w->ncamps], sizeof w->camps[0]);
            w->ncamps++;
        }
    }
    bm_e2e_engine_start(&w->e, &w->g);
    bm_e2e_wait_log(&w->g, "module=gateway msg=\"listening", 30000);
    char path[600];
    snprintf(path, sizeof path, "%s/http.port", w->e.run_dir);
    char *port = bm_e2e_slurp(path, NULL);
    if (!port)
        bm_e2e_fail("no %s", path);
    w->port = atoi(port);
    free(port);
    assert_true(w->port > 0);
    /* Ready = database, broker and partitions: then the first posts are consumed at once. */
    for (int i = 0; i < 300; i++) {
        gw_resp r;
        gw_req(w, &r, "GET", "/readyz", NULL, NULL, 0);
        long st = r.status;
        gw_resp_free(&r);
        if (st == 200)
            return;
        bm_e2e_sleep_ms(100);
    }
    bm_e2e_fail("gateway never became ready");
}

void gw_world_stop(gw_world *w)
{
    if (w->g.pid > 0 && bm_e2e_engine_alive(&w->g))
        bm_e2e_engine_stop(&w->g, 30000);
}

typedef struct sink {
    char *p;
    size_t n;
} sink;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t add = size * nmemb;
    char *p = realloc(s->p, s->n + add + 1);
    if (!p)
        return 0;
    memcpy(p + s->n, ptr, add);
    s->p = p;
    s->n += add;
    p[s->n] = '\0';
    return add;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return;
    const char *v = line + k + 1;
    while (*v == ' ')
        v++;
    size_t len = (size_t)(line + n - v);
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
        len--;
    snprintf(out, cap, "%.*s", (int)len, v);
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    gw_resp *r = ud;
    size_t n = size * nmemb;
    header_value(line, n, "X-Request-Id", r->request_id, sizeof r->request_id);
    header_value(line, n, "ETag", r->etag, sizeof r->etag);
    header_value(line, n, "Retry-After", r->retry_after, sizeof r->retry_after);
    header_value(line, n, "Content-Type", r->content_type, sizeof r->content_type);
    header_value(line, n, "Location", r->location, sizeof r->location);
    return n;
}

void gw_req(const gw_world *w, gw_resp *r, const char *method, const char *path,
            const char *const *headers, const void *body, size_t len)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c)
        bm_e2e_fail("curl_easy_init");
    char url[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", w->port, path);
    struct curl_slist *h = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    sink s = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        bm_e2e_fail("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r->body = s.p ? s.p : strdup("");
    r->json = json_loads(r->body, 0, NULL);
}

void gw_resp_free(gw_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

void gw_assert_error(const gw_resp *r, long status, const char *code)
{
    if (r->status != status)
        bm_e2e_fail("expected %ld %s, got %ld: %s", status, code, r->status, r->body);
    const char *e = json_string_value(json_object_get(r->json, "error"));
    const char *id = json_string_value(json_object_get(r->json, "requestId"));
    if (!e || strcmp(e, code) != 0 || !json_is_string(json_object_get(r->json, "message")) || !id ||
        strcmp(id, r->request_id) != 0 || !r->request_id[0])
        bm_e2e_fail("bad error body for %ld %s (X-Request-Id %s): %s", status, code, r->request_id,
                    r->body);
}

void gw_event(char *buf, size_t cap, const char *game, const char *user, const char *eid,
              long score)
{
    char ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    bm_rfc3339_format((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ts, sizeof ts);
    if (eid)
        snprintf(buf, cap,
                 "{\"eventId\":\"%s\",\"gameId\":\"%s\",\"userId\":\"%s\",\"eventType\":"
                 "\"MATCH_END\",\"timestamp\":\"%s\",\"data\":{\"score\":%ld}}",
                 eid, game, user, ts, score);
    else
        snprintf(buf, cap,
                 "{\"gameId\":\"%s\",\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":"
                 "\"%s\",\"data\":{\"score\":%ld}}",
                 game, user, ts, score);
}

void gw_wait_drained(gw_world *w)
{
    long long end = bm_e2e_topic_end(&w->e, BM_TOPIC_EVENTS);
    bm_e2e_wait_offsets(&w->e, &w->g, end, 60000);
}

int gw_world_setup(void **state)
{
    *state = calloc(1, sizeof(gw_world));
    return *state ? 0 : -1;
}

int gw_world_teardown(void **state)
{
    gw_world *w = *state;
    bm_e2e_cleanup(&w->e);
    free(w);
    return 0;
}
