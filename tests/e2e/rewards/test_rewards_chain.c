/*
 * On-chain payouts never paid twice: a local chain (ganache from npm, on
 * loopback) with an ERC-20 and an ERC-721 compiled from OpenZeppelin sources
 * by solc at test time (tests/chain/devchain.js). Token and NFT rewards are
 * granted to addresses and to a player whose community membership carries a
 * wallet; the engine is killed with SIGKILL several times while it signs and
 * broadcasts. At the end every recipient's on-chain balance equals what was
 * granted, the sender's nonce equals the deployments plus one per payout (no
 * gap, no second transaction for a reward), and a grant without any address
 * failed with the README's reason. The engine reads the chain's RPC URL,
 * sender and chain id from the [chain] section of its configuration file.
 *
 * The npm packages come from the registry through scripts/lib/npm.sh; when
 * the registry cannot be reached at all the test is skipped with that reason.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/rewards/rw_test.h"

#define NADDR 8
#define NTOKEN 48
#define NNFT 12
#define KILLS 3

static void find_node(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/node", d);
        if (access(out, X_OK) == 0)
            return;
    }
    bm_e2e_fail("node not found in PATH");
}

static void sql(bm_e2e *e, const char *text)
{
    PGresult *r = PQexec(e->db, text);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(e->db));
        PQclear(r);
        bm_e2e_fail("sql: %s", msg);
    }
    PQclear(r);
}

static void test_chain_payouts_across_kill9(void **state)
{
    bm_e2e *e = *state;
    char secret[128];
    rw_setup(e, "rw_chain", "g-chain", secret, sizeof secret);
    const char *src = getenv("BM_SOURCE_DIR");

    /* 1. npm packages (ganache, solc, OpenZeppelin) into tests/chain/node_modules. */
    char npm[1200], *out = NULL;
    snprintf(npm, sizeof npm, "%s/scripts/lib/npm.sh", src);
    char chain_dir[1100];
    snprintf(chain_dir, sizeof chain_dir, "%s/tests/chain", src);
    char *nargv[] = {"/bin/bash", npm, chain_dir, NULL};
    int rc = bm_e2e_run(e, nargv, &out, 600000);
    if (rc == 3) {
        fprintf(stderr, "SKIP: the npm registry is unreachable, no local chain: %s\n",
                out ? out : "");
        free(out);
        skip();
    }
    if (rc != 0)
        bm_e2e_fail("scripts/lib/npm.sh tests/chain failed (%d): %s", rc, out ? out : "");
    free(out);

    /* 2. The chain: compile, start ganache, deploy. */
    char node[1100], js[1200], info[400], chain_out[400];
    find_node(node, sizeof node);
    snprintf(js, sizeof js, "%s/devchain.js", chain_dir);
    snprintf(info, sizeof info, "%s/chain.json", e->dir);
    snprintf(chain_out, sizeof chain_out, "%s/chain.out", e->dir);
    char *cargv[] = {node, js, "serve", info, NULL};
    bm_e2e_spawn(e, cargv, chain_out);
    json_t *ci = NULL;
    for (int i = 0; i < 1200 && !ci; i++) {
        char *t = bm_e2e_slurp(info, NULL);
        if (t)
            ci = json_loads(t, 0, NULL);
        free(t);
        if (!ci)
            bm_e2e_sleep_ms(100);
    }
    if (!ci) {
        char *log = bm_e2e_slurp(chain_out, NULL);
        bm_e2e_fail("the local chain did not start: %s", log ? log : "");
    }
    const char *rpc = json_string_value(json_object_get(ci, "rpc"));
    const char *from = json_string_value(json_object_get(ci, "from"));
    const char *token = json_string_value(json_object_get(ci, "token"));
    const char *nft = json_string_value(json_object_get(ci, "nft"));
    /* The chain settings come from the engine's configuration file ([chain]),
     * as an operator writes them; the modules read them through the host. */
    char conf[400], conf_text[1200];
    snprintf(conf, sizeof conf, "%s/chain.conf", e->dir);
    snprintf(conf_text, sizeof conf_text,
             "[chain]\nrpc_url = %s\nfrom = %s\nchain_id = 1337\nconfirmations = 1\n", rpc, from);
    bm_e2e_write_file(conf, conf_text, strlen(conf_text));
    bm_e2e_setenv(e, "BM_CONFIG", conf);
    rw_install_module(e, "modules/reward_token.so");
    rw_install_module(e, "modules/reward_nft.so");

    /* 3. Grants: tokens to NADDR addresses (one reached through a community
     * wallet), NFTs, and one grant with no address anywhere. Amounts in token
     * units with 6 decimals, so totals fit in 64 bits here. */
    char addr[NADDR][48];
    long long want[NADDR] = {0};
    int nfts[NADDR] = {0};
    for (int i = 0; i < NADDR; i++)
        snprintf(addr[i], sizeof addr[i], "0x%040x", 0x5eed00 + i * 7919);
    char q[2048];
    snprintf(q, sizeof q,
             "INSERT INTO communities (name, referral_slug, redirect_url, member_metadata) "
             "VALUES ('guild', 'guild', 'https://example.com', '{}'); "
             "INSERT INTO community_members (community_id, user_id, user_metadata) SELECT id, "
             "'player-wallet', '{\"wallet\": \"%s\"}' FROM communities",
             addr[0]);
    sql(e, q);
    static const char *const amounts[4] = {"1.5", "2", "0.25", "10.000001"};
    static const long long base[4] = {1500000, 2000000, 250000, 10000001};
    for (int i = 0; i < NTOKEN; i++) {
        int k = i % NADDR;
        const char *user = k == 0 ? "player-wallet" : addr[k];
        snprintf(q, sizeof q,
                 "INSERT INTO reward_fulfillments (idempotency_key, campaign_id, user_id, "
                 "reward_type, reward_config) VALUES ('tok-%d', '%s', '%s', 'token', "
                 "'{\"contract\": \"%s\", \"amount\": \"%s\", \"decimals\": 6}')",
                 i, RW_CAMPAIGN, user, token, amounts[i % 4]);
        sql(e, q);
        want[k] += base[i % 4];
    }
    for (int i = 0; i < NNFT; i++) {
        int k = (i * 3) % NADDR;
        snprintf(q, sizeof q,
                 "INSERT INTO reward_fulfillments (idempotency_key, campaign_id, user_id, "
                 "reward_type, reward_config) VALUES ('nft-%d', '%s', '%s', 'nft', "
                 "'{\"contract\": \"%s\", \"tokenId\": %d}')",
                 i, RW_CAMPAIGN, addr[k], nft, 1000 + i);
        sql(e, q);
        nfts[k]++;
    }
    snprintf(q, sizeof q,
             "INSERT INTO reward_fulfillments (idempotency_key, campaign_id, user_id, "
             "reward_type, reward_config) VALUES ('tok-nobody', '%s', 'no-wallet-player', "
             "'token', '{\"contract\": \"%s\", \"amount\": 1}')",
             RW_CAMPAIGN, token);
    sql(e, q);
    const long long paid = NTOKEN + NNFT;

    /* 4. Kill -9 while transactions are signed and broadcast. */
    bm_e2e_rng rng;
    bm_e2e_rng_seed(&rng, 4242);
    bm_e2e_engine g;
    for (int k = 0; k < KILLS; k++) {
        bm_e2e_engine_start(e, &g);
        long long before =
            bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE status = 'completed'");
        rw_wait_status(e, &g, "completed", before + 4, 90000);
        bm_e2e_sleep_ms((int)bm_e2e_rng_range(&rng, 0, 150));
        bm_e2e_engine_kill9(&g);
        long long signed_rows = bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE "
                                             "fulfillment_data ? 'raw' AND status <> 'completed'");
        long long done =
            bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE status = 'completed'");
        fprintf(stderr,
                "chain e2e: kill -9 #%d: %lld of %lld paid, %lld signed and not yet recorded\n",
                k + 1, done, paid, signed_rows);
        assert_true(done < paid);
    }
    bm_e2e_engine_start(e, &g);
    rw_wait_status(e, &g, "completed", paid, 120000);
    rw_wait_status(e, &g, "failed", 1, 30000);
    bm_e2e_engine_stop(&g, 20000);

    /* 5. The chain's view. */
    char *qv[6 + NADDR + 1] = {node, js, "query", (char *)rpc, (char *)token, (char *)nft};
    for (int i = 0; i < NADDR; i++)
        qv[6 + i] = addr[i];
    qv[6 + NADDR] = NULL;
    rc = bm_e2e_run(e, qv, &out, 60000);
    if (rc != 0)
        bm_e2e_fail("devchain.js query failed: %s", out ? out : "");
    json_t *st = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(st);
    for (int i = 0; i < NADDR; i++) {
        const char *got =
            json_string_value(json_object_get(json_object_get(st, "balances"), addr[i]));
        char w[64];
        snprintf(w, sizeof w, "%lld", want[i]);
        if (!got || strcmp(got, w) != 0)
            bm_e2e_fail("%s holds %s base units, granted %s", addr[i], got ? got : "?", w);
        long long n = json_integer_value(json_object_get(json_object_get(st, "nfts"), addr[i]));
        if (n != nfts[i])
            bm_e2e_fail("%s holds %lld NFTs, granted %d", addr[i], n, nfts[i]);
    }
    /* Two deployments, then exactly one transaction per payout: no gap, none twice. */
    long long nonce = json_integer_value(json_object_get(st, "nonce"));
    long long pending = json_integer_value(json_object_get(st, "pending"));
    fprintf(stderr, "chain e2e: sender nonce %lld (pending %lld) for %lld payouts\n", nonce,
            pending, paid);
    assert_int_equal(nonce, 2 + paid);
    assert_int_equal(pending, nonce);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(DISTINCT transaction_hash) FROM "
                                  "reward_fulfillments WHERE status = 'completed'"),
                     paid);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(DISTINCT (fulfillment_data->>'nonce')::bigint) "
                                  "FROM reward_fulfillments WHERE status = 'completed'"),
                     paid);
    char *why = rw_text(e, "SELECT error_message FROM reward_fulfillments WHERE "
                           "idempotency_key = 'tok-nobody'");
    assert_non_null(strstr(why, "no recipient address"));
    free(why);
    json_decref(st);
    json_decref(ci);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_payouts_across_kill9, bm_e2e_setup,
                                        bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
