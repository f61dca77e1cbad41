/*
 * The gateway's request body parsers, apart from HTTP so a fuzzer can drive
 * them: the event body of POST /v1/events (one event or {"events": [...]},
 * each checked by the processor's own decoder) and the JSON object bodies of
 * the admin API with their string fields.
 */
#ifndef BM_GW_BODY_H
#define BM_GW_BODY_H

#include <jansson.h>
#include <stddef.h>

#include "event/event.h"

/* The events of a body: a new reference to an array of 1..max_events entries, or NULL with
 * *status (400 bad JSON or shape, 413 too many) and err. */
json_t *gw_body_events(const char *p, size_t len, size_t max_events, int *status, char *err,
                       size_t errlen);

/* One event of the body, as it will be produced. */
typedef struct gw_body_item {
    char *text; /* compact JSON (malloc'd; NULL when it could not be written) */
    char eid[300];
    char user[300];
    int ok;      /* valid: text, eid and user are set */
    int foreign; /* its gameId is a string naming another game than the key's */
} gw_body_item;

/* Gives ev an eventId when it has none (a UUID, returned to the client), writes it and
 * checks it exactly as the processor will. 0 valid, or -1 with reason "code:field". */
int gw_body_event(json_t *ev, const char *game, const bm_event_limits *lim, gw_body_item *it,
                  char *reason, size_t rlen);

/* An admin body: a JSON object without duplicate keys, or NULL with err. */
json_t *gw_body_object(const char *p, size_t len, char *err, size_t errlen);
/* A string field of 1..maxlen bytes: its value; NULL with err[0] = '\0' when it is absent and
 * not required; NULL with err naming the field when it is invalid. */
const char *gw_body_string(json_t *b, const char *name, size_t maxlen, int required, char *err,
                           size_t errlen);

#endif
