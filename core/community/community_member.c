/*
 * What a member gives when joining, checked against the community's
 * memberMetadata. Patterns are POSIX extended expressions without
 * back-references, matched by glibc's automaton-based matcher on values of
 * at most BM_COMMUNITY_MAX_VALUE bytes: no input makes them backtrack.
 */
#include <ctype.h>
#include <nettle/sha3.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "community/community.h"

static int fail(char *err, size_t errlen, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *field, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "metadata.%.60s: %s", field, msg);
    return -1;
}

/* Keccak-256 (Ethereum's hash, the pre-standard padding 0x01) of up to 135 bytes,
 * with nettle's Keccak-f[1600] permutation. */
static void keccak256_short(const uint8_t *msg, size_t n, uint8_t out[32])
{
    enum { RATE = 136 };
    uint8_t block[RATE] = {0};
    memcpy(block, msg, n);
    block[n] ^= 0x01;
    block[RATE - 1] ^= 0x80;
    struct sha3_state st;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < RATE / 8; i++) {
        uint64_t lane = 0;
        for (int b = 7; b >= 0; b--)
            lane = (lane << 8) | block[i * 8 + b];
        st.a[i] ^= lane;
    }
    sha3_permute(&st);
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(st.a[i / 8] >> (8 * (i % 8)));
}

int bm_community_wallet_ok(const char *s)
{
    if (strlen(s) != 42 || s[0] != '0' || s[1] != 'x')
        return 0;
    int lower = 0, upper = 0;
    uint8_t lc[40];
    for (int i = 0; i < 40; i++) {
        char ch = s[2 + i];
        if (!isxdigit((unsigned char)ch))
            return 0;
        lower |= ch >= 'a' && ch <= 'f';
        upper |= ch >= 'A' && ch <= 'F';
        lc[i] = (uint8_t)tolower((unsigned char)ch);
    }
    if (!(lower && upper))
        return 1;
    /* EIP-55: a letter is upper case exactly when its nibble of keccak256(lower hex) >= 8. */
    uint8_t h[32];
    keccak256_short(lc, 40, h);
    for (int i = 0; i < 40; i++) {
        char ch = s[2 + i];
        if (!isalpha((unsigned char)ch))
            continue;
        int nib = (i % 2 == 0) ? h[i / 2] >> 4 : h[i / 2] & 0x0f;
        if ((nib >= 8) != (ch >= 'A' && ch <= 'F'))
            return 0;
    }
    return 1;
}

static int email_ok(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n > 254 || !at || strchr(at + 1, '@') || at == s || at - s > 64)
        return 0;
    static const char local_extra[] = "!#$%&'*+/=?^_`{|}~.-";
    for (const char *p = s; p < at; p++) {
        if (!isalnum((unsigned char)*p) && !strchr(local_extra, *p))
            return 0;
        if (*p == '.' && (p == s || p + 1 == at || p[1] == '.'))
            return 0;
    }
    const char *d = at + 1;
    int labels = 0, alpha_tld = 1;
    size_t len = 0;
    for (const char *p = d;; p++) {
        if (*p == '.' || *p == '\0') {
            if (len == 0 || len > 63 || p[-1] == '-' || p[-(long)len] == '-')
                return 0;
            labels++;
            if (*p == '\0')
                break;
            len = 0;
            alpha_tld = 1;
            continue;
        }
        if (!isalnum((unsigned char)*p) && *p != '-')
            return 0;
        alpha_tld &= isalpha((unsigned char)*p) != 0;
        len++;
    }
    return labels >= 2 && alpha_tld && len >= 2;
}

static int username_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return 0;
    return 1;
}

/* Discord: today's names (2..32 of a-z 0-9 _ ., no "..") or the legacy name#1234. */
static int discord_ok(const char *s)
{
    size_t n = strlen(s);
    const char *hash = strrchr(s, '#');
    if (hash) {
        size_t name = (size_t)(hash - s);
        if (name < 2 || name > 32 || strlen(hash + 1) != 4)
            return 0;
        for (int i = 1; i <= 4; i++)
            if (!isdigit((unsigned char)hash[i]))
                return 0;
        for (const char *p = s; p < hash; p++)
            if (*p == '@' || *p == ':' || *p == '#' || iscntrl((unsigned char)*p))
                return 0;
        return 1;
    }
    if (n < 2 || n > 32 || strstr(s, ".."))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
              s[i] == '.'))
            return 0;
    return 1;
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static int pattern_match(const char *pat, const char *value)
{
    char full[BM_COMMUNITY_MAX_PATTERN + 8];
    snprintf(full, sizeof full, "^(%s)$", pat);
    regex_t re;
    if (regcomp(&re, full, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int ok = regexec(&re, value, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Checks the primary field by type and the community's validation rules. */
static int check_primary(json_t *mm, const char *field, const char *v, json_t *norm, char *err,
                         size_t errlen)
{
    const char *type = json_string_value(json_object_get(mm, "type"));
    if (strcmp(type, "wallet") == 0) {
        if (!bm_community_wallet_ok(v))
            return fail(err, errlen, field,
                        "must be a 0x address of 40 hex digits, lower case or EIP-55 checksummed");
        char lc[43];
        for (int i = 0; i < 42; i++)
            lc[i] = (char)tolower((unsigned char)v[i]);
        lc[42] = '\0';
        json_object_set_new(norm, field, json_string(lc));
    } else if (strcmp(type, "email") == 0) {
        if (!email_ok(v))
            return fail(err, errlen, field, "must be an email address (name@example.com)");
        char buf[260];
        snprintf(buf, sizeof buf, "%s", v);
        for (char *p = strchr(buf, '@'); p && *p; p++)
            *p = (char)tolower((unsigned char)*p);
        json_object_set_new(norm, field, json_string(buf));
    } else if (strcmp(type, "username") == 0 && !username_ok(v)) {
        return fail(err, errlen, field, "must be 3 to 32 of letters, digits, _ . -");
    } else if (strcmp(type, "discord") == 0 && !discord_ok(v)) {
        return fail(err, errlen, field,
                    "must be a Discord username (2 to 32 of a-z 0-9 _ .) or name#1234");
    }
    json_t *val = json_object_get(mm, "validation");
    json_t *mn = json_object_get(val, "minLength"), *mx = json_object_get(val, "maxLength");
    size_t len = utf8_len(v);
    if (json_is_integer(mn) && len < (size_t)json_integer_value(mn))
        return fail(err, errlen, field, "must be at least %lld characters",
                    (long long)json_integer_value(mn));
    if (json_is_integer(mx) && len > (size_t)json_integer_value(mx))
        return fail(err, errlen, field, "must be at most %lld characters",
                    (long long)json_integer_value(mx));
    const char *pat = json_string_value(json_object_get(val, "pattern"));
    if (pat && !pattern_match(pat, v))
        return fail(err, errlen, field, "does not match the community's pattern");
    return 0;
}

int bm_community_member_check(json_t *config, json_t *metadata, json_t **out, char *err,
                              size_t errlen)
{
    *out = NULL;
    json_t *mm = json_object_get(config, "memberMetadata");
    json_t *fields = json_object_get(mm, "requiredFields");
    if (!json_is_object(metadata)) {
        snprintf(err, errlen, "metadata: must be an object");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(metadata, key, v)
    {
        int asked = 0;
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f)
        {
            asked |= strcmp(json_string_value(f), key) == 0;
        }
        if (!asked)
            return fail(err, errlen, key, "not asked for by this community");
    }
    json_t *norm = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(f);
        json_t *val = json_object_get(metadata, name);
        const char *s = json_string_value(val);
        int bad = 0;
        if (!s || !*s)
            bad = fail(err, errlen, name, "required, a non-empty string");
        else if (strlen(s) > BM_COMMUNITY_MAX_VALUE)
            bad = fail(err, errlen, name, "at most %d bytes", BM_COMMUNITY_MAX_VALUE);
        for (const char *p = s; !bad && p && *p; p++)
            if (iscntrl((unsigned char)*p))
                bad = fail(err, errlen, name, "control characters are not allowed");
        if (!bad) {
            json_object_set(norm, name, val);
            if (i == 0)
                bad = check_primary(mm, name, s, norm, err, errlen);
        }
        if (bad) {
            json_decref(norm);
            return -1;
        }
    }
    *out = norm;
    return 0;
}
