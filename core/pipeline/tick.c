/*
 * Time inside batches: about once a second the batch being built (or a batch
 * of its own when no event came) carries on_tick for every module,
 * on_campaign_tick for every campaign, and the end of every campaign whose
 * status or window says it ended. Ends run exactly once across processes:
 * the host claims "end" for the campaign in the same transaction that marks
 * it ended (batch_v2.c), and only the batch holding the claim calls the
 * module's on_campaign_end.
 */
#include <stdatomic.h>

#include "log/log.h"
#include "pipeline/batch_internal.h"
#include "watchdog/watchdog.h"

static const char *end_reason(int ending)
{
    return ending == BM_END_CANCELLED ? "cancelled"
           : ending == BM_END_WINDOW  ? "window"
                                      : "completed";
}

static void end_campaign(bm_pipeline *e, bm_batch *b, bm_camp *c, int64_t now)
{
    int rc = bm_batch_end_campaign(b, c->row.id, end_reason(c->ending));
    if (rc < 0)
        return; /* database trouble: the next tick tries again */
    c->end_sent = 1;
    if (rc == 0)
        return; /* another process ended it */
    atomic_fetch_add(&e->stats->campaigns_ended, 1);
    bm_info("campaign", "campaign=%s ends reason=%s", c->row.id, end_reason(c->ending));
    bm_modinst *mi = c->mi;
    if (mi && mi->m->abi_version >= 2 && mi->m->on_campaign_end) {
        b->cur_mi = mi;
        b->cur_camp = c;
        bm_watchdog_enter(BM_WD_TICK, mi->name, mi->generation, mi->src_path, c->row.id);
        int rc_end = mi->m->on_campaign_end(mi->instance, c->cctx, b, c->ending, now);
        bm_watchdog_leave();
        if (rc_end < 0) {
            c->errors++;
            mi->errors++;
        }
    }
}

void bm_pipeline_tick(bm_pipeline *e, bm_batch *b, int64_t now)
{
    e->last_tick_ms = now;
    atomic_fetch_add(&e->stats->ticks, 1);
    b->cur_partition = -1;
    const bm_modset *set = bm_loader_current(e->loader);
    for (size_t i = 0; set && i < set->n; i++) {
        bm_modinst *mi = set->mods[i];
        if (!mi->m->on_tick)
            continue;
        b->cur_mi = mi;
        b->cur_camp = NULL;
        bm_watchdog_enter(BM_WD_TICK, mi->name, mi->generation, mi->src_path, NULL);
        int rc = mi->m->on_tick(mi->instance, b, now);
        bm_watchdog_leave();
        if (rc < 0)
            mi->errors++;
    }
    int64_t grace_ms = (int64_t)e->cfg.campaign_end_grace_s * 1000;
    for (size_t s = 0; s < e->camps->nslots; s++) {
        bm_camp *c = bm_camps_at(e->camps, (uint32_t)s);
        if (!c)
            continue;
        if (!c->ending && c->c.end_ms && now >= c->c.end_ms + grace_ms)
            c->ending = BM_END_WINDOW;
        if (c->ending) {
            if (!c->end_sent)
                end_campaign(e, b, c, now);
            continue; /* no ticks after the end */
        }
        bm_modinst *mi = c->mi;
        if (!mi || mi->m->abi_version < 2 || !mi->m->on_campaign_tick)
            continue;
        b->cur_mi = mi;
        b->cur_camp = c;
        bm_watchdog_enter(BM_WD_TICK, mi->name, mi->generation, mi->src_path, c->row.id);
        int rc = mi->m->on_campaign_tick(mi->instance, c->cctx, b, now);
        bm_watchdog_leave();
        if (rc < 0) {
            c->errors++;
            mi->errors++;
        }
    }
    b->cur_mi = NULL;
    b->cur_camp = NULL;
}

void bm_pipeline_ends_unsent(bm_pipeline *e)
{
    for (size_t s = 0; s < e->camps->nslots; s++) {
        bm_camp *c = bm_camps_at(e->camps, (uint32_t)s);
        if (c)
            c->end_sent = 0;
    }
}
