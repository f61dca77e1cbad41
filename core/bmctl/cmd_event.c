/*
 * bmctl event send JSON...: produces game events onto game.events, keyed by
 * userId, after the engine's own decoder accepted them (so a typo is an
 * error here, not a DLQ entry later). "timestamp" defaults to now and
 * "eventId" to a fresh one, so `bmctl event send '{"gameId":"g","userId":"u",
 * "eventType":"match_end","data":{"points":5}}'` is enough to try a module.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bmctl/bmctl.h"
#include "event/event.h"
#include "kafka/kafka.h"
#include "util/clock.h"

/* The event with defaults filled in, as compact JSON (malloc'd), or NULL with err. */
static char *complete(const char *text, int seq, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *ev = json_loads(text, 0, &jerr);
    if (!json_is_object(ev)) {
        snprintf(err, errlen, "not a JSON object: %s", ev ? "wrong type" : jerr.text);
        json_decref(ev);
        return NULL;
    }
    char ts[40], id[64];
    if (!json_object_get(ev, "timestamp")) {
        bm_rfc3339_format(bm_now_ms(), ts, sizeof ts);
        json_object_set_new(ev, "timestamp", json_string(ts));
    }
    if (!json_object_get(ev, "eventId")) {
        snprintf(id, sizeof id, "bmctl-%lld-%d-%d", (long long)bm_now_ms(), (int)getpid(), seq);
        json_object_set_new(ev, "eventId", json_string(id));
    }
    if (!json_object_get(ev, "data"))
        json_object_set_new(ev, "data", json_object());
    char *out = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (!out)
        snprintf(err, errlen, "out of memory");
    return out;
}

int bm_cmd_event(bm_ctl *ctl, int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "send") != 0) {
        fprintf(stderr, "usage: bmctl event send JSON...\n");
        return 2;
    }
    char err[512], boot[512], reason[128];
    rd_kafka_t *p = NULL;
    int rc = 1;
    if (bm_kafka_bootstrap(&ctl->cfg, boot, sizeof boot, err, sizeof err) != 0 ||
        !(p = bm_kafka_producer_new(boot, err, sizeof err))) {
        fprintf(stderr, "event: %s\n", err);
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        char *text = complete(argv[i], i, err, sizeof err);
        if (!text) {
            fprintf(stderr, "event %d: %s\n", i - 1, err);
            goto done;
        }
        bm_event ev;
        memset(&ev, 0, sizeof ev);
        bm_event_limits lim = {.max_bytes = (size_t)ctl->cfg.max_event_bytes,
                               .now_ms = bm_now_ms(),
                               .past_ms = (int64_t)ctl->cfg.past_bound_s * 1000,
                               .future_ms = (int64_t)ctl->cfg.future_bound_s * 1000};
        if (bm_event_decode(&ev, text, strlen(text), &lim, reason, sizeof reason) != 0) {
            fprintf(stderr, "event %d: refused: %s\n", i - 1, reason);
            free(text);
            goto done;
        }
        int sent = bm_kafka_produce_sync(p, ctl->cfg.events_topic, ev.user_id, text, strlen(text),
                                         err, sizeof err);
        if (sent == 0)
            printf("sent %s for %s\n", ev.event_id, ev.user_id);
        bm_event_clear(&ev);
        free(text);
        if (sent != 0) {
            fprintf(stderr, "event %d: %s\n", i - 1, err);
            goto done;
        }
    }
    rc = 0;
done:
    rd_kafka_destroy(p);
    return rc;
}
