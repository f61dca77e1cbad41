/* Event accessors of the host API: read-only views of a decoded event. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "host/host.h"

const char *bm_hostapi_event_id(const bm_event *ev)
{
    return ev->event_id;
}

const char *bm_hostapi_event_game(const bm_event *ev)
{
    return ev->game_id;
}

const char *bm_hostapi_event_user(const bm_event *ev)
{
    return ev->user_id;
}

const char *bm_hostapi_event_type(const bm_event *ev)
{
    return ev->event_type;
}

int64_t bm_hostapi_event_time_ms(const bm_event *ev)
{
    return ev->time_ms;
}

int bm_hostapi_event_number(const bm_event *ev, const char *path, double *out)
{
    /* Numeric strings count as their number: the one rule formulas follow too. */
    return bm_event_number_value(bm_json_path(ev->data, path), out) ? 0 : -1;
}

const char *bm_hostapi_event_string(const bm_event *ev, const char *path)
{
    json_t *v = bm_json_path(ev->data, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int bm_hostapi_event_has(const bm_event *ev, const char *path)
{
    json_t *v = bm_json_path(ev->data, path);
    return v && !json_is_null(v);
}

/* Numbers compare by value (3 equals 3.0); everything else by json_equal. */
static int values_equal(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

/*
 * Filters are the same few strings over and over (a module passes the text it
 * keeps in its campaign context), so parsed filters are cached per thread,
 * keyed by pointer and checked by content (a freed-and-reused pointer with new
 * text is parsed again).
 */
#define FILTER_CACHE 16
typedef struct filter_slot {
    const char *ptr;
    char *text;
    json_t *parsed;
} filter_slot;
static _Thread_local filter_slot g_filters[FILTER_CACHE];

static json_t *filter_parse(const char *filter_json)
{
    filter_slot *s = &g_filters[((uintptr_t)filter_json >> 4) % FILTER_CACHE];
    if (s->ptr == filter_json && s->text && strcmp(s->text, filter_json) == 0)
        return s->parsed;
    json_decref(s->parsed);
    free(s->text);
    s->ptr = filter_json;
    s->text = strdup(filter_json);
    s->parsed = json_loads(filter_json, 0, NULL);
    return s->parsed;
}

int bm_hostapi_event_matches(const bm_event *ev, const char *filter_json)
{
    if (!filter_json || !*filter_json)
        return 1;
    json_t *f = filter_parse(filter_json);
    if (!json_is_object(f))
        return 0;
    int ok = 1;
    const char *key;
    json_t *want;
    json_object_foreach(f, key, want)
    {
        json_t *got = bm_json_path(ev->data, key);
        if (!got || !values_equal(got, want)) {
            ok = 0;
            break;
        }
    }
    return ok;
}
