/* Idempotent librdkafka producer for bm-loadgen. */
#include "produce.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

struct bm_lg_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    uint64_t sent, delivered, failed;
    unsigned since_poll;
    char first_error[256];
    int64_t wire_bytes; /* from the latest statistics, -1 before any */
    uint64_t stats_seen;
    int wire_stats;
};

/* Delivery reports arrive from rd_kafka_poll/flush on this thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    bm_lg_producer *p = opaque;
    if (!m->err) {
        p->delivered++;
        return;
    }
    if (p->failed++ == 0)
        snprintf(p->first_error, sizeof(p->first_error), "delivery failed: %s",
                 rd_kafka_err2str(m->err));
}

/* Only the client-wide "tx_bytes" total is read; brokers use "txbytes". */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    bm_lg_producer *p = opaque;
    static const char field[] = "\"tx_bytes\":";
    const char *at = memmem(json, len, field, sizeof(field) - 1);
    if (at) {
        const char *num = at + sizeof(field) - 1;
        if ((size_t)(num - json) < len)
            p->wire_bytes = strtoll(num, NULL, 10);
    }
    p->stats_seen++;
    return 0; /* librdkafka frees json */
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *val, char *err, size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, key, val, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "%s=%s: %s", key, val, why);
        return -1;
    }
    return 0;
}

bm_lg_producer *bm_lg_producer_new(const bm_lg_kconf *c, char *err, size_t errlen)
{
    bm_lg_producer *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!p || !conf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    p->wire_bytes = -1;
    p->wire_stats = c->wire_stats;
    /*
     * Idempotence keeps per-partition order across retries, which the expect
     * file's "last" column relies on. Long linger and large batches are what
     * make several hundred thousand small messages per second possible.
     */
    if (set(conf, "bootstrap.servers", c->bootstrap, err, errlen) < 0 ||
        set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        set(conf, "linger.ms", "25", err, errlen) < 0 ||
        /* keyed by userId like the Java client, the engine's default partitioner */
        set(conf, "partitioner", "murmur2_random", err, errlen) < 0 ||
        set(conf, "batch.num.messages", "100000", err, errlen) < 0 ||
        set(conf, "batch.size", "1000000", err, errlen) < 0 ||
        set(conf, "queue.buffering.max.messages", "500000", err, errlen) < 0 ||
        set(conf, "queue.buffering.max.kbytes", "524288", err, errlen) < 0 ||
        set(conf, "message.timeout.ms", "60000", err, errlen) < 0 ||
        set(conf, "compression.codec", c->compression, err, errlen) < 0)
        goto fail;
    if (c->wire_stats && set(conf, "statistics.interval.ms", "100", err, errlen) < 0)
        goto fail;
    for (int i = 0; i < c->nprops; i++) {
        char key[256];
        const char *eq = strchr(c->props[i], '=');
        if (!eq || eq == c->props[i] || (size_t)(eq - c->props[i]) >= sizeof(key)) {
            snprintf(err, errlen, "-X %s: expected key=value", c->props[i]);
            goto fail;
        }
        memcpy(key, c->props[i], (size_t)(eq - c->props[i]));
        key[eq - c->props[i]] = 0;
        if (set(conf, key, eq + 1, err, errlen) < 0)
            goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (c->wire_stats)
        rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_conf_set_opaque(conf, p);

    char why[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!p->rk) {
        snprintf(err, errlen, "producer: %s", why);
        goto fail;
    }
    conf = NULL; /* now owned by rk */
    p->rkt = rd_kafka_topic_new(p->rk, c->topic, NULL);
    if (!p->rkt) {
        snprintf(err, errlen, "topic %s: %s", c->topic, rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    return p;

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    bm_lg_producer_free(p);
    return NULL;
}

int bm_lg_producer_send(bm_lg_producer *p, const char *key, size_t klen, const void *val,
                        size_t vlen, char *err, size_t errlen)
{
    for (;;) {
        if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)val, vlen,
                             key, klen, NULL) == 0)
            break;
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            snprintf(err, errlen, "produce: %s", rd_kafka_err2str(e));
            return -1;
        }
        /* Full queue: serve delivery reports so the queue drains, then retry. */
        rd_kafka_poll(p->rk, 10);
    }
    p->sent++;
    if (++p->since_poll >= 1000) {
        p->since_poll = 0;
        rd_kafka_poll(p->rk, 0);
    }
    return 0;
}

int bm_lg_producer_finish(bm_lg_producer *p, const volatile sig_atomic_t *stop, char *err,
                          size_t errlen)
{
    /* message.timeout.ms bounds this loop: undeliverable messages fail. */
    while (rd_kafka_outq_len(p->rk) > 0 && !*stop)
        rd_kafka_flush(p->rk, 200);
    if (p->wire_stats) {
        /* One more statistics round so the byte count covers the last batches. */
        uint64_t seen = p->stats_seen;
        for (int i = 0; i < 30 && p->stats_seen < seen + 2; i++)
            rd_kafka_poll(p->rk, 20);
    }
    int left = rd_kafka_outq_len(p->rk);
    if (left > 0) {
        snprintf(err, errlen, "%d messages still queued (interrupted)", left);
        return -1;
    }
    if (p->failed) {
        snprintf(err, errlen, "%llu of %llu messages failed; first: %s",
                 (unsigned long long)p->failed, (unsigned long long)p->sent, p->first_error);
        return -1;
    }
    if (p->delivered != p->sent) {
        snprintf(err, errlen, "%llu sent but %llu delivered", (unsigned long long)p->sent,
                 (unsigned long long)p->delivered);
        return -1;
    }
    return 0;
}

int64_t bm_lg_producer_wire_bytes(const bm_lg_producer *p)
{
    return p->wire_bytes;
}

void bm_lg_producer_free(bm_lg_producer *p)
{
    if (!p)
        return;
    if (p->rkt)
        rd_kafka_topic_destroy(p->rkt);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    free(p);
}
