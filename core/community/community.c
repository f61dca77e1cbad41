/*
 * CommunityConfig validation: every refusal names the field, because bmctl
 * and the admin API show the text to the studio as the reason.
 */
#include "community/community.h"

#include <ctype.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Paths that /c/<slug> or the product's own pages could collide with. */
static const char *const k_reserved[] = {
    "admin",  "api",         "app",          "assets",     "auth",       "battlepass",  "billing",
    "c",      "communities", "community",    "dashboard",  "docs",       "health",      "healthz",
    "help",   "leaderboard", "leaderboards", "login",      "logout",     "metrics",     "new",
    "null",   "quests",      "readyz",       "register",   "root",       "settings",    "signup",
    "static", "status",      "support",      "system",     "tournament", "tournaments", "undefined",
    "v1",     "www",         "brightmatter", "boredgamer", "moderator",  "official",    NULL};

static int fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", path, msg);
    return -1;
}

int bm_community_slug_check(const char *slug, char *err, size_t errlen)
{
    size_t n = slug ? strlen(slug) : 0;
    int ok = n >= 3 && n <= 48;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = slug[i];
        int alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        ok = alnum || (ch == '-' && i > 0 && i + 1 < n);
    }
    if (!ok)
        return fail(err, errlen, "referralSlug",
                    "must be 3 to 48 of a-z, 0-9 and '-', starting and ending with a letter "
                    "or digit");
    for (const char *const *r = k_reserved; *r; r++)
        if (strcmp(*r, slug) == 0)
            return fail(err, errlen, "referralSlug", "'%s' is reserved", slug);
    return 0;
}

static int check_keys(json_t *obj, const char *path, const char *const *allowed, char *err,
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
            char p[160];
            snprintf(p, sizeof p, "%s%s%.60s", path, *path ? "." : "", key);
            return fail(err, errlen, p, "unknown key");
        }
    }
    return 0;
}

/* A string of 1..max bytes without control characters; NULL if absent or null. */
static int text_field(json_t *obj, const char *key, size_t max, int required, json_t *out,
                      char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return fail(err, errlen, key, "required, a non-empty string");
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
        return fail(err, errlen, key, "must be a non-empty string of at most %zu bytes", max);
    for (const char *p = json_string_value(v); *p; p++)
        if (iscntrl((unsigned char)*p) && *p != '\n')
            return fail(err, errlen, key, "control characters are not allowed");
    json_object_set(out, key, v);
    return 0;
}

/* http(s)://host[:port][/path?query#frag], no spaces or control characters. */
static int url_ok(const char *u)
{
    const char *p;
    if (strncmp(u, "https://", 8) == 0)
        p = u + 8;
    else if (strncmp(u, "http://", 7) == 0)
        p = u + 7;
    else
        return 0;
    const char *host = p;
    if (*p == '[') {
        for (p++; isxdigit((unsigned char)*p) || *p == ':' || *p == '.'; p++)
            ;
        if (*p++ != ']')
            return 0;
    } else {
        while (isalnum((unsigned char)*p) || *p == '-' || *p == '.')
            p++;
    }
    if (p == host || host[0] == '.' || host[0] == '-')
        return 0;
    if (*p == ':') {
        const char *d = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        if (p == d || p - d > 5)
            return 0;
    }
    if (*p && *p != '/' && *p != '?' && *p != '#')
        return 0;
    for (; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '\\')
            return 0;
    return 1;
}

/* 1 when v is an integer in [lo, hi]. */
static int whole_in(json_t *v, long long lo, long long hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int field_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 40 || !isalpha((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* A POSIX extended pattern without back-references (the only construct that needs backtracking). */
static int pattern_ok(const char *pat, char *why, size_t whylen)
{
    if (strlen(pat) > BM_COMMUNITY_MAX_PATTERN) {
        snprintf(why, whylen, "at most %d characters", BM_COMMUNITY_MAX_PATTERN);
        return 0;
    }
    for (const char *p = pat; *p; p++)
        if (*p == '\\' && p[1]) {
            if (p[1] >= '1' && p[1] <= '9') {
                snprintf(why, whylen, "back-references are not allowed");
                return 0;
            }
            p++;
        }
    char full[BM_COMMUNITY_MAX_PATTERN + 8];
    snprintf(full, sizeof full, "^(%s)$", pat);
    regex_t re;
    int rc = regcomp(&re, full, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &re, msg, sizeof msg);
        snprintf(why, whylen, "not a POSIX extended regular expression (%s)", msg);
        return 0;
    }
    regfree(&re);
    return 1;
}

static int parse_metadata(json_t *m, json_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"type", "requiredFields", "validation", NULL};
    static const char *const vkeys[] = {"pattern", "minLength", "maxLength", NULL};
    static const char *const types[] = {"wallet", "email", "username", "discord", "custom", NULL};
    static const char *const defaults[] = {"address", "email", "username", "discord", NULL};
    if (!json_is_object(m))
        return fail(err, errlen, "memberMetadata", "required, an object");
    if (check_keys(m, "memberMetadata", keys, err, errlen))
        return -1;
    const char *type = json_string_value(json_object_get(m, "type"));
    int t = -1;
    for (int i = 0; type && types[i] && t < 0; i++)
        if (strcmp(types[i], type) == 0)
            t = i;
    if (t < 0)
        return fail(err, errlen, "memberMetadata.type",
                    "required, one of wallet, email, username, discord, custom");
    json_t *rf = json_object_get(m, "requiredFields");
    json_t *fields = json_array();
    json_object_set_new(out, "type", json_string(type));
    json_object_set_new(out, "requiredFields", fields);
    if (!rf || json_is_null(rf) || (json_is_array(rf) && json_array_size(rf) == 0)) {
        if (!defaults[t])
            return fail(err, errlen, "memberMetadata.requiredFields",
                        "required for type custom (the fields members must give)");
        json_array_append_new(fields, json_string(defaults[t]));
    } else {
        if (!json_is_array(rf) || json_array_size(rf) > 16)
            return fail(err, errlen, "memberMetadata.requiredFields",
                        "must be an array of at most 16 field names");
        size_t i;
        json_t *v;
        json_array_foreach(rf, i, v)
        {
            char p[64];
            snprintf(p, sizeof p, "memberMetadata.requiredFields[%zu]", i);
            if (!json_is_string(v) || !field_name_ok(json_string_value(v)))
                return fail(err, errlen, p,
                            "must be a field name (letter, then letters, digits, _)");
            for (size_t k = 0; k < i; k++)
                if (json_equal(json_array_get(rf, k), v))
                    return fail(err, errlen, p, "'%s' is listed twice", json_string_value(v));
            json_array_append(fields, v);
        }
    }
    json_t *val = json_object_get(m, "validation");
    if (!val || json_is_null(val))
        return 0;
    if (!json_is_object(val))
        return fail(err, errlen, "memberMetadata.validation", "must be an object");
    if (check_keys(val, "memberMetadata.validation", vkeys, err, errlen))
        return -1;
    json_t *cv = json_object();
    json_object_set_new(out, "validation", cv);
    json_t *pat = json_object_get(val, "pattern");
    if (pat && !json_is_null(pat)) {
        char why[200];
        if (!json_is_string(pat) || !*json_string_value(pat))
            return fail(err, errlen, "memberMetadata.validation.pattern",
                        "must be a non-empty string");
        if (!pattern_ok(json_string_value(pat), why, sizeof why))
            return fail(err, errlen, "memberMetadata.validation.pattern", "%s", why);
        json_object_set(cv, "pattern", pat);
    }
    json_t *mn = json_object_get(val, "minLength"), *mx = json_object_get(val, "maxLength");
    if (mn && !json_is_null(mn)) {
        if (!whole_in(mn, 0, BM_COMMUNITY_MAX_VALUE))
            return fail(err, errlen, "memberMetadata.validation.minLength",
                        "must be an integer 0..%d", BM_COMMUNITY_MAX_VALUE);
        json_object_set(cv, "minLength", mn);
    }
    if (mx && !json_is_null(mx)) {
        if (!whole_in(mx, 1, BM_COMMUNITY_MAX_VALUE))
            return fail(err, errlen, "memberMetadata.validation.maxLength",
                        "must be an integer 1..%d", BM_COMMUNITY_MAX_VALUE);
        if (json_is_integer(mn) && json_integer_value(mn) > json_integer_value(mx))
            return fail(err, errlen, "memberMetadata.validation.maxLength", "must be >= minLength");
        json_object_set(cv, "maxLength", mx);
    }
    return 0;
}

static int parse_reward(json_t *r, json_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"type", "config", NULL};
    static const char *const types[] = {"token", "nft", "in_game", "webhook", NULL};
    if (!r || json_is_null(r))
        return 0;
    if (!json_is_object(r))
        return fail(err, errlen, "starterReward", "must be an object with type and config");
    if (check_keys(r, "starterReward", keys, err, errlen))
        return -1;
    const char *t = json_string_value(json_object_get(r, "type"));
    int ok = 0;
    for (int i = 0; t && types[i] && !ok; i++)
        ok = strcmp(types[i], t) == 0;
    if (!ok)
        return fail(err, errlen, "starterReward.type",
                    "must be one of token, nft, in_game, webhook");
    json_t *c = json_object_get(r, "config");
    if (c && !json_is_null(c) && !json_is_object(c))
        return fail(err, errlen, "starterReward.config", "must be an object");
    json_object_set_new(out, "starterReward",
                        json_pack("{s:s, s:o}", "type", t, "config",
                                  json_is_object(c) ? json_incref(c) : json_object()));
    return 0;
}

static int parse_moderation(json_t *m, json_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"autoApprove", "requireInvite", "maxMembers", "inviteCodes",
                                       NULL};
    json_t *cm = json_pack("{s:b, s:b}", "autoApprove", 1, "requireInvite", 0);
    json_object_set_new(out, "moderationSettings", cm);
    if (!m || json_is_null(m))
        return 0;
    if (!json_is_object(m))
        return fail(err, errlen, "moderationSettings", "must be an object");
    if (check_keys(m, "moderationSettings", keys, err, errlen))
        return -1;
    static const char *const flags[] = {"autoApprove", "requireInvite"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(m, flags[i]);
        char p[64];
        snprintf(p, sizeof p, "moderationSettings.%s", flags[i]);
        if (v && !json_is_null(v) && !json_is_boolean(v))
            return fail(err, errlen, p, "must be true or false");
        if (json_is_boolean(v))
            json_object_set(cm, flags[i], v);
    }
    json_t *mx = json_object_get(m, "maxMembers");
    if (mx && !json_is_null(mx)) {
        if (!whole_in(mx, 1, 100000000))
            return fail(err, errlen, "moderationSettings.maxMembers", "must be an integer >= 1");
        json_object_set(cm, "maxMembers", mx);
    }
    json_t *codes = json_object_get(m, "inviteCodes");
    int need = json_is_true(json_object_get(cm, "requireInvite"));
    if (codes && !json_is_null(codes)) {
        if (!json_is_array(codes) || json_array_size(codes) > 1000)
            return fail(err, errlen, "moderationSettings.inviteCodes",
                        "must be an array of at most 1000 codes");
        size_t i;
        json_t *v;
        json_array_foreach(codes, i, v)
        {
            char p[64];
            snprintf(p, sizeof p, "moderationSettings.inviteCodes[%zu]", i);
            const char *s = json_string_value(v);
            int ok = s && strlen(s) >= 6 && strlen(s) <= 64;
            for (const char *q = s; ok && *q; q++)
                ok = isalnum((unsigned char)*q) || *q == '-' || *q == '_';
            if (!ok)
                return fail(err, errlen, p, "must be 6 to 64 of letters, digits, - and _");
        }
        json_object_set(cm, "inviteCodes", codes);
    }
    if (need && json_array_size(json_object_get(cm, "inviteCodes")) == 0)
        return fail(err, errlen, "moderationSettings.inviteCodes",
                    "required when requireInvite is true");
    return 0;
}

int bm_community_validate(json_t *doc, json_t **out, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "id",          "studioId", "name",           "description",   "referralSlug",
        "redirectUrl", "isOpen",   "memberMetadata", "starterReward", "moderationSettings",
        NULL};
    *out = NULL;
    if (!json_is_object(doc))
        return fail(err, errlen, "community", "must be a JSON object");
    if (check_keys(doc, "", keys, err, errlen))
        return -1;
    json_t *c = json_object();
    if (text_field(doc, "name", 100, 1, c, err, errlen) ||
        text_field(doc, "description", 2000, 0, c, err, errlen) ||
        text_field(doc, "id", 64, 0, c, err, errlen) ||
        text_field(doc, "studioId", 64, 0, c, err, errlen))
        goto fail;
    json_t *slug = json_object_get(doc, "referralSlug");
    if (!json_is_string(slug)) {
        fail(err, errlen, "referralSlug", "required, a string");
        goto fail;
    }
    if (bm_community_slug_check(json_string_value(slug), err, errlen))
        goto fail;
    json_object_set(c, "referralSlug", slug);
    json_t *url = json_object_get(doc, "redirectUrl");
    if (!json_is_string(url) || json_string_length(url) > 2048 || !url_ok(json_string_value(url))) {
        fail(err, errlen, "redirectUrl",
             "required, an http:// or https:// URL with a host (at most 2048 bytes)");
        goto fail;
    }
    json_object_set(c, "redirectUrl", url);
    json_t *open = json_object_get(doc, "isOpen");
    if (open && !json_is_null(open) && !json_is_boolean(open)) {
        fail(err, errlen, "isOpen", "must be true or false");
        goto fail;
    }
    json_object_set_new(c, "isOpen", json_boolean(!json_is_false(open)));
    json_t *mm = json_object();
    json_object_set_new(c, "memberMetadata", mm);
    if (parse_metadata(json_object_get(doc, "memberMetadata"), mm, err, errlen) ||
        parse_reward(json_object_get(doc, "starterReward"), c, err, errlen) ||
        parse_moderation(json_object_get(doc, "moderationSettings"), c, err, errlen))
        goto fail;
    *out = c;
    return 0;
fail:
    json_decref(c);
    return -1;
}
