/*
 * Communities and tournaments over real HTTP against a running engine: a
 * player joins through the API (a retried body counts once, one starter
 * reward), bad metadata is 400 naming the field, the community page shows its
 * members and a player's membership, a referral link redirects
 * and records one click, the community admin API is scoped (another studio's
 * community is 404, other roles 403), and a tournament page shows the
 * standings while it runs and the final table with its prizes once it ends.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/gateway/gw_http.h"
#include "e2e/gateway/gw_jwt.h"
#include "util/rfc3339.h"

#define PROJECT "bm-community-test"
#define WALLET "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

typedef struct cw {
    gw_world w;
    EVP_PKEY *k;
    char certs[400];
} cw;

static char *token(cw *a, const char *sub, const char *role)
{
    char c[1024];
    gw_claims(c, sizeof c, PROJECT, PROJECT, sub, role, -5, 3600);
    /* A player token names its game (gw_player.c). */
    json_t *j = json_loads(c, 0, NULL);
    if (strcmp(role, "player") == 0)
        json_object_set_new(j, "gameId", json_string("gw-game"));
    char *payload = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *t = gw_jwt_rs256(a->k, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", payload);
    free(payload);
    return t;
}

static long call(cw *a, gw_resp *r, const char *method, const char *path, const char *bearer,
                 const char *body)
{
    char auth[4096];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer ? bearer : "");
    const char *h[] = {auth, "Content-Type: application/json", "Referer: https://forum.example/t/1",
                       NULL};
    gw_req(&a->w, r, method, path, bearer ? h : h + 1, body, body ? strlen(body) : 0);
    return r->status;
}

static void community(cw *a, const char *file, const char *json)
{
    char path[600], *out = NULL;
    snprintf(path, sizeof path, "%s/%s", a->w.e.dir, file);
    bm_e2e_write_file(path, json, strlen(json));
    const char *args[] = {"community", "create", path, NULL};
    if (bm_e2e_bmctl(&a->w.e, &out, args) != 0)
        fail_msg("community create: %s", out ? out : "");
    free(out);
}

/* Polls SQL until it answers want (up to 90 s). */
static void wait_ll(cw *a, long long want, const char *sql)
{
    long long v = -1;
    for (int i = 0; i < 900; i++) {
        v = bm_e2e_ll(&a->w.e, "%s", sql);
        if (v == want)
            return;
        bm_e2e_sleep_ms(100);
    }
    fail_msg("%s: %lld, expected %lld", sql, v, want);
}

static void post_score(cw *a, const char *user, const char *eid, long score)
{
    char ev[512];
    gw_resp r;
    gw_event(ev, sizeof ev, "gw-game", user, eid, score);
    assert_int_equal(call(a, &r, "POST", "/v1/events", a->w.key, ev), 202);
    gw_resp_free(&r);
}

/* Asserts a standings or results table: users in order with these scores and prizes. */
static void assert_table(json_t *t, const char *const *users, const double *scores,
                         const long long *prizes, size_t n)
{
    assert_int_equal(json_array_size(t), n);
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(t, i);
        assert_string_equal(json_string_value(json_object_get(row, "userId")), users[i]);
        assert_int_equal(json_integer_value(json_object_get(row, "rank")), (long long)i + 1);
        assert_true(json_number_value(json_object_get(row, "score")) == scores[i]);
        assert_int_equal(json_integer_value(json_object_get(row, "prize")), prizes[i]);
    }
}

static void test_community_tournament(void **state)
{
    cw *a = *state;
    a->k = gw_rsa_new();
    snprintf(a->certs, sizeof a->certs, "/tmp/bm-certs-cm-%d.json", (int)getpid());
    char *pem = gw_rsa_pem(a->k);
    json_t *m = json_pack("{s:s}", "k1", pem);
    char *text = json_dumps(m, 0);
    bm_e2e_write_file(a->certs, text, strlen(text));
    free(text);
    json_decref(m);
    free(pem);
    /* A tournament on gw-game that ends 50 s from now (1 s grace), 100 units by rank. */
    char tjson[1024], s_ts[40], e_ts[40];
    int64_t end_ms = bm_e2e_wall_ms() + 50000;
    bm_rfc3339_format(bm_e2e_wall_ms() - 3600000, s_ts, sizeof s_ts);
    bm_rfc3339_format(end_ms, e_ts, sizeof e_ts);
    snprintf(tjson, sizeof tjson,
             "{\"type\":\"tournament\",\"name\":\"Weekend cup\",\"gameId\":\"gw-game\","
             "\"startDate\":\"%s\",\"endDate\":\"%s\",\"gracePeriodSeconds\":1,"
             "\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\"},"
             "\"prizePool\":{\"totalValue\":100,\"rewardType\":\"token\",\"distribution\":"
             "[{\"rank\":1,\"percentage\":60},{\"rank\":2,\"percentage\":30},{\"rank\":3,"
             "\"percentage\":10}]}}",
             s_ts, e_ts);
    const char *env[] = {"BM_AUTH_FIREBASE_PROJECT",
                         PROJECT,
                         "BM_AUTH_CERTS_FILE",
                         a->certs,
                         "BM_HTTP_KEY_CACHE_MS",
                         "0",
                         "GW_MODULE",
                         "tournament.so",
                         "GW_MODULE",
                         "battlepass.so",
                         "GW_CAMPAIGN",
                         tjson,
                         NULL};
    gw_world_start(&a->w, "gw_community", env);
    const char *tid = a->w.camps[0];
    char line[256], cj[1024], studio_a[64];
    const char *sb[] = {"studio",   "create",  "--firebase-uid", "uid-b", "--name",
                        "Studio B", "--email", "b@example.com",  NULL};
    gw_bmctl_line(&a->w, line, sizeof line, sb);
    PGresult *res = PQexec(a->w.e.db, "SELECT id::text FROM studios WHERE firebase_uid = 'uid-a'");
    snprintf(studio_a, sizeof studio_a, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = PQexec(a->w.e.db, "SELECT id::text FROM studios WHERE firebase_uid = 'uid-b'");
    snprintf(cj, sizeof cj,
             "{\"studioId\":\"%s\",\"name\":\"B guild\",\"referralSlug\":\"guild-b\","
             "\"redirectUrl\":\"https://b.example/\",\"memberMetadata\":{\"type\":\"username\"}}",
             PQgetvalue(res, 0, 0));
    PQclear(res);
    community(a, "b.json", cj);
    snprintf(cj, sizeof cj,
             "{\"studioId\":\"%s\",\"name\":\"A guild\",\"referralSlug\":\"guild-a\","
             "\"redirectUrl\":\"https://a.example/landing?src=bm\",\"memberMetadata\":"
             "{\"type\":\"wallet\"},\"starterReward\":{\"type\":\"in_game\",\"config\":"
             "{\"item\":\"badge\"}}}",
             studio_a);
    community(a, "a.json", cj);
    char *ta = token(a, "uid-a", "studio_owner"), *tb = token(a, "uid-b", "studio_owner");
    char *tc = token(a, "uid-c", "community_admin"), *tp = token(a, "p2", "player");
    gw_resp r;

    /* What a game shows before a join: name, no members, p1 not a member. */
    assert_int_equal(call(a, &r, "GET", "/v1/communities/guild-a?userId=p1", a->w.key, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "A guild");
    assert_int_equal(json_integer_value(json_object_get(r.json, "members")), 0);
    assert_true(json_is_null(json_object_get(r.json, "membership")));
    gw_resp_free(&r);

    /* Join with the game key, the same body twice (a client retry): 202 both times. */
    char body[512];
    snprintf(body, sizeof body,
             "{\"userId\":\"p1\",\"ref\":\"alice\",\"metadata\":{\"address\":\"%s\"}}", WALLET);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(call(a, &r, "POST", "/v1/communities/guild-a/join", a->w.key, body), 202);
        assert_string_equal(json_string_value(json_object_get(r.json, "userId")), "p1");
        gw_resp_free(&r);
    }
    /* A player joins as itself with its ID token; not as someone else. */
    snprintf(body, sizeof body, "{\"metadata\":{\"address\":\"%s\"}}", WALLET);
    assert_int_equal(call(a, &r, "POST", "/v1/communities/guild-a/join", tp, body), 202);
    gw_resp_free(&r);
    snprintf(body, sizeof body, "{\"userId\":\"p9\",\"metadata\":{\"address\":\"%s\"}}", WALLET);
    call(a, &r, "POST", "/v1/communities/guild-a/join", tp, body);
    gw_assert_error(&r, 403, "forbidden");
    gw_resp_free(&r);
    /* Bad metadata is 400 naming the field; an unknown slug and another studio's are 404. */
    call(a, &r, "POST", "/v1/communities/guild-a/join", a->w.key,
         "{\"userId\":\"p3\",\"metadata\":{\"address\":\"0x12\"}}");
    gw_assert_error(&r, 400, "invalid_metadata");
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")), "address"));
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/communities/no-such-guild/join", a->w.key, "{\"userId\":\"p3\"}");
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/communities/guild-b/join", a->w.key,
         "{\"userId\":\"p3\",\"metadata\":{\"username\":\"three\"}}");
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    call(a, &r, "GET", "/v1/communities/guild-a/join", a->w.key, NULL);
    gw_assert_error(&r, 405, "method_not_allowed");
    gw_resp_free(&r);
    /* The engine applied the joins: p1 once, one starter reward each, the referrer kept. */
    gw_wait_drained(&a->w);
    wait_ll(a, 2,
            "SELECT count(*) FROM community_members m JOIN communities c ON c.id = "
            "m.community_id WHERE c.referral_slug = 'guild-a' AND m.status = 'active'");
    assert_int_equal(bm_e2e_ll(&a->w.e, "SELECT count(*) FROM community_members WHERE user_id = "
                                        "'p1' AND referral_source = 'alice'"),
                     1);
    assert_int_equal(bm_e2e_ll(&a->w.e, "SELECT count(*) FROM community_members WHERE user_id = "
                                        "'p9'"),
                     0);
    assert_int_equal(bm_e2e_ll(&a->w.e, "SELECT count(*) FROM reward_fulfillments WHERE "
                                        "community_id IS NOT NULL AND user_id = 'p1'"),
                     1);
    /* After: two members; p1's membership with the key, p2's own with its token; a player
     * reads no one else's, another studio's community is a 404. */
    assert_int_equal(call(a, &r, "GET", "/v1/communities/guild-a?userId=p1", a->w.key, NULL), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "members")), 2);
    assert_string_equal(json_string_value(json_object_get(r.json, "membership")), "active");
    gw_resp_free(&r);
    assert_int_equal(call(a, &r, "GET", "/v1/communities/guild-a", tp, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "userId")), "p2");
    assert_string_equal(json_string_value(json_object_get(r.json, "membership")), "active");
    gw_resp_free(&r);
    call(a, &r, "GET", "/v1/communities/guild-a?userId=p1", tp, NULL);
    gw_assert_error(&r, 403, "forbidden");
    gw_resp_free(&r);
    call(a, &r, "GET", "/v1/communities/guild-b", a->w.key, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    assert_int_equal(call(a, &r, "GET", "/v1/communities/guild-b", tb, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "B guild");
    gw_resp_free(&r);

    /* The referral link: 302 to the community's page with slug and ref; one click stored. */
    assert_int_equal(call(a, &r, "GET", "/c/guild-a?ref=alice", NULL, NULL), 302);
    assert_string_equal(r.location, "https://a.example/landing?src=bm&slug=guild-a&ref=alice");
    gw_resp_free(&r);
    assert_int_equal(bm_e2e_ll(&a->w.e,
                               "SELECT count(*) FROM community_referral_clicks WHERE referrer = "
                               "'alice' AND http_referer = 'https://forum.example/t/1' AND "
                               "length(ip_hash) = 32 AND ip_hash <> '127.0.0.1'"),
                     1);
    call(a, &r, "GET", "/c/no-such-guild?ref=alice", NULL, NULL);
    gw_assert_error(&r, 404, "not_found");
    assert_int_equal(r.location[0], '\0');
    gw_resp_free(&r);
    call(a, &r, "GET", "/c/api?ref=alice", NULL, NULL); /* a reserved word is never a slug */
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    assert_int_equal(bm_e2e_ll(&a->w.e, "SELECT count(*) FROM community_referral_clicks"), 1);

    /* The admin API: each studio sees its own community; a community admin only its own. */
    assert_int_equal(call(a, &r, "GET", "/v1/admin/communities", ta, NULL), 200);
    json_t *list = json_object_get(r.json, "communities");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "slug")),
                        "guild-a");
    gw_resp_free(&r);
    call(a, &r, "GET", "/v1/admin/communities", tc, NULL); /* administers nothing yet */
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "communities")), 0);
    gw_resp_free(&r);
    assert_int_equal(
        call(a, &r, "POST", "/v1/admin/communities/guild-a/admins", ta, "{\"uid\":\"uid-c\"}"),
        201);
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/admin/communities/guild-a/admins", tc, "{\"uid\":\"uid-x\"}");
    gw_assert_error(&r, 403, "forbidden");
    gw_resp_free(&r);
    assert_int_equal(call(a, &r, "GET", "/v1/admin/communities/guild-a", tc, NULL), 200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r.json, "members"), "active")), 2);
    json_t *ref0 = json_array_get(json_object_get(r.json, "referrals"), 0);
    assert_string_equal(json_string_value(json_object_get(ref0, "referrer")), "alice");
    assert_int_equal(json_integer_value(json_object_get(ref0, "joins")), 1);
    assert_int_equal(json_integer_value(json_object_get(ref0, "clicks")), 1);
    gw_resp_free(&r);
    call(a, &r, "GET", "/v1/admin/communities/guild-b", tc, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    call(a, &r, "GET", "/v1/admin/communities/guild-a", tb, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/admin/communities/guild-a/members/p1/ban", tb, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    call(a, &r, "GET", "/v1/admin/communities", tp, NULL);
    gw_assert_error(&r, 403, "forbidden");
    gw_resp_free(&r);
    /* The community admin bans and unbans; a second ban is a conflict. */
    assert_int_equal(call(a, &r, "POST", "/v1/admin/communities/guild-a/members/p1/ban", tc, NULL),
                     200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "banned");
    gw_resp_free(&r);
    call(a, &r, "POST", "/v1/admin/communities/guild-a/members/p1/ban", tc, NULL);
    gw_assert_error(&r, 409, "conflict");
    gw_resp_free(&r);
    assert_int_equal(
        call(a, &r, "GET", "/v1/admin/communities/guild-a/members?status=banned", tc, NULL), 200);
    json_t *mem = json_object_get(r.json, "members");
    assert_int_equal(json_array_size(mem), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(mem, 0), "userId")), "p1");
    gw_resp_free(&r);
    assert_int_equal(
        call(a, &r, "POST", "/v1/admin/communities/guild-a/members/p1/unban", ta, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "active");
    gw_resp_free(&r);

    /* The tournament: three players score; the page ranks them with their prizes. */
    post_score(a, "p1", "t-1", 10);
    post_score(a, "p2", "t-2", 5);
    post_score(a, "p3", "t-3", 7);
    post_score(a, "p1", "t-4", 2);
    gw_wait_drained(&a->w);
    static const char *const users[] = {"p1", "p3", "p2"};
    static const double scores[] = {12, 7, 5};
    static const long long prizes[] = {60, 30, 10};
    char path[300];
    snprintf(path, sizeof path, "/v1/tournaments/%s", tid);
    assert_int_equal(call(a, &r, "GET", path, a->w.key, NULL), 200);
    int fin = json_is_true(json_object_get(r.json, "final"));
    assert_table(json_object_get(r.json, fin ? "results" : "standings"), users, scores, prizes, 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "seats"), "taken")),
                     3);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r.json, "prizePool"), "totalMinor")),
        100);
    gw_resp_free(&r);
    call(a, &r, "GET", path, tb, NULL); /* another studio */
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/tournaments/%s/users/p3", tid);
    assert_int_equal(call(a, &r, "GET", path, ta, NULL), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "rank")), 2);
    assert_int_equal(json_integer_value(json_object_get(r.json, "prize")), 30);
    assert_true(json_number_value(json_object_get(r.json, "score")) == 7);
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/tournaments/%s/users/nobody", tid);
    call(a, &r, "GET", path, a->w.key, NULL);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);

    /* After the end the engine finalises on its own: the page shows the final table. */
    snprintf(path, sizeof path, "/v1/tournaments/%s", tid);
    for (int i = 0; i < 1200; i++) {
        call(a, &r, "GET", path, a->w.key, NULL);
        if (json_is_true(json_object_get(r.json, "final")))
            break;
        gw_resp_free(&r);
        bm_e2e_sleep_ms(100);
    }
    assert_true(json_is_true(json_object_get(r.json, "final")));
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "paid");
    assert_null(json_object_get(r.json, "standings"));
    assert_table(json_object_get(r.json, "results"), users, scores, prizes, 3);
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/tournaments/%s/users/p1", tid);
    assert_int_equal(call(a, &r, "GET", path, a->w.key, NULL), 200);
    assert_true(json_is_true(json_object_get(r.json, "final")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "prize")), 60);
    gw_resp_free(&r);
    assert_int_equal(bm_e2e_ll(&a->w.e,
                               "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s'",
                               tid),
                     3);

    /* A battle pass for guild-a's members: a non-member earns no XP and cannot claim. */
    char community_a[64], pass[64];
    res = PQexec(a->w.e.db, "SELECT id::text FROM communities WHERE referral_slug = 'guild-a'");
    snprintf(community_a, sizeof community_a, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    snprintf(cj, sizeof cj,
             "{\"type\":\"battlepass\",\"name\":\"Guild season\",\"gameId\":\"gw-game\","
             "\"entryRequirement\":{\"type\":\"community\",\"config\":{\"communities\":"
             "[\"%s\"]}},\"xpSources\":[{\"eventType\":\"MATCH_END\",\"field\":\"score\","
             "\"xpValue\":1}],\"tierCurve\":{\"base\":10,\"growth\":1.0},\"maxTier\":5,"
             "\"rewardTemplate\":{\"freeReward\":{\"type\":\"in_game\",\"config\":{\"item\":"
             "\"chest\"}},\"freeEvery\":1}}",
             community_a);
    assert_int_equal(call(a, &r, "POST", "/v1/admin/campaigns", ta, cj), 201);
    snprintf(pass, sizeof pass, "%s", json_string_value(json_object_get(r.json, "id")));
    gw_resp_free(&r);
    /* Until the engines load the pass a member's score earns nothing: send until it does. */
    char eid[64];
    for (int i = 0; i < 60 && bm_e2e_ll(&a->w.e,
                                        "SELECT count(*) FROM user_progress WHERE campaign_id = "
                                        "'%s' AND user_id = 'p1'",
                                        pass) == 0;
         i++) {
        snprintf(eid, sizeof eid, "bp-warm-%d", i);
        post_score(a, "p1", eid, 1);
        gw_wait_drained(&a->w);
        if (i)
            bm_e2e_sleep_ms(1000);
    }
    post_score(a, "p3", "bp-p3", 25); /* p3 never joined */
    post_score(a, "p2", "bp-p2", 25); /* p2 joined with its token */
    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/p3/claim", pass);
    assert_int_equal(call(a, &r, "POST", path, a->w.key, "{\"tier\":1}"), 202);
    gw_resp_free(&r);
    gw_wait_drained(&a->w);
    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/p3", pass);
    assert_int_equal(call(a, &r, "GET", path, a->w.key, NULL), 200);
    assert_true(json_number_value(json_object_get(r.json, "xp")) == 0);
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/p2", pass);
    assert_int_equal(call(a, &r, "GET", path, a->w.key, NULL), 200);
    assert_true(json_number_value(json_object_get(r.json, "xp")) == 25);
    gw_resp_free(&r);
    /* The player is told why: XP refused and the claim refused, both "not_a_member". */
    assert_true(bm_e2e_ll(&a->w.e,
                          "SELECT count(*) FROM outbox WHERE topic = 'battlepass.progress' AND "
                          "payload LIKE '%%xp_refused%%p3%%not_a_member%%'") >= 1);
    assert_true(bm_e2e_ll(&a->w.e,
                          "SELECT count(*) FROM outbox WHERE topic = 'ui.battlepass_updates' AND "
                          "payload LIKE '%%claim_refused%%p3%%not_a_member%%'") >= 1);
    assert_int_equal(bm_e2e_ll(&a->w.e,
                               "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s' "
                               "AND user_id = 'p3'",
                               pass),
                     0);
    free(ta);
    free(tb);
    free(tc);
    free(tp);
    gw_world_stop(&a->w);
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(cw));
    return 0;
}

static int teardown(void **state)
{
    cw *a = *state;
    bm_e2e_cleanup(&a->w.e);
    unlink(a->certs);
    EVP_PKEY_free(a->k);
    free(a);
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_community_tournament, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
