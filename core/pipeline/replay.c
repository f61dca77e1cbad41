/*
 * Campaign replay (bmctl campaign replay): recounts a campaign from the event
 * store through the module's own on_event, one partition at a time, inside an
 * ordinary batch of the process that owns the partition.
 *
 * The cut-over of partition p is the batch's first offset of p (the next
 * offset to apply): stored events of p before it are recounted from zero,
 * events from it on are counted live on top, in this batch or later ones. The
 * batch carries p in its fence even when no event of p came in it, so a
 * process that lost p cannot commit a recount of it. Before the recount the
 * batch in flight is committed, so every applied event before the cut-over is
 * in game_events. Each recounted player's previous standing is kept
 * (module_results kind replay_previous), the partition is recorded done (kind
 * replay, with its cut-over), all in the batch's one transaction: a crash
 * loses the whole recount of p and the owner does it again.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "lua/lua_sandbox.h"
#include "pipeline/batch_internal.h"
#include "pipeline/replay.h"
#include "util/clock.h"
#include "watchdog/watchdog.h"

#define REPLAY_PARTS 256

struct bm_replay {
    long long id;
    char campaign[64];
    long long version;
    int64_t from_ms, to_ms; /* 0 = open */
    int done[REPLAY_PARTS]; /* partitions already recounted (committed) */
    int64_t last_check_ms;
    int due; /* an owned partition waits for its recount */
};

static int32_t topic_parts(bm_pipeline *e)
{
    if (e->events_nparts > 0 || !e->consumer)
        return e->events_nparts;
    rd_kafka_topic_t *t = rd_kafka_topic_new(e->consumer, e->cfg.events_topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = 0;
    if (t && rd_kafka_metadata(e->consumer, 0, t, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    return n;
}

/* Reads the oldest pending replay into rp; 1 found, 0 none, -1 error. */
static int read_pending(bm_pipeline *e, struct bm_replay *rp)
{
    /* clang-format off */
    PGresult *r = PQexec(e->pg,
        "SELECT r.id, r.campaign_id::text, r.version, COALESCE(r.from_ms, 0), "
        "       COALESCE(r.to_ms, 0), "
        "       ARRAY(SELECT split_part(m.key, ':', 2) FROM module_results m "
        "             WHERE m.campaign_id = r.campaign_id AND m.kind = 'replay' "
        "               AND split_part(m.key, ':', 1) = r.id::text)::text "
        "FROM campaign_replays r WHERE r.done_at IS NULL ORDER BY r.id LIMIT 1");
    /* clang-format on */
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        bm_warn("replay", "cannot read pending replays: %s", PQerrorMessage(e->pg));
        goto out;
    }
    rc = 0;
    if (PQntuples(r) == 0)
        goto out;
    memset(rp->done, 0, sizeof rp->done);
    rp->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(rp->campaign, sizeof rp->campaign, "%s", PQgetvalue(r, 0, 1));
    rp->version = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    rp->from_ms = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    rp->to_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    /* "{0,3}": the partitions done */
    for (const char *p = PQgetvalue(r, 0, 5); *p; p++)
        if (*p >= '0' && *p <= '9') {
            char *end;
            long v = strtol(p, &end, 10);
            if (v >= 0 && v < REPLAY_PARTS)
                rp->done[v] = 1;
            p = end - 1;
        }
    rc = 1;
out:
    PQclear(r);
    return rc;
}

/* Marks the replay done once every partition of the topic is recounted. */
static void mark_done(bm_pipeline *e, const struct bm_replay *rp, int32_t nparts)
{
    for (int32_t p = 0; p < nparts && p < REPLAY_PARTS; p++)
        if (!rp->done[p])
            return;
    char id[32];
    snprintf(id, sizeof id, "%lld", rp->id);
    const char *params[1] = {id};
    PQclear(PQexecParams(e->pg, "UPDATE campaign_replays SET done_at = now() WHERE id = $1", 1,
                         NULL, params, NULL, NULL, 0));
}

/* The campaign this process serves at the requested version or newer, or NULL. */
static bm_camp *served(bm_pipeline *e, const struct bm_replay *rp)
{
    bm_camp *c = bm_camps_find(e->camps, rp->campaign);
    if (!c || !bm_camp_module(c) || bm_camp_version(c) < rp->version)
        return NULL;
    return c;
}

int bm_replay_poll(bm_pipeline *e)
{
    struct bm_replay *rp = e->replay;
    if (!rp && !(rp = e->replay = calloc(1, sizeof *rp)))
        return 0;
    int64_t now = bm_now_ms();
    if (rp->due || now - rp->last_check_ms < 1000)
        return rp->due;
    rp->last_check_ms = now;
    if (read_pending(e, rp) <= 0)
        return 0;
    int32_t nparts = topic_parts(e);
    mark_done(e, rp, nparts);
    if (!served(e, rp))
        return 0; /* not at that version here yet: the refresh brings it */
    for (int p = 0; p < e->npart_seen && p < REPLAY_PARTS; p++)
        if (e->parts[p].owned && !e->parts[p].reseek && !rp->done[p])
            rp->due = 1;
    return rp->due;
}

/* The players whose state partition p recounts. */
static void users_of(bm_pipeline *e, const bm_camp *c, int32_t p, int64_t cut, int32_t nparts,
                     bm_strset *users)
{
    char part[16], off[32];
    snprintf(part, sizeof part, "%d", p);
    snprintf(off, sizeof off, "%lld", (long long)cut);
    const char *params[4] = {bm_camp_game(c), part, off, bm_camp_id(c)};
    /* Players with stored events in p, and players with state whose events go to p. */
    /* clang-format off */
    PGresult *r = PQexecParams(e->pg,
        "SELECT DISTINCT user_id, 1 FROM game_events "
        " WHERE game_id = $1 AND kafka_partition = $2::int AND kafka_offset < $3::bigint "
        "UNION SELECT user_id, 0 FROM user_progress WHERE campaign_id = $4::uuid",
        4, NULL, params, NULL, NULL, 0);
    /* clang-format on */
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(r); i++) {
            const char *u = PQgetvalue(r, i, 0);
            int stored = PQgetvalue(r, i, 1)[0] == '1';
            if (!stored &&
                (nparts <= 0 || bm_kafka_owner_partition(e->cfg.partitioner, u, nparts) != p))
                continue;
            (void)bm_strset_add(users, u);
        }
    } else {
        bm_error("replay", "campaign=%s partition=%d cannot list players: %s", bm_camp_id(c), p,
                 PQerrorMessage(e->pg));
    }
    PQclear(r);
}

/* Keeps the previous standing, then zeroes the player's state (written as zero
 * unless a recounted event changes it). */
static int reset_player(bm_batch *b, const bm_camp *c, long long id, bm_state_entry *s)
{
    const char *user = s->user;
    if (s->st.count || s->st.value != 0) {
        char key[320];
        snprintf(key, sizeof key, "%lld:%s", id, user);
        json_t *d = json_pack("{s:f, s:f, s:I, s:I, s:i}", "value", s->st.value, "aux", s->st.aux,
                              "count", (json_int_t)s->st.count, "reachedMs",
                              (json_int_t)s->st.reached_ms, "completed", s->st.completed);
        char *txt = d ? json_dumps(d, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        json_decref(d);
        int rc =
            txt ? bm_batch_result_put(b, bm_camp_id(c), "replay_previous", key, txt) : BM_ERROR;
        free(txt);
        if (rc != BM_OK)
            return -1;
    }
    memset(&s->st, 0, sizeof s->st);
    (void)bm_state_entry_set_doc(s, NULL);
    s->loaded = 1;
    return bm_batch_state_put(b, &s->st, NULL) == BM_OK ? 0 : -1;
}

/* The campaign's window as live dispatch applies it (commands pass), then --from/--to. */
static int in_range(const bm_camp *c, const struct bm_replay *rp, const bm_event *ev)
{
    int64_t t = ev->time_ms;
    if (rp->from_ms && t < rp->from_ms)
        return 0;
    if (rp->to_ms && t >= rp->to_ms)
        return 0;
    if (strncmp(ev->event_type, BM_CMD_PREFIX, sizeof BM_CMD_PREFIX - 1) == 0)
        return 1;
    return bm_camp_covers(c, t);
}

/* 1 if the campaign subscribed to the event's type, as live dispatch decides. */
static int routed(bm_pipeline *e, const bm_camp *c, const bm_event *ev)
{
    size_t n;
    bm_camp *const *cs = bm_camps_route(e->camps, ev->game_id, ev->event_type, &n);
    for (size_t i = 0; i < n; i++)
        if (cs[i] == c)
            return 1;
    return 0;
}

/* Recounts the stored events of p before `cut` into the campaign; events counted or -1. */
static long long recount(bm_pipeline *e, bm_batch *b, bm_camp *c, const struct bm_replay *rp,
                         int32_t p, int64_t cut)
{
    char part[16], off[32];
    snprintf(part, sizeof part, "%d", p);
    snprintf(off, sizeof off, "%lld", (long long)cut);
    const char *params[3] = {bm_camp_game(c), part, off};
    /* clang-format off */
    PGresult *r = PQexecParams(e->pg,
        "SELECT payload::text, kafka_offset FROM game_events "
        " WHERE game_id = $1 AND kafka_partition = $2::int AND kafka_offset < $3::bigint "
        " ORDER BY kafka_offset",
        3, NULL, params, NULL, NULL, 0);
    /* clang-format on */
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        bm_error("replay", "campaign=%s partition=%d cannot read stored events: %s", bm_camp_id(c),
                 p, PQerrorMessage(e->pg));
        PQclear(r);
        return -1;
    }
    long long counted = 0;
    bm_event_limits lim = {.max_bytes = (size_t)-1, .now_ms = bm_now_ms()};
    b->cur_camp = c;
    b->cur_mi = bm_camp_module(c);
    b->cur_partition = p;
    for (int i = 0; i < PQntuples(r); i++) {
        if (i % 256 == 0)
            bm_lua_batch_begin(); /* the formula budget is per slice, as per batch live */
        bm_event ev;
        char reason[128];
        const char *txt = PQgetvalue(r, i, 0);
        if (bm_event_decode(&ev, txt, (size_t)PQgetlength(r, i, 0), &lim, reason, sizeof reason))
            continue;
        ev.partition = p;
        ev.offset = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        if (routed(e, c, &ev) && in_range(c, rp, &ev)) {
            if (bm_camp_call_event(c, b, &ev) == BM_OK)
                counted++;
        }
        bm_event_clear(&ev);
    }
    PQclear(r);
    b->cur_camp = NULL;
    b->cur_mi = NULL;
    b->cur_partition = -1;
    return counted;
}

void bm_replay_run(bm_pipeline *e, bm_batch *b)
{
    struct bm_replay *rp = e->replay;
    if (!rp || !rp->due)
        return;
    rp->due = 0;
    /* Read again now the batch before is committed: a partition recounted by it is done. */
    if (read_pending(e, rp) <= 0)
        return;
    bm_camp *c = served(e, rp);
    if (!c)
        return;
    int32_t nparts = topic_parts(e);
    for (int p = 0; p < e->npart_seen && p < REPLAY_PARTS; p++) {
        bm_part *pt = &e->parts[p];
        if (!pt->owned || pt->reseek || rp->done[p])
            continue;
        int64_t cut = pt->expected;
        bm_strset users = {0};
        users_of(e, c, p, cut, nparts, &users);
        size_t players = 0;
        int bad = 0;
        /* Their states, read in one query where the cache does not hold them. */
        bm_state_entry **v = calloc(users.count + 1, sizeof *v);
        bm_state_entry **load = calloc(users.count + 1, sizeof *load);
        size_t nload = 0;
        bad = !v || !load;
        for (size_t i = 0; i < users.cap && !bad; i++)
            if (users.slots[i]) {
                bm_state_entry *s =
                    bm_state_cache_get(&e->cache, bm_camp_slot(c), users.slots[i], p, NULL);
                bad = !s;
                if (s && !s->loaded)
                    load[nload++] = s;
                if (s)
                    v[players++] = s;
            }
        char err[256];
        if (!bad && bm_batch_load_states(e, load, nload, err, sizeof err) != 0) {
            bm_error("replay", "campaign=%s partition=%d: %s", bm_camp_id(c), p, err);
            bad = 1;
        }
        for (size_t i = 0; i < players && !bad; i++)
            bad = reset_player(b, c, rp->id, v[i]) != 0;
        free(v);
        free(load);
        bm_strset_free(&users);
        long long counted = bad ? -1 : recount(e, b, c, rp, p, cut);
        if (counted < 0) {
            b->failed = 1; /* nothing of this batch commits; the recount is tried again */
            return;
        }
        if (!pt->in_batch) {
            /* No event of p in this batch: p is fenced at its offset all the same. */
            pt->in_batch = 1;
            pt->batch_next = pt->expected;
            pt->applied = pt->rejected = pt->duplicate = pt->forwarded = 0;
            pt->nnew = 0;
        }
        char key[64], doc[256];
        snprintf(key, sizeof key, "%lld:%d", rp->id, p);
        snprintf(doc, sizeof doc,
                 "{\"partition\":%d,\"cutoverOffset\":%lld,\"players\":%zu,\"events\":%lld,"
                 "\"partitions\":%d,\"version\":%lld,\"atMs\":%lld}",
                 p, (long long)cut, players, counted, nparts, (long long)bm_camp_version(c),
                 (long long)bm_now_ms());
        if (bm_batch_result_put(b, bm_camp_id(c), "replay", key, doc) != BM_OK) {
            b->failed = 1;
            return;
        }
        bm_info("replay",
                "replay=%lld campaign=%s partition=%d cutover=%lld players=%zu events=%lld", rp->id,
                bm_camp_id(c), p, (long long)cut, players, counted);
    }
}

void bm_replay_free(bm_pipeline *e)
{
    free(e->replay);
    e->replay = NULL;
}
