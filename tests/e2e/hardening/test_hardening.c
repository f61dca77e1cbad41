/*
 * Hardening, as a tester sees it against a running engine:
 *
 * - outbox: a ~600 KB event of non-UTF-8 bytes is rejected and its DLQ record
 *   stays small (length + SHA-256 + the first 4096 bytes), so it is published
 *   and every other topic keeps flowing; an outbox row the broker refuses for
 *   good (1.5 MB) is parked with the error, counted, listed by `bmctl outbox
 *   parked`, and the rows after it are published; `bmctl outbox drop` removes it.
 * - commands: a battle pass purchase produced without the command signature
 *   (as any game client could) goes to the DLQ as unauthenticated_command and
 *   buys nothing; the one bmctl signs is applied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e.h"
#include "event/event.h"

#define GAME "demo-game"

static int setup(void **state)
{
    bm_e2e *e = calloc(1, sizeof *e);
    *state = e;
    return e ? 0 : -1;
}

static int teardown(void **state)
{
    bm_e2e_cleanup(*state);
    free(*state);
    return 0;
}

static void produce_scores(bm_e2e *e, const char *prefix, int n)
{
    rd_kafka_t *p = bm_e2e_producer(e);
    char ts[40], buf[512], user[64];
    bm_rfc3339_format((int64_t)time(NULL) * 1000, ts, sizeof ts);
    for (int i = 0; i < n; i++) {
        snprintf(user, sizeof user, "%s-%d", prefix, i % 7);
        int len = snprintf(buf, sizeof buf,
                           "{\"eventId\":\"%s-%d\",\"gameId\":\"" GAME "\",\"userId\":\"%s\","
                           "\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\","
                           "\"data\":{\"score\":%d}}",
                           prefix, i, user, ts, 10 + i);
        bm_e2e_produce(p, user, buf, (size_t)len);
    }
    bm_e2e_producer_close(p);
}

/* Polls until the published end of `topic` reaches want. */
static long long wait_topic(bm_e2e *e, const char *topic, long long want, int timeout_ms)
{
    int64_t deadline = bm_e2e_now_ms() + timeout_ms;
    long long got;
    while ((got = bm_e2e_topic_end(e, topic)) < want) {
        if (bm_e2e_now_ms() > deadline)
            bm_e2e_fail("%s: %lld messages published, want %lld: the outbox is stalled", topic, got,
                        want);
        bm_e2e_sleep_ms(200);
    }
    return got;
}

static void test_outbox_never_stalls(void **state)
{
    bm_e2e *e = *state;
    char id[64], *out = NULL;
    bm_e2e_init(e, "hard_outbox", 2);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"score sum\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"sum\"}}",
                    id, sizeof id);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);

    /* 1. ~600 KB of bytes that are not UTF-8: under the broker's 1 MB limit, its
     * hex would not be. */
    size_t big = 600 * 1000;
    unsigned char *junk = malloc(big);
    assert_non_null(junk);
    for (size_t i = 0; i < big; i++)
        junk[i] = (unsigned char)(0x80 | (i * 131 % 127));
    rd_kafka_t *p = bm_e2e_producer(e);
    bm_e2e_produce(p, "hostile", junk, big);
    bm_e2e_producer_close(p);
    free(junk);
    produce_scores(e, "a", 20);
    bm_e2e_wait_offsets(e, &g, 21, 60000);
    wait_topic(e, BM_TOPIC_DLQ, 1, 30000);
    long long lb = wait_topic(e, BM_TOPIC_LEADERBOARD_UPDATES, 1, 30000);
    long long size = bm_e2e_ll(e, "SELECT max(octet_length(payload)) FROM outbox "
                                  "WHERE topic = 'game.events.dlq'");
    fprintf(stderr, "e2e: DLQ record of the 600 KB event: %lld bytes\n", size);
    assert_true(size < 10000);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE topic = 'game.events.dlq' "
                                  "AND payload LIKE '%%\"originalLength\":600000%%' "
                                  "AND payload LIKE '%%\"originalSha256\":\"%%' "
                                  "AND payload LIKE '%%\"originalTruncated\":true%%'"),
                     1);

    /* 2. A row the broker refuses for good (larger than message.max.bytes), then
     * rows after it: parked with the error; the rest is published in order. */
    long long before = bm_e2e_topic_end(e, "ui.leaderboard_refresh");
    bm_e2e_ll(e,
              "WITH r AS (INSERT INTO outbox (topic, message_count, payload) "
              "VALUES ('ui.leaderboard_refresh', 1, 'k' || chr(9) || '\"' || repeat('x', 1500000) "
              "|| '\"') RETURNING id) SELECT id FROM r");
    produce_scores(e, "b", 20);
    bm_e2e_wait_offsets(e, &g, 41, 60000);
    wait_topic(e, BM_TOPIC_LEADERBOARD_UPDATES, lb + 1, 30000);
    int64_t deadline = bm_e2e_now_ms() + 30000;
    while (bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL") < 1) {
        if (bm_e2e_now_ms() > deadline)
            bm_e2e_fail("the refused row was not parked");
        bm_e2e_sleep_ms(200);
    }
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE parked_at IS NULL AND "
                                  "published_at IS NULL AND created_at < now() - interval '5 s'"),
                     0);
    bm_e2e_wait_log(&g, "parked topic=ui.leaderboard_refresh", 10000);
    assert_true(bm_e2e_log_contains(&g, "level=error"));
    long long parked_id = bm_e2e_ll(e, "SELECT id FROM outbox WHERE parked_at IS NOT NULL");
    /* Refreshes after the parked row still reach their topic. */
    wait_topic(e, "ui.leaderboard_refresh", before + 1, 30000);

    const char *list[] = {"outbox", "parked", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, list), 0);
    fprintf(stderr, "e2e: bmctl outbox parked:\n%s", out);
    assert_non_null(strstr(out, "ui.leaderboard_refresh"));
    assert_non_null(strstr(out, "too large"));
    free(out);
    json_t *m = bm_e2e_modules(e);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(m, "stats"), "outboxParked")), 1);
    json_decref(m);
    char idtxt[32];
    snprintf(idtxt, sizeof idtxt, "%lld", parked_id);
    /* retry hands it back to the relay: refused again, parked again, counted. */
    const char *retry[] = {"outbox", "retry", idtxt, NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, retry), 0);
    assert_non_null(strstr(out, "retrying 1 parked row"));
    free(out);
    deadline = bm_e2e_now_ms() + 30000;
    for (;;) {
        m = bm_e2e_modules(e);
        json_int_t parked =
            json_integer_value(json_object_get(json_object_get(m, "stats"), "outboxParked"));
        json_decref(m);
        if (parked == 2)
            break;
        if (bm_e2e_now_ms() > deadline)
            bm_e2e_fail("the retried row was not parked again");
        bm_e2e_sleep_ms(200);
    }
    const char *drop[] = {"outbox", "drop", idtxt, NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, drop), 0);
    free(out);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL"), 0);
    assert_int_equal(bm_e2e_bmctl(e, &out, drop), 1); /* gone */
    free(out);
    bm_e2e_engine_stop(&g, 30000);
}

static void test_forged_command_refused(void **state)
{
    bm_e2e *e = *state;
    char id[64], ts[40], buf[1024], *out = NULL;
    bm_e2e_init(e, "hard_cmd", 2);
    char src[1100], dst[400];
    size_t len = 0;
    char *so = bm_e2e_slurp(bm_e2e_build_path(e, "modules/battlepass.so", src, sizeof src), &len);
    assert_non_null(so);
    snprintf(dst, sizeof dst, "%s/battlepass.so", e->mods_dir);
    bm_e2e_write_file(dst, so, len);
    free(so);
    bm_e2e_campaign(e,
                    "{\"type\":\"battlepass\",\"name\":\"Season\",\"gameId\":\"" GAME "\","
                    "\"xpSources\":[{\"eventType\":\"MATCH_END\",\"field\":\"score\"}],"
                    "\"tiers\":[{\"tier\":1,\"xpRequired\":100,"
                    "\"premiumReward\":{\"type\":\"token\"}}]}",
                    id, sizeof id);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);

    /* A game client forges a purchase: no signature, then a made-up one. */
    bm_rfc3339_format((int64_t)time(NULL) * 1000, ts, sizeof ts);
    int n = snprintf(buf, sizeof buf,
                     "{\"eventId\":\"cmd:purchase:%s:mallory\",\"gameId\":\"" GAME "\","
                     "\"userId\":\"mallory\",\"eventType\":\"bm.battlepass.purchase\","
                     "\"timestamp\":\"%s\",\"source\":\"game-client\","
                     "\"data\":{\"campaignId\":\"%s\"}}",
                     id, ts, id);
    rd_kafka_t *p = bm_e2e_producer(e);
    for (int k = 0; k < 2; k++) {
        rd_kafka_headers_t *h = NULL;
        if (k == 1) {
            h = rd_kafka_headers_new(1);
            rd_kafka_header_add(
                h, BM_CMDAUTH_HEADER, -1,
                "v1=0000000000000000000000000000000000000000000000000000000000000000", -1);
        }
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(BM_TOPIC_EVENTS),
                                           RD_KAFKA_V_KEY("mallory", 7),
                                           RD_KAFKA_V_VALUE(buf, (size_t)n),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
                         0);
    }
    bm_e2e_producer_close(p);
    /* A signed purchase that arrives on another partition than bob's is forwarded
     * (and signed again by the relay) and applied there. */
    int32_t bob = bm_kafka_owner_partition("murmur2", "bob", 2);
    int bn = snprintf(buf, sizeof buf,
                      "{\"eventId\":\"cmd:purchase:%s:bob\",\"gameId\":\"" GAME "\","
                      "\"userId\":\"bob\",\"eventType\":\"bm.battlepass.purchase\","
                      "\"timestamp\":\"%s\",\"data\":{\"campaignId\":\"%s\"}}",
                      id, ts, id);
    char bsig[BM_CMDAUTH_SIG_SIZE];
    bm_cmdauth keys = {.ncur = strlen(BM_E2E_COMMAND_KEY)};
    memcpy(keys.cur, BM_E2E_COMMAND_KEY, keys.ncur);
    bm_cmdauth_sign(&keys, buf, (size_t)bn, bsig);
    p = bm_e2e_producer(e);
    rd_kafka_headers_t *bh = rd_kafka_headers_new(1);
    rd_kafka_header_add(bh, BM_CMDAUTH_HEADER, -1, bsig, -1);
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(BM_TOPIC_EVENTS),
                                       RD_KAFKA_V_PARTITION(1 - bob), RD_KAFKA_V_KEY("x", 1),
                                       RD_KAFKA_V_VALUE(buf, (size_t)bn),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_HEADERS(bh), RD_KAFKA_V_END),
                     0);
    bm_e2e_producer_close(p);
    /* The studio's server buys one through bmctl (signed with the engine's key). */
    const char *buy[] = {"battlepass", "purchase", id, "alice", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, buy), 0);
    free(out);
    bm_e2e_wait_offsets(e, &g, 5, 60000);
    const char *show_b[] = {"battlepass", "show", id, "bob", "--json", NULL};
    int64_t deadline = bm_e2e_now_ms() + 30000;
    for (;;) {
        assert_int_equal(bm_e2e_bmctl(e, &out, show_b), 0);
        json_t *jb = json_loads(out, 0, NULL);
        free(out);
        int bought = json_is_true(json_object_get(jb, "purchased"));
        json_decref(jb);
        if (bought)
            break;
        if (bm_e2e_now_ms() > deadline)
            bm_e2e_fail("bob's forwarded purchase was not applied");
        bm_e2e_sleep_ms(300);
    }

    const char *show_m[] = {"battlepass", "show", id, "mallory", "--json", NULL};
    const char *show_a[] = {"battlepass", "show", id, "alice", "--json", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, show_a), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_true(json_is_true(json_object_get(j, "purchased")));
    json_decref(j);
    int rc = bm_e2e_bmctl(e, &out, show_m);
    j = rc == 0 ? json_loads(out, 0, NULL) : NULL;
    free(out);
    assert_false(json_is_true(json_object_get(j, "purchased")));
    json_decref(j);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE topic = 'game.events.dlq' "
                                  "AND payload LIKE '%%\"reason\":\"unauthenticated_command\"%%'"),
                     1);
    assert_int_equal(bm_e2e_ll(e, "SELECT sum(message_count) FROM outbox "
                                  "WHERE topic = 'game.events.dlq'"),
                     2);
    bm_e2e_engine_stop(&g, 30000);
}

/* Waits for an engine that must refuse to start; returns its log. */
static void expect_refusal(bm_e2e *e, const char *needle)
{
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    int code = bm_e2e_wait_exit(g.pid, 30000, "engine that must refuse to start");
    g.reaped = 1;
    if (code == 0 || !bm_e2e_log_contains(&g, needle)) {
        bm_e2e_log_tail(&g, 20);
        bm_e2e_fail("engine exited %d without saying \"%s\"", code, needle);
    }
}

static void test_trusted_places_strict_configs(void **state)
{
    bm_e2e *e = *state;
    char path[600], *out = NULL, id[64];
    bm_e2e_init(e, "hard_trust", 2);
    const char *doc = "{\"type\":\"leaderboard\",\"name\":\"s\",\"gameId\":\"" GAME "\","
                      "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                      "\"aggregation\":\"sum\"}}";
    snprintf(path, sizeof path, "%s/c.json", e->dir);
    const char *create[] = {"campaign", "create", path, NULL};

    /* A modules directory other users can write: the engine refuses to start,
     * bmctl refuses to validate with it. */
    assert_int_equal(chmod(e->mods_dir, 0777), 0);
    expect_refusal(e, "untrusted: mode 0777 lets everyone write it");
    bm_e2e_write_file(path, doc, strlen(doc));
    assert_int_equal(bm_e2e_bmctl(e, &out, create), 1);
    assert_non_null(strstr(out, "untrusted"));
    free(out);
    assert_int_equal(chmod(e->mods_dir, 0755), 0);
    /* A group-writable module is refused, whatever the directory. */
    char so[400];
    snprintf(so, sizeof so, "%s/leaderboard.so", e->mods_dir);
    assert_int_equal(chmod(so, 0664), 0);
    assert_int_equal(bm_e2e_bmctl(e, &out, create), 1);
    assert_non_null(strstr(out, "lets its group write it"));
    free(out);
    assert_int_equal(chmod(so, 0644), 0);

    /* No modules directory: no consumption (refuse to start). */
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no-such-dir", e->dir);
    bm_e2e_setenv(e, "BM_ENGINE_MODULES_DIR", missing);
    expect_refusal(e, "engine.modules_dir");
    bm_e2e_setenv(e, "BM_ENGINE_MODULES_DIR", e->mods_dir);

    /* Strict, bounded campaign documents. */
    char buf[512];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s", doc);
    memcpy(buf + n, "\0{\"x\":1}", 8);
    bm_e2e_write_file(path, buf, n + 8);
    assert_int_equal(bm_e2e_bmctl(e, &out, create), 1);
    assert_non_null(strstr(out, "invalid JSON"));
    free(out);
    size_t big = 300 * 1024;
    char *huge = malloc(big + 256);
    assert_non_null(huge);
    n = (size_t)snprintf(huge, 256,
                         "{\"type\":\"leaderboard\",\"gameId\":\"" GAME "\",\"name\":\"");
    memset(huge + n, 'n', big);
    memcpy(huge + n + big, "\"}", 2);
    bm_e2e_write_file(path, huge, n + big + 2);
    assert_int_equal(bm_e2e_bmctl(e, &out, create), 1);
    assert_non_null(strstr(out, "campaigns.max_config_bytes"));
    free(out);
    n = (size_t)snprintf(huge, 256 + big,
                         "{\"type\":\"leaderboard\",\"gameId\":\"" GAME "\",\"name\":\"");
    memset(huge + n, 'n', 1000);
    memcpy(huge + n + 1000, "\"}", 2);
    bm_e2e_write_file(path, huge, n + 1002);
    assert_int_equal(bm_e2e_bmctl(e, &out, create), 1);
    assert_non_null(strstr(out, "campaigns.max_name_bytes"));
    free(out);
    free(huge);
    bm_e2e_campaign(e, doc, id, sizeof id);

    /* A document written past bmctl (straight into the database) over the bound
     * is not served by the engine either, and said so once. */
    assert_int_equal(bm_e2e_ll(e, "WITH r AS (INSERT INTO campaigns (game_id, type, name, config) "
                                  "SELECT id, 'leaderboard', 'huge', jsonb_build_object('type', "
                                  "'leaderboard', 'pad', repeat('x', 400000)) FROM games LIMIT 1 "
                                  "RETURNING 1) SELECT count(*) FROM r"),
                     1);

    /* Modes whatever the umask: run dir 0750, admin.sock 0660, command key 0600. */
    mode_t old = umask(0);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    umask(old);
    bm_e2e_wait_log(&g, "listening socket=", 30000);
    assert_int_equal(bm_e2e_log_count(&g, "refused: document or name over"), 1);
    json_t *m = bm_e2e_modules(e);
    assert_int_equal(json_array_size(json_object_get(m, "campaigns")), 1);
    assert_non_null(bm_e2e_modules_campaign(m, id));
    json_decref(m);
    struct stat st;
    snprintf(path, sizeof path, "%s/admin.sock", e->run_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);
    assert_int_equal(stat(e->run_dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);

    /* A second engine on the same run dir refuses to start, naming the first; the
     * first keeps its admin socket and module copies. */
    char bin[1100], log2[400], pidtxt[32];
    snprintf(log2, sizeof log2, "%s/second-engine.log", e->dir);
    char *argv[] = {(char *)bm_e2e_build_path(e, "brightmatter", bin, sizeof bin), "run", NULL};
    pid_t second = bm_e2e_spawn(e, argv, log2);
    assert_int_equal(bm_e2e_wait_exit(second, 30000, "second engine on one run dir"), 1);
    char *said = bm_e2e_slurp(log2, NULL);
    snprintf(pidtxt, sizeof pidtxt, "(pid %d)", (int)g.pid);
    if (!said || !strstr(said, "is in use by another brightmatter process") ||
        !strstr(said, pidtxt))
        fail_msg("second engine said: %s", said ? said : "(nothing)");
    free(said);
    m = bm_e2e_modules(e);
    assert_non_null(bm_e2e_modules_campaign(m, id));
    json_decref(m);
    bm_e2e_engine_stop(&g, 30000);
}

/* A campaign whose module is not loaded is suspended: the events of its game are
 * counted and their offsets recorded for a replay; the engine says so. */
static void test_suspended_campaign(void **state)
{
    bm_e2e *e = *state;
    char id[64], so[400], aside[400], *out = NULL;
    bm_e2e_init(e, "hard_susp", 2);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"score sum\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"sum\"}}",
                    id, sizeof id);
    snprintf(so, sizeof so, "%s/leaderboard.so", e->mods_dir);
    snprintf(aside, sizeof aside, "%s/leaderboard.so.aside", e->dir);
    assert_int_equal(rename(so, aside), 0);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    produce_scores(e, "s", 30);
    bm_e2e_wait_offsets(e, &g, 30, 60000);
    const char *camps[] = {"campaigns", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, camps), 0);
    fprintf(stderr, "e2e: bmctl campaigns:\n%s", out);
    assert_non_null(strstr(out, "suspended"));
    assert_non_null(strstr(out, id));
    free(out);
    json_t *m = bm_e2e_modules(e);
    json_t *c = bm_e2e_modules_campaign(m, id);
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "suspended");
    assert_int_equal(json_integer_value(json_object_get(c, "suspendedEvents")), 30);
    json_decref(m);
    /* Recorded with the batches: offsets a replay can recount. */
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT COALESCE(sum((doc->>'events')::int), 0) FROM module_results "
                               "WHERE kind = 'suspended_events' AND campaign_id = '%s'",
                               id),
                     30);
    assert_int_equal(
        bm_e2e_ll(e, "SELECT count(*) FROM user_progress WHERE campaign_id = '%s'", id), 0);
    /* The module comes back: the campaign is served again. */
    assert_int_equal(rename(aside, so), 0);
    const char *reload[] = {"reload", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, reload), 0);
    free(out);
    m = bm_e2e_modules(e);
    c = bm_e2e_modules_campaign(m, id);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "active");
    json_decref(m);
    bm_e2e_engine_stop(&g, 30000);
}

/* Produces one event to an explicit partition, with or without a key. */
static void produce_at(rd_kafka_t *p, int32_t part, const char *key, const char *val,
                       const char *sig)
{
    rd_kafka_headers_t *h = NULL;
    if (sig) {
        h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, BM_CMDAUTH_HEADER, -1, sig, -1);
    }
    assert_int_equal(
        rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(BM_TOPIC_EVENTS), RD_KAFKA_V_PARTITION(part),
            RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_VALUE((void *)val, strlen(val)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
        0);
}

/* Events of one player arriving on every partition (keyed otherwise, keyless,
 * the same eventId twice on two partitions, pretty-printed JSON) are applied
 * once each, by the owner of the player's partition (murmur2 of the userId). */
static void test_one_owner_per_player(void **state)
{
    bm_e2e *e = *state;
    char id[64], ts[40], buf[512];
    enum { PARTS = 4 };
    bm_e2e_init(e, "hard_owner", PARTS);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"score sum\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"sum\"}}",
                    id, sizeof id);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    int32_t owner = bm_kafka_owner_partition("murmur2", "p1", PARTS);
    assert_true(owner >= 0 && owner < PARTS);
    bm_rfc3339_format((int64_t)time(NULL) * 1000, ts, sizeof ts);
    rd_kafka_t *p = bm_e2e_producer(e);
    long long produced = 0, misrouted = 0;
#define EV(eid, score)                                                                             \
    (snprintf(buf, sizeof buf,                                                                     \
              "{\"eventId\":\"%s\",\"gameId\":\"" GAME "\",\"userId\":\"p1\","                     \
              "\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\",\"data\":{\"score\":%d}}",         \
              eid, ts, score),                                                                     \
     buf)
    for (int32_t part = 0; part < PARTS; part++) {
        char eid[16];
        snprintf(eid, sizeof eid, "e%d", part);
        produce_at(p, part, "someone-else", EV(eid, 10), NULL);
        produced++;
        misrouted += part != owner;
    }
    /* The same eventId on two partitions: counted once. */
    produce_at(p, (owner + 1) % PARTS, "p1", EV("twice", 7), NULL);
    produce_at(p, (owner + 2) % PARTS, NULL, EV("twice", 7), NULL);
    produced += 2;
    misrouted += 2;
    /* Keyless, no eventId, and pretty-printed over several lines. */
    snprintf(buf, sizeof buf,
             "{\n  \"gameId\": \"" GAME "\",\n  \"userId\": \"p1\",\n  \"eventType\": "
             "\"MATCH_END\",\n  \"timestamp\": \"%s\",\n  \"data\": {\"score\": 5}\n}",
             ts);
    produce_at(p, (owner + 3) % PARTS, NULL, buf, NULL);
    produced++;
    misrouted++;
    bm_e2e_producer_close(p);
    bm_e2e_wait_offsets(e, &g, produced + misrouted, 60000);
    int64_t deadline = bm_e2e_now_ms() + 30000;
    while (bm_e2e_ll(e,
                     "SELECT COALESCE(sum(event_count), 0) FROM user_progress "
                     "WHERE campaign_id = '%s' AND user_id = 'p1'",
                     id) < 6) {
        if (bm_e2e_now_ms() > deadline)
            bm_e2e_fail("p1's events were not all applied");
        bm_e2e_sleep_ms(200);
    }
    bm_e2e_sleep_ms(1000); /* anything counted twice would show now */
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT current_value::bigint FROM user_progress "
                               "WHERE campaign_id = '%s' AND user_id = 'p1'",
                               id),
                     4 * 10 + 7 + 5);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT event_count FROM user_progress "
                               "WHERE campaign_id = '%s' AND user_id = 'p1'",
                               id),
                     6);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT sum(events_forwarded) FROM consumer_offsets "
                               "WHERE group_id = '%s'",
                               e->group),
                     misrouted);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT sum(events_duplicate) FROM consumer_offsets "
                               "WHERE group_id = '%s'",
                               e->group),
                     1);
    assert_int_equal(bm_e2e_topic_end(e, BM_TOPIC_EVENTS), produced + misrouted);
    bm_e2e_engine_stop(&g, 30000);
#undef EV
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_never_stalls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged_command_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trusted_places_strict_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspended_campaign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_owner_per_player, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
