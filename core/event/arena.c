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

/* Every chunk ever allocated, append-only: readers on any thread see a prefix. */
static char *g_chunk_base[MAX_CHUNKS];
static atomic_int g_nchunks;
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

int bm_arena_owns(const void *p)
{
    int n = atomic_load_explicit(&g_nchunks, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if ((const char *)p >= g_chunk_base[i] && (const char *)p < g_chunk_base[i] + CHUNK)
            return 1;
    return 0;
}

/* A chunk from the pool, or a new one registered in the table. */
static char *chunk_get(void)
{
    char *b = NULL;
    pthread_mutex_lock(&g_pool_lock);
    if (g_npool > 0) {
        b = g_pool[--g_npool];
    } else {
        int n = atomic_load(&g_nchunks);
        if (n < MAX_CHUNKS && (b = malloc(CHUNK)) != NULL) {
            g_chunk_base[n] = b;
            atomic_store_explicit(&g_nchunks, n + 1, memory_order_release);
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

void bm_arena_reset(bm_arena *a)
{
    if (!a)
        return;
    memset(a->used, 0, sizeof a->used);
    a->cur = 0;
}
