/*
 * The web SDK in headless Chromium against the engine: browser_e2e.mjs drives
 * the page (offline queue across a reload, a lost answer, live widgets, a
 * hostile user id, keyboard and labels, screenshots). This file builds the
 * world (quest and battle pass modules loaded by hot reload, their campaigns)
 * and checks the database afterwards: the ten events tracked in the page were
 * applied exactly once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/live/live_node.h"

static void install_module(gw_world *w, const char *name)
{
    char src[1100], tmp[700], dst[700], rel[64];
    snprintf(rel, sizeof rel, "modules/%s.so", name);
    bm_e2e_build_path(&w->e, rel, src, sizeof src);
    size_t len = 0;
    char *data = bm_e2e_slurp(src, &len);
    if (!data)
        bm_e2e_fail("cannot read %s: %s", src, strerror(errno));
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", w->e.mods_dir, name);
    snprintf(dst, sizeof dst, "%s/%s.so", w->e.mods_dir, name);
    bm_e2e_write_file(tmp, data, len);
    free(data);
    if (rename(tmp, dst) != 0)
        bm_e2e_fail("cannot install %s: %s", dst, strerror(errno));
}

static void test_browser(void **state)
{
    gw_world *w = *state;
    live_require_node();
    gw_world_start(w, "live_browser", NULL);
    install_module(w, "quest");
    install_module(w, "battlepass");
    bm_e2e_engine_signal(&w->g, SIGHUP);
    bm_e2e_wait_log(&w->g, "name=quest", 20000);
    bm_e2e_wait_log(&w->g, "name=battlepass", 20000);
    char quest[64], pass[64];
    bm_e2e_campaign(&w->e,
                    "{\"type\":\"quest\",\"name\":\"First steps\",\"gameId\":\"gw-game\","
                    "\"description\":\"Play five matches\",\"conditions\":[{\"type\":\"count\","
                    "\"eventType\":\"MATCH_END\",\"target\":5}],\"reward\":{\"type\":\"in_game\","
                    "\"config\":{\"item\":\"starter_chest\"}},\"repeatable\":false}",
                    quest, sizeof quest);
    bm_e2e_campaign(&w->e,
                    "{\"type\":\"battlepass\",\"name\":\"Season 1\",\"gameId\":\"gw-game\","
                    "\"entryRequirement\":{\"type\":\"free\",\"config\":{}},\"maxTier\":3,"
                    "\"xpSources\":[{\"eventType\":\"MATCH_END\",\"xpValue\":10}],\"tiers\":["
                    "{\"tier\":1,\"xpRequired\":20,\"freeReward\":{\"type\":\"in_game\","
                    "\"config\":{\"item\":\"badge\"}}},{\"tier\":2,\"xpRequired\":50},"
                    "{\"tier\":3,\"xpRequired\":100}]}",
                    pass, sizeof pass);
    char shots[1100];
    snprintf(shots, sizeof shots, "%s/sdk-web-screenshots", getenv("BM_BUILD_DIR"));
    setenv("BM_QUEST", quest, 1);
    setenv("BM_PASS", pass, 1);
    setenv("BM_SHOTS_DIR", shots, 1);
    /* The engine applies new campaigns from config.campaigns. */
    char needle[120];
    snprintf(needle, sizeof needle, "campaign=%s type=quest", quest);
    bm_e2e_wait_log(&w->g, needle, 20000);
    snprintf(needle, sizeof needle, "campaign=%s type=battlepass", pass);
    bm_e2e_wait_log(&w->g, needle, 20000);
    char log[600];
    pid_t pid = live_node_start(w, "browser_e2e.mjs", log, sizeof log);
    live_node_finish(pid, log, 150000);
    /* Ten events tracked in the page, sent twice (a lost answer): applied once each. */
    assert_int_equal(bm_e2e_ll(&w->e,
                               "SELECT event_count FROM user_progress WHERE campaign_id = '%s' AND "
                               "user_id = 'web-u1'",
                               w->board),
                     10);
    assert_true(bm_e2e_ll(&w->e, "SELECT sum(events_duplicate) FROM consumer_offsets") >= 1);
    fprintf(stderr, "screenshots in %s\n", shots);
    gw_world_stop(w);
}

static int setup(void **state)
{
    *state = calloc(1, sizeof(gw_world));
    return 0;
}

static int teardown(void **state)
{
    gw_world *w = *state;
    bm_e2e_cleanup(&w->e);
    free(w);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_browser, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
