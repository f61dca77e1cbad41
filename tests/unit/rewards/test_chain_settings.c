/* Chain settings of reward_token / reward_nft: the engine's [chain] section
 * (config file, then BM_CHAIN_* variables) reaches the modules through the host
 * API's setting(), a reward's config overrides each key, bad values are
 * refused with the key named, and modules never read secret sections. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "ethpay.h"
#include "host/host.h"

#define FROM_MIXED "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"
#define FROM_LOWER "0xabcdef0123456789abcdef0123456789abcdef01"

static char g_path[256];

static const char *write_conf(const char *text)
{
    snprintf(g_path, sizeof g_path, "/tmp/bm-test-chain-%d.conf", (int)getpid());
    FILE *f = fopen(g_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return g_path;
}

static const char *k_conf = "[postgres]\ndsn = host=db password=hunter2\n"
                            "[chain]\nrpc_url = http://127.0.0.1:8545\nfrom = " FROM_MIXED "\n"
                            "chain_id = 1337\nconfirmations = 3\ngas = 90000\n";

/* A host for a chain module, fed from the engine configuration at path. */
static bm_host *host_from(const char *path, bm_config *c)
{
    char err[512];
    if (bm_config_load(c, path, err, sizeof err) != 0)
        fail_msg("config: %s", err);
    bm_host *h = bm_host_new("reward_token", NULL);
    assert_non_null(h);
    bm_host_use_config(h, c);
    return h;
}

static void test_file_settings_reach_the_module(void **state)
{
    (void)state;
    bm_config c;
    bm_host *h = host_from(write_conf(k_conf), &c);
    const bm_host_api *api = bm_host_api_get();
    assert_true(api->version >= 4);
    bm_ethpay_inst in = {api, h};
    bm_ethpay_cfg pc;
    char err[512];
    json_t *reward = json_object();
    assert_int_equal(bm_ethpay_config(&in, &pc, reward, err, sizeof err), 0);
    assert_string_equal(pc.rpc_url, "http://127.0.0.1:8545");
    assert_string_equal(pc.from, FROM_LOWER);
    assert_int_equal(pc.chain_id, 1337);
    assert_int_equal(pc.confirmations, 3);
    assert_int_equal(pc.gas, 90000);
    /* The same values through setting(), as text. */
    assert_string_equal(api->setting(h, "chain", "chain_id"), "1337");
    assert_string_equal(api->setting(h, "CHAIN", "rpc_url"), "http://127.0.0.1:8545");
    /* Secret sections and unknown keys are never answered. */
    assert_null(api->setting(h, "postgres", "dsn"));
    assert_null(api->setting(h, "security", "command_key_file"));
    assert_null(api->setting(h, "auth", "certs_file"));
    assert_null(api->setting(h, "chain", "private_key"));
    assert_null(api->setting(h, NULL, "dsn"));
    json_decref(reward);
    bm_host_free(h);
    unlink(g_path);
}

static void test_reward_config_wins(void **state)
{
    (void)state;
    bm_config c;
    bm_host *h = host_from(write_conf(k_conf), &c);
    bm_ethpay_inst in = {bm_host_api_get(), h};
    bm_ethpay_cfg pc;
    char err[512];
    json_t *reward = json_pack("{s:s, s:i, s:i}", "rpcUrl", "https://signer.internal:8550",
                               "chainId", 5, "confirmations", 12);
    assert_int_equal(bm_ethpay_config(&in, &pc, reward, err, sizeof err), 0);
    assert_string_equal(pc.rpc_url, "https://signer.internal:8550");
    assert_int_equal(pc.chain_id, 5);
    assert_int_equal(pc.confirmations, 12);
    assert_string_equal(pc.from, FROM_LOWER); /* not in the reward: from the file */
    assert_int_equal(pc.gas, 90000);
    json_decref(reward);
    /* A reward's value of the wrong type is an error naming it, not a silent fallback. */
    reward = json_pack("{s:s}", "chainId", "1337");
    assert_int_equal(bm_ethpay_config(&in, &pc, reward, err, sizeof err), -1);
    assert_non_null(strstr(err, "chainId: an integer is required"));
    json_decref(reward);
    bm_host_free(h);
    unlink(g_path);
}

static void test_environment_overrides_file(void **state)
{
    (void)state;
    setenv("BM_CHAIN_CHAIN_ID", "10", 1);
    setenv("BM_CHAIN_GAS", "50000", 1);
    bm_config c;
    bm_host *h = host_from(write_conf(k_conf), &c);
    unsetenv("BM_CHAIN_CHAIN_ID");
    unsetenv("BM_CHAIN_GAS");
    bm_ethpay_inst in = {bm_host_api_get(), h};
    bm_ethpay_cfg pc;
    char err[512];
    assert_int_equal(bm_ethpay_config(&in, &pc, NULL, err, sizeof err), 0);
    assert_int_equal(pc.chain_id, 10);
    assert_int_equal(pc.gas, 50000);
    assert_int_equal(pc.confirmations, 3);
    bm_host_free(h);
    unlink(g_path);
}

/* Nothing configured anywhere: the payout fails with where to set it. */
static void test_unset_is_reported(void **state)
{
    (void)state;
    bm_config c;
    bm_host *h = host_from(write_conf("[rewards]\nworkers = 4\n"), &c);
    bm_ethpay_inst in = {bm_host_api_get(), h};
    bm_ethpay_cfg pc;
    char err[512];
    assert_int_equal(bm_ethpay_config(&in, &pc, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "no chain RPC URL"));
    assert_non_null(strstr(err, "[chain]"));
    json_t *reward = json_pack("{s:s}", "rpcUrl", "http://127.0.0.1:1");
    assert_int_equal(bm_ethpay_config(&in, &pc, reward, err, sizeof err), -1);
    assert_non_null(strstr(err, "no sender"));
    json_decref(reward);
    bm_host_free(h);
    unlink(g_path);
}

/* A host older than API version 4 has no setting(): the module reads BM_CHAIN_*. */
static void test_older_host_reads_environment(void **state)
{
    (void)state;
    bm_host_api old = *bm_host_api_get();
    old.size = (uint32_t)offsetof(bm_host_api, setting);
    old.version = 3;
    old.setting = NULL;
    bm_ethpay_inst in = {&old, NULL};
    setenv("BM_CHAIN_RPC_URL", "http://127.0.0.1:7545", 1);
    setenv("BM_CHAIN_FROM", FROM_MIXED, 1);
    setenv("BM_CHAIN_CONFIRMATIONS", "2", 1);
    bm_ethpay_cfg pc;
    char err[512];
    int rc = bm_ethpay_config(&in, &pc, NULL, err, sizeof err);
    unsetenv("BM_CHAIN_RPC_URL");
    unsetenv("BM_CHAIN_FROM");
    unsetenv("BM_CHAIN_CONFIRMATIONS");
    assert_int_equal(rc, 0);
    assert_string_equal(pc.rpc_url, "http://127.0.0.1:7545");
    assert_int_equal(pc.confirmations, 2);
    assert_int_equal(pc.chain_id, 1);
}

static void expect_refused(const char *text, const char *needle)
{
    bm_config c;
    char err[512];
    assert_int_equal(bm_config_load(&c, write_conf(text), err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not name '%s'", err, needle);
    assert_non_null(strstr(err, g_path)); /* file:line */
    unlink(g_path);
}

static void test_bad_values_refused(void **state)
{
    (void)state;
    expect_refused("[chain]\nfrom = 0x1234\n", "chain.from: '0x1234' is not an address");
    expect_refused("[chain]\nrpc_url = ftp://node:21\n", "chain.rpc_url: 'ftp://node:21' is not");
    expect_refused("[chain]\nconfirmations = 0\n", "chain.confirmations: 0 is outside");
    expect_refused("[chain]\nchain_id = main\n", "chain.chain_id: 'main' is not an integer");
    expect_refused("[chain]\nprivate_key = 0xabc\n", "unknown key chain.private_key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_settings_reach_the_module),
        cmocka_unit_test(test_reward_config_wins),
        cmocka_unit_test(test_environment_overrides_file),
        cmocka_unit_test(test_unset_is_reported),
        cmocka_unit_test(test_older_host_reads_environment),
        cmocka_unit_test(test_bad_values_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
