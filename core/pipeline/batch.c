/* The batch as modules see it: the host-API state, outbox and reward calls. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "log/log.h"
#include "util/hash.h"
#include "pipeline/batch_internal.h"

void bm_batch_init(bm_batch *b, bm_pipeline *e)
{
    memset(b, 0, sizeof *b);
    b->e = e;
    b->cur_partition = -1;
}

static void grant_free(bm_grant *g)
{
    free(g->campaign);
    free(g->user);
    free(g->idem);
    free(g->json);
}

void bm_batch_reset(bm_batch *b)
{
    for (size_t i = 0; i < b->ndirty; i++) {
        b->dirty[i]->dirty = 0;
        b->dirty[i]->notify_topic = NULL;
    }
    b->ndirty = 0;
    for (size_t i = 0; i < b->nout; i++) {
        bm_buf_reset(&b->out[i].lines);
        b->out[i].count = 0;
    }
    for (size_t i = 0; i < b->nco; i++) {
        free(b->co[i].topic);
        free(b->co[i].key);
        free(b->co[i].json);
    }
    b->nco = 0;
    if (b->co_index)
        memset(b->co_index, 0, b->co_index_cap * sizeof *b->co_index);
    for (size_t i = 0; i < b->ngrants; i++)
        grant_free(&b->grants[i]);
    b->ngrants = 0;
    bm_batch_reset_v2(b);
    b->failed = 0;
    b->cur_camp = NULL;
    b->cur_partition = -1;
}

void bm_batch_free(bm_batch *b)
{
    bm_batch_reset(b);
    free(b->dirty);
    for (size_t i = 0; i < b->nout; i++)
        bm_buf_free(&b->out[i].lines);
    free(b->out);
    free(b->co);
    free(b->co_index);
    free(b->grants);
    free(b->claims);
    free(b->results);
    free(b->members);
    free(b->ends);
    bm_arena_destroy(b->scratch);
    memset(b, 0, sizeof *b);
}

int bm_batch_grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *nv = realloc(*v, ncap * size);
    if (!nv)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* --- state ----------------------------------------------------------------- */

/* Name of the module being called, or `none`. */
static const char *cur_module(const bm_batch *b, const char *none)
{
    return b->cur_mi ? bm_modinst_name(b->cur_mi) : none;
}

static bm_camp *camp_of(bm_batch *b, const char *campaign_id)
{
    /* The campaign being dispatched to settles the common case without a lookup. */
    if (b->cur_camp && bm_camp_is(b->cur_camp, campaign_id))
        return b->cur_camp;
    return bm_camps_find(b->e->camps, campaign_id);
}

/* Handed out for an unknown campaign or on OOM: writes to it are dropped. */
static _Thread_local bm_state_entry g_scratch;

static bm_state *scratch(void)
{
    memset(&g_scratch, 0, sizeof g_scratch);
    return &g_scratch.st;
}

bm_state *bm_batch_state_get(bm_batch *b, const char *campaign_id, const char *user_id)
{
    bm_camp *c = camp_of(b, campaign_id);
    if (!c)
        return scratch();
    bm_state_entry *e =
        bm_state_cache_get(&b->e->cache, bm_camp_slot(c), user_id, b->cur_partition, NULL);
    if (b->cur_partition < 0)
        b->e->tick_state = 1; /* dropped after the batch: no partition fences it */
    if (!e) {
        b->failed = 1;
        return scratch();
    }
    if (!e->loaded) {
        /* Not preloaded (a module reading another campaign's state, e.g. a quest
         * prerequisite): one synchronous read. */
        char err[256];
        if (bm_batch_load_states(b->e, &e, 1, err, sizeof err) != 0) {
            bm_error("pipeline", "state load failed: %s", err);
            b->failed = 1;
        }
    }
    return &e->st;
}

int bm_batch_state_set_doc(bm_batch *b, bm_state *st, const char *json)
{
    bm_state_entry *e = (bm_state_entry *)st;
    if (e == &g_scratch)
        return BM_ERROR;
    if (bm_state_entry_set_doc(e, json) != 0) {
        b->failed = 1;
        return BM_ERROR;
    }
    return BM_OK;
}

int bm_batch_state_put(bm_batch *b, bm_state *st, const char *notify_topic)
{
    bm_state_entry *e = (bm_state_entry *)st;
    if (e == &g_scratch)
        return BM_ERROR;
    if (!e->dirty) {
        if (bm_batch_grow((void **)&b->dirty, &b->capdirty, b->ndirty, sizeof *b->dirty) != 0) {
            b->failed = 1;
            return BM_ERROR;
        }
        e->dirty = 1;
        b->dirty[b->ndirty++] = e;
    }
    if (notify_topic)
        e->notify_topic = notify_topic;
    return BM_OK;
}

/* --- outbox ------------------------------------------------------------------ */

static bm_outtopic *topic_buf(bm_batch *b, const char *topic)
{
    for (size_t i = 0; i < b->nout; i++)
        if (strcmp(b->out[i].topic, topic) == 0)
            return &b->out[i];
    if (strlen(topic) >= sizeof b->out[0].topic ||
        bm_batch_grow((void **)&b->out, &b->capout, b->nout, sizeof *b->out) != 0)
        return NULL;
    bm_outtopic *t = &b->out[b->nout++];
    memset(t, 0, sizeof *t);
    snprintf(t->topic, sizeof t->topic, "%s", topic);
    return t;
}

void bm_batch_out(bm_batch *b, const char *topic, const char *key, const char *json, size_t jlen)
{
    bm_outtopic *t = topic_buf(b, topic);
    if (!t) {
        b->failed = 1;
        return;
    }
    /* Line format: key (COPY-style escaped, so no tab or newline) TAB json. */
    bm_buf_copy_str(&t->lines, key ? key : "");
    bm_buf_append(&t->lines, "\t", 1);
    bm_buf_append(&t->lines, json, jlen);
    bm_buf_append(&t->lines, "\n", 1);
    t->count++;
    if (t->lines.oom)
        b->failed = 1;
}

static uint64_t co_hash(const char *topic, const char *key)
{
    return bm_hash_mix(bm_hash_pair(topic, key));
}

static int co_index_grow(bm_batch *b)
{
    size_t ncap = b->co_index_cap ? b->co_index_cap * 2 : 256;
    size_t *ni = calloc(ncap, sizeof *ni);
    if (!ni)
        return -1;
    for (size_t i = 0; i < b->nco; i++) {
        size_t j = b->co[i].hash & (ncap - 1);
        while (ni[j])
            j = (j + 1) & (ncap - 1);
        ni[j] = i + 1;
    }
    free(b->co_index);
    b->co_index = ni;
    b->co_index_cap = ncap;
    return 0;
}

static int emit_coalesced(bm_batch *b, const char *topic, const char *key, const char *json)
{
    if ((b->nco + 1) * 2 > b->co_index_cap && co_index_grow(b) != 0)
        return -1;
    uint64_t h = co_hash(topic, key);
    size_t j = h & (b->co_index_cap - 1);
    for (; b->co_index[j]; j = (j + 1) & (b->co_index_cap - 1)) {
        bm_coalesced *c = &b->co[b->co_index[j] - 1];
        if (c->hash == h && strcmp(c->topic, topic) == 0 && strcmp(c->key, key) == 0) {
            if (strcmp(c->json, json) == 0)
                return 0;
            char *nj = strdup(json);
            if (!nj)
                return -1;
            free(c->json);
            c->json = nj;
            return 0;
        }
    }
    if (bm_batch_grow((void **)&b->co, &b->capco, b->nco, sizeof *b->co) != 0)
        return -1;
    bm_coalesced *c = &b->co[b->nco];
    c->hash = h;
    c->topic = strdup(topic);
    c->key = strdup(key);
    c->json = strdup(json);
    if (!c->topic || !c->key || !c->json) {
        free(c->topic);
        free(c->key);
        free(c->json);
        return -1;
    }
    b->nco++;
    b->co_index[j] = b->nco;
    return 0;
}

/*
 * The outbox holds one message per line ("key<TAB>json"), so a message must
 * be one line of valid JSON. Whitespace outside strings is the only place a
 * raw newline, CR or tab can be in valid JSON (inside strings they must be
 * escaped): such a message is re-serialised compactly, every other valid
 * message goes out byte for byte. Invalid JSON is refused here, where the
 * module sees the error, instead of being split or dropped by the relay.
 */
static char *emit_text(bm_batch *b, const char *topic, const char *json, int *rewritten)
{
    *rewritten = 0;
    json_error_t jerr;
    /* The parse only checks the text: its blocks come from a scratch arena
     * (no malloc/free per value) that is reset as soon as it is dropped. */
    if (!b->scratch)
        b->scratch = bm_arena_new();
    bm_arena *prev = bm_arena_swap(b->scratch);
    json_t *v = json_loads(json, JSON_DECODE_ANY, &jerr);
    bm_arena_swap(prev);
    if (!v) {
        bm_arena_reset(b->scratch);
        bm_warn("pipeline",
                "module=%s topic=%s emit refused: invalid JSON at line %d column %d: %s",
                cur_module(b, "?"), topic, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    char *out = (char *)json;
    if (strpbrk(json, "\n\r\t")) {
        out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        *rewritten = 1;
        if (!out)
            b->failed = 1;
    }
    json_decref(v);
    bm_arena_reset(b->scratch);
    return out;
}

/* The same text already coalesced for (topic, key): nothing to parse or store.
 * Boards emit their refresh notice per event; this keeps that path cheap. */
static int coalesced_same(const bm_batch *b, const char *topic, const char *key, const char *json)
{
    if (!b->co_index_cap)
        return 0;
    uint64_t h = co_hash(topic, key);
    for (size_t j = h & (b->co_index_cap - 1); b->co_index[j];
         j = (j + 1) & (b->co_index_cap - 1)) {
        const bm_coalesced *c = &b->co[b->co_index[j] - 1];
        if (c->hash == h && strcmp(c->topic, topic) == 0 && strcmp(c->key, key) == 0)
            return strcmp(c->json, json) == 0;
    }
    return 0;
}

int bm_batch_emit(bm_batch *b, const char *topic, const char *key, const char *json, int flags)
{
    if (!topic || !*topic || !json)
        return BM_ERROR;
    /* Only the engine writes the events topic (events forwarded to their owner,
     * commands among them signed again by the relay): never a module. */
    if (strcmp(topic, b->e->cfg.events_topic) == 0) {
        bm_warn("pipeline", "module=%s emit refused: topic %s is the engine's", cur_module(b, "-"),
                topic);
        return BM_ERROR;
    }
    if ((flags & BM_EMIT_COALESCE) && coalesced_same(b, topic, key ? key : "", json))
        return BM_OK;
    int rewritten;
    char *text = emit_text(b, topic, json, &rewritten);
    if (!text)
        return BM_ERROR;
    int rc = BM_OK;
    if (flags & BM_EMIT_COALESCE) {
        if (emit_coalesced(b, topic, key ? key : "", text) != 0) {
            b->failed = 1;
            rc = BM_ERROR;
        }
    } else {
        bm_batch_out(b, topic, key, text, strlen(text));
        rc = b->failed ? BM_ERROR : BM_OK;
    }
    if (rewritten)
        free(text);
    return rc;
}

/* State notifications: one message per (campaign, user) touched in the batch. */
static void notify_states(bm_batch *b)
{
    bm_buf j = {0};
    char ts[40];
    for (size_t i = 0; i < b->ndirty; i++) {
        bm_state_entry *e = b->dirty[i];
        if (!e->notify_topic)
            continue;
        bm_camp *c = bm_camps_at(b->e->camps, e->camp_slot);
        if (!c)
            continue;
        bm_buf_reset(&j);
        bm_buf_puts(&j, "{\"campaignId\":");
        bm_buf_json_str(&j, bm_camp_id(c));
        bm_buf_puts(&j, ",\"userId\":");
        bm_buf_json_str(&j, e->user);
        bm_buf_puts(&j, ",\"value\":");
        bm_buf_double(&j, e->st.value);
        bm_buf_puts(&j, ",\"count\":");
        bm_buf_i64(&j, e->st.count);
        bm_buf_puts(&j, ",\"completed\":");
        bm_buf_i64(&j, e->st.completed);
        bm_rfc3339_format(e->st.reached_ms, ts, sizeof ts);
        bm_buf_puts(&j, ",\"reachedAt\":");
        bm_buf_json_str(&j, ts);
        bm_buf_puts(&j, "}");
        bm_batch_out(b, e->notify_topic, e->user, j.p, j.len);
    }
    bm_buf_free(&j);
}

void bm_batch_finish(bm_batch *b)
{
    notify_states(b);
    for (size_t i = 0; i < b->nco; i++)
        bm_batch_out(b, b->co[i].topic, b->co[i].key, b->co[i].json, strlen(b->co[i].json));
}

/* --- rewards ------------------------------------------------------------------- */

static const char *const g_builtin_rewards[] = {"webhook", "in_game", "token", "nft"};

int bm_reward_type_known(const bm_modset *mods, const char *type)
{
    if (!type || strlen(type) >= sizeof(((bm_grant *)0)->type))
        return 0;
    for (size_t i = 0; i < sizeof g_builtin_rewards / sizeof g_builtin_rewards[0]; i++)
        if (strcmp(type, g_builtin_rewards[i]) == 0)
            return 1;
    return bm_modset_find_serves(mods, BM_KIND_REWARD, type) != NULL;
}

int bm_batch_reward_grant(bm_batch *b, const char *campaign_id, const char *user_id,
                          const char *idem_key, const char *reward_json)
{
    if (!campaign_id || !user_id || !idem_key || !*idem_key || !reward_json)
        return BM_ERROR;
    /* Refuse here what the commit would refuse: a bad grant must cost one
     * event, not wedge the whole batch. Reward types are open: the four
     * built-in ones, or any a loaded reward module serves. */
    json_t *r = json_loads(reward_json, 0, NULL);
    const char *type = json_string_value(json_object_get(r, "type"));
    bm_grant g = {0};
    int ok = type && bm_reward_type_known(bm_loader_current(b->e->loader), type);
    if (ok)
        snprintf(g.type, sizeof g.type, "%s", type);
    else
        bm_warn("pipeline",
                "campaign=%s reward refused: type %s%s%s is neither built in "
                "(webhook, in_game, token, nft) nor served by a loaded reward module",
                campaign_id, type ? "'" : "", type ? type : "missing", type ? "'" : "");
    json_decref(r);
    if (!ok)
        return BM_ERROR;
    for (size_t i = 0; i < b->ngrants; i++)
        if (strcmp(b->grants[i].idem, idem_key) == 0)
            return BM_SKIP;
    if (bm_batch_grow((void **)&b->grants, &b->capgrants, b->ngrants, sizeof *b->grants) != 0)
        goto oom;
    g.campaign = strdup(campaign_id);
    g.user = strdup(user_id);
    g.idem = strdup(idem_key);
    g.json = strdup(reward_json);
    if (!g.campaign || !g.user || !g.idem || !g.json) {
        grant_free(&g);
        goto oom;
    }
    b->grants[b->ngrants++] = g;
    return BM_OK;
oom:
    b->failed = 1;
    return BM_ERROR;
}
