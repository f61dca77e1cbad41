/*
 * The web SDK in headless Chromium against the engine: browser_e2e.mjs drives
 * the page (offline queue across a reload, a lost answer, live widgets, a
 * hostile user id, keyboard and labels, screenshots, a tournament that ends
 * and pays while the page watches, a community joined from its widget). This
 * file builds the world (quest, battle pass and tournament modules loaded by
 * hot reload, their campaigns, a community whose name is hostile markup) and
 * checks the database afterwards: the ten events tracked in the page were
 * applied exactly once, the join made one membership, the prizes were granted.
 */
#include <errno.h>
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

#include "e2e/live/live_node.h"
#include "util/rfc3339.h"

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
    install_module(w, "tournament");
    bm_e2e_engine_signal(&w->g, SIGHUP);
    bm_e2e_wait_log(&w->g, "name=quest", 20000);
    bm_e2e_wait_log(&w->g, "name=battlepass", 20000);
    bm_e2e_wait_log(&w->g, "name=tournament", 20000);
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
    /* A cup on its own event type that ends 90 s from now (1 s grace): the page sees it
     * run, end and pay 60/30/10 of 100. */
    char cup[64], tjson[1024], s_ts[40], e_ts[40];
    int64_t now_ms = bm_e2e_wall_ms();
    bm_rfc3339_format(now_ms - 3600000, s_ts, sizeof s_ts);
    bm_rfc3339_format(now_ms + 90000, e_ts, sizeof e_ts);
    snprintf(tjson, sizeof tjson,
             "{\"type\":\"tournament\",\"name\":\"Weekend cup\",\"gameId\":\"gw-game\","
             "\"startDate\":\"%s\",\"endDate\":\"%s\",\"gracePeriodSeconds\":1,"
             "\"scoringConfig\":{\"eventType\":\"CUP_ROUND\",\"dataField\":\"score\"},"
             "\"prizePool\":{\"totalValue\":100,\"rewardType\":\"token\",\"distribution\":"
             "[{\"rank\":1,\"percentage\":60},{\"rank\":2,\"percentage\":30},{\"rank\":3,"
             "\"percentage\":10}]}}",
             s_ts, e_ts);
    bm_e2e_campaign(&w->e, tjson, cup, sizeof cup);
    /* A community of the game's studio whose name is markup. */
    char cpath[700], cjson[1024], *out = NULL;
    PGresult *res = PQexec(w->e.db, "SELECT id::text FROM studios WHERE firebase_uid = 'uid-a'");
    assert_int_equal(PQntuples(res), 1);
    snprintf(cjson, sizeof cjson,
             "{\"studioId\":\"%s\",\"name\":\"<img src=x onerror=alert(2)> Night Owls\","
             "\"description\":\"Late games, <b>loud</b> chat\",\"referralSlug\":\"night-owls\","
             "\"redirectUrl\":\"https://owls.example/\",\"isOpen\":true,"
             "\"memberMetadata\":{\"type\":\"username\"}}",
             PQgetvalue(res, 0, 0));
    PQclear(res);
    snprintf(cpath, sizeof cpath, "%s/community.json", w->e.dir);
    bm_e2e_write_file(cpath, cjson, strlen(cjson));
    const char *cargs[] = {"community", "create", cpath, NULL};
    if (bm_e2e_bmctl(&w->e, &out, cargs) != 0)
        fail_msg("community create: %s", out ? out : "");
    free(out);
    char shots[1100];
    snprintf(shots, sizeof shots, "%s/sdk-web-screenshots", getenv("BM_BUILD_DIR"));
    setenv("BM_QUEST", quest, 1);
    setenv("BM_PASS", pass, 1);
    setenv("BM_SHOTS_DIR", shots, 1);
    setenv("BM_CUP", cup, 1);
    setenv("BM_COMMUNITY", "night-owls", 1);
    /* The engine applies new campaigns from config.campaigns. */
    char needle[120];
    snprintf(needle, sizeof needle, "campaign=%s type=quest", quest);
    bm_e2e_wait_log(&w->g, needle, 20000);
    snprintf(needle, sizeof needle, "campaign=%s type=battlepass", pass);
    bm_e2e_wait_log(&w->g, needle, 20000);
    snprintf(needle, sizeof needle, "campaign=%s type=tournament", cup);
    bm_e2e_wait_log(&w->g, needle, 20000);
    char log[600];
    pid_t pid = live_node_start(w, "browser_e2e.mjs", log, sizeof log);
    live_node_finish(pid, log, 270000);
    /* Ten events tracked in the page, sent twice (a lost answer): applied once each. */
    assert_int_equal(bm_e2e_ll(&w->e,
                               "SELECT event_count FROM user_progress WHERE campaign_id = '%s' AND "
                               "user_id = 'web-u1'",
                               w->board),
                     10);
    assert_true(bm_e2e_ll(&w->e, "SELECT sum(events_duplicate) FROM consumer_offsets") >= 1);
    /* One membership from the widget's join; three prizes granted by the cup. */
    assert_int_equal(bm_e2e_ll(&w->e,
                               "SELECT count(*) FROM community_members m JOIN communities c ON "
                               "c.id = m.community_id WHERE c.referral_slug = 'night-owls' AND "
                               "m.user_id = 'web-u1' AND m.status = 'active'"),
                     1);
    assert_int_equal(
        bm_e2e_ll(&w->e, "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s'", cup),
        3);
    fprintf(stderr, "screenshots in %s\n", shots);
    gw_world_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_browser, gw_world_setup, gw_world_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
