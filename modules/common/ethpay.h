/*
 * On-chain payouts shared by reward_token and reward_nft (compiled into each,
 * never into the host): Ethereum JSON-RPC over libcurl, signing by the node or
 * signer at the RPC URL (eth_signTransaction), and the never-paid-twice
 * sequence (docs/DESIGN.md, "On-chain payouts"):
 *
 *   recipient -> nonce (stored with the reward) -> sign -> store raw tx and
 *   hash with the reward -> broadcast -> receipt with confirmations.
 *
 * A retry after any crash finds the stored signed transaction and only
 * rebroadcasts it or looks its hash up; a second transaction for one reward
 * is never signed.
 */
#ifndef BM_ETHPAY_H
#define BM_ETHPAY_H

#include <jansson.h>
#include <stddef.h>

#include <brightmatter/module.h>

typedef struct bm_ethpay_req {
    const char *contract;       /* the token / NFT contract (0x + 40 hex) */
    const char *calldata;       /* 0x + selector + argument words */
    const char *balance_needed; /* 64 hex digits: sender token balance to check, or NULL */
} bm_ethpay_req;

/* The instance of a chain reward module: the host API and its host. */
typedef struct bm_ethpay_inst {
    const bm_host_api *api;
    bm_host *host;
} bm_ethpay_inst;

/* init of reward_token and reward_nft: checks the host API (version 3 at least) and sets
 * up libcurl once per instance on the loading thread (its global setup is not
 * thread-safe, and deliveries run on several threads). */
int bm_ethpay_init(const bm_host_api *api, bm_host *host, void **instance, char *err,
                   size_t errlen);
/* destroy of reward_token and reward_nft. */
void bm_ethpay_destroy(void *instance);
/* Writes {"error": msg} to result and returns rc. */
int bm_ethpay_fail(char *result, size_t resultlen, int rc, const char *msg);

/* Settings: the reward config's rpcUrl, from, chainId, confirmations, gas
 * win; else the engine's [chain] section through the host API's setting()
 * (which the engine loaded from its file and BM_CHAIN_* variables); a host
 * older than API version 4 has no setting(), and BM_CHAIN_* are read here. */
typedef struct bm_ethpay_cfg {
    char rpc_url[512];
    char from[64];
    long long chain_id;
    int confirmations;
    long long gas;
} bm_ethpay_cfg;

/* Fills c from cfg (may be NULL), then the host's [chain] settings; -1 with
 * err when a setting is missing or bad. */
int bm_ethpay_config(const bm_ethpay_inst *in, bm_ethpay_cfg *c, json_t *cfg, char *err,
                     size_t errlen);

/* The recipient: the user id if it is an address, else the community wallet; 0 or -1. */
int bm_ethpay_recipient(const bm_host_api *api, const bm_reward *r, char *out, size_t cap);

/* 1 if s is 0x + 40 hex digits. */
int bm_eth_is_address(const char *s);

/* "12.5" (or a JSON integer) in token units with `decimals` -> 64 hex digits; -1 with err. */
int bm_eth_amount_word(json_t *amount, int decimals, char out[65], char *err, size_t errlen);

/* The function selector (0x + 8 hex) of a signature like "transfer(address,uint256)". */
int bm_eth_selector(const bm_ethpay_cfg *c, const char *signature, char out[11], char *err,
                    size_t errlen);

/* Runs the payout; BM_OK / BM_RETRY / BM_ERROR with a JSON result. */
int bm_ethpay_run(const bm_host_api *api, bm_host *host, const bm_reward *r, const bm_ethpay_cfg *c,
                  const bm_ethpay_req *q, const char *recipient, char *result, size_t resultlen);

#endif
