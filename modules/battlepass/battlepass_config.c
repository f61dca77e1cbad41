/*
 * battlepass module: campaign document -> bp_cfg. Refusals name the field
 * ("xpSources[0].dailyLimit: ...") because `bmctl campaign create` shows
 * this text to the studio as the reason its battle pass was refused.
 */
#include "battlepass.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 96

static int parse_source(const bm_host_api *api, bm_host *host, const char *cid, json_t *s,
                        size_t idx, bp_source *src, char *err, size_t errlen)
{
    static const char *const keys[] = {"eventType", "field", "xpValue",     "dailyLimit", "filter",
                                       "formula",   "label", "description", NULL};
    char base[32], p[PATH_MAX_LEN];
    snprintf(base, sizeof base, "xpSources[%zu]", idx);
    if (!json_is_object(s))
        return bm_modcfg_fail(err, errlen, base, "must be an object");
    if (bm_modcfg_check_keys(s, base, keys, err, errlen))
        return -1;
    json_t *v = json_object_get(s, "eventType");
    snprintf(p, sizeof p, "%s.eventType", base);
    if (!json_is_string(v) || !*json_string_value(v))
        return bm_modcfg_fail(err, errlen, p, "must be a non-empty string");
    if (strncmp(json_string_value(v), "bm.", 3) == 0)
        return bm_modcfg_fail(err, errlen, p,
                              "event types starting with bm. are reserved for commands");
    src->event_type = strdup(json_string_value(v));

    json_t *field = json_object_get(s, "field"), *xp = json_object_get(s, "xpValue");
    json_t *formula = json_object_get(s, "formula");
    if (bm_modcfg_present(formula)) {
        snprintf(p, sizeof p, "%s.formula", base);
        if (!json_is_string(formula) || !*json_string_value(formula))
            return bm_modcfg_fail(err, errlen, p, "must be a Lua expression or chunk");
        if (bm_modcfg_present(field) || bm_modcfg_present(xp))
            return bm_modcfg_fail(
                err, errlen, p, "cannot be combined with field or xpValue (its result is the XP)");
        char name[160], ferr[256] = "";
        snprintf(name, sizeof name, "%s/%s", cid, base);
        src->formula =
            api->formula_compile(host, name, json_string_value(formula), ferr, sizeof ferr);
        if (!src->formula)
            return bm_modcfg_fail(err, errlen, p, "%s", ferr[0] ? ferr : "does not compile");
    }
    if (bm_modcfg_present(field)) {
        snprintf(p, sizeof p, "%s.field", base);
        if (!json_is_string(field) || !bm_modcfg_valid_path(json_string_value(field)))
            return bm_modcfg_fail(err, errlen, p, "must be a dotted path under data (e.g. score)");
        src->field = strdup(json_string_value(field));
    }
    src->xp_value = 1;
    snprintf(p, sizeof p, "%s.xpValue", base);
    if (bm_modcfg_present(xp)) {
        if (!bm_modcfg_is_number(xp) || json_number_value(xp) <= 0)
            return bm_modcfg_fail(err, errlen, p, "must be a positive number");
        src->xp_value = json_number_value(xp);
    } else if (!src->field && !src->formula) {
        return bm_modcfg_fail(err, errlen, p, "required (or give field or formula)");
    }
    v = json_object_get(s, "dailyLimit");
    if (bm_modcfg_present(v)) {
        snprintf(p, sizeof p, "%s.dailyLimit", base);
        if (!bm_modcfg_is_number(v) || json_number_value(v) <= 0)
            return bm_modcfg_fail(err, errlen, p, "must be a positive number");
        src->daily_limit = json_number_value(v);
    }
    v = json_object_get(s, "filter");
    if (bm_modcfg_present(v)) {
        snprintf(p, sizeof p, "%s.filter", base);
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
            src->filter = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    }
    return 0;
}

static int parse_entry(json_t *root, bp_cfg *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"type", "config", NULL};
    json_t *e = json_object_get(root, "entryRequirement");
    if (!bm_modcfg_present(e))
        return 0;
    if (!json_is_object(e))
        return bm_modcfg_fail(err, errlen, "entryRequirement", "must be an object with type");
    if (bm_modcfg_check_keys(e, "entryRequirement", keys, err, errlen))
        return -1;
    json_t *t = json_object_get(e, "type");
    const char *ts = json_is_string(t) ? json_string_value(t) : "";
    if (strcmp(ts, "free") == 0)
        return 0;
    if (strcmp(ts, "purchase") == 0) {
        cfg->entry_purchase = 1;
        return 0;
    }
    if (strcmp(ts, "community") == 0) {
        /* Members of any of config.communities earn XP and claim; others are refused. */
        static const char *const ckeys[] = {"communities", NULL};
        json_t *c = json_object_get(e, "config");
        if (!json_is_object(c))
            return bm_modcfg_fail(err, errlen, "entryRequirement.config",
                                  "must be an object with communities");
        if (bm_modcfg_check_keys(c, "entryRequirement.config", ckeys, err, errlen) ||
            bm_modcfg_communities(json_object_get(c, "communities"),
                                  "entryRequirement.config.communities", &cfg->entry_communities,
                                  err, errlen))
            return -1;
        if (!cfg->entry_communities)
            return bm_modcfg_fail(err, errlen, "entryRequirement.config.communities",
                                  "must name at least one community");
        return 0;
    }
    if (strcmp(ts, "nft") == 0)
        return bm_modcfg_fail(err, errlen, "entryRequirement.type",
                              "nft ownership checks are not available yet");
    return bm_modcfg_fail(err, errlen, "entryRequirement.type",
                          "must be one of free, purchase, nft, community");
}

static int parse_gating(json_t *root, bp_cfg *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"communities", "requiredLevel", NULL};
    json_t *g = json_object_get(root, "gating");
    if (!bm_modcfg_present(g))
        return 0;
    if (!json_is_object(g))
        return bm_modcfg_fail(err, errlen, "gating", "must be an object");
    if (bm_modcfg_check_keys(g, "gating", keys, err, errlen))
        return -1;
    if (bm_modcfg_communities(json_object_get(g, "communities"), "gating.communities",
                              &cfg->communities, err, errlen))
        return -1;
    json_t *v = json_object_get(g, "requiredLevel");
    if (bm_modcfg_present(v)) {
        if (!bm_modcfg_is_number(v) || json_number_value(v) < 0)
            return bm_modcfg_fail(err, errlen, "gating.requiredLevel", "must be a number >= 0");
        cfg->has_level = 1;
        cfg->required_level = json_number_value(v);
    }
    return 0;
}

bp_cfg *bp_cfg_parse(const bm_host_api *api, bm_host *host, const char *campaign_id,
                     const char *config_json, char *err, size_t errlen)
{
    json_error_t jerr;
    bp_cfg *cfg = calloc(1, sizeof *cfg);
    json_t *root = config_json ? json_loads(config_json, 0, &jerr) : NULL;
    if (!cfg) {
        snprintf(err, errlen, "config: out of memory");
        goto fail;
    }
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
    if (bm_modcfg_present(v) && !json_is_string(v)) {
        bm_modcfg_fail(err, errlen, "name", "must be a string");
        goto fail;
    }
    static const char *const own[] = {
        "entryRequirement", "xpSources",      "tiers",       "maxTier", "cumulative",
        "tierCurve",        "rewardTemplate", "seasonTheme", "gating",  NULL};
    if (bm_modcfg_check_top(root, own, err, errlen) || bm_modcfg_window(root, err, errlen))
        goto fail;
    json_t *srcs = json_object_get(root, "xpSources");
    if (!json_is_array(srcs) || json_array_size(srcs) == 0) {
        bm_modcfg_fail(err, errlen, "xpSources", "must be a non-empty list");
        goto fail;
    }
    if (json_array_size(srcs) > BP_MAX_SOURCES) {
        bm_modcfg_fail(err, errlen, "xpSources", "at most %d sources", BP_MAX_SOURCES);
        goto fail;
    }
    cfg->sources = calloc(json_array_size(srcs), sizeof *cfg->sources);
    if (!cfg->sources) {
        snprintf(err, errlen, "config: out of memory");
        goto fail;
    }
    size_t i;
    json_array_foreach(srcs, i, v)
    {
        cfg->nsources++;
        if (parse_source(api, host, cfg->id, v, i, &cfg->sources[i], err, errlen))
            goto fail;
    }
    if (bp_parse_tiers(root, cfg, err, errlen) || parse_entry(root, cfg, err, errlen) ||
        parse_gating(root, cfg, err, errlen))
        goto fail;
    json_decref(root);
    return cfg;
fail:
    json_decref(root);
    bp_cfg_free(api, cfg);
    return NULL;
}

void bp_cfg_free(const bm_host_api *api, bp_cfg *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nsources; i++) {
        free(cfg->sources[i].event_type);
        free(cfg->sources[i].field);
        free(cfg->sources[i].filter);
        if (cfg->sources[i].formula)
            api->formula_free(cfg->sources[i].formula);
    }
    free(cfg->sources);
    bm_modcfg_strv_free(cfg->communities);
    bm_modcfg_strv_free(cfg->entry_communities);
    for (int t = 0; cfg->tiers && t < cfg->ntiers; t++) {
        free(cfg->tiers[t].free_reward);
        free(cfg->tiers[t].premium_reward);
    }
    free(cfg->tiers);
    free(cfg->id);
    free(cfg);
}

int bp_cfg_tier_for(const bp_cfg *cfg, double xp)
{
    /* Thresholds are non-decreasing: binary search for the last one <= xp. */
    int lo = 0, hi = cfg->ntiers;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cfg->tiers[mid].xp_required <= xp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int bp_cfg_current_tier(const bp_cfg *cfg, int completed)
{
    return completed < cfg->ntiers ? completed + 1 : cfg->ntiers;
}
