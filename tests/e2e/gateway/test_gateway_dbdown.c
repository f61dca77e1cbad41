/*
 * The database goes away under a running gateway (a PostgreSQL of this test's
 * own, so no other test notices): reads and posts answer 503 with the JSON
 * error, its request id and Retry-After, /readyz says not ready, /healthz
 * stays up; when the database comes back the gateway serves again by itself
 * and an event posted then is counted exactly once.
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

typedef struct dbdown_world {
    bm_e2e_pg pg;
    gw_world w;
} dbdown_world;

static void with_key(const gw_world *w, gw_resp *r, const char *method, const char *path,
                     const char *body)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    gw_req(w, r, method, path, h, body, body ? strlen(body) : 0);
}

/* What a client sees while the database is away: 503, the JSON error, Retry-After. */
static void assert_unavailable(const gw_resp *r, const char *what)
{
    if (r->status != 503)
        bm_e2e_fail("%s with the database down: expected 503, got %ld %s", what, r->status,
                    r->body);
    gw_assert_error(r, 503, "unavailable");
    if (atoi(r->retry_after) < 1)
        bm_e2e_fail("%s: 503 without Retry-After (%s)", what, r->retry_after);
}

static void test_database_down(void **state)
{
    dbdown_world *d = *state;
    gw_world *w = &d->w;
    bm_e2e_pg_start(&d->pg);
    /* Keys are looked up on every request: no cache hides the outage. */
    const char *env[] = {"BM_HTTP_KEY_CACHE_MS", "0", NULL};
    gw_world_start(w, "gw_dbdown", env);
    char ev[512], path[300];
    gw_resp r;
    gw_event(ev, sizeof ev, "gw-game", "p1", "db-1", 10);
    with_key(w, &r, "POST", "/v1/events", ev);
    assert_int_equal(r.status, 202);
    gw_resp_free(&r);
    gw_wait_drained(w);

    bm_e2e_pg_down(&d->pg);
    snprintf(path, sizeof path, "/v1/leaderboards/%s/users/p1", w->board);
    const char *reads[] = {path, "/v1/games/gw-game/campaigns"};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < 2; i++) {
            with_key(w, &r, "GET", reads[i], NULL);
            assert_unavailable(&r, reads[i]);
            gw_resp_free(&r);
        }
        gw_event(ev, sizeof ev, "gw-game", "p1", "db-2", 5);
        with_key(w, &r, "POST", "/v1/events", ev);
        assert_unavailable(&r, "POST /v1/events");
        gw_resp_free(&r);
    }
    gw_req(w, &r, "GET", "/readyz", NULL, NULL, 0);
    assert_int_equal(r.status, 503);
    assert_true(json_is_false(json_object_get(r.json, "database")));
    gw_resp_free(&r);
    gw_req(w, &r, "GET", "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    gw_resp_free(&r);

    /* Back: the gateway reconnects on its own; nobody restarts it. */
    bm_e2e_pg_up(&d->pg);
    long st = 0;
    for (int64_t until = bm_e2e_now_ms() + 120000; st != 200 && bm_e2e_now_ms() < until;) {
        with_key(w, &r, "GET", "/v1/games/gw-game/campaigns", NULL);
        st = r.status;
        gw_resp_free(&r);
        if (st != 200)
            bm_e2e_sleep_ms(250);
    }
    assert_int_equal(st, 200);
    /* The client retries its refused post (same eventId) and once more: counted once. */
    for (int i = 0; i < 2; i++) {
        with_key(w, &r, "POST", "/v1/events", ev);
        if (r.status != 202)
            bm_e2e_fail("POST after recovery: %ld %s", r.status, r.body);
        gw_resp_free(&r);
    }
    gw_wait_drained(w);
    with_key(w, &r, "GET", path, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal((int)json_number_value(json_object_get(r.json, "score")), 15);
    gw_resp_free(&r);
    for (int64_t until = bm_e2e_now_ms() + 120000; bm_e2e_now_ms() < until;) {
        gw_req(w, &r, "GET", "/readyz", NULL, NULL, 0);
        st = r.status;
        gw_resp_free(&r);
        if (st == 200)
            break;
        bm_e2e_sleep_ms(250);
    }
    assert_int_equal(st, 200);
    gw_world_stop(w);
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(dbdown_world));
    return 0;
}

static int teardown(void **state)
{
    dbdown_world *d = *state;
    bm_e2e_cleanup(&d->w.e);
    bm_e2e_pg_stop(&d->pg);
    free(d);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_database_down, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
