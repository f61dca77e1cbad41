/*
 * quest module: multi-condition quests with rewards (product document,
 * "Quests"). Semantics are specified in README.md next to this file.
 *
 * All per-user progress lives in the host's state (value, count, times, the
 * JSON progress document); the campaign context holds only the parsed
 * config, so the host may drop its cache or reload this module at any time.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <brightmatter/module.h>

#include "quest.h"
#include "rfc3339.h"

#define TOPIC_PROGRESS "quest.progress"
#define TOPIC_UI "ui.quest_updates"

typedef struct quest_instance {
    const bm_host_api *api;
    bm_host *host;
} quest_instance;

/* Progress of one condition in the current attempt. */
typedef struct qprog {
    int64_t n;      /* matching events counted */
    double v;       /* value conditions: the aggregate */
    int64_t t0, t1; /* time_based: earliest and latest matching event time */
} qprog;

static void format_time(int64_t ms, char *buf, size_t len)
{
    bm_rfc3339_format(ms, buf, len); /* the host's own source, compiled in */
}

/* Reads the progress document; anything missing or malformed reads as zero. */
static void doc_read(const char *doc, const quest_cfg *cfg, qprog *p, int64_t *first_done)
{
    memset(p, 0, cfg->nconds * sizeof *p);
    *first_done = 0;
    json_t *root = doc ? json_loads(doc, 0, NULL) : NULL;
    json_t *c = json_object_get(root, "c");
    for (size_t i = 0; i < cfg->nconds && i < json_array_size(c); i++) {
        json_t *e = json_array_get(c, i);
        p[i].n = json_integer_value(json_array_get(e, 0));
        if (cfg->conds[i].type == QC_VALUE) {
            p[i].v = json_number_value(json_array_get(e, 1));
        } else if (cfg->conds[i].type == QC_TIME) {
            p[i].t0 = json_integer_value(json_array_get(e, 1));
            p[i].t1 = json_integer_value(json_array_get(e, 2));
        }
    }
    *first_done = json_integer_value(json_object_get(root, "fc"));
    json_decref(root);
}

/* {"c":[[n],[n,v],[n,t0,t1],...],"fc":ms}: the smallest shape that round-trips exactly. */
static char *doc_write(const quest_cfg *cfg, const qprog *p, int64_t first_done)
{
    json_t *root = json_object();
    json_t *c = json_array();
    for (size_t i = 0; i < cfg->nconds; i++) {
        json_t *e = json_array();
        json_array_append_new(e, json_integer(p[i].n));
        if (cfg->conds[i].type == QC_VALUE) {
            json_array_append_new(e, json_real(p[i].v));
        } else if (cfg->conds[i].type == QC_TIME) {
            json_array_append_new(e, json_integer(p[i].t0));
            json_array_append_new(e, json_integer(p[i].t1));
        }
        json_array_append_new(c, e);
    }
    json_object_set_new(root, "c", c);
    if (first_done)
        json_object_set_new(root, "fc", json_integer(first_done));
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(root);
    return s;
}

static int cmp_op(int op, double x, double target)
{
    switch (op) {
    case QOP_LTE:
        return x <= target;
    case QOP_EQ:
        return x == target;
    case QOP_EXISTS:
        return 1;
    default:
        return x >= target;
    }
}

/* Whether a condition holds for the progress of the current attempt. */
static int cond_holds(const quest_cond *c, const qprog *p)
{
    switch (c->type) {
    case QC_COUNT:
        return c->op == QOP_EXISTS ? p->n >= 1 : cmp_op(c->op, (double)p->n, c->target);
    case QC_VALUE:
        return p->n >= 1 && cmp_op(c->op, p->v, c->target);
    case QC_EXISTS:
        return p->n >= 1;
    default:
        return p->n >= 1 && (double)(p->t1 - p->t0) / 1000.0 >= c->target;
    }
}

/* The number shown as "current" for a condition. */
static double cond_current(const quest_cond *c, const qprog *p)
{
    if (c->type == QC_VALUE)
        return p->v;
    if (c->type == QC_TIME)
        return p->n ? (double)(p->t1 - p->t0) / 1000.0 : 0;
    return (double)p->n;
}

/* 1 if the event matches the condition (type, filter, field); *x gets data.<field>. */
static int cond_match(const bm_host_api *api, const quest_cond *c, const bm_event *ev,
                      const char *type, double *x)
{
    if (strcmp(type, c->event_type) != 0)
        return 0;
    if (c->filter && !api->event_matches(ev, c->filter))
        return 0;
    if (!c->field)
        return 1;
    if (api->event_number(ev, c->field, x) == 0)
        return 1;
    return c->type != QC_VALUE && api->event_string(ev, c->field) != NULL;
}

static void cond_apply(const quest_cond *c, qprog *p, double x, int64_t t)
{
    p->n++;
    if (c->type == QC_VALUE) {
        if (p->n == 1 || c->agg == QAGG_LAST)
            p->v = x;
        else if (c->agg == QAGG_SUM)
            p->v += x;
        else if (c->agg == QAGG_MAX)
            p->v = x > p->v ? x : p->v;
        else
            p->v = x < p->v ? x : p->v;
    } else if (c->type == QC_TIME) {
        if (p->n == 1 || t < p->t0)
            p->t0 = t;
        if (p->n == 1 || t > p->t1)
            p->t1 = t;
    }
}

/*
 * Prerequisites are met when every required quest was first completed at an
 * event time strictly before this event. Using the first completion (never
 * the latest) and a strict bound makes the answer the same whichever order
 * the host runs campaigns for one event in.
 */
static int prerequisites_met(const quest_instance *qi, const quest_cfg *cfg, bm_batch *b,
                             const char *user, int64_t t)
{
    for (size_t i = 0; i < cfg->nrequired; i++) {
        bm_state *o = qi->api->state_get(b, cfg->required[i], user);
        if (!o || o->completed < 1)
            return 0;
        json_t *d = o->doc ? json_loads(o->doc, 0, NULL) : NULL;
        int64_t fc = json_integer_value(json_object_get(d, "fc"));
        json_decref(d);
        if (!fc)
            fc = o->completed_ms;
        if (fc >= t)
            return 0;
    }
    return 1;
}

static json_t *progress_json(const quest_cfg *cfg, const qprog *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < cfg->nconds; i++)
        json_array_append_new(
            a, json_pack("{s:f, s:f, s:b}", "current", cond_current(&cfg->conds[i], &p[i]),
                         "target", cfg->conds[i].target, "met", cond_holds(&cfg->conds[i], &p[i])));
    return a;
}

static void emit_json(const quest_instance *qi, bm_batch *b, const char *topic, const char *key,
                      json_t *msg, int flags)
{
    char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (s)
        qi->api->emit(b, topic, key, s, flags);
    free(s);
    json_decref(msg);
}

static void completion_key(const quest_cfg *cfg, const char *user, int32_t n, char *key, size_t len)
{
    snprintf(key, len, "quest:%s:%s:%d", cfg->id, user, (int)n);
}

/* Grants the reward of completion n (once per idempotency key, enforced by the host). */
static int grant(const quest_instance *qi, const quest_cfg *cfg, bm_batch *b, const char *user,
                 int32_t n)
{
    char key[512];
    completion_key(cfg, user, n, key, sizeof key);
    if (qi->api->reward_grant(b, cfg->id, user, key, cfg->reward_json) < 0)
        return BM_RETRY;
    qi->api->metric_add(qi->host, "quest_completions", 1);
    return BM_OK;
}

/* Tells the progress and UI topics about completion st->completed. */
static void complete(const quest_instance *qi, const quest_cfg *cfg, bm_batch *b,
                     const bm_event *ev, const char *user, const bm_state *st)
{
    const bm_host_api *api = qi->api;
    char key[512], when[40];
    completion_key(cfg, user, st->completed, key, sizeof key);
    format_time(st->completed_ms, when, sizeof when);
    const char *eid = api->event_id(ev);
    emit_json(qi, b, TOPIC_PROGRESS, user,
              json_pack("{s:s, s:s, s:i, s:s, s:s, s:s*}", "questId", cfg->id, "userId", user,
                        "completion", st->completed, "completedAt", when, "idempotencyKey", key,
                        "eventId", eid),
              0);
    json_t *reward = json_loads(cfg->reward_json, 0, NULL);
    emit_json(qi, b, TOPIC_UI, user,
              json_pack("{s:s, s:s, s:s, s:b, s:i, s:o*, s:s}", "type", "completed", "questId",
                        cfg->id, "userId", user, "completed", 1, "completions", st->completed,
                        "reward", reward, "timestamp", when),
              0);
}

static int quest_init(const bm_host_api *api, bm_host *host, void **instance, char *err,
                      size_t errlen)
{
    if (api->size < offsetof(bm_host_api, now_ms) + sizeof api->now_ms) {
        snprintf(err, errlen, "host API too old (size %u)", (unsigned)api->size);
        return BM_ERROR;
    }
    quest_instance *qi = calloc(1, sizeof *qi);
    if (!qi) {
        snprintf(err, errlen, "out of memory");
        return BM_ERROR;
    }
    qi->api = api;
    qi->host = host;
    *instance = qi;
    return BM_OK;
}

static int quest_campaign_add(void *instance, const bm_campaign *c, bm_routes *routes, void **cctx,
                              char *err, size_t errlen)
{
    quest_instance *qi = instance;
    quest_cfg *cfg = quest_cfg_parse(c->id, c->config_json, err, errlen);
    if (!cfg)
        return BM_ERROR;
    for (size_t i = 0; i < cfg->nconds; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(cfg->conds[j].event_type, cfg->conds[i].event_type) == 0;
        if (!seen && routes && qi->api->route(routes, cfg->conds[i].event_type) != 0) {
            snprintf(err, errlen, "conditions[%zu].eventType: cannot subscribe", i);
            quest_cfg_free(cfg);
            return BM_ERROR;
        }
    }
    *cctx = cfg;
    return BM_OK;
}

static void quest_campaign_remove(void *instance, void *cctx)
{
    (void)instance;
    quest_cfg_free(cctx);
}

static int quest_on_event(void *instance, void *cctx, bm_batch *b, const bm_event *ev)
{
    quest_instance *qi = instance;
    const quest_cfg *cfg = cctx;
    const bm_host_api *api = qi->api;
    const char *type = api->event_type(ev);
    const char *user = api->event_user(ev);
    int64_t t = api->event_time_ms(ev);
    double xs[QUEST_MAX_CONDITIONS];
    int hit[QUEST_MAX_CONDITIONS], any = 0;

    /* Cheap, state-free checks first: most events touch no condition. */
    for (size_t i = 0; i < cfg->nconds; i++) {
        xs[i] = 0;
        hit[i] = cond_match(api, &cfg->conds[i], ev, type, &xs[i]);
        any |= hit[i];
    }
    if (!any || !quest_cfg_whitelisted(cfg, user))
        return BM_SKIP;
    if (cfg->has_min_level) {
        double lvl;
        if (api->event_number(ev, "level", &lvl) != 0 || lvl < cfg->min_level)
            return BM_SKIP;
    }

    bm_state *st = api->state_get(b, cfg->id, user);
    if (!st)
        return BM_RETRY;
    if (st->completed > 0 && (!cfg->repeatable || t < st->completed_ms + cfg->cooldown_ms))
        return BM_SKIP;
    if (!prerequisites_met(qi, cfg, b, user, t))
        return BM_SKIP;

    qprog p[QUEST_MAX_CONDITIONS];
    int64_t first_done;
    doc_read(st->doc, cfg, p, &first_done);
    size_t met = 0;
    for (size_t i = 0; i < cfg->nconds; i++) {
        if (hit[i])
            cond_apply(&cfg->conds[i], &p[i], xs[i], t);
        met += (size_t)cond_holds(&cfg->conds[i], &p[i]);
    }

    /* Everything that can fail happens before the state is touched, so a
     * retried event finds the state as it was. */
    int done = met == cfg->nconds;
    int32_t n = st->completed + (done ? 1 : 0);
    if (done) {
        if (!first_done)
            first_done = t;
        if (cfg->repeatable) {
            /* The next attempt starts from nothing (after the cooldown). */
            memset(p, 0, cfg->nconds * sizeof *p);
            met = 0;
            for (size_t i = 0; i < cfg->nconds; i++)
                met += (size_t)cond_holds(&cfg->conds[i], &p[i]);
        }
    }
    char *doc = doc_write(cfg, p, first_done);
    int rc = doc ? BM_OK : BM_RETRY;
    if (rc == BM_OK && done)
        rc = grant(qi, cfg, b, user, n);
    if (rc == BM_OK && api->state_set_doc(b, st, doc) != 0)
        rc = BM_RETRY;
    free(doc);
    if (rc != BM_OK)
        return rc;
    st->count++;
    if (st->count == 1)
        st->first_ms = t;
    st->updated_ms = t;
    if (done) {
        st->completed = n;
        st->completed_ms = t;
    }
    if ((double)met != st->value) {
        st->value = (double)met;
        st->reached_ms = t;
    }
    if (api->state_put(b, st, NULL) != 0)
        return BM_RETRY;

    if (done)
        complete(qi, cfg, b, ev, user, st);
    char key[512], when[40];
    snprintf(key, sizeof key, "%s:%s", cfg->id, user);
    format_time(t, when, sizeof when);
    emit_json(qi, b, TOPIC_UI, key,
              json_pack("{s:s, s:s, s:s, s:b, s:i, s:o, s:s}", "type", "progress", "questId",
                        cfg->id, "userId", user, "completed", st->completed > 0 && !cfg->repeatable,
                        "completions", st->completed, "conditions", progress_json(cfg, p),
                        "timestamp", when),
              BM_EMIT_COALESCE);
    return BM_OK;
}

static void quest_destroy(void *instance)
{
    free(instance);
}

static const bm_module quest_module = {
    BM_MODULE_HEADER,
    .name = "quest",          /* unique module name */
    .version = "1.0.0",       /* semantic version of this module */
    .kind = BM_KIND_CAMPAIGN, /* consumes game events */
    .flags = 0,               /* reserved */
    .serves = "quest",        /* campaign type handled */
    .description = "multi-condition quests with rewards, repeats and prerequisites",
    .init = quest_init,                       /* instance = host API + host */
    .campaign_add = quest_campaign_add,       /* validate config, subscribe event types */
    .campaign_remove = quest_campaign_remove, /* free the parsed config */
    .on_event = quest_on_event,               /* count, complete, grant, notify */
    .on_tick = NULL,                          /* nothing is time-driven */
    .on_reward = NULL,                        /* not a reward module */
    .query = NULL,                            /* progress is read from user_progress */
    .drain = NULL,                            /* nothing buffered in the module */
    .destroy = quest_destroy,                 /* free the instance */
    .spare = {NULL},                          /* must stay NULL */
};

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    return &quest_module;
}
