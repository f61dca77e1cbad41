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

int bp_cfg_fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", path, msg);
    return -1;
}

/* Refuses keys outside `allowed` (NULL-terminated): a typo must not silently disable a rule. */
int bp_check_keys(json_t *obj, const char *path, const char *const *allowed, char *err,
                  size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char p[PATH_MAX_LEN + 64];
            snprintf(p, sizeof p, "%s.%s", path, key);
            return bp_cfg_fail(err, errlen, p, "unknown key");
        }
    }
    return 0;
}

int bp_is_number(json_t *v)
{
    return json_is_number(v) && isfinite(json_number_value(v));
}

int bp_present(json_t *v)
{
    return v && !json_is_null(v);
}

/* A dotted path under data: non-empty segments without blanks. */
int bp_valid_path(const char *s)
{
    if (!*s || strlen(s) > 200)
        return 0;
    int seg = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (seg == 0)
                return 0;
            seg = 0;
        } else if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
            return 0;
        } else {
            seg++;
        }
    }
    return seg > 0;
}

static int two(const char *s, int *out)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return -1;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

/* Number of days from 1970-01-01 to a proleptic Gregorian date. */
static int64_t civil_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* RFC 3339 date-time ("2026-11-23T10:00:00.5Z", offsets allowed) to ms; 0 or -1. */
static int parse_time(const char *s, int64_t *ms)
{
    int y1, y2, mo, d, h, mi, se, oh = 0, om = 0;
    if (strlen(s) < 20 || two(s, &y1) || two(s + 2, &y2) || s[4] != '-' || two(s + 5, &mo) ||
        s[7] != '-' || two(s + 8, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        two(s + 11, &h) || s[13] != ':' || two(s + 14, &mi) || s[16] != ':' || two(s + 17, &se))
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = y1 * 100 + y2;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    const char *p = s + 19;
    int frac = 0, scale = 100, nd = 0;
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++, nd++) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
        if (nd == 0)
            return -1;
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (two(p + 1, &oh) || p[3] != ':' || two(p + 4, &om) || oh > 23 || om > 59)
            return -1;
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t secs = ((civil_days(y, mo, d) * 24 + h) * 60 + mi) * 60 + (se > 59 ? 59 : se);
    *ms = (secs - (int64_t)sign * (oh * 60 + om) * 60) * 1000 + frac;
    return 0;
}

/* Optional RFC 3339 field: absent or null is fine (the host reads the window itself). */
static int check_date(json_t *obj, const char *key, const char *path, int64_t *ms, char *err,
                      size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *ms = 0;
    if (!bp_present(v))
        return 0;
    if (!json_is_string(v) || parse_time(json_string_value(v), ms) != 0)
        return bp_cfg_fail(err, errlen, path, "must be an RFC 3339 date-time");
    return 0;
}

/* The window shapes the host reads: dateRange{start,end,ongoing} or startDate/endDate/ongoing. */
static int check_window(json_t *root, char *err, size_t errlen)
{
    static const char *const keys[] = {"start", "end", "ongoing", NULL};
    json_t *dr = json_object_get(root, "dateRange");
    json_t *base = dr ? dr : root;
    if (dr && !json_is_object(dr))
        return bp_cfg_fail(err, errlen, "dateRange", "must be an object");
    if (dr && bp_check_keys(dr, "dateRange", keys, err, errlen))
        return -1;
    json_t *on = json_object_get(base, "ongoing");
    if (bp_present(on) && !json_is_boolean(on))
        return bp_cfg_fail(err, errlen, dr ? "dateRange.ongoing" : "ongoing",
                           "must be true or false");
    int64_t s, e;
    const char *pe = dr ? "dateRange.end" : "endDate";
    if (check_date(base, dr ? "start" : "startDate", dr ? "dateRange.start" : "startDate", &s, err,
                   errlen) ||
        check_date(base, dr ? "end" : "endDate", pe, &e, err, errlen))
        return -1;
    if (s && e && e <= s)
        return bp_cfg_fail(err, errlen, pe, "must be after the start");
    return 0;
}

int bp_parse_reward(json_t *r, const char *path, char **out, char *err, size_t errlen)
{
    static const char *const rtypes[] = {"token", "nft", "in_game", "webhook", NULL};
    char p[PATH_MAX_LEN];
    *out = NULL;
    if (!bp_present(r))
        return 0;
    if (!json_is_object(r))
        return bp_cfg_fail(err, errlen, path, "must be an object with type and config");
    const char *key;
    json_t *v;
    json_object_foreach(r, key, v)
    {
        if (strcmp(key, "type") && strcmp(key, "config"))
            return bp_cfg_fail(err, errlen, path,
                               "unknown key '%.60s' (reward settings go under config)", key);
    }
    json_t *t = json_object_get(r, "type");
    int ok = 0;
    for (const char *const *a = rtypes; json_is_string(t) && *a && !ok; a++)
        ok = strcmp(*a, json_string_value(t)) == 0;
    snprintf(p, sizeof p, "%s.type", path);
    if (!ok)
        return bp_cfg_fail(err, errlen, p, "must be one of token, nft, in_game, webhook");
    json_t *c = json_object_get(r, "config");
    snprintf(p, sizeof p, "%s.config", path);
    if (bp_present(c) && !json_is_object(c))
        return bp_cfg_fail(err, errlen, p, "must be an object");
    json_t *conf = json_is_object(c) ? json_incref(c) : json_object();
    json_t *canon = json_pack("{s:s, s:o}", "type", json_string_value(t), "config", conf);
    *out = canon ? json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(canon);
    return *out ? 0 : bp_cfg_fail(err, errlen, path, "out of memory");
}

static int parse_source(const bm_host_api *api, bm_host *host, const char *cid, json_t *s,
                        size_t idx, bp_source *src, char *err, size_t errlen)
{
    static const char *const keys[] = {"eventType", "field", "xpValue",     "dailyLimit", "filter",
                                       "formula",   "label", "description", NULL};
    char base[32], p[PATH_MAX_LEN];
    snprintf(base, sizeof base, "xpSources[%zu]", idx);
    if (!json_is_object(s))
        return bp_cfg_fail(err, errlen, base, "must be an object");
    if (bp_check_keys(s, base, keys, err, errlen))
        return -1;
    json_t *v = json_object_get(s, "eventType");
    snprintf(p, sizeof p, "%s.eventType", base);
    if (!json_is_string(v) || !*json_string_value(v))
        return bp_cfg_fail(err, errlen, p, "must be a non-empty string");
    if (strncmp(json_string_value(v), "bm.", 3) == 0)
        return bp_cfg_fail(err, errlen, p,
                           "event types starting with bm. are reserved for commands");
    src->event_type = strdup(json_string_value(v));

    json_t *field = json_object_get(s, "field"), *xp = json_object_get(s, "xpValue");
    json_t *formula = json_object_get(s, "formula");
    if (bp_present(formula)) {
        snprintf(p, sizeof p, "%s.formula", base);
        if (!json_is_string(formula) || !*json_string_value(formula))
            return bp_cfg_fail(err, errlen, p, "must be a Lua expression or chunk");
        if (bp_present(field) || bp_present(xp))
            return bp_cfg_fail(err, errlen, p,
                               "cannot be combined with field or xpValue (its result is the XP)");
        char name[160], ferr[256] = "";
        snprintf(name, sizeof name, "%s/%s", cid, base);
        src->formula =
            api->formula_compile(host, name, json_string_value(formula), ferr, sizeof ferr);
        if (!src->formula)
            return bp_cfg_fail(err, errlen, p, "%s", ferr[0] ? ferr : "does not compile");
    }
    if (bp_present(field)) {
        snprintf(p, sizeof p, "%s.field", base);
        if (!json_is_string(field) || !bp_valid_path(json_string_value(field)))
            return bp_cfg_fail(err, errlen, p, "must be a dotted path under data (e.g. score)");
        src->field = strdup(json_string_value(field));
    }
    src->xp_value = 1;
    snprintf(p, sizeof p, "%s.xpValue", base);
    if (bp_present(xp)) {
        if (!bp_is_number(xp) || json_number_value(xp) <= 0)
            return bp_cfg_fail(err, errlen, p, "must be a positive number");
        src->xp_value = json_number_value(xp);
    } else if (!src->field && !src->formula) {
        return bp_cfg_fail(err, errlen, p, "required (or give field or formula)");
    }
    v = json_object_get(s, "dailyLimit");
    if (bp_present(v)) {
        snprintf(p, sizeof p, "%s.dailyLimit", base);
        if (!bp_is_number(v) || json_number_value(v) <= 0)
            return bp_cfg_fail(err, errlen, p, "must be a positive number");
        src->daily_limit = json_number_value(v);
    }
    v = json_object_get(s, "filter");
    if (bp_present(v)) {
        snprintf(p, sizeof p, "%s.filter", base);
        if (!json_is_object(v))
            return bp_cfg_fail(err, errlen, p, "must be an object of data paths to values");
        const char *k;
        json_t *fv;
        json_object_foreach(v, k, fv)
        {
            if (!bp_valid_path(k))
                return bp_cfg_fail(err, errlen, p, "key '%.60s' is not a dotted path", k);
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
    if (!bp_present(e))
        return 0;
    if (!json_is_object(e))
        return bp_cfg_fail(err, errlen, "entryRequirement", "must be an object with type");
    if (bp_check_keys(e, "entryRequirement", keys, err, errlen))
        return -1;
    json_t *t = json_object_get(e, "type");
    const char *ts = json_is_string(t) ? json_string_value(t) : "";
    if (strcmp(ts, "free") == 0)
        return 0;
    if (strcmp(ts, "purchase") == 0) {
        cfg->entry_purchase = 1;
        return 0;
    }
    if (strcmp(ts, "community") == 0)
        return bp_cfg_fail(err, errlen, "entryRequirement.type",
                           "community gating is not available yet");
    if (strcmp(ts, "nft") == 0)
        return bp_cfg_fail(err, errlen, "entryRequirement.type",
                           "nft ownership checks are not available yet");
    return bp_cfg_fail(err, errlen, "entryRequirement.type",
                       "must be one of free, purchase, nft, community");
}

static int parse_gating(json_t *root, bp_cfg *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"communities", "requiredLevel", NULL};
    json_t *g = json_object_get(root, "gating");
    if (!bp_present(g))
        return 0;
    if (!json_is_object(g))
        return bp_cfg_fail(err, errlen, "gating", "must be an object");
    if (bp_check_keys(g, "gating", keys, err, errlen))
        return -1;
    json_t *v = json_object_get(g, "communities");
    if (bp_present(v)) {
        if (!json_is_array(v))
            return bp_cfg_fail(err, errlen, "gating.communities",
                               "must be a list of community ids");
        if (json_array_size(v) > 0)
            return bp_cfg_fail(err, errlen, "gating.communities",
                               "community gating is not available yet");
    }
    v = json_object_get(g, "requiredLevel");
    if (bp_present(v)) {
        if (!bp_is_number(v) || json_number_value(v) < 0)
            return bp_cfg_fail(err, errlen, "gating.requiredLevel", "must be a number >= 0");
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
        bp_cfg_fail(err, errlen, "config", "not valid JSON (%s)",
                    config_json ? jerr.text : "missing");
        goto fail;
    }
    if (!json_is_object(root)) {
        bp_cfg_fail(err, errlen, "config", "must be a JSON object");
        goto fail;
    }
    json_t *v = json_object_get(root, "name");
    if (bp_present(v) && !json_is_string(v)) {
        bp_cfg_fail(err, errlen, "name", "must be a string");
        goto fail;
    }
    if (check_window(root, err, errlen))
        goto fail;
    json_t *srcs = json_object_get(root, "xpSources");
    if (!json_is_array(srcs) || json_array_size(srcs) == 0) {
        bp_cfg_fail(err, errlen, "xpSources", "must be a non-empty list");
        goto fail;
    }
    if (json_array_size(srcs) > BP_MAX_SOURCES) {
        bp_cfg_fail(err, errlen, "xpSources", "at most %d sources", BP_MAX_SOURCES);
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
