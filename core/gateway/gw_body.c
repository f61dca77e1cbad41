/* Request body parsers: see gw_body.h. */
#include "gateway/gw_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

json_t *gw_body_events(const char *p, size_t len, size_t max_events, int *status, char *err,
                       size_t errlen)
{
    json_error_t je;
    *status = 400;
    json_t *root = json_loadb(p ? p : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        snprintf(err, errlen, "body must be one event or {\"events\": [...]}: %s",
                 root ? "not an object" : je.text);
        json_decref(root);
        return NULL;
    }
    json_t *list = json_object_get(root, "events");
    if (list && !json_is_array(list)) {
        json_decref(root);
        snprintf(err, errlen, "field events: must be an array");
        return NULL;
    }
    if (!list) {
        list = json_array();
        json_array_append(list, root);
    } else {
        json_incref(list);
    }
    json_decref(root);
    size_t n = json_array_size(list);
    if (n == 0 || n > max_events) {
        if (n == 0) {
            snprintf(err, errlen, "field events: empty");
        } else {
            *status = 413;
            snprintf(err, errlen, "%zu events in one body, at most %zu", n, max_events);
        }
        json_decref(list);
        return NULL;
    }
    return list;
}

int gw_body_event(json_t *ev, const char *game, const bm_event_limits *lim, gw_body_item *it,
                  char *reason, size_t rlen)
{
    memset(it, 0, sizeof *it);
    reason[0] = '\0';
    if (!json_is_object(ev)) {
        snprintf(reason, rlen, "not_an_object");
        return -1;
    }
    json_t *gid = json_object_get(ev, "gameId");
    it->foreign = json_is_string(gid) && strcmp(json_string_value(gid), game) != 0;
    json_t *eid = json_object_get(ev, "eventId");
    if (!eid || json_is_null(eid)) {
        char u[37];
        if (bm_auth_uuid(u) == 0)
            json_object_set_new(ev, "eventId", json_string(u));
    }
    it->text = json_dumps(ev, JSON_COMPACT);
    /* The processor's checks on the object already parsed; the size bound on the text that
     * is produced. */
    size_t tlen = it->text ? strlen(it->text) : 0;
    if (it->text && tlen > lim->max_bytes)
        snprintf(reason, rlen, "too_large:%zu", tlen);
    bm_event dec;
    if (!it->text || reason[0] ||
        bm_event_from_json(&dec, json_incref(ev), lim, reason, rlen) != 0) {
        if (!reason[0])
            snprintf(reason, rlen, "invalid");
        return -1;
    }
    snprintf(it->eid, sizeof it->eid, "%s", dec.event_id);
    snprintf(it->user, sizeof it->user, "%s", dec.user_id);
    bm_event_clear(&dec);
    it->ok = 1;
    return 0;
}

json_t *gw_body_object(const char *p, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *b = json_loadb(p ? p : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(b)) {
        snprintf(err, errlen, "body must be a JSON object%s%s", b ? "" : ": ", b ? "" : je.text);
        json_decref(b);
        return NULL;
    }
    return b;
}

const char *gw_body_string(json_t *b, const char *name, size_t maxlen, int required, char *err,
                           size_t errlen)
{
    err[0] = '\0';
    json_t *v = json_object_get(b, name);
    if (!v && !required)
        return NULL;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > maxlen) {
        snprintf(err, errlen, "field %s: a string of 1 to %zu bytes is required", name, maxlen);
        return NULL;
    }
    return json_string_value(v);
}
