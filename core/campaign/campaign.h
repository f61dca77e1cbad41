/*
 * Campaign registry: the active campaigns, the module instance and context
 * each one is adopted into, and the routing index (gameId, eventType) ->
 * campaigns. Rebuilt at batch boundaries when campaigns or modules change.
 */
#ifndef BM_CAMPAIGN_H
#define BM_CAMPAIGN_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include <brightmatter/module.h>

#include "loader/loader.h"

/* Event types a campaign subscribed to in campaign_add (the concrete bm_routes). */
struct bm_routes {
    char **types;
    size_t n, cap;
};
int bm_routes_add(bm_routes *r, const char *event_type);
void bm_routes_clear(bm_routes *r);

/* One campaign row as read from PostgreSQL. */
typedef struct bm_camp_row {
    char id[64];
    char game[260]; /* games.identifier */
    char type[32];
    char name[256];
    char status[16];
    char *config; /* owned JSON text */
    int64_t start_ms, end_ms, version;
    int ended; /* campaigns.ended_at is set: its end ran */
} bm_camp_row;

typedef struct bm_camp {
    bm_campaign c; /* strings point into the fields below */
    bm_camp_row row;
    uint32_t slot;    /* stable index while present */
    bm_modinst *mi;   /* instance serving it, NULL if none or refused */
    void *cctx;       /* what campaign_add returned */
    bm_routes routes; /* event types subscribed */
    uint64_t events, errors, skipped;
    char refused[256]; /* why no module serves it ("" if served) */
    int pins;          /* out-of-band pins (bm_loader_acquire_campaign), under the loader lock */
    int ending;        /* BM_END_* once its end has to run; 0 while it runs normally */
    int end_sent;      /* its end is in a batch being committed */
    int gone;          /* BM_CAMPAIGN_* it left the registry with */
    struct bm_camp *next_zombie;
} bm_camp;

/* Per-instance list of (campaign, context) pairs: bm_modinst.engine_data. */
typedef struct bm_adoption {
    bm_camp *camp;
    void *cctx;
    bm_routes routes;
} bm_adoption;
typedef struct bm_adoptions {
    bm_adoption *v;
    size_t n, cap;
} bm_adoptions;

typedef struct bm_route_bucket bm_route_bucket;

typedef struct bm_camps {
    bm_camp **by_slot; /* NULL holes where campaigns were removed */
    size_t nslots;
    bm_route_bucket **index; /* hash (game, type) -> campaigns */
    size_t index_cap;
    bm_camp *zombies; /* replaced or removed while pinned: freed once unpinned */
} bm_camps;

void bm_camps_init(bm_camps *cs);
void bm_camps_free(bm_camps *cs, const bm_modset *mods);

/* Reads campaigns of every status from PostgreSQL. *rows malloc'd; free with bm_camp_rows_free. */
int bm_camps_fetch(PGconn *pg, bm_camp_row **rows, size_t *n, char *err, size_t errlen);
void bm_camp_rows_free(bm_camp_row *rows, size_t n);

/*
 * Brings the registry in line with `rows` (active ones are served; others
 * dropped) using the modules in `mods`: adds new campaigns, re-adds changed
 * versions, removes gone ones, and rebuilds the routing index. Refusals are
 * logged and kept in bm_camp.refused. Returns the number of changes.
 */
int bm_camps_sync(bm_camps *cs, const bm_camp_row *rows, size_t n, const bm_modset *mods);

/* Campaigns routed for (game, event type); *n gets the count. */
bm_camp *const *bm_camps_route(const bm_camps *cs, const char *game, const char *type, size_t *n);

/* Campaign by id, or NULL. */
bm_camp *bm_camps_find(const bm_camps *cs, const char *id);

/* Loader adopt hook: adds every campaign of the instance's type to it (kept in
 * mi->engine_data). Nonzero refuses the instance with err. */
int bm_camps_adopt(bm_camps *cs, bm_modinst *mi, char *err, size_t errlen);
/* Loader release hook: campaign_remove of everything the instance adopted. */
void bm_camps_release(bm_camps *cs, bm_modinst *mi);
/* After a new module set is swapped in: point campaigns at their new instances. */
void bm_camps_switch(bm_camps *cs, const bm_modset *mods);
/* Loader swapped hook (under the loader lock): bm_camps_switch, then unlinks
 * the retired instances from every campaign (their contexts stay alive until
 * the instance is closed). */
void bm_camps_swapped(bm_camps *cs, const bm_modset *mods, bm_modinst *const *retired,
                      size_t nretired);

/* Campaign in registry slot `slot`, or NULL (a hole). */
bm_camp *bm_camps_at(const bm_camps *cs, uint32_t slot);

/* Pins campaign `id` if a module serves it (loader lock held): its instance
 * and context stay valid until bm_camps_unpin. NULL if not served. */
bm_camp *bm_camps_pin(bm_camps *cs, const char *id, bm_modinst **mi, void **cctx);
void bm_camps_unpin(bm_camp *c);
/* Frees campaigns that were removed or replaced while pinned (loader lock held). */
void bm_camps_reap(bm_camps *cs);

/* Fills a bm_campaign view from a row (for validation by bmctl). */
void bm_camp_view(bm_campaign *c, const bm_camp_row *row);

/* Parses a campaign document's window: dateRange{start,end,ongoing} or
 * startDate/endDate/ongoing. 0, or -1 with err naming the field. */
int bm_camp_window(const char *config_json, int64_t *start_ms, int64_t *end_ms, char *err,
                   size_t errlen);

#endif
