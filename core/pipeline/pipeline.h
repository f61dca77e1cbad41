/*
 * The processor role: consumes game.events in batches and applies each batch
 * exactly once (decode, dedupe, route, modules, one fenced transaction).
 * Everything it owns (consumer, committer, state cache, partitions, the batch
 * being built) lives in its own struct; the engine only starts, steps and
 * stops it through this ops table.
 */
#ifndef BM_PIPELINE_H
#define BM_PIPELINE_H

#include "role/role.h"

/* engine.roles = processor */
extern const bm_role_ops bm_pipeline_role;

#endif
