/*
 * Test hook: the template module (sdk/module-template/module.c, its entry
 * compiled as template_real_entry) with one callback broken, chosen at build
 * time. The name stays "example" so a broken build replaces a good one; it
 * serves "tournament", so the test's modules directory (which holds no
 * tournament.so) can create campaigns of a type the product knows.
 */
#include <brightmatter/module.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FAULT_VERSION
#define FAULT_VERSION "1.0.0"
#endif

const bm_module *template_real_entry(void);

static bm_module g_mod;

#ifdef FAULT_INIT_SEGV
/* 0; 16 bytes past it is an unmapped address: storing there is a real SIGSEGV
 * (not a null pointer, which the sanitizer build would report and exit on first). */
static volatile uintptr_t g_nowhere;

static int fault_init(const bm_host_api *api, bm_host *host, void **instance, char *err,
                      size_t errlen)
{
    *(volatile int *)(g_nowhere + 16) = 1;
    return BM_ERROR;
}
#endif

#ifdef FAULT_EVENT_ABORT
static int fault_on_event(void *instance, void *cctx, bm_batch *b, const bm_event *ev)
{
    abort();
}
#endif

#ifdef FAULT_EVENT_LOOP
static int fault_on_event(void *instance, void *cctx, bm_batch *b, const bm_event *ev)
{
    volatile unsigned long spin = 0;
    for (;;) /* never returns: the author blocked the processing thread */
        spin++;
    return BM_OK;
}
#endif

#ifdef FAULT_QUERY_HANG
/* A request mentioning "hang" never gets an answer; any other is answered at once. */
static int fault_query(void *instance, void *cctx, const char *request, char **response)
{
    if (strstr(request, "hang"))
        for (;;) /* never returns: the author blocked the caller's thread */
            sleep(1);
    *response = strdup("{\"answer\":42}");
    return *response ? BM_OK : BM_ERROR;
}
#endif

BM_MODULE_EXPORT const bm_module *bm_module_entry(void);

const bm_module *bm_module_entry(void)
{
    g_mod = *template_real_entry();
    g_mod.version = FAULT_VERSION;
    g_mod.serves = "tournament";
#ifdef FAULT_INIT_SEGV
    g_mod.init = fault_init;
#endif
#if defined(FAULT_EVENT_ABORT) || defined(FAULT_EVENT_LOOP)
    g_mod.on_event = fault_on_event;
#endif
#ifdef FAULT_QUERY_HANG
    g_mod.query = fault_query;
#endif
    return &g_mod;
}
