/*
 * leaderboard.so: scores players on one event type.
 *
 * Score of an event: the campaign's customFormula (Lua) if set, else the
 * number at scoringMetadata.dataField under the event's data (1 for count).
 * The board value aggregates those scores per player: sum, max, min, count,
 * average or last. reached_ms records when the value last changed, by event
 * time; ranks break ties by it (earlier first). gating.minLevel compares the
 * player's level as the host keeps it. Semantics are in README.md.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "leaderboard.h"
#include "modcfg.h"

typedef struct lb_instance {
    const bm_host_api *api;
    bm_host *host;
} lb_instance;

static int lb_init(const bm_host_api *api, bm_host *host, void **instance, char *err, size_t errlen)
{
    if (api->size < offsetof(bm_host_api, event_has) + sizeof api->event_has ||
        !api->player_level || !api->event_has) {
        snprintf(err, errlen, "host API too old (size %u, version %u; needs version 2)",
                 (unsigned)api->size, (unsigned)api->version);
        return BM_ERROR;
    }
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
    if (lb->agg == LB_COUNT) {
        /* count counts events that carry the field, whatever its type. */
        *x = 1;
        return !lb->data_field[0] || in->api->event_has(ev, lb->data_field) ? BM_OK : BM_SKIP;
    }
    return in->api->event_number(ev, lb->data_field, x) == 0 ? BM_OK : BM_SKIP;
}

/* Adds score x at event time t to a state: BM_OK, or BM_ERROR (nothing changed)
 * when the value would stop being finite. */
static int aggregate(const lb_campaign *lb, bm_state *st, double x, int64_t t)
{
    double before = st->value;
    int first = st->count == 0;
    double value = st->value, aux = st->aux;
    switch (lb->agg) {
    case LB_SUM:
        value += x;
        break;
    case LB_MAX:
        if (first || x > value)
            value = x;
        break;
    case LB_MIN:
        if (first || x < value)
            value = x;
        break;
    case LB_COUNT:
        value += 1;
        break;
    case LB_AVERAGE:
        aux += x;
        value = aux / (double)(st->count + 1);
        break;
    case LB_LAST:
        value = x;
        break;
    }
    if (!isfinite(value) || !isfinite(aux))
        return BM_ERROR; /* two scores of 1e308 must not wipe the player's total */
    st->value = value;
    st->aux = aux;
    st->count++;
    if (first)
        st->first_ms = t;
    if (t > st->updated_ms)
        st->updated_ms = t;
    if (first || st->value != before)
        st->reached_ms = t;
    return BM_OK;
}

/* resetSchedule: counts x into the period of t (leaderboard_period.c explains). */
static int on_period_event(lb_instance *in, const lb_campaign *lb, bm_batch *b, bm_state *st,
                           const char *user, double x, int64_t t)
{
    const bm_host_api *api = in->api;
    int64_t s, e;
    int64_t ep = lb_period_of(lb, t, &s, &e);
    if (lb_period_closed(lb, ep, api->now_ms(in->host))) {
        api->metric_add(in->host, "leaderboard_late_dropped", 1);
        return BM_SKIP; /* its period is archived */
    }
    lb_doc d;
    lb_doc_read(st, &d);
    if (st->count == 0 || !d.has_p) {
        d.has_p = 1;
        d.p = ep;
    } else if (ep > d.p) {
        /* The first event of a later period: the finished one goes to history and
         * stays open for late events until it closes. */
        if (lb_history_put(api, b, lb, d.p, user, st->value, st->count, st->reached_ms) != BM_OK)
            return BM_ERROR;
        d.has_q = 1;
        d.q = d.p;
        d.pv = st->value;
        d.pa = st->aux;
        d.pc = st->count;
        d.pr = st->reached_ms;
        memset(st, 0, offsetof(bm_state, doc));
        d.p = ep;
    } else if (ep < d.p) {
        if (!d.has_q || ep != d.q) {
            api->metric_add(in->host, "leaderboard_late_dropped", 1);
            return BM_SKIP;
        }
        /* A late event of the previous period: counted there, its row rewritten. */
        bm_state prev = {.value = d.pv, .aux = d.pa, .count = d.pc, .reached_ms = d.pr};
        if (aggregate(lb, &prev, x, t) != BM_OK)
            return BM_ERROR;
        d.pv = prev.value;
        d.pa = prev.aux;
        d.pc = prev.count;
        d.pr = prev.reached_ms;
        if (lb_history_put(api, b, lb, d.q, user, d.pv, d.pc, d.pr) != BM_OK ||
            lb_doc_write(api, b, st, &d) != BM_OK)
            return BM_ERROR;
        return BM_OK;
    }
    if (aggregate(lb, st, x, t) != BM_OK) {
        api->metric_add(in->host, "leaderboard_nonfinite_refused", 1);
        return BM_ERROR;
    }
    return lb_doc_write(api, b, st, &d);
}

static int lb_on_event(void *instance, void *cctx, bm_batch *b, const bm_event *ev)
{
    lb_instance *in = instance;
    lb_campaign *lb = cctx;
    const bm_host_api *api = in->api;
    const char *user = api->event_user(ev);
    if (!lb_whitelisted(lb, user) || !bm_modcfg_member_any(api, b, lb->communities, user))
        return BM_SKIP;
    if (lb->min_level > 0) {
        double level;
        if (api->player_level(b, ev, &level) != 0 || level < lb->min_level)
            return BM_SKIP;
    }
    double x;
    int rc = score_of(in, lb, ev, &x);
    if (rc != BM_OK)
        return rc;
    int64_t t = api->event_time_ms(ev);
    bm_state *st = api->state_get(b, lb->id, user);
    if (lb->reset.kind == BM_PERIOD_NONE) {
        if (aggregate(lb, st, x, t) != BM_OK) {
            api->metric_add(in->host, "leaderboard_nonfinite_refused", 1);
            return BM_ERROR;
        }
    } else {
        int rc2 = on_period_event(in, lb, b, st, user, x, t);
        if (rc2 != BM_OK)
            return rc2;
    }
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

static int lb_campaign_tick(void *instance, void *cctx, bm_batch *b, int64_t now_ms)
{
    lb_instance *in = instance;
    return lb_period_tick(in->api, in->host, cctx, b, now_ms);
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
    .on_campaign_tick = lb_campaign_tick,  /* closes finished periods (resetSchedule) */
};

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    return &lb_module;
}
