/*
 * Quests and battle passes over HTTP: events posted to /v1/events move a
 * player's quest and pass; claim and purchase go through POST and the engine
 * applies them; every GET answer is the very JSON `bmctl quest progress
 * --json` and `bmctl battlepass show --json` print (one shared view).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/gateway/gw_http.h"

static long post(gw_world *w, const char *path, const char *body)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    gw_resp r;
    gw_req(w, &r, "POST", path, h, body, strlen(body));
    long st = r.status;
    if (st != 202)
        fprintf(stderr, "POST %s: %ld %s\n", path, st, r.body);
    gw_resp_free(&r);
    return st;
}

static json_t *get(gw_world *w, const char *path)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, NULL};
    gw_resp r;
    gw_req(w, &r, "GET", path, h, NULL, 0);
    if (r.status != 200)
        bm_e2e_fail("GET %s: %ld %s", path, r.status, r.body);
    json_t *j = json_incref(r.json);
    gw_resp_free(&r);
    return j;
}

static json_t *bmctl_json(gw_world *w, const char *const *args)
{
    char *out = NULL;
    int rc = bm_e2e_bmctl(&w->e, &out, args);
    if (rc != 0)
        bm_e2e_fail("bmctl %s: %d %s", args[0], rc, out ? out : "");
    json_t *j = json_loads(out, 0, NULL);
    if (!j)
        bm_e2e_fail("bmctl %s printed no JSON: %s", args[0], out);
    free(out);
    return j;
}

static void same(json_t *http, json_t *ctl, const char *what)
{
    if (!json_equal(http, ctl)) {
        char *a = json_dumps(http, JSON_SORT_KEYS), *b = json_dumps(ctl, JSON_SORT_KEYS);
        bm_e2e_fail("%s differs:\n http  %s\n bmctl %s", what, a, b);
    }
}

static void test_progress(void **state)
{
    gw_world *w = *state;
    const char *env[] = {
        "GW_MODULE",
        "quest.so",
        "GW_MODULE",
        "battlepass.so",
        "GW_CAMPAIGN",
        "{\"type\":\"quest\",\"name\":\"Slayer\",\"gameId\":\"gw-game\",\"conditions\":[{\"type\":"
        "\"count\",\"eventType\":\"ENEMY_KILL\",\"target\":3}],\"reward\":{\"type\":\"in_game\","
        "\"config\":{\"item\":\"badge\"}}}",
        "GW_CAMPAIGN",
        "{\"type\":\"battlepass\",\"name\":\"Season\",\"gameId\":\"gw-game\",\"xpSources\":[{"
        "\"eventType\":\"MATCH_END\",\"field\":\"score\",\"xpValue\":1,\"dailyLimit\":100000}],"
        "\"tierCurve\":{\"base\":100,\"growth\":1.0},\"maxTier\":10,\"rewardTemplate\":{"
        "\"freeReward\":{\"type\":\"in_game\",\"config\":{\"item\":\"chest\"}},\"freeEvery\":1}}",
        NULL};
    gw_world_start(w, "gw_progress", env);
    const char *quest = w->camps[0], *pass = w->camps[1];
    char ev[512], ts[64], body[4096], path[300];
    /* Four kills (quest met at three) and 250 points of match score (two tiers). */
    gw_event(ev, sizeof ev, "gw-game", "hero", "p-m1", 250);
    assert_int_equal(post(w, "/v1/events", ev), 202);
    char *t = strstr(ev, "\"timestamp\":\"");
    snprintf(ts, sizeof ts, "%.24s", t + 13);
    size_t n = (size_t)snprintf(body, sizeof body, "{\"events\":[");
    for (int i = 0; i < 4; i++)
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "%s{\"eventId\":\"p-k%d\",\"gameId\":\"gw-game\",\"userId\":\"hero\","
                              "\"eventType\":\"ENEMY_KILL\",\"timestamp\":\"%s\"}",
                              i ? "," : "", i, ts);
    snprintf(body + n, sizeof body - n, "]}");
    assert_int_equal(post(w, "/v1/events", body), 202);
    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/hero/claim", pass);
    assert_int_equal(post(w, path, "{\"tier\":1}"), 202);
    gw_wait_drained(w);

    snprintf(path, sizeof path, "/v1/quests/%s/users/hero", quest);
    json_t *q = get(w, path);
    json_t *c0 = json_array_get(json_object_get(q, "conditions"), 0);
    assert_true(json_is_true(json_object_get(c0, "met")));
    /* A completed one-time quest stops counting: the fourth kill is not progress. */
    assert_int_equal((int)json_number_value(json_object_get(c0, "current")), 3);
    assert_int_equal(json_integer_value(json_object_get(q, "completions")), 1);
    const char *qa[] = {"quest", "progress", quest, "hero", "--json", NULL};
    json_t *qc = bmctl_json(w, qa);
    same(q, qc, "quest view");
    json_decref(qc);
    json_t *list = get(w, "/v1/games/gw-game/users/hero/quests");
    assert_int_equal(json_array_size(json_object_get(list, "quests")), 1);
    same(json_array_get(json_object_get(list, "quests"), 0), q, "game quests view");
    json_decref(list);
    json_decref(q);

    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/hero", pass);
    json_t *b = get(w, path);
    assert_int_equal((int)json_number_value(json_object_get(b, "xp")), 250);
    /* Two tiers completed: the player is on tier 3 (tiers numbered from 1). */
    assert_int_equal(json_integer_value(json_object_get(b, "tier")), 3);
    assert_int_equal(json_integer_value(json_object_get(b, "tiersCompleted")), 2);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(b, "claimedFree"), 0)), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(b, "claimableFree"), 0)), 2);
    const char *ba[] = {"battlepass", "show", pass, "hero", "--json", NULL};
    json_t *bc = bmctl_json(w, ba);
    same(b, bc, "battle pass view");
    json_decref(bc);
    json_decref(b);
    /* Another game's key or a quest id on the battle pass route: 404. */
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, NULL};
    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/hero", quest);
    gw_resp r;
    gw_req(w, &r, "GET", path, h, NULL, 0);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    /* A purchase is the studio's word that a player paid: a game key (shipped inside
     * the game client) cannot make one. */
    const char *hp[] = {auth, "Content-Type: application/json", NULL};
    snprintf(path, sizeof path, "/v1/battlepasses/%s/users/hero/purchase", pass);
    gw_req(w, &r, "POST", path, hp, "{}", 2);
    gw_assert_error(&r, 403, "forbidden");
    gw_resp_free(&r);
    gw_world_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_progress, gw_world_setup, gw_world_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
