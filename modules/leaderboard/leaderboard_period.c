/*
 * leaderboard.so: scheduled resets (resetSchedule) and the history of past
 * periods.
 *
 * Event time decides an event's period. A player's state carries its period
 * in its document ({"p": period index}); the first event of a later period
 * rolls the state over: the finished period's standing is written as a
 * history row (module_results kind leaderboard_history, key
 * "<period start>:<user>") and kept in the document as the previous period
 * ("q", "pv", "pa", "pc", "pr") so a late event of that period still counts
 * for it, and rewrites its row, until the period closes at its end plus
 * graceSeconds (wall clock). All of that happens in the batches of the
 * partition that owns the player, fenced like any state write.
 *
 * The close runs once across processes: every processor's tick tries
 * api->claim_once("period:<start>") once the period ended more than
 * graceSeconds + LB_SETTLE_MS ago; the batch that claims it writes the
 * history rows of the players still in that period, zeroes their live state
 * (the board starts empty), writes the period row (kind leaderboard_period)
 * and announces the reset on ui.leaderboard_refresh, all in one transaction.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leaderboard.h"

int64_t lb_period_of(const lb_campaign *lb, int64_t t, int64_t *start, int64_t *end)
{
    return bm_period_of(&lb->reset, t, start, end);
}

static void period_bounds(const lb_campaign *lb, int64_t idx, int64_t *s, int64_t *e)
{
    bm_period_bounds(&lb->reset, idx, s, e);
}

static void period_key(const lb_campaign *lb, int64_t idx, char *buf, size_t len)
{
    int64_t s, e;
    period_bounds(lb, idx, &s, &e);
    bm_period_name(s, buf, len);
}

int lb_period_closed(const lb_campaign *lb, int64_t idx, int64_t now_ms)
{
    int64_t s, e;
    period_bounds(lb, idx, &s, &e);
    return now_ms >= e + lb->reset.grace_ms;
}

int lb_doc_read(const bm_state *st, lb_doc *d)
{
    memset(d, 0, sizeof *d);
    json_t *j = st->doc ? json_loads(st->doc, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    json_t *p = json_object_get(j, "p"), *q = json_object_get(j, "q");
    d->has_p = json_is_integer(p);
    d->p = json_integer_value(p);
    d->has_q = json_is_integer(q);
    d->q = json_integer_value(q);
    d->pv = json_number_value(json_object_get(j, "pv"));
    d->pa = json_number_value(json_object_get(j, "pa"));
    d->pc = json_integer_value(json_object_get(j, "pc"));
    d->pr = json_integer_value(json_object_get(j, "pr"));
    json_decref(j);
    return 1;
}

int lb_doc_write(const bm_host_api *api, bm_batch *b, bm_state *st, const lb_doc *d)
{
    json_t *j = json_object();
    if (d->has_p)
        json_object_set_new(j, "p", json_integer(d->p));
    if (d->has_q) {
        json_object_set_new(j, "q", json_integer(d->q));
        json_object_set_new(j, "pv", json_real(d->pv));
        json_object_set_new(j, "pa", json_real(d->pa));
        json_object_set_new(j, "pc", json_integer(d->pc));
        json_object_set_new(j, "pr", json_integer(d->pr));
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(j);
    int rc = s ? api->state_set_doc(b, st, s) : BM_ERROR;
    free(s);
    return rc;
}

int lb_history_put(const bm_host_api *api, bm_batch *b, const lb_campaign *lb, int64_t idx,
                   const char *user, double value, int64_t count, int64_t reached_ms)
{
    char pk[40], key[400];
    int64_t s, e;
    period_key(lb, idx, pk, sizeof pk);
    period_bounds(lb, idx, &s, &e);
    snprintf(key, sizeof key, "%s:%s", pk, user);
    json_t *d = json_pack("{s:s, s:I, s:I, s:s, s:f, s:I, s:I}", "period", pk, "startMs",
                          (json_int_t)s, "endMs", (json_int_t)e, "userId", user, "score", value,
                          "events", (json_int_t)count, "reachedMs", (json_int_t)reached_ms);
    char *txt = d ? json_dumps(d, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(d);
    int rc = txt ? api->result_put(b, lb->id, "leaderboard_history", key, txt) : BM_ERROR;
    free(txt);
    return rc;
}

/* --- the close -------------------------------------------------------------------- */

typedef struct close_ctx {
    int64_t idx;
    char **users; /* players still in the closed period (or an older one) */
    size_t n, cap;
    int players; /* players of the closed period */
    int failed;
} close_ctx;

/* First pass, no writes: who is still in the closed period. */
static int close_list(void *ud, const char *user, bm_state *st)
{
    close_ctx *cx = ud;
    lb_doc d;
    lb_doc_read(st, &d);
    if (d.has_q && d.q == cx->idx && d.pc > 0)
        cx->players++; /* rolled over already: its row was written then */
    if (!d.has_p || d.p > cx->idx || st->count == 0)
        return 0;
    cx->players += d.p == cx->idx;
    if (cx->n == cx->cap) {
        size_t ncap = cx->cap ? cx->cap * 2 : 64;
        char **nv = realloc(cx->users, ncap * sizeof *nv);
        if (!nv) {
            cx->failed = 1;
            return 1;
        }
        cx->users = nv;
        cx->cap = ncap;
    }
    if (!(cx->users[cx->n] = strdup(user))) {
        cx->failed = 1;
        return 1;
    }
    cx->n++;
    return 0;
}

/* Second pass, after the claim: archive and empty each listed player. */
static int close_write(const bm_host_api *api, bm_batch *b, const lb_campaign *lb,
                       const close_ctx *cx)
{
    for (size_t i = 0; i < cx->n; i++) {
        bm_state *st = api->state_get(b, lb->id, cx->users[i]);
        lb_doc d;
        lb_doc_read(st, &d);
        if (d.has_p && d.p == cx->idx && st->count > 0 &&
            lb_history_put(api, b, lb, d.p, cx->users[i], st->value, st->count, st->reached_ms) !=
                BM_OK)
            return -1;
        memset(st, 0, offsetof(bm_state, doc));
        lb_doc empty = {0};
        if (lb_doc_write(api, b, st, &empty) != BM_OK ||
            api->state_put(b, st, "leaderboard.updates") != BM_OK)
            return -1;
    }
    return 0;
}

static void close_free(close_ctx *cx)
{
    for (size_t i = 0; i < cx->n; i++)
        free(cx->users[i]);
    free(cx->users);
}

int lb_period_tick(const bm_host_api *api, bm_host *host, lb_campaign *lb, bm_batch *b, int64_t now)
{
    if (lb->reset.kind == BM_PERIOD_NONE)
        return BM_SKIP;
    int64_t s, e;
    int64_t idx = lb_period_of(lb, now, &s, &e) - 1; /* the period before the current one */
    /* A close this process saw claimed is checked once more 10 s later: a claim
     * still in a batch being committed reads as taken, and that batch may fail. */
    if (idx < lb->closed_idx ||
        (idx == lb->closed_idx && (lb->closed_verified || now - lb->closed_ms < 10000)))
        return BM_SKIP;
    period_bounds(lb, idx, &s, &e);
    if (now < e + lb->reset.grace_ms + LB_SETTLE_MS)
        return BM_SKIP;
    char work[64], pk[40];
    period_key(lb, idx, pk, sizeof pk);
    snprintf(work, sizeof work, "period:%s", pk);
    /* Everything that can fail without a write comes before the claim: a claim
     * must never commit without the period's history. */
    close_ctx cx = {idx, NULL, 0, 0, 0, 0};
    if (api->state_each(b, lb->id, close_list, &cx) != 0 || cx.failed) {
        close_free(&cx);
        return BM_RETRY;
    }
    int c = api->claim_once(b, work);
    if (c <= 0) {
        close_free(&cx);
        if (c == 0) {
            lb->closed_verified = idx == lb->closed_idx;
            lb->closed_idx = idx;
            lb->closed_ms = now;
        }
        return c == 0 ? BM_SKIP : BM_RETRY;
    }
    int bad = close_write(api, b, lb, &cx);
    close_free(&cx);
    if (bad)
        return BM_ERROR;
    lb->closed_idx = idx;
    lb->closed_ms = now;
    lb->closed_verified = 0;
    if (cx.players == 0)
        return BM_OK; /* nobody played: no history period, nothing to announce */
    char doc[256];
    snprintf(doc, sizeof doc,
             "{\"period\":\"%s\",\"startMs\":%lld,\"endMs\":%lld,\"closedMs\":%lld,"
             "\"players\":%d}",
             pk, (long long)s, (long long)e, (long long)now, cx.players);
    if (api->result_put(b, lb->id, "leaderboard_period", pk, doc) != BM_OK)
        return BM_ERROR;
    char msg[300];
    snprintf(msg, sizeof msg,
             "{\"type\":\"LEADERBOARD_RESET\",\"campaignId\":\"%.64s\",\"period\":\"%s\"}", lb->id,
             pk);
    api->emit(b, "ui.leaderboard_refresh", lb->id, msg, 0);
    api->metric_add(host, "leaderboard_periods_closed", 1);
    api->log(host, BM_LOG_INFO, "leaderboard=%s period=%s closed players=%d", lb->id, pk,
             cx.players);
    return BM_OK;
}
