/* The registry's own records: the campaign and its adoptions (campaign.c). */
#ifndef BM_CAMPAIGN_INT_H
#define BM_CAMPAIGN_INT_H

#include "campaign/campaign.h"

struct bm_camp {
    bm_campaign c; /* strings point into the fields below */
    bm_camp_row row;
    uint32_t slot;    /* stable index while present */
    bm_modinst *mi;   /* instance serving it, NULL if none or refused */
    void *cctx;       /* what campaign_add returned */
    bm_routes routes; /* event types subscribed */
    uint64_t events, errors, skipped;
    uint64_t suspended_events; /* events of its game seen while no module served it */
    char refused[256];         /* why no module serves it ("" if served) */
    int pins;     /* out-of-band pins (bm_loader_acquire_campaign), under the loader lock */
    int ending;   /* BM_END_* once its end has to run; 0 while it runs normally */
    int end_sent; /* its end is in a batch being committed */
    int gone;     /* BM_CAMPAIGN_* it left the registry with */
    struct bm_camp *next_zombie;
};

/* Per-instance list of (campaign, context) pairs: bm_modinst_engine_data. */
typedef struct bm_adoption {
    bm_camp *camp;
    void *cctx;
    bm_routes routes;
} bm_adoption;
typedef struct bm_adoptions {
    bm_adoption *v;
    size_t n, cap;
} bm_adoptions;

#endif
