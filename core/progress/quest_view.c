/*
 * A player's quest progress as JSON: each condition as configured, with the
 * player's current value and whether it is met. The progress document and the
 * rules for "met" are the ones modules/quest/README.md specifies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "progress/progress.h"

/* One condition as configured plus the user's progress on it. */
typedef struct qview {
    const char *type, *event_type, *field, *op, *agg;
    json_t *filter;
    double target;
    long long n;
    double current;
    int has_current, met;
} qview;

static int cmp(const char *op, double x, double target)
{
    if (strcmp(op, "lte") == 0)
        return x <= target;
    if (strcmp(op, "eq") == 0)
        return x == target;
    if (strcmp(op, "exists") == 0)
        return 1;
    return x >= target;
}

static const char *str_or(json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : dflt;
}

/* Fills v from condition c and its progress entry e ([n], [n,v] or [n,t0,t1]). */
static void view_condition(json_t *c, json_t *e, qview *v)
{
    memset(v, 0, sizeof *v);
    v->type = str_or(c, "type", "count");
    v->event_type = str_or(c, "eventType", "?");
    v->field = str_or(c, "field", NULL);
    v->op = str_or(c, "operator", strcmp(v->type, "exists") == 0 ? "exists" : "gte");
    v->filter = json_object_get(c, "filter");
    v->target = json_number_value(json_object_get(c, "target"));
    v->n = json_integer_value(json_array_get(e, 0));
    if (strcmp(v->type, "value") == 0) {
        v->agg = str_or(c, "aggregate",
                        strcmp(v->op, "lte") == 0  ? "min"
                        : strcmp(v->op, "eq") == 0 ? "last"
                                                   : "max");
        v->has_current = v->n > 0;
        v->current = json_number_value(json_array_get(e, 1));
        v->met = v->n > 0 && cmp(v->op, v->current, v->target);
    } else if (strcmp(v->type, "time_based") == 0) {
        v->has_current = 1;
        v->current = v->n ? (double)(json_integer_value(json_array_get(e, 2)) -
                                     json_integer_value(json_array_get(e, 1))) /
                                1000.0
                          : 0;
        v->met = v->n > 0 && v->current >= v->target;
    } else if (strcmp(v->type, "exists") == 0) {
        v->has_current = 1;
        v->current = (double)v->n;
        v->met = v->n > 0;
    } else {
        v->has_current = 1;
        v->current = (double)v->n;
        v->met = strcmp(v->op, "exists") == 0 ? v->n > 0 : cmp(v->op, (double)v->n, v->target);
    }
}

static json_t *view_json(const bm_pv_campaign *cc, const char *user, const bm_pv_progress *p,
                         const qview *vs, size_t nv, int repeatable, double cooldown_h,
                         const char *status)
{
    char t[40];
    json_t *o = json_object(), *conds = json_array();
    json_object_set_new(o, "campaignId", json_string(cc->id));
    json_object_set_new(o, "name", json_string(cc->name));
    json_object_set_new(o, "userId", json_string(user));
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "completions", json_integer(p->completed));
    bm_rfc3339_format(p->completed_ms, t, sizeof t);
    json_object_set_new(o, "completedAt", p->completed_ms ? json_string(t) : json_null());
    json_object_set_new(o, "repeatable", json_boolean(repeatable));
    json_object_set_new(o, "cooldownHours", json_real(cooldown_h));
    json_object_set_new(o, "eventCount", json_integer(p->count));
    bm_rfc3339_format(p->last_ms, t, sizeof t);
    json_object_set_new(o, "lastEventAt", p->last_ms ? json_string(t) : json_null());
    for (size_t i = 0; i < nv; i++) {
        const qview *v = &vs[i];
        json_t *c = json_pack("{s:s, s:s, s:s, s:f, s:I, s:b}", "type", v->type, "eventType",
                              v->event_type, "operator", v->op, "target", v->target, "events",
                              (json_int_t)v->n, "met", v->met);
        json_object_set_new(c, "current", v->has_current ? json_real(v->current) : json_null());
        if (v->field)
            json_object_set_new(c, "field", json_string(v->field));
        if (v->agg)
            json_object_set_new(c, "aggregate", json_string(v->agg));
        if (json_object_size(v->filter) > 0)
            json_object_set(c, "filter", v->filter);
        json_array_append_new(conds, c);
    }
    json_object_set_new(o, "conditions", conds);
    return o;
}

json_t *bm_pv_quest(const bm_pv_campaign *cc, const char *user, const bm_pv_progress *p)
{
    json_t *conds = json_object_get(cc->config, "conditions");
    size_t nv = json_array_size(conds);
    qview *vs = calloc(nv + 1, sizeof *vs);
    if (!vs)
        return NULL;
    json_t *prog = json_object_get(p->doc, "c");
    for (size_t i = 0; i < nv; i++)
        view_condition(json_array_get(conds, i), json_array_get(prog, i), &vs[i]);
    int repeatable = json_is_true(json_object_get(cc->config, "repeatable"));
    double cooldown_h = json_number_value(json_object_get(cc->config, "cooldownHours"));
    const char *status = !p->found                         ? "not_started"
                         : p->completed > 0 && !repeatable ? "completed"
                                                           : "in_progress";
    json_t *o = view_json(cc, user, p, vs, nv, repeatable, cooldown_h, status);
    free(vs);
    return o;
}
