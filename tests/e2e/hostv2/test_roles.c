/*
 * Roles as subsets: engine.roles is checked at startup (file:line for an
 * unknown name), a processor-only process applies events and leaves the
 * outbox unpublished, and a relay-only process started next to it publishes
 * what the processor wrote.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config/config.h"
#include "e2e/hostv2/hostv2.h"
#include "engine/engine.h"

static void test_unknown_role_refused(void **state)
{
    bm_e2e *e = *state;
    hv2_init(e, "roles_bad", 2);
    char conf[400], bin[1100], want[600], *out = NULL;
    snprintf(conf, sizeof conf, "%s/bad.conf", e->dir);
    const char *text = "[engine]\nlog_level = info\nroles = processor, relayer\n";
    bm_e2e_write_file(conf, text, strlen(text));
    char *argv[] = {(char *)bm_e2e_build_path(e, "brightmatter", bin, sizeof bin), "-c", conf,
                    "run", NULL};
    int rc = bm_e2e_run(e, argv, &out, 10000);
    snprintf(want, sizeof want, "%s:3: engine.roles: unknown role 'relayer'", conf);
    if (rc != 2 || !out || !strstr(out, want))
        bm_e2e_fail("want exit 2 with '%s', got %d: %s", want, rc, out ? out : "");
    free(out);
    /* A known role this build has no subsystem for is refused when starting. */
    for (int r = 0; r < BM_NROLES; r++) {
        if (bm_engine_role_ops(r))
            continue;
        bm_e2e_setenv(e, "BM_ENGINE_ROLES", bm_config_role_names[r]);
        char *argv2[] = {bin, "run", NULL};
        rc = bm_e2e_run(e, argv2, &out, 30000);
        snprintf(want, sizeof want, "role '%s' is not part of this build", bm_config_role_names[r]);
        if (rc != 1 || !out || !strstr(out, want))
            bm_e2e_fail("want exit 1 with '%s', got %d: %s", want, rc, out ? out : "");
        free(out);
        out = NULL;
    }
}

static void test_processor_then_relay(void **state)
{
    bm_e2e *e = *state;
    hv2_init(e, "roles", 2);
    char camp[64];
    hv2_campaign(e, "", camp, sizeof camp);
    bm_e2e_engine proc, relay;
    hv2_engine(e, &proc, "processor", "proc");
    for (int i = 0; i < 20; i++) {
        char id[32];
        snprintf(id, sizeof id, "r-%d", i);
        hv2_event(e, "score", i % 2 ? "u1" : "u2", id);
    }
    bm_e2e_wait_offsets(e, &proc, 20, 60000);
    assert_int_equal(bm_e2e_ll(e, "SELECT sum(current_value)::bigint FROM user_progress"), 20);
    /* The fixture's ticks write tournament.events messages; nobody publishes them. */
    hv2_wait_ll(e, 1, 20000, "SELECT count(*) FROM outbox WHERE topic = 'tournament.events'");
    bm_e2e_sleep_ms(1500);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"), 0);
    assert_int_equal(bm_e2e_topic_end(e, "tournament.events"), 0);

    hv2_engine(e, &relay, "relay", "relay");
    hv2_wait_ll(e, 1, 20000, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL");
    long long published = 0;
    for (int i = 0; i < 100 && published == 0; i++, bm_e2e_sleep_ms(100))
        published = bm_e2e_topic_end(e, "tournament.events");
    assert_true(published > 0);
    /* The relay-only process consumed nothing. */
    assert_false(bm_e2e_log_contains(&relay, "partition=0 assigned"));
    bm_e2e_engine_stop(&relay, 30000);
    bm_e2e_engine_stop(&proc, 30000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_role_refused, bm_e2e_setup, bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_processor_then_relay, bm_e2e_setup, bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
