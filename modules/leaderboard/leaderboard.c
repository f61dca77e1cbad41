/*
 * leaderboard.so: scores players on one event type.
 *
 * Score of an event: the campaign's customFormula (Lua) if set, else the
 * number at scoringMetadata.dataField under the event's data (1 for count).
 * The board value aggregates those scores per player: sum, max, min, count,
 * average or last. reached_ms records when the value last changed, by event
 * time; ranks break ties by it (earlier first). A player's level for
 * gating.minLevel is the `level` the scoring event carries in its data.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leaderboard.h"

typedef struct lb_instance {
    const bm_host_api *api;
    bm_host *host;
} lb_instance;

static int lb_init(const bm_host_api *api, bm_host *host, void **instance, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    lb_instance *in = calloc(1, sizeof *in);
    if (!in)
        return BM_ERROR;
    in->api = api;
    in->host = host;
    *instance = in;
    return BM_OK;
}

static int lb_campaign_add(void *instance, const bm_campaign *c, bm_routes *routes, void **cctx,
                           char *err, size_t errlen)
{
    lb_instance *in = instance;
    lb_campaign *lb = lb_config_parse(in->api, in->host, c, err, errlen);
    if (!lb)
        return BM_ERROR;
    if (in->api->route(routes, lb->event_type) != BM_OK) {
        lb_config_free(in->api, lb);
        return BM_ERROR;
    }
    *cctx = lb;
    return BM_OK;
}

static void lb_campaign_remove(void *instance, void *cctx)
{
    lb_instance *in = instance;
    lb_config_free(in->api, cctx);
}

/* The event's score, or BM_SKIP / BM_ERROR. */
static int score_of(const lb_instance *in, const lb_campaign *lb, const bm_event *ev, double *x)
{
    if (lb->formula)
        return in->api->formula_eval(lb->formula, ev, x);
    if (lb->agg == LB_COUNT && !lb->data_field[0]) {
        *x = 1;
        return BM_OK;
    }
    return in->api->event_number(ev, lb->data_field, x) == 0 ? BM_OK : BM_SKIP;
}

static int lb_on_event(void *instance, void *cctx, bm_batch *b, const bm_event *ev)
{
    lb_instance *in = instance;
    lb_campaign *lb = cctx;
    const bm_host_api *api = in->api;
    const char *user = api->event_user(ev);
    if (!lb_whitelisted(lb, user))
        return BM_SKIP;
    if (lb->min_level > 0) {
        double level;
        if (api->event_number(ev, "level", &level) != 0 || level < lb->min_level)
            return BM_SKIP;
    }
    double x;
    int rc = score_of(in, lb, ev, &x);
    if (rc != BM_OK)
        return rc;
    int64_t t = api->event_time_ms(ev);
    bm_state *st = api->state_get(b, lb->id, user);
    double before = st->value;
    int first = st->count == 0;
    switch (lb->agg) {
    case LB_SUM:
        st->value += x;
        break;
    case LB_MAX:
        if (first || x > st->value)
            st->value = x;
        break;
    case LB_MIN:
        if (first || x < st->value)
            st->value = x;
        break;
    case LB_COUNT:
        st->value += 1;
        break;
    case LB_AVERAGE:
        st->aux += x;
        st->value = st->aux / (double)(st->count + 1);
        break;
    case LB_LAST:
        st->value = x;
        break;
    }
    st->count++;
    if (first)
        st->first_ms = t;
    if (t > st->updated_ms)
        st->updated_ms = t;
    if (first || st->value != before)
        st->reached_ms = t;
    api->state_put(b, st, "leaderboard.updates");
    api->emit(b, "ui.leaderboard_refresh", lb->id, lb->refresh_json, BM_EMIT_COALESCE);
    return BM_OK;
}

static int lb_query(void *instance, void *cctx, const char *request_json, char **response)
{
    (void)instance;
    (void)request_json;
    lb_campaign *lb = cctx;
    static const char *const aggs[] = {"sum", "max", "min", "count", "average", "last"};
    /* Echoed config strings are escaped by jansson: a quote in an event type
     * cannot break the answer. */
    json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:i}", "eventType", lb->event_type, "dataField",
                          lb->data_field, "aggregation", aggs[lb->agg], "customFormula",
                          lb->formula != NULL, "maxEntries", lb->max_entries);
    *response = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return *response ? BM_OK : BM_ERROR;
}

static void lb_destroy(void *instance)
{
    free(instance);
}

static const bm_module lb_module = {
    BM_MODULE_HEADER,
    .name = "leaderboard",
    .version = "1.0.0",
    .kind = BM_KIND_CAMPAIGN,
    .serves = "leaderboard",
    .description = "ranked boards: sum/max/min/count/average/last or a Lua formula",
    .init = lb_init,                       /* instance holds the host API */
    .campaign_add = lb_campaign_add,       /* validates LeaderboardConfig, routes eventType */
    .campaign_remove = lb_campaign_remove, /* frees the parsed config and formula */
    .on_event = lb_on_event,               /* scores one event into the player's state */
    .on_tick = NULL,                       /* boards need no timer */
    .on_reward = NULL,                     /* not a reward module */
    .query = lb_query,                     /* describes the board's scoring */
    .drain = NULL,                         /* nothing in flight between batches */
    .destroy = lb_destroy,                 /* frees the instance */
};

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    return &lb_module;
}
