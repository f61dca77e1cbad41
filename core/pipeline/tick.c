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

static void end_campaign(bm_pipeline *e, bm_batch *b, bm_camp *c, int64_t now)
{
    int rc = bm_batch_end_campaign(b, bm_camp_id(c), bm_camp_end_reason(c));
    if (rc < 0)
        return; /* database trouble: the next tick tries again */
    bm_camp_set_end_sent(c, 1);
    if (rc == 0)
        return; /* another process ended it */
    atomic_fetch_add(&e->stats->campaigns_ended, 1);
    bm_info("campaign", "campaign=%s ends reason=%s", bm_camp_id(c), bm_camp_end_reason(c));
    b->cur_mi = bm_camp_module(c);
    b->cur_camp = c;
    (void)bm_camp_call_end(c, b, now);
}

void bm_pipeline_tick(bm_pipeline *e, bm_batch *b, int64_t now)
{
    e->last_tick_ms = now;
    atomic_fetch_add(&e->stats->ticks, 1);
    b->cur_partition = -1;
    const bm_modset *set = bm_loader_current(e->loader);
    for (size_t i = 0; set && i < set->n; i++) {
        b->cur_mi = set->mods[i];
        b->cur_camp = NULL;
        (void)bm_modinst_call_tick(set->mods[i], b, now);
    }
    int64_t grace_ms = (int64_t)e->cfg.campaign_end_grace_s * 1000;
    for (size_t s = 0; s < bm_camps_nslots(e->camps); s++) {
        bm_camp *c = bm_camps_at(e->camps, (uint32_t)s);
        if (!c)
            continue;
        if (bm_camp_ending(c, now, grace_ms)) {
            if (!bm_camp_end_sent(c))
                end_campaign(e, b, c, now);
            continue; /* no ticks after the end */
        }
        b->cur_mi = bm_camp_module(c);
        b->cur_camp = c;
        (void)bm_camp_call_tick(c, b, now);
    }
    b->cur_mi = NULL;
    b->cur_camp = NULL;
}

void bm_pipeline_ends_unsent(bm_pipeline *e)
{
    bm_camps_ends_unsent(e->camps);
}
