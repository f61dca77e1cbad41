/*
 * A module call from outside the processing thread through the real engine:
 * `bmctl query` runs the fx_v2 module's query() on the admin socket's thread
 * with the generation and the campaign context pinned. A new version is
 * installed and SIGHUP reloads it while a 3 s query runs: the swap happens at
 * once, the query completes on the old generation, which is closed only
 * after the call returns; the next query is answered by the new version.
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

#include "e2e/hostv2/hostv2.h"

/* Installs a fixture build over <modules>/fx_v2.so the way installers do. */
static void install_fx(bm_e2e *e, const char *fixture)
{
    char src[1100], tmp[400], dst[400];
    snprintf(tmp, sizeof tmp, "%s/.fx_v2.so.tmp", e->mods_dir);
    snprintf(dst, sizeof dst, "%s/fx_v2.so", e->mods_dir);
    snprintf(src, sizeof src, "tests/fixtures/%s.so", fixture);
    char path[1100];
    size_t len = 0;
    char *data = bm_e2e_slurp(bm_e2e_build_path(e, src, path, sizeof path), &len);
    if (!data)
        bm_e2e_fail("cannot read %s", path);
    bm_e2e_write_file(tmp, data, len);
    free(data);
    if (rename(tmp, dst) != 0)
        bm_e2e_fail("cannot install %s", dst);
}

static void test_reload_during_long_query(void **state)
{
    bm_e2e *e = *state;
    hv2_init(e, "query", 1);
    char camp[64];
    hv2_campaign(e, "", camp, sizeof camp);
    bm_e2e_engine g;
    hv2_engine(e, &g, "processor", "one");

    char *out = NULL;
    const char *quick[] = {"query", camp, "{}", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, quick), 0);
    assert_non_null(strstr(out, "\"version\":\"1.0.0\""));
    free(out);

    /* The long call, in the background. */
    char bmctl[1100], qout[400];
    snprintf(qout, sizeof qout, "%s/query.out", e->dir);
    char *argv[] = {(char *)bm_e2e_build_path(e, "bmctl", bmctl, sizeof bmctl), "query", camp,
                    "{\"sleepMs\":3000}", NULL};
    pid_t q = bm_e2e_spawn(e, argv, qout);
    bm_e2e_sleep_ms(500);

    /* Version 2 swapped in while the call runs. */
    install_fx(e, "fx_v2_b");
    bm_e2e_engine_signal(&g, SIGHUP);
    bm_e2e_wait_log(&g, "loaded file=", 10000);
    bm_e2e_wait_log(&g, "generation=2 active", 10000);
    assert_int_equal(bm_e2e_log_count(&g, "retired name=fx_v2 generation=1"), 0);

    /* The call completes on generation 1; only then is generation 1 closed. */
    assert_int_equal(bm_e2e_wait_exit(q, 20000, "bmctl query"), 0);
    char *answer = bm_e2e_slurp(qout, NULL);
    if (!answer || !strstr(answer, "\"version\":\"1.0.0\"") || !strstr(answer, "\"generation\":1"))
        bm_e2e_fail("the long query did not complete on generation 1: %s", answer ? answer : "");
    free(answer);
    bm_e2e_wait_log(&g, "retired name=fx_v2 generation=1", 10000);

    assert_int_equal(bm_e2e_bmctl(e, &out, quick), 0);
    if (!strstr(out, "\"version\":\"2.0.0\"") || !strstr(out, "\"generation\":2"))
        bm_e2e_fail("after the reload: %s", out);
    free(out);
    /* A campaign nobody serves is an error, not a crash. */
    const char *none[] = {"query", "00000000-0000-0000-0000-000000000000", "{}", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, none), 1);
    free(out);
    bm_e2e_engine_stop(&g, 30000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reload_during_long_query, bm_e2e_setup,
                                        bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
