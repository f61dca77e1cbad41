/*
 * Watchdog and crash recorder for calls into modules.
 *
 * The processing thread marks every call into a module with
 * bm_watchdog_enter/leave (a few stores, no clock read). A watchdog thread
 * samples the mark: a call that stays open past its kind's deadline is
 * treated as a crash of that module. A fatal signal (SIGSEGV, SIGBUS, SIGILL,
 * SIGFPE, SIGABRT) raised inside a marked call is recorded too. Either way
 * one crash record naming the module, generation, file, campaign and callback
 * is written to disk (async-signal-safe), one error line is logged, and the
 * process ends so the master restarts it; the next start quarantines that
 * generation (core/loader/probation.h).
 */
#ifndef BM_WATCHDOG_H
#define BM_WATCHDOG_H

#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

typedef enum bm_wd_kind {
    BM_WD_INIT = 0,
    BM_WD_CAMPAIGN_ADD,
    BM_WD_CAMPAIGN_UPDATE,
    BM_WD_CAMPAIGN_REMOVE,
    BM_WD_EVENT,
    BM_WD_TICK,
    BM_WD_DRAIN,
    BM_WD_DESTROY,
    BM_WD_QUERY,
    BM_WD_REWARD, /* on_reward, on a reward worker (wd_call.h) */
    BM_WD_NKINDS
} bm_wd_kind;

/* The call in progress, as the watchdog thread and the crash handler see it. */
typedef struct bm_wd_call {
    atomic_uint_fast64_t seq; /* bumped by every enter */
    atomic_int active;        /* 1 between enter and leave */
    int kind;
    int generation;
    const char *module;   /* strings owned by the caller, valid during the call */
    const char *file;     /* module file in the modules directory */
    const char *campaign; /* "" when the call is not about one campaign */
} bm_wd_call;

extern bm_wd_call bm_wd_cur;
/* 1 on the thread the watchdog watches (the one that called bm_watchdog_start):
 * calls made from other threads (admin queries, tools) are not marked. */
extern _Thread_local int bm_wd_watched;

/* A call made on a thread other than the watched one (wd_call.h), as the crash
 * handler names it when a fatal signal is raised inside it. */
typedef struct bm_wd_site {
    int kind;
    int generation;
    char module[64];
    char file[1024];
    char campaign[128];
    char subject[64]; /* what the call was about ("fulfillment=12"), "" when nothing */
} bm_wd_site;
extern _Thread_local const bm_wd_site *bm_wd_thread_site;

/* Writes the crash record of `site` with `reason`, and its subject if it has one
 * (wd_call.h: too many calls stuck). */
void bm_watchdog_record_site(const bm_wd_site *site, const char *reason);

/* Name of a callback kind ("on_event"). */
const char *bm_watchdog_kind_name(int kind);

/*
 * Starts the watchdog thread and installs the crash handler. record_path is
 * where a crash record is written; deadlines_ms[kind] is each kind's deadline
 * (0 = none). 0, or -1 with err.
 */
int bm_watchdog_start(const char *record_path, const int deadlines_ms[BM_WD_NKINDS], char *err,
                      size_t errlen);
/* Stops the thread (the crash handler stays). */
void bm_watchdog_stop(void);

/* Marks the start of a call into a module. */
static inline void bm_watchdog_enter(int kind, const char *module, int generation, const char *file,
                                     const char *campaign)
{
    if (!bm_wd_watched)
        return;
    bm_wd_cur.kind = kind;
    bm_wd_cur.module = module;
    bm_wd_cur.generation = generation;
    bm_wd_cur.file = file;
    bm_wd_cur.campaign = campaign ? campaign : "";
    atomic_fetch_add_explicit(&bm_wd_cur.seq, 1, memory_order_relaxed);
    atomic_store_explicit(&bm_wd_cur.active, 1, memory_order_release);
}

/* Marks its end. */
static inline void bm_watchdog_leave(void)
{
    if (!bm_wd_watched)
        return;
    atomic_store_explicit(&bm_wd_cur.active, 0, memory_order_release);
}

/* Reads a crash record written by an earlier process. Fields are "" when absent.
 * 0 when a record was found (and removed), -1 when there is none. */
typedef struct bm_crash_record {
    char module[64];
    char file[1024];
    char callback[32];
    char campaign[128];
    char reason[160];
    int generation;
} bm_crash_record;
int bm_watchdog_take_record(const char *record_path, bm_crash_record *out);

/* The subject of the call on another thread that crashed the last process
 * (bm_wd_site.subject), with the crash's module, file and reason; written
 * next to the crash record, read back (and removed) by whoever handles that
 * subject (the rewards role). 0 when there was one, -1 when not. */
typedef struct bm_crash_subject {
    char subject[64];
    char module[64];
    char file[1024];
    char reason[160];
} bm_crash_subject;
int bm_watchdog_take_subject(bm_crash_subject *out);

#endif
