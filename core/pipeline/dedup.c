#include "pipeline/dedup.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

uint64_t bm_dedup_hash(const char *game_id, const char *event_id)
{
    /* Stored in event_dedup: this exact function, forever. 0 marks an empty slot. */
    uint64_t h = bm_hash_mix(bm_hash_pair(game_id, event_id));
    return h ? h : 1;
}

void bm_dedup_init(bm_dedup *d)
{
    memset(d, 0, sizeof *d);
}

void bm_dedup_free(bm_dedup *d)
{
    free(d->keys);
    free(d->times);
    memset(d, 0, sizeof *d);
}

int bm_dedup_contains(const bm_dedup *d, uint64_t h)
{
    if (!d->cap)
        return 0;
    for (size_t i = h & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
        if (d->keys[i] == h)
            return 1;
        if (!d->keys[i])
            return 0;
    }
}

static void put(uint64_t *keys, uint32_t *times, size_t cap, uint64_t h, uint32_t t)
{
    size_t i = h & (cap - 1);
    while (keys[i] && keys[i] != h)
        i = (i + 1) & (cap - 1);
    keys[i] = h;
    times[i] = t;
}

static int rebuild(bm_dedup *d, size_t ncap, uint32_t oldest_s)
{
    uint64_t *nk = calloc(ncap, sizeof *nk);
    uint32_t *nt = calloc(ncap, sizeof *nt);
    if (!nk || !nt) {
        free(nk);
        free(nt);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < d->cap; i++) {
        if (d->keys[i] && d->times[i] >= oldest_s) {
            put(nk, nt, ncap, d->keys[i], d->times[i]);
            n++;
        }
    }
    free(d->keys);
    free(d->times);
    d->keys = nk;
    d->times = nt;
    d->cap = ncap;
    d->count = n;
    return 0;
}

int bm_dedup_add(bm_dedup *d, uint64_t h, uint32_t now_s)
{
    if ((d->count + 1) * 2 > d->cap && rebuild(d, d->cap ? d->cap * 2 : 4096, 0) != 0)
        return -1;
    size_t before = d->count;
    size_t i = h & (d->cap - 1);
    while (d->keys[i] && d->keys[i] != h)
        i = (i + 1) & (d->cap - 1);
    if (!d->keys[i])
        d->count = before + 1;
    d->keys[i] = h;
    d->times[i] = now_s;
    return 0;
}

void bm_dedup_prune(bm_dedup *d, uint32_t oldest_s)
{
    if (d->cap)
        (void)rebuild(d, d->cap, oldest_s);
}
