/*
 * `bmctl quest progress` against a real PostgreSQL database: the rows the
 * engine writes (campaigns, games, user_progress) are inserted directly and
 * the command's text, JSON and exit codes are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/testdb.h"

#define DB "bmctl_quest"
#define QID "11111111-2222-3333-4444-555555555555"
#define LBID "11111111-2222-3333-4444-666666666666"
#define Q2ID "11111111-2222-3333-4444-777777777777"

static char g_dsn[1024];

/* Runs bmctl with args; stdout in out, stderr in errout; returns the exit code. */
static int run_bmctl(const char *args, char *out, size_t outlen, char *errout, size_t errlen)
{
    char cmd[2048], errfile[] = "/tmp/bmctl-quest-err-XXXXXX";
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
    PGconn *c = bm_testdb_create(DB, g_dsn, sizeof g_dsn);
    bm_testdb_exec(c, "INSERT INTO games (name, identifier) VALUES ('Game', 'g1')");
    bm_testdb_exec(
        c, "INSERT INTO campaigns (id, game_id, type, name, config) SELECT '" QID "', id, 'quest',"
           " 'Sword master', '{\"type\":\"quest\",\"name\":\"Sword master\",\"gameId\":\"g1\","
           "\"repeatable\":true,\"cooldownHours\":2,\"conditions\":["
           "{\"type\":\"count\",\"eventType\":\"ENEMY_KILL\",\"target\":5,"
           "\"filter\":{\"weapon\":\"sword\"}},"
           "{\"type\":\"value\",\"eventType\":\"MATCH_END\",\"field\":\"score\",\"target\":300},"
           "{\"type\":\"time_based\",\"eventType\":\"LOGIN\",\"target\":3600}],"
           "\"reward\":{\"type\":\"token\",\"config\":{}}}' FROM games");
    bm_testdb_exec(c, "INSERT INTO campaigns (id, game_id, type, name, config) SELECT '" LBID
                      "', id, 'leaderboard', 'Board', '{}' FROM games");
    bm_testdb_exec(c, "INSERT INTO user_progress (campaign_id, user_id, current_value, "
                      "event_count, completed, completed_at, first_event_at, last_event_at, "
                      "progress_data) VALUES ('" QID "', 'u1', 2, 9, 1, "
                      "'2026-03-02T10:00:00Z', '2026-03-01T08:00:00Z', '2026-03-02T12:00:00Z', "
                      "'{\"c\":[[3],[2,350],[2,1772402400000,1772409600000]],"
                      "\"fc\":1772445600000}')");
    /* A week quest: a ranked match (string target) and no more than 2 deaths (an upper
     * bound, decided when the quest ends). u1 is still playing; u2 was decided. */
    bm_testdb_exec(
        c, "INSERT INTO campaigns (id, game_id, type, name, config) SELECT '" Q2ID "', id, "
           "'quest', 'Careful', '{\"type\":\"quest\",\"name\":\"Careful\",\"gameId\":\"g1\","
           "\"endDate\":\"2026-03-08T00:00:00Z\",\"conditions\":["
           "{\"type\":\"value\",\"eventType\":\"MATCH_END\",\"field\":\"mode\","
           "\"operator\":\"eq\",\"target\":\"ranked\"},"
           "{\"type\":\"count\",\"eventType\":\"DEATH\",\"operator\":\"lte\",\"target\":2}],"
           "\"reward\":{\"type\":\"token\",\"config\":{}}}' FROM games");
    bm_testdb_exec(c, "INSERT INTO user_progress (campaign_id, user_id, current_value, "
                      "event_count, flags, progress_data) VALUES "
                      "('" Q2ID "', 'u1', 1, 3, 0, '{\"c\":[[1],[1]]}'), "
                      "('" Q2ID "', 'u2', 2, 3, 2, '{\"c\":[[2],[1]]}')");
    PQfinish(c);
    setenv("BM_POSTGRES_DSN", g_dsn, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bm_testdb_drop(NULL, DB);
    return 0;
}

static void test_progress_json(void **state)
{
    (void)state;
    char out[8192], err[1024];
    assert_int_equal(
        run_bmctl("quest progress " QID " u1 --json", out, sizeof out, err, sizeof err), 0);
    json_t *j = json_loads(out, 0, NULL);
    if (!j)
        fail_msg("not JSON: %s (stderr %s)", out, err);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "in_progress");
    assert_int_equal(json_integer_value(json_object_get(j, "completions")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "completedAt")),
                        "2026-03-02T10:00:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(j, "eventCount")), 9);
    json_t *c = json_object_get(j, "conditions");
    assert_int_equal(json_array_size(c), 3);
    json_t *c0 = json_array_get(c, 0), *c1 = json_array_get(c, 1), *c2 = json_array_get(c, 2);
    assert_true(json_number_value(json_object_get(c0, "current")) == 3);
    assert_true(json_number_value(json_object_get(c0, "target")) == 5);
    assert_true(json_is_false(json_object_get(c0, "met")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(c0, "filter"), "weapon")),
                        "sword");
    assert_true(json_number_value(json_object_get(c1, "current")) == 350);
    assert_true(json_is_true(json_object_get(c1, "met")));
    assert_string_equal(json_string_value(json_object_get(c1, "aggregate")), "max");
    assert_true(json_number_value(json_object_get(c2, "current")) == 7200); /* seconds */
    assert_true(json_is_true(json_object_get(c2, "met")));
    json_decref(j);
}

/* String targets show as strings; an upper bound is "at end" until the quest ends. */
static void test_progress_targets_and_upper_bounds(void **state)
{
    (void)state;
    char out[8192], err[1024];
    assert_int_equal(
        run_bmctl("quest progress " Q2ID " u1 --json", out, sizeof out, err, sizeof err), 0);
    json_t *j = json_loads(out, 0, NULL);
    if (!j)
        fail_msg("not JSON: %s (stderr %s)", out, err);
    json_t *c0 = json_array_get(json_object_get(j, "conditions"), 0);
    json_t *c1 = json_array_get(json_object_get(j, "conditions"), 1);
    assert_string_equal(json_string_value(json_object_get(c0, "target")), "ranked");
    assert_true(json_is_true(json_object_get(c0, "met")));
    assert_true(json_is_false(json_object_get(c1, "met"))); /* 1 death <= 2, but not decided */
    assert_true(json_is_true(json_object_get(c1, "decidedAtEnd")));
    json_decref(j);
    assert_int_equal(run_bmctl("quest progress " Q2ID " u1", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "\"ranked\""));
    assert_non_null(strstr(out, "at end"));
    assert_int_equal(
        run_bmctl("quest progress " Q2ID " u2 --json", out, sizeof out, err, sizeof err), 0);
    j = json_loads(out, 0, NULL);
    c1 = json_array_get(json_object_get(j, "conditions"), 1);
    assert_true(json_is_true(json_object_get(c1, "met"))); /* decided: 1 death held */
    assert_null(json_object_get(c1, "decidedAtEnd"));
    json_decref(j);
}

static void test_progress_text(void **state)
{
    (void)state;
    char out[8192], err[1024];
    assert_int_equal(run_bmctl("quest progress " QID " u1", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "Sword master"));
    assert_non_null(strstr(out, "completions: 1 (last 2026-03-02T10:00:00.000Z)"));
    assert_non_null(strstr(out, "2 of 3 conditions met"));
    assert_non_null(strstr(out, "ENEMY_KILL"));
    assert_non_null(strstr(out, "filter {\"weapon\":\"sword\"}"));
}

static void test_user_without_progress(void **state)
{
    (void)state;
    char out[8192], err[1024];
    assert_int_equal(
        run_bmctl("quest progress " QID " nobody --json", out, sizeof out, err, sizeof err), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "not_started");
    json_t *c0 = json_array_get(json_object_get(j, "conditions"), 0);
    assert_true(json_number_value(json_object_get(c0, "current")) == 0);
    assert_true(json_is_null(
        json_object_get(json_array_get(json_object_get(j, "conditions"), 1), "current")));
    json_decref(j);
}

static void test_errors_and_usage(void **state)
{
    (void)state;
    char out[8192], err[1024];
    assert_int_equal(run_bmctl("quest progress 00000000-0000-0000-0000-000000000000 u1", out,
                               sizeof out, err, sizeof err),
                     1);
    assert_non_null(strstr(err, "no such campaign"));
    assert_int_equal(run_bmctl("quest progress not-a-uuid u1", out, sizeof out, err, sizeof err),
                     1);
    assert_int_equal(run_bmctl("quest progress " LBID " u1", out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "is a leaderboard, not a quest"));
    assert_int_equal(run_bmctl("quest progress " QID, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "usage: bmctl quest progress"));
    assert_int_equal(run_bmctl("quest progress " QID " u1 --jsn", out, sizeof out, err, sizeof err),
                     2);
    assert_int_equal(run_bmctl("quest --help", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "usage: bmctl quest progress"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_json),
        cmocka_unit_test(test_progress_text),
        cmocka_unit_test(test_progress_targets_and_upper_bounds),
        cmocka_unit_test(test_user_without_progress),
        cmocka_unit_test(test_errors_and_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
