/*
 * reward_webhook: delivers a reward as a signed Standard Webhooks POST.
 *
 * URL: the reward config's "url", else the game's webhook_url. Body:
 *   {"type":"reward.granted","timestamp":"<RFC 3339>","data":{"fulfillmentId",
 *    "idempotencyKey","campaignId","gameId","userId","rewardType","reward":<config>}}
 * webhook-id is the grant's idempotency key (the same on every attempt), so
 * a receiver dedupes on it. Optional config: "timeoutMs", "connectTimeoutMs".
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

static int wh_init(const bm_host_api *api, bm_host *host, void **instance, char *err, size_t errlen)
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

static void rfc3339_now(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int wh_on_reward(void *instance, const bm_reward *r, char *result, size_t resultlen)
{
    inst *in = instance;
    json_t *cfg = json_loads(r->config_json ? r->config_json : "{}", 0, NULL);
    if (!cfg || !json_is_object(cfg)) {
        json_decref(cfg);
        snprintf(result, resultlen, "{\"error\":\"reward config is not a JSON object\"}");
        return BM_ERROR;
    }
    const char *url = json_string_value(json_object_get(cfg, "url"));
    if (!url)
        url = in->api->reward_webhook_url(r);
    if (!url) {
        json_decref(cfg);
        snprintf(result, resultlen,
                 "{\"error\":\"no webhook URL: the reward config has no url and the game has no "
                 "webhook_url\"}");
        return BM_ERROR;
    }
    char ts[40];
    rfc3339_now(ts, sizeof ts);
    json_t *body =
        json_pack("{s:s, s:s, s:{s:I, s:s, s:s, s:s, s:s, s:s, s:O}}", "type", "reward.granted",
                  "timestamp", ts, "data", "fulfillmentId", (json_int_t)r->fulfillment_id,
                  "idempotencyKey", r->idem_key, "campaignId", r->campaign_id, "gameId", r->game_id,
                  "userId", r->user_id, "rewardType", r->reward_type, "reward", cfg);
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
        .connect_timeout_ms = (long)json_integer_value(json_object_get(cfg, "connectTimeoutMs")),
        .timeout_ms = (long)json_integer_value(json_object_get(cfg, "timeoutMs")),
    };
    int rc = text ? bm_whsend_post(in->w, &q, result, resultlen) : BM_RETRY;
    if (!text)
        snprintf(result, resultlen, "{\"error\":\"out of memory\"}");
    free(text);
    json_decref(cfg);
    in->api->metric_add(in->host,
                        rc == BM_OK      ? "delivered"
                        : rc == BM_RETRY ? "retried"
                                         : "failed",
                        1);
    return rc;
}

static void wh_destroy(void *instance)
{
    inst *in = instance;
    if (!in)
        return;
    bm_whsend_free(in->w);
    free(in);
}

static const bm_module g_module = {
    BM_MODULE_HEADER,
    .name = "reward_webhook",
    .version = "1.0.0",
    .kind = BM_KIND_REWARD,
    .serves = "webhook",
    .description = "signed webhook POST to the reward's url or the game's webhook_url",
    .init = wh_init,
    .on_reward = wh_on_reward,
    .destroy = wh_destroy,
};

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    return &g_module;
}
