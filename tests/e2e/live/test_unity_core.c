/*
 * The Unity package's plain C# core under Mono against the engine: the NUnit
 * tests of sdk/unity/Tests/Runtime (tracked events reach the board once, the
 * queue waits on disk while the gateway is down, a retry after a lost answer
 * counts once, the queue cap, a live update over the WebSocket), compiled by
 * the build (target unity-core) and run by their small runner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/live/live_node.h"

static void test_unity(void **state)
{
    gw_world *w = *state;
    char exe[1100];
    const char *build = getenv("BM_BUILD_DIR");
    snprintf(exe, sizeof exe, "%s/sdk/unity/BrightMatter.Tests.exe", build ? build : ".");
    if (access(exe, R_OK) != 0 || access("/usr/bin/mono", X_OK) != 0)
        bm_e2e_fail(
            "%s or /usr/bin/mono missing: install mono-mcs, mono-runtime, "
            "libnewtonsoft-json5.0-cil, libnunit-framework2.6.3-cil (scripts/lib/common.sh) "
            "and rebuild",
            exe);
    gw_world_start(w, "live_unity", NULL);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", w->port);
    setenv("BM_URL", url, 1);
    setenv("BM_KEY", w->key, 1);
    setenv("BM_BOARD", w->board, 1);
    char *argv[] = {"/usr/bin/mono", exe, NULL};
    char *out = NULL;
    int rc = bm_e2e_run(&w->e, argv, &out, 120000);
    fprintf(stderr, "%s", out ? out : "");
    if (rc != 0 || !strstr(out, " 0 failed") || strstr(out, "skipped"))
        bm_e2e_fail("the Unity core tests failed (exit %d)", rc);
    free(out);
    gw_world_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unity, gw_world_setup, gw_world_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
