/*
 * A bump arena for decoded events. jansson allocates a dozen small blocks per
 * event and frees them all at the end of the batch; with 20k events a batch,
 * malloc/free were the largest cost of the engine. While the arena is active
 * (only inside bm_event_decode on the processing thread) jansson allocates
 * from it; frees of arena memory are no-ops, and the whole arena is recycled
 * once the batch's events are released. Memory from anywhere else (module
 * configs, filters) still goes through malloc/free.
 */
#ifndef BM_ARENA_H
#define BM_ARENA_H

#include <stddef.h>

/* Routes jansson's allocations through the arena hooks (once per process). */
void bm_arena_install(void);
/* Makes the calling thread's jansson allocations come from the arena. */
void bm_arena_begin(void);
void bm_arena_end(void);
/* Forgets everything allocated in the arena (all its events are released). */
void bm_arena_reset(void);

#endif
