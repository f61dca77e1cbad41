#include "state/state.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

/* The shared hash over the user id, seeded with the slot; the table grows at 50% load. */
static uint64_t bm_state_key_hash(uint32_t camp_slot, const char *user)
{
    return bm_hash_mix(
        bm_hash_str(BM_HASH_SEED ^ ((uint64_t)camp_slot * 0x9E3779B97F4A7C15ULL), user));
}

void bm_state_cache_init(bm_state_cache *c)
{
    memset(c, 0, sizeof *c);
}

static void entry_free(bm_state_entry *e)
{
    free(e->user);
    free(e->doc);
    free(e);
}

void bm_state_cache_free(bm_state_cache *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].e)
            entry_free(c->slots[i].e);
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static void insert_slot(bm_state_slot *slots, size_t cap, bm_state_entry *e)
{
    size_t i = e->hash & (cap - 1);
    while (slots[i].e)
        i = (i + 1) & (cap - 1);
    slots[i] = (bm_state_slot){e->hash, e};
}

static int grow(bm_state_cache *c)
{
    size_t ncap = c->cap ? c->cap * 2 : 1024;
    bm_state_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].e)
            insert_slot(ns, ncap, c->slots[i].e);
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
    return 0;
}

bm_state_entry *bm_state_cache_find(const bm_state_cache *c, uint32_t camp_slot, const char *user)
{
    if (!c->cap)
        return NULL;
    uint64_t h = bm_state_key_hash(camp_slot, user);
    for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        const bm_state_slot *sl = &c->slots[i];
        if (!sl->e)
            return NULL;
        if (sl->hash == h && sl->e->camp_slot == camp_slot && strcmp(sl->e->user, user) == 0)
            return sl->e;
    }
}

bm_state_entry *bm_state_cache_get(bm_state_cache *c, uint32_t camp_slot, const char *user,
                                   int32_t partition, int *created)
{
    bm_state_entry *e = bm_state_cache_find(c, camp_slot, user);
    if (created)
        *created = 0;
    if (e)
        return e;
    if ((c->count + 1) * 2 > c->cap && grow(c) != 0)
        return NULL;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->user = strdup(user);
    if (!e->user) {
        free(e);
        return NULL;
    }
    e->hash = bm_state_key_hash(camp_slot, user);
    e->camp_slot = camp_slot;
    e->partition = partition;
    insert_slot(c->slots, c->cap, e);
    c->count++;
    if (created)
        *created = 1;
    return e;
}

int bm_state_entry_set_doc(bm_state_entry *e, const char *json)
{
    char *d = NULL;
    if (json && !(d = strdup(json)))
        return -1;
    free(e->doc);
    e->doc = d;
    e->st.doc = d;
    return 0;
}

void bm_state_cache_drop(bm_state_cache *c, int (*drop)(const bm_state_entry *e, void *ud),
                         void *ud)
{
    if (!c->cap)
        return;
    /* No tombstones: rebuild the table from the survivors. */
    bm_state_slot *old = c->slots;
    size_t ocap = c->cap;
    bm_state_slot *ns = calloc(ocap, sizeof *ns);
    if (!ns) {
        /* Out of memory while shrinking: drop everything, which is always correct. */
        drop = NULL;
    }
    c->count = 0;
    for (size_t i = 0; i < ocap; i++) {
        bm_state_entry *e = old[i].e;
        if (!e)
            continue;
        if (!drop || drop(e, ud)) {
            entry_free(e);
        } else {
            insert_slot(ns, ocap, e);
            c->count++;
        }
    }
    free(old);
    c->slots = ns;
    c->cap = ns ? ocap : 0;
}
