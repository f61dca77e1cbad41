#include "event/arena.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (4u << 20)
#define MAX_CHUNKS 256

typedef struct chunk {
    char *base;
    size_t used;
} chunk;

/* One arena: only the processing thread decodes events. */
static chunk g_chunks[MAX_CHUNKS];
static int g_nchunks, g_cur;
static _Thread_local int t_active;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int in_arena(const void *p)
{
    for (int i = 0; i < g_nchunks; i++)
        if ((const char *)p >= g_chunks[i].base && (const char *)p < g_chunks[i].base + CHUNK)
            return 1;
    return 0;
}

static void *arena_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n > CHUNK / 4)
        return NULL;
    while (g_cur < g_nchunks && g_chunks[g_cur].used + n > CHUNK)
        g_cur++;
    if (g_cur == g_nchunks) {
        if (g_nchunks == MAX_CHUNKS)
            return NULL;
        char *b = malloc(CHUNK);
        if (!b)
            return NULL;
        g_chunks[g_nchunks++] = (chunk){b, 0};
    }
    void *p = g_chunks[g_cur].base + g_chunks[g_cur].used;
    g_chunks[g_cur].used += n;
    return p;
}

static void *hook_malloc(size_t n)
{
    if (t_active) {
        void *p = arena_alloc(n);
        if (p)
            return p;
    }
    return malloc(n);
}

static void hook_free(void *p)
{
    /* Only the processing thread allocates from the arena, but any thread may free
     * its own jansson values: those are never inside a chunk. */
    if (p && !in_arena(p))
        free(p);
}

static void install(void)
{
    json_set_alloc_funcs(hook_malloc, hook_free);
}

void bm_arena_install(void)
{
    pthread_once(&g_once, install);
}

void bm_arena_begin(void)
{
    bm_arena_install();
    t_active = 1;
}

void bm_arena_end(void)
{
    t_active = 0;
}

void bm_arena_reset(void)
{
    for (int i = 0; i < g_nchunks; i++)
        g_chunks[i].used = 0;
    g_cur = 0;
}
