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

#include "scenario.h"

#define KILLS 6
#define SEED 20261123

static int setup(void **state)
{
    bm_e2e *e = calloc(1, sizeof *e);
    *state = e;
    bm_e2e_init(e, "kill9", 6);
    return 0;
}

static int teardown(void **state)
{
    bm_e2e_cleanup(*state);
    free(*state);
    return 0;
}

/*
 * How long a killed member stays in the consumer group: the broker expires it
 * one session timeout after its last heartbeat. A new engine that joins before
 * that waits for the dead member through a whole extra rebalance (about 18 s
 * on the mock cluster); one that joins after it waits only the initial 3 s.
 * The engine's session timeout is 10 s unless its configuration offers
 * kafka.session_timeout_ms, which the test then lowers.
 */
static int session_timeout_ms(bm_e2e *e)
{
    char bin[1100], *out = NULL;
    char *argv[] = {(char *)bm_e2e_build_path(e, "brightmatter", bin, sizeof bin), "config", NULL};
    int rc = bm_e2e_run(e, argv, &out, 10000);
    int has = rc == 0 && out && strstr(out, "session_timeout_ms") != NULL;
    free(out);
    if (!has)
        return 10000;
    bm_e2e_setenv(e, "BM_KAFKA_SESSION_TIMEOUT_MS", "3000");
    return 3000;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void test_kill9_at_random_points(void **state)
{
    bm_e2e *e = *state;
    scenario s;
    memset(&s, 0, sizeof s);
    scenario_campaigns(e, &s);
    scenario_produce(e, &s, "777", "60000");
    int expiry_ms = session_timeout_ms(e) + 1200;

    bm_e2e_rng rng;
    bm_e2e_rng_seed(&rng, SEED);
    long long targets[KILLS];
    for (int k = 0; k < KILLS; k++)
        targets[k] = s.produced * bm_e2e_rng_range(&rng, 5, 90) / 100;
    qsort(targets, KILLS, sizeof targets[0], cmp_ll);

    bm_e2e_engine g;
    long long at_kill[KILLS];
    for (int k = 0; k < KILLS; k++) {
        bm_e2e_engine_start(e, &g);
        long long before = bm_e2e_offsets_sum(e);
        /* At least one batch beyond the last kill point, so every life commits. */
        long long target = targets[k] > before ? targets[k] : before + 1;
        bm_e2e_wait_offsets(e, &g, target < s.produced ? target : s.produced, 60000);
        int extra = (int)bm_e2e_rng_range(&rng, 0, 80);
        bm_e2e_sleep_ms(extra);
        bm_e2e_engine_kill9(&g);
        at_kill[k] = bm_e2e_offsets_sum(e);
        fprintf(stderr, "e2e: kill -9 #%d, %d ms after offsets passed %lld: committed %lld of %lld\n",
                k + 1, extra, target, at_kill[k], s.produced);
        /* The dead member must leave the group before the next engine joins it. */
        bm_e2e_sleep_ms(expiry_ms);
    }
    /* The kills landed inside the stream, not after it. */
    assert_true(at_kill[KILLS - 1] < s.produced);
    assert_true(at_kill[0] > 0);

    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_offsets(e, &g, s.produced, 90000);
    scenario_verify(e, &s);
    /* Shutting down (revoke, close) changes nothing. */
    bm_e2e_engine_stop(&g, 10000);
    scenario_verify(e, &s);
    scenario_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_at_random_points, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
