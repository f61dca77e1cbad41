/*
 * GET /v1/leaderboards/{id}/history over real HTTP: a board that resets every
 * 10 s closes a period its players scored in; the list names that period
 * with its player count and winner, ?period= ranks its final standings while
 * the live board already counts the next period, and bad or foreign requests
 * get clear errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/gateway/gw_http.h"

#define PERIOD_MS 10000

static long get(gw_world *w, gw_resp *r, const char *path, const char *key)
{
    char auth[300] = "";
    if (key)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    const char *h[] = {auth, NULL};
    gw_req(w, r, "GET", path, key ? h : NULL, NULL, 0);
    return r->status;
}

static void post_score(gw_world *w, const char *user, const char *eid, long score)
{
    char ev[512], auth[300];
    gw_resp r;
    gw_event(ev, sizeof ev, "gw-game", user, eid, score);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    gw_req(w, &r, "POST", "/v1/events", h, ev, strlen(ev));
    assert_int_equal(r.status, 202);
    gw_resp_free(&r);
}

static void test_history(void **state)
{
    gw_world *w = *state;
    const char *env[] = {"GW_CAMPAIGN",
                         "{\"type\":\"leaderboard\",\"name\":\"sprint\",\"gameId\":\"gw-game\","
                         "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":"
                         "\"score\",\"aggregation\":\"sum\"},\"resetSchedule\":{\"periodSeconds\""
                         ":10,\"graceSeconds\":1}}",
                         NULL};
    gw_world_start(w, "gw_history", env);
    const char *id = w->camps[0];
    char path[300];
    gw_resp r;

    /* Nothing closed yet: an empty list, not an error. */
    snprintf(path, sizeof path, "/v1/leaderboards/%s/history", id);
    assert_int_equal(get(w, &r, path, w->key), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "periods")), 0);
    gw_resp_free(&r);

    /* Three players score in one period (the next one when little of this one is left). */
    int64_t start = bm_e2e_wall_ms() / PERIOD_MS * PERIOD_MS;
    if (bm_e2e_wall_ms() - start > 5000) {
        start += PERIOD_MS;
        while (bm_e2e_wall_ms() < start + 100)
            bm_e2e_sleep_ms(50);
    }
    post_score(w, "h1", "h-1", 10);
    post_score(w, "h2", "h-2", 30);
    post_score(w, "h3", "h-3", 20);
    post_score(w, "h1", "h-4", 5);
    gw_wait_drained(w);

    /* The period closes after its end and grace: the list shows it (up to 90 s). */
    json_t *periods = NULL;
    for (int i = 0; i < 900; i++) {
        assert_int_equal(get(w, &r, path, w->key), 200);
        periods = json_object_get(r.json, "periods");
        if (json_array_size(periods) >= 1)
            break;
        gw_resp_free(&r);
        periods = NULL;
        bm_e2e_sleep_ms(100);
    }
    assert_non_null(periods);
    json_t *p0 = json_array_get(periods, json_array_size(periods) - 1);
    char period[64];
    snprintf(period, sizeof period, "%s", json_string_value(json_object_get(p0, "period")));
    assert_int_equal(json_integer_value(json_object_get(p0, "players")), 3);
    json_t *win = json_object_get(p0, "winner");
    assert_string_equal(json_string_value(json_object_get(win, "userId")), "h2");
    assert_true(json_number_value(json_object_get(win, "score")) == 30);
    /* The period is named by its start, the same instant as startDate (with milliseconds). */
    assert_int_equal(strncmp(json_string_value(json_object_get(p0, "startDate")), period, 19), 0);
    gw_resp_free(&r);

    /* The live board starts empty; a score now belongs to the new period only. */
    post_score(w, "h3", "h-5", 1);
    gw_wait_drained(w);

    /* ?period= ranks that period: score descending. */
    snprintf(path, sizeof path, "/v1/leaderboards/%s/history?period=%s", id, period);
    assert_int_equal(get(w, &r, path, w->key), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "period")), period);
    json_t *st = json_object_get(r.json, "standings");
    static const char *const users[] = {"h2", "h3", "h1"};
    static const double scores[] = {30, 20, 15};
    assert_int_equal(json_array_size(st), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *row = json_array_get(st, i);
        assert_int_equal(json_integer_value(json_object_get(row, "rank")), (long long)i + 1);
        assert_string_equal(json_string_value(json_object_get(row, "userId")), users[i]);
        assert_true(json_number_value(json_object_get(row, "score")) == scores[i]);
    }
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/leaderboards/%s/history?period=%s&limit=1", id, period);
    assert_int_equal(get(w, &r, path, w->key), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "standings")), 1);
    gw_resp_free(&r);

    /* Errors: an unknown period, a bad limit, no key, an unknown board. */
    snprintf(path, sizeof path, "/v1/leaderboards/%s/history?period=2001-01-01T00:00:00Z", id);
    get(w, &r, path, w->key);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/leaderboards/%s/history?limit=0", id);
    get(w, &r, path, w->key);
    gw_assert_error(&r, 400, "invalid_parameter");
    gw_resp_free(&r);
    snprintf(path, sizeof path, "/v1/leaderboards/%s/history", id);
    get(w, &r, path, NULL);
    assert_int_equal(r.status, 401);
    gw_resp_free(&r);
    get(w, &r, "/v1/leaderboards/00000000-0000-4000-8000-000000000000/history", w->key);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    /* Another studio's game key does not see the board. */
    char line[256];
    const char *sb[] = {"studio",   "create",  "--firebase-uid", "uid-b", "--name",
                        "Studio B", "--email", "b@example.com",  NULL};
    gw_bmctl_line(w, line, sizeof line, sb);
    const char *ga[] = {"game",   "create",       "--studio", "uid-b", "--name",
                        "B game", "--identifier", "game-b",   NULL};
    gw_bmctl_line(w, line, sizeof line, ga);
    const char *ka[] = {"key", "create", "--game", "game-b", NULL};
    gw_bmctl_line(w, line, sizeof line, ka);
    get(w, &r, path, line);
    gw_assert_error(&r, 404, "not_found");
    gw_resp_free(&r);
    gw_world_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_history, gw_world_setup, gw_world_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
