/* Process-wide counters shown by `bmctl modules`, /metrics and the demo. */
#ifndef BM_STATS_H
#define BM_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define BM_STATS_HDR_BUCKETS 640

typedef struct bm_stats {
    _Atomic uint64_t batches, events, applied, rejected, duplicates, dispatch_errors;
    _Atomic uint64_t commits_failed, fence_lost;
    _Atomic uint64_t outbox_published, outbox_parked;
    _Atomic uint64_t forwarded;        /* events sent on to their userId's partition */
    _Atomic uint64_t suspended_events; /* seen by campaigns whose module is not loaded */
    _Atomic uint64_t ticks, campaigns_ended;
    _Atomic uint64_t ends_committed; /* batches that marked campaigns ended: re-read them */
    _Atomic int partitions_owned;    /* partitions of game.events assigned (gauge, /readyz) */
    _Atomic uint64_t rebalances;     /* partition assignment changes seen by the processor */
    /* event-to-committed latency (commit time - Kafka CreateTime), log2 buckets of ms
     * (bucket i holds values below 2^i ms: the /metrics histogram) */
    _Atomic uint64_t latency_hist[32];
    /* the same samples in HDR-style buckets (6.25% resolution) for percentiles */
    _Atomic uint64_t latency_hdr[BM_STATS_HDR_BUCKETS];
} bm_stats;

/* Adds one latency sample (ms) to the histogram. */
void bm_stats_latency_add(bm_stats *st, int64_t ms);
/* Latency percentile (0..100, e.g. 99.9) in ms, within 6.25% (HDR buckets). */
double bm_stats_latency_pct(bm_stats *st, double pct);

#endif
