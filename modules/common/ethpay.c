/* On-chain payouts (see ethpay.h). */
#include "ethpay.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX (1 << 20)

typedef struct rbuf {
    char *p;
    size_t n;
} rbuf;

static size_t on_data(char *d, size_t sz, size_t nm, void *ud)
{
    rbuf *b = ud;
    size_t add = sz * nm;
    if (b->n + add > RESP_MAX)
        return 0;
    char *np = realloc(b->p, b->n + add + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, d, add);
    b->p = np;
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

/* One JSON-RPC call. 0 with *out (owned) set; -1 transport failure (retry);
 * -2 the node answered an error (its message in err). params is stolen. */
static int rpc(const bm_ethpay_cfg *c, const char *method, json_t *params, json_t **out, char *err,
               size_t errlen)
{
    *out = NULL;
    json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", 1, "method", method,
                            "params", params);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    CURL *h = curl_easy_init();
    if (!body || !h) {
        free(body);
        curl_easy_cleanup(h);
        snprintf(err, errlen, "%s: out of memory", method);
        return -1;
    }
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/json");
    rbuf b = {0};
    curl_easy_setopt(h, CURLOPT_URL, c->rpc_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    free(body);
    if (cc != CURLE_OK || status != 200 || !b.p) {
        snprintf(err, errlen, "%s: %s (HTTP %ld)", method,
                 cc != CURLE_OK ? curl_easy_strerror(cc) : "bad answer", status);
        free(b.p);
        return -1;
    }
    json_t *j = json_loads(b.p, 0, NULL);
    free(b.p);
    json_t *e = json_object_get(j, "error");
    if (!j || e) {
        const char *m = json_string_value(json_object_get(e, "message"));
        snprintf(err, errlen, "%s: %s", method, m ? m : "malformed answer");
        int rc = j ? -2 : -1;
        json_decref(j);
        return rc;
    }
    *out = json_incref(json_object_get(j, "result"));
    json_decref(j);
    return 0;
}

int bm_eth_is_address(const char *s)
{
    if (!s || strncmp(s, "0x", 2) != 0 || strlen(s) != 42)
        return 0;
    for (const char *p = s + 2; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return 0;
    return 1;
}

/* An engine chain setting: the host's [chain] section (host API version 4),
 * else BM_CHAIN_<KEY> in the environment (an older host); NULL when unset. */
static const char *chain_setting(const bm_ethpay_inst *in, const char *key, const char *env)
{
    const char *v = NULL;
    if (in && in->api->size >= offsetof(bm_host_api, setting) + sizeof in->api->setting &&
        in->api->setting)
        v = in->api->setting(in->host, "chain", key);
    else
        v = getenv(env);
    return v && *v ? v : NULL;
}

/* An integer setting: the reward config's `jkey`, else the engine's [chain]
 * `key`, else dflt; within lo..hi. -1 with err. */
static int chain_int(const bm_ethpay_inst *in, json_t *cfg, const char *jkey, const char *key,
                     const char *env, long long dflt, long long lo, long long hi, long long *out,
                     char *err, size_t errlen)
{
    json_t *v = json_object_get(cfg, jkey);
    long long n = dflt;
    if (v) {
        if (!json_is_integer(v)) {
            snprintf(err, errlen, "%s: an integer is required", jkey);
            return -1;
        }
        n = json_integer_value(v);
    } else {
        const char *t = chain_setting(in, key, env);
        char *end = NULL;
        if (t) {
            n = strtoll(t, &end, 10);
            if (end == t || *end) {
                snprintf(err, errlen, "chain.%s: '%.40s' is not an integer", key, t);
                return -1;
            }
        }
    }
    if (n < lo || n > hi) {
        snprintf(err, errlen, "%s: %lld is outside %lld..%lld", v ? jkey : key, n, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

int bm_ethpay_config(const bm_ethpay_inst *in, bm_ethpay_cfg *c, json_t *cfg, char *err,
                     size_t errlen)
{
    memset(c, 0, sizeof *c);
    const char *url = json_string_value(json_object_get(cfg, "rpcUrl"));
    const char *from = json_string_value(json_object_get(cfg, "from"));
    if (!url)
        url = chain_setting(in, "rpc_url", "BM_CHAIN_RPC_URL");
    if (!from)
        from = chain_setting(in, "from", "BM_CHAIN_FROM");
    if (!url || !*url) {
        snprintf(err, errlen,
                 "no chain RPC URL: set rpcUrl in the reward or rpc_url in the engine's [chain] "
                 "section (BM_CHAIN_RPC_URL)");
        return -1;
    }
    if (!bm_eth_is_address(from)) {
        snprintf(err, errlen,
                 "no sender: set from (0x address) in the reward or from in the engine's [chain] "
                 "section (BM_CHAIN_FROM)");
        return -1;
    }
    snprintf(c->rpc_url, sizeof c->rpc_url, "%s", url);
    snprintf(c->from, sizeof c->from, "%s", from);
    for (char *p = c->from; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    long long conf = 1;
    if (chain_int(in, cfg, "chainId", "chain_id", "BM_CHAIN_CHAIN_ID", 1, 1, INT64_MAX,
                  &c->chain_id, err, errlen) != 0 ||
        chain_int(in, cfg, "confirmations", "confirmations", "BM_CHAIN_CONFIRMATIONS", 1, 1, 10000,
                  &conf, err, errlen) != 0 ||
        chain_int(in, cfg, "gas", "gas", "BM_CHAIN_GAS", 300000, 21000, 100000000, &c->gas, err,
                  errlen) != 0)
        return -1;
    c->confirmations = (int)conf;
    return 0;
}

int bm_ethpay_recipient(const bm_host_api *api, const bm_reward *r, char *out, size_t cap)
{
    const char *who = bm_eth_is_address(r->user_id) ? r->user_id : api->reward_wallet(r);
    if (!bm_eth_is_address(who))
        return -1;
    snprintf(out, cap, "%s", who);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

int bm_eth_amount_word(json_t *amount, int decimals, char out[65], char *err, size_t errlen)
{
    char text[128];
    if (json_is_integer(amount))
        snprintf(text, sizeof text, "%lld", (long long)json_integer_value(amount));
    else if (json_is_string(amount) && strlen(json_string_value(amount)) < sizeof text)
        snprintf(text, sizeof text, "%s", json_string_value(amount));
    else {
        snprintf(err, errlen, "amount: a decimal string (\"12.5\") or an integer is required");
        return -1;
    }
    if (decimals < 0 || decimals > 77) {
        snprintf(err, errlen, "decimals: %d is outside 0..77", decimals);
        return -1;
    }
    /* Digits of amount * 10^decimals, integer arithmetic only. */
    char digits[200];
    size_t nd = 0;
    int frac = -1, nonzero = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '.' && frac < 0) {
            frac = 0;
        } else if (isdigit((unsigned char)*p)) {
            if (frac >= 0 && frac == decimals) {
                if (*p != '0') {
                    snprintf(err, errlen, "amount %s has more than %d decimals", text, decimals);
                    return -1;
                }
                continue;
            }
            if (frac >= 0)
                frac++;
            digits[nd++] = *p;
            nonzero |= *p != '0';
        } else {
            snprintf(err, errlen, "amount '%s' is not a non-negative decimal number", text);
            return -1;
        }
    }
    for (int i = frac < 0 ? 0 : frac; i < decimals; i++)
        digits[nd++] = '0';
    if (nd == 0 || !nonzero) {
        snprintf(err, errlen, "amount must be positive");
        return -1;
    }
    unsigned char be[32] = {0};
    for (size_t i = 0; i < nd; i++) {
        unsigned carry = (unsigned)(digits[i] - '0');
        for (int k = 31; k >= 0; k--) {
            unsigned v = be[k] * 10u + carry;
            be[k] = (unsigned char)(v & 0xff);
            carry = v >> 8;
        }
        if (carry) {
            snprintf(err, errlen, "amount %s does not fit in 256 bits", text);
            return -1;
        }
    }
    for (int k = 0; k < 32; k++)
        snprintf(out + 2 * k, 3, "%02x", be[k]);
    return 0;
}

int bm_eth_selector(const bm_ethpay_cfg *c, const char *signature, char out[11], char *err,
                    size_t errlen)
{
    char hex[300] = "0x";
    size_t n = strlen(signature);
    if (n > 140) {
        snprintf(err, errlen, "function signature too long");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 + 2 * i, 3, "%02x", (unsigned char)signature[i]);
    json_t *res;
    int rc = rpc(c, "web3_sha3", json_pack("[s]", hex), &res, err, errlen);
    if (rc != 0)
        return rc;
    const char *h = json_string_value(res);
    if (!h || strlen(h) < 10) {
        json_decref(res);
        snprintf(err, errlen, "web3_sha3: malformed answer");
        return -1;
    }
    snprintf(out, 11, "%.10s", h);
    json_decref(res);
    return 0;
}

static int finish(char *result, size_t resultlen, int rc, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    snprintf(result, resultlen, "%s", s ? s : "{}");
    free(s);
    json_decref(o);
    return rc;
}

static int fail_msg(char *result, size_t resultlen, int rc, const char *msg, const char *tx)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    if (tx)
        json_object_set_new(o, "txHash", json_string(tx));
    return finish(result, resultlen, rc, o);
}

static long long hex_ll(json_t *v)
{
    const char *s = json_string_value(v);
    return s ? strtoll(s, NULL, 16) : -1;
}

/* The sender's transaction count in the latest block (its next nonce to be mined); -1 on error. */
static long long mined_count(const bm_ethpay_cfg *c, char *err, size_t errlen)
{
    json_t *res = NULL;
    if (rpc(c, "eth_getTransactionCount", json_pack("[s, s]", c->from, "latest"), &res, err,
            errlen))
        return -1;
    long long n = hex_ll(res);
    json_decref(res);
    return n;
}

/* 1 when the node's answer to eth_sendRawTransaction says it already holds a
 * transaction with this nonce or has mined one: which one is then decided by
 * the stored hash, never by the message. */
static int node_has_nonce(const char *err)
{
    static const char *const known[] = {
        "already known", "known transaction", "nonce too low", "already imported",
        /* ganache: a copy with this nonce is pooled / the nonce is already mined */
        "transaction underpriced", "doesn't have the correct nonce"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strstr(err, known[i]))
            return 1;
    return 0;
}

/* Sends the stored raw transaction again and ignores the answer (the receipt decides). */
static void resend(const bm_ethpay_cfg *c, const char *raw)
{
    char err[512];
    json_t *res = NULL;
    rpc(c, "eth_sendRawTransaction", json_pack("[s]", raw), &res, err, sizeof err);
    json_decref(res);
}

/* Waits for the receipt with confirmations: BM_OK, BM_ERROR (reverted), or
 * BM_RETRY (not mined yet, or unknown to the node: *unknown set).
 *
 * A transaction the node holds but has not mined while the chain's next nonce
 * of the sender is exactly ours is sent again (the same signed bytes). A node
 * may hold a transaction in its queue of future nonces even after the nonce
 * before it was mined: ganache does so for a transaction that arrives while
 * the block holding the previous nonce is being written, and only promotes it
 * when the same transaction arrives again. Without the resend that reward and
 * every later one of the sender would wait forever. A node that already has it
 * pending answers "already known" or "underpriced", which changes nothing. */
static int confirm(const bm_ethpay_cfg *c, const char *tx, const char *raw, long long nonce,
                   const char *to, char *result, size_t resultlen, int *unknown)
{
    char err[512];
    *unknown = 0;
    /* A few seconds at most: a transaction waiting behind a lower nonce is
     * looked at again on the next attempt (the lease must not run out here). */
    for (int i = 0; i < 15; i++) {
        json_t *rcpt = NULL;
        if (rpc(c, "eth_getTransactionReceipt", json_pack("[s]", tx), &rcpt, err, sizeof err))
            return fail_msg(result, resultlen, BM_RETRY, err, tx);
        if (json_is_object(rcpt)) {
            long long block = hex_ll(json_object_get(rcpt, "blockNumber"));
            json_t *bn = NULL;
            if (rpc(c, "eth_blockNumber", json_array(), &bn, err, sizeof err)) {
                json_decref(rcpt);
                return fail_msg(result, resultlen, BM_RETRY, err, tx);
            }
            long long head = hex_ll(bn);
            json_decref(bn);
            if (block >= 0 && head - block + 1 >= c->confirmations) {
                int ok = hex_ll(json_object_get(rcpt, "status")) == 1;
                json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:s, s:i}", "txHash", tx, "blockNumber",
                                      (json_int_t)block, "gasUsed",
                                      (json_int_t)hex_ll(json_object_get(rcpt, "gasUsed")), "nonce",
                                      (json_int_t)nonce, "recipient", to, "confirmations",
                                      (int)(head - block + 1));
                if (!ok)
                    json_object_set_new(o, "error",
                                        json_string("transaction reverted on chain (status 0)"));
                json_decref(rcpt);
                return finish(result, resultlen, ok ? BM_OK : BM_ERROR, o);
            }
        } else {
            json_t *t = NULL;
            if (rpc(c, "eth_getTransactionByHash", json_pack("[s]", tx), &t, err, sizeof err))
                return fail_msg(result, resultlen, BM_RETRY, err, tx);
            int known = json_is_object(t);
            json_decref(t);
            if (!known) {
                *unknown = 1;
                return BM_RETRY;
            }
            /* Held, not mined: about once a second, is it next in line? */
            if (raw && i % 5 == 4 && mined_count(c, err, sizeof err) == nonce)
                resend(c, raw);
        }
        json_decref(rcpt);
        usleep(200 * 1000);
    }
    json_t *o = json_pack("{s:s, s:s, s:i}", "error", "waiting for the receipt and confirmations",
                          "txHash", tx, "retryAfter", 1);
    return finish(result, resultlen, BM_RETRY, o);
}

/* Broadcasts the stored raw transaction; 0 accepted or already known, else rc with result. */
static int broadcast(const bm_ethpay_cfg *c, const char *raw, const char *tx, char *result,
                     size_t resultlen, int *rc_out)
{
    char err[512];
    json_t *res = NULL;
    int rc = rpc(c, "eth_sendRawTransaction", json_pack("[s]", raw), &res, err, sizeof err);
    json_decref(res);
    if (rc == 0)
        return 0;
    /* Our own transaction seen before, or the nonce is taken: resolved by the stored hash. */
    if (rc == -2 && node_has_nonce(err))
        return 0;
    char msg[700];
    snprintf(msg, sizeof msg, "broadcast failed, will rebroadcast the same transaction: %s", err);
    *rc_out = fail_msg(result, resultlen, BM_RETRY, msg, tx);
    return -1;
}

/* Our transaction is unknown and the node refused it: has its nonce been used by another? */
static int nonce_taken(const bm_ethpay_cfg *c, const char *tx, long long nonce, char *result,
                       size_t resultlen)
{
    char err[512];
    long long mined = mined_count(c, err, sizeof err);
    if (mined < 0)
        return fail_msg(result, resultlen, BM_RETRY, err, tx);
    if (mined > nonce) {
        snprintf(err, sizeof err,
                 "nonce %lld of %s was used by a transaction the engine did not sign: this "
                 "reward was not paid",
                 nonce, c->from);
        return fail_msg(result, resultlen, BM_ERROR, err, tx);
    }
    return fail_msg(result, resultlen, BM_RETRY,
                    "rebroadcast accepted but the node does not know the transaction yet", tx);
}

int bm_ethpay_run(const bm_host_api *api, bm_host *host, const bm_reward *r, const bm_ethpay_cfg *c,
                  const bm_ethpay_req *q, const char *recipient, char *result, size_t resultlen)
{
    char err[512];
    int rc = BM_RETRY, unknown = 0;
    json_t *saved = api->reward_saved(r) ? json_loads(api->reward_saved(r), 0, NULL) : NULL;
    const char *raw = json_string_value(json_object_get(saved, "raw"));
    const char *tx = json_string_value(json_object_get(saved, "txHash"));
    long long nonce = json_integer_value(json_object_get(saved, "nonce"));
    if (raw && tx) {
        /* A signed transaction exists for this reward: never sign another. */
        rc = confirm(c, tx, raw, nonce, recipient, result, resultlen, &unknown);
        if (rc == BM_RETRY && unknown) {
            int brc = BM_RETRY;
            if (broadcast(c, raw, tx, result, resultlen, &brc) != 0) {
                rc = brc;
            } else {
                rc = confirm(c, tx, raw, nonce, recipient, result, resultlen, &unknown);
                if (unknown)
                    rc = nonce_taken(c, tx, nonce, result, resultlen);
            }
        }
        json_decref(saved);
        return rc;
    }
    json_decref(saved);
    json_t *res = NULL;
    if (q->balance_needed) {
        char data[80];
        snprintf(data, sizeof data, "0x70a08231%024d%s", 0, c->from + 2);
        if (rpc(c, "eth_call",
                json_pack("[{s:s, s:s}, s]", "to", q->contract, "data", data, "latest"), &res, err,
                sizeof err))
            return fail_msg(result, resultlen, BM_RETRY, err, NULL);
        const char *bal = json_string_value(res);
        char have[65] = "";
        if (bal && strlen(bal) == 66)
            snprintf(have, sizeof have, "%s", bal + 2);
        json_decref(res);
        if (strlen(have) != 64 || strcmp(have, q->balance_needed) < 0) {
            snprintf(err, sizeof err,
                     "sender balance too low: %s holds 0x%s base units, the reward needs 0x%s",
                     c->from, *have ? have : "?", q->balance_needed);
            return fail_msg(result, resultlen, BM_RETRY, err, NULL);
        }
    }
    /* 1. The nonce, stored with the reward in the transaction that assigns it. */
    if (rpc(c, "eth_getTransactionCount", json_pack("[s, s]", c->from, "pending"), &res, err,
            sizeof err))
        return fail_msg(result, resultlen, BM_RETRY, err, NULL);
    long long chain_next = hex_ll(res);
    json_decref(res);
    char account[96];
    snprintf(account, sizeof account, "%lld:%s", c->chain_id, c->from);
    nonce = api->reward_nonce(r, account, chain_next);
    if (nonce < 0)
        return fail_msg(result, resultlen, BM_RETRY, "could not store the nonce with the reward",
                        NULL);
    /* 2. Signed by the node / signer; from here on failures retry (the nonce is ours). */
    if (rpc(c, "eth_gasPrice", json_array(), &res, err, sizeof err))
        return fail_msg(result, resultlen, BM_RETRY, err, NULL);
    char gas_price[80];
    snprintf(gas_price, sizeof gas_price, "%s",
             json_string_value(res) ? json_string_value(res) : "0x3b9aca00");
    json_decref(res);
    char hn[32], hg[32], hc[32];
    snprintf(hn, sizeof hn, "0x%llx", nonce);
    snprintf(hg, sizeof hg, "0x%llx", c->gas);
    snprintf(hc, sizeof hc, "0x%llx", c->chain_id);
    json_t *txo = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "from", c->from, "to",
                            q->contract, "data", q->calldata, "value", "0x0", "nonce", hn, "gas",
                            hg, "gasPrice", gas_price, "chainId", hc);
    if (rpc(c, "eth_signTransaction", json_pack("[o]", txo), &res, err, sizeof err))
        return fail_msg(result, resultlen, BM_RETRY, err, NULL);
    const char *signed_raw = json_is_string(res) ? json_string_value(res)
                                                 : json_string_value(json_object_get(res, "raw"));
    char *raw_copy = signed_raw ? strdup(signed_raw) : NULL;
    json_decref(res);
    if (!raw_copy)
        return fail_msg(result, resultlen, BM_RETRY, "eth_signTransaction: no raw transaction",
                        NULL);
    /* 3. Its hash (keccak-256 of the raw bytes, computed by the node). */
    if (rpc(c, "web3_sha3", json_pack("[s]", raw_copy), &res, err, sizeof err)) {
        free(raw_copy);
        return fail_msg(result, resultlen, BM_RETRY, err, NULL);
    }
    char txh[80];
    snprintf(txh, sizeof txh, "%s", json_string_value(res) ? json_string_value(res) : "");
    json_decref(res);
    /* 4. Stored with the reward BEFORE the broadcast. */
    json_t *keep = json_pack("{s:s, s:s, s:I, s:s, s:s}", "raw", raw_copy, "txHash", txh, "nonce",
                             (json_int_t)nonce, "recipient", recipient, "contract", q->contract);
    char *keep_s = json_dumps(keep, JSON_COMPACT);
    json_decref(keep);
    int saved_ok = keep_s && strlen(txh) == 66 && api->reward_save(r, keep_s) == 0;
    free(keep_s);
    if (!saved_ok) {
        free(raw_copy);
        return fail_msg(result, resultlen, BM_RETRY,
                        "could not store the signed transaction: not broadcast", NULL);
    }
    api->log(host, BM_LOG_INFO, "fulfillment=%lld nonce=%lld tx=%s to=%s: broadcasting",
             (long long)r->fulfillment_id, nonce, txh, recipient);
    /* 5. Broadcast, then the receipt. */
    int brc = BM_RETRY;
    if (broadcast(c, raw_copy, txh, result, resultlen, &brc) != 0) {
        free(raw_copy);
        return brc;
    }
    rc = confirm(c, txh, raw_copy, nonce, recipient, result, resultlen, &unknown);
    free(raw_copy);
    if (rc == BM_RETRY && unknown)
        rc = fail_msg(result, resultlen, BM_RETRY,
                      "broadcast accepted but the node does not know the transaction yet", txh);
    return rc;
}

/* --- the module boilerplate both chain modules share --- */

int bm_ethpay_init(const bm_host_api *api, bm_host *host, void **instance, char *err, size_t errlen)
{
    if (api->size < offsetof(bm_host_api, reward_wallet) + sizeof api->reward_wallet) {
        snprintf(err, errlen, "host API too old: reward_nonce missing (need version 3)");
        return BM_ERROR;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return BM_ERROR;
    }
    bm_ethpay_inst *in = calloc(1, sizeof *in);
    if (!in) {
        curl_global_cleanup();
        snprintf(err, errlen, "out of memory");
        return BM_ERROR;
    }
    in->api = api;
    in->host = host;
    *instance = in;
    return BM_OK;
}

int bm_ethpay_fail(char *result, size_t resultlen, int rc, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = json_dumps(o, JSON_COMPACT);
    snprintf(result, resultlen, "%s", s ? s : "{}");
    free(s);
    json_decref(o);
    return rc;
}

void bm_ethpay_destroy(void *instance)
{
    free(instance);
    curl_global_cleanup();
}
