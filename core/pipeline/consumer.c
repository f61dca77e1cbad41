/*
 * The game.events consumer: partition ownership follows the consumer group,
 * but where to start reading comes from PostgreSQL (consumer_offsets), the
 * same transaction that holds the state. Kafka-side commits only feed lag
 * monitoring.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <unistd.h>

#include "pipeline/pipeline_int.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "pg/pg.h"
#include "pipeline/committer.h"

/* Reads (creating if absent) the stored next offset of one partition. */
static int read_offset(bm_pipeline *e, int32_t partition, int64_t *out, char *err, size_t errlen)
{
    char part[16];
    snprintf(part, sizeof part, "%d", partition);
    const char *p[3] = {e->cfg.group_id, e->cfg.events_topic, part};
    PGresult *r = PQexecParams(e->pg,
                               "INSERT INTO consumer_offsets (group_id, topic, partition) "
                               "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                               3, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        goto fail;
    r = PQexecParams(e->pg,
                     "SELECT next_offset FROM consumer_offsets WHERE group_id = $1 AND "
                     "topic = $2 AND partition = $3",
                     3, NULL, p, NULL, NULL, 0);
    ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok)
        *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (ok)
        return 0;
fail:
    snprintf(err, errlen, "offsets of partition %d: %s", partition, PQerrorMessage(e->pg));
    return -1;
}

/* Loads the eventIds applied within the dedup window for a partition. */
static int load_dedup(bm_pipeline *e, int32_t partition, char *err, size_t errlen)
{
    bm_part *pt = &e->parts[partition];
    bm_dedup_free(&pt->dedup);
    bm_dedup_init(&pt->dedup);
    char part[16], win[16];
    snprintf(part, sizeof part, "%d", partition);
    snprintf(win, sizeof win, "%d", e->cfg.dedup_window_s);
    const char *p[4] = {e->cfg.group_id, e->cfg.events_topic, part, win};
    PGresult *r = PQexecParams(e->pg,
                               "SELECT hashes, extract(epoch FROM created_at)::bigint "
                               "FROM event_dedup WHERE group_id = $1 AND topic = $2 AND "
                               "partition = $3 AND created_at > now() - make_interval(secs => $4)",
                               4, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "dedup of partition %d: %s", partition, PQerrorMessage(e->pg));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *h = PQgetvalue(r, i, 0);
        int len = PQgetlength(r, i, 0);
        uint64_t t_be;
        memcpy(&t_be, PQgetvalue(r, i, 1), sizeof t_be);
        uint32_t t = (uint32_t)__builtin_bswap64(t_be);
        for (int off = 0; off + 8 <= len; off += 8) {
            uint64_t v;
            memcpy(&v, h + off, 8);
            bm_dedup_add(&pt->dedup, v, t);
        }
    }
    PQclear(r);
    return 0;
}

static int drop_partition(const bm_state_entry *s, void *ud)
{
    return ud == NULL || s->partition == *(const int32_t *)ud;
}

void bm_pipeline_drop_cache(bm_pipeline *e, int32_t partition)
{
    bm_state_cache_drop(&e->cache, drop_partition, partition < 0 ? NULL : &partition);
    bm_levels_drop(&e->levels, partition);
}

/* Prepares one partition for consumption: offset and dedup from PostgreSQL.
 * Retries while the database is away: assigning without them would lose the
 * exactly-once guarantee, and nothing else can proceed meanwhile anyway. */
static int adopt_partition(bm_pipeline *e, int32_t partition, int64_t *offset)
{
    char err[512];
    for (int attempt = 0; *e->run; attempt++) {
        if (PQstatus(e->pg) != CONNECTION_OK)
            PQreset(e->pg);
        if (read_offset(e, partition, offset, err, sizeof err) == 0 &&
            load_dedup(e, partition, err, sizeof err) == 0)
            return 0;
        if (attempt % 10 == 0)
            bm_error("pipeline", "partition=%d cannot read its offset yet: %s", partition, err);
        usleep(200 * 1000);
    }
    return -1;
}

/* Takes on the partitions in `parts`: offsets and dedup from PostgreSQL. */
static void take_partitions(bm_pipeline *e, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= BM_MAX_PARTITIONS)
            continue;
        int64_t off = 0;
        if (adopt_partition(e, p, &off) != 0)
            continue;
        parts->elems[i].offset = off;
        if (!e->parts[p].owned)
            atomic_fetch_add(&e->stats->partitions_owned, 1);
        e->parts[p].owned = 1;
        e->parts[p].expected = off;
        e->parts[p].gap_ok = -1;
        if (p + 1 > e->npart_seen)
            e->npart_seen = p + 1;
        bm_info("pipeline", "partition=%d assigned next_offset=%lld", p, (long long)off);
    }
}

/* Gives up the partitions in `parts`: their dedup sets and cached states only. */
static void give_up_partitions(bm_pipeline *e, rd_kafka_topic_partition_list_t *parts, int lost)
{
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= BM_MAX_PARTITIONS)
            continue;
        if (e->parts[p].owned)
            atomic_fetch_sub(&e->stats->partitions_owned, 1);
        e->parts[p].owned = 0;
        bm_dedup_free(&e->parts[p].dedup);
        bm_pipeline_drop_cache(e, p);
        bm_info("pipeline", "partition=%d %s", p, lost ? "lost" : "revoked");
    }
}

/*
 * Ownership changes only with nothing in flight: the batch being committed is
 * settled first, and if it failed everything is read again afterwards. With
 * the cooperative protocol the lists hold only the partitions that change
 * owner (incremental assign / unassign): the others keep flowing, their
 * caches stay warm. With an eager strategy every partition is revoked and
 * assigned again on each rebalance.
 */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t rerr,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    bm_pipeline *e = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (rerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* Adding partitions cannot invalidate the batch in flight. */
        if (!coop && bm_pipeline_settle(e) != 0)
            e->need_rewind = 1;
        e->assigned_once = 1;
        take_partitions(e, parts);
        rd_kafka_error_t *ke = NULL;
        rd_kafka_resp_err_t ae = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (coop)
            ke = rd_kafka_incremental_assign(rk, parts);
        else
            ae = rd_kafka_assign(rk, parts);
        if (ke || ae) {
            /* Not assigned after all: owning them here would claim partitions
             * another process reads, which librdkafka fetches nothing for. */
            bm_error("pipeline", "assign: %s",
                     ke ? rd_kafka_error_string(ke) : rd_kafka_err2str(ae));
            if (ke)
                rd_kafka_error_destroy(ke);
            give_up_partitions(e, parts, 1);
        }
        atomic_fetch_add(&e->stats->rebalances, 1);
        e->last_presence_ms = 0; /* say so at the end of this step */
        return;
    }
    if (bm_pipeline_settle(e) != 0)
        e->need_rewind = 1;
    give_up_partitions(e, parts, rd_kafka_assignment_lost(rk));
    if (coop) {
        rd_kafka_error_t *ke = rd_kafka_incremental_unassign(rk, parts);
        if (ke) {
            bm_error("pipeline", "incremental unassign: %s", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
    atomic_fetch_add(&e->stats->rebalances, 1);
    e->last_presence_ms = 0;
}

int bm_pipeline_consume(bm_pipeline *e, char *err, size_t errlen)
{
    e->committer = bm_committer_start(e->cfg.pg_dsn, err, errlen);
    if (!e->committer)
        return -1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char session[16], heartbeat[16], sock[16];
    snprintf(session, sizeof session, "%d", e->cfg.session_timeout_ms);
    snprintf(heartbeat, sizeof heartbeat, "%d",
             e->cfg.session_timeout_ms / 3 < 1000 ? e->cfg.session_timeout_ms / 3 : 1000);
    snprintf(sock, sizeof sock, "%d", e->cfg.socket_timeout_ms);
    struct {
        const char *k, *v;
    } kv[] = {
        {"bootstrap.servers", e->bootstrap},
        {"group.id", e->cfg.group_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        /* An offset the broker no longer has is an error, not a silent skip (gap.c). */
        {"auto.offset.reset", "error"},
        {"enable.partition.eof", "false"},
        {"fetch.wait.max.ms", "20"},
        {"queued.min.messages", "200000"},
        {"fetch.message.max.bytes", "4194304"},
        {"session.timeout.ms", session},
        {"heartbeat.interval.ms", heartbeat},
        {"socket.timeout.ms", sock},
        {"log_level", "4"},
        {"partition.assignment.strategy", e->cfg.assignment_strategy},
        {"group.instance.id", e->cfg.group_instance_id[0] ? e->cfg.group_instance_id : NULL},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (kv[i].v && rd_kafka_conf_set(conf, kv[i].k, kv[i].v, err, errlen) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return -1;
        }
    }
    if (bm_kafka_conf_props(conf, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    rd_kafka_conf_set_opaque(conf, e);
    e->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!e->consumer) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* conf is now owned by the consumer. */
    rd_kafka_poll_set_consumer(e->consumer);
    e->queue = rd_kafka_queue_get_consumer(e->consumer);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, e->cfg.events_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rc = rd_kafka_subscribe(e->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (rc) {
        snprintf(err, errlen, "subscribe %s: %s", e->cfg.events_topic, rd_kafka_err2str(rc));
        return -1;
    }
    bm_info("pipeline", "consuming topic=%s group=%s batch_max=%d linger_ms=%d",
            e->cfg.events_topic, e->cfg.group_id, e->cfg.batch_max_events, e->cfg.batch_linger_ms);
    return 0;
}

/*
 * librdkafka before 2.3.0 asserts when a cooperative-sticky consumer that has
 * joined its group but was never handed an assignment is destroyed (its
 * assignor state is still NULL; fixed upstream in 2.3.0). Such a consumer gets a
 * few seconds to receive its first assignment; one that still has none is closed
 * (it leaves the group) and kept here rather than destroyed: the process is
 * stopping, and a reachable handle is not a leak.
 */
static rd_kafka_t *g_unassigned_consumer;

static int destroy_is_safe(bm_pipeline *e)
{
    if (e->assigned_once || rd_kafka_version() >= 0x020300ff ||
        strcmp(rd_kafka_rebalance_protocol(e->consumer), "COOPERATIVE") != 0)
        return 1;
    for (int i = 0; i < 50 && !e->assigned_once; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(e->consumer, 100);
        if (m)
            rd_kafka_message_destroy(m); /* not applied: its offset is not stored */
    }
    return e->assigned_once;
}

void bm_pipeline_unconsume(bm_pipeline *e)
{
    /* The last batch commits before the group is left. */
    (void)bm_pipeline_settle(e);
    if (e->queue) {
        rd_kafka_queue_destroy(e->queue);
        e->queue = NULL;
    }
    if (e->consumer) {
        /* close before destroy: leaves the group cleanly (revoke callback runs). */
        int safe = destroy_is_safe(e);
        /* Bounded: what this process applied is committed in PostgreSQL with its
         * offsets, so a group left without the coordinator's answer loses
         * nothing; the next owner of each partition starts from there. */
        if (!bm_kafka_consumer_close(e->consumer, e->cfg.stop_timeout_ms / 2)) {
            /* kept by bm_kafka_consumer_close */
        } else if (safe) {
            rd_kafka_destroy(e->consumer);
        } else {
            bm_warn("pipeline", "consumer closed before its first assignment: kept, not "
                                "destroyed (librdkafka before 2.3.0 would abort)");
            g_unassigned_consumer = e->consumer;
        }
        e->consumer = NULL;
    }
    bm_committer_stop(e->committer);
    e->committer = NULL;
    for (int p = 0; p < BM_MAX_PARTITIONS; p++) {
        bm_dedup_free(&e->parts[p].dedup);
        free(e->parts[p].new_hashes);
        e->parts[p].new_hashes = NULL;
        e->parts[p].capnew = e->parts[p].nnew = 0;
    }
}

int bm_pipeline_resync(bm_pipeline *e)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    int rc = 0;
    for (int p = 0; p < e->npart_seen && *e->run; p++) {
        if (!e->parts[p].owned)
            continue;
        int64_t off;
        if (adopt_partition(e, p, &off) != 0) {
            rc = -1;
            break;
        }
        e->parts[p].expected = off;
        rd_kafka_topic_partition_list_add(l, e->cfg.events_topic, p)->offset = off;
    }
    if (rc == 0 && l->cnt) {
        rd_kafka_error_t *ke = rd_kafka_seek_partitions(e->consumer, l, 5000);
        if (ke) {
            bm_error("pipeline", "seek after resync: %s", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
            rc = -1;
        }
        for (int i = 0; i < l->cnt; i++)
            if (l->elems[i].err) {
                bm_error("pipeline", "seek partition=%d: %s", l->elems[i].partition,
                         rd_kafka_err2str(l->elems[i].err));
                rc = -1;
            }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

void bm_pipeline_reconcile(bm_pipeline *e)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (!e->consumer || rd_kafka_assignment(e->consumer, &l) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    char in[BM_MAX_PARTITIONS] = {0};
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].partition >= 0 && l->elems[i].partition < BM_MAX_PARTITIONS &&
            strcmp(l->elems[i].topic, e->cfg.events_topic) == 0)
            in[l->elems[i].partition] = 1;
    rd_kafka_topic_partition_list_destroy(l);
    for (int p = 0; p < e->npart_seen; p++) {
        if (!e->parts[p].owned || in[p])
            continue;
        bm_warn("pipeline", "partition=%d is not assigned to this process any more: given up", p);
        atomic_fetch_sub(&e->stats->partitions_owned, 1);
        e->parts[p].owned = 0;
        bm_dedup_free(&e->parts[p].dedup);
        bm_pipeline_drop_cache(e, p);
        e->last_presence_ms = 0;
    }
}

void bm_pipeline_reseek(bm_pipeline *e)
{
    if (!e->consumer) {
        for (int p = 0; p < e->npart_seen; p++)
            e->parts[p].reseek = 0;
        return;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int p = 0; p < e->npart_seen; p++) {
        bm_part *pt = &e->parts[p];
        if (pt->reseek && pt->owned)
            rd_kafka_topic_partition_list_add(l, e->cfg.events_topic, p)->offset = pt->reseek_to;
        pt->reseek = 0;
    }
    if (l->cnt) {
        rd_kafka_error_t *ke = rd_kafka_seek_partitions(e->consumer, l, 5000);
        if (ke) {
            bm_error("pipeline", "seek back: %s", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
        }
        /* A seek that did not happen must not let the next message over the hole. */
        for (int i = 0; i < l->cnt; i++)
            if (ke || l->elems[i].err) {
                bm_error("pipeline", "seek back partition=%d: %s", l->elems[i].partition,
                         rd_kafka_err2str(l->elems[i].err));
                e->parts[l->elems[i].partition].gap_ok = -1;
            }
    }
    rd_kafka_topic_partition_list_destroy(l);
}
