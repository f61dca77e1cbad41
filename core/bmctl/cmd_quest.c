/*
 * bmctl quest progress CAMPAIGN USER [--json]: a player's progress in a quest,
 * read from PostgreSQL (campaign config + the user_progress row the quest
 * module writes). The progress document and the rules for "met" are the
 * ones modules/quest/README.md specifies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "bmctl/ctl_util.h"
#include "pg/pg.h"

static void quest_usage(FILE *out)
{
    fprintf(out, "usage: bmctl quest progress CAMPAIGN USER [--json]\n"
                 "  Shows each condition's progress (current vs target, met or not), the\n"
                 "  completions and the last completion time of USER in quest CAMPAIGN.\n");
}

/* One condition as configured plus the user's progress on it. */
typedef struct qview {
    const char *type, *event_type, *field, *op, *agg;
    json_t *filter;
    json_t *tjson; /* the target as configured: number, string or boolean */
    double target;
    int pending; /* an upper bound not decided yet (decided when the quest ends) */
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
    if (strcmp(op, "neq") == 0)
        return x != target;
    if (strcmp(op, "exists") == 0)
        return 1;
    return x >= target;
}

static const char *str_or(json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : dflt;
}

/* Fills v from condition c and its progress entry e ([n], [n,v] or [n,t0,t1]); `decided`:
 * the window's end has decided the player's upper bounds (flags bit 1). */
static void view_condition(json_t *c, json_t *e, int decided, qview *v)
{
    memset(v, 0, sizeof *v);
    v->type = str_or(c, "type", "count");
    v->event_type = str_or(c, "eventType", "?");
    v->field = str_or(c, "field", NULL);
    v->op = str_or(c, "operator", strcmp(v->type, "exists") == 0 ? "exists" : "gte");
    v->filter = json_object_get(c, "filter");
    v->tjson = json_object_get(c, "target");
    v->target = json_number_value(v->tjson);
    v->n = json_integer_value(json_array_get(e, 0));
    if (strcmp(v->type, "value") == 0 && (json_is_string(v->tjson) || json_is_boolean(v->tjson))) {
        /* eq / neq on a string or boolean: n counts the events whose field passed. */
        v->has_current = 1;
        v->current = (double)v->n;
        v->met = v->n > 0;
    } else if (strcmp(v->type, "value") == 0) {
        v->agg = str_or(c, "aggregate",
                        strcmp(v->op, "lte") == 0                               ? "min"
                        : strcmp(v->op, "eq") == 0 || strcmp(v->op, "neq") == 0 ? "last"
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
        /* count lte / eq can still be broken: it holds only once the quest has ended. */
        if (strcmp(v->op, "lte") == 0 || strcmp(v->op, "eq") == 0) {
            v->pending = !decided;
            v->met = v->met && decided;
        }
    }
}

static void print_text(const ctl_campaign *cc, const char *user, const ctl_progress *p,
                       const qview *vs, size_t nv, int repeatable, double cooldown_h,
                       const char *status)
{
    char t1[40], t2[40];
    size_t met = 0;
    for (size_t i = 0; i < nv; i++)
        met += (size_t)vs[i].met;
    printf("quest:       %s (%s)\n", cc->name, cc->id);
    printf("user:        %s\n", user);
    ctl_time_format(p->completed_ms, t1, sizeof t1);
    printf("completions: %d (last %s)\n", p->completed, t1);
    if (repeatable)
        printf("repeatable:  yes, cooldown %g h\n", cooldown_h);
    printf("status:      %s (%zu of %zu conditions met)\n", status, met, nv);
    ctl_time_format(p->first_ms, t1, sizeof t1);
    ctl_time_format(p->last_ms, t2, sizeof t2);
    printf("events:      %lld counted (first %s, last %s)\n", p->count, t1, t2);
    printf("conditions:\n  %-3s %-10s %-20s %-16s %-6s %12s %12s  %s\n", "#", "TYPE", "EVENT",
           "FIELD", "OP", "CURRENT", "TARGET", "MET");
    for (size_t i = 0; i < nv; i++) {
        const qview *v = &vs[i];
        char cur[32], tgt[32];
        if (v->has_current)
            snprintf(cur, sizeof cur, "%g", v->current);
        else
            snprintf(cur, sizeof cur, "-");
        if (json_is_string(v->tjson))
            snprintf(tgt, sizeof tgt, "\"%.28s\"", json_string_value(v->tjson));
        else if (json_is_boolean(v->tjson))
            snprintf(tgt, sizeof tgt, "%s", json_is_true(v->tjson) ? "true" : "false");
        else
            snprintf(tgt, sizeof tgt, "%g", v->target);
        printf("  %-3zu %-10s %-20s %-16s %-6s %12s %12s  %s", i + 1, v->type, v->event_type,
               v->field ? v->field : "-", v->op, cur, strcmp(v->op, "exists") == 0 ? "-" : tgt,
               v->met       ? "yes"
               : v->pending ? "at end"
                            : "no");
        if (v->agg)
            printf("  (%s of %lld events)", v->agg, v->n);
        if (json_object_size(v->filter) > 0) {
            char *f = json_dumps(v->filter, JSON_COMPACT | JSON_SORT_KEYS);
            printf("  filter %s", f ? f : "");
            free(f);
        }
        printf("\n");
    }
}

static json_t *view_json(const ctl_campaign *cc, const char *user, const ctl_progress *p,
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
    ctl_time_format(p->completed_ms, t, sizeof t);
    json_object_set_new(o, "completedAt", p->completed_ms ? json_string(t) : json_null());
    json_object_set_new(o, "repeatable", json_boolean(repeatable));
    json_object_set_new(o, "cooldownHours", json_real(cooldown_h));
    json_object_set_new(o, "eventCount", json_integer(p->count));
    ctl_time_format(p->last_ms, t, sizeof t);
    json_object_set_new(o, "lastEventAt", p->last_ms ? json_string(t) : json_null());
    for (size_t i = 0; i < nv; i++) {
        const qview *v = &vs[i];
        json_t *c =
            json_pack("{s:s, s:s, s:s, s:O, s:I, s:b}", "type", v->type, "eventType", v->event_type,
                      "operator", v->op, "target", v->tjson ? v->tjson : json_null(), "events",
                      (json_int_t)v->n, "met", v->met);
        if (v->pending)
            json_object_set_new(c, "decidedAtEnd", json_true());
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

static int quest_progress(bm_ctl *ctl, const char *campaign, const char *user, int as_json)
{
    char err[1024] = "";
    int rc = 1;
    ctl_campaign cc = {0};
    ctl_progress p = {0};
    qview *vs = NULL;
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "quest: %s\n", err);
        goto fail;
    }
    int found = ctl_campaign_load(c, campaign, &cc, err, sizeof err);
    if (found != 0) {
        fprintf(stderr, "quest: %s\n", found > 0 ? "no such campaign" : err);
        goto fail;
    }
    if (strcmp(cc.type, "quest") != 0) {
        fprintf(stderr, "quest: campaign %s is a %s, not a quest\n", campaign, cc.type);
        goto fail;
    }
    if (ctl_progress_load(c, campaign, user, &p, err, sizeof err) != 0) {
        fprintf(stderr, "quest: %s\n", err);
        goto fail;
    }
    json_t *conds = json_object_get(cc.config, "conditions");
    size_t nv = json_array_size(conds);
    vs = calloc(nv + 1, sizeof *vs);
    if (!vs)
        goto fail;
    json_t *prog = json_object_get(p.doc, "c");
    for (size_t i = 0; i < nv; i++)
        view_condition(json_array_get(conds, i), json_array_get(prog, i), (p.flags & 2) != 0,
                       &vs[i]);
    int repeatable = json_is_true(json_object_get(cc.config, "repeatable"));
    double cooldown_h = json_number_value(json_object_get(cc.config, "cooldownHours"));
    const char *status = !p.found                         ? "not_started"
                         : p.completed > 0 && !repeatable ? "completed"
                                                          : "in_progress";
    if (as_json)
        ctl_print_json(view_json(&cc, user, &p, vs, nv, repeatable, cooldown_h, status));
    else
        print_text(&cc, user, &p, vs, nv, repeatable, cooldown_h, status);
    rc = 0;
fail:
    free(vs);
    ctl_progress_clear(&p);
    ctl_campaign_clear(&cc);
    PQfinish(c);
    return rc;
}

int bm_cmd_quest(bm_ctl *ctl, int argc, char **argv)
{
    ctl_args a;
    char err[256];
    if (ctl_args_parse(argc, argv, 1, &a, err, sizeof err) != 0) {
        fprintf(stderr, "quest: %s\n", err);
        quest_usage(stderr);
        return 2;
    }
    if (a.help) {
        quest_usage(stdout);
        return 0;
    }
    if (a.npos != 3 || strcmp(a.pos[0], "progress") != 0 || a.premium) {
        quest_usage(stderr);
        return 2;
    }
    return quest_progress(ctl, a.pos[1], a.pos[2], a.json);
}
