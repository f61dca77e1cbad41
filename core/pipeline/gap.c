/* Gaps in game.events: recorded, logged, counted, and carried past or stopped at. */
#include "pipeline/gap.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pipeline/pipeline_int.h"
#include "util/clock.h"

typedef struct gap_part {
    int pending;      /* the consumer said the offset is gone */
    int stopped;      /* on_gap=stop: waiting for `bmctl gap ack` */
    int64_t from, to; /* [from, to): the events the broker no longer has */
    int64_t last_check_ms;
} gap_part;

static gap_part g_parts[BM_MAX_PARTITIONS];
static atomic_int g_any;
static _Atomic uint64_t g_count, g_events;

void bm_gap_note(int32_t partition)
{
    if (partition < 0 || partition >= BM_MAX_PARTITIONS)
        return;
    g_parts[partition].pending = 1;
    atomic_store(&g_any, 1);
}

/*
 * Makes one partition fetch from `offset`. After an out-of-range error the
 * partition's fetcher is in an error state that a seek cannot leave, so the
 * whole assignment is given again, every other partition at the offset this
 * processor expects next (what is queued beyond it is read again and skipped).
 */
static void seek_resume(bm_pipeline *e, int32_t p, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (strcmp(rd_kafka_rebalance_protocol(e->consumer), "COOPERATIVE") == 0) {
        /* Under the cooperative protocol the assignment changes one partition at a
         * time: this one leaves and comes back at the offset past the gap. */
        l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, e->cfg.events_topic, p)->offset = offset;
        rd_kafka_error_t *ke = rd_kafka_incremental_unassign(e->consumer, l);
        if (!ke)
            ke = rd_kafka_incremental_assign(e->consumer, l);
        if (ke) {
            rc = rd_kafka_error_code(ke);
            rd_kafka_error_destroy(ke);
        }
    } else {
        if (rd_kafka_assignment(e->consumer, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || !l) {
            bm_error("pipeline", "partition=%d cannot read the assignment to move past a gap", p);
            return;
        }
        for (int i = 0; i < l->cnt; i++) {
            int32_t q = l->elems[i].partition;
            if (q == p)
                l->elems[i].offset = offset;
            else if (q >= 0 && q < BM_MAX_PARTITIONS && e->parts[q].owned)
                l->elems[i].offset = e->parts[q].expected;
        }
        rc = rd_kafka_assign(e->consumer, l);
    }
    if (rc)
        bm_error("pipeline", "partition=%d reassign at %lld after a gap: %s", p, (long long)offset,
                 rd_kafka_err2str(rc));
    else
        bm_info("pipeline", "partition=%d reading again from offset %lld", p, (long long)offset);
    rd_kafka_topic_partition_list_destroy(l);
    /* A partition stopped at a gap was paused too. */
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, e->cfg.events_topic, p);
    rd_kafka_resume_partitions(e->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static void pause_one(bm_pipeline *e, int32_t p)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, e->cfg.events_topic, p);
    rd_kafka_pause_partitions(e->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Runs `sql` with (group, topic, partition, from, to); rows affected or -1. */
static long exec_gap(bm_pipeline *e, const char *sql, int32_t p, int64_t from, int64_t to)
{
    char part[16], f[24], t[24];
    snprintf(part, sizeof part, "%d", p);
    snprintf(f, sizeof f, "%lld", (long long)from);
    snprintf(t, sizeof t, "%lld", (long long)to);
    const char *v[5] = {e->cfg.group_id, e->cfg.events_topic, part, f, t};
    PGresult *r = PQexecParams(e->pg, sql, 5, NULL, v, NULL, NULL, 0);
    long n = -1;
    if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
        n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : atol(PQcmdTuples(r));
    else
        bm_error("pipeline", "partition=%d gap bookkeeping failed: %s", p, PQerrorMessage(e->pg));
    PQclear(r);
    return n;
}

/* One statement, so one transaction: the gap row and the fenced offset move. */
static const char *const k_carry =
    "WITH g AS (INSERT INTO event_gaps (group_id, topic, partition, from_offset, to_offset, "
    "action) VALUES ($1, $2, $3::int, $4::bigint, $5::bigint, 'carried_on') "
    "ON CONFLICT (group_id, topic, partition, from_offset) DO NOTHING) "
    "UPDATE consumer_offsets SET next_offset = $5::bigint WHERE group_id = $1 AND topic = $2 "
    "AND partition = $3::int AND next_offset = $4::bigint";
static const char *const k_stop =
    "INSERT INTO event_gaps (group_id, topic, partition, from_offset, to_offset, action) "
    "VALUES ($1, $2, $3::int, $4::bigint, $5::bigint, 'stopped') "
    "ON CONFLICT (group_id, topic, partition, from_offset) DO NOTHING";
static const char *const k_acked =
    "WITH a AS (SELECT 1 FROM event_gaps WHERE group_id = $1 AND topic = $2 AND "
    "partition = $3::int AND from_offset = $4::bigint AND acked_at IS NOT NULL) "
    "UPDATE consumer_offsets SET next_offset = $5::bigint WHERE group_id = $1 AND topic = $2 "
    "AND partition = $3::int AND next_offset = $4::bigint AND EXISTS (SELECT 1 FROM a)";

/* Moves the partition past the gap once the offsets row says so. */
static void carried(bm_pipeline *e, int32_t p, gap_part *g)
{
    e->parts[p].expected = g->to;
    g->stopped = 0;
    seek_resume(e, p, g->to);
}

static void handle(bm_pipeline *e, int32_t p, gap_part *g)
{
    g->pending = 0;
    bm_part *pt = &e->parts[p];
    if (!pt->owned)
        return;
    if (g->stopped) { /* read again after a rebalance: still waiting for the ack */
        pause_one(e, p);
        return;
    }
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t rc =
        rd_kafka_query_watermark_offsets(e->consumer, e->cfg.events_topic, p, &low, &high, 5000);
    if (rc) {
        bm_error("pipeline", "partition=%d offset %lld is gone and the watermarks are unknown: %s",
                 p, (long long)pt->expected, rd_kafka_err2str(rc));
        g->pending = 1; /* try again next step */
        return;
    }
    if (low <= pt->expected) {
        bm_error("pipeline",
                 "partition=%d next offset %lld out of range (broker has %lld..%lld); not "
                 "moving past anything",
                 p, (long long)pt->expected, (long long)low, (long long)high);
        seek_resume(e, p, pt->expected);
        return;
    }
    g->from = pt->expected;
    g->to = low;
    int stop = strcmp(e->cfg.on_gap, "stop") == 0;
    atomic_fetch_add(&g_count, 1);
    atomic_fetch_add(&g_events, (uint64_t)(low - pt->expected));
    bm_error("pipeline",
             "gap partition=%d from=%lld to=%lld events=%lld: the broker deleted them before "
             "they were applied; %s",
             p, (long long)g->from, (long long)g->to, (long long)(g->to - g->from),
             stop ? "partition stopped until `bmctl gap ack`"
                  : "recorded in event_gaps, carrying on");
    if (stop) {
        if (exec_gap(e, k_stop, p, g->from, g->to) < 0) {
            g->pending = 1;
            return;
        }
        g->stopped = 1;
        pause_one(e, p);
        return;
    }
    long n = exec_gap(e, k_carry, p, g->from, g->to);
    if (n == 1)
        carried(e, p, g);
    else if (n == 0) /* another instance moved the offsets: read them again */
        bm_warn("pipeline", "partition=%d gap: offsets moved by another instance", p);
    else
        g->pending = 1;
}

void bm_gap_step(bm_pipeline *e)
{
    if (!atomic_load(&g_any))
        return;
    int64_t now = bm_now_ms();
    int busy = 0, settled = 0;
    for (int p = 0; p < e->npart_seen; p++) {
        gap_part *g = &g_parts[p];
        if (!g->pending && !g->stopped)
            continue;
        busy = 1;
        /* The batch in flight commits first: the offsets row must be where
         * pt->expected says before the gap moves it. */
        if (!settled) {
            if (bm_pipeline_settle(e) != 0)
                return; /* the step's recovery rereads the offsets; the error comes back */
            settled = 1;
        }
        if (g->pending) {
            handle(e, p, g);
        } else if (now - g->last_check_ms >= 1000) {
            g->last_check_ms = now;
            if (exec_gap(e, k_acked, p, g->from, g->to) == 1) {
                bm_info("pipeline", "partition=%d gap %lld..%lld acknowledged; carrying on", p,
                        (long long)g->from, (long long)g->to);
                carried(e, p, g);
            }
        }
    }
    if (!busy)
        atomic_store(&g_any, 0);
}

json_t *bm_gap_json(void)
{
    json_t *stopped = json_array();
    for (int p = 0; p < BM_MAX_PARTITIONS; p++)
        if (g_parts[p].stopped)
            json_array_append_new(stopped, json_pack("{s:i, s:I, s:I}", "partition", p, "from",
                                                     (json_int_t)g_parts[p].from, "to",
                                                     (json_int_t)g_parts[p].to));
    return json_pack("{s:I, s:I, s:o}", "gaps", (json_int_t)atomic_load(&g_count), "eventsLost",
                     (json_int_t)atomic_load(&g_events), "stoppedPartitions", stopped);
}
