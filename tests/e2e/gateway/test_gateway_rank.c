/*
 * The in-memory rank index (every board indexed here) answers exactly what
 * PostgreSQL answers: the whole board page, each player's rank, and the
 * players around them, with ties, first after it is built and again after
 * more events moved players (it follows leaderboard.updates).
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

#define NUSERS 60

static void post_round(gw_world *w, int round)
{
    char body[64 * 1024], ev[512], auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    size_t n = (size_t)snprintf(body, sizeof body, "{\"events\":[");
    for (int i = 0; i < NUSERS; i++) {
        char user[16], eid[64];
        snprintf(user, sizeof user, "r%02d", (i * 7 + round) % NUSERS);
        snprintf(eid, sizeof eid, "rank-%d-%d", round, i);
        /* Few distinct scores: many ties, broken by time reached, then user id. */
        gw_event(ev, sizeof ev, "gw-game", user, eid, (i * 13 + round * 5) % 4 * 10);
        n += (size_t)snprintf(body + n, sizeof body - n, "%s%s", i ? "," : "", ev);
    }
    snprintf(body + n, sizeof body - n, "]}");
    gw_resp r;
    gw_req(w, &r, "POST", "/v1/events", h, body, strlen(body));
    assert_int_equal(r.status, 202);
    gw_resp_free(&r);
}

/* The board in rank order from PostgreSQL, as "user=score," text. */
static void sql_board(gw_world *w, char *out, size_t cap)
{
    PGresult *r = PQexec(w->e.db, "SELECT 1");
    PQclear(r);
    char q[400];
    snprintf(q, sizeof q,
             "SELECT user_id, current_value FROM user_progress WHERE campaign_id = '%s' ORDER BY "
             "current_value DESC, reached_at ASC, user_id ASC",
             w->board);
    r = PQexec(w->e.db, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        bm_e2e_fail("board query: %s", PQerrorMessage(w->e.db));
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++)
        n += (size_t)snprintf(out + n, cap - n, "%s=%g,", PQgetvalue(r, i, 0),
                              strtod(PQgetvalue(r, i, 1), NULL));
    PQclear(r);
}

static void http_board(gw_world *w, char *out, size_t cap)
{
    char auth[200], path[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, NULL};
    snprintf(path, sizeof path, "/v1/leaderboards/%s?limit=1000", w->board);
    gw_resp r;
    gw_req(w, &r, "GET", path, h, NULL, 0);
    assert_int_equal(r.status, 200);
    size_t n = 0, i;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(json_object_get(r.json, "entries"), i, e)
    {
        assert_int_equal(json_integer_value(json_object_get(e, "rank")), (json_int_t)i + 1);
        n += (size_t)snprintf(out + n, cap - n, "%s=%g,",
                              json_string_value(json_object_get(e, "userId")),
                              json_number_value(json_object_get(e, "score")));
    }
    gw_resp_free(&r);
}

/* Each player's rank and window agree with the page. */
static void check_players(gw_world *w, const char *page)
{
    char auth[200], path[300];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, NULL};
    char copy[16384];
    snprintf(copy, sizeof copy, "%s", page);
    char *users[NUSERS];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < NUSERS;
         t = strtok_r(NULL, ",", &save)) {
        *strchr(t, '=') = '\0';
        users[n++] = t;
    }
    assert_int_equal(n, NUSERS);
    for (int i = 0; i < n; i++) {
        gw_resp r;
        snprintf(path, sizeof path, "/v1/leaderboards/%s/users/%s", w->board, users[i]);
        gw_req(w, &r, "GET", path, h, NULL, 0);
        assert_int_equal(r.status, 200);
        if (json_integer_value(json_object_get(r.json, "rank")) != i + 1)
            bm_e2e_fail("%s: rank %lld, page says %d", users[i],
                        (long long)json_integer_value(json_object_get(r.json, "rank")), i + 1);
        gw_resp_free(&r);
        snprintf(path, sizeof path, "/v1/leaderboards/%s?around=%s&window=5", w->board, users[i]);
        gw_req(w, &r, "GET", path, h, NULL, 0);
        assert_int_equal(r.status, 200);
        json_t *en = json_object_get(r.json, "entries");
        assert_true(json_array_size(en) >= 3);
        size_t k;
        json_t *e;
        json_array_foreach(en, k, e)
        {
            long long rank = json_integer_value(json_object_get(e, "rank"));
            assert_true(rank >= 1 && rank <= n);
            assert_string_equal(json_string_value(json_object_get(e, "userId")), users[rank - 1]);
        }
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "me"), "rank")),
                         i + 1);
        gw_resp_free(&r);
    }
}

static void converge(gw_world *w, char *page, size_t cap)
{
    char want[16384];
    sql_board(w, want, sizeof want);
    for (int i = 0; i < 100; i++) {
        http_board(w, page, cap);
        if (strcmp(page, want) == 0)
            return;
        bm_e2e_sleep_ms(100);
    }
    bm_e2e_fail("rank index never matched PostgreSQL:\n sql  %s\n http %s", want, page);
}

static void test_rank_index(void **state)
{
    gw_world *w = *state;
    const char *env[] = {"BM_HTTP_RANK_INDEX_MIN_ENTRIES", "0", NULL};
    gw_world_start(w, "gw_rank", env);
    static char page[16384];
    for (int round = 0; round < 3; round++)
        post_round(w, round);
    gw_wait_drained(w);
    http_board(w, page, sizeof page); /* first ask: starts the build */
    char needle[120];
    snprintf(needle, sizeof needle, "rank index built board=%s", w->board);
    bm_e2e_wait_log(&w->g, needle, 20000);
    converge(w, page, sizeof page);
    check_players(w, page);
    /* More events move players: the index follows the committed state. */
    for (int round = 3; round < 6; round++)
        post_round(w, round);
    gw_wait_drained(w);
    converge(w, page, sizeof page);
    check_players(w, page);
    gw_world_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rank_index, gw_world_setup, gw_world_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
