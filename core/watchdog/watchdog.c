/*
 * The watchdog thread and the crash handler. Both end the process: a thread
 * stuck in a module cannot be stopped safely (it may hold the allocator's
 * lock, half-written state, a libpq connection mid-protocol), so the worker
 * is restarted instead and the batch in flight, never committed, is read
 * again on the rollback generation.
 */
#include "watchdog/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "supervisor/supervisor.h"

#define BM_WD_PERIOD_MS 20
#define BM_WD_ALTSTACK (64 * 1024)

bm_wd_call bm_wd_cur;
_Thread_local int bm_wd_watched;
_Thread_local const bm_wd_site *bm_wd_thread_site;

static char g_path[1024];
static char g_tmp[1100];
static char g_subj[1100]; /* <record>.subject */
static int g_deadline[BM_WD_NKINDS];
static long g_tid; /* the thread whose calls are marked */
static pthread_t g_thread;
static atomic_int g_running;
static void *g_altstack;

static const char *const g_kind_names[BM_WD_NKINDS] = {
    "init",    "campaign_add", "campaign_update", "campaign_remove", "on_event",
    "on_tick", "drain",        "destroy",         "query",           "on_reward",
};

const char *bm_watchdog_kind_name(int kind)
{
    return kind >= 0 && kind < BM_WD_NKINDS ? g_kind_names[kind] : "unknown";
}

/* --- async-signal-safe record writing ------------------------------------------ */

typedef struct sbuf {
    char b[2048];
    size_t n;
} sbuf;

static void s_put(sbuf *s, const char *t)
{
    for (; t && *t && s->n + 1 < sizeof s->b; t++)
        s->b[s->n++] = (*t == '\n' || *t == '"') ? ' ' : *t;
}

static void s_int(sbuf *s, long v)
{
    char d[24];
    int i = 0;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do {
        d[i++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && i < 23);
    if (v < 0)
        s_put(s, "-");
    while (i > 0 && s->n + 1 < sizeof s->b)
        s->b[s->n++] = d[--i];
}

static void s_raw(sbuf *s, const char *t)
{
    for (; *t && s->n + 1 < sizeof s->b; t++)
        s->b[s->n++] = *t;
}

/* The call a record names: the watched thread's, or another thread's site. */
typedef struct who {
    int kind, generation;
    const char *module, *file, *campaign;
} who;

static who who_cur(void)
{
    who w = {bm_wd_cur.kind, bm_wd_cur.generation, bm_wd_cur.module, bm_wd_cur.file,
             bm_wd_cur.campaign};
    return w;
}

static who who_site(const bm_wd_site *s)
{
    who w = {s->kind, s->generation, s->module, s->file, s->campaign};
    return w;
}

/* Writes s to path (created 0600, truncated) and fsyncs it; 0, or -1 if it cannot
 * be opened. Signal-safe: open, write, fsync and close only. */
static int write_synced(const char *path, const sbuf *s)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t wr = write(fd, s->b, s->n);
    (void)wr;
    fsync(fd);
    close(fd);
    return 0;
}

/* Writes the crash record of call `w` with `reason`; safe in a signal handler. */
static void write_record(who w, const char *reason)
{
    sbuf s = {.n = 0};
    s_raw(&s, "module=");
    s_put(&s, w.module);
    s_raw(&s, "\nfile=");
    s_put(&s, w.file);
    s_raw(&s, "\ngeneration=");
    s_int(&s, w.generation);
    s_raw(&s, "\ncallback=");
    s_put(&s, bm_watchdog_kind_name(w.kind));
    s_raw(&s, "\ncampaign=");
    s_put(&s, w.campaign);
    s_raw(&s, "\nreason=");
    s_put(&s, reason);
    s_raw(&s, "\n");
    if (write_synced(g_tmp, &s) == 0)
        rename(g_tmp, g_path);
}

/* Writes the subject of a crashed call on another thread; safe in a signal handler. */
static void write_subject(const bm_wd_site *site, const char *reason)
{
    sbuf s = {.n = 0};
    s_raw(&s, "subject=");
    s_put(&s, site->subject);
    s_raw(&s, "\nmodule=");
    s_put(&s, site->module);
    s_raw(&s, "\nfile=");
    s_put(&s, site->file);
    s_raw(&s, "\nreason=");
    s_put(&s, reason);
    s_raw(&s, "\n");
    write_synced(g_subj, &s);
}

/* One logfmt line on stderr, without stdio (signal context). */
static void log_raw(who w, const char *what)
{
    sbuf s = {.n = 0};
    s_raw(&s, "level=error module=watchdog msg=\"");
    s_put(&s, what);
    s_raw(&s, " module=");
    s_put(&s, w.module);
    s_raw(&s, " campaign=");
    s_put(&s, w.campaign && w.campaign[0] ? w.campaign : "-");
    s_raw(&s, " callback=");
    s_put(&s, bm_watchdog_kind_name(w.kind));
    s_raw(&s, " generation=");
    s_int(&s, w.generation);
    s_raw(&s, " file=");
    s_put(&s, w.file);
    s_raw(&s, "; the worker restarts and quarantines this generation\"\n");
    ssize_t wr = write(2, s.b, s.n);
    (void)wr;
}

static void on_fatal(int sig)
{
    int saved = errno;
    int here = atomic_load(&bm_wd_cur.active) && syscall(SYS_gettid) == g_tid;
    const bm_wd_site *site = bm_wd_thread_site;
    if ((here || site) && g_path[0]) {
        who w = here ? who_cur() : who_site(site);
        sbuf r = {.n = 0};
        s_raw(&r, "crashed with signal ");
        s_int(&r, sig);
        s_raw(&r, sig == SIGSEGV   ? " (SIGSEGV)"
                  : sig == SIGABRT ? " (SIGABRT)"
                  : sig == SIGBUS  ? " (SIGBUS)"
                  : sig == SIGFPE  ? " (SIGFPE)"
                                   : " (SIGILL)");
        r.b[r.n] = '\0';
        write_record(w, r.b);
        if (!here && site->subject[0])
            write_subject(site, r.b);
        log_raw(w, r.b);
    }
    errno = saved;
    /* SA_RESETHAND put the default action back: raising again ends the process with
     * the original signal, which the master reports. */
    raise(sig);
}

static void install_crash_handler(void)
{
    if (!g_altstack && (g_altstack = malloc(BM_WD_ALTSTACK)) != NULL) {
        /* A stack overflow in a module still gets its record written. */
        stack_t ss = {.ss_sp = g_altstack, .ss_size = BM_WD_ALTSTACK, .ss_flags = 0};
        sigaltstack(&ss, NULL);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* --- the watchdog thread ------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watch(void *arg)
{
    (void)arg;
    uint_fast64_t seen = 0;
    int64_t since = 0;
    while (atomic_load(&g_running)) {
        struct timespec nap = {0, BM_WD_PERIOD_MS * 1000000L};
        nanosleep(&nap, NULL);
        uint_fast64_t seq = atomic_load_explicit(&bm_wd_cur.seq, memory_order_relaxed);
        if (!atomic_load_explicit(&bm_wd_cur.active, memory_order_acquire) || seq != seen) {
            seen = seq;
            since = mono_ms();
            continue;
        }
        int kind = bm_wd_cur.kind;
        int limit = kind >= 0 && kind < BM_WD_NKINDS ? g_deadline[kind] : 0;
        int64_t ran = mono_ms() - since;
        if (limit <= 0 || ran < limit)
            continue;
        /* Same call, still open, past its deadline. */
        char why[160];
        snprintf(why, sizeof why, "watchdog: %s ran past its deadline of %d ms",
                 bm_watchdog_kind_name(kind), limit);
        write_record(who_cur(), why);
        bm_error("watchdog",
                 "module=%s campaign=%s callback=%s generation=%d file=%s ran past its "
                 "deadline of %d ms; the worker restarts and quarantines this generation",
                 bm_wd_cur.module, bm_wd_cur.campaign[0] ? bm_wd_cur.campaign : "-",
                 bm_watchdog_kind_name(kind), bm_wd_cur.generation, bm_wd_cur.file, limit);
        _exit(BM_EXIT_RESTART);
    }
    return NULL;
}

int bm_watchdog_start(const char *record_path, const int deadlines_ms[BM_WD_NKINDS], char *err,
                      size_t errlen)
{
    if (snprintf(g_path, sizeof g_path, "%s", record_path) >= (int)sizeof g_path) {
        snprintf(err, errlen, "watchdog: record path too long");
        return -1;
    }
    snprintf(g_tmp, sizeof g_tmp, "%s.tmp", record_path);
    snprintf(g_subj, sizeof g_subj, "%s.subject", record_path);
    memcpy(g_deadline, deadlines_ms, sizeof g_deadline);
    g_tid = syscall(SYS_gettid);
    bm_wd_watched = 1;
    install_crash_handler();
    if (atomic_exchange(&g_running, 1))
        return 0;
    int rc = pthread_create(&g_thread, NULL, watch, NULL);
    if (rc != 0) {
        atomic_store(&g_running, 0);
        snprintf(err, errlen, "watchdog: cannot start its thread: %s", strerror(rc));
        return -1;
    }
    return 0;
}

void bm_watchdog_record_site(const bm_wd_site *site, const char *reason)
{
    if (!g_path[0])
        return;
    write_record(who_site(site), reason);
    if (site->subject[0])
        write_subject(site, reason);
}

void bm_watchdog_stop(void)
{
    if (atomic_exchange(&g_running, 0))
        pthread_join(g_thread, NULL);
}

/* --- reading a record back --------------------------------------------------------------- */

static void field(const char *text, const char *key, char *out, size_t len)
{
    size_t kl = strlen(key);
    out[0] = '\0';
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1, *nl = strchr(v, '\n');
            size_t n = nl ? (size_t)(nl - v) : strlen(v);
            snprintf(out, len, "%.*s", (int)n, v);
            return;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
}

int bm_watchdog_take_record(const char *record_path, bm_crash_record *out)
{
    char text[4096];
    memset(out, 0, sizeof *out);
    int fd = open(record_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    unlink(record_path);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    char gen[16];
    field(text, "module", out->module, sizeof out->module);
    field(text, "file", out->file, sizeof out->file);
    field(text, "callback", out->callback, sizeof out->callback);
    field(text, "campaign", out->campaign, sizeof out->campaign);
    field(text, "reason", out->reason, sizeof out->reason);
    field(text, "generation", gen, sizeof gen);
    out->generation = atoi(gen);
    return out->module[0] ? 0 : -1;
}

int bm_watchdog_take_subject(bm_crash_subject *out)
{
    char text[2048];
    memset(out, 0, sizeof *out);
    if (!g_subj[0])
        return -1;
    int fd = open(g_subj, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    unlink(g_subj);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    field(text, "subject", out->subject, sizeof out->subject);
    field(text, "module", out->module, sizeof out->module);
    field(text, "file", out->file, sizeof out->file);
    field(text, "reason", out->reason, sizeof out->reason);
    return out->subject[0] ? 0 : -1;
}
