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

/* The text form of a quest view (progress/progress.h). */
static void print_text(json_t *o, const bm_pv_progress *p)
{
    char t1[40], t2[40];
    json_t *conds = json_object_get(o, "conditions");
    size_t met = 0, i;
    json_t *v;
    json_array_foreach(conds, i, v)
    {
        met += json_is_true(json_object_get(v, "met"));
    }
    printf("quest:       %s (%s)\n", json_string_value(json_object_get(o, "name")),
           json_string_value(json_object_get(o, "campaignId")));
    printf("user:        %s\n", json_string_value(json_object_get(o, "userId")));
    ctl_time_format(p->completed_ms, t1, sizeof t1);
    printf("completions: %d (last %s)\n", p->completed, t1);
    if (json_is_true(json_object_get(o, "repeatable")))
        printf("repeatable:  yes, cooldown %g h\n",
               json_number_value(json_object_get(o, "cooldownHours")));
    printf("status:      %s (%zu of %zu conditions met)\n",
           json_string_value(json_object_get(o, "status")), met, json_array_size(conds));
    ctl_time_format(p->first_ms, t1, sizeof t1);
    ctl_time_format(p->last_ms, t2, sizeof t2);
    printf("events:      %lld counted (first %s, last %s)\n", p->count, t1, t2);
    printf("conditions:\n  %-3s %-10s %-20s %-16s %-6s %12s %12s  %s\n", "#", "TYPE", "EVENT",
           "FIELD", "OP", "CURRENT", "TARGET", "MET");
    json_array_foreach(conds, i, v)
    {
        char cur[32], tgt[32];
        json_t *c = json_object_get(v, "current");
        const char *op = json_string_value(json_object_get(v, "operator"));
        const char *field = json_string_value(json_object_get(v, "field"));
        const char *agg = json_string_value(json_object_get(v, "aggregate"));
        json_t *filter = json_object_get(v, "filter");
        if (json_is_number(c))
            snprintf(cur, sizeof cur, "%g", json_number_value(c));
        else
            snprintf(cur, sizeof cur, "-");
        snprintf(tgt, sizeof tgt, "%g", json_number_value(json_object_get(v, "target")));
        printf("  %-3zu %-10s %-20s %-16s %-6s %12s %12s  %s", i + 1,
               json_string_value(json_object_get(v, "type")),
               json_string_value(json_object_get(v, "eventType")), field ? field : "-", op, cur,
               strcmp(op, "exists") == 0 ? "-" : tgt,
               json_is_true(json_object_get(v, "met")) ? "yes" : "no");
        if (agg)
            printf("  (%s of %lld events)", agg,
                   (long long)json_integer_value(json_object_get(v, "events")));
        if (json_object_size(filter) > 0) {
            char *f = json_dumps(filter, JSON_COMPACT | JSON_SORT_KEYS);
            printf("  filter %s", f ? f : "");
            free(f);
        }
        printf("\n");
    }
}

static int quest_progress(bm_ctl *ctl, const char *campaign, const char *user, int as_json)
{
    char err[1024] = "";
    int rc = 1;
    bm_pv_campaign cc = {0};
    bm_pv_progress p = {0};
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "quest: %s\n", err);
        goto fail;
    }
    int found = bm_pv_campaign_load(c, campaign, &cc, err, sizeof err);
    if (found != 0) {
        fprintf(stderr, "quest: %s\n", found > 0 ? "no such campaign" : err);
        goto fail;
    }
    if (strcmp(cc.type, "quest") != 0) {
        fprintf(stderr, "quest: campaign %s is a %s, not a quest\n", campaign, cc.type);
        goto fail;
    }
    if (bm_pv_progress_load(c, campaign, user, &p, err, sizeof err) != 0) {
        fprintf(stderr, "quest: %s\n", err);
        goto fail;
    }
    json_t *o = bm_pv_quest(&cc, user, &p);
    if (!o)
        goto fail;
    if (as_json) {
        ctl_print_json(o);
    } else {
        print_text(o, &p);
        json_decref(o);
    }
    rc = 0;
fail:
    bm_pv_progress_clear(&p);
    bm_pv_campaign_clear(&cc);
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
