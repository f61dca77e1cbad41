/*
 * The batch's SQL: bulk state loads, and the one transaction per batch that
 * writes states (COPY into a staging table, then one upsert), outbox rows,
 * reward grants, applied eventIds and the fenced consumer offsets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pipeline/batch_internal.h"

#define MS_TO_TS(col) "CASE WHEN " col " = 0 THEN NULL ELSE to_timestamp(" col " / 1000.0) END"
#define TS_TO_MS(col) "COALESCE((extract(epoch FROM " col ") * 1000)::bigint, 0)"

static void set_err(PGconn *pg, const char *what, char *err, size_t errlen)
{
    const char *m = PQerrorMessage(pg);
    snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(m, "\n"), m);
}

static int ok_cmd(PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

int bm_batch_load_states(bm_engine *e, bm_state_entry **v, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    bm_buf camps = {0}, users = {0};
    bm_buf_puts(&camps, "{");
    bm_buf_puts(&users, "{");
    for (size_t i = 0; i < n; i++) {
        bm_camp *c = v[i]->camp_slot < e->camps.nslots ? e->camps.by_slot[v[i]->camp_slot] : NULL;
        if (i) {
            bm_buf_puts(&camps, ",");
            bm_buf_puts(&users, ",");
        }
        /* A campaign removed meanwhile still needs a valid uuid: it simply matches nothing. */
        bm_buf_puts(&camps, c ? c->row.id : "00000000-0000-0000-0000-000000000000");
        bm_buf_array_elem(&users, v[i]->user);
    }
    bm_buf_puts(&camps, "}");
    bm_buf_puts(&users, "}");
    int rc = -1;
    if (camps.oom || users.oom) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    const char *params[2] = {bm_buf_cstr(&camps), bm_buf_cstr(&users)};
    PGresult *r = PQexecParams(
        e->pg,
        "SELECT k.i, p.current_value, p.aux_value, p.event_count, p.progress_data::text, "
        "p.completed, " TS_TO_MS("p.completed_at") ", " TS_TO_MS("p.reached_at") ", " TS_TO_MS(
            "p.first_event_at") ", " TS_TO_MS("p.last_event_at") ", p.flags "
                                                                 "FROM unnest($1::uuid[], "
                                                                 "$2::text[]) WITH ORDINALITY "
                                                                 "AS k(c, u, i) "
                                                                 "JOIN user_progress p ON "
                                                                 "p.campaign_id = k.c AND "
                                                                 "p.user_id = k.u",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(e->pg, "load states", err, errlen);
        PQclear(r);
        goto out;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        long idx = strtol(PQgetvalue(r, row, 0), NULL, 10) - 1;
        if (idx < 0 || (size_t)idx >= n)
            continue;
        bm_state_entry *s = v[idx];
        s->st.value = strtod(PQgetvalue(r, row, 1), NULL);
        s->st.aux = strtod(PQgetvalue(r, row, 2), NULL);
        s->st.count = strtoll(PQgetvalue(r, row, 3), NULL, 10);
        if (!PQgetisnull(r, row, 4) && bm_state_entry_set_doc(s, PQgetvalue(r, row, 4)) != 0) {
            snprintf(err, errlen, "out of memory");
            PQclear(r);
            goto out;
        }
        s->st.completed = (int32_t)strtol(PQgetvalue(r, row, 5), NULL, 10);
        s->st.completed_ms = strtoll(PQgetvalue(r, row, 6), NULL, 10);
        s->st.reached_ms = strtoll(PQgetvalue(r, row, 7), NULL, 10);
        s->st.first_ms = strtoll(PQgetvalue(r, row, 8), NULL, 10);
        s->st.updated_ms = strtoll(PQgetvalue(r, row, 9), NULL, 10);
        s->st.flags = (int32_t)strtol(PQgetvalue(r, row, 10), NULL, 10);
    }
    PQclear(r);
    for (size_t i = 0; i < n; i++)
        v[i]->loaded = 1;
    rc = 0;
out:
    bm_buf_free(&camps);
    bm_buf_free(&users);
    return rc;
}

/* The staging table lives per connection; rows vanish at each commit. */
static int ensure_stage(PGconn *pg, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, "CREATE TEMP TABLE IF NOT EXISTS bm_stage ("
                             "campaign_id uuid, user_id text, value float8, aux float8, "
                             "cnt int8, doc jsonb, completed int4, completed_ms int8, "
                             "reached_ms int8, first_ms int8, last_ms int8, flags int4) "
                             "ON COMMIT DELETE ROWS");
    int ok = ok_cmd(r);
    PQclear(r);
    if (!ok)
        set_err(pg, "staging table", err, errlen);
    return ok ? 0 : -1;
}

static int copy_states(bm_batch *b, char *err, size_t errlen)
{
    PGconn *pg = b->e->pg;
    PGresult *r = PQexec(pg, "COPY bm_stage FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        PQclear(r);
        set_err(pg, "copy states", err, errlen);
        return -1;
    }
    PQclear(r);
    bm_buf line = {0};
    for (size_t i = 0; i < b->ndirty; i++) {
        bm_state_entry *s = b->dirty[i];
        bm_camp *c = s->camp_slot < b->e->camps.nslots ? b->e->camps.by_slot[s->camp_slot] : NULL;
        if (!c)
            continue; /* the campaign was removed mid-batch: nothing to keep */
        bm_buf_puts(&line, c->row.id);
        bm_buf_append(&line, "\t", 1);
        bm_buf_copy_str(&line, s->user);
        bm_buf_append(&line, "\t", 1);
        bm_buf_double(&line, s->st.value);
        bm_buf_append(&line, "\t", 1);
        bm_buf_double(&line, s->st.aux);
        bm_buf_printf(&line, "\t%lld\t", (long long)s->st.count);
        if (s->st.doc)
            bm_buf_copy_str(&line, s->st.doc);
        else
            bm_buf_puts(&line, "\\N");
        bm_buf_printf(&line, "\t%d\t%lld\t%lld\t%lld\t%lld\t%d\n", (int)s->st.completed,
                      (long long)s->st.completed_ms, (long long)s->st.reached_ms,
                      (long long)s->st.first_ms, (long long)s->st.updated_ms, (int)s->st.flags);
        if (line.len > (1 << 20)) {
            if (PQputCopyData(pg, line.p, (int)line.len) != 1)
                break;
            bm_buf_reset(&line);
        }
    }
    int rc = line.oom ? -1 : 0;
    if (rc == 0 && line.len && PQputCopyData(pg, line.p, (int)line.len) != 1)
        rc = -1;
    bm_buf_free(&line);
    if (PQputCopyEnd(pg, rc == 0 ? NULL : "aborted by the engine") != 1)
        rc = -1;
    r = PQgetResult(pg);
    if (!ok_cmd(r))
        rc = -1;
    PQclear(r);
    while ((r = PQgetResult(pg)))
        PQclear(r);
    if (rc != 0) {
        set_err(pg, "copy states", err, errlen);
        return -1;
    }
    r = PQexec(
        pg,
        "INSERT INTO user_progress AS p (campaign_id, user_id, current_value, "
        "aux_value, event_count, progress_data, completed, completed_at, reached_at, "
        "first_event_at, last_event_at, flags, last_updated) "
        "SELECT campaign_id, user_id, value, aux, cnt, doc, completed, " MS_TO_TS("completed_ms") ", " MS_TO_TS(
            "reached_ms") ", " MS_TO_TS("first_ms") ", " MS_TO_TS("last_ms") ", flags, now() FROM "
                                                                             "bm_stage "
                                                                             "ON CONFLICT "
                                                                             "(campaign_id, "
                                                                             "user_id) DO UPDATE "
                                                                             "SET "
                                                                             "current_value = "
                                                                             "EXCLUDED.current_"
                                                                             "value, aux_value = "
                                                                             "EXCLUDED.aux_value, "
                                                                             "event_count = "
                                                                             "EXCLUDED.event_count,"
                                                                             " progress_data = "
                                                                             "EXCLUDED.progress_"
                                                                             "data, "
                                                                             "completed = "
                                                                             "EXCLUDED.completed, "
                                                                             "completed_at = "
                                                                             "EXCLUDED.completed_"
                                                                             "at, "
                                                                             "reached_at = "
                                                                             "EXCLUDED.reached_at, "
                                                                             "first_event_at = "
                                                                             "EXCLUDED.first_event_"
                                                                             "at, "
                                                                             "last_event_at = "
                                                                             "EXCLUDED.last_event_"
                                                                             "at, flags = "
                                                                             "EXCLUDED.flags, "
                                                                             "last_updated = "
                                                                             "now()");
    rc = ok_cmd(r) ? 0 : -1;
    PQclear(r);
    if (rc)
        set_err(pg, "upsert states", err, errlen);
    return rc;
}

/* Grants first: the reward.events notice goes out only for rows really inserted. */
static int write_grants(bm_batch *b, char *err, size_t errlen)
{
    bm_buf j = {0};
    int rc = 0;
    for (size_t i = 0; i < b->ngrants && rc == 0; i++) {
        bm_grant *g = &b->grants[i];
        const char *p[5] = {g->idem, g->campaign, g->user, g->type, g->json};
        PGresult *r =
            PQexecParams(b->e->pg,
                         "INSERT INTO reward_fulfillments (idempotency_key, campaign_id, user_id, "
                         "reward_type, reward_config) VALUES ($1, $2, $3, $4, "
                         "COALESCE(($5::jsonb) -> 'config', '{}'::jsonb)) "
                         "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                         5, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            set_err(b->e->pg, "reward grant", err, errlen);
            rc = -1;
        } else if (PQntuples(r) == 1) {
            bm_buf_reset(&j);
            bm_buf_printf(&j, "{\"fulfillmentId\":%s,\"idempotencyKey\":", PQgetvalue(r, 0, 0));
            bm_buf_json_str(&j, g->idem);
            bm_buf_puts(&j, ",\"campaignId\":");
            bm_buf_json_str(&j, g->campaign);
            bm_buf_puts(&j, ",\"userId\":");
            bm_buf_json_str(&j, g->user);
            bm_buf_puts(&j, ",\"rewardType\":");
            bm_buf_json_str(&j, g->type);
            bm_buf_puts(&j, "}");
            bm_batch_out(b, "reward.events", g->user, j.p, j.len);
        }
        PQclear(r);
    }
    bm_buf_free(&j);
    return rc;
}

static int write_outbox(bm_batch *b, char *err, size_t errlen)
{
    for (size_t i = 0; i < b->nout; i++) {
        bm_outtopic *t = &b->out[i];
        if (!t->count)
            continue;
        char cnt[16];
        snprintf(cnt, sizeof cnt, "%d", t->count);
        const char *p[3] = {t->topic, cnt, bm_buf_cstr(&t->lines)};
        PGresult *r = PQexecParams(b->e->pg,
                                   "INSERT INTO outbox (topic, message_count, payload) "
                                   "VALUES ($1, $2, $3)",
                                   3, NULL, p, NULL, NULL, 0);
        int ok = ok_cmd(r);
        PQclear(r);
        if (!ok) {
            set_err(b->e->pg, "outbox", err, errlen);
            return -1;
        }
    }
    return 0;
}

static int write_dedup(bm_batch *b, char *err, size_t errlen)
{
    bm_engine *e = b->e;
    for (int p = 0; p < e->npart_seen; p++) {
        bm_part *pt = &e->parts[p];
        if (!pt->in_batch || !pt->nnew)
            continue;
        char part[16], first[24];
        snprintf(part, sizeof part, "%d", p);
        snprintf(first, sizeof first, "%lld", (long long)pt->expected);
        const char *vals[5] = {e->cfg.group_id, e->cfg.events_topic, part, first,
                               (const char *)pt->new_hashes};
        int lens[5] = {0, 0, 0, 0, (int)(pt->nnew * sizeof(uint64_t))};
        int fmts[5] = {0, 0, 0, 0, 1};
        PGresult *r = PQexecParams(e->pg,
                                   "INSERT INTO event_dedup (group_id, topic, partition, "
                                   "first_offset, hashes) VALUES ($1, $2, $3, $4, $5::bytea) "
                                   "ON CONFLICT DO NOTHING",
                                   5, NULL, vals, lens, fmts, 0);
        int ok = ok_cmd(r);
        PQclear(r);
        if (!ok) {
            set_err(e->pg, "event dedup", err, errlen);
            return -1;
        }
    }
    return 0;
}

/* Advances every partition of the batch, fenced on the offset we started from.
 * Returns 1 when another instance moved one of them (we no longer own it). */
static int write_offsets(bm_batch *b, char *err, size_t errlen)
{
    bm_engine *e = b->e;
    bm_buf ps = {0}, ex = {0}, nx = {0}, ap = {0}, rj = {0}, dp = {0};
    int nparts = 0;
    for (int p = 0; p < e->npart_seen; p++) {
        bm_part *pt = &e->parts[p];
        if (!pt->in_batch)
            continue;
        const char *sep = nparts++ ? "," : "{";
        bm_buf_printf(&ps, "%s%d", sep, p);
        bm_buf_printf(&ex, "%s%lld", sep, (long long)pt->expected);
        bm_buf_printf(&nx, "%s%lld", sep, (long long)pt->batch_next);
        bm_buf_printf(&ap, "%s%llu", sep, (unsigned long long)pt->applied);
        bm_buf_printf(&rj, "%s%llu", sep, (unsigned long long)pt->rejected);
        bm_buf_printf(&dp, "%s%llu", sep, (unsigned long long)pt->duplicate);
    }
    int rc = 0;
    if (nparts) {
        bm_buf *all[6] = {&ps, &ex, &nx, &ap, &rj, &dp};
        for (int i = 0; i < 6; i++)
            bm_buf_puts(all[i], "}");
        const char *p[8] = {e->cfg.group_id,  e->cfg.events_topic, bm_buf_cstr(&ps),
                            bm_buf_cstr(&ex), bm_buf_cstr(&nx),    bm_buf_cstr(&ap),
                            bm_buf_cstr(&rj), bm_buf_cstr(&dp)};
        PGresult *r = PQexecParams(
            e->pg,
            "UPDATE consumer_offsets c SET next_offset = u.n, "
            "events_applied = c.events_applied + u.a, events_rejected = c.events_rejected + u.r, "
            "events_duplicate = c.events_duplicate + u.d, updated_at = now() "
            "FROM unnest($3::int[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[]) "
            "AS u(p, e, n, a, r, d) WHERE c.group_id = $1 AND c.topic = $2 AND c.partition = u.p "
            "AND c.next_offset = u.e",
            8, NULL, p, NULL, NULL, 0);
        if (!ok_cmd(r)) {
            set_err(e->pg, "offsets", err, errlen);
            rc = -1;
        } else if (atoi(PQcmdTuples(r)) != nparts) {
            snprintf(err, errlen, "offset fence: %s of %d partitions matched", PQcmdTuples(r),
                     nparts);
            rc = 1;
        }
        PQclear(r);
    }
    bm_buf_free(&ps);
    bm_buf_free(&ex);
    bm_buf_free(&nx);
    bm_buf_free(&ap);
    bm_buf_free(&rj);
    bm_buf_free(&dp);
    return rc;
}

static void rollback(PGconn *pg)
{
    if (PQstatus(pg) == CONNECTION_OK)
        PQclear(PQexec(pg, "ROLLBACK"));
}

int bm_batch_commit(bm_batch *b, char *err, size_t errlen)
{
    PGconn *pg = b->e->pg;
    if (b->failed) {
        snprintf(err, errlen, "out of memory while building the batch");
        return -1;
    }
    PGresult *r = PQexec(pg, "BEGIN");
    int ok = ok_cmd(r);
    PQclear(r);
    if (!ok) {
        set_err(pg, "begin", err, errlen);
        return -1;
    }
    /* Offsets first: the row locks serialise two instances racing for a partition. */
    int rc = write_offsets(b, err, errlen);
    if (rc != 0) {
        rollback(pg);
        return rc;
    }
    int64_t t0 = bm_now_ms();
    if (ensure_stage(pg, err, errlen) != 0 || (b->ndirty && copy_states(b, err, errlen) != 0)) {
        rollback(pg);
        return -1;
    }
    int64_t t1 = bm_now_ms();
    if (write_grants(b, err, errlen) != 0 || write_outbox(b, err, errlen) != 0 ||
        write_dedup(b, err, errlen) != 0) {
        rollback(pg);
        return -1;
    }
    int64_t t2 = bm_now_ms();
    r = PQexec(pg, "COMMIT");
    bm_debug("pipeline", "commit states_ms=%lld outbox_ms=%lld commit_ms=%lld",
             (long long)(t1 - t0), (long long)(t2 - t1), (long long)(bm_now_ms() - t2));
    ok = ok_cmd(r);
    PQclear(r);
    if (!ok) {
        set_err(pg, "commit", err, errlen);
        return -1;
    }
    return 0;
}
