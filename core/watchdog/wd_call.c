/*
 * Deadline calls on helper threads (wd_call.h). A helper thread is reused
 * call after call while its calls return in time, so a reward worker does not
 * create a thread per delivery; only an abandoned helper is replaced.
 */
#include "watchdog/wd_call.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "supervisor/supervisor.h"

typedef struct helper {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    pthread_t th;
    int pending, done, quit, orphan;
    void (*fn)(void *);
    void (*release)(void *);
    void *arg;
    bm_wd_site site;
} helper;

struct bm_wd_caller {
    helper *h;
};

static atomic_int g_stuck;
static atomic_int g_max_stuck = 8;
static _Atomic uint64_t g_timeouts[BM_WD_NKINDS];

void bm_wd_set_max_stuck(int n)
{
    atomic_store(&g_max_stuck, n);
}

uint64_t bm_wd_timeouts(int kind)
{
    return kind >= 0 && kind < BM_WD_NKINDS ? atomic_load(&g_timeouts[kind]) : 0;
}

int bm_wd_stuck(void)
{
    return atomic_load(&g_stuck);
}

void bm_wd_site_set(bm_wd_site *s, int kind, const char *module, int generation, const char *file,
                    const char *campaign)
{
    s->kind = kind;
    s->generation = generation;
    snprintf(s->module, sizeof s->module, "%s", module ? module : "");
    snprintf(s->file, sizeof s->file, "%s", file ? file : "");
    snprintf(s->campaign, sizeof s->campaign, "%s", campaign ? campaign : "");
    s->subject[0] = '\0';
}

static void helper_free(helper *h)
{
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

static void *helper_main(void *p)
{
    helper *h = p;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->pending && !h->quit)
            pthread_cond_wait(&h->cv, &h->mu);
        if (!h->pending)
            break;
        pthread_mutex_unlock(&h->mu);
        bm_wd_thread_site = &h->site;
        h->fn(h->arg);
        bm_wd_thread_site = NULL;
        pthread_mutex_lock(&h->mu);
        h->pending = 0;
        h->done = 1;
        if (h->orphan) {
            pthread_mutex_unlock(&h->mu);
            bm_warn("watchdog",
                    "module=%s campaign=%s callback=%s file=%s returned after it was abandoned",
                    h->site.module, h->site.campaign[0] ? h->site.campaign : "-",
                    bm_watchdog_kind_name(h->site.kind), h->site.file);
            if (h->release)
                h->release(h->arg);
            atomic_fetch_sub(&g_stuck, 1);
            helper_free(h);
            return NULL;
        }
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static helper *helper_new(void)
{
    helper *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&h->th, NULL, helper_main, h) != 0) {
        helper_free(h);
        return NULL;
    }
    return h;
}

bm_wd_caller *bm_wd_caller_new(void)
{
    return calloc(1, sizeof(bm_wd_caller));
}

void bm_wd_caller_free(bm_wd_caller *c)
{
    if (!c)
        return;
    helper *h = c->h;
    if (h) {
        pthread_mutex_lock(&h->mu);
        h->quit = 1;
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->th, NULL);
        helper_free(h);
    }
    free(c);
}

/* The call overran: log it, count it, and end the worker past the cap. */
static void abandoned(const bm_wd_site *s, int deadline_ms)
{
    int stuck = atomic_fetch_add(&g_stuck, 1) + 1;
    atomic_fetch_add(&g_timeouts[s->kind], 1);
    bm_error("watchdog",
             "module=%s campaign=%s callback=%s generation=%d file=%s ran past its deadline of "
             "%d ms; the call is abandoned on its thread (stuck=%d)",
             s->module, s->campaign[0] ? s->campaign : "-", bm_watchdog_kind_name(s->kind),
             s->generation, s->file, deadline_ms, stuck);
    int cap = atomic_load(&g_max_stuck);
    if (cap > 0 && stuck > cap) {
        char why[160];
        snprintf(why, sizeof why, "watchdog: %d calls stuck past their deadline (max_stuck=%d)",
                 stuck, cap);
        bm_watchdog_record_site(s, why);
        bm_error("watchdog",
                 "%s; the worker restarts and quarantines module=%s generation=%d file=%s", why,
                 s->module, s->generation, s->file);
        _exit(BM_EXIT_RESTART);
    }
}

int bm_wd_caller_run(bm_wd_caller *c, const bm_wd_site *site, int deadline_ms, void (*fn)(void *),
                     void (*release)(void *), void *arg)
{
    if (!c->h && !(c->h = helper_new()))
        return -1;
    helper *h = c->h;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += deadline_ms / 1000;
    until.tv_nsec += (long)(deadline_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->mu);
    h->fn = fn;
    h->release = release;
    h->arg = arg;
    h->site = *site;
    h->done = 0;
    h->pending = 1;
    pthread_cond_broadcast(&h->cv);
    int rc = 0;
    while (!h->done && rc != ETIMEDOUT)
        rc = deadline_ms > 0 ? pthread_cond_timedwait(&h->cv, &h->mu, &until)
                             : pthread_cond_wait(&h->cv, &h->mu);
    if (h->done) {
        pthread_mutex_unlock(&h->mu);
        return 0;
    }
    /* From here the helper owns itself: it may end and free h at any moment. */
    h->orphan = 1;
    pthread_t th = h->th;
    pthread_mutex_unlock(&h->mu);
    pthread_detach(th);
    c->h = NULL;
    abandoned(site, deadline_ms);
    return 1;
}
