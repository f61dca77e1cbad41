/*
 * Per-partition memory of applied eventIds: 64-bit hashes of (gameId,
 * eventId) with the time they were applied. Retries of a send land in the
 * same partition (the key is the userId), so a per-partition set suffices.
 */
#ifndef BM_DEDUP_H
#define BM_DEDUP_H

#include <stddef.h>
#include <stdint.h>

typedef struct bm_dedup {
    uint64_t *keys;  /* 0 = empty slot (a real hash of 0 is mapped to 1) */
    uint32_t *times; /* seconds since the epoch the id was applied */
    size_t cap, count;
} bm_dedup;

uint64_t bm_dedup_hash(const char *game_id, const char *event_id);
void bm_dedup_init(bm_dedup *d);
void bm_dedup_free(bm_dedup *d);
int bm_dedup_contains(const bm_dedup *d, uint64_t h);
/* Adds h; 0, or -1 on OOM. */
int bm_dedup_add(bm_dedup *d, uint64_t h, uint32_t now_s);
/* Forgets ids applied before `oldest_s`. */
void bm_dedup_prune(bm_dedup *d, uint32_t oldest_s);

#endif
