/* The rewards role's PostgreSQL side: claim and record (internal to core/rewards). */
#ifndef BM_REWARDS_SQL_H
#define BM_REWARDS_SQL_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "rewards/rewards.h"
#include "rewards/rewards_item.h"

/* What one record round did, for the counters. */
typedef struct bm_rw_tally {
    int delivered, retried, failed, released, stale;
    int64_t latency_ms[1024]; /* grant -> delivered, of the first 1024 delivered */
    int nlatency;
} bm_rw_tally;

/*
 * Claims up to `limit` due rows whose reward_type is in `types` (a PostgreSQL
 * array literal), for `lease_s`, as `owner`; writes the "processing" outbox
 * messages in the same transaction. Items are prepended to *list. Returns the
 * number claimed, or -1 with err (nothing claimed).
 */
int bm_rw_claim(PGconn *pg, const char *types, int limit, int lease_s, const char *owner,
                bm_rw_item **list, char *err, size_t errlen);

/*
 * Writes the outcome of every item of `list` with its outbox messages in one
 * transaction. A row whose lease was taken over meanwhile (its attempts moved
 * on) is left alone and counted stale. 0, or -1 with err (nothing written).
 */
int bm_rw_record(PGconn *pg, bm_rw_item *list, const bm_backoff *b, bm_rw_tally *t, char *err,
                 size_t errlen);

/* Counts due pending rows whose type is not in `types`. -1 on error. */
long long bm_rw_count_unserved(PGconn *pg, const char *types);

void bm_rw_item_free(bm_rw_item *it);
/* A deep copy of a claimed item (its outcome fields cleared); NULL when out of memory. */
bm_rw_item *bm_rw_item_clone(const bm_rw_item *it);

#endif
