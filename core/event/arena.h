/*
 * A bump arena for decoded events. jansson allocates a dozen small blocks per
 * event and frees them all at the end of the batch; with 20k events a batch,
 * malloc/free were the largest cost of the engine. Between bm_arena_begin and
 * bm_arena_end the calling thread's jansson allocations come from the arena
 * (a thread-local pointer selects it); every other thread, and this one
 * outside that window, gets plain malloc. Frees of arena memory are no-ops;
 * the arena is recycled by bm_arena_reset once its events are released.
 *
 * jansson's allocator hooks are process-wide, so they are installed once and
 * stay: to tell arena memory from malloc memory on any thread, every chunk
 * ever handed to an arena is in a set that only grows and is read without a
 * lock; chunks are aligned to their size, so a free finds its chunk in O(1)
 * (a scan of every chunk was a visible share of the engine's CPU). Chunks
 * are never returned to the system; a destroyed arena's chunks are reused by
 * the next one.
 */
#ifndef BM_ARENA_H
#define BM_ARENA_H

#include <stddef.h>

typedef struct bm_arena bm_arena;

/* A new arena (installs the jansson hooks on first use); NULL on OOM. */
bm_arena *bm_arena_new(void);
/* Gives the arena's chunks back to the pool. No allocation may be live. */
void bm_arena_destroy(bm_arena *a);
/* Makes the calling thread's jansson allocations come from `a` until end. */
void bm_arena_begin(bm_arena *a);
void bm_arena_end(void);
/* Makes `a` (NULL: plain malloc) the calling thread's arena; returns the previous one. */
bm_arena *bm_arena_swap(bm_arena *a);
/* Forgets everything allocated in the arena (all its events are released). */
void bm_arena_reset(bm_arena *a);
/* Nonzero if p lies in a chunk of any arena. */
int bm_arena_owns(const void *p);

#endif
