/*
 * One instance as the host sees it: what it is, what was counted on it, and
 * the calls into it, each marked for the watchdog (watchdog.h) so that a call
 * that hangs or crashes is charged to this module, generation and campaign.
 */
#include "loader/loader.h"
#include "loader/loader_int.h"

#include "watchdog/watchdog.h"

const bm_module *bm_modinst_module(const bm_modinst *mi)
{
    return mi->m;
}

const char *bm_modinst_name(const bm_modinst *mi)
{
    return mi->name;
}

int bm_modinst_generation(const bm_modinst *mi)
{
    return mi->generation;
}

const char *bm_modinst_file(const bm_modinst *mi)
{
    return mi->src_path;
}

bm_host *bm_modinst_host(const bm_modinst *mi)
{
    return mi->host;
}

bm_modinst_counts bm_modinst_counters(const bm_modinst *mi)
{
    return (bm_modinst_counts){mi->events, mi->errors, mi->skipped};
}

void *bm_modinst_engine_data(const bm_modinst *mi)
{
    return mi->engine_data;
}

void bm_modinst_set_engine_data(bm_modinst *mi, void *data)
{
    mi->engine_data = data;
}

static void enter(const bm_modinst *mi, int kind, const char *campaign_id)
{
    bm_watchdog_enter(kind, mi->name, mi->generation, mi->src_path, campaign_id);
}

int bm_modinst_call_campaign_add(bm_modinst *mi, const bm_campaign *c, bm_routes *routes,
                                 void **cctx, char *err, size_t errlen)
{
    enter(mi, BM_WD_CAMPAIGN_ADD, c->id);
    int rc = mi->m->campaign_add(mi->instance, c, routes, cctx, err, errlen);
    bm_watchdog_leave();
    return rc;
}

void bm_modinst_call_campaign_remove(bm_modinst *mi, void *cctx, int change,
                                     const char *campaign_id)
{
    enter(mi, BM_WD_CAMPAIGN_REMOVE, campaign_id);
    if (change && mi->m->abi_version >= 2 && mi->m->campaign_changed)
        mi->m->campaign_changed(mi->instance, cctx, change);
    mi->m->campaign_remove(mi->instance, cctx);
    bm_watchdog_leave();
}

int bm_modinst_call_event(bm_modinst *mi, void *cctx, bm_batch *b, const bm_event *ev,
                          const char *campaign_id)
{
    enter(mi, BM_WD_EVENT, campaign_id);
    int rc = mi->m->on_event(mi->instance, cctx, b, ev);
    bm_watchdog_leave();
    mi->events++;
    if (rc == BM_SKIP)
        mi->skipped++;
    else if (rc < 0)
        mi->errors++;
    return rc;
}

int bm_modinst_call_tick(bm_modinst *mi, bm_batch *b, int64_t now_ms)
{
    if (!mi->m->on_tick)
        return BM_OK;
    enter(mi, BM_WD_TICK, NULL);
    int rc = mi->m->on_tick(mi->instance, b, now_ms);
    bm_watchdog_leave();
    if (rc < 0)
        mi->errors++;
    return rc;
}

int bm_modinst_call_campaign_tick(bm_modinst *mi, void *cctx, bm_batch *b, int64_t now_ms,
                                  const char *campaign_id)
{
    if (mi->m->abi_version < 2 || !mi->m->on_campaign_tick)
        return BM_OK;
    enter(mi, BM_WD_TICK, campaign_id);
    int rc = mi->m->on_campaign_tick(mi->instance, cctx, b, now_ms);
    bm_watchdog_leave();
    if (rc < 0)
        mi->errors++;
    return rc;
}

int bm_modinst_call_campaign_end(bm_modinst *mi, void *cctx, bm_batch *b, int reason,
                                 int64_t now_ms, const char *campaign_id)
{
    if (mi->m->abi_version < 2 || !mi->m->on_campaign_end)
        return BM_OK;
    enter(mi, BM_WD_TICK, campaign_id);
    int rc = mi->m->on_campaign_end(mi->instance, cctx, b, reason, now_ms);
    bm_watchdog_leave();
    if (rc < 0)
        mi->errors++;
    return rc;
}
