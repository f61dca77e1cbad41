/*
 * The engine: one process running the roles (processor, relay). Everything
 * that changes what events are dispatched to (module generations, campaigns)
 * happens on the processing thread at a batch boundary, so the hot path takes
 * no locks.
 */
#ifndef BM_ENGINE_H
#define BM_ENGINE_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "campaign/campaign.h"
#include "config/config.h"
#include "kafka/kafka.h"
#include "loader/loader.h"
#include "lua/lua_sandbox.h"
#include "pipeline/dedup.h"
#include "rewards/rewards.h"
#include "state/state.h"

#define BM_MAX_PARTITIONS 256

/* What the engine knows about one partition of game.events. */
typedef struct bm_part {
    int owned;        /* assigned to this process */
    int64_t expected; /* next offset to apply = consumer_offsets.next_offset */
    bm_dedup dedup;   /* eventIds applied within the window */
    /* the batch being built */
    int in_batch;
    int64_t batch_next;
    uint64_t applied, rejected, duplicate;
    uint64_t *new_hashes;
    size_t nnew, capnew;
} bm_part;

/* Counters shown by `bmctl modules`, /metrics and the demo. */
typedef struct bm_engine_stats {
    _Atomic uint64_t batches, events, applied, rejected, duplicates, dispatch_errors;
    _Atomic uint64_t commits_failed, fence_lost;
    _Atomic uint64_t outbox_published;
    /* event-to-committed latency (commit time - Kafka CreateTime), log2 buckets of ms */
    _Atomic uint64_t latency_hist[32];
} bm_engine_stats;

/* Latency percentile from the histogram, in ms (upper bound of the bucket). */
double bm_stats_latency_pct(bm_engine_stats *st, double pct);

typedef struct bm_admin bm_admin;
typedef struct bm_committer bm_committer;
typedef struct bm_relay bm_relay;

typedef struct bm_engine {
    bm_config cfg;
    char bootstrap[512];
    bm_broker *broker; /* embedded broker, if kafka.brokers=embedded */
    PGconn *pg;        /* the processing thread's connection */
    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue;
    rd_kafka_t *config_consumer; /* config.campaigns, every partition, no group */
    bm_committer *committer;     /* runs batch N's transaction while N+1 is prepared */
    int need_rewind;             /* a commit failed while a rebalance was settling it */
    char copy_dir[1100];

    bm_loader_host lh;
    bm_lua_limits lua;
    bm_modset *mods;
    bm_camps camps;
    bm_state_cache cache;
    bm_part parts[BM_MAX_PARTITIONS];
    int npart_seen;

    volatile sig_atomic_t *run;
    atomic_int reload_requested;
    atomic_int campaigns_changed;
    int64_t last_campaign_refresh_ms, last_prune_ms, last_tick_ms;

    bm_admin *admin;
    bm_relay *relay;
    bm_rewards *rewards; /* reward delivery role (core/rewards) */
    bm_engine_stats stats;
    pthread_mutex_t report_lock; /* guards `report` for admin readers */
    char report[8192];           /* last reload report */
} bm_engine;

/* Starts everything the configured roles need; 0 or -1 with err. */
int bm_engine_start(bm_engine *e, const bm_config *cfg, volatile sig_atomic_t *run, char *err,
                    size_t errlen);
/* One boundary (admin, reload, campaigns) plus one batch. */
void bm_engine_run_once(bm_engine *e);
/* Stops and frees everything (consumer closed before destroy). */
void bm_engine_stop(bm_engine *e);

/* Re-scans the modules directory now (processing thread, batch boundary). */
void bm_engine_reload(bm_engine *e);
/* Reloads campaigns from PostgreSQL now (processing thread, batch boundary). */
void bm_engine_refresh_campaigns(bm_engine *e);
/* Writes the module list as JSON (processing thread). Caller frees. */
char *bm_engine_modules_json(bm_engine *e);

/* Time helpers. */
int64_t bm_now_ms(void);

/* --- pipeline (core/pipeline) ---------------------------------------------- */
/* Polls one batch and applies it exactly once; 0 ok (possibly empty), -1 retry later. */
int bm_pipeline_step(bm_engine *e);
/* Sets up the consumer on game.events (rebalance callback reads PostgreSQL offsets). */
int bm_pipeline_start(bm_engine *e, char *err, size_t errlen);
void bm_pipeline_stop(bm_engine *e);
/* Drops cached state of a partition (or all when partition < 0). */
void bm_pipeline_drop_cache(bm_engine *e, int32_t partition);
/* Collects the batch in flight; 0 committed (or none), -1 failed (cache dropped:
 * the caller rewinds to the stored offsets). */
int bm_pipeline_settle(bm_engine *e);
/* Frees the pipeline's reusable buffers (at shutdown). */
void bm_pipeline_free_run(void);
/* Re-reads offsets from PostgreSQL for the owned partitions and seeks there. */
int bm_pipeline_resync(bm_engine *e);

/* --- relay (core/relay): outbox -> Kafka, on its own thread ----------------- */
bm_relay *bm_relay_start(const bm_config *cfg, const char *bootstrap, bm_engine_stats *stats,
                         char *err, size_t errlen);
void bm_relay_stop(bm_relay *r);

/* --- admin (core/admin): bmctl's unix socket ---------------------------------- */
bm_admin *bm_admin_start(bm_engine *e, char *err, size_t errlen);
/* Answers queued admin requests (processing thread, batch boundary). */
void bm_admin_serve(bm_admin *a);
void bm_admin_stop(bm_admin *a);

#endif
