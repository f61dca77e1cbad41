/*
 * The one in-memory hash of the host: FNV-1a 64 over strings, with a
 * murmur3 finalizer where the low bits index a table. Event dedup hashes are
 * stored in event_dedup, so bm_hash_pair + bm_hash_mix must never change.
 */
#ifndef BM_HASH_H
#define BM_HASH_H

#include <stdint.h>

#define BM_HASH_SEED 1469598103934665603ULL

/* Continues an FNV-1a 64 hash over the bytes of s. */
static inline uint64_t bm_hash_str(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* FNV-1a of a, a 0x1f separator, then b: ("ab","c") and ("a","bc") differ. */
static inline uint64_t bm_hash_pair(const char *a, const char *b)
{
    uint64_t h = bm_hash_str(BM_HASH_SEED, a);
    h = (h ^ 0x1f) * 1099511628211ULL;
    return bm_hash_str(h, b);
}

/* murmur3's 64-bit finalizer: every input bit reaches the low bits. */
static inline uint64_t bm_hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

#endif
