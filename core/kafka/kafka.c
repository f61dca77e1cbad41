#include "kafka/kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka_mock.h>

#include "log/log.h"

/* Partition counts from the product document; game.events is configurable. */
const bm_topic_def bm_topics[] = {
    {"config.campaigns", 3},  {"config.communities", 3},    {"game.events", 6},
    {"game.events.dlq", 3},   {"quest.progress", 6},        {"leaderboard.updates", 6},
    {"tournament.events", 3}, {"battlepass.progress", 6},   {"reward.events", 3},
    {"reward.status", 3},     {"ui.campaign_updates", 3},   {"ui.leaderboard_refresh", 3},
    {"ui.quest_updates", 3},  {"ui.battlepass_updates", 3}, {"community.joins", 3},
    {"community.events", 3},  {"ui.tournament_updates", 3},
};
const size_t bm_ntopics = sizeof bm_topics / sizeof bm_topics[0];

void bm_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug */
    int lvl = level <= 3   ? BM_LOG_LVL_ERROR
              : level == 4 ? BM_LOG_LVL_WARN
              : level <= 6 ? BM_LOG_LVL_INFO
                           : BM_LOG_LVL_DEBUG;
    bm_logf(lvl, "kafka", "client=%s facility=%s %s", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

struct bm_broker {
    rd_kafka_t *rk; /* owns the mock cluster's bookkeeping */
    rd_kafka_mock_cluster_t *mc;
    char bootstraps[256];
    char file[1024];
};

bm_broker *bm_broker_start(int events_partitions, const char *bootstrap_file, char *err,
                           size_t errlen)
{
    return bm_broker_start_with(events_partitions, 0, bootstrap_file, err, errlen);
}

bm_broker *bm_broker_start_with(int events_partitions, int config_partitions,
                                const char *bootstrap_file, char *err, size_t errlen)
{
    bm_broker *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    /* No bootstrap: this handle only hosts the cluster. */
    rd_kafka_conf_set(conf, "log_level", "3", e, sizeof e);
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!b->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "broker: %s", e);
        goto fail;
    }
    /* conf is now owned by rk. */
    b->mc = rd_kafka_mock_cluster_new(b->rk, 1);
    if (!b->mc) {
        snprintf(err, errlen, "broker: cannot create the mock cluster");
        goto fail;
    }
    for (size_t i = 0; i < bm_ntopics; i++) {
        int parts = bm_topics[i].partitions;
        if (strcmp(bm_topics[i].name, BM_TOPIC_EVENTS) == 0 && events_partitions > 0)
            parts = events_partitions;
        if (strcmp(bm_topics[i].name, BM_TOPIC_CONFIG_CAMPAIGNS) == 0 && config_partitions > 0)
            parts = config_partitions;
        rd_kafka_resp_err_t rc = rd_kafka_mock_topic_create(b->mc, bm_topics[i].name, parts, 1);
        if (rc) {
            snprintf(err, errlen, "broker: topic %s: %s", bm_topics[i].name, rd_kafka_err2str(rc));
            goto fail;
        }
    }
    snprintf(b->bootstraps, sizeof b->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(b->mc));
    if (bootstrap_file) {
        /* Write then rename, so a reader never sees a half-written address. */
        char tmp[1100];
        snprintf(b->file, sizeof b->file, "%s", bootstrap_file);
        snprintf(tmp, sizeof tmp, "%s.tmp", bootstrap_file);
        /* 0644 whatever the umask: readable by bmctl, writable by the engine only (a
         * writable address would let anyone point bmctl at another broker). */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        FILE *f = fd >= 0 && fchmod(fd, 0644) == 0 ? fdopen(fd, "w") : NULL;
        if (!f && fd >= 0)
            close(fd);
        if (!f || fprintf(f, "%s\n", b->bootstraps) < 0 || fclose(f) != 0 ||
            rename(tmp, bootstrap_file) != 0) {
            snprintf(err, errlen, "broker: cannot write %s: %s", bootstrap_file, strerror(errno));
            b->file[0] = '\0';
            goto fail;
        }
    }
    bm_info("kafka", "embedded broker up bootstrap=%s", b->bootstraps);
    return b;
fail:
    bm_broker_stop(b);
    return NULL;
}

const char *bm_broker_bootstraps(const bm_broker *b)
{
    return b->bootstraps;
}

struct rd_kafka_mock_cluster_s *bm_broker_mock(bm_broker *b)
{
    return b->mc;
}

void bm_broker_stop(bm_broker *b)
{
    if (!b)
        return;
    if (b->file[0])
        unlink(b->file);
    if (b->mc)
        rd_kafka_mock_cluster_destroy(b->mc);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    free(b);
}

void bm_kafka_bootstrap_path(const bm_config *c, char *out, size_t len)
{
    snprintf(out, len, "%s/bootstrap", c->run_dir);
}

int bm_kafka_bootstrap(const bm_config *c, char *out, size_t len, char *err, size_t errlen)
{
    if (strcmp(c->brokers, "embedded") != 0) {
        snprintf(out, len, "%s", c->brokers);
        return 0;
    }
    char path[1024];
    bm_kafka_bootstrap_path(c, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen,
                 "kafka.brokers=embedded but %s is missing: is the engine (or `brightmatter "
                 "broker`) running with run_dir=%s?",
                 path, c->run_dir);
        return -1;
    }
    if (!fgets(out, (int)len, f)) {
        fclose(f);
        snprintf(err, errlen, "%s is empty", path);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* Delivery report: stores the outcome where the producing call can read it. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->_private)
        *(rd_kafka_resp_err_t *)m->_private = m->err;
}

rd_kafka_t *bm_kafka_producer_new(const char *bootstrap, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", err, errlen) ||
        /* the engine's default kafka.partitioner: commands land on their owner */
        rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, errlen) ||
        rd_kafka_conf_set(conf, "compression.codec", "lz4", err, errlen) ||
        rd_kafka_conf_set(conf, "message.timeout.ms", "10000", err, errlen) ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", "10000", err, errlen) ||
        bm_kafka_conf_props(conf, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!p)
        rd_kafka_conf_destroy(conf);
    /* On success conf is now owned by p. */
    return p;
}

int bm_kafka_produce_sync(rd_kafka_t *p, const char *topic, const char *key, const void *val,
                          size_t len, char *err, size_t errlen)
{
    return bm_kafka_produce_sync_hdr(p, topic, key, val, len, NULL, NULL, err, errlen);
}

int bm_kafka_produce_sync_hdr(rd_kafka_t *p, const char *topic, const char *key, const void *val,
                              size_t len, const char *hname, const char *hval, char *err,
                              size_t errlen)
{
    /* Stays _IN_PROGRESS until the delivery report says otherwise. */
    rd_kafka_resp_err_t outcome = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    rd_kafka_headers_t *hdrs = NULL;
    if (hname) {
        hdrs = rd_kafka_headers_new(1);
        rd_kafka_header_add(hdrs, hname, -1, hval, -1);
    }
    rd_kafka_resp_err_t rc = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(&outcome), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (rc && hdrs)
        rd_kafka_headers_destroy(hdrs); /* on success the message owns them */
    if (rc) {
        snprintf(err, errlen, "produce to %s: %s", topic, rd_kafka_err2str(rc));
        return -1;
    }
    rd_kafka_flush(p, 15000);
    if (outcome != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "produce to %s: not delivered: %s", topic,
                 outcome == RD_KAFKA_RESP_ERR__IN_PROGRESS ? "no delivery report within 15 s"
                                                           : rd_kafka_err2str(outcome));
        return -1;
    }
    return 0;
}

int bm_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    if (!t)
        return -1;
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, t, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR && md &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return n;
}
