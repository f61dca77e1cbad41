/*
 * libFuzzer target for bm_event_decode (built with -DBM_FUZZ=ON and clang):
 *   build/fuzz_event_decode tests/fuzz/corpus_event/
 * Every input must either decode into an event that keeps the decoder's
 * promises (required fields present, data an object, time inside the bounds)
 * or be refused with a reason and nothing left allocated. Anything else
 * aborts, which the fuzzer (and the corpus test) reports as a crash.
 */
#include "fuzz_event_decode.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW_MS 1795428000000LL /* 2026-11-23T10:00:00.000Z */

void fuzz_event_limits(bm_event_limits *lim)
{
    memset(lim, 0, sizeof *lim);
    lim->max_bytes = 65536;
    lim->now_ms = FUZZ_NOW_MS;
    lim->past_ms = 30LL * 86400 * 1000;
    lim->future_ms = 300LL * 1000;
}

static int valid_string(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= 256;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bm_event_limits lim;
    fuzz_event_limits(&lim);
    bm_event ev;
    char reason[128];
    reason[0] = '\0';
    if (bm_event_decode(&ev, (const char *)data, size, &lim, reason, sizeof reason) != 0) {
        if (!reason[0] || ev.root || ev.game_id)
            abort();
        return 0;
    }
    if (!valid_string(ev.game_id) || !valid_string(ev.user_id) || !valid_string(ev.event_type) ||
        !json_is_object(ev.data) || json_object_get(ev.root, "data") != ev.data)
        abort();
    if (ev.time_ms < lim.now_ms - lim.past_ms || ev.time_ms > lim.now_ms + lim.future_ms)
        abort();
    if (ev.event_id && !valid_string(ev.event_id))
        abort();
    /* What scorers do with a decoded event. */
    (void)bm_json_path(ev.data, "score");
    (void)bm_json_path(ev.root, "data.meta.nested.deep");
    bm_event_clear(&ev);
    if (ev.root)
        abort();
    return 0;
}
