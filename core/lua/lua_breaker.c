/*
 * The formula circuit breaker and per-batch time budget. A studio formula that
 * keeps failing (errors, instruction or memory overruns) costs its budget on
 * every event; suspending it after a few failures in a row makes its cost a
 * clock read and a compare, so other campaigns in the same batch flow at full
 * speed. The cooldown doubles on every repeat; one success closes the breaker.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <brightmatter/module.h>

#include "log/log.h"
#include "lua_internal.h"

#define DEF_BREAKER_FAILURES 5
#define DEF_BREAKER_COOLDOWN_MS 1000
#define DEF_BATCH_BUDGET_MS 50
#define MAX_COOLDOWN_MS (3600 * 1000)

/* 0 until the engine starts batches: tools and tests that evaluate formulas
 * outside a batch have no batch budget. */
static _Atomic uint64_t g_epoch = 0;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static bm_lua_formula *g_head;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int failures_limit(const bm_lua_formula *f)
{
    return f->lim.breaker_failures > 0 ? f->lim.breaker_failures : DEF_BREAKER_FAILURES;
}

void bm_lua_batch_begin(void)
{
    g_epoch++;
}

int bm_lua_breaker_admit(bm_lua_formula *f, int64_t *t0, char *err, size_t errlen)
{
    int64_t now = now_ns();
    *t0 = now;
    if (f->suspended_until) {
        if (now / 1000000 < f->suspended_until) {
            f->st.breaker_skipped++;
            snprintf(err, errlen, "suspended by its circuit breaker");
            return BM_SKIP;
        }
        f->suspended_until = 0; /* half-open: this run decides */
    }
    uint64_t ep = g_epoch;
    if (ep == 0)
        return 0;
    if (f->epoch != ep) {
        f->epoch = ep;
        f->batch_ns = 0;
    }
    int64_t budget =
        (int64_t)(f->lim.batch_budget_ms > 0 ? f->lim.batch_budget_ms : DEF_BATCH_BUDGET_MS) *
        1000000;
    if (f->batch_ns >= budget) {
        f->st.budget_skipped++;
        snprintf(err, errlen, "batch time budget spent");
        return BM_SKIP;
    }
    return 0;
}

void bm_lua_breaker_account(bm_lua_formula *f, int failed, int64_t t0)
{
    int64_t now = now_ns();
    f->batch_ns += now - t0;
    if (!failed) {
        f->consecutive = 0;
        f->cooldown_ms = 0;
        return;
    }
    if (++f->consecutive < failures_limit(f))
        return;
    if (f->cooldown_ms <= 0)
        f->cooldown_ms =
            f->lim.breaker_cooldown_ms > 0 ? f->lim.breaker_cooldown_ms : DEF_BREAKER_COOLDOWN_MS;
    f->suspended_until = now / 1000000 + f->cooldown_ms;
    f->st.breaker_trips++;
    /* The first suspension is news; the repeats are in the counters (bmctl status). */
    bm_logf(f->st.breaker_trips == 1 || f->st.breaker_trips % 100 == 0 ? BM_LOG_LVL_WARN
                                                                       : BM_LOG_LVL_DEBUG,
            "lua",
            "formula=%s campaign=%s suspended for %lld ms after %d failures in a row (trip %llu)",
            f->name, f->owner[0] ? f->owner : "-", (long long)f->cooldown_ms, f->consecutive,
            (unsigned long long)f->st.breaker_trips);
    f->cooldown_ms = f->cooldown_ms * 2 > MAX_COOLDOWN_MS ? MAX_COOLDOWN_MS : f->cooldown_ms * 2;
    /* After the cooldown one more failure suspends it again. */
    f->consecutive = failures_limit(f) - 1;
}

void bm_lua_registry_add(bm_lua_formula *f)
{
    pthread_mutex_lock(&g_lock);
    f->prev = NULL;
    f->next = g_head;
    if (g_head)
        g_head->prev = f;
    g_head = f;
    pthread_mutex_unlock(&g_lock);
}

void bm_lua_registry_remove(bm_lua_formula *f)
{
    pthread_mutex_lock(&g_lock);
    if (f->prev)
        f->prev->next = f->next;
    else if (g_head == f)
        g_head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->next = f->prev = NULL;
    pthread_mutex_unlock(&g_lock);
}

void bm_lua_set_owner(bm_lua_formula *f, const char *campaign_id)
{
    if (f && campaign_id)
        snprintf(f->owner, sizeof f->owner, "%s", campaign_id);
}

static json_t *one(const bm_lua_formula *f)
{
    int64_t left = f->suspended_until ? f->suspended_until - now_ns() / 1000000 : 0;
    return json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "name", f->name, "campaign",
        f->owner, "state", left > 0 ? "suspended" : "running", "calls", (json_int_t)f->st.calls,
        "ok", (json_int_t)f->st.ok, "errors", (json_int_t)f->st.errors, "skippedByBreaker",
        (json_int_t)f->st.breaker_skipped, "skippedByBudget", (json_int_t)f->st.budget_skipped,
        "breakerTrips", (json_int_t)f->st.breaker_trips, "suspendedForMs",
        (json_int_t)(left > 0 ? left : 0), "failuresInARow", f->consecutive);
}

json_t *bm_lua_owner_json(const char *campaign_id)
{
    json_t *j = NULL;
    pthread_mutex_lock(&g_lock);
    for (bm_lua_formula *f = g_head; f && !j; f = f->next)
        if (f->owner[0] && strcmp(f->owner, campaign_id) == 0)
            j = one(f);
    pthread_mutex_unlock(&g_lock);
    return j;
}

json_t *bm_lua_formulas_json(void)
{
    json_t *a = json_array();
    pthread_mutex_lock(&g_lock);
    for (bm_lua_formula *f = g_head; f; f = f->next)
        json_array_append_new(a, one(f));
    pthread_mutex_unlock(&g_lock);
    return a;
}
