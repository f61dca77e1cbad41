#include "event.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), no timezone involved. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int bm_rfc3339_parse(const char *s, int64_t *ms_out)
{
    int Y, M, D, h, m, sec;
    if (!s || strlen(s) < 20)
        return -1;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
        return -1;
    if (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0))
        return -1;
    const char *p = s + 19;
    int ms = 0;
    if (*p == '.') {
        p++;
        int n = 0, scale = 100;
        while (isdigit((unsigned char)*p)) {
            if (n < 3)
                ms += (*p - '0') * scale;
            scale /= 10;
            n++;
            p++;
        }
        if (n == 0)
            return -1;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    if (sec == 60)
        sec = 59; /* leap second: clamp, ordering within the second is kept by ms */
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t t = ((days * 24 + h) * 60 + m) * 60 + sec - (int64_t)offset_min * 60;
    *ms_out = t * 1000 + ms;
    return 0;
}

void bm_rfc3339_format(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)t * 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, frac);
}

json_t *bm_json_path(json_t *obj, const char *path)
{
    char key[256];
    const char *p = path;
    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof key || !json_is_object(obj))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        obj = json_object_get(obj, key);
        p = dot ? dot + 1 : p + n;
    }
    return obj;
}

/* A required string field: present, a string, 1..256 bytes. */
static const char *req_string(json_t *root, const char *name, char *reason, size_t reasonlen)
{
    json_t *v = json_object_get(root, name);
    if (!v) {
        snprintf(reason, reasonlen, "missing_field:%s", name);
        return NULL;
    }
    if (!json_is_string(v)) {
        snprintf(reason, reasonlen, "wrong_type:%s", name);
        return NULL;
    }
    size_t n = json_string_length(v);
    if (n == 0 || n > 256) {
        snprintf(reason, reasonlen, "bad_length:%s", name);
        return NULL;
    }
    return json_string_value(v);
}

int bm_event_decode(bm_event *ev, const char *buf, size_t len, const bm_event_limits *lim,
                    char *reason, size_t reasonlen)
{
    memset(ev, 0, sizeof *ev);
    ev->partition = -1;
    if (lim && lim->max_bytes && len > lim->max_bytes) {
        snprintf(reason, reasonlen, "too_large:%zu", len);
        return -1;
    }
    json_error_t jerr;
    /* REJECT_DUPLICATES: two "userId" keys must not let a filter see one value and
     * the scorer another. DISABLE_EOF_CHECK stays off: trailing bytes are an error. */
    ev->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!ev->root) {
        /* The parser's own words and where: line, column and byte offset. */
        snprintf(reason, reasonlen, "invalid_json:%d: %s (line %d, column %d)", jerr.position,
                 jerr.text, jerr.line, jerr.column);
        return -1;
    }
    if (!json_is_object(ev->root)) {
        snprintf(reason, reasonlen, "not_an_object");
        goto fail;
    }
    if (!(ev->game_id = req_string(ev->root, "gameId", reason, reasonlen)) ||
        !(ev->user_id = req_string(ev->root, "userId", reason, reasonlen)) ||
        !(ev->event_type = req_string(ev->root, "eventType", reason, reasonlen)))
        goto fail;
    json_t *v = json_object_get(ev->root, "eventId");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 256) {
            snprintf(reason, reasonlen, "wrong_type:eventId");
            goto fail;
        }
        ev->event_id = json_string_value(v);
    }
    v = json_object_get(ev->root, "source");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) {
            snprintf(reason, reasonlen, "wrong_type:source");
            goto fail;
        }
        ev->source = json_string_value(v);
    }
    ev->data = json_object_get(ev->root, "data");
    if (!ev->data) {
        /* An event without data is legal (a bare "LOGIN"); give it an empty object so
         * accessors and formulas never see NULL. */
        ev->data = json_object();
        json_object_set_new(ev->root, "data", ev->data);
    } else if (!json_is_object(ev->data)) {
        snprintf(reason, reasonlen, "wrong_type:data");
        goto fail;
    }
    const char *ts = req_string(ev->root, "timestamp", reason, reasonlen);
    if (!ts)
        goto fail;
    if (bm_rfc3339_parse(ts, &ev->time_ms) != 0) {
        snprintf(reason, reasonlen, "bad_timestamp");
        goto fail;
    }
    if (lim && lim->now_ms) {
        if (lim->past_ms && ev->time_ms < lim->now_ms - lim->past_ms) {
            snprintf(reason, reasonlen, "timestamp_too_old");
            goto fail;
        }
        if (lim->future_ms && ev->time_ms > lim->now_ms + lim->future_ms) {
            snprintf(reason, reasonlen, "timestamp_in_future");
            goto fail;
        }
    }
    return 0;
fail:
    json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
    return -1;
}

void bm_event_clear(bm_event *ev)
{
    if (ev->root)
        json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
}
