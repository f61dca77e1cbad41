/*
 * Once-only work raced by two processes and a kill -9. The fx_v2 fixture
 * claims "sec-<unix second>" on every tick of its campaign and, when it holds
 * the claim, writes a result row and a tournament.events outbox message in
 * the same batch. Two processors tick the same campaign at the same seconds;
 * one of them is killed with SIGKILL mid-run and restarted. Every claimed
 * second must have exactly one claim row, one result row and one message:
 * never twice, never a message without its claim.
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

#include "e2e/hostv2/hostv2.h"

static void test_claims_race_and_kill9(void **state)
{
    bm_e2e *e = *state;
    hv2_init(e, "claims", 2);
    char camp[64];
    hv2_campaign(e, "", camp, sizeof camp);
    bm_e2e_engine a, b, a2;
    hv2_engine(e, &a, "processor", "a");
    hv2_engine(e, &b, "processor", "b");
    /* Events keep both busy meanwhile: claims then race real batches. */
    for (int i = 0; i < 40; i++) {
        char id[32];
        snprintf(id, sizeof id, "c-%d", i);
        hv2_event(e, "score", i % 3 ? "u1" : "u2", id);
        bm_e2e_sleep_ms(100);
    }
    hv2_wait_ll(e, 3, 30000, "SELECT count(*) FROM work_claims WHERE module = 'fx_v2'");
    bm_e2e_engine_kill9(&a);
    bm_e2e_sleep_ms(3000);
    hv2_engine(e, &a2, "processor", "a2");
    bm_e2e_sleep_ms(4000);
    bm_e2e_engine_stop(&a2, 30000);
    bm_e2e_engine_stop(&b, 30000);

    long long claims = bm_e2e_ll(e, "SELECT count(*) FROM work_claims WHERE module = 'fx_v2'");
    long long results = bm_e2e_ll(
        e, "SELECT count(*) FROM module_results WHERE kind = 'claim' AND campaign_id = '%s'", camp);
    long long messages = bm_e2e_outbox_count(e, "tournament.events");
    long long claimed_by_result = bm_e2e_ll(
        e, "SELECT count(*) FROM work_claims w JOIN module_results r ON r.key = w.work_key "
           "AND r.kind = 'claim' AND r.campaign_id::text = w.campaign_id "
           "WHERE w.module = 'fx_v2'");
    print_message("claimed seconds=%lld results=%lld messages=%lld\n", claims, results, messages);
    assert_true(claims >= 8);
    assert_int_equal(results, claims);
    assert_int_equal(messages, claims);
    assert_int_equal(claimed_by_result, claims);
    /* Both processes saw the race: at least one batch was read again on a taken claim, or
     * each won some seconds. */
    long long pids = bm_e2e_ll(e, "SELECT count(DISTINCT doc->>'pid') FROM module_results "
                                  "WHERE kind = 'claim'");
    int conflicts = bm_e2e_log_count(&b, "taken by another process") +
                    bm_e2e_log_count(&a2, "taken by another process");
    print_message("winning processes=%lld claim conflicts seen=%d\n", pids, conflicts);
    assert_true(pids >= 2 || conflicts > 0);
    /* Every event applied once. */
    assert_int_equal(bm_e2e_ll(e, "SELECT sum(current_value)::bigint FROM user_progress"), 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claims_race_and_kill9, bm_e2e_setup, bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
