/*
 * Calls into modules from threads other than the processing thread (reward
 * workers' on_reward, the admin socket's query) under a deadline.
 *
 * The call runs on a helper thread owned by a bm_wd_caller; the caller waits
 * at most the deadline. When the call overruns, the caller gets control back
 * (so it can answer its client or record its reward) and the helper thread
 * is abandoned: it runs on, detached, and when the module ever returns it
 * calls `release` and ends. One error line names the module, campaign,
 * callback and file. A thread stuck in a module cannot be stopped safely, so
 * abandoned calls are counted; past watchdog.max_stuck of them still running,
 * the worker writes a crash record naming the last one and exits, and the
 * master restarts it into the quarantine of that generation. A fatal signal
 * inside such a call is recorded the same way (bm_wd_thread_site).
 */
#ifndef BM_WD_CALL_H
#define BM_WD_CALL_H

#include <stdint.h>

#include "watchdog/watchdog.h"

typedef struct bm_wd_caller bm_wd_caller;

/* A caller for one thread's calls (not shared between threads); NULL when out of memory. */
bm_wd_caller *bm_wd_caller_new(void);
/* Ends its idle helper thread; an abandoned one runs on alone. NULL is a no-op. */
void bm_wd_caller_free(bm_wd_caller *c);

/*
 * Runs fn(arg) on c's helper thread under deadline_ms (0: no deadline), the
 * call described by `site` (copied). 0: fn returned. 1: it overran and was
 * abandoned; release(arg) runs on the helper thread once fn returns, if ever,
 * so arg must stay valid until then. -1: no thread could be started (fn was
 * not called).
 */
int bm_wd_caller_run(bm_wd_caller *c, const bm_wd_site *site, int deadline_ms, void (*fn)(void *),
                     void (*release)(void *), void *arg);

/* Fills a site from a module's name, generation and file, and a campaign (NULL: none). */
void bm_wd_site_set(bm_wd_site *s, int kind, const char *module, int generation, const char *file,
                    const char *campaign);

/* Abandoned calls still running past watchdog.max_stuck end the worker (set at start). */
void bm_wd_set_max_stuck(int n);

/* Counters for /metrics and bmctl: calls abandoned per kind since start, and still running. */
uint64_t bm_wd_timeouts(int kind);
int bm_wd_stuck(void);

#endif
