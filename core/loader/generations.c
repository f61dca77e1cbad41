/*
 * Module generations with pinned references.
 *
 * The current set is swapped only by the processing thread at a batch
 * boundary. Other threads pin an instance with a bm_modref: the pin count
 * lives on the instance and is guarded by the loader's lock. A swap moves
 * the instances it replaced to the retired list; a retired instance is
 * destroyed and closed by whoever sees it unpinned and drained: the thread
 * dropping the last reference, or the boundary's collect pass. Nothing is
 * ever cut off: past engine.drain_deadline_ms a retired instance is only
 * marked overdue so that `bmctl modules` shows it.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/loader.h"
#include "loader/loader_int.h"
#include "log/log.h"
#include "util/clock.h"
#include "watchdog/watchdog.h"

struct bm_loader {
    pthread_mutex_t lock;
    char dir[512];
    char copy_dir[1100];
    bm_loader_host lh;
    int drain_deadline_ms;
    bm_modset *cur;      /* written by the processing thread under lock */
    bm_modinst *retired; /* list through next_retired */
};

struct bm_modref {
    bm_loader *l;
    bm_modinst *mi;
    void *camp; /* campaign pin from campaign_pin, or NULL */
};

bm_loader *bm_loader_new(const char *modules_dir, const char *copy_dir, const bm_loader_host *lh,
                         int drain_deadline_ms, char *err, size_t errlen)
{
    bm_loader *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    snprintf(l->dir, sizeof l->dir, "%s", modules_dir);
    snprintf(l->copy_dir, sizeof l->copy_dir, "%s", copy_dir);
    if (lh)
        l->lh = *lh;
    l->drain_deadline_ms = drain_deadline_ms;
    return l;
}

void bm_loader_lock(bm_loader *l)
{
    pthread_mutex_lock(&l->lock);
}

void bm_loader_unlock(bm_loader *l)
{
    pthread_mutex_unlock(&l->lock);
}

const bm_modset *bm_loader_current(const bm_loader *l)
{
    return l->cur;
}

/* Unlinks mi from the retired list (lock held). */
static void unlink_retired(bm_loader *l, bm_modinst *mi)
{
    for (bm_modinst **p = &l->retired; *p; p = &(*p)->next_retired) {
        if (*p == mi) {
            *p = mi->next_retired;
            mi->next_retired = NULL;
            return;
        }
    }
}

/* Called with the lock held on an unpinned retired instance nobody is closing:
 * drains it (outside the lock) and closes it when drained. Returns with the
 * lock held. */
static void try_close(bm_loader *l, bm_modinst *mi)
{
    mi->closing = 1;
    pthread_mutex_unlock(&l->lock);
    int drained = 1;
    if (mi->m->drain) {
        bm_watchdog_enter(BM_WD_DRAIN, mi->name, mi->generation, mi->src_path, NULL);
        drained = mi->m->drain(mi->instance) == BM_OK;
        bm_watchdog_leave();
    }
    pthread_mutex_lock(&l->lock);
    if (!drained || mi->refs > 0) {
        mi->closing = 0;
        return;
    }
    unlink_retired(l, mi);
    pthread_mutex_unlock(&l->lock);
    int64_t held = bm_mono_ms() - mi->retired_at_ms;
    bm_logf(BM_LOG_LVL_INFO, "loader", "retired name=%s generation=%d after_ms=%lld", mi->name,
            mi->generation, (long long)held);
    bm_loader_destroy(mi, &l->lh);
    pthread_mutex_lock(&l->lock);
}

int bm_loader_reload(bm_loader *l, bm_scan_result *res)
{
    if (bm_loader_scan(l->dir, l->copy_dir, l->cur, &l->lh, res) != 0)
        return -1;
    if (!res->set)
        return 0;
    /* The swap: between batches on the processing thread, so no event is in
     * flight in any module; out-of-band callers hold their own pins. */
    pthread_mutex_lock(&l->lock);
    bm_modset *old = l->cur;
    l->cur = res->set;
    res->set = NULL;
    int64_t now = bm_mono_ms();
    for (size_t i = 0; i < res->nretired; i++) {
        bm_modinst *mi = res->retired[i];
        mi->retired = 1;
        mi->retired_at_ms = now;
        mi->next_retired = l->retired;
        l->retired = mi;
    }
    if (l->lh.swapped)
        l->lh.swapped(l->lh.ud, l->cur, res->retired, res->nretired);
    pthread_mutex_unlock(&l->lock);
    bm_scan_result_clear(res);
    bm_modset_free(old);
    bm_loader_collect(l);
    return 0;
}

void bm_loader_collect(bm_loader *l)
{
    pthread_mutex_lock(&l->lock);
    int64_t now = bm_mono_ms();
    for (bm_modinst *mi = l->retired, *next; mi; mi = next) {
        next = mi->next_retired;
        if (mi->refs == 0 && !mi->closing) {
            try_close(l, mi);
            /* The list may have changed while the lock was dropped: start over
             * next boundary rather than follow a stale pointer. */
            break;
        }
        if (!mi->overdue && now - mi->retired_at_ms > l->drain_deadline_ms) {
            mi->overdue = 1;
            bm_logf(BM_LOG_LVL_WARN, "loader",
                    "retired generation still loaded name=%s generation=%d refs=%d "
                    "waited_ms=%lld: kept loaded, not cut off",
                    mi->name, mi->generation, mi->refs, (long long)(now - mi->retired_at_ms));
        }
    }
    pthread_mutex_unlock(&l->lock);
}

void bm_loader_free(bm_loader *l)
{
    if (!l)
        return;
    /* Roles are stopped: nothing holds a pin any more. */
    while (l->retired) {
        bm_modinst *mi = l->retired;
        l->retired = mi->next_retired;
        if (mi->refs)
            bm_logf(BM_LOG_LVL_WARN, "loader", "closing name=%s generation=%d with refs=%d",
                    mi->name, mi->generation, mi->refs);
        bm_loader_close(mi, &l->lh);
    }
    if (l->cur) {
        for (size_t i = 0; i < l->cur->n; i++)
            bm_loader_close(l->cur->mods[i], &l->lh);
        bm_modset_free(l->cur);
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static bm_modref *ref_new(bm_loader *l, bm_modinst *mi, void *camp)
{
    bm_modref *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    r->l = l;
    r->mi = mi;
    r->camp = camp;
    mi->refs++;
    return r;
}

bm_modref *bm_loader_acquire(bm_loader *l, uint32_t kind, const char *serves)
{
    pthread_mutex_lock(&l->lock);
    bm_modinst *mi = bm_modset_find_serves(l->cur, kind, serves);
    bm_modref *r = mi ? ref_new(l, mi, NULL) : NULL;
    pthread_mutex_unlock(&l->lock);
    return r;
}

bm_modref *bm_loader_acquire_campaign(bm_loader *l, const char *campaign_id, void **cctx)
{
    bm_modref *r = NULL;
    *cctx = NULL;
    if (!l->lh.campaign_pin || !campaign_id)
        return NULL;
    pthread_mutex_lock(&l->lock);
    bm_modinst *mi = NULL;
    void *ctx = NULL;
    void *camp = l->lh.campaign_pin(l->lh.ud, campaign_id, &mi, &ctx);
    if (camp) {
        r = ref_new(l, mi, camp);
        if (r)
            *cctx = ctx;
        else if (l->lh.campaign_unpin)
            l->lh.campaign_unpin(l->lh.ud, camp);
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

const bm_module *bm_modref_module(const bm_modref *r)
{
    return r->mi->m;
}

void *bm_modref_instance(const bm_modref *r)
{
    return r->mi->instance;
}

bm_modinst *bm_modref_inst(const bm_modref *r)
{
    return r->mi;
}

void bm_loader_release(bm_modref *r)
{
    if (!r)
        return;
    bm_loader *l = r->l;
    bm_modinst *mi = r->mi;
    pthread_mutex_lock(&l->lock);
    if (r->camp && l->lh.campaign_unpin)
        l->lh.campaign_unpin(l->lh.ud, r->camp);
    mi->refs--;
    if (mi->retired && mi->refs == 0 && !mi->closing)
        try_close(l, mi);
    pthread_mutex_unlock(&l->lock);
    free(r);
}

char *bm_loader_retiring_json(bm_loader *l)
{
    json_t *a = json_array();
    pthread_mutex_lock(&l->lock);
    int64_t now = bm_mono_ms();
    for (bm_modinst *mi = l->retired; mi; mi = mi->next_retired)
        json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:I, s:b}", "name", mi->name,
                                           "generation", mi->generation, "refs", mi->refs,
                                           "retiredMs", (json_int_t)(now - mi->retired_at_ms),
                                           "overdue", mi->overdue));
    pthread_mutex_unlock(&l->lock);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

size_t bm_loader_nretiring(bm_loader *l)
{
    size_t n = 0;
    pthread_mutex_lock(&l->lock);
    for (bm_modinst *mi = l->retired; mi; mi = mi->next_retired)
        n++;
    pthread_mutex_unlock(&l->lock);
    return n;
}
