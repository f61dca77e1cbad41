/* In-memory module harness: see modharness.h for the contract. */
#include "harness/modharness.h"

#include <dlfcn.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign.h"
#include "event/event.h"
#include "host/host.h"

#define HX_MAGIC 0x48584e54u

/* One (campaign, user) row: committed copy plus the batch's working copy. */
typedef struct hx_entry {
    uint32_t magic;
    char *camp, *user;
    bm_state committed;
    char *committed_doc;
    bm_state work; /* what modules get */
    char *work_doc;
    int in_batch;
    int dirty;
    int exists; /* committed at least once */
} hx_entry;

typedef struct hx_camp {
    char *id, *game, *type, *name, *json;
    bm_campaign c;
    bm_routes routes;
    void *cctx;
} hx_camp;

/* The player's level as the engine keeps it (core/level): per (game, user). */
typedef struct hx_level {
    char *game, *user;
    double level;
    int64_t ms;
} hx_level;

typedef struct hx {
    void *dl;
    char path[1024];
    const bm_module *m;
    void *instance;
    bm_host *host;
    bm_host_api api;
    hx_camp **camps;
    size_t ncamps;
    hx_entry **entries;
    size_t nentries;
    harness_msg *msgs, *pending;
    size_t nmsgs, npending;
    harness_grant *grants, *pgrants;
    size_t ngrants, npgrants;
    size_t duplicates;
    int batch_size, batch_events;
    harness_stats stats;
    /* host API 2: claims ("camp\x1fkey") and module_results rows */
    char **claims;
    size_t nclaims;
    harness_result *results;
    size_t nresults;
    hx_level *levels;
    size_t nlevels;
} hx;

static hx g_hx = {.batch_size = 1};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void *grow(void *p, size_t n, size_t size)
{
    /* Arrays grow one element at a time; tests hold a few thousand at most. */
    void *np = realloc(p, (n + 1) * size);
    if (!np) {
        fprintf(stderr, "harness: out of memory\n");
        abort();
    }
    return np;
}

const char *harness_module_path(const char *name)
{
    static char buf[1024];
    const char *dir = getenv("BM_BUILD_DIR");
    snprintf(buf, sizeof buf, "%s/modules/%s.so", dir && *dir ? dir : ".", name);
    return buf;
}

/* --- host API replacements ---------------------------------------------- */

static hx_entry *entry_of(bm_state *st)
{
    hx_entry *e = (hx_entry *)((char *)st - offsetof(hx_entry, work));
    if (e->magic != HX_MAGIC) {
        fprintf(stderr, "harness: state pointer not from state_get\n");
        abort();
    }
    return e;
}

static bm_state *hx_state_get(bm_batch *b, const char *campaign_id, const char *user_id)
{
    (void)b;
    hx_entry *e = NULL;
    for (size_t i = 0; i < g_hx.nentries && !e; i++)
        if (strcmp(g_hx.entries[i]->camp, campaign_id) == 0 &&
            strcmp(g_hx.entries[i]->user, user_id) == 0)
            e = g_hx.entries[i];
    if (!e) {
        e = calloc(1, sizeof *e);
        e->magic = HX_MAGIC;
        e->camp = strdup(campaign_id);
        e->user = strdup(user_id);
        g_hx.entries = grow(g_hx.entries, g_hx.nentries, sizeof *g_hx.entries);
        g_hx.entries[g_hx.nentries++] = e;
    }
    if (!e->in_batch) {
        /* A fresh working copy per batch, like the engine's cache after a reload. */
        free(e->work_doc);
        e->work = e->committed;
        e->work_doc = dup_or_null(e->committed_doc);
        e->work.doc = e->work_doc;
        e->in_batch = 1;
        e->dirty = 0;
    }
    return &e->work;
}

static int hx_state_set_doc(bm_batch *b, bm_state *st, const char *json)
{
    (void)b;
    hx_entry *e = entry_of(st);
    char *d = dup_or_null(json);
    if (json && !d)
        return -1;
    free(e->work_doc);
    e->work_doc = d;
    e->work.doc = d;
    return 0;
}

static int hx_state_put(bm_batch *b, bm_state *st, const char *notify_topic)
{
    (void)b;
    (void)notify_topic;
    entry_of(st)->dirty = 1;
    g_hx.stats.state_puts++;
    return 0;
}

static int hx_emit(bm_batch *b, const char *topic, const char *key, const char *json, int flags)
{
    (void)b;
    if (!topic || !json)
        return -1;
    /* As the engine: invalid JSON is refused at emit. */
    json_t *valid = json_loads(json, JSON_DECODE_ANY, NULL);
    if (!valid)
        return BM_ERROR;
    json_decref(valid);
    if (flags & BM_EMIT_COALESCE) {
        for (size_t i = 0; i < g_hx.npending; i++) {
            harness_msg *m = &g_hx.pending[i];
            if ((m->flags & BM_EMIT_COALESCE) && strcmp(m->topic, topic) == 0 &&
                strcmp(m->key ? m->key : "", key ? key : "") == 0) {
                free(m->topic), free(m->key), free(m->json);
                memmove(m, m + 1, (g_hx.npending - i - 1) * sizeof *m);
                g_hx.npending--;
                break;
            }
        }
    }
    g_hx.pending = grow(g_hx.pending, g_hx.npending, sizeof *g_hx.pending);
    g_hx.pending[g_hx.npending++] =
        (harness_msg){strdup(topic), dup_or_null(key), strdup(json), flags, 0};
    return 0;
}

static int grant_known(const char *idem_key)
{
    for (size_t i = 0; i < g_hx.ngrants; i++)
        if (strcmp(g_hx.grants[i].idem_key, idem_key) == 0)
            return 1;
    for (size_t i = 0; i < g_hx.npgrants; i++)
        if (strcmp(g_hx.pgrants[i].idem_key, idem_key) == 0)
            return 1;
    return 0;
}

static int hx_reward_grant(bm_batch *b, const char *campaign_id, const char *user_id,
                           const char *idem_key, const char *reward_json)
{
    (void)b;
    if (!campaign_id || !user_id || !idem_key || !reward_json)
        return -1;
    /* As the engine: a type that is neither built in nor served by a loaded
     * reward module (the harness loads none) is refused, a second grant of an
     * idempotency key answers BM_SKIP. */
    static const char *const builtin[] = {"webhook", "in_game", "token", "nft"};
    json_t *r = json_loads(reward_json, 0, NULL);
    const char *type = json_string_value(json_object_get(r, "type"));
    int valid = 0;
    for (size_t i = 0; type && i < sizeof builtin / sizeof builtin[0]; i++)
        valid |= strcmp(type, builtin[i]) == 0;
    json_decref(r);
    if (!valid)
        return BM_ERROR;
    if (grant_known(idem_key)) {
        g_hx.duplicates++;
        return BM_SKIP;
    }
    g_hx.pgrants = grow(g_hx.pgrants, g_hx.npgrants, sizeof *g_hx.pgrants);
    g_hx.pgrants[g_hx.npgrants++] = (harness_grant){strdup(campaign_id), strdup(user_id),
                                                    strdup(idem_key), strdup(reward_json), 0};
    return 0;
}

static hx_level *level_find(const char *game, const char *user)
{
    for (size_t i = 0; i < g_hx.nlevels; i++)
        if (strcmp(g_hx.levels[i].game, game) == 0 && strcmp(g_hx.levels[i].user, user) == 0)
            return &g_hx.levels[i];
    return NULL;
}

/* The engine's rule: the level of the latest event by event time (ties: later in stream). */
static void level_observe(const bm_event *ev)
{
    double v;
    if (!bm_event_number_value(json_object_get(ev->data, "level"), &v))
        return;
    hx_level *l = level_find(ev->game_id, ev->user_id);
    if (!l) {
        g_hx.levels = grow(g_hx.levels, g_hx.nlevels, sizeof *g_hx.levels);
        l = &g_hx.levels[g_hx.nlevels++];
        *l = (hx_level){strdup(ev->game_id), strdup(ev->user_id), v, ev->time_ms};
        return;
    }
    if (ev->time_ms >= l->ms) {
        l->level = v;
        l->ms = ev->time_ms;
    }
}

static int hx_player_level(bm_batch *b, const bm_event *ev, double *out)
{
    (void)b;
    const hx_level *l = level_find(ev->game_id, ev->user_id);
    if (!l)
        return -1;
    *out = l->level;
    return 0;
}

static int hx_state_each(bm_batch *b, const char *campaign_id,
                         int (*fn)(void *ud, const char *user_id, bm_state *st), void *ud)
{
    /* Entries are only appended, so indexes stay valid while fn runs. */
    size_t n = g_hx.nentries;
    for (size_t i = 0; i < n; i++) {
        hx_entry *e = g_hx.entries[i];
        if (strcmp(e->camp, campaign_id) != 0 || !e->exists)
            continue;
        if (fn(ud, e->user, hx_state_get(b, e->camp, e->user)) != 0)
            break;
    }
    return 0;
}

static int hx_community_member(bm_batch *b, const char *community_id, const char *user_id)
{
    (void)b;
    (void)community_id;
    (void)user_id;
    return -1;
}

/* --- host API 2: claims, results, standings -------------------------------- */

/* The campaign being called: claims are per campaign, like the engine's. */
static const char *g_cur_camp = "";

static int hx_claim_once(bm_batch *b, const char *work_key)
{
    (void)b;
    if (!work_key || !*work_key)
        return -1;
    size_t n = strlen(g_cur_camp) + strlen(work_key) + 2;
    char *id = malloc(n);
    snprintf(id, n, "%s\x1f%s", g_cur_camp, work_key);
    for (size_t i = 0; i < g_hx.nclaims; i++) {
        if (strcmp(g_hx.claims[i], id) == 0) {
            free(id);
            return 0;
        }
    }
    g_hx.claims = grow(g_hx.claims, g_hx.nclaims, sizeof *g_hx.claims);
    g_hx.claims[g_hx.nclaims++] = id;
    return 1;
}

static int hx_result_put(bm_batch *b, const char *campaign_id, const char *kind, const char *key,
                         const char *doc_json)
{
    (void)b;
    if (!campaign_id || !kind || !*kind || !key || !doc_json)
        return BM_ERROR;
    json_t *doc = json_loads(doc_json, JSON_DECODE_ANY, NULL);
    if (!doc)
        return BM_ERROR; /* as the engine: invalid JSON is refused */
    char *compact = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    for (size_t i = 0; i < g_hx.nresults; i++) {
        harness_result *r = &g_hx.results[i];
        if (!strcmp(r->campaign, campaign_id) && !strcmp(r->kind, kind) && !strcmp(r->key, key)) {
            free(r->doc);
            r->doc = compact;
            return BM_OK;
        }
    }
    g_hx.results = grow(g_hx.results, g_hx.nresults, sizeof *g_hx.results);
    g_hx.results[g_hx.nresults++] =
        (harness_result){strdup(campaign_id), strdup(kind), strdup(key), compact};
    return BM_OK;
}

/* Committed rows of a campaign in rank order: value desc, reached asc, user asc. */
static int standing_cmp(const void *a, const void *b)
{
    const hx_entry *x = *(hx_entry *const *)a, *y = *(hx_entry *const *)b;
    if (x->committed.value != y->committed.value)
        return x->committed.value > y->committed.value ? -1 : 1;
    int64_t rx = x->committed.reached_ms ? x->committed.reached_ms : INT64_MAX;
    int64_t ry = y->committed.reached_ms ? y->committed.reached_ms : INT64_MAX;
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return strcmp(x->user, y->user);
}

static size_t ranked(const char *campaign_id, hx_entry ***out)
{
    hx_entry **v = calloc(g_hx.nentries + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < g_hx.nentries; i++)
        if (g_hx.entries[i]->exists && strcmp(g_hx.entries[i]->camp, campaign_id) == 0)
            v[n++] = g_hx.entries[i];
    qsort(v, n, sizeof *v, standing_cmp);
    *out = v;
    return n;
}

static void fill_standing(const hx_entry *e, size_t rank, bm_standing *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->user_id, sizeof out->user_id, "%s", e->user);
    out->value = e->committed.value;
    out->reached_ms = e->committed.reached_ms;
    out->rank = (int64_t)rank;
}

static int hx_standings_top(bm_batch *b, const char *campaign_id, int limit, bm_standing *out)
{
    (void)b;
    if (!campaign_id || limit < 0)
        return -1;
    hx_entry **v;
    size_t n = ranked(campaign_id, &v);
    int k = 0;
    for (; k < limit && (size_t)k < n; k++)
        fill_standing(v[k], (size_t)k + 1, &out[k]);
    free(v);
    return k;
}

static int hx_standings_rank(bm_batch *b, const char *campaign_id, const char *user_id,
                             bm_standing *out)
{
    (void)b;
    if (!campaign_id || !user_id || !out)
        return -1;
    hx_entry **v;
    size_t n = ranked(campaign_id, &v);
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        if (strcmp(v[i]->user, user_id) == 0) {
            fill_standing(v[i], i + 1, out);
            found = 1;
        }
    free(v);
    return found;
}

const harness_result *harness_result_find(const char *campaign, const char *kind, const char *key)
{
    for (size_t i = 0; i < g_hx.nresults; i++) {
        const harness_result *r = &g_hx.results[i];
        if (!strcmp(r->campaign, campaign) && !strcmp(r->kind, kind) && !strcmp(r->key, key))
            return r;
    }
    return NULL;
}

/* --- module lifecycle ----------------------------------------------------- */

static int open_module(char *err, size_t errlen)
{
    g_hx.dl = dlopen(g_hx.path, RTLD_NOW | RTLD_LOCAL);
    if (!g_hx.dl) {
        snprintf(err, errlen, "dlopen: %s", dlerror());
        return -1;
    }
    bm_module_entry_fn entry = (bm_module_entry_fn)dlsym(g_hx.dl, BM_MODULE_ENTRY_SYMBOL);
    const bm_module *m = entry ? entry() : NULL;
    if (!m || m->magic != BM_MODULE_MAGIC || m->abi_version != BM_ABI_VERSION ||
        m->struct_size != sizeof(bm_module) || m->signature != BM_BUILD_SIGNATURE ||
        m->kind != BM_KIND_CAMPAIGN || !m->init || !m->campaign_add || !m->on_event ||
        !m->destroy) {
        snprintf(err, errlen, "%s: not a campaign module of this ABI", g_hx.path);
        goto fail;
    }
    g_hx.m = m;
    g_hx.host = bm_host_new(m->name, NULL);
    if (m->init(&g_hx.api, g_hx.host, &g_hx.instance, err, errlen) != BM_OK)
        goto fail;
    return 0;
fail:
    bm_host_free(g_hx.host);
    g_hx.host = NULL;
    dlclose(g_hx.dl);
    g_hx.dl = NULL;
    g_hx.m = NULL;
    return -1;
}

static void close_module(void)
{
    if (g_hx.m && g_hx.instance)
        g_hx.m->destroy(g_hx.instance);
    g_hx.instance = NULL;
    bm_host_free(g_hx.host);
    g_hx.host = NULL;
    if (g_hx.dl)
        dlclose(g_hx.dl);
    g_hx.dl = NULL;
    g_hx.m = NULL;
}

int harness_load(const char *so_path, char *err, size_t errlen)
{
    harness_unload();
    g_hx.api = *bm_host_api_get();
    g_hx.api.state_get = hx_state_get;
    g_hx.api.state_set_doc = hx_state_set_doc;
    g_hx.api.state_put = hx_state_put;
    g_hx.api.emit = hx_emit;
    g_hx.api.reward_grant = hx_reward_grant;
    g_hx.api.community_member = hx_community_member;
    g_hx.api.claim_once = hx_claim_once;
    g_hx.api.result_put = hx_result_put;
    g_hx.api.standings_top = hx_standings_top;
    g_hx.api.standings_rank = hx_standings_rank;
    g_hx.api.player_level = hx_player_level;
    g_hx.api.state_each = hx_state_each;
    snprintf(g_hx.path, sizeof g_hx.path, "%s", so_path);
    return open_module(err, errlen);
}

/* campaign_add for an already parsed campaign record. */
static int camp_adopt(hx_camp *hc, char *err, size_t errlen)
{
    memset(&hc->routes, 0, sizeof hc->routes);
    hc->cctx = NULL;
    if (g_hx.m->campaign_add(g_hx.instance, &hc->c, &hc->routes, &hc->cctx, err, errlen) != BM_OK) {
        bm_routes_clear(&hc->routes);
        return -1;
    }
    return 0;
}

static void camp_free(hx_camp *hc)
{
    bm_routes_clear(&hc->routes);
    free(hc->id), free(hc->game), free(hc->type), free(hc->name), free(hc->json);
    free(hc);
}

int harness_add_campaign(const char *campaign_json, char *err, size_t errlen)
{
    if (!g_hx.m) {
        snprintf(err, errlen, "no module loaded");
        return -1;
    }
    json_t *root = json_loads(campaign_json, 0, NULL);
    const char *id = json_string_value(json_object_get(root, "id"));
    if (!id) {
        snprintf(err, errlen, "id: the harness needs a campaign id");
        json_decref(root);
        return -1;
    }
    hx_camp *hc = calloc(1, sizeof *hc);
    hc->id = strdup(id);
    hc->game = dup_or_null(json_string_value(json_object_get(root, "gameId")));
    const char *type = json_string_value(json_object_get(root, "type"));
    const char *name = json_string_value(json_object_get(root, "name"));
    hc->type = strdup(type ? type : g_hx.m->serves);
    hc->name = strdup(name ? name : "");
    hc->json = strdup(campaign_json);
    json_decref(root);
    hc->c = (bm_campaign){.id = hc->id,
                          .game_id = hc->game ? hc->game : "",
                          .type = hc->type,
                          .name = hc->name,
                          .config_json = hc->json,
                          .version = 1};
    if (bm_camp_window(hc->json, &hc->c.start_ms, &hc->c.end_ms, err, errlen) != 0 ||
        camp_adopt(hc, err, errlen) != 0) {
        camp_free(hc);
        return -1;
    }
    g_hx.camps = grow(g_hx.camps, g_hx.ncamps, sizeof *g_hx.camps);
    g_hx.camps[g_hx.ncamps++] = hc;
    return 0;
}

int harness_remove_campaign(const char *id)
{
    for (size_t i = 0; i < g_hx.ncamps; i++) {
        hx_camp *hc = g_hx.camps[i];
        if (strcmp(hc->id, id) != 0)
            continue;
        if (g_hx.m->campaign_remove)
            g_hx.m->campaign_remove(g_hx.instance, hc->cctx);
        camp_free(hc);
        memmove(&g_hx.camps[i], &g_hx.camps[i + 1], (g_hx.ncamps - i - 1) * sizeof *g_hx.camps);
        g_hx.ncamps--;
        return 0;
    }
    return -1;
}

int harness_reload(char *err, size_t errlen)
{
    harness_flush();
    for (size_t i = 0; i < g_hx.ncamps; i++) {
        if (g_hx.m->campaign_remove)
            g_hx.m->campaign_remove(g_hx.instance, g_hx.camps[i]->cctx);
        bm_routes_clear(&g_hx.camps[i]->routes);
    }
    close_module();
    if (open_module(err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < g_hx.ncamps; i++)
        if (camp_adopt(g_hx.camps[i], err, errlen) != 0)
            return -1;
    return 0;
}

void harness_unload(void)
{
    harness_flush();
    while (g_hx.ncamps)
        harness_remove_campaign(g_hx.camps[0]->id);
    free(g_hx.camps);
    close_module();
    for (size_t i = 0; i < g_hx.nentries; i++) {
        hx_entry *e = g_hx.entries[i];
        free(e->camp), free(e->user), free(e->committed_doc), free(e->work_doc), free(e);
    }
    free(g_hx.entries);
    for (size_t i = 0; i < g_hx.nmsgs; i++)
        free(g_hx.msgs[i].topic), free(g_hx.msgs[i].key), free(g_hx.msgs[i].json);
    free(g_hx.msgs);
    free(g_hx.pending);
    for (size_t i = 0; i < g_hx.ngrants; i++) {
        harness_grant *gr = &g_hx.grants[i];
        free(gr->campaign), free(gr->user), free(gr->idem_key), free(gr->reward_json);
    }
    free(g_hx.grants);
    free(g_hx.pgrants);
    for (size_t i = 0; i < g_hx.nclaims; i++)
        free(g_hx.claims[i]);
    free(g_hx.claims);
    for (size_t i = 0; i < g_hx.nresults; i++) {
        harness_result *r = &g_hx.results[i];
        free(r->campaign), free(r->kind), free(r->key), free(r->doc);
    }
    free(g_hx.results);
    for (size_t i = 0; i < g_hx.nlevels; i++)
        free(g_hx.levels[i].game), free(g_hx.levels[i].user);
    free(g_hx.levels);
    memset(&g_hx, 0, sizeof g_hx);
    g_hx.batch_size = 1;
}

/* --- events and batches --------------------------------------------------- */

static int routed(const hx_camp *hc, const char *type)
{
    for (size_t i = 0; i < hc->routes.n; i++)
        if (strcmp(hc->routes.types[i], type) == 0)
            return 1;
    return 0;
}

int harness_event(const char *event_json)
{
    bm_event ev;
    char reason[256];
    if (bm_event_decode(&ev, event_json, strlen(event_json), NULL, reason, sizeof reason) != 0) {
        fprintf(stderr, "harness: event refused: %s\n", reason);
        return -1;
    }
    g_hx.stats.events++;
    level_observe(&ev);
    int command = strncmp(ev.event_type, "bm.", 3) == 0, oks = 0;
    for (size_t i = 0; i < g_hx.ncamps; i++) {
        hx_camp *hc = g_hx.camps[i];
        if ((hc->game && strcmp(hc->game, ev.game_id) != 0) || !routed(hc, ev.event_type))
            continue;
        if (!command && ((hc->c.start_ms && ev.time_ms < hc->c.start_ms) ||
                         (hc->c.end_ms && ev.time_ms >= hc->c.end_ms))) {
            g_hx.stats.out_of_window++;
            continue;
        }
        g_hx.stats.calls++;
        g_cur_camp = hc->id;
        int rc = g_hx.m->on_event(g_hx.instance, hc->cctx, (bm_batch *)&g_hx, &ev);
        g_cur_camp = "";
        if (rc == BM_OK) {
            g_hx.stats.ok++;
            oks++;
        } else if (rc == BM_SKIP) {
            g_hx.stats.skip++;
        } else if (rc == BM_RETRY) {
            g_hx.stats.retry++;
        } else {
            g_hx.stats.error++;
        }
    }
    bm_event_clear(&ev);
    if (++g_hx.batch_events >= g_hx.batch_size)
        harness_flush();
    return oks;
}

void harness_flush(void)
{
    if (!g_hx.batch_events)
        return;
    g_hx.stats.batches++;
    long batch = (long)g_hx.stats.batches;
    for (size_t i = 0; i < g_hx.nentries; i++) {
        hx_entry *e = g_hx.entries[i];
        if (e->in_batch && e->dirty) {
            free(e->committed_doc);
            e->committed = e->work;
            e->committed_doc = e->work_doc;
            e->committed.doc = e->committed_doc;
            e->work_doc = NULL;
            e->exists = 1;
        }
        e->in_batch = e->dirty = 0;
    }
    for (size_t i = 0; i < g_hx.npending; i++) {
        g_hx.msgs = grow(g_hx.msgs, g_hx.nmsgs, sizeof *g_hx.msgs);
        g_hx.pending[i].batch = batch;
        g_hx.msgs[g_hx.nmsgs++] = g_hx.pending[i];
    }
    g_hx.npending = 0;
    for (size_t i = 0; i < g_hx.npgrants; i++) {
        g_hx.grants = grow(g_hx.grants, g_hx.ngrants, sizeof *g_hx.grants);
        g_hx.pgrants[i].batch = batch;
        g_hx.grants[g_hx.ngrants++] = g_hx.pgrants[i];
    }
    g_hx.npgrants = 0;
    g_hx.batch_events = 0;
}

int harness_tick(int64_t now_ms)
{
    harness_flush();
    if (!g_hx.m || !g_hx.m->on_tick)
        return BM_OK;
    /* A tick is a batch of its own in the engine (between event batches). */
    g_hx.batch_events = 1;
    int rc = g_hx.m->on_tick(g_hx.instance, (bm_batch *)&g_hx, now_ms);
    harness_flush();
    return rc;
}

int harness_end_campaign(const char *id, int reason, int64_t now_ms)
{
    harness_flush();
    hx_camp *hc = NULL;
    for (size_t i = 0; i < g_hx.ncamps && !hc; i++)
        if (strcmp(g_hx.camps[i]->id, id) == 0)
            hc = g_hx.camps[i];
    if (!hc || !g_hx.m)
        return BM_ERROR;
    if (g_hx.m->abi_version < 2 || !g_hx.m->on_campaign_end)
        return BM_OK;
    /* The engine's end batch: its own transaction, committed at once. */
    g_hx.batch_events = 1;
    int rc = g_hx.m->on_campaign_end(g_hx.instance, hc->cctx, (bm_batch *)&g_hx, reason, now_ms);
    harness_flush();
    return rc;
}

int harness_campaign_tick(const char *id, int64_t now_ms)
{
    harness_flush();
    hx_camp *hc = NULL;
    for (size_t i = 0; i < g_hx.ncamps && !hc; i++)
        if (strcmp(g_hx.camps[i]->id, id) == 0)
            hc = g_hx.camps[i];
    if (!hc || !g_hx.m)
        return BM_ERROR;
    if (g_hx.m->abi_version < 2 || !g_hx.m->on_campaign_tick)
        return BM_OK;
    /* A tick is a batch of its own in the engine (between event batches). */
    g_hx.batch_events = 1;
    int rc = g_hx.m->on_campaign_tick(g_hx.instance, hc->cctx, (bm_batch *)&g_hx, now_ms);
    harness_flush();
    return rc;
}

void harness_set_batch_size(int n)
{
    harness_flush();
    g_hx.batch_size = n > 0 ? n : 1;
}

void harness_reset_cache(void)
{
    harness_flush();
}

/* --- records ------------------------------------------------------------------ */

const bm_state *harness_state(const char *campaign, const char *user)
{
    for (size_t i = 0; i < g_hx.nentries; i++) {
        hx_entry *e = g_hx.entries[i];
        if (strcmp(e->camp, campaign) == 0 && strcmp(e->user, user) == 0)
            return e->exists ? &e->committed : NULL;
    }
    return NULL;
}

size_t harness_reward_count(void)
{
    return g_hx.ngrants;
}

const harness_grant *harness_reward_at(size_t i)
{
    return i < g_hx.ngrants ? &g_hx.grants[i] : NULL;
}

const harness_grant *harness_reward_find(const char *idem_key)
{
    for (size_t i = 0; i < g_hx.ngrants; i++)
        if (strcmp(g_hx.grants[i].idem_key, idem_key) == 0)
            return &g_hx.grants[i];
    return NULL;
}

size_t harness_reward_duplicates(void)
{
    return g_hx.duplicates;
}

size_t harness_message_count(void)
{
    return g_hx.nmsgs;
}

const harness_msg *harness_message_at(size_t i)
{
    return i < g_hx.nmsgs ? &g_hx.msgs[i] : NULL;
}

size_t harness_message_count_topic(const char *topic)
{
    size_t n = 0;
    for (size_t i = 0; i < g_hx.nmsgs; i++)
        n += strcmp(g_hx.msgs[i].topic, topic) == 0;
    return n;
}

harness_stats harness_stats_get(void)
{
    return g_hx.stats;
}

const bm_host_api *harness_api(void)
{
    return &g_hx.api;
}
