/*
 * Roles beyond the studio owner, over real HTTP: the ops role lists and
 * reloads modules (what bmctl modules / reload do, through the same admin
 * socket) and everyone else gets 403 there; a player token reads only its
 * own quest, battle pass and rank; a studio owner sells a battle pass and a
 * retried purchase is applied once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/gateway/gw_http.h"
#include "e2e/gateway/gw_jwt.h"

#define PROJECT "bm-roles-test"

typedef struct roles_world {
    gw_world w;
    EVP_PKEY *key;
    char certs[400];
} roles_world;

/* An ID token for sub and role with extra string claims (name, value pairs; NULL-ended). */
static char *token(roles_world *a, const char *sub, const char *role, const char *const *extra)
{
    char c[1024];
    gw_claims(c, sizeof c, PROJECT, PROJECT, sub, role, -5, 3600);
    json_t *j = json_loads(c, 0, NULL);
    for (size_t i = 0; extra && extra[i]; i += 2)
        json_object_set_new(j, extra[i], json_string(extra[i + 1]));
    char *payload = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *t = gw_jwt_rs256(a->key, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", payload);
    free(payload);
    return t;
}

static long call(roles_world *a, gw_resp *r, const char *method, const char *path,
                 const char *bearer, const char *body)
{
    char auth[4096];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer ? bearer : "");
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    gw_req(&a->w, r, method, path, bearer ? h : h + 1, body, body ? strlen(body) : 0);
    return r->status;
}

/* Asserts status; the body is kept in r for the caller. */
static void expect(roles_world *a, gw_resp *r, long status, const char *method, const char *path,
                   const char *bearer, const char *body)
{
    if (call(a, r, method, path, bearer, body) != status)
        bm_e2e_fail("%s %s: expected %ld, got %ld %s", method, path, status, r->status, r->body);
}

static void forbidden(roles_world *a, const char *method, const char *path, const char *bearer,
                      const char *body)
{
    gw_resp r;
    call(a, &r, method, path, bearer, body);
    if (r.status != 403)
        bm_e2e_fail("%s %s: expected 403, got %ld %s", method, path, r.status, r.body);
    gw_assert_error(&r, 403, "forbidden");
    gw_resp_free(&r);
}

static void start(roles_world *a, const char *name, const char *const *more_env)
{
    a->key = gw_rsa_new();
    snprintf(a->certs, sizeof a->certs, "/tmp/bm-roles-certs-%d.json", (int)getpid());
    char *pem = gw_rsa_pem(a->key);
    json_t *m = json_pack("{s:s}", "k1", pem);
    char *text = json_dumps(m, 0);
    bm_e2e_write_file(a->certs, text, strlen(text));
    free(text);
    free(pem);
    json_decref(m);
    const char *env[24] = {"BM_AUTH_FIREBASE_PROJECT", PROJECT, "BM_AUTH_CERTS_FILE", a->certs};
    size_t n = 4;
    for (size_t i = 0; more_env && more_env[i] && n < 22; i++)
        env[n++] = more_env[i];
    env[n] = NULL;
    gw_world_start(&a->w, name, env);
}

static json_t *find_module(json_t *root, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(root, "modules"), i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        if (n && strcmp(n, name) == 0)
            return m;
    }
    return NULL;
}

static void test_modules_routes(void **state)
{
    roles_world *a = *state;
    start(a, "gw_roles_mod", NULL);
    char *ops = token(a, "ops-1", "ops", NULL);
    char *owner = token(a, "uid-a", "studio_owner", NULL);
    const char *pext[] = {"gameId", "gw-game", NULL};
    char *player = token(a, "hero", "player", pext);
    char *community = token(a, "uid-a", "community_admin", NULL);
    gw_resp r;

    /* The listing is what bmctl modules prints: same generation, same modules. */
    expect(a, &r, 200, "GET", "/v1/admin/modules", ops, NULL);
    json_t *lb = find_module(r.json, "leaderboard");
    assert_non_null(lb);
    assert_true(json_is_string(json_object_get(lb, "version")));
    assert_true(json_is_string(json_object_get(lb, "serves")));
    assert_true(json_integer_value(json_object_get(lb, "generation")) >= 1);
    assert_true(json_is_integer(json_object_get(lb, "events")));
    assert_true(json_is_integer(json_object_get(lb, "errors")));
    assert_true(json_is_array(json_object_get(r.json, "retiring")));
    assert_true(json_is_object(json_object_get(r.json, "containment")));
    long long gen0 = json_integer_value(json_object_get(r.json, "generation"));
    json_t *ctl = bm_e2e_modules(&a->w.e);
    assert_int_equal(json_integer_value(json_object_get(ctl, "generation")), gen0);
    assert_int_equal(json_array_size(json_object_get(ctl, "modules")),
                     json_array_size(json_object_get(r.json, "modules")));
    json_decref(ctl);
    assert_null(find_module(r.json, "quest"));
    gw_resp_free(&r);

    /* A module dropped into modules_dir is served after POST /v1/admin/modules/reload. */
    char src[1100], dst[1200];
    bm_e2e_build_path(&a->w.e, "modules/quest.so", src, sizeof src);
    size_t len;
    char *so = bm_e2e_slurp(src, &len);
    if (!so)
        bm_e2e_fail("no %s", src);
    snprintf(dst, sizeof dst, "%s/quest.so", a->w.e.mods_dir);
    bm_e2e_write_file(dst, so, len);
    free(so);
    expect(a, &r, 200, "POST", "/v1/admin/modules/reload", ops, NULL);
    assert_true(json_is_false(json_object_get(r.json, "refused")));
    long long gen1 = json_integer_value(json_object_get(r.json, "generation"));
    assert_true(gen1 > gen0);
    assert_non_null(find_module(r.json, "quest"));
    gw_resp_free(&r);
    ctl = bm_e2e_modules(&a->w.e);
    assert_int_equal(json_integer_value(json_object_get(ctl, "generation")), gen1);
    assert_non_null(find_module(ctl, "quest"));
    json_decref(ctl);

    /* A file the loader refuses: the answer says so, and the modules keep serving. */
    snprintf(dst, sizeof dst, "%s/broken.so", a->w.e.mods_dir);
    bm_e2e_write_file(dst, "not a module", 12);
    expect(a, &r, 200, "POST", "/v1/admin/modules/reload", ops, NULL);
    assert_true(json_is_true(json_object_get(r.json, "refused")));
    const char *rep = json_string_value(json_object_get(r.json, "lastReload"));
    if (!rep || !strstr(rep, "broken.so"))
        bm_e2e_fail("reload report does not name broken.so: %s", r.body);
    assert_non_null(find_module(r.json, "quest"));
    assert_non_null(find_module(r.json, "leaderboard"));
    gw_resp_free(&r);
    unlink(dst);

    /* Nobody else: studio owner, community admin, player 403; no token 401; wrong method 405. */
    const char *who[] = {owner, community, player};
    for (size_t i = 0; i < 3; i++) {
        forbidden(a, "GET", "/v1/admin/modules", who[i], NULL);
        forbidden(a, "POST", "/v1/admin/modules/reload", who[i], NULL);
    }
    call(a, &r, "GET", "/v1/admin/modules", NULL, NULL);
    gw_assert_error(&r, 401, "unauthorized");
    gw_resp_free(&r);
    call(a, &r, "DELETE", "/v1/admin/modules", ops, NULL);
    gw_assert_error(&r, 405, "method_not_allowed");
    gw_resp_free(&r);
    /* The ops role is no studio: the studio routes stay closed to it. */
    forbidden(a, "GET", "/v1/admin/games", ops, NULL);
    /* Refusals changed nothing: still the generation of the last good reload's set. */
    expect(a, &r, 200, "GET", "/v1/admin/modules", ops, NULL);
    assert_non_null(find_module(r.json, "quest"));
    gw_resp_free(&r);
    free(ops);
    free(owner);
    free(player);
    free(community);
    gw_world_stop(&a->w);
}

static const char *const k_progress_env[] = {
    "GW_MODULE",
    "quest.so",
    "GW_MODULE",
    "battlepass.so",
    "GW_CAMPAIGN",
    "{\"type\":\"quest\",\"name\":\"Slayer\",\"gameId\":\"gw-game\",\"conditions\":[{\"type\":"
    "\"count\",\"eventType\":\"MATCH_END\",\"target\":2}],\"reward\":{\"type\":\"in_game\","
    "\"config\":{\"item\":\"badge\"}}}",
    "GW_CAMPAIGN",
    "{\"type\":\"battlepass\",\"name\":\"Season\",\"gameId\":\"gw-game\",\"entryRequirement\":{"
    "\"type\":\"purchase\"},\"xpSources\":[{\"eventType\":\"MATCH_END\",\"field\":\"score\","
    "\"xpValue\":1,\"dailyLimit\":100000}],\"tierCurve\":{\"base\":100,\"growth\":1.0},"
    "\"maxTier\":10,\"rewardTemplate\":{\"freeReward\":{\"type\":\"in_game\",\"config\":{"
    "\"item\":\"chest\"}},\"freeEvery\":1}}",
    NULL};

static void post_event(roles_world *a, const char *user, const char *eid, long score)
{
    char ev[512];
    gw_event(ev, sizeof ev, "gw-game", user, eid, score);
    gw_resp r;
    expect(a, &r, 202, "POST", "/v1/events", a->w.key, ev);
    gw_resp_free(&r);
}

static void test_player(void **state)
{
    roles_world *a = *state;
    start(a, "gw_roles_player", k_progress_env);
    const char *quest = a->w.camps[0], *pass = a->w.camps[1];
    post_event(a, "hero", "r-h1", 150);
    post_event(a, "hero", "r-h2", 100);
    post_event(a, "villain", "r-v1", 400);
    gw_wait_drained(&a->w);

    const char *hero_claims[] = {"gameId", "gw-game", NULL};
    char *hero = token(a, "hero", "player", hero_claims);
    /* A Firebase uid that is not the game's user id: the userId claim maps it. */
    const char *mapped_claims[] = {"gameId", "gw-game", "userId", "hero", NULL};
    char *mapped = token(a, "firebase-uid-77", "player", mapped_claims);
    const char *no_game[] = {"userId", "hero", NULL};
    char *gameless = token(a, "hero", "player", no_game);
    char *owner = token(a, "uid-a", "studio_owner", NULL);
    char path[400];
    gw_resp r;

    /* Its own battle pass, quest progress, quests list and rank. */
    for (int t = 0; t < 2; t++) {
        const char *tok = t ? mapped : hero;
        snprintf(path, sizeof path, "/v1/battlepasses/%s/users/hero", pass);
        expect(a, &r, 200, "GET", path, tok, NULL);
        assert_int_equal((int)json_number_value(json_object_get(r.json, "xp")), 250);
        gw_resp_free(&r);
        snprintf(path, sizeof path, "/v1/quests/%s/users/hero", quest);
        expect(a, &r, 200, "GET", path, tok, NULL);
        assert_int_equal(json_integer_value(json_object_get(r.json, "completions")), 1);
        gw_resp_free(&r);
        expect(a, &r, 200, "GET", "/v1/games/gw-game/users/hero/quests", tok, NULL);
        assert_int_equal(json_array_size(json_object_get(r.json, "quests")), 1);
        gw_resp_free(&r);
        snprintf(path, sizeof path, "/v1/leaderboards/%s/users/hero", a->w.board);
        expect(a, &r, 200, "GET", path, tok, NULL);
        assert_int_equal(json_integer_value(json_object_get(r.json, "rank")), 2);
        assert_int_equal((int)json_number_value(json_object_get(r.json, "score")), 250);
        gw_resp_free(&r);
    }
    /* Anything else is 403: another player's data, whole boards, campaigns, writes, admin. */
    const char *tokens[] = {hero, mapped};
    for (int t = 0; t < 2; t++) {
        const char *tok = tokens[t];
        snprintf(path, sizeof path, "/v1/battlepasses/%s/users/villain", pass);
        forbidden(a, "GET", path, tok, NULL);
        snprintf(path, sizeof path, "/v1/quests/%s/users/villain", quest);
        forbidden(a, "GET", path, tok, NULL);
        snprintf(path, sizeof path, "/v1/leaderboards/%s/users/villain", a->w.board);
        forbidden(a, "GET", path, tok, NULL);
        snprintf(path, sizeof path, "/v1/leaderboards/%s", a->w.board);
        forbidden(a, "GET", path, tok, NULL);
        snprintf(path, sizeof path, "/v1/leaderboards/%s?around=hero", a->w.board);
        forbidden(a, "GET", path, tok, NULL);
        forbidden(a, "GET", "/v1/games/gw-game/users/villain/quests", tok, NULL);
        forbidden(a, "GET", "/v1/games/other-game/users/hero/quests", tok, NULL);
        forbidden(a, "GET", "/v1/games/gw-game/campaigns", tok, NULL);
        snprintf(path, sizeof path, "/v1/battlepasses/%s/users/hero/claim", pass);
        forbidden(a, "POST", path, tok, "{\"tier\":1}");
        snprintf(path, sizeof path, "/v1/battlepasses/%s/users/hero/purchase", pass);
        forbidden(a, "POST", path, tok, "{}");
        char ev[512];
        gw_event(ev, sizeof ev, "gw-game", "hero", "r-cheat", 100000);
        forbidden(a, "POST", "/v1/events", tok, ev);
        forbidden(a, "GET", "/v1/admin/games", tok, NULL);
        forbidden(a, "GET", "/v1/admin/campaigns", tok, NULL);
        forbidden(a, "GET", "/v1/admin/rewards", tok, NULL);
        forbidden(a, "POST", "/v1/admin/games", tok, "{\"name\":\"x\",\"gameId\":\"x\"}");
    }
    /* The mapped token's own sub is not its user id. */
    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/firebase-uid-77", pass);
    forbidden(a, "GET", path, mapped, NULL);
    /* A player token without a game is refused. */
    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/hero", pass);
    forbidden(a, "GET", path, gameless, NULL);
    /* The refused event was never produced: the board still has 250 for hero. */
    gw_wait_drained(&a->w);
    snprintf(path, sizeof path, "/v1/leaderboards/%s/users/hero", a->w.board);
    expect(a, &r, 200, "GET", path, a->w.key, NULL);
    assert_int_equal((int)json_number_value(json_object_get(r.json, "score")), 250);
    gw_resp_free(&r);

    /* The studio sells the pass: before, nothing claimable (the pass must be bought). */
    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/hero", pass);
    expect(a, &r, 200, "GET", path, owner, NULL);
    assert_true(json_is_false(json_object_get(r.json, "purchased")));
    assert_int_equal(json_array_size(json_object_get(r.json, "claimableFree")), 0);
    gw_resp_free(&r);
    char buy[400];
    snprintf(buy, sizeof buy, "/v1/battlepasses/%s/users/hero/purchase", pass);
    expect(a, &r, 202, "POST", buy, owner, "{}");
    assert_string_equal(json_string_value(json_object_get(r.json, "queued")), "purchase");
    assert_true(json_is_string(json_object_get(r.json, "eventId")));
    gw_resp_free(&r);
    gw_wait_drained(&a->w);
    expect(a, &r, 200, "GET", path, owner, NULL);
    assert_true(json_is_true(json_object_get(r.json, "purchased")));
    char bought[64];
    snprintf(bought, sizeof bought, "%s",
             json_string_value(json_object_get(r.json, "purchasedAt")));
    assert_true(bought[0] != '\0');
    /* 250 XP at 100 per tier: tiers 1 and 2 are claimable now that it is bought. */
    assert_int_equal(json_array_size(json_object_get(r.json, "claimableFree")), 2);
    gw_resp_free(&r);
    /* The client did not see the answer and retries: applied once, the first time. */
    bm_e2e_sleep_ms(1100);
    expect(a, &r, 202, "POST", buy, owner, "{}");
    gw_resp_free(&r);
    gw_wait_drained(&a->w);
    expect(a, &r, 200, "GET", path, owner, NULL);
    assert_true(json_is_true(json_object_get(r.json, "purchased")));
    assert_string_equal(json_string_value(json_object_get(r.json, "purchasedAt")), bought);
    assert_int_equal(json_array_size(json_object_get(r.json, "claimableFree")), 2);
    gw_resp_free(&r);
    /* The player's feed got one "purchased" update; both requests were acknowledged. */
    assert_int_equal(
        bm_e2e_ll(&a->w.e, "SELECT count(*) FROM outbox WHERE topic = "
                           "'ui.battlepass_updates' AND payload LIKE '%%\"type\":\"purchased\"%%'"),
        1);
    assert_int_equal(bm_e2e_ll(&a->w.e,
                               "SELECT count(*) FROM outbox WHERE topic = 'battlepass.progress' "
                               "AND payload LIKE '%%\"type\":\"purchase\"%%'"),
                     2);
    /* The player sees it too, on its own route. */
    expect(a, &r, 200, "GET", path, hero, NULL);
    assert_true(json_is_true(json_object_get(r.json, "purchased")));
    gw_resp_free(&r);
    free(hero);
    free(mapped);
    free(gameless);
    free(owner);
    gw_world_stop(&a->w);
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(roles_world));
    return 0;
}

static int teardown(void **state)
{
    roles_world *a = *state;
    bm_e2e_cleanup(&a->w.e);
    unlink(a->certs);
    EVP_PKEY_free(a->key);
    free(a);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_modules_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_player, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
