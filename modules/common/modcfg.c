/*
 * Config validation shared by the in-tree campaign modules (compiled into each
 * .so: modules never link the host). Every refusal names the field, because
 * `bmctl campaign create` shows the text to the studio as the reason.
 */
#include "modcfg.h"

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

/* Number of days from 1970-01-01 to a proleptic Gregorian date. */
static int64_t civil_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int two(const char *s, int *out)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return -1;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
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

/* Optional RFC 3339 field: absent or null is fine. */
static int check_date(json_t *obj, const char *key, const char *path, int64_t *ms, char *err,
                      size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *ms = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || parse_time(json_string_value(v), ms) != 0)
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
