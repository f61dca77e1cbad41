/* Campaign replay inside the processor's batches (replay.c). */
#ifndef BM_REPLAY_H
#define BM_REPLAY_H

#include "pipeline/pipeline_int.h"

/* About once a second: 1 when a pending replay has a partition this process
 * owns and has not recounted (the caller commits the batch in flight first). */
int bm_replay_poll(bm_pipeline *e);
/* Recounts the due partitions into batch b (after its states are loaded,
 * before its events are dispatched). */
void bm_replay_run(bm_pipeline *e, bm_batch *b);
void bm_replay_free(bm_pipeline *e);

#endif
