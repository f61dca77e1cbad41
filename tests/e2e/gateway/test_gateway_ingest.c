/*
 * Events posted over HTTP reach the boards exactly once: client retries of
 * the same body, a body whose eventIds the gateway chose and the client sent
 * again, and a broker that is down during a post (503, the retry counts
 * once). Then every error status of the ingestion and query routes, each with
 * its JSON body and the request id of its X-Request-Id header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/gateway/gw_http.h"
/* after rdkafka.h, which e2e.h includes */
#include <librdkafka/rdkafka_mock.h>

#define NUSERS 10

static const char *const k_json[] = {"Content-Type: application/json", NULL, NULL};

static void auth_headers(const gw_world *w, char *auth, size_t cap, const char **h)
{
    snprintf(auth, cap, "Authorization: Bearer %s", w->key);
    h[0] = auth;
    h[1] = k_json[0];
    h[2] = NULL;
}

/* Posts body; returns the status; the answer stays in r. */
static long post(const gw_world *w, gw_resp *r, const char *path, const char *body)
{
    char auth[200];
    const char *h[3];
    auth_headers(w, auth, sizeof auth, h);
    gw_req(w, r, "POST", path, h, body, strlen(body));
    return r->status;
}

static long long board_value(gw_world *w, const char *user)
{
    return bm_e2e_ll(&w->e,
                     "SELECT COALESCE((SELECT current_value::bigint FROM user_progress WHERE "
                     "campaign_id = '%s' AND user_id = '%s'), -1)",
                     w->board, user);
}

static void test_exactly_once(void **state)
{
    gw_world *w = *state;
    const char *env[] = {"BM_HTTP_KEY_CACHE_MS", "0", NULL};
    gw_world_start(w, "gw_once", env);
    long long expect[NUSERS] = {0};
    char body[64 * 1024], ev[512];
    /* 30 bodies of 20 events, each sent three times (client retries). */
    for (int b = 0; b < 30; b++) {
        size_t n = (size_t)snprintf(body, sizeof body, "{\"events\":[");
        for (int i = 0; i < 20; i++) {
            char eid[64], user[16];
            int u = (b * 20 + i) % NUSERS;
            long score = (b * 20 + i) % 97 + 1;
            snprintf(eid, sizeof eid, "once-%d-%d", b, i);
            snprintf(user, sizeof user, "u%d", u);
            gw_event(ev, sizeof ev, "gw-game", user, eid, score);
            n += (size_t)snprintf(body + n, sizeof body - n, "%s%s", i ? "," : "", ev);
            expect[u] += score;
        }
        snprintf(body + n, sizeof body - n, "]}");
        for (int k = 0; k < 3; k++) {
            gw_resp r;
            if (post(w, &r, "/v1/events", body) != 202)
                bm_e2e_fail("body %d try %d: %ld %s", b, k, r.status, r.body);
            assert_int_equal(json_integer_value(json_object_get(r.json, "accepted")), 20);
            gw_resp_free(&r);
        }
    }
    /* No eventId: the gateway picks one and says which; the retry reuses it. */
    gw_event(ev, sizeof ev, "gw-game", "u0", NULL, 1000);
    gw_resp r;
    assert_int_equal(post(w, &r, "/v1/events", ev), 202);
    const char *given = json_string_value(json_array_get(json_object_get(r.json, "eventIds"), 0));
    assert_non_null(given);
    assert_int_equal(strlen(given), 36);
    char retry[512];
    gw_event(retry, sizeof retry, "gw-game", "u0", given, 1000);
    gw_resp_free(&r);
    assert_int_equal(post(w, &r, "/v1/events", retry), 202);
    gw_resp_free(&r);
    expect[0] += 1000;

    /* The broker goes down during a post: 503 with Retry-After, one error_logs row and one
     * log line with the request id; the client's retry after it is back counts once. */
    rd_kafka_mock_cluster_t *mc = bm_broker_mock(w->e.broker);
    gw_event(ev, sizeof ev, "gw-game", "u1", "down-1", 777);
    rd_kafka_mock_broker_set_down(mc, 1);
    assert_int_equal(post(w, &r, "/v1/events", ev), 503);
    gw_assert_error(&r, 503, "broker_unavailable");
    assert_true(r.retry_after[0] != '\0');
    assert_int_equal(
        bm_e2e_ll(&w->e, "SELECT count(*) FROM error_logs WHERE request_id = '%s'", r.request_id),
        1);
    assert_int_equal(bm_e2e_log_count(&w->g, r.request_id), 1);
    gw_resp_free(&r);
    rd_kafka_mock_broker_set_up(mc, 1);
    long st = 0;
    for (int i = 0; i < 20 && st != 202; i++) {
        st = post(w, &r, "/v1/events", ev);
        gw_resp_free(&r);
        if (st != 202)
            bm_e2e_sleep_ms(500);
    }
    assert_int_equal(st, 202);
    expect[1] += 777;

    gw_wait_drained(w);
    for (int u = 0; u < NUSERS; u++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", u);
        if (board_value(w, user) != expect[u])
            bm_e2e_fail("%s: board %lld, posted once %lld", user, board_value(w, user), expect[u]);
    }
    /* The same totals over HTTP, in rank order. */
    char path[200];
    snprintf(path, sizeof path, "/v1/leaderboards/%s?limit=%d", w->board, NUSERS);
    char auth[200];
    const char *h[3];
    auth_headers(w, auth, sizeof auth, h);
    gw_req(w, &r, "GET", path, h, NULL, 0);
    assert_int_equal(r.status, 200);
    json_t *entries = json_object_get(r.json, "entries");
    assert_int_equal(json_array_size(entries), NUSERS);
    double prev = 1e18;
    for (size_t i = 0; i < NUSERS; i++) {
        json_t *en = json_array_get(entries, i);
        const char *u = json_string_value(json_object_get(en, "userId"));
        double score = json_number_value(json_object_get(en, "score"));
        assert_int_equal(json_integer_value(json_object_get(en, "rank")), (json_int_t)i + 1);
        assert_true(score <= prev);
        assert_int_equal((long long)score, expect[atoi(u + 1)]);
        prev = score;
    }
    gw_resp_free(&r);
    gw_world_stop(w);
}

/* gzip of data (a real gzip stream: header and trailer), malloc'd. */
static unsigned char *gzip(const void *data, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void test_error_statuses(void **state)
{
    gw_world *w = *state;
    const char *env[] = {"BM_HTTP_KEY_CACHE_MS",
                         "0",
                         "BM_HTTP_MAX_EVENTS_PER_BODY",
                         "5",
                         "BM_HTTP_MAX_BODY_BYTES",
                         "4096",
                         NULL};
    gw_world_start(w, "gw_errors", env);
    gw_resp r;
    char ev[512], body[8192], path[300];
    gw_event(ev, sizeof ev, "gw-game", "p1", "err-1", 5);

    /* 401: no key, a malformed one, an unknown one. */
    gw_req(w, &r, "POST", "/v1/events", k_json, ev, strlen(ev));
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);
    const char *bad[] = {"Authorization: Bearer bmk_0000000000000000000000000000000000000000000000"
                         "000000000000000000",
                         k_json[0], NULL};
    gw_req(w, &r, "POST", "/v1/events", bad, ev, strlen(ev));
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);
    /* 415: not JSON. */
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *text[] = {auth, "Content-Type: text/plain", NULL};
    gw_req(w, &r, "POST", "/v1/events", text, ev, strlen(ev));
    gw_assert_error(&r, 415, "unsupported_media_type");
    gw_resp_free(&r);
    /* 400: not JSON; an invalid event names its index and field, nothing is produced. */
    post(w, &r, "/v1/events", "{\"events\": [");
    gw_assert_error(&r, 400, "invalid_body");
    gw_resp_free(&r);
    char ok2[512];
    gw_event(ok2, sizeof ok2, "gw-game", "p2", "err-2", 7);
    snprintf(body, sizeof body,
             "{\"events\":[%s,{\"gameId\":\"gw-game\",\"eventType\":\"MATCH_END\","
             "\"timestamp\":\"2026-01-01T00:00:00Z\"}]}",
             ok2);
    post(w, &r, "/v1/events", body);
    gw_assert_error(&r, 400, "invalid_events");
    json_t *bad1 = json_array_get(json_object_get(r.json, "events"), 0);
    assert_int_equal(json_integer_value(json_object_get(bad1, "index")), 1);
    assert_string_equal(json_string_value(json_object_get(bad1, "field")), "userId");
    gw_resp_free(&r);
    /* ?partial=1: the valid one is accepted, the invalid one reported. */
    assert_int_equal(post(w, &r, "/v1/events?partial=1", body), 202);
    assert_int_equal(json_integer_value(json_object_get(r.json, "accepted")), 1);
    assert_int_equal(json_array_size(json_object_get(r.json, "invalid")), 1);
    gw_resp_free(&r);
    /* 403: another game's event; nothing of that body is produced. */
    char other[512];
    gw_event(other, sizeof other, "not-my-game", "p3", "err-3", 9);
    snprintf(body, sizeof body, "{\"events\":[%s,%s]}", ev, other);
    post(w, &r, "/v1/events", body);
    gw_assert_error(&r, 403, "forbidden");
    gw_resp_free(&r);
    /* 413: more events than http.max_events_per_body, and a body over the byte limit. */
    snprintf(body, sizeof body, "{\"events\":[%s,%s,%s,%s,%s,%s]}", ev, ev, ev, ev, ev, ev);
    post(w, &r, "/v1/events", body);
    gw_assert_error(&r, 413, "too_many_events");
    gw_resp_free(&r);
    memset(body, ' ', 6000);
    body[6000] = '\0';
    post(w, &r, "/v1/events", body);
    gw_assert_error(&r, 413, "payload_too_large");
    gw_resp_free(&r);
    /* gzip bodies are inflated; one that inflates past the limit is 413 (a 1 MB bomb). */
    char gz_auth[200];
    snprintf(gz_auth, sizeof gz_auth, "Authorization: Bearer %s", w->key);
    const char *hgz[] = {gz_auth, "Content-Type: application/json", "Content-Encoding: gzip", NULL};
    char gev[512];
    gw_event(gev, sizeof gev, "gw-game", "gz1", "gz-1", 1);
    size_t zlen;
    unsigned char *z = gzip(gev, strlen(gev), &zlen);
    gw_req(w, &r, "POST", "/v1/events", hgz, z, zlen);
    assert_int_equal(r.status, 202);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "eventIds"), 0)),
                        "gz-1");
    gw_resp_free(&r);
    free(z);
    char *bomb = calloc(1, 1 << 20);
    memset(bomb, ' ', 1 << 20);
    z = gzip(bomb, 1 << 20, &zlen);
    assert_true(zlen < 4096); /* small on the wire */
    gw_req(w, &r, "POST", "/v1/events", hgz, z, zlen);
    gw_assert_error(&r, 413, "payload_too_large");
    gw_resp_free(&r);
    free(z);
    free(bomb);
    gw_req(w, &r, "POST", "/v1/events", hgz, "not gzip", 8);
    gw_assert_error(&r, 400, "invalid_body");
    gw_resp_free(&r);
    /* 405 and 404. */
    gw_req(w, &r, "GET", "/v1/events", NULL, NULL, 0);
    gw_assert_error(&r, 405, "method_not_allowed");
    gw_resp_free(&r);
    gw_req(w, &r, "GET", "/v1/nothing/here", NULL, NULL, 0);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    const char *h[] = {auth, NULL};
    gw_req(w, &r, "GET", "/v1/leaderboards/00000000-0000-0000-0000-000000000000", h, NULL, 0);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    /* 429 with Retry-After: a key of its own with 1 event/s and a burst of 3. */
    char key2[128];
    const char *k[] = {"key", "create", "--game", "gw-game", NULL};
    gw_bmctl_line(w, key2, sizeof key2, k);
    bm_e2e_ll(&w->e,
              "WITH u AS (UPDATE api_keys SET rate_per_s = 1, rate_burst = 3 WHERE key_prefix = "
              "'%.12s' RETURNING 1) SELECT count(*) FROM u",
              key2);
    char auth2[200];
    snprintf(auth2, sizeof auth2, "Authorization: Bearer %s", key2);
    const char *h2[] = {auth2, k_json[0], NULL};
    snprintf(body, sizeof body, "{\"events\":[%s,%s,%s]}", ev, ev, ev);
    gw_req(w, &r, "POST", "/v1/events", h2, body, strlen(body));
    assert_int_equal(r.status, 202);
    gw_resp_free(&r);
    gw_req(w, &r, "POST", "/v1/events", h2, body, strlen(body));
    gw_assert_error(&r, 429, "rate_limited");
    assert_true(atoi(r.retry_after) >= 1);
    gw_resp_free(&r);
    /* A revoked key stops working (http.key_cache_ms = 0 here). */
    char id[32];
    snprintf(id, sizeof id, "%lld",
             bm_e2e_ll(&w->e, "SELECT id FROM api_keys WHERE key_prefix = '%.12s'", key2));
    const char *rv[] = {"key", "revoke", id, NULL};
    char line[256];
    gw_bmctl_line(w, line, sizeof line, rv);
    gw_req(w, &r, "POST", "/v1/events", h2, ev, strlen(ev));
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);
    /* X-Request-Id: a valid one is echoed, a hostile one replaced. */
    const char *rid[] = {"X-Request-Id: trace-abc.123", NULL};
    gw_req(w, &r, "GET", "/healthz", rid, NULL, 0);
    assert_string_equal(r.request_id, "trace-abc.123");
    gw_resp_free(&r);
    const char *rid2[] = {"X-Request-Id: a b\"<script>", NULL};
    gw_req(w, &r, "GET", "/healthz", rid2, NULL, 0);
    assert_int_equal(strlen(r.request_id), 36);
    gw_resp_free(&r);
    /* ETag and 304 on If-None-Match. */
    gw_wait_drained(w);
    assert_int_equal(bm_e2e_ll(&w->e,
                               "SELECT event_count FROM user_progress WHERE campaign_id = '%s' AND "
                               "user_id = 'gz1'",
                               w->board),
                     1);
    snprintf(path, sizeof path, "/v1/leaderboards/%s/users/p2", w->board);
    gw_req(w, &r, "GET", path, h, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "rank")), 1);
    char etag[80], inm[120];
    snprintf(etag, sizeof etag, "%s", r.etag);
    assert_true(etag[0] == '"');
    gw_resp_free(&r);
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *h3[] = {auth, inm, NULL};
    gw_req(w, &r, "GET", path, h3, NULL, 0);
    assert_int_equal(r.status, 304);
    assert_string_equal(r.body, "");
    gw_resp_free(&r);
    /* Query parameters are checked: 400 naming the parameter. */
    snprintf(path, sizeof path, "/v1/leaderboards/%s?limit=zero", w->board);
    gw_req(w, &r, "GET", path, h, NULL, 0);
    gw_assert_error(&r, 400, "invalid_parameter");
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")), "limit"));
    gw_resp_free(&r);
    /* /metrics counts what happened. */
    gw_req(w, &r, "GET", "/metrics", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "brightmatter_http_rate_limited_total 1"));
    assert_non_null(
        strstr(r.body, "brightmatter_http_requests_total{route=\"/v1/events\",status=\"4xx\"}"));
    /* Everything was committed (gw_wait_drained above): no lag on any partition. */
    assert_non_null(strstr(r.body, "brightmatter_consumer_lag{partition=\"0\"} 0\n"));
    assert_non_null(strstr(r.body, "brightmatter_relay_backlog "));
    assert_string_equal(r.content_type, "text/plain; version=0.0.4");
    gw_resp_free(&r);
    /* Module counters (what bmctl modules shows) follow within a few seconds. */
    long long lb_events = 0;
    for (int i = 0; i < 60 && lb_events == 0; i++) {
        gw_req(w, &r, "GET", "/metrics", NULL, NULL, 0);
        const char *m = strstr(r.body, "brightmatter_module_events_total{module=\"leaderboard\"} ");
        if (m)
            lb_events =
                atoll(m + strlen("brightmatter_module_events_total{module=\"leaderboard\"} "));
        gw_resp_free(&r);
        if (lb_events == 0)
            bm_e2e_sleep_ms(100);
    }
    assert_true(lb_events > 0);
    gw_world_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exactly_once, gw_world_setup, gw_world_teardown),
        cmocka_unit_test_setup_teardown(test_error_statuses, gw_world_setup, gw_world_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
