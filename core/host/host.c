/* The host-API table handed to modules, and per-module host objects. */
#include "host/host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "campaign/campaign.h"
#include "config/config.h"
#include "log/log.h"
#include "watchdog/watchdog.h"
#include "pipeline/batch.h"
#include "rewards/rewards.h"

bm_host *bm_host_new(const char *module, const bm_lua_limits *lua)
{
    bm_host *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    snprintf(h->module, sizeof h->module, "%s", module);
    if (lua)
        h->lua = *lua;
    else
        h->lua = (bm_lua_limits){.instructions = 1000000, .memory_kb = 1024, .pattern_max_len = 64};
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void bm_host_free(bm_host *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

static void api_log(bm_host *h, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bm_logv(level, h ? h->module : "module", fmt, ap);
    va_end(ap);
}

/* Sections whose settings modules may read: none holds a secret or a path to
 * one. Never postgres (its DSN may hold a password), security, auth. */
static const char *const k_readable[] = {"chain"};

int bm_host_readable(const char *section)
{
    for (size_t i = 0; section && i < sizeof k_readable / sizeof k_readable[0]; i++)
        if (strcasecmp(section, k_readable[i]) == 0)
            return 1;
    return 0;
}

typedef struct setting_ctx {
    bm_host *h;
    const char *section;
} setting_ctx;

static void copy_setting(void *ud, const char *key, const char *value)
{
    setting_ctx *c = ud;
    if (c->h->nsettings == BM_HOST_MAX_SETTINGS)
        return;
    bm_host_setting *s = &c->h->settings[c->h->nsettings++];
    snprintf(s->section, sizeof s->section, "%s", c->section);
    snprintf(s->key, sizeof s->key, "%s", key);
    snprintf(s->value, sizeof s->value, "%s", value);
}

void bm_host_use_config(bm_host *h, const bm_config *cfg)
{
    if (!h || !cfg)
        return;
    h->nsettings = 0;
    for (size_t i = 0; i < sizeof k_readable / sizeof k_readable[0]; i++) {
        setting_ctx c = {h, k_readable[i]};
        bm_config_each(cfg, k_readable[i], copy_setting, &c);
    }
}

static const char *api_setting(bm_host *h, const char *section, const char *key)
{
    if (!h || !key || !bm_host_readable(section))
        return NULL;
    for (int i = 0; i < h->nsettings; i++)
        if (strcasecmp(h->settings[i].section, section) == 0 &&
            strcasecmp(h->settings[i].key, key) == 0)
            return h->settings[i].value;
    return NULL;
}

static bm_formula *api_formula_compile(bm_host *h, const char *name, const char *source, char *err,
                                       size_t errlen)
{
    bm_lua_formula *f = bm_lua_compile(name, source, &h->lua, err, errlen);
    /* Compiled in campaign_add: the campaign being added owns it (status reports). */
    if (f && bm_wd_cur.active && bm_wd_cur.kind == BM_WD_CAMPAIGN_ADD)
        bm_lua_set_owner(f, bm_wd_cur.campaign);
    return (bm_formula *)f;
}

static int api_formula_eval(bm_formula *f, const bm_event *ev, double *out)
{
    char err[256];
    int rc = bm_lua_eval((bm_lua_formula *)f, ev, out, err, sizeof err);
    if (rc == BM_ERROR) {
        /* One line per failure would flood the log under a hostile formula: log the
         * first few and then every 1000th; the counters have the exact numbers. */
        bm_lua_stats st;
        bm_lua_stats_get((const bm_lua_formula *)f, &st);
        if (st.errors <= 5 || st.errors % 1000 == 0)
            bm_warn("lua", "formula=%s errors=%llu last_error=\"%s\"",
                    bm_lua_name((const bm_lua_formula *)f), (unsigned long long)st.errors, err);
    }
    return rc;
}

static void api_formula_free(bm_formula *f)
{
    bm_lua_free((bm_lua_formula *)f);
}

static void api_metric_add(bm_host *h, const char *name, double delta)
{
    if (!h || !name)
        return;
    pthread_mutex_lock(&h->lock);
    int i;
    for (i = 0; i < h->nmetrics; i++)
        if (strcmp(h->metrics[i].name, name) == 0)
            break;
    if (i == h->nmetrics && h->nmetrics < BM_HOST_MAX_METRICS) {
        snprintf(h->metrics[i].name, sizeof h->metrics[i].name, "%s", name);
        h->nmetrics++;
    }
    if (i < h->nmetrics)
        h->metrics[i].value += delta;
    pthread_mutex_unlock(&h->lock);
}

json_t *bm_host_metrics_json(bm_host *h)
{
    json_t *o = json_object();
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < h->nmetrics; i++)
        json_object_set_new(o, h->metrics[i].name, json_real(h->metrics[i].value));
    pthread_mutex_unlock(&h->lock);
    return o;
}

static int64_t api_now_ms(bm_host *h)
{
    (void)h;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int api_route(bm_routes *r, const char *event_type)
{
    return bm_routes_add(r, event_type);
}

static const bm_host_api g_api = {
    .size = sizeof(bm_host_api),
    .version = BM_HOST_API_VERSION,
    .log = api_log,
    .event_id = bm_hostapi_event_id,
    .event_game = bm_hostapi_event_game,
    .event_user = bm_hostapi_event_user,
    .event_type = bm_hostapi_event_type,
    .event_time_ms = bm_hostapi_event_time_ms,
    .event_number = bm_hostapi_event_number,
    .event_string = bm_hostapi_event_string,
    .event_matches = bm_hostapi_event_matches,
    .route = api_route,
    .state_get = bm_batch_state_get,
    .state_set_doc = bm_batch_state_set_doc,
    .state_put = bm_batch_state_put,
    .emit = bm_batch_emit,
    .reward_grant = bm_batch_reward_grant,
    .formula_compile = api_formula_compile,
    .formula_eval = api_formula_eval,
    .formula_free = api_formula_free,
    .community_member = bm_batch_community_member,
    .metric_add = api_metric_add,
    .now_ms = api_now_ms,
    .claim_once = bm_batch_claim_once,
    .standings_top = bm_batch_standings_top,
    .standings_rank = bm_batch_standings_rank,
    .result_put = bm_batch_result_put,
    .player_level = bm_batch_player_level,
    .state_each = bm_batch_state_each,
    .event_has = bm_hostapi_event_has,
    .reward_webhook_url = bm_rewards_api_webhook_url,
    .reward_secrets = bm_rewards_api_secrets,
    .reward_saved = bm_rewards_api_saved,
    .reward_save = bm_rewards_api_save,
    .reward_nonce = bm_rewards_api_nonce,
    .reward_wallet = bm_rewards_api_wallet,
    .setting = api_setting,
};

const bm_host_api *bm_host_api_get(void)
{
    return &g_api;
}
