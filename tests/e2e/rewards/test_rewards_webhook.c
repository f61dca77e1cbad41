/*
 * Reward delivery through the real engine, PostgreSQL and a real HTTP
 * receiver (node, started by the test) that verifies every signature.
 *
 * 1. Faults and crashes: the receiver fails about half the requests at
 *    random (500, 429 + Retry-After, no answer, connection reset); the engine
 *    is killed with SIGKILL several times while it delivers, and the last
 *    life hot-reloads reward_webhook.so mid-delivery. At the end every grant
 *    is completed, the set of webhook-ids the receiver accepted equals the set
 *    granted, and every request carried a valid signature.
 * 2. What ends how: a 4xx endpoint, a bad URL, a game without webhook_url and
 *    an in-game reward without item fail with the README's reasons; a reward
 *    type without a module waits (counted); bmctl rewards retry makes a failed
 *    reward due again; every status change is on the outbox.
 * 3. Per-endpoint cap: a receiver answering in 400 ms never sees more than
 *    rewards.per_endpoint requests at once, and a fast receiver's rewards are
 *    all delivered while the slow one is still being worked through.
 * 4. Secret rotation: after `bmctl webhook secret --rotate` webhooks carry
 *    two signatures, and a receiver knowing only the new secret (or only the
 *    old one) verifies them.
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

#include "e2e/rewards/rw_test.h"

#define N_WEBHOOK 300
#define N_INGAME 100
#define KILLS 3

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void set_webhook_url(bm_e2e *e, const char *game, int port, const char *path)
{
    char url[200], *out = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    const char *args[] = {"webhook", "url", game, url, NULL};
    int rc = bm_e2e_bmctl(e, &out, args);
    if (rc != 0)
        bm_e2e_fail("bmctl webhook url: %s", out ? out : "");
    free(out);
}

static void test_faults_and_kill9(void **state)
{
    bm_e2e *e = *state;
    char secret[128];
    rw_setup(e, "rw_kill9", "g-kill9", secret, sizeof secret);
    rw_recv r = {0};
    rw_recv_start(e, &r, secret, "0.5", "0");
    set_webhook_url(e, "g-kill9", r.port, "/hook");
    rw_grant(e, "wh-", N_WEBHOOK, "webhook", "{\"points\": 10, \"timeoutMs\": 1000}");
    rw_grant(e, "ig-", N_INGAME, "in_game", "{\"item\": \"sword\", \"timeoutMs\": 1000}");
    const long long total = N_WEBHOOK + N_INGAME;

    bm_e2e_rng rng;
    bm_e2e_rng_seed(&rng, 20261128);
    bm_e2e_engine g;
    for (int k = 0; k < KILLS; k++) {
        bm_e2e_engine_start(e, &g);
        long long before =
            bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE status = 'completed'");
        /* Let this life deliver some, then kill it at a random moment. */
        rw_wait_status(e, &g, "completed", before + 20, 60000);
        bm_e2e_sleep_ms((int)bm_e2e_rng_range(&rng, 0, 300));
        bm_e2e_engine_kill9(&g);
        long long done =
            bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE status = 'completed'");
        long long held =
            bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE status = 'processing'");
        fprintf(stderr, "rewards e2e: kill -9 #%d: %lld of %lld completed, %lld claimed\n", k + 1,
                done, total, held);
        assert_true(done < total); /* the kill landed during delivery */
    }
    /* Last life: reload the webhook module while deliveries run. */
    bm_e2e_engine_start(e, &g);
    long long before =
        bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE status = 'completed'");
    rw_wait_status(e, &g, "completed", before + 10, 60000);
    rw_install_module(e, "modules/reward_webhook.so");
    bm_e2e_engine_signal(&g, SIGHUP);
    bm_e2e_wait_log(&g, "generation=2", 20000);
    rw_wait_status(e, &g, "completed", total, 90000);
    bm_e2e_engine_stop(&g, 20000);

    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE status <> "
                                  "'completed'"),
                     0);
    /* The receiver's view. */
    size_t n = 0;
    rw_hit *h = rw_recv_hits(&r, &n);
    assert_non_null(h);
    const char **ok = calloc(n + 1, sizeof *ok);
    size_t nok = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!h[i].sig)
            bm_e2e_fail("request %zu (webhook-id %s) carried no valid signature", i, h[i].id);
        if (strcmp(h[i].outcome, "ok") == 0)
            ok[nok++] = h[i].id;
        else
            failed++;
    }
    qsort(ok, nok, sizeof *ok, cmp_str);
    size_t distinct = 0;
    for (size_t i = 0; i < nok; i++)
        if (i == 0 || strcmp(ok[i], ok[i - 1]) != 0)
            ok[distinct++] = ok[i];
    fprintf(stderr,
            "rewards e2e: %zu requests, %zu failed on purpose, %zu accepted, %zu distinct ids\n", n,
            failed, nok, distinct);
    assert_true(failed > (size_t)total / 4); /* the faults really happened */
    assert_int_equal(distinct, (size_t)total);
    /* Distinct accepted ids == the granted keys. */
    for (size_t i = 0; i < distinct; i++) {
        long long found = bm_e2e_ll(
            e, "SELECT count(*) FROM reward_fulfillments WHERE idempotency_key = '%s'", ok[i]);
        if (found != 1)
            bm_e2e_fail("receiver accepted webhook-id %s that was never granted", ok[i]);
    }
    /* Each reward's status changes are on the outbox (claim, retries, completion). */
    assert_true(bm_e2e_outbox_count(e, "reward.status") >= total * 2);
    assert_int_equal(bm_e2e_outbox_count(e, "reward.status"),
                     bm_e2e_outbox_count(e, "ui.reward_updates"));
    free(ok);
    free(h);
}

static void expect_failed(bm_e2e *e, const char *key, const char *needle)
{
    char *st = rw_text(e,
                       "SELECT status || ' ' || COALESCE(error_message, '') FROM "
                       "reward_fulfillments WHERE idempotency_key = '%s'",
                       key);
    if (strncmp(st, "failed ", 7) != 0 || !strstr(st, needle))
        bm_e2e_fail("reward %s: got '%s', want failed with '%s'", key, st, needle);
    free(st);
}

static void test_failures_end_as_documented(void **state)
{
    bm_e2e *e = *state;
    char secret[128];
    rw_setup(e, "rw_fail", "g-fail", secret, sizeof secret);
    rw_recv r = {0};
    rw_recv_start(e, &r, secret, "0", "0");
    char cfg[300];
    snprintf(cfg, sizeof cfg, "{\"url\": \"http://127.0.0.1:%d/4xx\"}", r.port);
    rw_grant(e, "four-", 1, "webhook", cfg);
    rw_grant(e, "badurl-", 1, "webhook", "{\"url\": \"ftp://127.0.0.1/x\"}");
    rw_grant(e, "nourl-", 1, "webhook", "{}");  /* the game has no webhook_url */
    rw_grant(e, "noitem-", 1, "in_game", "{}"); /* in-game reward without item */
    rw_grant(e, "nomod-", 2, "loot_box", "{}"); /* no module serves loot_box */
    snprintf(cfg, sizeof cfg, "{\"url\": \"http://127.0.0.1:%d/ok\"}", r.port);
    rw_grant(e, "fine-", 5, "webhook", cfg);

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    rw_wait_status(e, &g, "failed", 4, 30000);
    rw_wait_status(e, &g, "completed", 5, 30000);
    expect_failed(e, "four-1", "HTTP 400");
    expect_failed(e, "badurl-1", "bad URL");
    expect_failed(e, "nourl-1", "no webhook URL");
    expect_failed(e, "noitem-1", "item");
    /* 4xx is not retried. */
    assert_int_equal(
        bm_e2e_ll(e, "SELECT attempts FROM reward_fulfillments WHERE idempotency_key = 'four-1'"),
        1);
    /* No module: waiting, not failed, not attempted, and counted. */
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE reward_type = "
                                  "'loot_box' AND status = 'pending' AND attempts = 0"),
                     2);
    long long waiting = 0;
    for (int i = 0; i < 100 && waiting < 2; i++) {
        json_t *m = bm_e2e_modules(e);
        waiting =
            json_integer_value(json_object_get(json_object_get(m, "rewards"), "waitingNoModule"));
        json_decref(m);
        if (waiting < 2)
            bm_e2e_sleep_ms(100);
    }
    assert_int_equal(waiting, 2);

    /* bmctl rewards list / show / retry. */
    char *out = NULL;
    const char *list[] = {"rewards", "list", "--status", "failed", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, list), 0);
    assert_non_null(strstr(out, "HTTP 400"));
    assert_non_null(strstr(out, "bad URL"));
    assert_null(strstr(out, "completed"));
    free(out);
    /* Filters: by campaign and user, as JSON. */
    const char *byuser[] = {"rewards", "list",   "--campaign", RW_CAMPAIGN,
                            "--user",  "user-2", "--json",     NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, byuser), 0);
    json_t *arr = json_loads(out, 0, NULL);
    free(out);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 2); /* nomod-2 and fine-2 */
    for (size_t i = 0; i < json_array_size(arr); i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, i), "userId")),
                            "user-2");
    json_decref(arr);
    const char *badstatus[] = {"rewards", "list", "--status", "done", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, badstatus), 2);
    assert_non_null(strstr(out, "--status must be"));
    free(out);
    char *id = rw_text(e, "SELECT id FROM reward_fulfillments WHERE idempotency_key = 'four-1'");
    const char *show[] = {"rewards", "show", id, NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, show), 0);
    assert_non_null(strstr(out, "\"status\": 400"));
    free(out);
    long long outbox_before = bm_e2e_outbox_count(e, "reward.status");
    const char *retry[] = {"rewards", "retry", id, NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, retry), 0);
    free(out);
    /* Due again: claimed, sent, refused again by the 4xx endpoint. */
    int64_t until = bm_e2e_now_ms() + 20000;
    while (bm_e2e_now_ms() < until &&
           bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE idempotency_key = "
                        "'four-1' AND status = 'failed' AND attempts = 1") != 1)
        bm_e2e_sleep_ms(100);
    expect_failed(e, "four-1", "HTTP 400");
    /* retry, claim, failed: three more status messages. */
    assert_true(bm_e2e_outbox_count(e, "reward.status") >= outbox_before + 3);
    const char *retry_done[] = {"rewards", "retry",
                                rw_text(e, "SELECT id FROM reward_fulfillments WHERE "
                                           "idempotency_key = 'fine-1'"),
                                NULL};
    assert_int_not_equal(bm_e2e_bmctl(e, &out, retry_done), 0); /* completed: refused */
    assert_non_null(strstr(out, "completed"));
    free(out);
    free((char *)retry_done[2]);
    free(id);
    bm_e2e_engine_stop(&g, 20000);

    size_t n = 0;
    rw_hit *h = rw_recv_hits(&r, &n);
    for (size_t i = 0; i < n; i++)
        assert_true(h[i].sig);
    free(h);
}

static void test_secret_rotation(void **state)
{
    bm_e2e *e = *state;
    char old_secret[128];
    rw_setup(e, "rw_rotate", "g-rot", old_secret, sizeof old_secret);
    char *out = NULL;
    const char *rot[] = {"webhook", "secret", "g-rot", "--rotate", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, rot), 0);
    /* Two lines: the new secret first, then the old one with its expiry. */
    char new_secret[128];
    assert_int_equal(sscanf(out, "%127s", new_secret), 1);
    assert_string_not_equal(new_secret, old_secret);
    assert_non_null(strstr(out, old_secret));
    assert_non_null(strstr(out, "expires"));
    free(out);
    rw_recv only_new = {0}, only_old = {0};
    rw_recv_start(e, &only_new, new_secret, "0", "0");
    rw_recv_start(e, &only_old, old_secret, "0", "0");
    char cfg[200];
    snprintf(cfg, sizeof cfg, "{\"url\": \"http://127.0.0.1:%d/new\"}", only_new.port);
    rw_grant(e, "new-", 5, "webhook", cfg);
    snprintf(cfg, sizeof cfg, "{\"url\": \"http://127.0.0.1:%d/old\"}", only_old.port);
    rw_grant(e, "old-", 5, "webhook", cfg);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    rw_wait_status(e, &g, "completed", 10, 30000);
    bm_e2e_engine_stop(&g, 20000);
    const rw_recv *both[2] = {&only_new, &only_old};
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        rw_hit *h = rw_recv_hits(both[k], &n);
        assert_int_equal(n, 5);
        for (size_t i = 0; i < n; i++) {
            assert_true(h[i].sig);
            assert_int_equal(h[i].nsig, 2);
        }
        free(h);
    }
}

static void test_slow_endpoint_capped(void **state)
{
    bm_e2e *e = *state;
    char secret[128];
    rw_setup(e, "rw_cap", "g-cap", secret, sizeof secret);
    bm_e2e_setenv(e, "BM_REWARDS_PER_ENDPOINT", "3");
    rw_recv slow = {0}, fast = {0};
    rw_recv_start(e, &slow, secret, "0", "400");
    rw_recv_start(e, &fast, secret, "0", "0");
    char cfg[200];
    snprintf(cfg, sizeof cfg, "{\"url\": \"http://127.0.0.1:%d/slow\"}", slow.port);
    rw_grant(e, "slow-", 24, "webhook", cfg);
    snprintf(cfg, sizeof cfg, "{\"url\": \"http://127.0.0.1:%d/fast\"}", fast.port);
    rw_grant(e, "fast-", 40, "webhook", cfg);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    rw_wait_status(e, &g, "completed", 64, 60000);
    bm_e2e_engine_stop(&g, 20000);
    size_t ns = 0, nf = 0;
    rw_hit *hs = rw_recv_hits(&slow, &ns);
    rw_hit *hf = rw_recv_hits(&fast, &nf);
    assert_int_equal(ns, 24);
    assert_int_equal(nf, 40);
    int max_slow = 0;
    long long slow_last = 0, fast_last = 0;
    for (size_t i = 0; i < ns; i++) {
        max_slow = hs[i].inflight > max_slow ? hs[i].inflight : max_slow;
        slow_last = hs[i].at > slow_last ? hs[i].at : slow_last;
    }
    for (size_t i = 0; i < nf; i++)
        fast_last = hf[i].at > fast_last ? hf[i].at : fast_last;
    fprintf(stderr,
            "rewards e2e: slow endpoint at most %d at once; fast done %lld ms before slow\n",
            max_slow, slow_last - fast_last);
    assert_true(max_slow <= 3);
    assert_true(max_slow >= 2); /* deliveries to it did run in parallel */
    /* 24 rewards at 3 x 400 ms take >= 3.2 s; the fast ones were not held behind them. */
    assert_true(fast_last + 1500 < slow_last);
    free(hs);
    free(hf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failures_end_as_documented, bm_e2e_setup,
                                        bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_secret_rotation, bm_e2e_setup, bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_slow_endpoint_capped, bm_e2e_setup, bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_faults_and_kill9, bm_e2e_setup, bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
