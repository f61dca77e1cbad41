/*
 * The master loop. Kept deliberately small: everything that can crash (modules,
 * formulas, librdkafka, libpq) lives in the worker, so the master's only job is
 * fork, wait, back off and forward signals.
 */
#include "supervisor/supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"

static volatile sig_atomic_t g_stop = 0;
static volatile sig_atomic_t g_hup = 0;

static volatile sig_atomic_t g_stop_sig = 0, g_stop_pid = 0;

static void on_stop(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    g_stop_sig = sig;
    g_stop_pid = si ? si->si_pid : 0;
    g_stop = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    g_hup = 1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal cuts it short: the loop looks at the flags */
}

/* stop == NULL: default actions. */
static void set_handlers(void (*stop)(int, siginfo_t *, void *), void (*hup)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (stop) {
        sa.sa_sigaction = stop;
        sa.sa_flags = SA_SIGINFO;
    } else {
        sa.sa_handler = SIG_DFL;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hup;
    sigaction(SIGHUP, &sa, NULL);
}

static pid_t spawn(bm_worker_fn worker, void *ud, int restarts, int aborts, const char *reason)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Worker: dies with the master, so `kill -9 <master>` never leaves an orphan
     * holding partitions. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    set_handlers(NULL, SIG_DFL);
    char n[16];
    snprintf(n, sizeof n, "%d", restarts);
    setenv(BM_SUPERVISOR_ENV_RESTARTS, n, 1);
    snprintf(n, sizeof n, "%d", aborts);
    setenv(BM_SUPERVISOR_ENV_ABORTS, n, 1);
    if (reason && *reason)
        setenv(BM_SUPERVISOR_ENV_REASON, reason, 1);
    else
        unsetenv(BM_SUPERVISOR_ENV_REASON);
    /* exit, not _exit: the worker's own exit handlers (leak checks in sanitizer
     * builds) run as they would in an unsupervised engine. */
    exit(worker(ud));
}

/* "signal 11 (Segmentation fault)" or "exit 70" */
static void describe(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WEXITSTATUS(status) == BM_EXIT_RESTART)
        snprintf(buf, len, "exit %d (watchdog or crash handler)", WEXITSTATUS(status));
    else
        snprintf(buf, len, "exit %d", WEXITSTATUS(status));
}

/* Waits for pid; forwards signals meanwhile; after a stop request, SIGKILL once
 * the timeout has passed. Returns the wait status. */
static int wait_worker(pid_t pid, const bm_supervisor_opts *o)
{
    int status = 0, stopping = 0;
    int64_t kill_at = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return 0;
        if (g_hup) {
            g_hup = 0;
            kill(pid, SIGHUP);
        }
        if (g_stop && !stopping) {
            stopping = 1;
            bm_info("supervisor", "signal %d from pid %d: stopping worker pid=%d", (int)g_stop_sig,
                    (int)g_stop_pid, (int)pid);
            kill_at = mono_ms() + o->stop_timeout_ms;
            kill(pid, SIGTERM);
        }
        if (stopping && mono_ms() >= kill_at) {
            bm_error("supervisor", "worker pid=%d still running %d ms after SIGTERM: SIGKILL",
                     (int)pid, o->stop_timeout_ms);
            kill(pid, SIGKILL);
            kill_at = INT64_MAX;
        }
        sleep_ms(20);
    }
}

int bm_supervisor_run(const bm_supervisor_opts *o, bm_worker_fn worker, void *ud)
{
    int restarts = 0, aborts = 0, backoff = o->backoff_min_ms;
    char reason[128] = "";
    set_handlers(on_stop, on_hup);
    for (;;) {
        int64_t started = mono_ms();
        pid_t pid = spawn(worker, ud, restarts, aborts, reason);
        if (pid < 0) {
            bm_error("supervisor", "fork failed: %s", strerror(errno));
            return 1;
        }
        bm_info("supervisor", "worker pid=%d started restarts=%d", (int)pid, restarts);
        int status = wait_worker(pid, o);
        if (g_stop) {
            bm_info("supervisor", "stopped restarts=%d", restarts);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
        }
        int crashed =
            WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == BM_EXIT_RESTART);
        if (!crashed) /* a clean end or a start error: restarting would not change it */
            return WEXITSTATUS(status);
        describe(status, reason, sizeof reason);
        if (mono_ms() - started >= o->stable_ms)
            backoff = o->backoff_min_ms;
        restarts++;
        if (WIFEXITED(status))
            aborts++;
        bm_error("supervisor", "worker pid=%d died: %s; restart=%d in %d ms", (int)pid, reason,
                 restarts, backoff);
        for (int64_t until = mono_ms() + backoff; !g_stop && mono_ms() < until;)
            sleep_ms(20);
        if (g_stop)
            return 0;
        backoff = backoff * 2 > o->backoff_max_ms ? o->backoff_max_ms : backoff * 2;
    }
}

int bm_supervisor_restarts(void)
{
    const char *s = getenv(BM_SUPERVISOR_ENV_RESTARTS);
    return s ? atoi(s) : 0;
}

int bm_supervisor_watchdog_aborts(void)
{
    const char *s = getenv(BM_SUPERVISOR_ENV_ABORTS);
    return s ? atoi(s) : 0;
}

const char *bm_supervisor_restart_reason(void)
{
    const char *s = getenv(BM_SUPERVISOR_ENV_REASON);
    return s ? s : "";
}
