/*
 * One batch, start to finish: poll, decode (bad events to the DLQ through
 * the outbox), drop duplicates, preload state in bulk, dispatch to modules,
 * and commit it all in one transaction fenced on the stored offsets. Any
 * failure drops the cached state and rewinds to the stored offsets, so a
 * batch is applied entirely or not at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "event/arena.h"
#include "event/event.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "lua/lua_sandbox.h"
#include "pipeline/batch_internal.h"
#include "pipeline/committer.h"
#include "pipeline/store.h"
#include "pipeline/gap.h"
#include "pipeline/replay.h"
#include "util/clock.h"

typedef struct bm_item {
    rd_kafka_message_t *msg;
    bm_event ev;
    int valid;
    int dup;
} bm_item;

struct bm_run {
    bm_item *items;
    size_t n, cap;
    bm_state_entry **load;
    size_t nload, capload;
    rd_kafka_message_t **msgs;
    bm_batch batch;
    bm_arena *arena; /* decoded events of this batch */
    int init;
};

static void run_release(bm_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].valid)
            bm_event_clear(&r->items[i].ev);
        rd_kafka_message_destroy(r->items[i].msg);
    }
    r->n = 0;
    r->nload = 0;
    /* Every event of the batch is released: its memory can be reused. */
    bm_arena_reset(r->arena);
}

/* Polls until batch_max messages or linger time since the first one; the
 * number polled, or -1 when the batch's arrays cannot be allocated (nothing
 * was polled then). */
static long poll_batch(bm_pipeline *e, bm_run *r)
{
    size_t max = (size_t)e->cfg.batch_max_events;
    if (r->cap < max) {
        bm_item *ni = realloc(r->items, max * sizeof *ni);
        rd_kafka_message_t **nm = realloc(r->msgs, max * sizeof *nm);
        if (ni)
            r->items = ni;
        if (nm)
            r->msgs = nm;
        if (!ni || !nm)
            return -1;
        r->cap = max;
    }
    int64_t deadline = 0;
    int timeout = 100;
    while (r->n < max && *e->run) {
        /* consume_batch_queue waits its whole timeout unless `max` messages come, so
         * while idle ask for one message: the batch starts as soon as it arrives. */
        size_t want = r->n == 0 && !deadline ? 1 : max - r->n;
        ssize_t got = rd_kafka_consume_batch_queue(e->queue, timeout, r->msgs, want);
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = r->msgs[i];
            if (m->err) {
                if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
                    bm_gap_note(m->partition); /* never silent: pipeline/gap.h */
                else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    bm_warn("pipeline", "consumer: %s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            memset(&r->items[r->n], 0, sizeof r->items[r->n]);
            r->items[r->n++].msg = m;
        }
        if (r->n == 0) {
            if (got <= 0)
                break; /* idle: return to the loop for admin work */
            continue;
        }
        int64_t now = bm_now_ms();
        if (!deadline)
            deadline = now + e->cfg.batch_linger_ms;
        if (now >= deadline)
            break;
        timeout = (int)(deadline - now);
    }
    return (long)r->n;
}

/*
 * DLQ record: reason, where it came from, the original's length and SHA-256,
 * and its first `keep` bytes (as text when they are UTF-8, else hex). Bounded
 * whatever the event, so a record never outgrows what the broker accepts.
 * A cold path: jansson.
 */
static void to_dlq(bm_batch *b, const rd_kafka_message_t *m, const char *reason, size_t keep)
{
    static const char hex[] = "0123456789abcdef";
    char ts[40], key[64], sha[65];
    unsigned char d[SHA256_DIGEST_LENGTH];
    bm_rfc3339_format(bm_now_ms(), ts, sizeof ts);
    SHA256(m->payload, m->len, d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        sha[2 * i] = hex[d[i] >> 4];
        sha[2 * i + 1] = hex[d[i] & 15];
    }
    sha[64] = '\0';
    json_t *j = json_pack("{s:s, s:i, s:I, s:s, s:I, s:s}", "reason", reason, "partition",
                          m->partition, "offset", (json_int_t)m->offset, "rejectedAt", ts,
                          "originalLength", (json_int_t)m->len, "originalSha256", sha);
    size_t n = m->len < keep ? m->len : keep;
    json_t *orig = json_stringn((const char *)m->payload, n);
    /* A cut inside a UTF-8 sequence is not text: back off to its start. */
    for (size_t back = 1; !orig && n == keep && back <= 3 && back < n; back++) {
        orig = json_stringn((const char *)m->payload, n - back);
        if (orig)
            n -= back;
    }
    if (n < m->len)
        json_object_set_new(j, "originalTruncated", json_true());
    if (orig) {
        json_object_set_new(j, "original", orig);
    } else {
        char *h = malloc(n * 2 + 1);
        for (size_t i = 0; h && i < n; i++) {
            unsigned char c = ((const unsigned char *)m->payload)[i];
            h[2 * i] = hex[c >> 4];
            h[2 * i + 1] = hex[c & 15];
        }
        if (h) {
            h[n * 2] = '\0';
            json_object_set_new(j, "originalHex", json_string(h));
        }
        free(h);
    }
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        b->failed = 1; /* the batch must not commit without its DLQ record */
        return;
    }
    snprintf(key, sizeof key, "%d:%lld", m->partition, (long long)m->offset);
    bm_batch_out(b, BM_TOPIC_DLQ, key, text, strlen(text));
    free(text);
}

static int push_new_hash(bm_part *pt, uint64_t h)
{
    if (pt->nnew == pt->capnew) {
        size_t ncap = pt->capnew ? pt->capnew * 2 : 1024;
        uint64_t *nv = realloc(pt->new_hashes, ncap * sizeof *nv);
        if (!nv)
            return -1;
        pt->new_hashes = nv;
        pt->capnew = ncap;
    }
    pt->new_hashes[pt->nnew++] = h;
    return 0;
}

/* 1 if the message carries a valid command signature (cmdauth.h). */
static int signed_by_us(const bm_pipeline *e, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, BM_CMDAUTH_HEADER, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    return bm_cmdauth_verify(&e->cmdkeys, m->payload, m->len, v, n) == 0;
}

/* Partitions of events_topic, asked of the broker once (0 while unknown: then
 * nothing is forwarded). */
static int32_t owner_nparts(bm_pipeline *e)
{
    if (e->events_nparts > 0 || !e->consumer || strcmp(e->cfg.partitioner, "none") == 0)
        return e->events_nparts;
    rd_kafka_topic_t *t = rd_kafka_topic_new(e->consumer, e->cfg.events_topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (t && rd_kafka_metadata(e->consumer, 0, t, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        e->events_nparts = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    return e->events_nparts;
}

/* Queues the message's bytes for events_topic keyed by its userId (the relay's
 * producer uses the same partitioner). Line breaks, which only JSON whitespace
 * can hold, become spaces: an outbox line is one message. */
static void forward(bm_pipeline *e, bm_batch *b, const rd_kafka_message_t *m, const char *user)
{
    char *copy = malloc(m->len + 1);
    if (!copy) {
        b->failed = 1;
        return;
    }
    memcpy(copy, m->payload, m->len);
    for (size_t i = 0; i < m->len; i++)
        if (copy[i] == '\n' || copy[i] == '\r')
            copy[i] = ' ';
    copy[m->len] = '\0';
    bm_batch_out(b, e->cfg.events_topic, user, copy, m->len);
    free(copy);
}

/* "fwd:<outbox id>:<line>" for a message the relay forwarded, else NULL. */
static const char *relay_id(const rd_kafka_message_t *m, char *buf, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, "event_id", &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v ||
        n == 0 || n + 5 > cap)
        return NULL;
    snprintf(buf, cap, "fwd:%.*s", (int)n, (const char *)v);
    return buf;
}

static int is_command(const bm_event *ev)
{
    return strncmp(ev->event_type, BM_CMD_PREFIX, sizeof BM_CMD_PREFIX - 1) == 0;
}

static int in_window(const bm_camp *c, const bm_event *ev)
{
    /* Claims and purchases are allowed after a season closes. */
    return is_command(ev) || bm_camp_covers(c, ev->time_ms);
}

/* Decode, dedupe, and collect the (campaign, user) pairs to load. */
static int prepare(bm_pipeline *e, bm_run *r)
{
    bm_batch *b = &r->batch;
    bm_event_limits lim = {
        .max_bytes = (size_t)e->cfg.max_event_bytes,
        .now_ms = bm_now_ms(),
        .past_ms = (int64_t)e->cfg.past_bound_s * 1000,
        .future_ms = (int64_t)e->cfg.future_bound_s * 1000,
    };
    char reason[256];
    uint32_t now_s = (uint32_t)(lim.now_ms / 1000);
    for (size_t i = 0; i < r->n; i++) {
        bm_item *it = &r->items[i];
        rd_kafka_message_t *m = it->msg;
        if (m->partition < 0 || m->partition >= BM_MAX_PARTITIONS)
            continue;
        bm_part *pt = &e->parts[m->partition];
        /* Not ours any more, or already applied (read again after a rewind). */
        if (!pt->owned || m->offset < pt->expected || (pt->in_batch && m->offset < pt->batch_next))
            continue;
        int64_t want = pt->in_batch ? pt->batch_next : pt->expected;
        if (pt->reseek || (m->offset > want && pt->gap_ok != want)) {
            if (!pt->reseek)
                bm_warn("pipeline",
                        "partition=%d offset=%lld arrived while %lld is next: "
                        "reading again from %lld",
                        m->partition, (long long)m->offset, (long long)want, (long long)want);
            pt->reseek = 1;
            pt->reseek_to = pt->gap_ok = want;
            continue;
        }
        if (!pt->in_batch) {
            pt->in_batch = 1;
            pt->applied = pt->rejected = pt->duplicate = pt->forwarded = 0;
            pt->nnew = 0;
        }
        pt->batch_next = m->offset + 1;
        it->ev.partition = m->partition;
        bm_arena_begin(r->arena);
        int bad = bm_event_decode(&it->ev, m->payload, m->len, &lim, reason, sizeof reason);
        if (!bad && bm_cmdauth_is_command(it->ev.event_type) && !signed_by_us(e, m)) {
            bm_event_clear(&it->ev);
            snprintf(reason, sizeof reason, "unauthenticated_command");
            bad = 1;
        }
        bm_arena_end();
        if (bad) {
            pt->rejected++;
            to_dlq(b, m, reason, (size_t)e->cfg.dlq_original_max_bytes);
            continue;
        }
        it->ev.partition = m->partition;
        it->ev.offset = m->offset;
        /* One owner per player: an event on another partition than its userId's is
         * not applied here but forwarded there, in this batch's transaction. */
        int32_t owner =
            bm_kafka_owner_partition(e->cfg.partitioner, it->ev.user_id, owner_nparts(e));
        if (owner >= 0 && owner != m->partition) {
            forward(e, b, m, it->ev.user_id);
            pt->forwarded++;
            bm_event_clear(&it->ev);
            continue;
        }
        it->valid = 1;
        /* Without an eventId, a forwarded copy is deduped by the relay's own id for
         * it (the relay publishes at least once). */
        char fwd_id[80];
        const char *dedup_id =
            it->ev.event_id ? it->ev.event_id : relay_id(m, fwd_id, sizeof fwd_id);
        if (dedup_id) {
            uint64_t h = bm_dedup_hash(it->ev.game_id, dedup_id);
            if (bm_dedup_contains(&pt->dedup, h)) {
                it->dup = 1;
                pt->duplicate++;
                continue;
            }
            /* Add now so a second copy inside the same batch is caught too; a failed
             * batch drops the partition's set and reloads it from PostgreSQL. */
            if (bm_dedup_add(&pt->dedup, h, now_s) != 0 || push_new_hash(pt, h) != 0)
                return -1;
        }
        pt->applied++;
        size_t nc;
        bm_camp *const *cs = bm_camps_route(e->camps, it->ev.game_id, it->ev.event_type, &nc);
        /* The player's level: needed when the event sets it or a campaign may gate on it. */
        if ((nc || json_object_get(it->ev.data, "level")) &&
            bm_levels_want(&e->levels, it->ev.game_id, it->ev.user_id, m->partition) != 0)
            return -1;
        for (size_t k = 0; k < nc; k++) {
            int created;
            bm_state_entry *s = bm_state_cache_get(&e->cache, bm_camp_slot(cs[k]), it->ev.user_id,
                                                   m->partition, &created);
            if (!s)
                return -1;
            if (s->loaded || s->dirty == 2)
                continue;
            s->dirty = 2; /* marks "queued for load" until loaded */
            if (r->nload == r->capload) {
                size_t ncap = r->capload ? r->capload * 2 : 1024;
                bm_state_entry **nv = realloc(r->load, ncap * sizeof *nv);
                if (!nv)
                    return -1;
                r->load = nv;
                r->capload = ncap;
            }
            r->load[r->nload++] = s;
        }
    }
    for (size_t i = 0; i < r->nload; i++)
        r->load[i]->dirty = 0;
    return 0;
}

/*
 * Campaigns whose module is not loaded are suspended: events of their game are
 * not counted by anyone, so they are counted here and their offset ranges
 * recorded (module_results kind "suspended_events", one row per campaign,
 * partition and batch) for a replay to recount once the module is back.
 */
typedef struct susp_range {
    bm_camp *c;
    int32_t partition;
    int64_t from, to;
    uint64_t n;
} susp_range;

static void note_suspended(bm_pipeline *e, bm_run *r, bm_camp **susp, size_t nsusp)
{
    bm_batch *b = &r->batch;
    susp_range *v = NULL;
    size_t nv = 0, cap = 0;
    bm_lua_batch_begin(); /* every formula's batch time budget starts again */
    for (size_t i = 0; i < r->n; i++) {
        bm_item *it = &r->items[i];
        if (!it->valid || it->dup)
            continue;
        for (size_t k = 0; k < nsusp; k++) {
            bm_camp *c = susp[k];
            if (strcmp(bm_camp_game(c), it->ev.game_id) != 0 || !in_window(c, &it->ev))
                continue;
            bm_camp_note_suspended(c);
            atomic_fetch_add(&e->stats->suspended_events, 1);
            size_t j = 0;
            while (j < nv && !(v[j].c == c && v[j].partition == it->ev.partition))
                j++;
            if (j == nv) {
                if (nv == cap) {
                    size_t ncap = cap ? cap * 2 : 8;
                    susp_range *nr = realloc(v, ncap * sizeof *nr);
                    if (!nr)
                        continue;
                    v = nr;
                    cap = ncap;
                }
                v[nv++] = (susp_range){c, it->ev.partition, it->ev.offset, it->ev.offset, 0};
            }
            v[j].to = it->ev.offset;
            v[j].n++;
        }
    }
    for (size_t j = 0; j < nv; j++) {
        char key[64], doc[256];
        snprintf(key, sizeof key, "%d:%lld", v[j].partition, (long long)v[j].from);
        snprintf(doc, sizeof doc,
                 "{\"topic\":\"%s\",\"partition\":%d,\"fromOffset\":%lld,\"toOffset\":%lld,"
                 "\"events\":%llu}",
                 e->cfg.events_topic, v[j].partition, (long long)v[j].from, (long long)v[j].to,
                 (unsigned long long)v[j].n);
        (void)bm_batch_result_put(b, bm_camp_id(v[j].c), "suspended_events", key, doc);
    }
    free(v);
}

static void dispatch(bm_pipeline *e, bm_run *r)
{
    bm_batch *b = &r->batch;
    bm_camp *susp[64];
    size_t nsusp = 0;
    for (size_t s = 0; s < bm_camps_nslots(e->camps) && nsusp < 64; s++) {
        bm_camp *c = bm_camps_at(e->camps, (uint32_t)s);
        if (c && bm_camp_suspended(c))
            susp[nsusp++] = c;
    }
    if (nsusp)
        note_suspended(e, r, susp, nsusp);
    for (size_t i = 0; i < r->n; i++) {
        bm_item *it = &r->items[i];
        if (!it->valid || it->dup)
            continue;
        /* The event's level becomes the player's before any module reads it. */
        bm_levels_observe(&e->levels, it->ev.game_id, it->ev.user_id, it->ev.time_ms, it->ev.data);
        size_t nc;
        bm_camp *const *cs = bm_camps_route(e->camps, it->ev.game_id, it->ev.event_type, &nc);
        b->cur_partition = it->ev.partition;
        if (strcmp(it->ev.event_type, BM_CMD_COMMUNITY_JOIN) == 0)
            bm_community_join_apply(b, &it->ev); /* before the campaigns: it counts for them */
        for (size_t k = 0; k < nc; k++) {
            bm_camp *c = cs[k];
            bm_modinst *mi = bm_camp_module(c);
            if (!mi || !in_window(c, &it->ev))
                continue;
            b->cur_camp = c;
            b->cur_mi = mi;
            if (bm_camp_call_event(c, b, &it->ev) < 0)
                atomic_fetch_add(&e->stats->dispatch_errors, 1);
        }
    }
    b->cur_camp = NULL;
    b->cur_mi = NULL;
}

size_t bm_pipeline_batch_users(bm_pipeline *e, const char ***users)
{
    bm_run *r = e->batch_run;
    *users = NULL;
    if (!r || !r->n)
        return 0;
    const char **v = malloc(r->n * sizeof *v);
    if (!v)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].valid && !r->items[i].dup)
            v[n++] = r->items[i].ev.user_id;
    *users = v;
    return n;
}

static void end_batch(bm_pipeline *e)
{
    int reseek = 0;
    for (int p = 0; p < e->npart_seen; p++) {
        e->parts[p].in_batch = 0;
        reseek |= e->parts[p].reseek;
    }
    if (reseek)
        bm_pipeline_reseek(e);
}

/* After a failed batch: forget everything derived from it and rewind. */
static void rewind_all(bm_pipeline *e)
{
    bm_pipeline_drop_cache(e, -1);
    bm_pipeline_ends_unsent(e);
    end_batch(e);
    while (*e->run && bm_pipeline_resync(e) != 0)
        usleep(200 * 1000);
}

/* Kafka-side commit of what PostgreSQL now holds: for lag monitoring only. */
/*
 * Kafka-side offsets only feed external lag tools (kafka.lag_commit_ms; the
 * truth is consumer_offsets in PostgreSQL). They are off by default: with
 * librdkafka before 2.8 a commit that races a rebalance is answered "illegal
 * generation" and the client then drops its whole assignment, which would
 * stop the partitions of every process at each join or leave.
 */
static void commit_lag(bm_pipeline *e, const bm_job *j)
{
    for (size_t i = 0; i < j->nparts; i++)
        if (j->parts[i].partition >= 0 && j->parts[i].partition < BM_MAX_PARTITIONS)
            e->parts[j->parts[i].partition].committed = j->parts[i].next;
    int64_t now = bm_now_ms();
    if (e->cfg.lag_commit_ms <= 0 || !e->consumer ||
        now - e->last_lag_commit_ms < e->cfg.lag_commit_ms)
        return;
    e->last_lag_commit_ms = now;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(e->npart_seen + 1);
    for (int p = 0; p < e->npart_seen; p++)
        if (e->parts[p].owned && e->parts[p].committed > 0)
            rd_kafka_topic_partition_list_add(l, e->cfg.events_topic, p)->offset =
                e->parts[p].committed;
    if (l->cnt)
        rd_kafka_commit(e->consumer, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Commit time minus each message's CreateTime, into log2 buckets. */
static void record_latency(bm_pipeline *e, const bm_job *j)
{
    int64_t now = bm_now_ms();
    for (size_t i = 0; i < j->ncreated; i++)
        bm_stats_latency_add(e->stats, now - j->created_ms[i]);
}

/* The Kafka CreateTime of every message of the batch, for the latency histogram. */
static void keep_created(bm_run *r, bm_job *j)
{
    j->created_ms = malloc((r->n + 1) * sizeof *j->created_ms);
    if (!j->created_ms)
        return;
    for (size_t i = 0; i < r->n; i++) {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(r->items[i].msg, &tt);
        if (ts > 0 && tt == RD_KAFKA_TIMESTAMP_CREATE_TIME)
            j->created_ms[j->ncreated++] = ts;
    }
}

int bm_pipeline_settle(bm_pipeline *e)
{
    bm_job *j = e->committer ? bm_committer_wait(e->committer) : NULL;
    if (!j)
        return 0;
    int rc = j->rc;
    /* Claims the job carried are now either committed or not: never in flight. */
    bm_strset_clear(&e->inflight);
    for (size_t i = 0; rc == 0 && i < j->nclaims; i++) {
        char id[1024];
        snprintf(id, sizeof id, "%s\x1f%s\x1f%s", j->claims[i].module, j->claims[i].campaign,
                 j->claims[i].key);
        (void)bm_strset_add(&e->claimed, id);
    }
    if (rc == 0) {
        uint64_t applied = 0, rejected = 0, dups = 0, fwd = 0;
        for (size_t i = 0; i < j->nparts; i++) {
            fwd += j->parts[i].forwarded;
            applied += j->parts[i].applied;
            rejected += j->parts[i].rejected;
            dups += j->parts[i].duplicate;
        }
        commit_lag(e, j);
        record_latency(e, j);
        if (j->nends)
            atomic_fetch_add(&e->stats->ends_committed, 1);
        atomic_fetch_add(&e->stats->batches, 1);
        atomic_fetch_add(&e->stats->events, j->events);
        atomic_fetch_add(&e->stats->applied, applied);
        atomic_fetch_add(&e->stats->rejected, rejected);
        atomic_fetch_add(&e->stats->duplicates, dups);
        atomic_fetch_add(&e->stats->forwarded, fwd);
    } else if (rc == 2) {
        bm_info("pipeline", "batch read again: %s", j->err);
    } else if (rc == 1) {
        atomic_fetch_add(&e->stats->fence_lost, 1);
        bm_warn("pipeline", "batch not applied, another instance owns a partition: %s", j->err);
    } else {
        atomic_fetch_add(&e->stats->commits_failed, 1);
        bm_error("pipeline", "batch of %zu events not applied, will retry: %s", j->events, j->err);
    }
    bm_job_free(j);
    if (rc != 0)
        bm_pipeline_drop_cache(e, -1);
    return rc == 0 ? 0 : -1;
}

/* After a failed commit: the processing connection comes back first (a restarted
 * database shows on it only when used), then offsets and dedup sets are reread. */
static void recover(bm_pipeline *e)
{
    PQclear(PQexec(e->pg, "SELECT 1"));
    if (PQstatus(e->pg) != CONNECTION_OK) {
        for (int i = 0; *e->run && PQstatus(e->pg) != CONNECTION_OK; i++) {
            usleep(i < 10 ? 100 * 1000 : 500 * 1000);
            PQreset(e->pg);
        }
        bm_info("pipeline", "database connection restored");
    }
    rewind_all(e);
}

static int no_partition(const bm_state_entry *s, void *ud)
{
    (void)ud;
    return s->partition < 0;
}

int bm_pipeline_step(bm_pipeline *e)
{
    if (!e->batch_run && !(e->batch_run = calloc(1, sizeof *e->batch_run)))
        return -1;
    bm_run *r = e->batch_run;
    if (!r->init) {
        if (!(r->arena = bm_arena_new()))
            return -1;
        bm_batch_init(&r->batch, e);
        r->init = 1;
    }
    bm_gap_step(e);
    /* A replay recounts from game_events: the batch in flight must be in it. */
    int replay = bm_replay_poll(e);
    if (replay && bm_pipeline_settle(e) != 0) {
        recover(e);
        return -1;
    }
    long got = poll_batch(e, r);
    if (got < 0) {
        /* Out of memory is an error, not an idle poll: say so and let the next
         * turn try again (nothing was read). */
        bm_error("pipeline", "out of memory for a batch of %d events", e->cfg.batch_max_events);
        usleep(100 * 1000);
        return -1;
    }
    if (e->need_rewind) {
        /* A rebalance found the batch in flight failed: what was polled since is
         * read again from the stored offsets. */
        e->need_rewind = 0;
        end_batch(e);
        run_release(r);
        recover(e);
        return -1;
    }
    int tick = bm_now_ms() - e->last_tick_ms >= 1000;
    if (got == 0 && !tick && !replay) {
        /* Idle: collect the batch in flight so its outcome is not left waiting. */
        if (bm_pipeline_settle(e) != 0) {
            recover(e);
            return -1;
        }
        return 0;
    }
    bm_batch *b = &r->batch;
    char err[512];
    int64_t t0 = bm_now_ms(), t1 = t0, t2 = t0;
    int rc = prepare(e, r);
    t1 = bm_now_ms();
    if (rc == 0 && (bm_batch_load_states(e, r->load, r->nload, err, sizeof err) != 0 ||
                    bm_levels_load(&e->levels, e->pg, err, sizeof err) != 0)) {
        bm_error("pipeline", "batch of %zu events not prepared, will retry: %s", r->n, err);
        rc = -1;
    } else if (rc != 0) {
        bm_error("pipeline", "out of memory while preparing a batch of %zu events", r->n);
    }
    bm_job *job = NULL;
    t2 = bm_now_ms();
    if (rc == 0) {
        if (replay)
            bm_replay_run(e, b);
        dispatch(e, r);
        if (tick)
            bm_pipeline_tick(e, b, bm_now_ms());
        bm_batch_finish(b);
        job = bm_batch_to_job(b);
        if (job) {
            job->events = r->n;
            keep_created(r, job);
            if (e->store_events)
                for (size_t i = 0; i < r->n; i++)
                    if (r->items[i].valid && !r->items[i].dup)
                        bm_store_add(job, &r->items[i].ev, r->items[i].msg->payload,
                                     r->items[i].msg->len);
        }
    }
    /* Everything the batch writes is in the job now. Its dirty marks are cleared
     * before settling: a failed settle frees the cache entries they point to. */
    size_t written = b->ndirty;
    bm_batch_reset(b);
    /* State a tick wrote outside any partition is not kept: no fence covers it. */
    if (e->tick_state) {
        bm_state_cache_drop(&e->cache, no_partition, NULL);
        e->tick_state = 0;
    }
    /* The batch in flight must have committed before this one may be: this one is
     * built on that batch's state. */
    int64_t t3 = bm_now_ms();
    if (bm_pipeline_settle(e) != 0 || !job) {
        bm_job_free(job);
        end_batch(e);
        run_release(r);
        recover(e);
        return -1;
    }
    bm_debug("pipeline",
             "batch events=%zu loaded=%zu written=%zu prepare_ms=%lld load_ms=%lld "
             "dispatch_ms=%lld wait_ms=%lld",
             r->n, r->nload, written, (long long)(t1 - t0), (long long)(t2 - t1),
             (long long)(t3 - t2), (long long)(bm_now_ms() - t3));
    for (int p = 0; p < e->npart_seen; p++)
        if (e->parts[p].in_batch)
            e->parts[p].expected = e->parts[p].batch_next;
    if (bm_job_empty(job)) {
        bm_job_free(job); /* a tick that wrote nothing */
    } else {
        for (size_t i = 0; i < job->nclaims; i++) {
            char id[1024];
            snprintf(id, sizeof id, "%s\x1f%s\x1f%s", job->claims[i].module,
                     job->claims[i].campaign, job->claims[i].key);
            (void)bm_strset_add(&e->inflight, id);
        }
        bm_committer_submit(e->committer, job);
    }
    end_batch(e);
    run_release(r);
    return 0;
}

void bm_pipeline_free_run(bm_pipeline *e)
{
    bm_run *r = e->batch_run;
    if (!r)
        return;
    run_release(r);
    bm_batch_free(&r->batch);
    bm_arena_destroy(r->arena);
    free(r->items);
    free(r->load);
    free(r->msgs);
    free(r);
    e->batch_run = NULL;
}
