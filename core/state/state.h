/*
 * The host's per-(campaign, user) state cache. Entries are created on first
 * use in a batch, loaded in bulk from user_progress, edited in place by
 * modules, and written back once per batch. The cache is only a copy: on any
 * failed commit or partition revoke the affected entries are dropped and
 * reloaded, so it never needs an undo log.
 */
#ifndef BM_STATE_H
#define BM_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <brightmatter/module.h>

typedef struct bm_state_entry {
    bm_state st; /* first member: modules get &entry->st */
    uint64_t hash;
    char *user;               /* owned */
    char *doc;                /* owned; st.doc points here */
    uint32_t camp_slot;       /* campaign registry slot */
    int32_t partition;        /* partition the user's events come from */
    uint8_t loaded;           /* DB row read (or known absent) */
    uint8_t dirty;            /* written in the current batch */
    const char *notify_topic; /* static string from the module, this batch */
} bm_state_entry;

/* The hash sits next to the pointer so a probe touches an entry only on a match. */
typedef struct bm_state_slot {
    uint64_t hash;
    bm_state_entry *e;
} bm_state_slot;

typedef struct bm_state_cache {
    bm_state_slot *slots; /* open addressing, linear probing, no deletions */
    size_t cap;           /* power of two */
    size_t count;
} bm_state_cache;

void bm_state_cache_init(bm_state_cache *c);
void bm_state_cache_free(bm_state_cache *c);

/* The entry for (slot, user); created zeroed (loaded=0) if absent. NULL on OOM. */
bm_state_entry *bm_state_cache_get(bm_state_cache *c, uint32_t camp_slot, const char *user,
                                   int32_t partition, int *created);

/* Existing entry or NULL. */
bm_state_entry *bm_state_cache_find(const bm_state_cache *c, uint32_t camp_slot, const char *user);

/* Replaces the document of an entry (copied; NULL clears). 0 or -1 on OOM. */
int bm_state_entry_set_doc(bm_state_entry *e, const char *json);

/* Drops entries for which `drop(entry, ud)` is nonzero (all if drop is NULL). */
void bm_state_cache_drop(bm_state_cache *c, int (*drop)(const bm_state_entry *e, void *ud),
                         void *ud);

#endif
