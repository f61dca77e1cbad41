/* Kafka plumbing: the embedded mock cluster, client configs, topics. */
#ifndef BM_KAFKA_H
#define BM_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* The product's topics and their partition counts (product document, section 3). */
typedef struct bm_topic_def {
    const char *name;
    int partitions;
} bm_topic_def;
extern const bm_topic_def bm_topics[];
extern const size_t bm_ntopics;

/* Well-known topic names. */
#define BM_TOPIC_EVENTS "game.events"
#define BM_TOPIC_DLQ "game.events.dlq"
#define BM_TOPIC_CONFIG_CAMPAIGNS "config.campaigns"
#define BM_TOPIC_LEADERBOARD_UPDATES "leaderboard.updates"
#define BM_TOPIC_UI_LEADERBOARD "ui.leaderboard_refresh"

/* Command event types produced by bmctl on game.events (keyed by user), so that
 * purchases and claims go through the same exactly-once batch as game events. */
#define BM_CMD_PREFIX "bm."
#define BM_CMD_COMMUNITY_JOIN                                                                      \
    "bm.community.join" /* COMMUNITY_JOIN (core/pipeline/community_join.c) */

/*
 * One owner per player: the partition of events_topic (nparts partitions) a
 * userId belongs to under kafka.partitioner, or -1 with "none". murmur2 is the
 * Java client's default partitioner (and librdkafka's "murmur2_random").
 */
int32_t bm_kafka_owner_partition(const char *partitioner, const char *key, int32_t nparts);
/* The librdkafka `partitioner` property producing the same mapping. */
const char *bm_kafka_partitioner_property(const char *partitioner);

typedef struct bm_broker bm_broker;

/*
 * Starts librdkafka's mock cluster in this process (kafka.brokers=embedded),
 * creates every product topic (game.events with `events_partitions`), and
 * writes the bootstrap address to `bootstrap_file` (if not NULL).
 */
bm_broker *bm_broker_start(int events_partitions, const char *bootstrap_file, char *err,
                           size_t errlen);
/* The same with config.campaigns given `config_partitions` (0: the product's count),
 * for tests of engines that must not assume a partition count. */
bm_broker *bm_broker_start_with(int events_partitions, int config_partitions,
                                const char *bootstrap_file, char *err, size_t errlen);
const char *bm_broker_bootstraps(const bm_broker *b);
/* Partitions of `topic` from the broker's metadata, or -1. */
int bm_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms);
/* The underlying mock cluster, for fault injection in tests. */
struct rd_kafka_mock_cluster_s *bm_broker_mock(bm_broker *b);
void bm_broker_stop(bm_broker *b);

/* Path of the bootstrap file for a config: <run_dir>/bootstrap. */
void bm_kafka_bootstrap_path(const bm_config *c, char *out, size_t len);

/*
 * The bootstrap.servers string for a config: kafka.brokers itself, or with
 * "embedded" the content of the bootstrap file written by the running
 * engine (or `brightmatter broker`). -1 with err if it cannot be found.
 */
int bm_kafka_bootstrap(const bm_config *c, char *out, size_t len, char *err, size_t errlen);

/* librdkafka log callback: its lines become logfmt records (module=kafka). */
void bm_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* The [librdkafka] section ("key=value\n" lines, bm_config.kafka_props): set once
 * at startup, before any client is created. */
void bm_kafka_props_set(const char *props);
/* Applies those properties to a client's conf; -1 with "librdkafka.key: reason". */
int bm_kafka_conf_props(rd_kafka_conf_t *conf, char *err, size_t errlen);

/*
 * Closes a group consumer (leaves the group; its rebalance callback runs on
 * this thread) within `budget_ms`, or less when a stop deadline is set.
 * 1 closed (the caller destroys it), 0 not closed in time: the handle is kept
 * here and must not be destroyed (that would block on the same coordinator).
 */
int bm_kafka_consumer_close(rd_kafka_t *rk, int budget_ms);
/* bm_kafka_consumer_close, then rd_kafka_destroy when it closed. NULL is a no-op. */
void bm_kafka_consumer_end(rd_kafka_t *rk, int budget_ms);
/* Every later consumer close ends by `mono_ms` (bm_mono_ms clock; the engine's
 * stop sets it from engine.stop_timeout_ms). */
void bm_kafka_stop_by(int64_t mono_ms);

/* An idempotent producer for `bootstrap`; NULL with err. */
rd_kafka_t *bm_kafka_producer_new(const char *bootstrap, char *err, size_t errlen);

/* Produces one message synchronously (waits for the delivery report); 0 or -1 with err. */
int bm_kafka_produce_sync(rd_kafka_t *p, const char *topic, const char *key, const void *val,
                          size_t len, char *err, size_t errlen);
/* The same with one header (hname NULL: none), e.g. a command's signature. */
int bm_kafka_produce_sync_hdr(rd_kafka_t *p, const char *topic, const char *key, const void *val,
                              size_t len, const char *hname, const char *hval, char *err,
                              size_t errlen);

#endif
