/*
 * Exactly once for quests and the battle pass across crashes. A deterministic
 * stream (game events over a UTC midnight, re-sent messages, purchase and
 * claim commands as bmctl writes them) is put on game.events; the engine is
 * killed with SIGKILL at random points while it consumes and restarted each
 * time; halfway, real `bmctl battlepass` runs queue more commands. At the end
 * every player's quest completions, battle pass XP, tier, purchase and claims,
 * every reward_fulfillments row (one per completion and per granted claim,
 * nothing else), the refusals and the consumer_offsets counters must equal the
 * independent oracle, as if the engine had never crashed.
 *
 * Kill points: each life gets a random target share of the stream (5..75 %,
 * deterministic seed); the engine is killed a random 0..60 ms after its
 * committed offsets pass it, inside a later batch at a random phase (polling,
 * module dispatch, the COPY, the commit). Batches are capped at 500 events so
 * there are many of them. The shares leave room for the engine (some 70k
 * events/s here) to still be consuming when the kill comes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/progression/prog.h"

#define KILLS 6
#define DEFAULT_SEED 20261124
#define USERS 400
#define EVENTS 40000

/* BM_E2E_SEED=<n> runs another stream and other kill points (to reproduce or explore). */
static uint64_t seed(void)
{
    const char *s = getenv("BM_E2E_SEED");
    return s && *s ? strtoull(s, NULL, 10) : DEFAULT_SEED;
}

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

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void bmctl_ok(bm_e2e *e, const char *const *args)
{
    char *out = NULL, line[512] = "";
    int rc = bm_e2e_bmctl(e, &out, args);
    for (size_t i = 0, n = 0; args[i] && n < sizeof line; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, " %s", args[i]);
    fprintf(stderr, "e2e: bmctl%s: exit %d: %s", line, rc, out ? out : "");
    free(out);
    assert_int_equal(rc, 0);
}

/*
 * Commands through the real bmctl while the engine is down: a purchase and a
 * premium claim of tier 1 for a player who reached tier 3 and has not claimed
 * it (granted), a free claim a player already got (refused), an invalid tier.
 * Returns the player whose premium claim must be granted.
 */
static int bmctl_commands(bm_e2e *e, const prog_campaigns *c, prog_stream *s)
{
    prog_oracle o;
    prog_oracle_run(&o, s);
    int buyer = -1, again = -1;
    for (int u = 0; u < s->users; u++) {
        if (buyer < 0 && prog_pass_tier(o.bp[u].xp) >= 3 && !o.bp[u].claimed[1][1])
            buyer = u;
        if (again < 0 && o.bp[u].claimed[0][1])
            again = u;
    }
    prog_oracle_free(&o);
    if (buyer < 0 || again < 0)
        bm_e2e_fail("the stream has no player for the bmctl commands");
    char ub[32], ua[32];
    prog_user_id(buyer, ub, sizeof ub);
    prog_user_id(again, ua, sizeof ua);
    const char *buy[] = {"battlepass", "purchase", c->pass, ub, NULL};
    const char *prem[] = {"battlepass", "claim", c->pass, ub, "1", "--premium", NULL};
    const char *twice[] = {"battlepass", "claim", c->pass, ua, "1", NULL};
    const char *invalid[] = {"battlepass", "claim", c->pass, ua, "9", NULL};
    bmctl_ok(e, buy);
    prog_stream_add_bmctl(s, PK_PURCHASE, buyer, 0, 0);
    bmctl_ok(e, prem);
    prog_stream_add_bmctl(s, PK_CLAIM, buyer, 1, 1);
    bmctl_ok(e, twice);
    prog_stream_add_bmctl(s, PK_CLAIM, again, 1, 0);
    bmctl_ok(e, invalid);
    prog_stream_add_bmctl(s, PK_CLAIM, again, PROG_TIERS + 1, 0);
    return buyer;
}

static void test_progression_kill9(void **state)
{
    bm_e2e *e = *state;
    int64_t t_start = bm_e2e_now_ms();
    bm_e2e_init(e, "progkill9", 6);
    prog_install_modules(e);
    /* Small batches: more commits, so the kills land at more different phases. */
    bm_e2e_setenv(e, "BM_PIPELINE_BATCH_MAX_EVENTS", "500");
    prog_fast_restarts(e);
    prog_campaigns c;
    prog_campaigns_create(e, &c, 1);

    prog_stream s;
    prog_stream_generate(&s, seed(), USERS, EVENTS, 1);
    rd_kafka_t *p = bm_e2e_producer(e);
    prog_stream_produce(p, &c, &s, 0, s.n);
    bm_e2e_producer_close(p);
    long long produced = (long long)s.n;
    fprintf(stderr, "e2e: %lld messages produced, midnight %lld, setup %lld ms\n", produced,
            (long long)s.midnight, (long long)(bm_e2e_now_ms() - t_start));

    bm_e2e_rng rng;
    bm_e2e_rng_seed(&rng, seed());
    long long targets[KILLS], at_kill[KILLS];
    for (int k = 0; k < KILLS; k++)
        targets[k] = produced * bm_e2e_rng_range(&rng, 5, 75) / 100;
    qsort(targets, KILLS, sizeof targets[0], cmp_ll);

    bm_e2e_engine g;
    int buyer = -1;
    for (int k = 0; k < KILLS; k++) {
        int64_t t0 = bm_e2e_now_ms();
        bm_e2e_engine_start(e, &g);
        long long before = bm_e2e_offsets_sum(e);
        /* At least one batch beyond the last kill point, so every life commits. */
        long long target = targets[k] > before ? targets[k] : before + 1;
        bm_e2e_wait_offsets(e, &g, target < produced ? target : produced, 90000);
        int extra = (int)bm_e2e_rng_range(&rng, 0, 60);
        bm_e2e_sleep_ms(extra);
        bm_e2e_engine_kill9(&g);
        at_kill[k] = bm_e2e_offsets_sum(e);
        fprintf(stderr,
                "e2e: kill -9 #%d after %lld ms, %d ms after offsets passed %lld: committed %lld "
                "of %lld\n",
                k + 1, (long long)(bm_e2e_now_ms() - t0), extra, target, at_kill[k], produced);
        if (k == KILLS / 2 - 1)
            buyer = bmctl_commands(e, &c, &s);
    }
    /* The kills landed inside the stream, not after it. */
    assert_true(at_kill[0] > 0);
    assert_true(at_kill[KILLS - 1] < produced);

    prog_oracle o;
    prog_oracle_run(&o, &s);
    prog_oracle_summary(&o);
    /* The stream exercises what the test claims to. */
    assert_true(o.quest_grants > 200);
    assert_true(o.pass_grants > 100);
    for (int r = 0; r < PR_N; r++)
        assert_true(o.refused[r] > 0);
    assert_true(o.bp[buyer].purchased && o.bp[buyer].claimed[1][1]);

    int64_t t0 = bm_e2e_now_ms();
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_offsets(e, &g, (long long)s.n, 90000);
    fprintf(stderr, "e2e: last life consumed the rest in %lld ms\n",
            (long long)(bm_e2e_now_ms() - t0));
    prog_verify(e, &c, &s, &o);
    prog_assert_no_module_errors(e, &c);
    /* Shutting down (revoke, close) changes nothing. */
    bm_e2e_engine_stop(&g, 10000);
    prog_verify(e, &c, &s, &o);
    fprintf(stderr, "e2e: total %lld ms\n", (long long)(bm_e2e_now_ms() - t_start));
    prog_oracle_free(&o);
    prog_stream_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_progression_kill9, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
