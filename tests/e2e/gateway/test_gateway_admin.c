/*
 * The admin API and the query API with Firebase ID tokens over real HTTP:
 * a studio owner manages its games and keys; another studio's campaign,
 * game and board are 404; bad tokens are 401, other roles 403; SIGHUP reloads
 * the certificates; SQL injection in every path and query parameter changes
 * nothing.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/gateway/gw_http.h"
#include "e2e/gateway/gw_jwt.h"

#define PROJECT "bm-admin-test"

typedef struct admin_world {
    gw_world w;
    EVP_PKEY *k1, *k2;
    char certs[400];
    char board_b[64];
} admin_world;

static void write_certs(admin_world *a, int with_k2)
{
    char *p1 = gw_rsa_pem(a->k1), *p2 = gw_rsa_pem(a->k2);
    json_t *m = json_pack("{s:s}", "k1", p1);
    if (with_k2)
        json_object_set_new(m, "k2", json_string(p2));
    char *text = json_dumps(m, 0);
    bm_e2e_write_file(a->certs, text, strlen(text));
    free(text);
    json_decref(m);
    free(p1);
    free(p2);
}

static char *token(admin_world *a, const char *kid, const char *sub, const char *role)
{
    char hdr[100], c[1024];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
    gw_claims(c, sizeof c, PROJECT, PROJECT, sub, role, -5, 3600);
    return gw_jwt_rs256(strcmp(kid, "k2") == 0 ? a->k2 : a->k1, hdr, c);
}

/* A request with a bearer token (and JSON content type when body is set). */
static long call(admin_world *a, gw_resp *r, const char *method, const char *path,
                 const char *bearer, const char *body)
{
    char auth[4096];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer ? bearer : "");
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    gw_req(&a->w, r, method, path, bearer ? h : h + 1, body, body ? strlen(body) : 0);
    return r->status;
}

static void start(admin_world *a)
{
    a->k1 = gw_rsa_new();
    a->k2 = gw_rsa_new();
    gw_world *w = &a->w;
    memset(w, 0, sizeof *w);
    /* The certificates file lives in the test's temp dir, written before the engine starts:
     * gw_world_start creates the dir, so write under /tmp first and point at it. */
    snprintf(a->certs, sizeof a->certs, "/tmp/bm-certs-%d.json", (int)getpid());
    write_certs(a, 0);
    const char *env[] = {"BM_AUTH_FIREBASE_PROJECT",
                         PROJECT,
                         "BM_AUTH_CERTS_FILE",
                         a->certs,
                         "BM_HTTP_KEY_CACHE_MS",
                         "0",
                         NULL};
    gw_world_start(w, "gw_admin", env);
    /* Studio B with its own game and board. */
    char line[256];
    const char *s[] = {"studio",   "create",  "--firebase-uid", "uid-b", "--name",
                       "Studio B", "--email", "b@example.com",  NULL};
    gw_bmctl_line(w, line, sizeof line, s);
    const char *g[] = {"game",   "create",       "--studio", "uid-b", "--name",
                       "B game", "--identifier", "game-b",   NULL};
    gw_bmctl_line(w, line, sizeof line, g);
    bm_e2e_campaign(&w->e,
                    "{\"type\":\"leaderboard\",\"name\":\"b board\",\"gameId\":\"game-b\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"aggregation\":\"count\"}}",
                    a->board_b, sizeof a->board_b);
}

static void test_admin(void **state)
{
    admin_world *a = *state;
    start(a);
    gw_resp r;
    char path[300];
    char *ta = token(a, "k1", "uid-a", "studio_owner");
    char *tb = token(a, "k1", "uid-b", "studio_owner");

    /* Studio A sees its game only. */
    assert_int_equal(call(a, &r, "GET", "/v1/admin/games", ta, NULL), 200);
    json_t *games = json_object_get(r.json, "games");
    assert_int_equal(json_array_size(games), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(games, 0), "gameId")),
                        "gw-game");
    gw_resp_free(&r);
    /* Creates a game; the same identifier again is 409; a missing field is 400 naming it. */
    assert_int_equal(
        call(a, &r, "POST", "/v1/admin/games", ta, "{\"name\":\"Second\",\"gameId\":\"a-second\"}"),
        201);
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/admin/games", ta, "{\"name\":\"Again\",\"gameId\":\"a-second\"}");
    gw_assert_error(&r, 409, "conflict");
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/admin/games", ta, "{\"gameId\":\"x\"}");
    gw_assert_error(&r, 400, "invalid_field");
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")), "name"));
    gw_resp_free(&r);
    /* A key for its new game works for ingestion at once; for B's game it is 404. */
    assert_int_equal(call(a, &r, "POST", "/v1/admin/games/a-second/keys", ta, "{}"), 201);
    char key[128], keyid[32];
    snprintf(key, sizeof key, "%s", json_string_value(json_object_get(r.json, "key")));
    snprintf(keyid, sizeof keyid, "%lld",
             (long long)json_integer_value(json_object_get(r.json, "id")));
    gw_resp_free(&r);
    char ev[512];
    gw_event(ev, sizeof ev, "a-second", "p1", "adm-1", 3);
    assert_int_equal(call(a, &r, "POST", "/v1/events", key, ev), 202);
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/admin/games/game-b/keys", ta, "{}");
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    assert_int_equal(call(a, &r, "GET", "/v1/admin/games/game-b/keys", ta, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "keys")), 0);
    gw_resp_free(&r);
    /* B cannot revoke A's key; A can. */
    snprintf(path, sizeof path, "/v1/admin/keys/%s", keyid);
    call(a, &r, "DELETE", path, tb, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    assert_int_equal(call(a, &r, "DELETE", path, ta, NULL), 200);
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/events", key, ev);
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);

    /* Campaigns: B's is 404 to A, 200 to B; lists are per studio. */
    snprintf(path, sizeof path, "/v1/admin/campaigns/%s", a->board_b);
    call(a, &r, "GET", path, ta, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    assert_int_equal(call(a, &r, "GET", path, tb, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "gameId")), "game-b");
    gw_resp_free(&r);
    assert_int_equal(call(a, &r, "GET", "/v1/admin/campaigns", ta, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "campaigns")), 1); /* not B's */
    gw_resp_free(&r);
    /* The query API with a studio token: its own board 200, B's board 404. */
    snprintf(path, sizeof path, "/v1/leaderboards/%s", a->w.board);
    assert_int_equal(call(a, &r, "GET", path, ta, NULL), 200);
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/leaderboards/%s", a->board_b);
    call(a, &r, "GET", path, ta, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    call(a, &r, "GET", path, a->w.key, NULL); /* A's game key on B's board */
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    assert_int_equal(call(a, &r, "GET", "/v1/admin/rewards?status=failed", ta, NULL), 200);
    gw_resp_free(&r);
    /* Retrying a failed reward: only a failed one, only the studio's own. */
    long long fa = bm_e2e_ll(&a->w.e,
                             "INSERT INTO reward_fulfillments (idempotency_key, campaign_id, "
                             "user_id, reward_type, reward_config, status) VALUES ('gw-r-a', "
                             "'%s', 'p1', 'in_game', '{}', 'failed') RETURNING id",
                             a->w.board);
    long long fb = bm_e2e_ll(&a->w.e,
                             "INSERT INTO reward_fulfillments (idempotency_key, campaign_id, "
                             "user_id, reward_type, reward_config, status) VALUES ('gw-r-b', "
                             "'%s', 'p1', 'in_game', '{}', 'failed') RETURNING id",
                             a->board_b);
    assert_int_equal(call(a, &r, "GET", "/v1/admin/rewards?status=failed", ta, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "rewards")), 1); /* not B's */
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/admin/rewards/%lld/retry", fa);
    assert_int_equal(call(a, &r, "POST", path, ta, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "pending");
    gw_resp_free(&r);
    call(a, &r, "POST", path, ta, NULL);
    gw_assert_error(&r, 409, "conflict");
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/admin/rewards/%lld/retry", fb);
    call(a, &r, "POST", path, ta, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    assert_int_equal(
        bm_e2e_ll(&a->w.e, "SELECT count(*) FROM reward_fulfillments WHERE status = 'failed'"), 1);

    /* Campaigns through the admin API, validated by the module like bmctl campaign create. */
    const char *board = "{\"type\":\"leaderboard\",\"name\":\"admin board\",\"gameId\":"
                        "\"gw-game\",\"scoringMetadata\":{\"eventType\":\"MATCH_END\","
                        "\"aggregation\":\"count\"}}";
    assert_int_equal(call(a, &r, "POST", "/v1/admin/campaigns", ta, board), 201);
    char made[64];
    snprintf(made, sizeof made, "%s", json_string_value(json_object_get(r.json, "id")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 1);
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/admin/campaigns", ta,
         "{\"type\":\"leaderboard\",\"name\":\"x\",\"gameId\":\"gw-game\"}");
    gw_assert_error(&r, 400, "invalid_campaign");
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")), "scoring"));
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/admin/campaigns", ta,
         "{\"type\":\"leaderboard\",\"name\":\"x\",\"gameId\":\"game-b\","
         "\"scoringMetadata\":{\"eventType\":\"A\",\"aggregation\":\"count\"}}");
    gw_assert_error(&r, 404, "not_found"); /* B's game */
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/admin/campaigns/%s", made);
    assert_int_equal(call(a, &r, "PUT", path, ta, board), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 2);
    gw_resp_free(&r);
    call(a, &r, "PUT", path, tb, board); /* B replacing A's campaign */
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/admin/campaigns/%s/disable", made);
    call(a, &r, "POST", path, tb, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    assert_int_equal(call(a, &r, "POST", path, ta, NULL), 200);
    gw_resp_free(&r);
    assert_int_equal(bm_e2e_ll(&a->w.e,
                               "SELECT count(*) FROM campaigns WHERE id = '%s' AND status = "
                               "'cancelled' AND version = 3",
                               made),
                     1);

    /* Refused tokens: 401; roles without a studio: 403. */
    call(a, &r, "GET", "/v1/admin/games", NULL, NULL);
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);
    char c[1024];
    gw_claims(c, sizeof c, PROJECT, PROJECT, "uid-a", "studio_owner", -7200, -3600);
    char *bad = gw_jwt_rs256(a->k1, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", c);
    call(a, &r, "GET", "/v1/admin/games", bad, NULL);
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);
    free(bad);
    gw_claims(c, sizeof c, PROJECT, PROJECT, "uid-a", "studio_owner", -5, 3600);
    bad = gw_jwt_none("{\"alg\":\"none\",\"kid\":\"k1\"}", c);
    call(a, &r, "GET", "/v1/admin/games", bad, NULL);
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);
    free(bad);
    char *pem = gw_rsa_pem(a->k1);
    bad = gw_jwt_hs256(pem, strlen(pem), "{\"alg\":\"HS256\",\"kid\":\"k1\"}", c);
    call(a, &r, "GET", "/v1/admin/games", bad, NULL);
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);
    free(bad);
    free(pem);
    char *tp = token(a, "k1", "uid-a", "player");
    call(a, &r, "GET", "/v1/admin/games", tp, NULL);
    gw_assert_error(&r, 403, "forbidden");
    gw_resp_free(&r);
    free(tp);
    char *tx = token(a, "k1", "uid-nobody", "studio_owner");
    call(a, &r, "GET", "/v1/admin/games", tx, NULL);
    gw_assert_error(&r, 403, "forbidden");
    gw_resp_free(&r);
    free(tx);

    /* SIGHUP reloads the certificates: k2 is unknown, then accepted. */
    char *t2 = token(a, "k2", "uid-a", "studio_owner");
    call(a, &r, "GET", "/v1/admin/games", t2, NULL);
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);
    write_certs(a, 1);
    bm_e2e_engine_signal(&a->w.g, SIGHUP);
    bm_e2e_wait_log(&a->w.g, "certificates reloaded count=2", 15000);
    assert_int_equal(call(a, &r, "GET", "/v1/admin/games", t2, NULL), 200);
    gw_resp_free(&r);
    free(t2);
    free(ta);
    free(tb);
    gw_world_stop(&a->w);
}

static void test_sql_injection(void **state)
{
    admin_world *a = *state;
    start(a);
    char *ta = token(a, "k1", "uid-a", "studio_owner");
    const char *inj[] = {"'; DROP TABLE games; --",
                         "' OR '1'='1",
                         "1 OR 1=1",
                         "00000000-0000-0000-0000-000000000000' OR 'x'='x",
                         "\\'; DELETE FROM campaigns; --",
                         "%00",
                         "game-b"};
    long long games0 = bm_e2e_ll(&a->w.e, "SELECT count(*) FROM games");
    long long camps0 = bm_e2e_ll(&a->w.e, "SELECT count(*) FROM campaigns");
    long long keys0 = bm_e2e_ll(&a->w.e, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL");
    CURL *cu = curl_easy_init();
    for (size_t i = 0; i < sizeof inj / sizeof inj[0]; i++) {
        char *x = curl_easy_escape(cu, inj[i], 0);
        const char *fmt[] = {"/v1/leaderboards/%s",
                             "/v1/leaderboards/%s/users/u1",
                             "/v1/leaderboards/{B}/users/%s",
                             "/v1/leaderboards/{B}?around=%s",
                             "/v1/leaderboards/{B}?limit=%s",
                             "/v1/leaderboards/{B}?me=%s",
                             "/v1/games/%s/campaigns",
                             "/v1/games/gw-game/campaigns?type=%s",
                             "/v1/games/gw-game/campaigns?status=%s",
                             "/v1/admin/campaigns/%s",
                             "/v1/admin/games/%s/keys",
                             "/v1/admin/rewards?status=%s"};
        for (size_t f = 0; f < sizeof fmt / sizeof fmt[0]; f++) {
            char tmpl[300], path[1200];
            snprintf(tmpl, sizeof tmpl, "%s", fmt[f]);
            char *b = strstr(tmpl, "{B}");
            if (b) {
                char rest[300];
                snprintf(rest, sizeof rest, "%s", b + 3);
                snprintf(b, sizeof tmpl - (size_t)(b - tmpl), "%s%s", a->w.board, rest);
            }
            snprintf(path, sizeof path, tmpl, x);
            for (int who = 0; who < 2; who++) {
                gw_resp r;
                call(a, &r, "GET", path, who ? ta : a->w.key, NULL);
                /* A 200 may only show the caller's own data, never game-b's. */
                if (r.status >= 500 ||
                    (r.status == 200 && strstr(r.body, "game-b") && !strstr(path, "game-b")))
                    bm_e2e_fail("GET %s: %ld %s", path, r.status, r.body);
                if (r.status == 200 && strstr(path, "campaigns/") == NULL &&
                    strstr(r.body, a->board_b))
                    bm_e2e_fail("GET %s leaked studio B's board: %s", path, r.body);
                gw_resp_free(&r);
            }
        }
        char path[600];
        snprintf(path, sizeof path, "/v1/admin/keys/%s", x);
        gw_resp r;
        call(a, &r, "DELETE", path, ta, NULL);
        assert_int_equal(r.status, 404);
        gw_resp_free(&r);
        /* Stored as text, never run. */
        json_t *b = json_pack("{s:s, s:s}", "name", inj[i], "gameId", inj[i]);
        char *body = json_dumps(b, 0);
        json_decref(b);
        call(a, &r, "POST", "/v1/admin/games", ta, body);
        assert_true(r.status == 201 || r.status == 409);
        gw_resp_free(&r);
        free(body);
        curl_free(x);
    }
    curl_easy_cleanup(cu);
    long long added = bm_e2e_ll(&a->w.e, "SELECT count(*) FROM games WHERE name = identifier");
    assert_int_equal(bm_e2e_ll(&a->w.e, "SELECT count(*) FROM games"), games0 + added);
    assert_true(added >= 5);
    assert_int_equal(bm_e2e_ll(&a->w.e, "SELECT count(*) FROM campaigns"), camps0);
    assert_int_equal(bm_e2e_ll(&a->w.e, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL"),
                     keys0);
    free(ta);
    gw_world_stop(&a->w);
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(admin_world));
    return 0;
}

static int teardown(void **state)
{
    admin_world *a = *state;
    bm_e2e_cleanup(&a->w.e);
    unlink(a->certs);
    EVP_PKEY_free(a->k1);
    EVP_PKEY_free(a->k2);
    free(a);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_injection, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
