/*
 * Gaps: events the broker deleted (retention, a size cap) before this
 * processor applied them. The consumer runs with auto.offset.reset=error, so
 * an offset that is gone surfaces here instead of being skipped silently.
 * Each gap is recorded in event_gaps (partition, from, to, when) in the same
 * statement that moves consumer_offsets past it, logged at error level and
 * counted. pipeline.on_gap = stop instead pauses the partition until an
 * operator acknowledges the gap (`bmctl gap ack ID`).
 */
#ifndef BM_PIPELINE_GAP_H
#define BM_PIPELINE_GAP_H

#include <jansson.h>
#include <stdint.h>

struct bm_pipeline;

/* The consumer reported that partition's next offset is out of range (poll thread). */
void bm_gap_note(int32_t partition);
/* Handles noted gaps and acknowledgements of stopped partitions (start of a step). */
void bm_gap_step(struct bm_pipeline *e);
/* Gaps recorded by this process, and partitions stopped at a gap (for bmctl). */
json_t *bm_gap_json(void);

#endif
