/*
 * libFuzzer target for the gateway's body parsers (built with -DBM_FUZZ=ON
 * and clang): every input is read as a POST /v1/events body and as an admin
 * API body, the way the gateway reads them.
 *   build-fuzz/fuzz_gateway_body build-fuzz/corpus tests/fuzz/corpus_gateway/
 * An event body either yields 1..max events, each valid (written, with an
 * eventId and a userId) or refused with a reason, or is refused with a 400 or
 * 413 and a message; an admin body is an object or refused with a message,
 * and a string field is within its bounds or named in the refusal. Anything
 * else aborts; ASan and UBSan report the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_body.h"

#define FUZZ_NOW_MS 1795428000000LL /* 2026-11-23T10:00:00.000Z */
#define FUZZ_MAX_EVENTS 500

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void events(const char *p, size_t size)
{
    bm_event_limits lim = {.max_bytes = 65536,
                           .now_ms = FUZZ_NOW_MS,
                           .past_ms = 30LL * 86400 * 1000,
                           .future_ms = 300LL * 1000};
    int status = 0;
    char err[256] = "";
    json_t *list = gw_body_events(p, size, FUZZ_MAX_EVENTS, &status, err, sizeof err);
    if (!list) {
        if ((status != 400 && status != 413) || !err[0])
            abort();
        return;
    }
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > FUZZ_MAX_EVENTS)
        abort();
    for (size_t i = 0; i < n; i++) {
        gw_body_item it;
        char reason[128];
        int rc =
            gw_body_event(json_array_get(list, i), "fuzz-game", &lim, &it, reason, sizeof reason);
        if (rc == 0) {
            if (!it.ok || !it.text || !it.eid[0] || !it.user[0])
                abort();
            /* What is produced parses back to an object with that eventId. */
            json_t *back = json_loads(it.text, JSON_REJECT_DUPLICATES, NULL);
            const char *eid = json_string_value(json_object_get(back, "eventId"));
            if (!json_is_object(back) || !eid || strcmp(eid, it.eid) != 0)
                abort();
            json_decref(back);
        } else if (rc != -1 || it.ok || !reason[0]) {
            abort();
        }
        free(it.text);
    }
    json_decref(list);
}

static void admin(const char *p, size_t size)
{
    char err[256] = "";
    json_t *b = gw_body_object(p, size, err, sizeof err);
    if (!b) {
        if (!err[0])
            abort();
        return;
    }
    if (!json_is_object(b))
        abort();
    const char *names[] = {"name", "gameId", "webhookUrl"};
    const size_t max[] = {200, 200, 2000};
    for (size_t i = 0; i < 3; i++) {
        for (int required = 0; required < 2; required++) {
            const char *v = gw_body_string(b, names[i], max[i], required, err, sizeof err);
            if (v && (!*v || strlen(v) > max[i] || err[0]))
                abort();
            if (!v && required && !strstr(err, names[i]))
                abort();
            if (!v && !required && !err[0] && json_object_get(b, names[i]))
                abort();
        }
    }
    json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    events((const char *)data, size);
    admin((const char *)data, size);
    return 0;
}
