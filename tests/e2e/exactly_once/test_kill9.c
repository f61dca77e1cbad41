/*
 * Exactly once across crashes: the engine is killed with SIGKILL at random
 * points of the stream (deterministic seed) and restarted each time; the
 * broker lives in this process and keeps every message meanwhile. At the end
 * every board, every consumer_offsets counter and the DLQ must equal the
 * independent count, as if the engine had never crashed.
 *
 * Kill points: for each life a random target share of the stream; the engine
 * is killed a random 0..80 ms after its committed offsets pass the target, so
 * the kill lands inside a later batch at a random phase (polling, module
 * dispatch, the COPY, the commit).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e_scenario.h"

#define KILLS 6
#define SEED 20261123

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

/*
 * A killed engine stays a member of the consumer group until the broker
 * expires it, one session timeout after its last heartbeat; the restarted
 * engine gets its partitions only after the rebalance that follows (about
 * 19 s per restart on the mock cluster with the engine's 10 s session
 * timeout). When the engine's configuration offers kafka.session_timeout_ms,
 * the test lowers it to 3 s to restart faster.
 */
static void shorten_session_timeout(bm_e2e *e)
{
    char bin[1100], *out = NULL;
    char *argv[] = {(char *)bm_e2e_build_path(e, "brightmatter", bin, sizeof bin), "config", NULL};
    int rc = bm_e2e_run(e, argv, &out, 10000);
    if (rc == 0 && out && strstr(out, "session_timeout_ms") != NULL)
        bm_e2e_setenv(e, "BM_KAFKA_SESSION_TIMEOUT_MS", "3000");
    free(out);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void test_kill9_at_random_points(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "kill9", 6);
    bm_e2e_boards b;
    bm_e2e_expect x;
    memset(&x, 0, sizeof x);
    bm_e2e_boards_create(e, &b);
    bm_e2e_stream s = {.seed = "777", .events = "60000"};
    bm_e2e_stream_start(e, &s);
    long long produced = bm_e2e_stream_finish(&s, &x);
    shorten_session_timeout(e);

    bm_e2e_rng rng;
    bm_e2e_rng_seed(&rng, SEED);
    long long targets[KILLS];
    for (int k = 0; k < KILLS; k++)
        targets[k] = produced * bm_e2e_rng_range(&rng, 5, 90) / 100;
    qsort(targets, KILLS, sizeof targets[0], cmp_ll);

    bm_e2e_engine g;
    long long at_kill[KILLS];
    for (int k = 0; k < KILLS; k++) {
        int64_t t0 = bm_e2e_now_ms();
        bm_e2e_engine_start(e, &g);
        long long before = bm_e2e_offsets_sum(e);
        /* At least one batch beyond the last kill point, so every life commits. */
        long long target = targets[k] > before ? targets[k] : before + 1;
        bm_e2e_wait_offsets(e, &g, target < produced ? target : produced, 90000);
        int extra = (int)bm_e2e_rng_range(&rng, 0, 80);
        bm_e2e_sleep_ms(extra);
        bm_e2e_engine_kill9(&g);
        at_kill[k] = bm_e2e_offsets_sum(e);
        fprintf(stderr,
                "e2e: kill -9 #%d after %lld ms, %d ms after offsets passed %lld: committed %lld "
                "of %lld\n",
                k + 1, (long long)(bm_e2e_now_ms() - t0), extra, target, at_kill[k], produced);
    }
    /* The kills landed inside the stream, not after it. */
    assert_true(at_kill[KILLS - 1] < produced);
    assert_true(at_kill[0] > 0);

    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_offsets(e, &g, produced, 90000);
    bm_e2e_boards_verify(e, &b, &x, produced);
    /* Shutting down (revoke, close) changes nothing. */
    bm_e2e_engine_stop(&g, 10000);
    bm_e2e_boards_verify(e, &b, &x, produced);
    bm_e2e_expect_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_at_random_points, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
