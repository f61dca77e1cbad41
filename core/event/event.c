#include "event.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
        snprintf(reason, reasonlen, "invalid_json:%d", jerr.position);
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
