/*
 * Player levels: the host's copy of each (game, player)'s level, the `level`
 * carried by the latest (by event time) of the player's events. Entries are
 * queued while a batch is prepared, loaded in bulk from player_levels,
 * updated as events are dispatched (before any module sees the event), and
 * written in the batch's transaction. Like the state cache it is only a copy:
 * a failed commit or a revoked partition drops entries, which are reloaded.
 */
#ifndef BM_LEVEL_H
#define BM_LEVEL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct bm_level_entry {
    uint64_t hash;
    char *game, *user; /* owned */
    double level;
    int64_t level_ms; /* event time of the event that carried it */
    int32_t partition;
    uint8_t loaded; /* read from PostgreSQL (or known absent) */
    uint8_t has;    /* a level is known */
    uint8_t dirty;  /* changed in the batch being built */
    uint8_t queued; /* waiting for the bulk load */
} bm_level_entry;

typedef struct bm_levels {
    bm_level_entry **slots; /* open addressing, linear probing */
    size_t cap, count;
    bm_level_entry **load, **dirty;
    size_t nload, capload, ndirty, capdirty;
} bm_levels;

void bm_levels_init(bm_levels *l);
void bm_levels_free(bm_levels *l);

/* Queues (game, user) for the next bm_levels_load if not known yet; 0 or -1 on OOM. */
int bm_levels_want(bm_levels *l, const char *game, const char *user, int32_t partition);

/* Loads every queued entry in one query; 0 or -1 with err. */
int bm_levels_load(bm_levels *l, PGconn *pg, char *err, size_t errlen);

/* Applies an event: if data.level is a number (or numeric string) and the event
 * is not older than the level known, it becomes the player's level. */
void bm_levels_observe(bm_levels *l, const char *game, const char *user, int64_t time_ms,
                       json_t *data);

/* The player's level: 0 with *out set, -1 if none known. */
int bm_levels_get(const bm_levels *l, const char *game, const char *user, double *out);

/* Serializes the entries changed in this batch as three array literals
 * (games, users, levels, times) and clears their dirty marks. */
void bm_levels_take(bm_levels *l, bm_buf arr[4], size_t *n);

/* Upserts what bm_levels_take produced, inside the caller's transaction; 0 or -1 with err. */
int bm_levels_write(PGconn *pg, bm_buf arr[4], size_t n, char *err, size_t errlen);

/* Drops the entries of a partition (all when partition < 0). */
void bm_levels_drop(bm_levels *l, int32_t partition);

#endif
