/*
 * reward_nft: mints an ERC-721 reward with safeMint(recipient, tokenId) from
 * the engine's sending account, signed by the node or signer at the RPC URL.
 * Config: "contract" (required; the engine's account may mint), "tokenId"
 * (default: the fulfillment id), "method" (default "safeMint"); "rpcUrl", "from", "chainId",
 * "confirmations", "gas" override the engine's [chain] section (rpc_url,
 * from, chain_id, confirmations, gas; BM_CHAIN_* in the environment). The
 * recipient is the user id when it is an address, else the wallet of the
 * player's community membership.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brightmatter/module.h>

#include "ethpay.h"

static int nf_on_reward(void *instance, const bm_reward *r, char *result, size_t resultlen)
{
    bm_ethpay_inst *in = instance;
    char err[512], to[64], token_id[65], sel[11], sig[160];
    json_t *cfg = json_loads(r->config_json ? r->config_json : "{}", 0, NULL);
    int rc;
    bm_ethpay_cfg c;
    const char *contract = json_string_value(json_object_get(cfg, "contract"));
    const char *method = json_string_value(json_object_get(cfg, "method"));
    json_t *tid = json_object_get(cfg, "tokenId");
    json_t *fallback = json_integer(r->fulfillment_id);
    snprintf(sig, sizeof sig, "%s(address,uint256)", method ? method : "safeMint");
    if (!json_is_object(cfg)) {
        rc = bm_ethpay_fail(result, resultlen, BM_ERROR, "reward config is not a JSON object");
    } else if (!bm_eth_is_address(contract)) {
        rc = bm_ethpay_fail(result, resultlen, BM_ERROR, "contract: a 0x address is required");
    } else if (bm_eth_amount_word(tid ? tid : fallback, 0, token_id, err, sizeof err) != 0) {
        rc = bm_ethpay_fail(result, resultlen, BM_ERROR, "tokenId: a positive integer is required");
    } else if (bm_ethpay_recipient(in->api, r, to, sizeof to) != 0) {
        rc = bm_ethpay_fail(result, resultlen, BM_ERROR,
                            "no recipient address: the user id is not an address and the player's "
                            "community membership has no wallet");
    } else if (bm_ethpay_config(in, &c, cfg, err, sizeof err) != 0) {
        rc = bm_ethpay_fail(result, resultlen, BM_ERROR, err);
    } else if (bm_eth_selector(&c, sig, sel, err, sizeof err) != 0) {
        rc = bm_ethpay_fail(result, resultlen, BM_RETRY, err);
    } else {
        char data[200];
        snprintf(data, sizeof data, "%s%024d%s%s", sel, 0, to + 2, token_id);
        bm_ethpay_req q = {.contract = contract, .calldata = data, .balance_needed = NULL};
        rc = bm_ethpay_run(in->api, in->host, r, &c, &q, to, result, resultlen);
    }
    json_decref(fallback);
    json_decref(cfg);
    in->api->metric_add(in->host, rc == BM_OK ? "paid" : rc == BM_RETRY ? "retried" : "failed", 1);
    return rc;
}

static const bm_module g_module = {
    BM_MODULE_HEADER,
    .name = "reward_nft",
    .version = "1.0.0",
    .kind = BM_KIND_REWARD,
    .serves = "nft",
    .description = "ERC-721 mint, signed by the chain node, never minted twice",
    .init = bm_ethpay_init,
    .on_reward = nf_on_reward,
    .destroy = bm_ethpay_destroy,
};

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    return &g_module;
}
