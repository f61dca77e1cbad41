/* Process-wide counters shown by `bmctl modules`, /metrics and the demo. */
#ifndef BM_STATS_H
#define BM_STATS_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct bm_stats {
    _Atomic uint64_t batches, events, applied, rejected, duplicates, dispatch_errors;
    _Atomic uint64_t commits_failed, fence_lost;
    _Atomic uint64_t outbox_published;
    _Atomic uint64_t ticks, campaigns_ended;
    _Atomic uint64_t ends_committed; /* batches that marked campaigns ended: re-read them */
    /* event-to-committed latency (commit time - Kafka CreateTime), log2 buckets of ms */
    _Atomic uint64_t latency_hist[32];
} bm_stats;

/* Adds one latency sample (ms) to the histogram. */
void bm_stats_latency_add(bm_stats *st, int64_t ms);
/* Latency percentile from the histogram, in ms (midpoint of the bucket). */
double bm_stats_latency_pct(bm_stats *st, double pct);

#endif
