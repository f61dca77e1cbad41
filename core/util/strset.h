/* A set of strings (open addressing, grows at 50% load). */
#ifndef BM_STRSET_H
#define BM_STRSET_H

#include <stddef.h>

typedef struct bm_strset {
    char **slots;
    size_t cap, count;
} bm_strset;

void bm_strset_free(bm_strset *s);
/* Nonzero if s holds key. */
int bm_strset_has(const bm_strset *s, const char *key);
/* Adds a copy of key (no-op if present); 0, or -1 on OOM. */
int bm_strset_add(bm_strset *s, const char *key);
/* Forgets every key (keeps the table). */
void bm_strset_clear(bm_strset *s);

#endif
