/* Streams of the hostile-input test: valid events with malformed ones mixed in. */
#ifndef BM_E2E_HOSTILE_H
#define BM_E2E_HOSTILE_H

#include "e2e/common/e2e.h"

#define HOSTILE_GAME "demo-game"

/* A malformed message produced, and the reason the engine must give for it. */
typedef struct hostile_msg {
    uint64_t hash; /* of the bytes */
    char sha[65];  /* SHA-256 of the bytes, hex (the DLQ record names it) */
    size_t len;
    char reason[40]; /* expected prefix of the DLQ reason */
    int matched;
} hostile_msg;

typedef struct hostile_stream {
    hostile_msg *bad;
    size_t nbad, capbad;
    long long produced;
} hostile_stream;

/*
 * Produces valid events (added to x), byte-identical re-sends of some of them,
 * and malformed messages of every kind, shuffled together and keyed by the
 * same users. Deterministic for a seed (timestamps aside).
 */
void hostile_stream_produce(bm_e2e *e, hostile_stream *hs, bm_e2e_expect *x, uint64_t seed);
void hostile_stream_free(hostile_stream *hs);

/* Every DLQ record: one per malformed message, its own reason, its bytes. */
void hostile_check_dlq(bm_e2e *e, hostile_stream *hs);

/*
 * Produces LEVEL_UP events for the formula test: all of them go into x
 * (field "level"), the even levels also into even (field "even"). Returns the
 * messages produced; *n is the number of events, *odd those with an odd level.
 */
long long hostile_levelups(bm_e2e *e, bm_e2e_expect *x, bm_e2e_expect *even, long long *n,
                           long long *odd);

#endif
