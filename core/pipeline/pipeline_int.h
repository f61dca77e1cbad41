/* The processor's own structs, shared by the files of core/pipeline only. */
#ifndef BM_PIPELINE_INT_H
#define BM_PIPELINE_INT_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>

#include "campaign/campaign.h"
#include "cmdauth/cmdauth.h"
#include "config/config.h"
#include "level/level.h"
#include "loader/loader.h"
#include "pipeline/batch.h"
#include "pipeline/dedup.h"
#include "state/state.h"
#include "stats/stats.h"
#include "util/strset.h"

#define BM_MAX_PARTITIONS 256

/* What the processor knows about one partition of game.events. */
typedef struct bm_part {
    int owned;         /* assigned to this process */
    int64_t expected;  /* next offset to apply = consumer_offsets.next_offset */
    int64_t committed; /* next offset of the last committed batch (lag reports) */
    /* A message past the next offset (polled before an ownership change, or a
     * real hole in the log) is never applied over the hole: the partition is
     * read again from the next offset; a message past it after that seek is a
     * hole in the log itself and is accepted. */
    int reseek;
    int64_t reseek_to, gap_ok;
    bm_dedup dedup; /* eventIds applied within the window */
    /* the batch being built */
    int in_batch;
    int64_t batch_next;
    uint64_t applied, rejected, duplicate, forwarded;
    uint64_t *new_hashes;
    size_t nnew, capnew;
} bm_part;

typedef struct bm_committer bm_committer;
typedef struct bm_run bm_run;

typedef struct bm_pipeline {
    bm_config cfg;
    const char *bootstrap;
    bm_camps *camps; /* the engine's registry: read on this thread only */
    bm_loader *loader;
    bm_stats *stats;
    volatile sig_atomic_t *run;
    PGconn *pg; /* the processing thread's connection */
    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue;
    bm_committer *committer; /* runs batch N's transaction while N+1 is prepared */
    int need_rewind;         /* a commit failed while a rebalance was settling it */
    bm_state_cache cache;
    bm_levels levels; /* players' levels (core/level) */
    bm_part parts[BM_MAX_PARTITIONS];
    int npart_seen;
    int assigned_once;     /* the group has handed this consumer an assignment (maybe empty) */
    int32_t events_nparts; /* partitions of events_topic (0 until known) */
    bm_run *batch_run;     /* the reusable buffers of one batch */
    int64_t last_prune_ms, last_tick_ms, last_lag_commit_ms, last_presence_ms, last_retain_ms;
    int tick_state;   /* a tick touched state outside any partition this batch */
    int store_events; /* store.events = on: applied events into game_events */
    /* once-only claims ("module\x1fcampaign\x1fkey") */
    bm_strset claimed;  /* known committed (by any process) */
    bm_strset inflight; /* in the job being committed */
    /* community membership: users preloaded, kept current from config.communities */
    struct bm_members *members;
    rd_kafka_t *communities;  /* config.communities, every partition, no group */
    bm_cmdauth cmdkeys;       /* command events must be signed with these */
    struct bm_replay *replay; /* a campaign replay to do (replay.c) */
} bm_pipeline;

/* on_tick, on_campaign_tick and campaign ends into batch b (tick.c). */
void bm_pipeline_tick(bm_pipeline *e, bm_batch *b, int64_t now);
/* After a failed batch: ends it carried must be sent again. */
void bm_pipeline_ends_unsent(bm_pipeline *e);

/* The userIds of the batch being dispatched (valid, not duplicate events). */
size_t bm_pipeline_batch_users(bm_pipeline *e, const char ***users);

/* Membership cache (members.c). */
int bm_members_start(bm_pipeline *e, char *err, size_t errlen);
/* Applies config.communities messages (start of a step, never mid-batch). */
void bm_members_poll(bm_pipeline *e);
void bm_members_stop(bm_pipeline *e);
/* 1 member, 0 not, -1 database error; bulk-loads the batch's users on a miss. */
int bm_members_check(bm_pipeline *e, const char *community_id, const char *user_id);
/* A join of this batch: the user counts as an active member from now on. */
int bm_members_note(bm_pipeline *e, const char *community_id, const char *user_id);

/* Polls one batch and applies it exactly once; 0 ok (possibly empty), -1 retry later. */
int bm_pipeline_step(bm_pipeline *e);
/* Drops cached state of a partition (or all when partition < 0). */
void bm_pipeline_drop_cache(bm_pipeline *e, int32_t partition);
/* Collects the batch in flight; 0 committed (or none), -1 failed (cache dropped:
 * the caller rewinds to the stored offsets). */
int bm_pipeline_settle(bm_pipeline *e);
/* Re-reads offsets from PostgreSQL for the owned partitions and seeks there. */
int bm_pipeline_resync(bm_pipeline *e);
/* group_members: this process's partitions, offsets and ends (presence.c);
 * written every 2 s, at once after an ownership change (force), removed at stop. */
void bm_pipeline_presence(bm_pipeline *e, int force);
void bm_pipeline_absent(bm_pipeline *e);
/* Gives up partitions this process thinks it owns but librdkafka no longer
 * assigns to it (a missed revoke): called between batches. */
void bm_pipeline_reconcile(bm_pipeline *e);
/* Seeks the partitions marked `reseek` back to their next offset. */
void bm_pipeline_reseek(bm_pipeline *e);
/* Sets up the consumer on game.events (rebalance callback reads PostgreSQL offsets). */
int bm_pipeline_consume(bm_pipeline *e, char *err, size_t errlen);
/* Leaves the group and stops the committer. */
void bm_pipeline_unconsume(bm_pipeline *e);
/* Frees the batch buffers (at stop). */
void bm_pipeline_free_run(bm_pipeline *e);

#endif
