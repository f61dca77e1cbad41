/*
 * Config validation shared by the in-tree campaign modules (compiled into each
 * .so: modules never link the host). Every refusal names the field, because
 * `bmctl campaign create` shows the text to the studio as the reason.
 */
#include "modcfg.h"
#include "rfc3339.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest field path an error names ("conditions[12].filter.stats.kills"). */
#define PATH_MAX_LEN 96

int bm_modcfg_fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
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
int bm_modcfg_check_keys(json_t *obj, const char *path, const char *const *allowed, char *err,
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
            return bm_modcfg_fail(err, errlen, p, "unknown key");
        }
    }
    return 0;
}

int bm_modcfg_is_number(json_t *v)
{
    return json_is_number(v) && isfinite(json_number_value(v));
}

/* A dotted path under data: non-empty segments of printable characters. */
int bm_modcfg_valid_path(const char *s)
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

/* Optional RFC 3339 field: absent or null is fine. */
static int check_date(json_t *obj, const char *key, const char *path, int64_t *ms, char *err,
                      size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *ms = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || bm_rfc3339_parse(json_string_value(v), ms) != 0)
        return bm_modcfg_fail(err, errlen, path, "must be an RFC 3339 date-time");
    return 0;
}

/* The window shapes the host reads: dateRange{start,end,ongoing} or startDate/endDate/ongoing. */
int bm_modcfg_window(json_t *root, char *err, size_t errlen)
{
    json_t *dr = json_object_get(root, "dateRange");
    json_t *base = root;
    const char *ks = "startDate", *ke = "endDate", *ps = "startDate", *pe = "endDate";
    const char *po = "ongoing";
    if (dr) {
        static const char *const keys[] = {"start", "end", "ongoing", NULL};
        if (!json_is_object(dr))
            return bm_modcfg_fail(err, errlen, "dateRange", "must be an object");
        if (bm_modcfg_check_keys(dr, "dateRange", keys, err, errlen))
            return -1;
        base = dr;
        ks = "start", ke = "end", ps = "dateRange.start", pe = "dateRange.end";
        po = "dateRange.ongoing";
    }
    json_t *on = json_object_get(base, "ongoing");
    if (on && !json_is_boolean(on) && !json_is_null(on))
        return bm_modcfg_fail(err, errlen, po, "must be true or false");
    int64_t s = 0, e = 0;
    if (check_date(base, ks, ps, &s, err, errlen) || check_date(base, ke, pe, &e, err, errlen))
        return -1;
    if (s && e && e <= s)
        return bm_modcfg_fail(err, errlen, pe, "must be after the start");
    return 0;
}

/* A reward type name: the built-in token, nft, in_game, webhook, or any a reward
 * module serves (the host checks that it is served when it grants). */
static int reward_type_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 63 || t[0] < 'a' || t[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_' ||
              t[i] == '.' || t[i] == '-'))
            return 0;
    return 1;
}

/* Optional reward {"type": <reward type>, "config": {...}} -> canonical JSON
 * text in *out (NULL when absent). */
int bm_modcfg_reward(json_t *r, const char *path, char **out, char *err, size_t errlen)
{
    char p[PATH_MAX_LEN];
    *out = NULL;
    if (!bm_modcfg_present(r))
        return 0;
    if (!json_is_object(r))
        return bm_modcfg_fail(err, errlen, path, "must be an object with type and config");
    const char *key;
    json_t *v;
    json_object_foreach(r, key, v)
    {
        if (strcmp(key, "type") && strcmp(key, "config"))
            return bm_modcfg_fail(err, errlen, path,
                                  "unknown key '%.60s' (reward settings go under %s.config)", key,
                                  path);
    }
    json_t *t = json_object_get(r, "type");
    snprintf(p, sizeof p, "%s.type", path);
    if (!json_is_string(t) || !reward_type_ok(json_string_value(t)))
        return bm_modcfg_fail(err, errlen, p,
                              "must be a reward type: token, nft, in_game, webhook, or one a "
                              "reward module serves (a-z first, then a-z 0-9 _ . -)");
    json_t *c = json_object_get(r, "config");
    snprintf(p, sizeof p, "%s.config", path);
    if (bm_modcfg_present(c) && !json_is_object(c))
        return bm_modcfg_fail(err, errlen, p, "must be an object");
    json_t *conf = json_is_object(c) ? json_incref(c) : json_object();
    json_t *canon = json_pack("{s:s, s:o}", "type", json_string_value(t), "config", conf);
    *out = canon ? json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(canon);
    return *out ? 0 : bm_modcfg_fail(err, errlen, path, "out of memory");
}

int bm_modcfg_present(json_t *v)
{
    return v && !json_is_null(v);
}
