/* A decoded game event (the concrete type behind bm_event in module.h). */
#ifndef BM_EVENT_H
#define BM_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <brightmatter/module.h>

#include "util/rfc3339.h" /* bm_rfc3339_parse / bm_rfc3339_format */

struct bm_event {
    json_t *root;           /* whole decoded document (owned) */
    json_t *data;           /* root["data"], an object (borrowed) */
    const char *event_id;   /* NULL when absent */
    const char *game_id;    /* never NULL after a successful decode */
    const char *user_id;    /* never NULL */
    const char *event_type; /* never NULL */
    const char *source;     /* NULL when absent */
    int64_t time_ms;        /* timestamp, ms since the epoch (UTC) */
    int32_t partition;      /* where it was read from (-1 if not from Kafka) */
    int64_t offset;
};

/* Bounds applied while decoding. */
typedef struct bm_event_limits {
    size_t max_bytes;  /* larger payloads are refused */
    int64_t now_ms;    /* reference time for the bounds */
    int64_t past_ms;   /* oldest accepted timestamp = now - past_ms (0 = no bound) */
    int64_t future_ms; /* newest accepted timestamp = now + future_ms (0 = no bound) */
} bm_event_limits;

/*
 * Decodes and validates one event. On success fills *ev (release with
 * bm_event_clear) and returns 0. On failure returns -1 and writes a short
 * machine-readable reason ("missing_field:userId", ...) to reason.
 */
int bm_event_decode(bm_event *ev, const char *buf, size_t len, const bm_event_limits *lim,
                    char *reason, size_t reasonlen);

/* Releases what bm_event_decode allocated. */
void bm_event_clear(bm_event *ev);

/* Value at a dotted path below `obj` ("a.b.c"), or NULL. */
json_t *bm_json_path(json_t *obj, const char *path);

#endif
