/* Deterministic game-event generator behind bm-loadgen (see main.c for the schema). */
#ifndef BM_LG_GEN_H
#define BM_LG_GEN_H

#include <stddef.h>
#include <stdint.h>

/* Event types, in the alphabetical order the expect file uses. */
enum { BM_LG_ENEMY_KILL, BM_LG_ITEM_COLLECTED, BM_LG_LEVEL_UP, BM_LG_MATCH_END, BM_LG_NTYPES };

/* Most numeric fields one type has. */
#define BM_LG_MAX_FIELDS 4

/* Largest message the generator writes (oversized bad events included). */
#define BM_LG_MAX_MSG (128 * 1024)

/* The size above which an event is rejected by the engine (max_event_bytes). */
#define BM_LG_REJECT_BYTES 65536

extern const char *const bm_lg_type_names[BM_LG_NTYPES];
/* Numeric fields of each type, alphabetical; NULL-terminated. */
extern const char *const bm_lg_type_fields[BM_LG_NTYPES][BM_LG_MAX_FIELDS + 1];

/* xoshiro256** state; seeded through splitmix64 so any seed works. */
typedef struct bm_lg_rng {
    uint64_t s[4];
} bm_lg_rng;

/* Seeds one independent stream of `seed`. */
void bm_lg_rng_seed(bm_lg_rng *r, uint64_t seed, uint64_t stream);
/* Next 64 random bits. */
uint64_t bm_lg_rng_next(bm_lg_rng *r);
/* Uniform double in [0, 1). */
double bm_lg_rng_unit(bm_lg_rng *r);
/* Uniform integer in [0, n), n > 0. */
uint32_t bm_lg_rng_below(bm_lg_rng *r, uint32_t n);

typedef struct bm_lg_params {
    uint64_t seed;
    uint64_t events;          /* valid events to generate */
    uint32_t users;           /* distinct users */
    double zipf;              /* user activity exponent (0 = uniform) */
    const char *games;        /* comma-separated game ids */
    const char *user_prefix;  /* user id = prefix + decimal index */
    double mix[BM_LG_NTYPES]; /* relative weight of each type */
    int64_t start_ms;         /* first event time, ms since the epoch */
    int64_t span_ms;          /* last event time = start + span */
    int with_event_id;        /* 0 = omit eventId */
} bm_lg_params;

/* What a valid event contributes to the expected totals. */
typedef struct bm_lg_event {
    int type;
    uint32_t user;
    int64_t v[BM_LG_MAX_FIELDS]; /* values in bm_lg_type_fields order */
} bm_lg_event;

typedef struct bm_lg_gen bm_lg_gen;

/* Builds a generator (Zipf CDF, per-user state); NULL with err on bad parameters. */
bm_lg_gen *bm_lg_gen_new(const bm_lg_params *p, char *err, size_t errlen);

void bm_lg_gen_free(bm_lg_gen *g);

/*
 * Writes valid event number i (call with i = 0, 1, 2, ... in order) as JSON
 * into buf (BM_LG_MAX_MSG bytes) and returns its length; fills *ev.
 */
size_t bm_lg_gen_valid(bm_lg_gen *g, uint64_t i, bm_lg_event *ev, char *buf);

/*
 * Writes the j-th malformed message, sent just before valid event i, into buf
 * (BM_LG_MAX_MSG bytes); returns its length and the user whose key it gets.
 */
size_t bm_lg_gen_bad(bm_lg_gen *g, uint64_t j, uint64_t i, uint32_t *user, char *buf);

/* Writes the user's id (the message key) into buf; returns its length. */
size_t bm_lg_gen_user(const bm_lg_gen *g, uint32_t user, char *buf, size_t cap);

/* The game a user plays (fixed per user). */
const char *bm_lg_gen_game(const bm_lg_gen *g, uint32_t user);

/* Number of users. */
uint32_t bm_lg_gen_users(const bm_lg_gen *g);

#endif
