/*
 * Claim and record for the rewards role. A claim sets status 'processing',
 * counts the attempt and sets next_attempt_at to the end of the lease; the
 * same statement picks up 'processing' rows whose lease ran out (a crashed
 * host). Recording is fenced on (id, status 'processing', attempts): a host
 * whose lease was taken over cannot overwrite the newer claim's outcome.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log/log.h"
#include "rewards/rewards_sql.h"
#include "util/buf.h"

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void pg_err(PGconn *pg, const char *what, char *err, size_t errlen)
{
    const char *m = PQerrorMessage(pg);
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    snprintf(err, errlen, "%s: %.*s", what, (int)n, m);
}

static int exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        pg_err(pg, sql, err, errlen);
    return ok ? 0 : -1;
}

void bm_rw_item_free(bm_rw_item *it)
{
    if (!it)
        return;
    free(it->strs);
    free(it);
}

/* p moved from the block at `from` to the same place in the block at `to`. */
static const char *rebase(const char *p, const char *from, char *to)
{
    return p ? to + (p - from) : NULL;
}

bm_rw_item *bm_rw_item_clone(const bm_rw_item *it)
{
    bm_rw_item *c = malloc(sizeof *c);
    if (!c || !(c->strs = malloc(it->strs_len))) {
        free(c);
        return NULL;
    }
    char *strs = c->strs;
    memcpy(c, it, sizeof *c);
    c->strs = strs;
    memcpy(c->strs, it->strs, it->strs_len);
    c->pub.idem_key = rebase(it->pub.idem_key, it->strs, c->strs);
    c->pub.campaign_id = rebase(it->pub.campaign_id, it->strs, c->strs);
    c->pub.user_id = rebase(it->pub.user_id, it->strs, c->strs);
    c->pub.reward_type = rebase(it->pub.reward_type, it->strs, c->strs);
    c->pub.config_json = rebase(it->pub.config_json, it->strs, c->strs);
    c->pub.game_id = rebase(it->pub.game_id, it->strs, c->strs);
    c->webhook_url = (char *)rebase(it->webhook_url, it->strs, c->strs);
    for (int i = 0; i < it->nsecrets; i++)
        c->secrets[i] = rebase(it->secrets[i], it->strs, c->strs);
    c->saved = rebase(it->saved, it->strs, c->strs);
    c->wallet = rebase(it->wallet, it->strs, c->strs);
    c->rc = 0;
    c->result[0] = '\0';
    c->next = NULL;
    return c;
}

/* scheme://host:port of a URL, or "type:<reward_type>" when there is no URL. */
static void endpoint_of(const char *url, const char *type, char *out, size_t cap)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p) {
        snprintf(out, cap, "type:%s", type);
        return;
    }
    size_t n = (size_t)(p - url) + 3 + strcspn(p + 3, "/?#");
    snprintf(out, cap, "%.*s", (int)n, url);
}

static bm_rw_item *item_from_row(PGresult *res, int row)
{
    /* 0 id, 1 key, 2 campaign, 3 user, 4 type, 5 config, 6 attempts, 7 game,
     * 8 webhook_url, 9 secrets, 10 created_ms, 11 endpoint url, 12 fulfillment_data,
     * 13 wallet */
    bm_rw_item *it = calloc(1, sizeof *it);
    size_t total = 0;
    for (int c = 1; c <= 13; c++)
        total += (size_t)PQgetlength(res, row, c) + 1;
    if (!it || !(it->strs = malloc(total))) {
        free(it);
        return NULL;
    }
    it->strs_len = total;
    char *w = it->strs;
    const char *s[14];
    for (int c = 1; c <= 13; c++) {
        size_t n = (size_t)PQgetlength(res, row, c);
        memcpy(w, PQgetvalue(res, row, c), n + 1);
        s[c] = w;
        w += n + 1;
    }
    it->magic = BM_RW_MAGIC;
    it->pub.fulfillment_id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    it->pub.idem_key = s[1];
    it->pub.campaign_id = s[2];
    it->pub.user_id = s[3];
    it->pub.reward_type = s[4];
    it->pub.config_json = s[5];
    it->pub.attempt = (int32_t)strtol(s[6], NULL, 10);
    it->pub.game_id = s[7];
    it->webhook_url = (char *)s[8];
    /* secrets: space-separated, newest first; split in place */
    char *sec = (char *)s[9];
    while (*sec && it->nsecrets < BM_RW_MAX_SECRETS) {
        it->secrets[it->nsecrets++] = sec;
        char *sp = strchr(sec, ' ');
        if (!sp)
            break;
        *sp = '\0';
        sec = sp + 1;
    }
    it->created_ms = strtoll(s[10], NULL, 10);
    it->saved = *s[12] ? s[12] : NULL;
    it->wallet = *s[13] ? s[13] : NULL;
    it->claimed_ms = now_ms();
    endpoint_of(*s[11] ? s[11] : NULL, it->pub.reward_type, it->endpoint, sizeof it->endpoint);
    return it;
}

/* One outbox message line for a status change: key (user, COPY-escaped) TAB json. */
static void status_line(bm_buf *lines, const bm_rw_item *it, const char *status, int attempts,
                        const char *error, const char *tx)
{
    json_t *m = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:I}", "fulfillmentId",
                          (json_int_t)it->pub.fulfillment_id, "idempotencyKey", it->pub.idem_key,
                          "campaignId", it->pub.campaign_id, "userId", it->pub.user_id,
                          "rewardType", it->pub.reward_type, "status", status, "attempts", attempts,
                          "at", (json_int_t)now_ms());
    if (!m)
        return;
    if (error)
        json_object_set_new(m, "error", json_string(error));
    if (tx)
        json_object_set_new(m, "txHash", json_string(tx));
    char *j = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    if (!j)
        return;
    bm_buf_copy_str(lines, it->pub.user_id);
    bm_buf_append(lines, "\t", 1);
    bm_buf_puts(lines, j);
    bm_buf_append(lines, "\n", 1);
    free(j);
}

/* The status changes go to reward.status (services) and ui.reward_updates (widgets). */
static int write_outbox(PGconn *pg, bm_buf *lines, int count, char *err, size_t errlen)
{
    if (!count)
        return 0;
    char cnt[16];
    snprintf(cnt, sizeof cnt, "%d", count);
    static const char *const topics[2] = {"reward.status", "ui.reward_updates"};
    for (int t = 0; t < 2; t++) {
        const char *v[3] = {topics[t], cnt, bm_buf_cstr(lines)};
        PGresult *r = PQexecParams(
            pg, "INSERT INTO outbox (topic, message_count, payload) VALUES ($1, $2, $3)", 3, NULL,
            v, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            pg_err(pg, "outbox", err, errlen);
            return -1;
        }
    }
    return 0;
}

static const char *k_claim_sql =
    "WITH due AS (SELECT id FROM reward_fulfillments WHERE status IN ('pending', 'processing') "
    "AND next_attempt_at <= now() AND reward_type = ANY($1::text[]) ORDER BY next_attempt_at "
    "LIMIT $2 FOR UPDATE SKIP LOCKED) "
    "UPDATE reward_fulfillments f SET status = 'processing', attempts = f.attempts + 1, "
    "next_attempt_at = now() + make_interval(secs => $3::int), claimed_by = $4, updated_at = now() "
    "FROM due, campaigns c JOIN games g ON g.id = c.game_id "
    "WHERE f.id = due.id AND c.id = f.campaign_id "
    "RETURNING f.id, f.idempotency_key, f.campaign_id::text, f.user_id, f.reward_type, "
    "f.reward_config::text, f.attempts, g.identifier, COALESCE(g.webhook_url, ''), "
    "COALESCE((SELECT string_agg(s.secret, ' ' ORDER BY s.id DESC) FROM game_webhook_secrets s "
    "WHERE s.game_id = g.id AND (s.expires_at IS NULL OR s.expires_at > now())), ''), "
    "(extract(epoch FROM f.created_at) * 1000)::bigint, "
    "COALESCE(f.reward_config->>'url', CASE WHEN f.reward_type IN ('webhook', 'in_game') "
    "THEN g.webhook_url END, ''), COALESCE(f.fulfillment_data::text, ''), "
    "COALESCE((SELECT m.user_metadata->>'wallet' FROM community_members m WHERE m.user_id = "
    "f.user_id AND m.status = 'active' AND m.user_metadata ? 'wallet' ORDER BY m.joined_at DESC "
    "LIMIT 1), '')";

int bm_rw_claim(PGconn *pg, const char *types, int limit, int lease_s, const char *owner,
                bm_rw_item **list, char *err, size_t errlen)
{
    char lim[16], lease[16];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(lease, sizeof lease, "%d", lease_s);
    const char *v[4] = {types, lim, lease, owner};
    if (exec_ok(pg, "BEGIN", err, errlen) != 0)
        return -1;
    PGresult *res = PQexecParams(pg, k_claim_sql, 4, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_err(pg, "claim", err, errlen);
        PQclear(res);
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    int n = PQntuples(res);
    bm_rw_item *got = NULL;
    bm_buf lines = {0};
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        bm_rw_item *it = item_from_row(res, i);
        if (!it) {
            ok = 0;
            snprintf(err, errlen, "claim: out of memory");
            break;
        }
        it->next = got;
        got = it;
        status_line(&lines, it, "processing", it->pub.attempt, NULL, NULL);
    }
    PQclear(res);
    if (ok &&
        (write_outbox(pg, &lines, n, err, errlen) != 0 || exec_ok(pg, "COMMIT", err, errlen) != 0))
        ok = 0;
    bm_buf_free(&lines);
    if (!ok) {
        PQclear(PQexec(pg, "ROLLBACK"));
        while (got) {
            bm_rw_item *nx = got->next;
            bm_rw_item_free(got);
            got = nx;
        }
        return -1;
    }
    while (got) {
        bm_rw_item *nx = got->next;
        got->next = *list;
        *list = got;
        got = nx;
    }
    return n;
}

/* The module's result: a JSON object when it parses as one, else the text. */
typedef struct outcome {
    json_t *obj;       /* owned; NULL when the result is not a JSON object */
    const char *error; /* message for error_message */
    const char *tx;    /* txHash */
    double retry_after_s;
} outcome;

static void outcome_parse(const bm_rw_item *it, outcome *o)
{
    memset(o, 0, sizeof *o);
    o->retry_after_s = -1;
    json_t *j = json_loads(it->result, 0, NULL);
    if (j && json_is_object(j)) {
        o->obj = j;
        o->error = json_string_value(json_object_get(j, "error"));
        o->tx = json_string_value(json_object_get(j, "txHash"));
        json_t *ra = json_object_get(j, "retryAfter");
        if (json_is_number(ra))
            o->retry_after_s = json_number_value(ra);
    } else {
        json_decref(j);
    }
    if (!o->error && it->rc != BM_OK)
        o->error = it->result[0] ? it->result : "the module gave no reason";
}

static int record_one(PGconn *pg, bm_rw_item *it, const bm_backoff *b, bm_rw_tally *t,
                      bm_buf *lines, int *count, char *err, size_t errlen)
{
    char id[24], att[16], secs[32], msg[1200];
    snprintf(id, sizeof id, "%lld", (long long)it->pub.fulfillment_id);
    snprintf(att, sizeof att, "%d", (int)it->pub.attempt);
    outcome o;
    outcome_parse(it, &o);
    char *data = o.obj ? json_dumps(o.obj, JSON_COMPACT) : NULL;
    if (!data && it->rc == BM_OK) {
        json_t *w = json_pack("{s:s}", "result", it->result);
        data = w ? json_dumps(w, JSON_COMPACT) : NULL;
        json_decref(w);
    }
    const char *status = "pending";
    int rc = it->rc;
    int64_t delay = 0;
    if (rc == BM_RETRY) {
        delay = bm_backoff_delay(b, it->pub.attempt, (double)rand() / ((double)RAND_MAX + 1.0));
        if (o.retry_after_s >= 0)
            delay = (int64_t)(o.retry_after_s * 1000.0);
        /* A Retry-After is honoured until give_up_after since the grant; otherwise
         * the schedule decides. */
        int exhausted = o.retry_after_s >= 0 ? now_ms() + delay - it->created_ms > b->give_up_ms
                                             : bm_backoff_exhausted(b, it->pub.attempt);
        if (exhausted) {
            snprintf(msg, sizeof msg, "gave up after %d attempts: %s", (int)it->pub.attempt,
                     o.error);
            o.error = msg;
            rc = BM_ERROR;
        }
    }
    const char *sql;
    const char *v[5] = {id, att, NULL, NULL, NULL};
    int np = 2;
    if (rc == BM_OK) {
        status = "completed";
        sql =
            "UPDATE reward_fulfillments SET status = 'completed', completed_at = now(), "
            "updated_at = now(), fulfillment_data = COALESCE(fulfillment_data, '{}') || $3::jsonb, "
            "transaction_hash = "
            "COALESCE($4, transaction_hash), error_message = NULL, claimed_by = NULL "
            "WHERE id = $1 AND status = 'processing' AND attempts = $2";
        v[2] = data;
        v[3] = o.tx;
        np = 4;
    } else if (rc == BM_RETRY) {
        snprintf(secs, sizeof secs, "%.3f", (double)delay / 1000.0);
        sql = "UPDATE reward_fulfillments SET status = 'pending', next_attempt_at = now() + "
              "make_interval(secs => $3::double precision), error_message = $4, fulfillment_data "
              "= COALESCE(fulfillment_data, '{}') || COALESCE($5::jsonb, '{}'), updated_at = "
              "now(), claimed_by = NULL "
              "WHERE id = $1 AND status = 'processing' AND attempts = $2";
        v[2] = secs;
        v[3] = o.error;
        v[4] = data;
        np = 5;
    } else if (rc == BM_RW_RELEASED) {
        sql = "UPDATE reward_fulfillments SET status = 'pending', attempts = attempts - 1, "
              "next_attempt_at = now(), updated_at = now(), claimed_by = NULL "
              "WHERE id = $1 AND status = 'processing' AND attempts = $2";
    } else {
        status = "failed";
        sql = "UPDATE reward_fulfillments SET status = 'failed', error_message = $3, "
              "fulfillment_data = COALESCE(fulfillment_data, '{}') || COALESCE($4::jsonb, '{}'), "
              "transaction_hash = "
              "COALESCE($5, transaction_hash), updated_at = now(), claimed_by = NULL "
              "WHERE id = $1 AND status = 'processing' AND attempts = $2";
        v[2] = o.error;
        v[3] = data;
        v[4] = o.tx;
        np = 5;
    }
    PGresult *r = PQexecParams(pg, sql, np, NULL, v, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    int changed = ok && strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (!ok) {
        pg_err(pg, "record", err, errlen);
    } else if (!changed) {
        t->stale++;
        bm_warn("rewards", "fulfillment=%s attempt=%s: lease was taken over, outcome dropped", id,
                att);
    } else {
        int attempts = rc == BM_RW_RELEASED ? it->pub.attempt - 1 : it->pub.attempt;
        status_line(lines, it, status, attempts, rc == BM_OK ? NULL : o.error, o.tx);
        (*count)++;
        if (rc == BM_OK) {
            t->delivered++;
            if (t->nlatency < (int)(sizeof t->latency_ms / sizeof t->latency_ms[0]))
                t->latency_ms[t->nlatency++] = now_ms() - it->created_ms;
        } else if (rc == BM_RETRY) {
            t->retried++;
        } else if (rc == BM_RW_RELEASED) {
            t->released++;
        } else {
            t->failed++;
            bm_warn("rewards", "fulfillment=%s type=%s failed: %s", id, it->pub.reward_type,
                    o.error);
        }
    }
    free(data);
    json_decref(o.obj);
    return ok ? 0 : -1;
}

/* The delivered rows of a round in one statement (the hot path): fenced like record_one. */
static int record_delivered(PGconn *pg, bm_rw_item *list, bm_rw_tally *t, bm_buf *lines, int *count,
                            char *err, size_t errlen)
{
    json_t *rows = json_array();
    size_t n = 0;
    for (bm_rw_item *it = list; it; it = it->next) {
        if (it->rc != BM_OK)
            continue;
        outcome o;
        outcome_parse(it, &o);
        json_t *d = o.obj ? json_incref(o.obj) : json_pack("{s:s}", "result", it->result);
        json_t *row = json_pack("{s:I, s:i, s:o}", "id", (json_int_t)it->pub.fulfillment_id, "a",
                                (int)it->pub.attempt, "d", d);
        if (o.tx)
            json_object_set_new(row, "tx", json_string(o.tx));
        json_array_append_new(rows, row);
        json_decref(o.obj);
        n++;
    }
    if (n == 0) {
        json_decref(rows);
        return 0;
    }
    char *text = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    if (!text) {
        snprintf(err, errlen, "record: out of memory");
        return -1;
    }
    const char *v[1] = {text};
    PGresult *r = PQexecParams(
        pg,
        "UPDATE reward_fulfillments f SET status = 'completed', completed_at = now(), "
        "updated_at = now(), fulfillment_data = (COALESCE(f.fulfillment_data, '{}') - 'error' - "
        "'retryAfter') || u.d, transaction_hash = COALESCE(u.tx, "
        "f.transaction_hash), error_message = NULL, claimed_by = NULL FROM "
        "jsonb_to_recordset($1::jsonb) AS u(id bigint, a int, d jsonb, tx text) WHERE f.id = u.id "
        "AND f.status = 'processing' AND f.attempts = u.a RETURNING f.id",
        1, NULL, v, NULL, NULL, 0);
    free(text);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_err(pg, "record", err, errlen);
        PQclear(r);
        return -1;
    }
    int nr = PQntuples(r);
    int64_t now = now_ms();
    for (bm_rw_item *it = list; it; it = it->next) {
        if (it->rc != BM_OK)
            continue;
        int changed = 0;
        for (int i = 0; i < nr && !changed; i++)
            changed = strtoll(PQgetvalue(r, i, 0), NULL, 10) == it->pub.fulfillment_id;
        if (!changed) {
            t->stale++;
            bm_warn("rewards", "fulfillment=%lld attempt=%d: lease was taken over, outcome dropped",
                    (long long)it->pub.fulfillment_id, (int)it->pub.attempt);
            continue;
        }
        outcome o;
        outcome_parse(it, &o);
        status_line(lines, it, "completed", it->pub.attempt, NULL, o.tx);
        json_decref(o.obj);
        (*count)++;
        t->delivered++;
        if (t->nlatency < (int)(sizeof t->latency_ms / sizeof t->latency_ms[0]))
            t->latency_ms[t->nlatency++] = now - it->created_ms;
    }
    PQclear(r);
    return 0;
}

int bm_rw_record(PGconn *pg, bm_rw_item *list, const bm_backoff *b, bm_rw_tally *t, char *err,
                 size_t errlen)
{
    if (!list)
        return 0;
    bm_rw_tally local;
    memset(&local, 0, sizeof local);
    if (exec_ok(pg, "BEGIN", err, errlen) != 0)
        return -1;
    bm_buf lines = {0};
    int count = 0;
    int rc = record_delivered(pg, list, &local, &lines, &count, err, errlen);
    for (bm_rw_item *it = list; it && rc == 0; it = it->next)
        if (it->rc != BM_OK)
            rc = record_one(pg, it, b, &local, &lines, &count, err, errlen);
    if (rc == 0)
        rc = write_outbox(pg, &lines, count, err, errlen);
    if (rc == 0)
        rc = exec_ok(pg, "COMMIT", err, errlen);
    bm_buf_free(&lines);
    if (rc != 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    *t = local;
    return 0;
}

long long bm_rw_count_unserved(PGconn *pg, const char *types)
{
    const char *v[1] = {types};
    PGresult *r =
        PQexecParams(pg,
                     "SELECT count(*) FROM reward_fulfillments WHERE status = 'pending' "
                     "AND next_attempt_at <= now() AND NOT (reward_type = ANY($1::text[]))",
                     1, NULL, v, NULL, NULL, 0);
    long long n =
        PQresultStatus(r) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return n;
}
