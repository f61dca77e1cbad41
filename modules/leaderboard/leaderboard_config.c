/* leaderboard.so: the seed's LeaderboardConfig, validated field by field. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leaderboard.h"
#include "period.h"
#include "modcfg.h"

static const char *const k_aggs[] = {"sum", "max", "min", "count", "average", "last"};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int lb_whitelisted(const lb_campaign *lb, const char *user)
{
    if (!lb->whitelist)
        return 1;
    return bsearch(&user, lb->whitelist, lb->nwhitelist, sizeof *lb->whitelist, cmp_str) != NULL;
}

void lb_config_free(const bm_host_api *api, lb_campaign *lb)
{
    if (!lb)
        return;
    if (lb->formula)
        api->formula_free(lb->formula);
    for (size_t i = 0; i < lb->nwhitelist; i++)
        free(lb->whitelist[i]);
    bm_modcfg_strv_free(lb->communities);
    free(lb->whitelist);
    free(lb);
}

static int parse_gating(lb_campaign *lb, json_t *g, char *err, size_t errlen)
{
    if (!g || json_is_null(g))
        return 0;
    static const char *const keys[] = {"communities", "whitelist", "minLevel", NULL};
    if (!json_is_object(g)) {
        snprintf(err, errlen, "gating: must be an object");
        return -1;
    }
    if (bm_modcfg_check_keys(g, "gating", keys, err, errlen))
        return -1;
    if (bm_modcfg_communities(json_object_get(g, "communities"), "gating.communities",
                              &lb->communities, err, errlen))
        return -1;
    json_t *wl = json_object_get(g, "whitelist");
    if (wl && !json_is_array(wl)) {
        snprintf(err, errlen, "gating.whitelist: must be an array of user ids");
        return -1;
    }
    if (wl && json_array_size(wl) > 0) {
        lb->whitelist = calloc(json_array_size(wl), sizeof *lb->whitelist);
        if (!lb->whitelist)
            return -1;
        size_t i;
        json_t *u;
        json_array_foreach(wl, i, u)
        {
            if (!json_is_string(u)) {
                snprintf(err, errlen, "gating.whitelist[%zu]: must be a string", i);
                return -1;
            }
            lb->whitelist[lb->nwhitelist++] = strdup(json_string_value(u));
        }
        qsort(lb->whitelist, lb->nwhitelist, sizeof *lb->whitelist, cmp_str);
    }
    json_t *ml = json_object_get(g, "minLevel");
    if (ml && !json_is_null(ml)) {
        if (!json_is_number(ml) || json_number_value(ml) < 0) {
            snprintf(err, errlen, "gating.minLevel: must be a number >= 0");
            return -1;
        }
        lb->min_level = json_number_value(ml);
    }
    return 0;
}

/* resetSchedule: the shared calendar (modules/common/period.h). */
static int parse_reset(lb_campaign *lb, json_t *r, char *err, size_t errlen)
{
    lb->closed_idx = INT64_MIN;
    return bm_period_parse(r, "resetSchedule", 60000, &lb->reset, err, errlen);
}

static int parse_scoring(lb_campaign *lb, json_t *s, int has_formula, char *err, size_t errlen)
{
    static const char *const keys[] = {"eventType", "dataField", "aggregation", NULL};
    if (!json_is_object(s)) {
        snprintf(err, errlen, "scoringMetadata: required, an object");
        return -1;
    }
    if (bm_modcfg_check_keys(s, "scoringMetadata", keys, err, errlen))
        return -1;
    const char *et = json_string_value(json_object_get(s, "eventType"));
    if (!et || !*et || strlen(et) >= sizeof lb->event_type) {
        snprintf(err, errlen, "scoringMetadata.eventType: required, a non-empty string");
        return -1;
    }
    snprintf(lb->event_type, sizeof lb->event_type, "%s", et);
    json_t *agg = json_object_get(s, "aggregation");
    lb->agg = LB_SUM;
    if (agg) {
        const char *a = json_string_value(agg);
        int found = 0;
        for (size_t i = 0; a && i < sizeof k_aggs / sizeof k_aggs[0]; i++)
            if (strcmp(a, k_aggs[i]) == 0) {
                lb->agg = (enum lb_agg)i;
                found = 1;
            }
        if (!found) {
            snprintf(err, errlen,
                     "scoringMetadata.aggregation: must be one of sum, max, min, count, "
                     "average, last");
            return -1;
        }
    }
    json_t *df = json_object_get(s, "dataField");
    if (df && (!json_is_string(df) || json_string_length(df) >= sizeof lb->data_field)) {
        snprintf(err, errlen, "scoringMetadata.dataField: must be a dotted path string");
        return -1;
    }
    const char *field = df ? json_string_value(df) : "";
    if (!*field && lb->agg != LB_COUNT && !has_formula) {
        snprintf(err, errlen,
                 "scoringMetadata.dataField: required unless aggregation is count or a "
                 "customFormula is given");
        return -1;
    }
    for (const char *p = field; *p; p++)
        if ((*p == '.' && (p == field || p[1] == '.' || p[1] == '\0'))) {
            snprintf(err, errlen, "scoringMetadata.dataField: '%s' is not a dotted path", field);
            return -1;
        }
    snprintf(lb->data_field, sizeof lb->data_field, "%s", field);
    return 0;
}

lb_campaign *lb_config_parse(const bm_host_api *api, bm_host *host, const bm_campaign *c, char *err,
                             size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loads(c->config_json, 0, &jerr);
    lb_campaign *lb = calloc(1, sizeof *lb);
    if (!lb || !json_is_object(root)) {
        snprintf(err, errlen, "config: not a JSON object (%s)", jerr.text);
        goto fail;
    }
    lb->id = c->id;
    static const char *const own[] = {"refreshFrequency",
                                      "scoringMetadata",
                                      "customFormula",
                                      "gating",
                                      "displayConfig",
                                      "resetSchedule",
                                      NULL};
    static const char *const display[] = {"maxEntries", "showPlayerCount", "theme", NULL};
    if (bm_modcfg_check_top(root, own, err, errlen))
        goto fail;
    json_t *dcv = json_object_get(root, "displayConfig");
    if (json_is_object(dcv) && bm_modcfg_check_keys(dcv, "displayConfig", display, err, errlen))
        goto fail;
    json_t *formula = json_object_get(root, "customFormula");
    int has_formula = formula && !json_is_null(formula) &&
                      !(json_is_string(formula) && json_string_length(formula) == 0);
    if (formula && !json_is_null(formula) && !json_is_string(formula)) {
        snprintf(err, errlen, "customFormula: must be a Lua expression or chunk (string)");
        goto fail;
    }
    if (parse_scoring(lb, json_object_get(root, "scoringMetadata"), has_formula, err, errlen) ||
        parse_gating(lb, json_object_get(root, "gating"), err, errlen) ||
        parse_reset(lb, json_object_get(root, "resetSchedule"), err, errlen))
        goto fail;
    json_t *dc = json_object_get(root, "displayConfig");
    lb->max_entries = 100;
    if (dc && json_is_object(dc) && json_object_get(dc, "maxEntries")) {
        json_t *me = json_object_get(dc, "maxEntries");
        if (!json_is_integer(me) || json_integer_value(me) < 1 || json_integer_value(me) > 10000) {
            snprintf(err, errlen, "displayConfig.maxEntries: must be an integer 1..10000");
            goto fail;
        }
        lb->max_entries = (int)json_integer_value(me);
    }
    if (has_formula) {
        char why[400];
        lb->formula =
            api->formula_compile(host, c->name, json_string_value(formula), why, sizeof why);
        if (!lb->formula) {
            snprintf(err, errlen, "customFormula: %s", why);
            goto fail;
        }
    }
    snprintf(lb->refresh_json, sizeof lb->refresh_json,
             "{\"type\":\"LEADERBOARD_UPDATE\",\"campaignId\":\"%.64s\"}", c->id);
    json_decref(root);
    return lb;
fail:
    json_decref(root);
    lb_config_free(api, lb);
    return NULL;
}
