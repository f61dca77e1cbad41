/*
 * Running a commit job: one transaction with the fenced offsets first (their
 * row locks serialise two instances racing for a partition), then the states
 * (COPY into a staging table and one upsert), reward grants, outbox rows and
 * the applied eventIds.
 */
#include "pipeline/job.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "level/level.h"
#include "pipeline/store.h"

#define MS_TO_TS(col) "CASE WHEN " col " = 0 THEN NULL ELSE to_timestamp(" col " / 1000.0) END"

static void set_err(bm_job *j, PGconn *pg, const char *what)
{
    const char *m = PQerrorMessage(pg);
    snprintf(j->err, sizeof j->err, "%s: %.*s", what, (int)strcspn(m, "\n"), m);
}

static int ok_cmd(PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Runs a statement that returns no rows; 0 or -1 with the job's error set. */
static int exec_params(bm_job *j, PGconn *pg, const char *what, const char *sql, int n,
                       const char *const *vals, const int *lens, const int *fmts)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, vals, lens, fmts, 0);
    int ok = ok_cmd(r);
    PQclear(r);
    if (!ok)
        set_err(j, pg, what);
    return ok ? 0 : -1;
}

void bm_job_out(bm_job *j, const char *topic, const char *key, const char *json, size_t jlen)
{
    bm_job_topic *t = NULL;
    for (size_t i = 0; i < j->nout && !t; i++)
        if (strcmp(j->out[i].topic, topic) == 0)
            t = &j->out[i];
    if (!t) {
        if (j->nout == j->capout) {
            size_t ncap = j->capout ? j->capout * 2 : 8;
            bm_job_topic *nv = realloc(j->out, ncap * sizeof *nv);
            if (!nv) {
                j->failed = 1;
                return;
            }
            j->out = nv;
            j->capout = ncap;
        }
        t = &j->out[j->nout++];
        memset(t, 0, sizeof *t);
        snprintf(t->topic, sizeof t->topic, "%s", topic);
    }
    bm_buf_copy_str(&t->lines, key ? key : "");
    bm_buf_append(&t->lines, "\t", 1);
    bm_buf_append(&t->lines, json, jlen);
    bm_buf_append(&t->lines, "\n", 1);
    t->count++;
    if (t->lines.oom)
        j->failed = 1;
}

static int write_offsets(bm_job *j, PGconn *pg)
{
    if (!j->nparts)
        return 0;
    bm_buf a[7] = {{0}};
    for (size_t i = 0; i < j->nparts; i++) {
        const bm_job_part *p = &j->parts[i];
        const char *sep = i ? "," : "{";
        bm_buf_printf(&a[0], "%s%d", sep, p->partition);
        bm_buf_printf(&a[1], "%s%lld", sep, (long long)p->expected);
        bm_buf_printf(&a[2], "%s%lld", sep, (long long)p->next);
        bm_buf_printf(&a[3], "%s%llu", sep, (unsigned long long)p->applied);
        bm_buf_printf(&a[4], "%s%llu", sep, (unsigned long long)p->rejected);
        bm_buf_printf(&a[5], "%s%llu", sep, (unsigned long long)p->duplicate);
        bm_buf_printf(&a[6], "%s%llu", sep, (unsigned long long)p->forwarded);
    }
    for (int i = 0; i < 7; i++)
        bm_buf_puts(&a[i], "}");
    const char *v[9] = {j->group,           j->topic,           bm_buf_cstr(&a[0]),
                        bm_buf_cstr(&a[1]), bm_buf_cstr(&a[2]), bm_buf_cstr(&a[3]),
                        bm_buf_cstr(&a[4]), bm_buf_cstr(&a[5]), bm_buf_cstr(&a[6])};
    PGresult *r = PQexecParams(
        pg,
        "UPDATE consumer_offsets c SET next_offset = u.n, "
        "events_applied = c.events_applied + u.a, events_rejected = c.events_rejected + u.r, "
        "events_duplicate = c.events_duplicate + u.d, "
        "events_forwarded = c.events_forwarded + u.f, updated_at = now() "
        "FROM unnest($3::int[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], "
        "$9::int8[]) AS u(p, e, n, a, r, d, f) WHERE c.group_id = $1 AND c.topic = $2 "
        "AND c.partition = u.p AND c.next_offset = u.e RETURNING c.partition",
        9, NULL, v, NULL, NULL, 0);
    int rc = 0;
    if (!ok_cmd(r)) {
        set_err(j, pg, "offsets");
        rc = -1;
    } else if ((size_t)PQntuples(r) != j->nparts) {
        /* Name the partitions whose stored offset moved on without this process. */
        bm_buf moved = {0};
        int nmoved = 0;
        for (size_t i = 0; i < j->nparts; i++) {
            int matched = 0;
            for (int k = 0; k < PQntuples(r) && !matched; k++)
                matched = atoi(PQgetvalue(r, k, 0)) == j->parts[i].partition;
            if (!matched)
                bm_buf_printf(&moved, "%s%d", nmoved++ ? "," : "", j->parts[i].partition);
        }
        snprintf(j->err, sizeof j->err,
                 "offset fence: %d of %zu partitions matched; stored offsets of partition(s) "
                 "%s moved on",
                 PQntuples(r), j->nparts, bm_buf_cstr(&moved));
        bm_buf_free(&moved);
        rc = 1;
    }
    PQclear(r);
    for (int i = 0; i < 7; i++)
        bm_buf_free(&a[i]);
    return rc;
}

static int write_states(bm_job *j, PGconn *pg)
{
    PGresult *r = PQexec(pg, "CREATE TEMP TABLE IF NOT EXISTS bm_stage ("
                             "campaign_id uuid, user_id text, value float8, aux float8, "
                             "cnt int8, doc jsonb, completed int4, completed_ms int8, "
                             "reached_ms int8, first_ms int8, last_ms int8, flags int4) "
                             "ON COMMIT DELETE ROWS");
    int ok = ok_cmd(r);
    PQclear(r);
    if (!ok) {
        set_err(j, pg, "staging table");
        return -1;
    }
    if (!j->nstates)
        return 0;
    r = PQexec(pg, "COPY bm_stage FROM STDIN");
    ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!ok) {
        set_err(j, pg, "copy states");
        return -1;
    }
    /* Sent in slices: libpq buffers what it cannot write at once. */
    const size_t slice = 1 << 20;
    for (size_t off = 0; ok && off < j->states.len; off += slice) {
        size_t n = j->states.len - off < slice ? j->states.len - off : slice;
        ok = PQputCopyData(pg, j->states.p + off, (int)n) == 1;
    }
    if (PQputCopyEnd(pg, ok ? NULL : "aborted by the engine") != 1)
        ok = 0;
    while ((r = PQgetResult(pg))) {
        if (!ok_cmd(r))
            ok = 0;
        PQclear(r);
    }
    if (!ok) {
        set_err(j, pg, "copy states");
        return -1;
    }
    /* clang-format off */
    return exec_params(j, pg, "upsert states",
        "INSERT INTO user_progress AS p (campaign_id, user_id, current_value, aux_value, "
        "       event_count, progress_data, completed, completed_at, reached_at, "
        "       first_event_at, last_event_at, flags, last_updated) "
        "SELECT campaign_id, user_id, value, aux, cnt, doc, completed, "
        "       " MS_TO_TS("completed_ms") ", " MS_TO_TS("reached_ms") ", "
        "       " MS_TO_TS("first_ms") ", " MS_TO_TS("last_ms") ", flags, now() "
        "FROM bm_stage "
        "ON CONFLICT (campaign_id, user_id) DO UPDATE SET "
        "       current_value = EXCLUDED.current_value, aux_value = EXCLUDED.aux_value, "
        "       event_count = EXCLUDED.event_count, progress_data = EXCLUDED.progress_data, "
        "       completed = EXCLUDED.completed, completed_at = EXCLUDED.completed_at, "
        "       reached_at = EXCLUDED.reached_at, first_event_at = EXCLUDED.first_event_at, "
        "       last_event_at = EXCLUDED.last_event_at, flags = EXCLUDED.flags, "
        "       last_updated = now()",
        0, NULL, NULL, NULL);
    /* clang-format on */
}

/* Grants before the outbox: the reward.events notice goes out only for rows really inserted. */
static int write_grants(bm_job *j, PGconn *pg)
{
    int rc = 0;
    for (size_t i = 0; i < j->ngrants && rc == 0; i++) {
        bm_job_grant *g = &j->grants[i];
        const char *v[5] = {g->idem, g->campaign, g->user, g->type, g->json};
        PGresult *r = PQexecParams(pg,
                                   "INSERT INTO reward_fulfillments (idempotency_key, campaign_id, "
                                   "user_id, reward_type, reward_config) VALUES ($1, $2, $3, $4, "
                                   "COALESCE(($5::jsonb) -> 'config', '{}'::jsonb)) "
                                   "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                                   5, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            set_err(j, pg, "reward grant");
            rc = -1;
        } else if (PQntuples(r) == 1) {
            json_t *n = json_pack("{s:I, s:s, s:s, s:s, s:s}", "fulfillmentId",
                                  (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10),
                                  "idempotencyKey", g->idem, "campaignId", g->campaign, "userId",
                                  g->user, "rewardType", g->type);
            char *text = n ? json_dumps(n, JSON_COMPACT) : NULL;
            json_decref(n);
            if (text) {
                bm_job_out(j, "reward.events", g->user, text, strlen(text));
            } else {
                snprintf(j->err, sizeof j->err, "out of memory for a reward notice");
                rc = -1;
            }
            free(text);
        }
        PQclear(r);
    }
    return rc;
}

/* Once-only claims go first: a claim another process committed meanwhile fails
 * the whole batch (rc 2), which is read again and then finds the claim taken. */
static int write_claims(bm_job *j, PGconn *pg)
{
    for (size_t i = 0; i < j->nclaims; i++) {
        const bm_job_claim *c = &j->claims[i];
        const char *v[3] = {c->module, c->campaign, c->key};
        PGresult *r = PQexecParams(
            pg, "INSERT INTO work_claims (module, campaign_id, work_key) VALUES ($1, $2, $3)", 3,
            NULL, v, NULL, NULL, 0);
        int ok = ok_cmd(r);
        const char *state = ok ? NULL : PQresultErrorField(r, PG_DIAG_SQLSTATE);
        int taken = state && strcmp(state, "23505") == 0;
        PQclear(r);
        if (taken) {
            snprintf(j->err, sizeof j->err, "claim %s/%s taken by another process", c->module,
                     c->key);
            return 2;
        }
        if (!ok) {
            set_err(j, pg, "work claim");
            return -1;
        }
    }
    return 0;
}

static int write_results(bm_job *j, PGconn *pg)
{
    for (size_t i = 0; i < j->nresults; i++) {
        const bm_job_result *r = &j->results[i];
        const char *v[4] = {r->campaign, r->kind, r->key, r->doc};
        /* clang-format off */
        if (exec_params(j, pg, "module result",
                        "INSERT INTO module_results (campaign_id, kind, key, doc) "
                        "VALUES ($1::uuid, $2, $3, $4::jsonb) "
                        "ON CONFLICT (campaign_id, kind, key) "
                        "DO UPDATE SET doc = EXCLUDED.doc, updated_at = now()",
                        4, v, NULL, NULL) != 0)
            return -1;
        /* clang-format on */
    }
    return 0;
}

/* Ended campaigns: marked once (their claim row above makes it once). */
static int write_ends(bm_job *j, PGconn *pg)
{
    for (size_t i = 0; i < j->nends; i++) {
        const bm_job_end *e = &j->ends[i];
        const char *v[2] = {e->campaign, e->reason};
        /* clang-format off */
        if (exec_params(j, pg, "campaign end",
                        "UPDATE campaigns SET ended_at = now(), end_reason = $2, "
                        "       status = CASE WHEN status = 'active' THEN 'completed' "
                        "                     ELSE status END, "
                        "       version = version + 1, updated_at = now() "
                        "WHERE id = $1::uuid AND ended_at IS NULL",
                        2, v, NULL, NULL) != 0)
            return -1;
        /* clang-format on */
    }
    return 0;
}

static int write_outbox(bm_job *j, PGconn *pg)
{
    for (size_t i = 0; i < j->nout; i++) {
        bm_job_topic *t = &j->out[i];
        if (!t->count)
            continue;
        char cnt[16];
        snprintf(cnt, sizeof cnt, "%d", t->count);
        const char *v[3] = {t->topic, cnt, bm_buf_cstr(&t->lines)};
        if (exec_params(j, pg, "outbox",
                        "INSERT INTO outbox (topic, message_count, payload) VALUES ($1, $2, $3)", 3,
                        v, NULL, NULL) != 0)
            return -1;
    }
    return 0;
}

static int write_dedup(bm_job *j, PGconn *pg)
{
    for (size_t i = 0; i < j->ndedup; i++) {
        bm_job_dedup *d = &j->dedup[i];
        char part[16], first[24];
        snprintf(part, sizeof part, "%d", d->partition);
        snprintf(first, sizeof first, "%lld", (long long)d->first_offset);
        const char *v[5] = {j->group, j->topic, part, first, (const char *)d->hashes};
        int lens[5] = {0, 0, 0, 0, (int)(d->n * sizeof(uint64_t))};
        int fmts[5] = {0, 0, 0, 0, 1};
        if (exec_params(j, pg, "event dedup",
                        "INSERT INTO event_dedup (group_id, topic, partition, first_offset, "
                        "hashes) VALUES ($1, $2, $3, $4, $5::bytea) ON CONFLICT DO NOTHING",
                        5, v, lens, fmts) != 0)
            return -1;
    }
    return 0;
}

void bm_job_run(bm_job *j, PGconn *pg)
{
    j->rc = -1;
    j->err[0] = '\0';
    if (j->failed) {
        snprintf(j->err, sizeof j->err, "out of memory while building the batch");
        return;
    }
    bm_store_prepare(j, pg);
    /* With synchronous_commit off only this transaction skips the WAL flush
     * wait: its offsets and its states still commit or vanish together. */
    PGresult *r =
        PQexec(pg, j->async_commit ? "BEGIN; SET LOCAL synchronous_commit = off" : "BEGIN");
    int ok = ok_cmd(r);
    PQclear(r);
    if (!ok) {
        set_err(j, pg, "begin");
        return;
    }
    int rc = write_offsets(j, pg);
    if (rc == 0)
        rc = write_claims(j, pg);
    if (rc == 0 &&
        (write_states(j, pg) || bm_levels_write(pg, j->levels, j->nlevels, j->err, sizeof j->err) ||
         write_grants(j, pg) || write_results(j, pg) || bm_job_write_members(j, pg) ||
         write_ends(j, pg) || write_outbox(j, pg) || write_dedup(j, pg) || bm_store_write(j, pg)))
        rc = -1;
    if (rc != 0) {
        if (PQstatus(pg) == CONNECTION_OK)
            PQclear(PQexec(pg, "ROLLBACK"));
        j->rc = rc;
        return;
    }
    r = PQexec(pg, "COMMIT");
    ok = ok_cmd(r);
    PQclear(r);
    if (!ok) {
        set_err(j, pg, "commit");
        return;
    }
    j->rc = 0;
}

void bm_job_free(bm_job *j)
{
    if (!j)
        return;
    bm_buf_free(&j->states);
    bm_buf_free(&j->stored);
    for (int k = 0; k < 4; k++)
        bm_buf_free(&j->levels[k]);
    for (size_t i = 0; i < j->nout; i++)
        bm_buf_free(&j->out[i].lines);
    free(j->out);
    for (size_t i = 0; i < j->ngrants; i++) {
        free(j->grants[i].campaign);
        free(j->grants[i].user);
        free(j->grants[i].idem);
        free(j->grants[i].json);
    }
    free(j->grants);
    for (size_t i = 0; i < j->nclaims; i++) {
        free(j->claims[i].module);
        free(j->claims[i].campaign);
        free(j->claims[i].key);
    }
    free(j->claims);
    for (size_t i = 0; i < j->nresults; i++) {
        free(j->results[i].campaign);
        free(j->results[i].kind);
        free(j->results[i].key);
        free(j->results[i].doc);
    }
    for (size_t i = 0; i < j->nmembers; i++)
        bm_job_member_free(&j->members[i]);
    free(j->members);
    free(j->results);
    free(j->ends);
    for (size_t i = 0; i < j->ndedup; i++)
        free(j->dedup[i].hashes);
    free(j->dedup);
    free(j->parts);
    free(j->created_ms);
    free(j);
}

int bm_job_empty(const bm_job *j)
{
    size_t out = 0;
    for (size_t i = 0; i < j->nout; i++)
        out += (size_t)j->out[i].count;
    return !j->failed && !j->nstates && !out && !j->ngrants && !j->nclaims && !j->nresults &&
           !j->nmembers && !j->nends && !j->nparts && !j->ndedup;
}
