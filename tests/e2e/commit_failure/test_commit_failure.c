/*
 * The committer runs batch N's transaction while batch N+1 is dispatched. When
 * N fails (here: a trigger refuses some outbox inserts, the connection stays
 * up), N+1 must be discarded with the cache and both read again. Boards stay
 * exact, the engine keeps its pid, and under ASan no freed state is touched
 * (that path once wrote through dangling dirty-entry pointers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e/common/e2e_scenario.h"
#include "support/testdb.h"

/* Every 3rd outbox insert among the first 90 fails. nextval is not rolled back
 * with the failed transaction, so retries make progress. */
static const char *const k_inject =
    "CREATE SEQUENCE bm_test_fail_seq;"
    "CREATE FUNCTION bm_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE n bigint := nextval('bm_test_fail_seq');"
    " BEGIN IF n <= 90 AND n % 3 = 0 THEN"
    "   RAISE EXCEPTION 'injected commit failure %', n; END IF; RETURN NEW; END $$;"
    "CREATE TRIGGER bm_test_fail BEFORE INSERT ON outbox FOR EACH ROW "
    "EXECUTE FUNCTION bm_test_fail();";

static void test_failed_commits_in_flight(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "commitfail", 6);
    /* Small batches: many commits, so failures land while the next one is built. */
    bm_e2e_setenv(e, "BM_PIPELINE_BATCH_MAX_EVENTS", "300");
    bm_e2e_boards b;
    bm_e2e_expect x;
    memset(&x, 0, sizeof x);
    bm_e2e_boards_create(e, &b);
    bm_testdb_exec(e->db, k_inject);
    bm_e2e_stream s = {.seed = "777", .events = "20000"};
    bm_e2e_stream_start(e, &s);
    long long produced = bm_e2e_stream_finish(&s, &x);

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    pid_t pid = g.pid;
    bm_e2e_wait_offsets(e, &g, produced, 180000);
    bm_e2e_boards_verify(e, &b, &x, produced);

    int failures = bm_e2e_log_count(&g, "injected commit failure");
    fprintf(stderr, "e2e: %d commits refused and retried\n", failures);
    assert_true(failures >= 10);
    assert_true(bm_e2e_engine_alive(&g));
    assert_int_equal(g.pid, pid);
    assert_true(bm_e2e_engine_stop(&g, 10000) >= 0);
    bm_e2e_expect_free(&x);
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(bm_e2e));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    bm_e2e_cleanup(*state);
    free(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_commits_in_flight, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
