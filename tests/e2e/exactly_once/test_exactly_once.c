/*
 * Exactly once through the real engine, PostgreSQL and the Kafka protocol:
 * one engine run over a stream with duplicates and malformed messages must
 * put every user's exact value on four boards (sum, max, count, Lua formula),
 * count every message once in consumer_offsets, send every malformed message
 * to the DLQ, show the same board through `bmctl leaderboard`, and stop
 * cleanly on SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "event/event.h"
#include "e2e/common/e2e_scenario.h"

static int setup(void **state)
{
    bm_e2e *e = calloc(1, sizeof *e);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    bm_e2e_cleanup(*state);
    free(*state);
    return 0;
}

/* `bmctl leaderboard --json` shows the same values, in rank order. */
static void check_bmctl_board(bm_e2e *e, const bm_e2e_boards *b, const bm_e2e_expect *x)
{
    char *out = NULL;
    const char *args[] = {"leaderboard", b->sum_id, "--json", "--limit", "100000", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, args), 0);
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    free(out);
    assert_non_null(j);
    json_t *entries = json_object_get(j, "entries");
    size_t want = 0;
    for (size_t i = 0; i < x->n; i++)
        want += strcmp(x->rows[i].type, "MATCH_END") == 0;
    assert_int_equal(json_array_size(entries), want);
    double prev = 1e300;
    size_t i;
    json_t *en;
    json_array_foreach(entries, i, en)
    {
        const char *user = json_string_value(json_object_get(en, "userId"));
        double score = json_number_value(json_object_get(en, "score"));
        assert_int_equal(json_integer_value(json_object_get(en, "rank")), (json_int_t)i + 1);
        assert_true(score <= prev);
        prev = score;
        const bm_e2e_row *row = NULL;
        for (size_t k = 0; k < x->n && !row; k++)
            if (strcmp(x->rows[k].type, "MATCH_END") == 0 && strcmp(x->rows[k].user, user) == 0)
                row = &x->rows[k];
        assert_non_null(row);
        assert_true(score == bm_e2e_value_sum(row, "score"));
    }
    json_decref(j);
}

static void test_single_run_exact(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "once", 6);
    bm_e2e_boards b;
    bm_e2e_expect x;
    memset(&x, 0, sizeof x);
    bm_e2e_boards_create(e, &b);
    bm_e2e_stream s = {.seed = "4242", .events = "60000"};
    bm_e2e_stream_start(e, &s);
    long long produced = bm_e2e_stream_finish(&s, &x);

    bm_e2e_engine g;
    int64_t t0 = bm_e2e_now_ms();
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_offsets(e, &g, produced, 60000);
    fprintf(stderr, "e2e: %lld messages applied in %lld ms (group join included)\n", produced,
            (long long)(bm_e2e_now_ms() - t0));
    bm_e2e_boards_verify(e, &b, &x, produced);

    /* While it runs, the engine reports the same counts. */
    json_t *m = bm_e2e_modules(e);
    json_t *st = json_object_get(m, "stats");
    assert_int_equal(json_integer_value(json_object_get(st, "applied")), x.valid);
    assert_int_equal(json_integer_value(json_object_get(st, "rejected")), x.bad);
    assert_int_equal(json_integer_value(json_object_get(st, "duplicates")), x.dups);
    json_decref(m);
    check_bmctl_board(e, &b, &x);

    /* Clean shutdown: SIGTERM, exit code 0, within a few seconds. */
    long took = bm_e2e_engine_stop(&g, 10000);
    fprintf(stderr, "e2e: engine stopped %ld ms after SIGTERM\n", took);
    assert_true(took < 5000);
    assert_true(bm_e2e_log_contains(&g, "msg=\"stopped\""));

    /* A restart resumes where the database says: one more event is applied once
     * and nothing before it again. */
    bm_e2e_engine_start(e, &g);
    char ev[512], ts[40];
    bm_rfc3339_format((int64_t)time(NULL) * 1000, ts, sizeof ts);
    snprintf(ev, sizeof ev,
             "{\"eventId\":\"late-1\",\"gameId\":\"demo-game\",\"userId\":\"late-user\","
             "\"eventType\":\"MATCH_END\",\"data\":{\"score\":77,\"kills\":3},"
             "\"timestamp\":\"%s\"}",
             ts);
    rd_kafka_t *p = bm_e2e_producer(e);
    bm_e2e_produce(p, "late-user", ev, strlen(ev));
    bm_e2e_producer_close(p);
    const char *names[] = {"kills", "score"};
    const long long values[] = {3, 77};
    bm_e2e_expect_add(&x, "late-user", "demo-game", "MATCH_END", names, values, 2);
    produced++;
    bm_e2e_wait_offsets(e, &g, produced, 60000);
    bm_e2e_boards_verify(e, &b, &x, produced);
    bm_e2e_engine_stop(&g, 10000);
    bm_e2e_expect_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_single_run_exact, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
