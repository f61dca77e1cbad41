/*
 * A recurring tournament over real HTTP: GET /v1/tournaments/{id} answers for
 * the current run and lists the finalised ones; ?period=<run start> shows a
 * past run's final table with its prizes; a period that is not the start of a
 * run is a 400 naming the parameter.
 */
#include <curl/curl.h>
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
#include "util/rfc3339.h"

#define PERIOD_MS 10000LL

static long get(gw_world *w, gw_resp *r, const char *path)
{
    char auth[300];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, NULL};
    gw_req(w, r, "GET", path, h, NULL, 0);
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

static void test_period_pages(void **state)
{
    gw_world *w = *state;
    /* Back-to-back 10 s runs from the run before now, for 200 s. */
    int64_t s0 = bm_e2e_wall_ms() / PERIOD_MS * PERIOD_MS - PERIOD_MS;
    char s_ts[40], e_ts[40], tjson[1024];
    bm_rfc3339_format(s0, s_ts, sizeof s_ts);
    bm_rfc3339_format(s0 + 20 * PERIOD_MS, e_ts, sizeof e_ts);
    snprintf(tjson, sizeof tjson,
             "{\"type\":\"tournament\",\"name\":\"Hourly\",\"gameId\":\"gw-game\","
             "\"startDate\":\"%s\",\"endDate\":\"%s\",\"gracePeriodSeconds\":1,"
             "\"resetSchedule\":{\"periodSeconds\":10},\"duration\":10,"
             "\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\"},"
             "\"prizePool\":{\"totalValue\":100,\"rewardType\":\"token\",\"distribution\":"
             "[{\"rank\":1,\"percentage\":60},{\"rank\":2,\"percentage\":30},"
             "{\"rank\":3,\"percentage\":10}]}}",
             s_ts, e_ts);
    const char *env[] = {"GW_MODULE", "tournament.so", "GW_CAMPAIGN", tjson, NULL};
    gw_world_start(w, "gw_tperiod", env);
    const char *tid = w->camps[0];
    /* All four scores inside one run: posted early in a run. */
    while (bm_e2e_wall_ms() % PERIOD_MS < 500 || bm_e2e_wall_ms() % PERIOD_MS > 4000)
        bm_e2e_sleep_ms(50);
    int64_t run = bm_e2e_wall_ms() / PERIOD_MS * PERIOD_MS;
    post_score(w, "p1", "tp-1", 10);
    post_score(w, "p2", "tp-2", 5);
    post_score(w, "p3", "tp-3", 7);
    post_score(w, "p1", "tp-4", 2);
    assert_true(bm_e2e_wall_ms() < run + PERIOD_MS);
    gw_wait_drained(w);
    char name[40], path[300];
    time_t secs = (time_t)(run / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(name, sizeof name, "%Y-%m-%dT%H:%M:%SZ", &tm);
    gw_resp r;
    /* That run's page turns final on its own after its end + grace. */
    snprintf(path, sizeof path, "/v1/tournaments/%s?period=%s", tid, name);
    for (int i = 0; i < 600; i++) {
        assert_int_equal(get(w, &r, path), 200);
        if (json_is_true(json_object_get(r.json, "final")))
            break;
        gw_resp_free(&r);
        bm_e2e_sleep_ms(100);
    }
    assert_true(json_is_true(json_object_get(r.json, "final")));
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "paid");
    assert_string_equal(json_string_value(json_object_get(r.json, "period")), name);
    static const char *const users[] = {"p1", "p3", "p2"};
    static const long long scores[] = {12, 7, 5}, prizes[] = {60, 30, 10};
    json_t *t = json_object_get(r.json, "results");
    assert_int_equal(json_array_size(t), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *row = json_array_get(t, i);
        assert_string_equal(json_string_value(json_object_get(row, "userId")), users[i]);
        assert_true(json_number_value(json_object_get(row, "score")) == (double)scores[i]);
        assert_int_equal(json_integer_value(json_object_get(row, "prize")), prizes[i]);
    }
    gw_resp_free(&r);
    /* The plain page is a later run (nobody scored) and lists the paid one. */
    snprintf(path, sizeof path, "/v1/tournaments/%s", tid);
    assert_int_equal(get(w, &r, path), 200);
    assert_string_not_equal(json_string_value(json_object_get(r.json, "period")), name);
    assert_int_equal(json_array_size(json_object_get(r.json, "standings")), 0);
    json_t *periods = json_object_get(r.json, "periods"), *p;
    size_t i;
    int listed = 0;
    json_array_foreach(periods, i, p)
    {
        listed += strcmp(json_string_value(json_object_get(p, "period")), name) == 0;
    }
    assert_int_equal(listed, 1);
    gw_resp_free(&r);
    /* Not the start of a run, not a time: 400 naming the parameter. */
    static const char *const bad[] = {"2020-01-01T00:00:00Z", "yesterday"};
    for (size_t k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "/v1/tournaments/%s?period=%s", tid, bad[k]);
        get(w, &r, path);
        gw_assert_error(&r, 400, "invalid_parameter");
        assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")), "period"));
        gw_resp_free(&r);
    }
    assert_int_equal(bm_e2e_ll(&w->e,
                               "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s' "
                               "AND idempotency_key LIKE 'tournament:%s:%s:%%'",
                               tid, tid, name),
                     3);
    gw_world_stop(w);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_period_pages, gw_world_setup, gw_world_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
