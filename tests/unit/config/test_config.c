/* Config: the shipped file parses, values and BM_* overrides apply, and every
 * mistake an operator can make is reported with file, line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "kafka/kafka.h"

static char g_path[256];

static const char *write_conf(const char *text)
{
    snprintf(g_path, sizeof g_path, "/tmp/bm-test-config-%d.conf", (int)getpid());
    FILE *f = fopen(g_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return g_path;
}

static void test_shipped_file_is_valid(void **state)
{
    (void)state;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/etc/brightmatter.conf", getenv("BM_SOURCE_DIR"));
    bm_config c;
    assert_int_equal(bm_config_load(&c, path, err, sizeof err), 0);
    assert_string_equal(c.brokers, "embedded");
    assert_int_equal(c.batch_max_events, 50000);
}

static void test_values_and_env_override(void **state)
{
    (void)state;
    char err[512];
    bm_config c;
    const char *p = write_conf("[pipeline]\nbatch_max_events = 500\n[kafka]\nbrokers = k1:9092\n");
    setenv("BM_PIPELINE_BATCH_LINGER_MS", "7", 1);
    setenv("BM_KAFKA_BROKERS", "k2:9092", 1);
    assert_int_equal(bm_config_load(&c, p, err, sizeof err), 0);
    unsetenv("BM_PIPELINE_BATCH_LINGER_MS");
    unsetenv("BM_KAFKA_BROKERS");
    assert_int_equal(c.batch_max_events, 500);
    assert_int_equal(c.batch_linger_ms, 7);    /* environment wins over default */
    assert_string_equal(c.brokers, "k2:9092"); /* and over the file */
    assert_int_equal(c.dedup_window_s, 3600);  /* untouched keys keep defaults */
    unlink(p);
}

/* [librdkafka] keys pass through as they are, in order; a bad one is named. */
static void test_librdkafka_section(void **state)
{
    (void)state;
    char err[512];
    bm_config c;
    const char *p = write_conf("[librdkafka]\nsecurity.protocol = SASL_SSL\n"
                               "sasl.mechanisms = SCRAM-SHA-256\nclient.rack = rack-a\n");
    assert_int_equal(bm_config_load(&c, p, err, sizeof err), 0);
    assert_string_equal(c.kafka_props, "security.protocol=SASL_SSL\nsasl.mechanisms=SCRAM-SHA-256\n"
                                       "client.rack=rack-a\n");
    assert_string_equal(c.assignment_strategy, "cooperative-sticky");
    bm_kafka_props_set(c.kafka_props);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char v[64];
    size_t vl = sizeof v;
    assert_int_equal(bm_kafka_conf_props(conf, err, sizeof err), 0);
    assert_int_equal(rd_kafka_conf_get(conf, "client.rack", v, &vl), RD_KAFKA_CONF_OK);
    assert_string_equal(v, "rack-a");
    rd_kafka_conf_destroy(conf);
    bm_kafka_props_set("no.such.property=1\n");
    conf = rd_kafka_conf_new();
    assert_int_equal(bm_kafka_conf_props(conf, err, sizeof err), -1);
    assert_non_null(strstr(err, "librdkafka.no.such.property"));
    rd_kafka_conf_destroy(conf);
    bm_kafka_props_set("");
    unlink(p);
}

static void expect_error(const char *text, const char *want)
{
    char err[512] = "";
    bm_config c;
    const char *p = write_conf(text);
    assert_int_equal(bm_config_load(&c, p, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
    unlink(p);
}

static void test_errors_name_file_line_key(void **state)
{
    (void)state;
    char want[600];
    write_conf("");
    snprintf(want, sizeof want, "%s:3: pipeline.batch_max_events: 'lots' is not an integer",
             g_path);
    expect_error("[pipeline]\nbatch_linger_ms = 5\nbatch_max_events = lots\n", want);
    snprintf(want, sizeof want, "%s:2: unknown key kafka.brokerz", g_path);
    expect_error("[kafka]\nbrokerz = x\n", want);
    expect_error("[pipeline]\nbatch_max_events = 0\n", "pipeline.batch_max_events: 0 is outside");
    snprintf(want, sizeof want, "%s:2: syntax error", g_path);
    expect_error("[engine]\nthis line has no equals sign\n", want);
    /* A bad log level is a config error like any other: file, line and key. */
    snprintf(want, sizeof want, "%s:3: engine.log_level: 'verbose' is not one of", g_path);
    expect_error("[engine]\nrun_dir = /tmp\nlog_level = verbose\n", want);
}

static void test_roles_are_a_set(void **state)
{
    (void)state;
    char err[512], want[600];
    bm_config c;
    const char *p = write_conf("[engine]\nroles = relay , processor,scheduler\n");
    assert_int_equal(bm_config_load(&c, p, err, sizeof err), 0);
    assert_true(bm_config_has_role(&c, BM_ROLE_PROCESSOR));
    assert_true(bm_config_has_role(&c, BM_ROLE_RELAY));
    assert_true(bm_config_has_role(&c, BM_ROLE_SCHEDULER));
    assert_false(bm_config_has_role(&c, BM_ROLE_GATEWAY));
    assert_false(bm_config_has_role(&c, BM_ROLE_REWARDS));
    unlink(p);
    /* "processor" was found by substring before: a typo ran nothing, silently. */
    write_conf("");
    snprintf(want, sizeof want, "%s:3: engine.roles: unknown role 'procesor'", g_path);
    expect_error("[engine]\nlog_level = info\nroles = procesor,relay\n", want);
    expect_error("[engine]\nroles = relayer\n", "unknown role 'relayer'");
    expect_error("[engine]\nroles = relay,relay\n", "role 'relay' given twice");
    expect_error("[engine]\nroles = ,\n", "engine.roles: at least one role");
    bm_config_defaults(&c);
    assert_int_equal(c.role_set, (1u << BM_ROLE_PROCESSOR) | (1u << BM_ROLE_RELAY) |
                                     (1u << BM_ROLE_GATEWAY) | (1u << BM_ROLE_REWARDS));
}

static void test_bad_env_value(void **state)
{
    (void)state;
    char err[512] = "";
    bm_config c;
    setenv("BM_LUA_MEMORY_LIMIT_KB", "-5", 1);
    assert_int_equal(bm_config_load(&c, NULL, err, sizeof err), -1);
    unsetenv("BM_LUA_MEMORY_LIMIT_KB");
    assert_non_null(strstr(err, "BM_LUA_MEMORY_LIMIT_KB"));
    assert_non_null(strstr(err, "lua.memory_limit_kb"));
}

/* Batch commits skip the WAL flush wait only when asked, and only on or off is understood. */
static void test_synchronous_commit(void **state)
{
    (void)state;
    char err[512] = "";
    bm_config c;
    assert_int_equal(bm_config_load(&c, NULL, err, sizeof err), 0);
    assert_string_equal(c.pg_synchronous_commit, "on");
    assert_int_equal(
        bm_config_load(&c, write_conf("[postgres]\nsynchronous_commit = off\n"), err, sizeof err),
        0);
    assert_string_equal(c.pg_synchronous_commit, "off");
    assert_int_equal(
        bm_config_load(&c, write_conf("[postgres]\nsynchronous_commit = local\n"), err, sizeof err),
        -1);
    assert_non_null(strstr(err, "postgres.synchronous_commit"));
    assert_non_null(strstr(err, "'local'"));
}

static void test_missing_file(void **state)
{
    (void)state;
    char err[512] = "";
    bm_config c;
    assert_int_equal(bm_config_load(&c, "/nonexistent/bm.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/bm.conf: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_file_is_valid),
        cmocka_unit_test(test_values_and_env_override),
        cmocka_unit_test(test_librdkafka_section),
        cmocka_unit_test(test_errors_name_file_line_key),
        cmocka_unit_test(test_roles_are_a_set),
        cmocka_unit_test(test_bad_env_value),
        cmocka_unit_test(test_synchronous_commit),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
