/* The event decoder's fuzz target, shared with the corpus test that runs in every build. */
#ifndef BM_FUZZ_EVENT_DECODE_H
#define BM_FUZZ_EVENT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "event/event.h"

/* The engine's default bounds around a fixed "now" (2026-11-23T10:00:00Z), so a
 * corpus decodes the same whenever it runs. */
void fuzz_event_limits(bm_event_limits *lim);

/* Decodes data and aborts if the result breaks bm_event_decode's contract. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
