/* The Kafka side of bm-loadgen: one idempotent producer with checked delivery. */
#ifndef BM_LG_PRODUCE_H
#define BM_LG_PRODUCE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bm_lg_kconf {
    const char *bootstrap; /* host:port,... */
    const char *topic;
    const char *compression; /* none, gzip, snappy, lz4, zstd */
    const char **props;      /* extra "key=value" librdkafka settings, applied last */
    int nprops;
    int wire_stats; /* track bytes sent on the wire (statistics callback) */
} bm_lg_kconf;

typedef struct bm_lg_producer bm_lg_producer;

/* Creates the producer; NULL with err when librdkafka refuses a setting. */
bm_lg_producer *bm_lg_producer_new(const bm_lg_kconf *c, char *err, size_t errlen);

/* Queues one message (copied); waits for room when the queue is full. 0 or -1 with err. */
int bm_lg_producer_send(bm_lg_producer *p, const char *key, size_t klen, const void *val,
                        size_t vlen, char *err, size_t errlen);

/*
 * Waits until every queued message has a delivery report, giving up when
 * *stop becomes non-zero. Returns 0 only if every message sent was delivered;
 * otherwise -1 with the first failure in err.
 */
int bm_lg_producer_finish(bm_lg_producer *p, const volatile sig_atomic_t *stop, char *err,
                          size_t errlen);

/* Bytes sent to the brokers so far (requires wire_stats; -1 when unknown). */
int64_t bm_lg_producer_wire_bytes(const bm_lg_producer *p);

/* Destroys the producer (messages still queued are dropped). */
void bm_lg_producer_free(bm_lg_producer *p);

#endif
