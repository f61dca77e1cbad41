#include "util/strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

void bm_strset_clear(bm_strset *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        free(s->slots[i]);
        s->slots[i] = NULL;
    }
    s->count = 0;
}

void bm_strset_free(bm_strset *s)
{
    bm_strset_clear(s);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static size_t find(char *const *slots, size_t cap, const char *key)
{
    size_t i = bm_hash_mix(bm_hash_str(BM_HASH_SEED, key)) & (cap - 1);
    while (slots[i] && strcmp(slots[i], key) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

int bm_strset_has(const bm_strset *s, const char *key)
{
    return s->cap && s->slots[find(s->slots, s->cap, key)] != NULL;
}

int bm_strset_add(bm_strset *s, const char *key)
{
    if ((s->count + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        char **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i])
                ns[find(ns, ncap, s->slots[i])] = s->slots[i];
        free(s->slots);
        s->slots = ns;
        s->cap = ncap;
    }
    size_t i = find(s->slots, s->cap, key);
    if (s->slots[i])
        return 0;
    if (!(s->slots[i] = strdup(key)))
        return -1;
    s->count++;
    return 0;
}
