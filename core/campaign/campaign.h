/*
 * Campaign registry: the active campaigns, the module instance and context
 * each one is adopted into, and the routing index (gameId, eventType) ->
 * campaigns. Rebuilt at batch boundaries when campaigns or modules change.
 */
#ifndef BM_CAMPAIGN_H
#define BM_CAMPAIGN_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include <brightmatter/module.h>

#include "config/config.h"
#include "loader/loader.h"
#include "util/strset.h"

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
    int ended;    /* campaigns.ended_at is set: its end ran */
    int oversize; /* over campaigns.max_config_bytes / max_name_bytes: not served */
} bm_camp_row;

/* One served campaign. The registry owns it (campaign_int.h); the host reads
 * it through the functions below. */
typedef struct bm_camp bm_camp;

typedef struct bm_route_bucket bm_route_bucket;

/* Held by value by its owner; read through the functions below. */
typedef struct bm_camps {
    bm_camp **by_slot; /* NULL holes where campaigns were removed */
    size_t nslots;
    bm_route_bucket **index; /* hash (game, type) -> campaigns */
    size_t index_cap;
    bm_camp *zombies;          /* replaced or removed while pinned: freed once unpinned */
    bm_strset oversize_logged; /* "id:version" of oversize documents already reported */
} bm_camps;

void bm_camps_init(bm_camps *cs);
void bm_camps_free(bm_camps *cs, const bm_modset *mods);

/* Reads campaigns of every status from PostgreSQL; a document (config) only
 * when the campaign is not in `known` at its version, is to be served and is
 * within lim's campaigns.* bounds (else oversize is set), else config is NULL.
 * *rows malloc'd; free with bm_camp_rows_free. */
int bm_camps_fetch(PGconn *pg, const bm_camps *known, const bm_config *lim, bm_camp_row **rows,
                   size_t *n, char *err, size_t errlen);
void bm_camp_rows_free(bm_camp_row *rows, size_t n);

/*
 * Brings the registry in line with `rows` (active ones are served; others
 * dropped) using the modules in `mods`: adds new campaigns, re-adds changed
 * versions, removes gone ones, and rebuilds the routing index. Refusals are
 * logged and kept (the "refused" of bm_camp_json). Returns the number of changes.
 */
int bm_camps_sync(bm_camps *cs, const bm_camp_row *rows, size_t n, const bm_modset *mods);

/* Campaigns routed for (game, event type); *n gets the count. */
bm_camp *const *bm_camps_route(const bm_camps *cs, const char *game, const char *type, size_t *n);

/* Campaign by id, or NULL. */
bm_camp *bm_camps_find(const bm_camps *cs, const char *id);

/* Loader adopt hook: adds every campaign of the instance's type to it (kept in
 * bm_modinst_engine_data). Nonzero refuses the instance with err. */
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

/* Number of registry slots: bm_camps_at(cs, 0 .. n-1) covers every campaign. */
size_t bm_camps_nslots(const bm_camps *cs);
/* Campaigns served by instance mi. */
size_t bm_camps_served_by(const bm_camps *cs, const bm_modinst *mi);

/* --- one campaign, as the processing thread sees it --------------------------- */

const char *bm_camp_id(const bm_camp *c);
const char *bm_camp_game(const bm_camp *c);
/* The version of the campaign row being served. */
int64_t bm_camp_version(const bm_camp *c);
/* Its registry slot: stable while it is present (the state cache's key). */
uint32_t bm_camp_slot(const bm_camp *c);
/* Nonzero if c is campaign `id`. A module hands back the id string the host
 * gave it, so a pointer compare settles the common case. */
int bm_camp_is(const bm_camp *c, const char *id);
/* Nonzero if time_ms falls within its window (start inclusive, end exclusive). */
int bm_camp_covers(const bm_camp *c, int64_t time_ms);
/* The instance serving it, or NULL: then it is suspended (its game's events
 * are counted for a replay, bm_camp_note_suspended) unless it is ending. */
bm_modinst *bm_camp_module(const bm_camp *c);
int bm_camp_suspended(const bm_camp *c);
void bm_camp_note_suspended(bm_camp *c);
/* `bmctl modules` entry: id, type, name, module, counters, status, refused. */
json_t *bm_camp_json(const bm_camp *c);

/* Calls into its module (the campaign must have one), counted on the campaign
 * and on the instance (bm_modinst_call_*); the module's answer is returned. */
int bm_camp_call_event(bm_camp *c, bm_batch *b, const bm_event *ev);
/* on_campaign_tick: BM_OK without a module or the callback. */
int bm_camp_call_tick(bm_camp *c, bm_batch *b, int64_t now_ms);

/* --- its end --------------------------------------------------------------- */

/* BM_END_* once its end has to run, else 0. A window that closed grace_ms ago
 * or more marks it BM_END_WINDOW here. */
int bm_camp_ending(bm_camp *c, int64_t now_ms, int64_t grace_ms);
/* "completed", "cancelled" or "window". */
const char *bm_camp_end_reason(const bm_camp *c);
/* Its end is in a batch being committed (set), or must be sent again (cleared). */
int bm_camp_end_sent(const bm_camp *c);
void bm_camp_set_end_sent(bm_camp *c, int sent);
/* Clears the mark on every campaign (after a failed batch). */
void bm_camps_ends_unsent(bm_camps *cs);
/* on_campaign_end: BM_OK without a module or the callback. */
int bm_camp_call_end(bm_camp *c, bm_batch *b, int64_t now_ms);

/* Fills a bm_campaign view from a row (for validation by bmctl). */
void bm_camp_view(bm_campaign *c, const bm_camp_row *row);

/* Parses a campaign document's window: dateRange{start,end,ongoing} or
 * startDate/endDate/ongoing. 0, or -1 with err naming the field. */
/*
 * Parses a campaign document within the configured bounds (campaigns.*):
 * size, name length, whitelist length; the whole buffer must be one JSON
 * object (trailing bytes, a NUL included, are refused). NULL with err
 * (limits.c); the caller json_decref's the result.
 */
json_t *bm_camp_parse_doc(const bm_config *cfg, const char *text, size_t len, char *err,
                          size_t errlen);

int bm_camp_window(const char *config_json, int64_t *start_ms, int64_t *end_ms, char *err,
                   size_t errlen);

#endif
