/*
 * reward_ingame: tells the game's backend to grant an item, as a signed
 * Standard Webhooks POST to the game's webhook_url (the game of the campaign
 * that granted the reward; the config's "webhookUrl" overrides it). Body:
 *   {"userId","rewardType":"in_game","reward":{"item","quantity","source",
 *    "campaignId","timestamp"},"metadata":{"fulfillmentId","idempotencyKey"}}
 * Config: "item" (required), "quantity" (default 1).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <brightmatter/module.h>

#include "whsend.h"

typedef struct inst {
    const bm_host_api *api;
    bm_host *host;
    bm_whsend *w;
} inst;

static int ig_init(const bm_host_api *api, bm_host *host, void **instance, char *err, size_t errlen)
{
    if (api->size < offsetof(bm_host_api, reward_secrets) + sizeof api->reward_secrets) {
        snprintf(err, errlen, "host API too old: reward_secrets missing (need version 3)");
        return BM_ERROR;
    }
    inst *in = calloc(1, sizeof *in);
    if (!in || !(in->w = bm_whsend_new())) {
        free(in);
        snprintf(err, errlen, "cannot initialise libcurl");
        return BM_ERROR;
    }
    in->api = api;
    in->host = host;
    *instance = in;
    return BM_OK;
}

static int fail(char *result, size_t resultlen, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = json_dumps(o, JSON_COMPACT);
    snprintf(result, resultlen, "%s", s ? s : "{}");
    free(s);
    json_decref(o);
    return BM_ERROR;
}

static int ig_on_reward(void *instance, const bm_reward *r, char *result, size_t resultlen)
{
    inst *in = instance;
    json_t *cfg = json_loads(r->config_json ? r->config_json : "{}", 0, NULL);
    if (!cfg || !json_is_object(cfg)) {
        json_decref(cfg);
        return fail(result, resultlen, "reward config is not a JSON object");
    }
    json_t *item = json_object_get(cfg, "item");
    if (!json_is_string(item)) {
        json_decref(cfg);
        return fail(result, resultlen, "reward config: item (string) is required");
    }
    json_t *qty = json_object_get(cfg, "quantity");
    if (qty && !(json_is_integer(qty) && json_integer_value(qty) > 0)) {
        json_decref(cfg);
        return fail(result, resultlen, "reward config: quantity must be a positive integer");
    }
    const char *url = json_string_value(json_object_get(cfg, "webhookUrl"));
    if (!url)
        url = in->api->reward_webhook_url(r);
    if (!url) {
        json_decref(cfg);
        return fail(result, resultlen, "no webhook URL: the game has no webhook_url");
    }
    char ts[40];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *body =
        json_pack("{s:s, s:s, s:{s:O, s:I, s:s, s:s, s:s}, s:{s:I, s:s}}", "userId", r->user_id,
                  "rewardType", "in_game", "reward", "item", item, "quantity",
                  (json_int_t)(qty ? json_integer_value(qty) : 1), "source", "brightmatter",
                  "campaignId", r->campaign_id, "timestamp", ts, "metadata", "fulfillmentId",
                  (json_int_t)r->fulfillment_id, "idempotencyKey", r->idem_key);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *secrets[4];
    int ns = in->api->reward_secrets(r, secrets, 4);
    bm_whsend_req q = {
        .url = url,
        .msg_id = r->idem_key,
        .body = text ? text : "{}",
        .secrets = secrets,
        .nsecrets = ns,
        .timeout_ms = (long)json_integer_value(json_object_get(cfg, "timeoutMs")),
    };
    int rc = text ? bm_whsend_post(in->w, &q, result, resultlen) : BM_RETRY;
    if (!text)
        snprintf(result, resultlen, "{\"error\":\"out of memory\"}");
    free(text);
    json_decref(cfg);
    return rc;
}

static void ig_destroy(void *instance)
{
    inst *in = instance;
    if (!in)
        return;
    bm_whsend_free(in->w);
    free(in);
}

static const bm_module g_module = {
    BM_MODULE_HEADER,
    .name = "reward_ingame",
    .version = "1.0.0",
    .kind = BM_KIND_REWARD,
    .serves = "in_game",
    .description = "in-game item grant, signed webhook to the game's webhook_url",
    .init = ig_init,
    .on_reward = ig_on_reward,
    .destroy = ig_destroy,
};

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    return &g_module;
}
