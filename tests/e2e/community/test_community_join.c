/*
 * Community joins as COMMUNITY_JOIN commands on game.events, applied by the
 * real engine in the exactly-once batch, with a tournament, a leaderboard and
 * a quest gated on the community. Checks: a join counts for the same player's scores after it in
 * the same batch (and not before); invalid metadata, a full community, a
 * missing invite and a closed community are refused with their reason;
 * autoApprove false makes the member pending; the starter reward is granted
 * once although the join is sent twice; referrals are counted; a ban stops
 * the player's scores from counting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "e2e/common/e2e.h"
#include "event/event.h"

#define WALLET "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

static void community(bm_e2e *e, const char *file, const char *json)
{
    char path[600], *out = NULL;
    snprintf(path, sizeof path, "%s/%s", e->dir, file);
    bm_e2e_write_file(path, json, strlen(json));
    const char *args[] = {"community", "create", path, NULL};
    int rc = bm_e2e_bmctl(e, &out, args);
    if (rc != 0)
        fail_msg("community create: %s", out ? out : "");
    free(out);
}

static void send_event(rd_kafka_t *p, const char *user, const char *type, const char *data,
                       int *seq)
{
    char buf[1024], ts[40];
    bm_rfc3339_format(bm_e2e_wall_ms() - 60000, ts, sizeof ts);
    int n = snprintf(buf, sizeof buf,
                     "{\"eventId\":\"cj-%d\",\"gameId\":\"%s\",\"userId\":\"%s\",\"eventType\":"
                     "\"%s\",\"timestamp\":\"%s\",\"data\":%s}",
                     ++*seq, strncmp(type, "bm.community", 12) == 0 ? "bm.community" : "demo-game",
                     user, type, ts, data);
    bm_e2e_produce(p, user, buf, (size_t)n);
}

static long long score(bm_e2e *e, const char *tid, const char *user)
{
    return bm_e2e_ll(e,
                     "SELECT COALESCE((SELECT current_value::bigint FROM user_progress WHERE "
                     "campaign_id = '%s' AND user_id = '%s'), -1)",
                     tid, user);
}

static long long refusals(bm_e2e *e, const char *reason)
{
    return bm_e2e_ll(e,
                     "SELECT COALESCE(sum((length(payload) - length(replace(payload, "
                     "'\"reason\":\"%s\"', ''))) / length('\"reason\":\"%s\"')), 0) FROM outbox "
                     "WHERE topic = 'community.events'",
                     reason, reason);
}

static void test_join_gate_ban(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "cjoin", 4);
    bm_e2e_install_module(e, "tournament.so");
    bm_e2e_install_module(e, "quest.so");
    community(e, "a.json",
              "{\"name\":\"Guild A\",\"referralSlug\":\"guild-a\",\"redirectUrl\":"
              "\"https://example.com/a\",\"memberMetadata\":{\"type\":\"wallet\"},"
              "\"starterReward\":{\"type\":\"in_game\",\"config\":{\"item\":\"badge\"}},"
              "\"moderationSettings\":{\"maxMembers\":3}}");
    community(e, "b.json",
              "{\"name\":\"Guild B\",\"referralSlug\":\"guild-b\",\"redirectUrl\":"
              "\"https://example.com/b\",\"memberMetadata\":{\"type\":\"email\"},"
              "\"moderationSettings\":{\"autoApprove\":false,\"requireInvite\":true,"
              "\"inviteCodes\":[\"WELCOME1\"]}}");
    community(e, "c.json",
              "{\"name\":\"Guild C\",\"referralSlug\":\"guild-c\",\"redirectUrl\":"
              "\"https://example.com/c\",\"isOpen\":false,\"memberMetadata\":{\"type\":"
              "\"username\"}}");
    community(e, "d.json",
              "{\"name\":\"Guild D\",\"referralSlug\":\"guild-d\",\"redirectUrl\":"
              "\"https://example.com/d\",\"memberMetadata\":{\"type\":\"username\"}}");
    char a_id[64], d_id[64], tjson[2048], tid[64], s_ts[40], e_ts[40];
    PGresult *r = PQexec(e->db, "SELECT id::text FROM communities WHERE referral_slug = 'guild-a'");
    snprintf(a_id, sizeof a_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = PQexec(e->db, "SELECT id::text FROM communities WHERE referral_slug = 'guild-d'");
    snprintf(d_id, sizeof d_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    bm_rfc3339_format(bm_e2e_wall_ms() - 3600000, s_ts, sizeof s_ts);
    bm_rfc3339_format(bm_e2e_wall_ms() + 3600000, e_ts, sizeof e_ts);
    snprintf(tjson, sizeof tjson,
             "{\"type\":\"tournament\",\"name\":\"Guild cup\",\"gameId\":\"demo-game\","
             "\"startDate\":\"%s\",\"endDate\":\"%s\",\"entryRequirements\":{\"communities\":"
             "[\"%s\"]},\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\"}}",
             s_ts, e_ts, a_id);
    bm_e2e_campaign(e, tjson, tid, sizeof tid);
    /* A leaderboard and a quest gated on the same community. */
    char bjson[1024], bid[64], qjson[1024], qid[64];
    snprintf(bjson, sizeof bjson,
             "{\"type\":\"leaderboard\",\"name\":\"Guild board\",\"gameId\":\"demo-game\","
             "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
             "\"aggregation\":\"sum\"},\"gating\":{\"communities\":[\"%s\"]}}",
             a_id);
    bm_e2e_campaign(e, bjson, bid, sizeof bid);
    snprintf(qjson, sizeof qjson,
             "{\"type\":\"quest\",\"name\":\"Guild quest\",\"gameId\":\"demo-game\","
             "\"ongoing\":true,\"conditions\":[{\"type\":\"count\",\"eventType\":\"MATCH_END\","
             "\"target\":1}],\"reward\":{\"type\":\"in_game\",\"config\":{\"item\":"
             "\"guild_chest\"}},\"gating\":{\"communities\":[\"%s\"]}}",
             a_id);
    bm_e2e_campaign(e, qjson, qid, sizeof qid);
    /* Guild A against guild D, ending soon: members' scores add up, prizes split by score. */
    char cjson[2048], cid[64], c_end[40];
    int64_t cup_end = bm_e2e_wall_ms() + 20000;
    bm_rfc3339_format(cup_end, c_end, sizeof c_end);
    snprintf(cjson, sizeof cjson,
             "{\"type\":\"tournament\",\"name\":\"Guild war\",\"gameId\":\"demo-game\","
             "\"startDate\":\"%s\",\"endDate\":\"%s\",\"gracePeriodSeconds\":1,"
             "\"scoreBy\":\"community\",\"communityPrizeSplit\":\"score\","
             "\"entryRequirements\":{\"communities\":[\"%s\",\"%s\"]},"
             "\"scoringConfig\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\"},"
             "\"prizePool\":{\"totalValue\":100,\"rewardType\":\"token\",\"distribution\":"
             "[{\"rank\":1,\"percentage\":70},{\"rank\":2,\"percentage\":30}]}}",
             s_ts, c_end, a_id, d_id);
    bm_e2e_campaign(e, cjson, cid, sizeof cid);
    /* A campaign gated on a community that does not exist is refused at creation. */
    char upath[600], *uout = NULL;
    snprintf(upath, sizeof upath, "%s/unknown.json", e->dir);
    static const char unknown[] =
        "{\"type\":\"leaderboard\",\"name\":\"x\",\"gameId\":\"demo-game\","
        "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\"},"
        "\"gating\":{\"communities\":[\"00000000-0000-0000-0000-000000000000\"]}}";
    bm_e2e_write_file(upath, unknown, strlen(unknown));
    const char *uargs[] = {"campaign", "create", upath, NULL};
    assert_int_not_equal(bm_e2e_bmctl(e, &uout, uargs), 0);
    assert_non_null(strstr(uout, "gating.communities[0]: no community"));
    free(uout);

    /* Queued before the engine starts: each player's events in one batch. */
    rd_kafka_t *p = bm_e2e_producer(e);
    int seq = 0;
    char join_a[512], join_ref[512];
    snprintf(join_a, sizeof join_a, "{\"slug\":\"guild-a\",\"metadata\":{\"address\":\"%s\"}}",
             WALLET);
    snprintf(join_ref, sizeof join_ref,
             "{\"slug\":\"guild-a\",\"ref\":\"alice\",\"metadata\":{\"address\":\"%s\"}}", WALLET);
    send_event(p, "u1", "MATCH_END", "{\"score\":5}", &seq); /* before the join: not counted */
    send_event(p, "u1", "bm.community.join", join_ref, &seq);
    send_event(p, "u1", "MATCH_END", "{\"score\":7}", &seq);
    send_event(p, "u1", "bm.community.join", join_ref, &seq); /* retried: nothing new */
    send_event(p, "u2", "bm.community.join",
               "{\"slug\":\"guild-a\",\"metadata\":{\"address\":"
               "\"0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"}}",
               &seq);
    send_event(p, "u2", "MATCH_END", "{\"score\":3}", &seq);
    send_event(p, "u3", "bm.community.join", join_ref, &seq);
    send_event(p, "u3", "MATCH_END", "{\"score\":4}", &seq);
    send_event(p, "u6", "bm.community.join",
               "{\"slug\":\"guild-b\",\"metadata\":{\"email\":\"a@b.io\"}}", &seq);
    send_event(
        p, "u6", "bm.community.join",
        "{\"slug\":\"guild-b\",\"inviteCode\":\"WELCOME1\",\"metadata\":{\"email\":\"a@b.io\"}}",
        &seq);
    send_event(p, "u7", "bm.community.join", "{\"slug\":\"nowhere\",\"metadata\":{}}", &seq);
    send_event(p, "u9", "bm.community.join",
               "{\"slug\":\"guild-d\",\"metadata\":{\"username\":\"nine\"}}", &seq);
    send_event(p, "u9", "MATCH_END", "{\"score\":10}", &seq);
    send_event(p, "u10", "bm.community.join",
               "{\"slug\":\"guild-d\",\"metadata\":{\"username\":\"ten\"}}", &seq);
    send_event(p, "u10", "MATCH_END", "{\"score\":6}", &seq);
    bm_e2e_producer_close(p);
    /* And one through bmctl: the closed community. */
    char *out = NULL;
    const char *args[] = {"community", "join", "guild-c", "u8", "{\"username\":\"player8\"}", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, args), 0);
    free(out);
    long long produced = seq + 1;

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_offsets(e, &g, produced, 60000);
    /* Then two joins for the one seat left: whichever comes second finds it full. */
    p = bm_e2e_producer(e);
    send_event(p, "u4", "bm.community.join", join_a, &seq);
    send_event(p, "u5", "bm.community.join", join_a, &seq);
    bm_e2e_producer_close(p);
    produced += 2;
    bm_e2e_wait_offsets(e, &g, produced, 60000);

    /* The join earlier in the batch counted for the score after it, not before. */
    assert_int_equal(score(e, tid, "u1"), 7);
    assert_int_equal(score(e, tid, "u3"), 4);
    assert_true(score(e, tid, "u2") <= 0);
    assert_int_equal(score(e, bid, "u1"), 7);
    assert_int_equal(score(e, bid, "u3"), 4);
    assert_true(score(e, bid, "u2") <= 0);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s' "
                               "AND user_id IN ('u1', 'u3')",
                               qid),
                     2);
    assert_int_equal(
        bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s'", qid), 2);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM community_members WHERE community_id = '%s' "
                               "AND status = 'active'",
                               a_id),
                     3);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM community_members WHERE community_id = '%s' "
                               "AND user_id IN ('u1', 'u3') AND referral_source = 'alice' AND "
                               "user_metadata->>'address' = lower('%s')",
                               a_id, WALLET),
                     2);
    /* One of u4 / u5 came fourth. */
    assert_int_equal(refusals(e, "full"), 1);
    assert_int_equal(refusals(e, "invalid_metadata"), 1);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE topic = 'community.events' "
                                  "AND payload LIKE '%%metadata.address%%'"),
                     1);
    assert_int_equal(refusals(e, "invite_required"), 1);
    assert_int_equal(refusals(e, "unknown_community"), 1);
    assert_int_equal(refusals(e, "closed"), 1);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM community_members m JOIN communities c ON "
                                  "c.id = m.community_id WHERE c.referral_slug = 'guild-b' AND "
                                  "m.user_id = 'u6' AND m.status = 'pending'"),
                     1);
    /* Starter reward: once per active member, the retried join included. */
    assert_int_equal(
        bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE community_id = '%s'", a_id),
        3);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM reward_fulfillments WHERE idempotency_key = "
                               "'community:%s:u1:starter' AND reward_type = 'in_game'",
                               a_id),
                     1);

    /* Banned: the next scores do not count. */
    const char *ban[] = {"community", "ban", "guild-a", "u1", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, ban), 0);
    free(out);
    /* The relay publishes the ban on config.communities; the engine forgets u1's membership. */
    bm_e2e_sleep_ms(2000);
    p = bm_e2e_producer(e);
    send_event(p, "u1", "MATCH_END", "{\"score\":100}", &seq);
    send_event(p, "u3", "MATCH_END", "{\"score\":1}", &seq);
    bm_e2e_producer_close(p);
    bm_e2e_wait_offsets(e, &g, produced + 2, 30000);
    assert_int_equal(score(e, tid, "u1"), 7);
    assert_int_equal(score(e, tid, "u3"), 5);
    assert_int_equal(score(e, bid, "u1"), 7);
    assert_int_equal(score(e, bid, "u3"), 5);

    const char *show[] = {"community", "show", "guild-a", "--json", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, show), 0);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    json_t *ref0 = json_array_get(json_object_get(o, "referrals"), 0);
    assert_string_equal(json_string_value(json_object_get(ref0, "referrer")), "alice");
    assert_int_equal(json_integer_value(json_object_get(ref0, "joins")), 2);
    json_decref(o);
    free(out);

    /* The guild war ends: D (10 + 6) first, A (7 + 5) second; shares by score. */
    for (int i = 0; i < 400 && bm_e2e_ll(e,
                                         "SELECT count(*) FROM work_claims WHERE campaign_id = "
                                         "'%s' AND work_key = 'finalise'",
                                         cid) == 0;
         i++)
        bm_e2e_sleep_ms(100);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM tournament_results WHERE campaign_id = '%s' "
                               "AND ((rank = 1 AND user_id = '%s' AND score = 16) OR (rank = 2 AND "
                               "user_id = '%s' AND score = 12))",
                               cid, d_id, a_id),
                     2);
    static const struct {
        const char *user;
        int pos;
        long long amount;
    } shares[] = {{"u9", 1, 44}, {"u10", 1, 26}, {"u1", 2, 18}, {"u3", 2, 12}};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(bm_e2e_ll(e,
                                   "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = "
                                   "'%s' AND user_id = '%s' AND idempotency_key = "
                                   "'tournament:%s:%d:%s' AND (reward_config->>'amount')::bigint = "
                                   "%lld",
                                   cid, shares[i].user, cid, shares[i].pos, shares[i].user,
                                   shares[i].amount),
                         1);
    assert_int_equal(
        bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE campaign_id = '%s'", cid), 4);
    bm_e2e_engine_stop(&g, 15000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_join_gate_ban, bm_e2e_setup, bm_e2e_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
