/*
 * Partition ownership as the engines' logs tell it: "partition=N assigned",
 * "partition=N revoked|lost" with their ts= wall-clock stamps; a process that
 * was killed owns nothing from the moment of the kill.
 */
#ifndef BM_E2E_OWNERS_H
#define BM_E2E_OWNERS_H

#include <stdint.h>

#include "e2e/common/e2e.h"

#define SO_MAX_SPANS 4096

typedef struct so_span {
    int proc, part;
    int64_t from, to; /* wall ms; to = INT64_MAX while owned */
} so_span;

typedef struct so_owners {
    so_span spans[SO_MAX_SPANS];
    int n;
} so_owners;

/* Wall-clock ms (the clock of the engines' ts= stamps). */
int64_t so_wall_ms(void);
/* Adds the spans of one engine log; `ended` (wall ms, 0 = still running) closes
 * whatever it still owned. */
void so_owners_add_log(so_owners *o, int proc, const char *log_path, int64_t ended);
/* Partition-milliseconds with no owner among `parts` partitions in [from, to). */
long long so_unowned_ms(const so_owners *o, int parts, int64_t from, int64_t to);
/* Partitions revoked from process `proc` in [from, to) (a live process stopping). */
int so_revocations(const so_owners *o, int proc, int64_t from, int64_t to);

#endif
