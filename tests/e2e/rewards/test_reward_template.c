/*
 * Out-of-tree reward modules: BrightMatter is installed to a temporary
 * prefix, sdk/reward-template is built against that install only (pkg-config,
 * no path into the source tree), the installed bmctl checks it, and the
 * engine loads it and delivers rewards of its type through it: every grant
 * ends completed and appears in the module's ledger exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/rewards/rw_test.h"

#define N 40

static void test_template_builds_loads_and_delivers(void **state)
{
    bm_e2e *e = *state;
    char secret[128];
    rw_setup(e, "rw_tmpl", "g-tmpl", secret, sizeof secret);
    char script[4096], *out = NULL;
    snprintf(script, sizeof script,
             "set -e; t='%s'; cmake --install '%s' --prefix \"$t/prefix\" >\"$t/install.log\"; "
             "pc=$(find \"$t/prefix\" -name brightmatter-module.pc | head -n 1); "
             "export PKG_CONFIG_PATH=$(dirname \"$pc\"); "
             "cmake -S '%s/sdk/reward-template' -B \"$t/tmpl\" >\"$t/cmake.log\"; "
             "cmake --build \"$t/tmpl\" >\"$t/build.log\"; "
             "\"$t/prefix/bin/bmctl\" module check \"$t/tmpl/reward_ledger.so\"",
             e->dir, e->build_dir, getenv("BM_SOURCE_DIR"));
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    int rc = bm_e2e_run(e, argv, &out, 240000);
    if (rc != 0)
        bm_e2e_fail("building the template against the installed SDK failed (%d): %s", rc,
                    out ? out : "");
    assert_non_null(strstr(out, "kind: reward"));
    assert_non_null(strstr(out, "serves: ledger"));
    free(out);

    /* Into the engine's modules directory, as a user would. */
    char src[600], dst[600], ledger[600];
    snprintf(src, sizeof src, "%s/tmpl/reward_ledger.so", e->dir);
    snprintf(dst, sizeof dst, "%s/reward_ledger.so", e->mods_dir);
    size_t len = 0;
    char *so = bm_e2e_slurp(src, &len);
    assert_non_null(so);
    bm_e2e_write_file(dst, so, len);
    free(so);
    snprintf(ledger, sizeof ledger, "%s/ledger.tsv", e->dir);
    bm_e2e_setenv(e, "BM_LEDGER_FILE", ledger);

    rw_grant(e, "ledger-", N, "ledger", "{\"coins\": 25}");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    rw_wait_status(e, &g, "completed", N, 60000);
    bm_e2e_engine_stop(&g, 20000);

    char *text = bm_e2e_slurp(ledger, NULL);
    assert_non_null(text);
    int lines = 0;
    for (int i = 1; i <= N; i++) {
        char key[64];
        snprintf(key, sizeof key, "ledger-%d\tuser-%d\t", i, i);
        int seen = 0;
        for (const char *p = text; (p = strstr(p, key)) != NULL; p++)
            if (p == text || p[-1] == '\n')
                seen++;
        if (seen != 1)
            bm_e2e_fail("ledger has %d lines for ledger-%d, want 1", seen, i);
        lines++;
    }
    assert_int_equal(lines, N);
    assert_non_null(strstr(text, "\"coins\": 25"));
    free(text);
    char *res = rw_text(e, "SELECT fulfillment_data->>'ledger' FROM reward_fulfillments WHERE "
                           "idempotency_key = 'ledger-1'");
    assert_string_equal(res, "recorded");
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_template_builds_loads_and_delivers, bm_e2e_setup,
                                        bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
