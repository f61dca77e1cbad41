#include "event/arena.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (4u << 20)
#define MAX_CHUNKS 1024 /* every arena together: 4 GiB */
#define ARENA_CHUNKS 256

/* Every chunk ever allocated, in an open-addressing set that only grows:
 * chunks are CHUNK-aligned, so a pointer's chunk is its address rounded down,
 * and a free on any thread finds it (or an empty slot) in a probe or two
 * without a lock. Slots are written under g_pool_lock, read atomically. */
#define SET_SLOTS (2 * MAX_CHUNKS)
static _Atomic(uintptr_t) g_chunk_set[SET_SLOTS];
static int g_nchunks; /* under g_pool_lock */
/* Chunks of destroyed arenas, for the next arena. */
static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_pool[MAX_CHUNKS];
static int g_npool;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Thread_local bm_arena *t_arena;

struct bm_arena {
    char *chunks[ARENA_CHUNKS];
    size_t used[ARENA_CHUNKS];
    int n, cur;
};

static size_t set_slot(uintptr_t base)
{
    return (size_t)((base / CHUNK) * 0x9E3779B97F4A7C15ull >> 32) & (SET_SLOTS - 1);
}

int bm_arena_owns(const void *p)
{
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)(CHUNK - 1);
    for (size_t i = set_slot(base);; i = (i + 1) & (SET_SLOTS - 1)) {
        uintptr_t v = atomic_load_explicit(&g_chunk_set[i], memory_order_acquire);
        if (v == base)
            return 1;
        if (v == 0)
            return 0;
    }
}

/* A chunk from the pool, or a new one registered in the table. */
static char *chunk_get(void)
{
    char *b = NULL;
    pthread_mutex_lock(&g_pool_lock);
    if (g_npool > 0) {
        b = g_pool[--g_npool];
    } else {
        if (g_nchunks < MAX_CHUNKS && (b = aligned_alloc(CHUNK, CHUNK)) != NULL) {
            uintptr_t base = (uintptr_t)b;
            size_t i = set_slot(base);
            while (atomic_load_explicit(&g_chunk_set[i], memory_order_relaxed))
                i = (i + 1) & (SET_SLOTS - 1);
            atomic_store_explicit(&g_chunk_set[i], base, memory_order_release);
            g_nchunks++;
        }
    }
    pthread_mutex_unlock(&g_pool_lock);
    return b;
}

static void *arena_alloc(bm_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n > CHUNK / 4)
        return NULL;
    while (a->cur < a->n && a->used[a->cur] + n > CHUNK)
        a->cur++;
    if (a->cur == a->n) {
        if (a->n == ARENA_CHUNKS)
            return NULL;
        char *b = chunk_get();
        if (!b)
            return NULL;
        a->chunks[a->n] = b;
        a->used[a->n++] = 0;
    }
    void *p = a->chunks[a->cur] + a->used[a->cur];
    a->used[a->cur] += n;
    return p;
}

static void *hook_malloc(size_t n)
{
    if (t_arena) {
        void *p = arena_alloc(t_arena, n);
        if (p)
            return p;
    }
    return malloc(n);
}

static void hook_free(void *p)
{
    /* Any thread may free its own jansson values: those are never inside a chunk. */
    if (p && !bm_arena_owns(p))
        free(p);
}

static void install(void)
{
    json_set_alloc_funcs(hook_malloc, hook_free);
}

bm_arena *bm_arena_new(void)
{
    pthread_once(&g_once, install);
    return calloc(1, sizeof(bm_arena));
}

void bm_arena_destroy(bm_arena *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&g_pool_lock);
    for (int i = 0; i < a->n; i++)
        g_pool[g_npool++] = a->chunks[i];
    pthread_mutex_unlock(&g_pool_lock);
    free(a);
}

void bm_arena_begin(bm_arena *a)
{
    t_arena = a;
}

void bm_arena_end(void)
{
    t_arena = NULL;
}

bm_arena *bm_arena_swap(bm_arena *a)
{
    bm_arena *prev = t_arena;
    t_arena = a;
    return prev;
}

void bm_arena_reset(bm_arena *a)
{
    if (!a)
        return;
    memset(a->used, 0, sizeof a->used);
    a->cur = 0;
}
