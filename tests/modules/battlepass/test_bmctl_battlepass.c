/*
 * `bmctl battlepass show|purchase|claim` against a real PostgreSQL database
 * and the embedded Kafka broker: show reads what the engine writes; purchase
 * and claim must put the command event on game.events keyed by the user.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "cmdauth/cmdauth.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "support/testdb.h"

#define DB "bmctl_battlepass"
#define BPID "22222222-2222-3333-4444-555555555555"
#define QID "22222222-2222-3333-4444-666666666666"

static char g_dsn[1024], g_run[] = "/tmp/bmctl-bp-run-XXXXXX";
static bm_broker *g_broker;

static int run_bmctl(const char *args, char *out, size_t outlen, char *errout, size_t errlen)
{
    char cmd[2048], errfile[] = "/tmp/bmctl-bp-err-XXXXXX";
    int fd = mkstemp(errfile);
    assert_true(fd >= 0);
    snprintf(cmd, sizeof cmd, "'%s/bmctl' %s 2>%s", getenv("BM_BUILD_DIR"), args, errfile);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    FILE *e = fdopen(fd, "r");
    n = fread(errout, 1, errlen - 1, e);
    errout[n] = '\0';
    fclose(e);
    unlink(errfile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state)
{
    (void)state;
    char sql[2048], err[512], boot[1100];
    bm_log_set_level(BM_LOG_LVL_WARN);
    PGconn *c = bm_testdb_create(DB, g_dsn, sizeof g_dsn);
    bm_testdb_exec(c, "INSERT INTO games (name, identifier) VALUES ('Game', 'game-one')");
    bm_testdb_exec(
        c, "INSERT INTO campaigns (id, game_id, type, name, config) SELECT '" BPID "', id, "
           "'battlepass', 'Season 1', '{\"type\":\"battlepass\",\"xpSources\":["
           "{\"eventType\":\"MATCH_END\",\"field\":\"score\",\"dailyLimit\":400},"
           "{\"eventType\":\"QUEST_DONE\",\"xpValue\":50}],\"tiers\":["
           "{\"tier\":1,\"xpRequired\":100,\"freeReward\":{\"type\":\"in_game\"},"
           "\"premiumReward\":{\"type\":\"token\"}},"
           "{\"tier\":2,\"xpRequired\":200,\"premiumReward\":{\"type\":\"token\"}},"
           "{\"tier\":3,\"xpRequired\":300,\"freeReward\":{\"type\":\"in_game\"}}]}' FROM games");
    bm_testdb_exec(c, "INSERT INTO campaigns (id, game_id, type, name, config) SELECT '" QID
                      "', id, 'quest', 'Q', '{}' FROM games");
    /* Today's counters: the document keys days by UTC day number of event time. */
    snprintf(sql, sizeof sql,
             "INSERT INTO user_progress (campaign_id, user_id, current_value, aux_value, "
             "event_count, flags, progress_data) VALUES ('" BPID "', 'u1', 350, 2, 7, 0, "
             "'{\"t\":2,\"cf\":[1],\"d\":{\"%lld\":[120,0]}}')",
             (long long)(time(NULL) / 86400));
    bm_testdb_exec(c, sql);
    PQfinish(c);
    assert_non_null(mkdtemp(g_run));
    snprintf(boot, sizeof boot, "%s/bootstrap", g_run);
    g_broker = bm_broker_start(2, boot, err, sizeof err);
    if (!g_broker)
        fail_msg("broker: %s", err);
    setenv("BM_POSTGRES_DSN", g_dsn, 1);
    setenv("BM_ENGINE_RUN_DIR", g_run, 1);
    setenv("BM_KAFKA_BROKERS", "embedded", 1);
    /* The command key the engine would have created in its run dir. */
    snprintf(boot, sizeof boot, "%s/command.key", g_run);
    FILE *k = fopen(boot, "w");
    assert_non_null(k);
    fputs("test-command-key-0123456789abcdef\n", k);
    fclose(k);
    assert_int_equal(chmod(boot, 0600), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bm_broker_stop(g_broker);
    char path[1100];
    snprintf(path, sizeof path, "%s/command.key", g_run);
    unlink(path);
    rmdir(g_run);
    bm_testdb_drop(NULL, DB);
    return 0;
}

static int g_signed; /* the last command found carried a valid signature */

/* Verifies the message's bm-signature header with the run dir's command key. */
static int signed_ok(const rd_kafka_message_t *m)
{
    bm_config cfg;
    bm_cmdauth keys;
    char err[512];
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    bm_config_defaults(&cfg);
    snprintf(cfg.run_dir, sizeof cfg.run_dir, "%s", g_run);
    if (bm_cmdauth_load(&keys, &cfg, 0, err, sizeof err) != 0)
        fail_msg("%s", err);
    int ok = rd_kafka_message_headers(m, &h) == 0 &&
             rd_kafka_header_get_last(h, BM_CMDAUTH_HEADER, &v, &n) == 0 &&
             bm_cmdauth_verify(&keys, m->payload, m->len, v, n) == 0;
    /* A changed byte must break it. */
    char *copy = malloc(m->len);
    assert_non_null(copy);
    memcpy(copy, m->payload, m->len);
    copy[m->len / 2] ^= 1;
    if (ok && bm_cmdauth_verify(&keys, copy, m->len, v, n) == 0)
        ok = 0;
    free(copy);
    bm_cmdauth_clear(&keys);
    return ok;
}

/* Reads game.events from the start until a message of `type` shows up (10 s at most). */
static json_t *find_command(const char *type, char *key, size_t keylen)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bm_broker_bootstraps(g_broker), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "bmctl-test", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++)
        rd_kafka_topic_partition_list_add(parts, "game.events", p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    json_t *found = NULL;
    for (int i = 0; i < 100 && !found; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            json_t *j = json_loadb(m->payload, m->len, 0, NULL);
            const char *t = json_string_value(json_object_get(j, "eventType"));
            if (t && strcmp(t, type) == 0) {
                found = j;
                g_signed = signed_ok(m);
                snprintf(key, keylen, "%.*s", (int)m->key_len, (const char *)m->key);
            } else {
                json_decref(j);
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return found;
}

static void test_show(void **state)
{
    (void)state;
    char out[8192], err[1024];
    assert_int_equal(
        run_bmctl("battlepass show " BPID " u1 --json", out, sizeof out, err, sizeof err), 0);
    json_t *j = json_loads(out, 0, NULL);
    if (!j)
        fail_msg("not JSON: %s (stderr %s)", out, err);
    assert_true(json_number_value(json_object_get(j, "xp")) == 350);
    /* Tiers cost 100, 200, 300: 350 XP completes tiers 1-2, the player is on tier 3. */
    assert_int_equal(json_integer_value(json_object_get(j, "tier")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "tiersCompleted")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "maxTier")), 3);
    assert_true(json_number_value(json_object_get(j, "nextTierXp")) == 600);
    assert_true(json_is_false(json_object_get(j, "purchased")));
    assert_int_equal(json_array_size(json_object_get(j, "claimedFree")), 1);
    /* Tier 1 free is claimed, tier 2 has no free reward, premium needs the purchase. */
    assert_int_equal(json_array_size(json_object_get(j, "claimableFree")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "claimablePremium")), 0);
    json_t *today = json_object_get(j, "today");
    assert_int_equal(json_array_size(today), 2);
    assert_true(json_number_value(json_object_get(json_array_get(today, 0), "todayXp")) == 120);
    assert_true(json_number_value(json_object_get(json_array_get(today, 0), "dailyLimit")) == 400);
    assert_true(json_is_null(json_object_get(json_array_get(today, 1), "dailyLimit")));
    json_decref(j);

    assert_int_equal(run_bmctl("battlepass show " BPID " u1", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "tier:        3 of 3 (2 completed; tier 3 completes at 600 XP)"));
    assert_non_null(strstr(out, "claimed:     free 1; premium -"));
    assert_non_null(strstr(out, "120 / 400"));
}

static void test_purchase_and_claim_commands(void **state)
{
    (void)state;
    char out[8192], err[1024], key[128];
    assert_int_equal(run_bmctl("battlepass purchase " BPID " u1", out, sizeof out, err, sizeof err),
                     0);
    assert_string_equal(out, "queued purchase for u1 in " BPID "\n");
    json_t *j = find_command("bm.battlepass.purchase", key, sizeof key);
    if (!j)
        fail_msg("no purchase command on game.events (stderr %s)", err);
    assert_string_equal(key, "u1");
    assert_true(g_signed); /* signed with the command key, or the engine refuses it */
    /* The id carries the request time: a repeated purchase reaches the pass and is
     * acknowledged, instead of being dropped as a duplicate. */
    const char *eid = json_string_value(json_object_get(j, "eventId"));
    assert_non_null(eid);
    assert_int_equal(strncmp(eid, "cmd:purchase:" BPID ":u1:", strlen("cmd:purchase:" BPID ":u1:")),
                     0);
    assert_string_equal(json_string_value(json_object_get(j, "gameId")), "game-one");
    assert_string_equal(json_string_value(json_object_get(j, "userId")), "u1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "data"), "campaignId")), BPID);
    assert_non_null(json_string_value(json_object_get(j, "timestamp")));
    json_decref(j);

    assert_int_equal(
        run_bmctl("battlepass claim " BPID " u1 2 --premium", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "queued claim of tier 2 (premium) for u1 in " BPID "\n");
    j = find_command("bm.battlepass.claim", key, sizeof key);
    assert_non_null(j);
    assert_true(g_signed);
    assert_string_equal(key, "u1");
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_integer_value(json_object_get(data, "tier")), 2);
    assert_true(json_is_true(json_object_get(data, "premium")));
    assert_string_equal(json_string_value(json_object_get(data, "campaignId")), BPID);
    assert_non_null(strstr(json_string_value(json_object_get(j, "eventId")),
                           "cmd:claim:" BPID ":u1:2:premium:"));
    json_decref(j);
}

static void test_errors_and_usage(void **state)
{
    (void)state;
    char out[8192], err[1024];
    assert_int_equal(run_bmctl("battlepass claim " BPID " u1 0", out, sizeof out, err, sizeof err),
                     2);
    assert_int_equal(
        run_bmctl("battlepass claim " BPID " u1 two", out, sizeof out, err, sizeof err), 2);
    assert_int_equal(run_bmctl("battlepass claim " BPID " u1", out, sizeof out, err, sizeof err),
                     2);
    assert_int_equal(run_bmctl("battlepass refund " BPID " u1", out, sizeof out, err, sizeof err),
                     2);
    assert_non_null(strstr(err, "usage: bmctl battlepass"));
    assert_int_equal(run_bmctl("battlepass show " QID " u1", out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "is a quest, not a battle pass"));
    assert_int_equal(run_bmctl("battlepass show 22222222-0000-0000-0000-000000000000 u1", out,
                               sizeof out, err, sizeof err),
                     1);
    assert_non_null(strstr(err, "no such campaign"));
    /* No broker to talk to: exit 1 with the reason. */
    setenv("BM_ENGINE_RUN_DIR", "/nonexistent-run-dir", 1);
    assert_int_equal(run_bmctl("battlepass purchase " BPID " u1", out, sizeof out, err, sizeof err),
                     1);
    assert_non_null(strstr(err, "bootstrap"));
    setenv("BM_ENGINE_RUN_DIR", g_run, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_show),
        cmocka_unit_test(test_purchase_and_claim_commands),
        cmocka_unit_test(test_errors_and_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
