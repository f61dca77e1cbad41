#include "campaign/campaign.h"
#include "campaign/campaign_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "log/log.h"
#include "loader/probation.h"
#include "util/hash.h"

struct bm_route_bucket {
    char *key; /* game \x1f type */
    bm_camp **v;
    size_t n, cap;
};

int bm_routes_add(bm_routes *r, const char *event_type)
{
    if (!event_type || !*event_type)
        return BM_ERROR;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->types[i], event_type) == 0)
            return BM_OK;
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 4;
        char **nt = realloc(r->types, ncap * sizeof *nt);
        if (!nt)
            return BM_ERROR;
        r->types = nt;
        r->cap = ncap;
    }
    if (!(r->types[r->n] = strdup(event_type)))
        return BM_ERROR;
    r->n++;
    return BM_OK;
}

void bm_routes_clear(bm_routes *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->types[i]);
    free(r->types);
    memset(r, 0, sizeof *r);
}

void bm_camp_view(bm_campaign *c, const bm_camp_row *row)
{
    c->id = row->id;
    c->game_id = row->game;
    c->type = row->type;
    c->name = row->name;
    c->config_json = row->config;
    c->start_ms = row->start_ms;
    c->end_ms = row->end_ms;
    c->version = row->version;
}

/* --- adoption lists (bm_modinst_engine_data) ------------------------------ */

static bm_adoptions *adoptions_of(bm_modinst *mi)
{
    if (!bm_modinst_engine_data(mi))
        bm_modinst_set_engine_data(mi, calloc(1, sizeof(bm_adoptions)));
    return bm_modinst_engine_data(mi);
}

static int adoption_push(bm_modinst *mi, bm_camp *camp, void *cctx, bm_routes *routes)
{
    bm_adoptions *a = adoptions_of(mi);
    if (!a)
        return -1;
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 8;
        bm_adoption *nv = realloc(a->v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        a->v = nv;
        a->cap = ncap;
    }
    a->v[a->n++] = (bm_adoption){camp, cctx, *routes};
    memset(routes, 0, sizeof *routes);
    return 0;
}

/* Removes the adoption of `camp` from mi, calling campaign_remove. */
static void adoption_drop(bm_modinst *mi, bm_camp *camp, int change)
{
    bm_adoptions *a = bm_modinst_engine_data(mi);
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].camp != camp)
            continue;
        bm_modinst_call_campaign_remove(mi, a->v[i].cctx, change, camp->row.id);
        bm_routes_clear(&a->v[i].routes);
        a->v[i] = a->v[--a->n];
        return;
    }
}

/* campaign_add on one instance; on success the adoption is recorded on mi. */
static int adopt_one(bm_modinst *mi, bm_camp *camp, char *err, size_t errlen)
{
    bm_routes routes = {0};
    void *cctx = NULL;
    err[0] = '\0';
    int rc = bm_modinst_call_campaign_add(mi, &camp->c, &routes, &cctx, err, errlen);
    if (rc != BM_OK) {
        if (!err[0])
            snprintf(err, errlen, "campaign_add returned %d", rc);
        bm_routes_clear(&routes);
        return -1;
    }
    if (adoption_push(mi, camp, cctx, &routes) != 0) {
        bm_modinst_call_campaign_remove(mi, cctx, 0, camp->row.id);
        bm_routes_clear(&routes);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* --- routing index ---------------------------------------------------------- */

static uint64_t hash_key(const char *game, const char *type)
{
    return bm_hash_mix(bm_hash_pair(game, type));
}

static int key_eq(const char *key, const char *game, const char *type)
{
    size_t g = strlen(game);
    return strncmp(key, game, g) == 0 && key[g] == 0x1f && strcmp(key + g + 1, type) == 0;
}

static void index_free(bm_camps *cs)
{
    for (size_t i = 0; i < cs->index_cap; i++) {
        bm_route_bucket *b = cs->index[i];
        if (b) {
            free(b->key);
            free(b->v);
            free(b);
        }
    }
    free(cs->index);
    cs->index = NULL;
    cs->index_cap = 0;
}

static bm_route_bucket *index_slot(bm_camps *cs, const char *game, const char *type, int create)
{
    if (!cs->index_cap)
        return NULL;
    uint64_t h = hash_key(game, type);
    for (size_t i = h & (cs->index_cap - 1);; i = (i + 1) & (cs->index_cap - 1)) {
        bm_route_bucket *b = cs->index[i];
        if (!b) {
            if (!create)
                return NULL;
            b = calloc(1, sizeof *b);
            if (!b)
                return NULL;
            size_t gl = strlen(game), tl = strlen(type);
            b->key = malloc(gl + tl + 2);
            if (!b->key) {
                free(b);
                return NULL;
            }
            memcpy(b->key, game, gl);
            b->key[gl] = 0x1f;
            memcpy(b->key + gl + 1, type, tl + 1);
            cs->index[i] = b;
            return b;
        }
        if (key_eq(b->key, game, type))
            return b;
    }
}

static void index_add(bm_camps *cs, bm_camp *camp, const char *type)
{
    bm_route_bucket *b = index_slot(cs, camp->row.game, type, 1);
    if (!b)
        return;
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 4;
        bm_camp **nv = realloc(b->v, ncap * sizeof *nv);
        if (!nv)
            return;
        b->v = nv;
        b->cap = ncap;
    }
    b->v[b->n++] = camp;
}

/* The index is derived from the adoptions of the campaigns' current instances. */
static void index_rebuild(bm_camps *cs)
{
    index_free(cs);
    size_t routes = 0;
    for (size_t s = 0; s < cs->nslots; s++) {
        bm_camp *c = cs->by_slot[s];
        if (c && c->mi && bm_modinst_engine_data(c->mi)) {
            bm_adoptions *a = bm_modinst_engine_data(c->mi);
            for (size_t i = 0; i < a->n; i++)
                if (a->v[i].camp == c)
                    routes += a->v[i].routes.n;
        }
    }
    size_t cap = 16;
    while (cap < routes * 2 + 1)
        cap *= 2;
    cs->index = calloc(cap, sizeof *cs->index);
    if (!cs->index)
        return;
    cs->index_cap = cap;
    for (size_t s = 0; s < cs->nslots; s++) {
        bm_camp *c = cs->by_slot[s];
        if (!c || !c->mi || !bm_modinst_engine_data(c->mi))
            continue;
        bm_adoptions *a = bm_modinst_engine_data(c->mi);
        for (size_t i = 0; i < a->n; i++) {
            if (a->v[i].camp != c)
                continue;
            for (size_t t = 0; t < a->v[i].routes.n; t++)
                index_add(cs, c, a->v[i].routes.types[t]);
        }
    }
}

bm_camp *const *bm_camps_route(const bm_camps *cs, const char *game, const char *type, size_t *n)
{
    bm_route_bucket *b = index_slot((bm_camps *)cs, game, type, 0);
    *n = b ? b->n : 0;
    return b ? b->v : NULL;
}

/* --- registry ------------------------------------------------------------------ */

void bm_camps_init(bm_camps *cs)
{
    memset(cs, 0, sizeof *cs);
}

bm_camp *bm_camps_find(const bm_camps *cs, const char *id)
{
    for (size_t s = 0; s < cs->nslots; s++)
        if (cs->by_slot[s] && strcmp(cs->by_slot[s]->row.id, id) == 0)
            return cs->by_slot[s];
    return NULL;
}

static void camp_detach(bm_camp *c, int change)
{
    if (c->mi)
        adoption_drop(c->mi, c, change);
    c->mi = NULL;
    c->cctx = NULL;
}

static void camp_free(bm_camp *c)
{
    camp_detach(c, c->gone ? c->gone : BM_CAMPAIGN_REMOVED);
    free(c->row.config);
    free(c);
}

/* Serves a campaign with the instance of its type, recording why not if it cannot. */
static void camp_attach(bm_camp *c, const bm_modset *mods)
{
    bm_modinst *mi = mods ? bm_modset_find_serves(mods, BM_KIND_CAMPAIGN, c->row.type) : NULL;
    if (!mi) {
        const char *q = bm_probation_disabled_reason(c->row.type);
        if (q)
            snprintf(c->refused, sizeof c->refused, "disabled: %s", q);
        else
            snprintf(c->refused, sizeof c->refused, "no module serves type '%s'", c->row.type);
        bm_warn("campaign", "campaign=%s not served: %s", c->row.id, c->refused);
        return;
    }
    char err[256];
    if (adopt_one(mi, c, err, sizeof err) != 0) {
        snprintf(c->refused, sizeof c->refused, "%s", err);
        bm_error("campaign", "campaign=%s module=%s refused: %s", c->row.id, bm_modinst_name(mi),
                 err);
        return;
    }
    c->refused[0] = '\0';
    c->mi = mi;
    bm_adoptions *a = bm_modinst_engine_data(mi);
    c->cctx = a->v[a->n - 1].cctx;
    bm_info("campaign", "campaign=%s type=%s version=%lld served by module=%s generation=%d",
            c->row.id, c->row.type, (long long)c->row.version, bm_modinst_name(mi),
            bm_modinst_generation(mi));
}

/* A campaign leaving the registry: freed now, or parked until unpinned. */
static void camp_retire(bm_camps *cs, bm_camp *c, int change)
{
    c->gone = change;
    if (c->pins > 0) {
        c->next_zombie = cs->zombies;
        cs->zombies = c;
        return;
    }
    camp_free(c);
}

static int row_copy(bm_camp_row *dst, const bm_camp_row *src)
{
    char *cfg = src->config ? strdup(src->config) : NULL;
    if (!cfg)
        return -1;
    free(dst->config);
    *dst = *src;
    dst->config = cfg;
    return 0;
}

/* How a row wants to be served: 0 not at all, else 1 served, or BM_END_* + 10
 * for a campaign whose end still has to run. */
static int row_want(const bm_camp_row *r, int *ending)
{
    *ending = 0;
    if (r->ended)
        return 0;
    if (strcmp(r->status, "active") == 0)
        return 1;
    if (strcmp(r->status, "completed") == 0)
        *ending = BM_END_COMPLETED;
    else if (strcmp(r->status, "cancelled") == 0)
        *ending = BM_END_CANCELLED;
    return *ending != 0;
}

static const bm_camp_row *row_find(const bm_camp_row *rows, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].id, id) == 0)
            return &rows[i];
    return NULL;
}

int bm_camps_sync(bm_camps *cs, const bm_camp_row *rows, size_t n, const bm_modset *mods)
{
    int changes = 0, ending;
    /* Drop campaigns that are gone, paused or ended. */
    for (size_t s = 0; s < cs->nslots; s++) {
        bm_camp *c = cs->by_slot[s];
        if (!c)
            continue;
        const bm_camp_row *r = row_find(rows, n, c->row.id);
        if (r && row_want(r, &ending))
            continue;
        int change = r && r->ended ? BM_CAMPAIGN_ENDED : BM_CAMPAIGN_REMOVED;
        bm_info("campaign", "campaign=%s %s", c->row.id,
                change == BM_CAMPAIGN_ENDED ? "ended" : "removed");
        cs->by_slot[s] = NULL;
        camp_retire(cs, c, change);
        changes++;
    }
    for (size_t i = 0; i < n; i++) {
        if (!row_want(&rows[i], &ending))
            continue;
        if (rows[i].oversize) {
            /* Not served at this version (an older one already served keeps serving). */
            char key[96];
            snprintf(key, sizeof key, "%s:%lld", rows[i].id, (long long)rows[i].version);
            if (!bm_strset_has(&cs->oversize_logged, key)) {
                (void)bm_strset_add(&cs->oversize_logged, key);
                bm_error("campaign",
                         "campaign=%s version=%lld refused: document or name over "
                         "campaigns.max_config_bytes / max_name_bytes",
                         rows[i].id, (long long)rows[i].version);
            }
            continue;
        }
        bm_camp *c = bm_camps_find(cs, rows[i].id);
        if (c && ending && !c->ending)
            c->ending = ending; /* completed or cancelled: its end has to run */
        if (c && ending && c->mi)
            continue; /* the same campaign, now ending: not an update */
        /* Unchanged: nothing to do, unless it was waiting for a module that is now here. */
        if (c && c->row.version == rows[i].version &&
            (c->mi || !mods || !bm_modset_find_serves(mods, BM_KIND_CAMPAIGN, c->row.type)))
            continue;
        bm_camp *old = c;
        c = calloc(1, sizeof *c);
        if (!c)
            continue;
        /* Same version (it waited for its module): the document this host holds. */
        bm_camp_row src = rows[i];
        if (!src.config && old)
            src.config = old->row.config;
        if (row_copy(&c->row, &src) != 0) {
            free(c);
            continue; /* out of memory: the old record (if any) keeps serving */
        }
        if (old) {
            /* A new record in the same slot; the old one goes now, or when an
             * out-of-band call holding its context lets go. */
            c->slot = old->slot;
            c->ending = old->ending;
            c->events = old->events;
            c->errors = old->errors;
            c->skipped = old->skipped;
            c->suspended_events = old->suspended_events;
            cs->by_slot[old->slot] = c;
            camp_retire(cs, old, BM_CAMPAIGN_UPDATED);
        } else {
            bm_camp **nv = realloc(cs->by_slot, (cs->nslots + 1) * sizeof *nv);
            if (!nv) {
                free(c->row.config);
                free(c);
                continue;
            }
            cs->by_slot = nv;
            c->slot = (uint32_t)cs->nslots;
            cs->by_slot[cs->nslots++] = c;
            c->ending = ending;
        }
        bm_camp_view(&c->c, &c->row);
        camp_attach(c, mods);
        changes++;
    }
    if (changes)
        index_rebuild(cs);
    return changes;
}

int bm_camps_adopt(bm_camps *cs, bm_modinst *mi, char *err, size_t errlen)
{
    if (bm_modinst_module(mi)->kind != BM_KIND_CAMPAIGN)
        return 0;
    for (size_t s = 0; s < cs->nslots; s++) {
        bm_camp *c = cs->by_slot[s];
        if (!c || strcmp(c->row.type, bm_modinst_module(mi)->serves) != 0)
            continue;
        char why[256];
        if (adopt_one(mi, c, why, sizeof why) != 0) {
            if (!c->mi)
                continue; /* was not served before either: not this generation's fault */
            snprintf(err, errlen, "campaign %s: %s", c->row.id, why);
            bm_camps_release(cs, mi);
            return -1;
        }
    }
    return 0;
}

void bm_camps_release(bm_camps *cs, bm_modinst *mi)
{
    bm_adoptions *a = bm_modinst_engine_data(mi);
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        /* A retired instance's adoptions were unlinked from their campaigns at
         * the swap (camp == NULL): this may run on another thread. */
        if (a->v[i].camp && a->v[i].camp->mi == mi) {
            a->v[i].camp->mi = NULL;
            a->v[i].camp->cctx = NULL;
            snprintf(a->v[i].camp->refused, sizeof a->v[i].camp->refused, "module %s retired",
                     bm_modinst_name(mi));
        }
        bm_modinst_call_campaign_remove(mi, a->v[i].cctx, BM_CAMPAIGN_RETIRED, NULL);
        bm_routes_clear(&a->v[i].routes);
    }
    free(a->v);
    free(a);
    bm_modinst_set_engine_data(mi, NULL);
    (void)cs;
}

void bm_camps_switch(bm_camps *cs, const bm_modset *mods)
{
    for (size_t m = 0; mods && m < mods->n; m++) {
        bm_modinst *mi = mods->mods[m];
        bm_adoptions *a = bm_modinst_engine_data(mi);
        for (size_t i = 0; a && i < a->n; i++) {
            a->v[i].camp->mi = mi;
            a->v[i].camp->cctx = a->v[i].cctx;
            a->v[i].camp->refused[0] = '\0';
        }
    }
    index_rebuild(cs);
}

void bm_camps_swapped(bm_camps *cs, const bm_modset *mods, bm_modinst *const *retired,
                      size_t nretired)
{
    bm_camps_switch(cs, mods);
    for (size_t r = 0; r < nretired; r++) {
        bm_modinst *mi = retired[r];
        bm_adoptions *a = bm_modinst_engine_data(mi);
        for (size_t i = 0; a && i < a->n; i++) {
            bm_camp *c = a->v[i].camp;
            if (c && c->mi == mi) {
                /* Its module is gone from the set: the campaign is not served. */
                c->mi = NULL;
                c->cctx = NULL;
                snprintf(c->refused, sizeof c->refused, "module %s retired", bm_modinst_name(mi));
            }
            a->v[i].camp = NULL;
        }
        for (bm_camp *z = cs->zombies; z; z = z->next_zombie)
            if (z->mi == mi)
                z->mi = NULL; /* its context goes with the retired instance */
    }
    index_rebuild(cs);
}

bm_camp *bm_camps_at(const bm_camps *cs, uint32_t slot)
{
    return slot < cs->nslots ? cs->by_slot[slot] : NULL;
}

bm_camp *bm_camps_pin(bm_camps *cs, const char *id, bm_modinst **mi, void **cctx)
{
    bm_camp *c = bm_camps_find(cs, id);
    if (!c || !c->mi)
        return NULL;
    c->pins++;
    *mi = c->mi;
    *cctx = c->cctx;
    return c;
}

void bm_camps_unpin(bm_camp *c)
{
    c->pins--;
}

void bm_camps_reap(bm_camps *cs)
{
    for (bm_camp **p = &cs->zombies; *p;) {
        bm_camp *z = *p;
        if (z->pins > 0) {
            p = &z->next_zombie;
            continue;
        }
        *p = z->next_zombie;
        camp_free(z);
    }
}

void bm_camps_free(bm_camps *cs, const bm_modset *mods)
{
    (void)mods;
    while (cs->zombies) {
        bm_camp *z = cs->zombies;
        cs->zombies = z->next_zombie;
        camp_free(z);
    }
    /* The process stops: to a module this is its generation retiring. */
    for (size_t s = 0; s < cs->nslots; s++) {
        if (cs->by_slot[s]) {
            cs->by_slot[s]->gone = BM_CAMPAIGN_RETIRED;
            camp_free(cs->by_slot[s]);
        }
    }
    free(cs->by_slot);
    index_free(cs);
    bm_strset_free(&cs->oversize_logged);
    memset(cs, 0, sizeof *cs);
}

/* --- PostgreSQL ------------------------------------------------------------------ */

/* "{id:version,...}" of the campaigns cs serves (an array literal), or NULL on OOM. */
static char *known_versions(const bm_camps *cs)
{
    size_t cap = 8 + (cs ? cs->nslots + cs->oversize_logged.count : 0) * 64 + 80, len = 0;
    char *v = malloc(cap);
    if (!v)
        return NULL;
    v[len++] = '{';
    for (size_t s = 0; cs && s < cs->nslots; s++)
        if (cs->by_slot[s])
            len += (size_t)snprintf(v + len, cap - len, "%s\"%s:%lld\"", len > 1 ? "," : "",
                                    cs->by_slot[s]->row.id, (long long)cs->by_slot[s]->row.version);
    for (size_t i = 0; cs && i < cs->oversize_logged.cap && len + 80 < cap; i++)
        if (cs->oversize_logged.slots[i])
            len += (size_t)snprintf(v + len, cap - len, "%s\"%s\"", len > 1 ? "," : "",
                                    cs->oversize_logged.slots[i]);
    snprintf(v + len, cap - len, "}");
    return v;
}

int bm_camps_fetch(PGconn *pg, const bm_camps *known, const bm_config *lim, bm_camp_row **rows,
                   size_t *n, char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    char *kv = known_versions(known);
    if (!kv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Documents are read only when they can matter: a campaign new to this host or
     * at a new version, and still to be served. The periodic refresh of an
     * unchanged registry reads no document at all, whatever their size. */
    /* A document or name over the bounds (written by anything but bmctl) is
     * never served; once reported, its id:version counts as known, so it is not
     * read again at every refresh. */
    char maxdoc[24], maxname[24];
    snprintf(maxdoc, sizeof maxdoc, "%d", lim ? lim->campaign_max_config_bytes : 0x7fffffff);
    snprintf(maxname, sizeof maxname, "%d", lim ? lim->campaign_max_name_bytes : 0x7fffffff);
    const char *p[3] = {kv, maxdoc, maxname};
    PGresult *r = PQexecParams(
        pg,
        "SELECT c.id::text, g.identifier, c.type, left(c.name, 255), c.status, "
        "CASE WHEN c.id::text || ':' || c.version = ANY($1::text[]) OR c.ended_at IS NOT NULL "
        "OR c.status NOT IN ('active', 'completed', 'cancelled') THEN NULL "
        "WHEN octet_length(c.config::text) > $2::int OR octet_length(c.name) > $3::int "
        "THEN NULL ELSE c.config::text END, "
        "COALESCE((extract(epoch FROM c.start_date) * 1000)::bigint, 0), "
        "COALESCE((extract(epoch FROM c.end_date) * 1000)::bigint, 0), "
        "c.version, c.ended_at IS NOT NULL, "
        "CASE WHEN c.id::text || ':' || c.version = ANY($1::text[]) OR c.ended_at IS NOT NULL "
        "OR c.status NOT IN ('active', 'completed', 'cancelled') THEN false "
        "ELSE octet_length(c.config::text) > $2::int OR octet_length(c.name) > $3::int END "
        "FROM campaigns c JOIN games g ON g.id = c.game_id "
        "ORDER BY c.created_at, c.id",
        3, NULL, p, NULL, NULL, 0);
    free(kv);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "campaigns: %s", PQerrorMessage(pg));
        PQclear(r);
        return -1;
    }
    int nt = PQntuples(r);
    bm_camp_row *v = calloc((size_t)nt + 1, sizeof *v);
    if (!v) {
        PQclear(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < nt; i++) {
        snprintf(v[i].id, sizeof v[i].id, "%s", PQgetvalue(r, i, 0));
        snprintf(v[i].game, sizeof v[i].game, "%s", PQgetvalue(r, i, 1));
        snprintf(v[i].type, sizeof v[i].type, "%s", PQgetvalue(r, i, 2));
        snprintf(v[i].name, sizeof v[i].name, "%s", PQgetvalue(r, i, 3));
        snprintf(v[i].status, sizeof v[i].status, "%s", PQgetvalue(r, i, 4));
        int absent = PQgetisnull(r, i, 5);
        v[i].config = absent ? NULL : strdup(PQgetvalue(r, i, 5));
        v[i].start_ms = strtoll(PQgetvalue(r, i, 6), NULL, 10);
        v[i].end_ms = strtoll(PQgetvalue(r, i, 7), NULL, 10);
        v[i].version = strtoll(PQgetvalue(r, i, 8), NULL, 10);
        v[i].ended = PQgetvalue(r, i, 9)[0] == 't';
        v[i].oversize = PQgetvalue(r, i, 10)[0] == 't';
        if (!absent && !v[i].config) {
            /* Never a campaign without its document: the whole refresh fails. */
            bm_camp_rows_free(v, (size_t)i + 1);
            PQclear(r);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    PQclear(r);
    *rows = v;
    *n = (size_t)nt;
    return 0;
}

void bm_camp_rows_free(bm_camp_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rows[i].config);
    free(rows);
}

/* A date field: absent/null -> 0; RFC 3339 string -> ms; anything else an error. */
static int window_field(json_t *obj, const char *key, const char *path, int64_t *out, char *err,
                        size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || bm_rfc3339_parse(json_string_value(v), out) != 0) {
        snprintf(err, errlen, "%s: must be an RFC 3339 date-time", path);
        return -1;
    }
    return 0;
}

int bm_camp_window(const char *config_json, int64_t *start_ms, int64_t *end_ms, char *err,
                   size_t errlen)
{
    *start_ms = *end_ms = 0;
    json_t *root = json_loads(config_json, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, errlen, "config: must be a JSON object");
        return -1;
    }
    int rc = 0;
    json_t *dr = json_object_get(root, "dateRange");
    if (dr && !json_is_object(dr)) {
        snprintf(err, errlen, "dateRange: must be an object");
        rc = -1;
    } else if (dr) {
        if (!json_is_true(json_object_get(dr, "ongoing")))
            rc = window_field(dr, "start", "dateRange.start", start_ms, err, errlen) ||
                 window_field(dr, "end", "dateRange.end", end_ms, err, errlen);
    } else if (!json_is_true(json_object_get(root, "ongoing"))) {
        rc = window_field(root, "startDate", "startDate", start_ms, err, errlen) ||
             window_field(root, "endDate", "endDate", end_ms, err, errlen);
    }
    if (rc == 0 && *start_ms && *end_ms && *end_ms <= *start_ms) {
        snprintf(err, errlen, "%s: must be after the start", dr ? "dateRange.end" : "endDate");
        rc = -1;
    }
    json_decref(root);
    return rc ? -1 : 0;
}

/* --- one campaign, as the processing thread sees it ----------------------------- */

size_t bm_camps_nslots(const bm_camps *cs)
{
    return cs->nslots;
}

size_t bm_camps_served_by(const bm_camps *cs, const bm_modinst *mi)
{
    size_t n = 0;
    for (size_t s = 0; s < cs->nslots; s++)
        if (cs->by_slot[s] && cs->by_slot[s]->mi == mi)
            n++;
    return n;
}

const char *bm_camp_id(const bm_camp *c)
{
    return c->row.id;
}

const char *bm_camp_game(const bm_camp *c)
{
    return c->row.game;
}

uint32_t bm_camp_slot(const bm_camp *c)
{
    return c->slot;
}

int bm_camp_is(const bm_camp *c, const char *id)
{
    return c->c.id == id || strcmp(c->row.id, id) == 0;
}

int bm_camp_covers(const bm_camp *c, int64_t time_ms)
{
    if (c->c.start_ms && time_ms < c->c.start_ms)
        return 0;
    if (c->c.end_ms && time_ms >= c->c.end_ms)
        return 0;
    return 1;
}

bm_modinst *bm_camp_module(const bm_camp *c)
{
    return c->mi;
}

int64_t bm_camp_version(const bm_camp *c)
{
    return c->row.version;
}

int bm_camp_suspended(const bm_camp *c)
{
    return !c->mi && !c->ending;
}

void bm_camp_note_suspended(bm_camp *c)
{
    c->suspended_events++;
}

json_t *bm_camp_json(const bm_camp *c)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "id", c->row.id, "type", c->row.type, "name",
        c->row.name, "module", c->mi ? bm_modinst_name(c->mi) : "", "events", (json_int_t)c->events,
        "errors", (json_int_t)c->errors, "skipped", (json_int_t)c->skipped, "refused", c->refused);
    if (!o)
        return NULL;
    /* No module: suspended, its game's events counted for a later replay. */
    json_object_set_new(o, "status", json_string(c->mi ? "active" : "suspended"));
    json_object_set_new(o, "suspendedEvents", json_integer((json_int_t)c->suspended_events));
    return o;
}

int bm_camp_call_event(bm_camp *c, bm_batch *b, const bm_event *ev)
{
    int rc = bm_modinst_call_event(c->mi, c->cctx, b, ev, c->row.id);
    c->events++;
    if (rc == BM_SKIP)
        c->skipped++;
    else if (rc < 0)
        c->errors++;
    return rc;
}

int bm_camp_call_tick(bm_camp *c, bm_batch *b, int64_t now_ms)
{
    if (!c->mi)
        return BM_OK;
    int rc = bm_modinst_call_campaign_tick(c->mi, c->cctx, b, now_ms, c->row.id);
    if (rc < 0)
        c->errors++;
    return rc;
}

/* --- its end ---------------------------------------------------------------------- */

int bm_camp_ending(bm_camp *c, int64_t now_ms, int64_t grace_ms)
{
    if (!c->ending && c->c.end_ms && now_ms >= c->c.end_ms + grace_ms)
        c->ending = BM_END_WINDOW;
    return c->ending;
}

const char *bm_camp_end_reason(const bm_camp *c)
{
    return c->ending == BM_END_CANCELLED ? "cancelled"
           : c->ending == BM_END_WINDOW  ? "window"
                                         : "completed";
}

int bm_camp_end_sent(const bm_camp *c)
{
    return c->end_sent;
}

void bm_camp_set_end_sent(bm_camp *c, int sent)
{
    c->end_sent = sent;
}

void bm_camps_ends_unsent(bm_camps *cs)
{
    for (size_t s = 0; s < cs->nslots; s++)
        if (cs->by_slot[s])
            cs->by_slot[s]->end_sent = 0;
}

int bm_camp_call_end(bm_camp *c, bm_batch *b, int64_t now_ms)
{
    if (!c->mi)
        return BM_OK;
    int rc = bm_modinst_call_campaign_end(c->mi, c->cctx, b, c->ending, now_ms, c->row.id);
    if (rc < 0)
        c->errors++;
    return rc;
}
