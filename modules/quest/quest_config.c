/*
 * quest module: campaign document -> quest_cfg. Every refusal names the
 * field ("conditions[1].operator: ...") because `bmctl campaign create`
 * shows this text to the studio as the reason its quest was refused.
 */
#include "quest.h"

#include "modcfg.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 96

static int parse_op(const char *s)
{
    static const char *const ops[] = {"gte", "lte", "eq", "exists", "neq"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, ops[i]) == 0)
            return i;
    return -1;
}

static int parse_condition(json_t *c, size_t idx, quest_cond *qc, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",   "eventType", "field",       "operator", "target",
                                       "filter", "aggregate", "description", "label",    NULL};
    static const char *const types[] = {"count", "value", "exists", "time_based"};
    static const char *const aggs[] = {"max", "min", "last", "sum"};
    char base[48], p[PATH_MAX_LEN];
    snprintf(base, sizeof base, "conditions[%zu]", idx);
    if (!json_is_object(c))
        return bm_modcfg_fail(err, errlen, base, "must be an object");
    if (bm_modcfg_check_keys(c, base, keys, err, errlen))
        return -1;

    json_t *v = json_object_get(c, "type");
    snprintf(p, sizeof p, "%s.type", base);
    qc->type = -1;
    for (int i = 0; v && json_is_string(v) && i < 4; i++)
        if (strcmp(json_string_value(v), types[i]) == 0)
            qc->type = i;
    if (qc->type < 0)
        return bm_modcfg_fail(err, errlen, p, "must be one of count, value, exists, time_based");

    v = json_object_get(c, "eventType");
    snprintf(p, sizeof p, "%s.eventType", base);
    if (!json_is_string(v) || !*json_string_value(v))
        return bm_modcfg_fail(err, errlen, p, "must be a non-empty string");
    if (strncmp(json_string_value(v), "bm.", 3) == 0)
        return bm_modcfg_fail(err, errlen, p,
                              "event types starting with bm. are reserved for commands");
    qc->event_type = strdup(json_string_value(v));

    v = json_object_get(c, "field");
    snprintf(p, sizeof p, "%s.field", base);
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || !bm_modcfg_valid_path(json_string_value(v)))
            return bm_modcfg_fail(err, errlen, p,
                                  "must be a dotted path under data (e.g. stats.kills)");
        qc->field = strdup(json_string_value(v));
    } else if (qc->type == QC_VALUE) {
        return bm_modcfg_fail(err, errlen, p, "required for value conditions");
    }

    /* Operator: each type has a default and a set it makes sense with. */
    v = json_object_get(c, "operator");
    snprintf(p, sizeof p, "%s.operator", base);
    qc->op = qc->type == QC_EXISTS ? QOP_EXISTS : QOP_GTE;
    if (v && !json_is_null(v)) {
        qc->op = json_is_string(v) ? parse_op(json_string_value(v)) : -1;
        if (qc->op < 0)
            return bm_modcfg_fail(err, errlen, p, "must be one of gte, lte, eq, neq, exists");
        if (qc->type == QC_EXISTS && qc->op != QOP_EXISTS)
            return bm_modcfg_fail(err, errlen, p, "exists conditions take operator exists");
        if (qc->type == QC_TIME && qc->op != QOP_GTE)
            return bm_modcfg_fail(err, errlen, p, "time_based conditions take operator gte");
        if (qc->type == QC_COUNT && qc->op == QOP_NEQ)
            return bm_modcfg_fail(err, errlen, p, "count conditions take gte, lte, eq or exists");
    }

    v = json_object_get(c, "target");
    snprintf(p, sizeof p, "%s.target", base);
    if (qc->type != QC_EXISTS && qc->op != QOP_EXISTS &&
        (json_is_string(v) || json_is_boolean(v))) {
        /* "finish a match in mode ranked", "won: true": equality tests only. */
        if (qc->type != QC_VALUE)
            return bm_modcfg_fail(err, errlen, p,
                                  "a string or boolean target needs a value condition");
        if (qc->op != QOP_EQ && qc->op != QOP_NEQ)
            return bm_modcfg_fail(err, errlen, p, "a %s target takes operator eq or neq",
                                  json_is_string(v) ? "string" : "boolean");
        if (bm_modcfg_present(json_object_get(c, "aggregate")))
            return bm_modcfg_fail(err, errlen, p, "a string or boolean target takes no aggregate");
        qc->ttype = json_is_string(v) ? QT_STRING : QT_BOOL;
        qc->tbool = json_is_true(v);
        if (qc->ttype == QT_STRING)
            qc->tstr = strdup(json_string_value(v));
        json_t *f = json_object();
        /* A boolean neq is an eq on the other value: the field must still be a boolean. */
        if (qc->ttype == QT_BOOL && qc->op == QOP_NEQ)
            json_object_set_new(f, qc->field, json_boolean(!qc->tbool));
        else
            json_object_set(f, qc->field, v);
        qc->tfilter = json_dumps(f, JSON_COMPACT);
        json_decref(f);
        if (!qc->tfilter || (qc->ttype == QT_STRING && !qc->tstr))
            return bm_modcfg_fail(err, errlen, p, "out of memory");
    } else if (qc->type != QC_EXISTS && qc->op != QOP_EXISTS) {
        if (!bm_modcfg_is_number(v))
            return bm_modcfg_fail(err, errlen, p, "must be a number, a string or a boolean");
        qc->target = json_number_value(v);
        if (qc->type == QC_COUNT && qc->target < 0)
            return bm_modcfg_fail(err, errlen, p, "must be a count >= 0");
        if (qc->type == QC_TIME && qc->target <= 0)
            return bm_modcfg_fail(err, errlen, p, "must be a number of seconds > 0");
    }

    v = json_object_get(c, "filter");
    snprintf(p, sizeof p, "%s.filter", base);
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return bm_modcfg_fail(err, errlen, p, "must be an object of data paths to values");
        const char *k;
        json_t *fv;
        json_object_foreach(v, k, fv)
        {
            if (!bm_modcfg_valid_path(k))
                return bm_modcfg_fail(err, errlen, p, "key '%.60s' is not a dotted path", k);
        }
        if (json_object_size(v) > 0)
            qc->filter = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    }

    v = json_object_get(c, "aggregate");
    snprintf(p, sizeof p, "%s.aggregate", base);
    qc->deferred = qc->type == QC_COUNT && (qc->op == QOP_LTE || qc->op == QOP_EQ);
    qc->agg = qc->op == QOP_LTE                       ? QAGG_MIN
              : qc->op == QOP_EQ || qc->op == QOP_NEQ ? QAGG_LAST
                                                      : QAGG_MAX;
    if (v && !json_is_null(v)) {
        if (qc->type != QC_VALUE)
            return bm_modcfg_fail(err, errlen, p, "only value conditions take an aggregate");
        qc->agg = -1;
        for (int i = 0; json_is_string(v) && i < 4; i++)
            if (strcmp(json_string_value(v), aggs[i]) == 0)
                qc->agg = i;
        if (qc->agg < 0)
            return bm_modcfg_fail(err, errlen, p, "must be one of max, min, last, sum");
    }
    return 0;
}

/* reward is required for a quest; its shape is checked by the shared parser. */
static int parse_reward(json_t *r, char **out, char *err, size_t errlen)
{
    if (!bm_modcfg_present(r))
        return bm_modcfg_fail(err, errlen, "reward", "required (an object with type and config)");
    return bm_modcfg_reward(r, "reward", out, err, errlen);
}

/* A list of non-empty strings; *out gets strdup'ed copies. */
static int parse_strings(json_t *a, const char *path, char ***out, size_t *n, char *err,
                         size_t errlen)
{
    if (!json_is_array(a))
        return bm_modcfg_fail(err, errlen, path, "must be a list of strings");
    *out = calloc(json_array_size(a) + 1, sizeof **out);
    if (!*out)
        return bm_modcfg_fail(err, errlen, path, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || !*json_string_value(v)) {
            char p[PATH_MAX_LEN];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            return bm_modcfg_fail(err, errlen, p, "must be a non-empty string");
        }
        (*out)[(*n)++] = strdup(json_string_value(v));
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_gating(json_t *g, quest_cfg *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"communities", "whitelist", "requiredQuests", "minLevel",
                                       NULL};
    if (!g || json_is_null(g))
        return 0;
    if (!json_is_object(g))
        return bm_modcfg_fail(err, errlen, "gating", "must be an object");
    if (bm_modcfg_check_keys(g, "gating", keys, err, errlen))
        return -1;
    if (bm_modcfg_communities(json_object_get(g, "communities"), "gating.communities",
                              &cfg->communities, err, errlen))
        return -1;
    json_t *v = json_object_get(g, "whitelist");
    if (v && !json_is_null(v)) {
        if (parse_strings(v, "gating.whitelist", &cfg->whitelist, &cfg->nwhitelist, err, errlen))
            return -1;
        if (cfg->nwhitelist == 0) {
            free(cfg->whitelist);
            cfg->whitelist = NULL;
        } else {
            qsort(cfg->whitelist, cfg->nwhitelist, sizeof *cfg->whitelist, cmp_str);
        }
    }
    v = json_object_get(g, "requiredQuests");
    if (v && !json_is_null(v)) {
        if (parse_strings(v, "gating.requiredQuests", &cfg->required, &cfg->nrequired, err, errlen))
            return -1;
        for (size_t i = 0; i < cfg->nrequired; i++) {
            if (cfg->id && strcmp(cfg->required[i], cfg->id) == 0) {
                char p[PATH_MAX_LEN];
                snprintf(p, sizeof p, "gating.requiredQuests[%zu]", i);
                return bm_modcfg_fail(err, errlen, p, "a quest cannot require itself");
            }
        }
    }
    v = json_object_get(g, "minLevel");
    if (v && !json_is_null(v)) {
        if (!bm_modcfg_is_number(v) || json_number_value(v) < 0)
            return bm_modcfg_fail(err, errlen, "gating.minLevel", "must be a number >= 0");
        cfg->has_min_level = 1;
        cfg->min_level = json_number_value(v);
    }
    return 0;
}

static int parse_repeat(json_t *root, quest_cfg *cfg, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "repeatable");
    if (v && !json_is_null(v) && !json_is_boolean(v))
        return bm_modcfg_fail(err, errlen, "repeatable", "must be true or false");
    cfg->repeatable = json_is_true(v);
    v = json_object_get(root, "cooldownHours");
    if (v && !json_is_null(v)) {
        if (!bm_modcfg_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 87600)
            return bm_modcfg_fail(err, errlen, "cooldownHours",
                                  "must be a number of hours from 0 to 87600");
        if (!cfg->repeatable && json_number_value(v) > 0)
            return bm_modcfg_fail(err, errlen, "cooldownHours",
                                  "only applies when repeatable is true");
        cfg->cooldown_ms = (int64_t)llround(json_number_value(v) * 3600000.0);
    }
    return 0;
}

quest_cfg *quest_cfg_parse(const char *campaign_id, const char *config_json, char *err,
                           size_t errlen)
{
    json_error_t jerr;
    quest_cfg *cfg = calloc(1, sizeof *cfg);
    json_t *root = config_json ? json_loads(config_json, 0, &jerr) : NULL;
    if (!cfg)
        goto oom;
    cfg->id = strdup(campaign_id ? campaign_id : "");
    if (!root) {
        bm_modcfg_fail(err, errlen, "config", "not valid JSON (%s)",
                       config_json ? jerr.text : "missing");
        goto fail;
    }
    if (!json_is_object(root)) {
        bm_modcfg_fail(err, errlen, "config", "must be a JSON object");
        goto fail;
    }
    json_t *v = json_object_get(root, "name");
    if (v && !json_is_string(v)) {
        bm_modcfg_fail(err, errlen, "name", "must be a string");
        goto fail;
    }
    v = json_object_get(root, "gameId");
    if (v && (!json_is_string(v) || !*json_string_value(v))) {
        bm_modcfg_fail(err, errlen, "gameId", "must be a non-empty string");
        goto fail;
    }
    static const char *const own[] = {"conditions",    "reward", "repeatable",
                                      "cooldownHours", "gating", NULL};
    if (bm_modcfg_check_top(root, own, err, errlen) || bm_modcfg_window(root, err, errlen))
        goto fail;
    cfg->end_ms = bm_modcfg_window_end(root);

    json_t *conds = json_object_get(root, "conditions");
    if (!json_is_array(conds) || json_array_size(conds) == 0) {
        bm_modcfg_fail(err, errlen, "conditions", "must be a non-empty list");
        goto fail;
    }
    if (json_array_size(conds) > QUEST_MAX_CONDITIONS) {
        bm_modcfg_fail(err, errlen, "conditions", "at most %d conditions", QUEST_MAX_CONDITIONS);
        goto fail;
    }
    cfg->conds = calloc(json_array_size(conds), sizeof *cfg->conds);
    if (!cfg->conds)
        goto oom;
    size_t i;
    json_array_foreach(conds, i, v)
    {
        cfg->nconds++;
        if (parse_condition(v, i, &cfg->conds[i], err, errlen))
            goto fail;
        if (cfg->conds[i].deferred && !cfg->end_ms) {
            bm_modcfg_fail(err, errlen, "conditions",
                           "[%zu] (count with %s) is decided when the "
                           "quest ends, and this quest has no endDate: give it one, or use gte",
                           i, cfg->conds[i].op == QOP_LTE ? "lte" : "eq");
            goto fail;
        }
        cfg->ndeferred += cfg->conds[i].deferred;
    }
    if (parse_reward(json_object_get(root, "reward"), &cfg->reward_json, err, errlen) ||
        parse_repeat(root, cfg, err, errlen) ||
        parse_gating(json_object_get(root, "gating"), cfg, err, errlen))
        goto fail;
    json_decref(root);
    return cfg;
oom:
    snprintf(err, errlen, "config: out of memory");
fail:
    json_decref(root);
    quest_cfg_free(cfg);
    return NULL;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void quest_cfg_free(quest_cfg *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nconds; i++) {
        free(cfg->conds[i].event_type);
        free(cfg->conds[i].field);
        free(cfg->conds[i].filter);
        free(cfg->conds[i].tstr);
        free(cfg->conds[i].tfilter);
    }
    free(cfg->conds);
    free(cfg->reward_json);
    free_strings(cfg->whitelist, cfg->nwhitelist);
    free_strings(cfg->required, cfg->nrequired);
    bm_modcfg_strv_free(cfg->communities);
    free(cfg->id);
    free(cfg);
}

int quest_cfg_whitelisted(const quest_cfg *cfg, const char *user_id)
{
    if (!cfg->whitelist)
        return 1;
    return bsearch(&user_id, cfg->whitelist, cfg->nwhitelist, sizeof *cfg->whitelist, cmp_str) !=
           NULL;
}
