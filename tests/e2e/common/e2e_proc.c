/*
 * Child processes of an e2e test: spawn with the test's environment, wait
 * with a deadline, and a registry so that no child outlives a failing test.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e.h"

extern char **environ;

#define MAX_CHILDREN 64

static pid_t g_children[MAX_CHILDREN];
static int g_atexit_set;

static void children_atexit(void)
{
    bm_e2e_kill_children();
}

static void child_add(pid_t pid)
{
    if (!g_atexit_set) {
        atexit(children_atexit);
        g_atexit_set = 1;
    }
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_children[i] == 0) {
            g_children[i] = pid;
            return;
        }
}

static void child_forget(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_children[i] == pid)
            g_children[i] = 0;
}

void bm_e2e_kill_children(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (g_children[i] <= 0)
            continue;
        kill(g_children[i], SIGKILL);
        waitpid(g_children[i], NULL, 0);
        g_children[i] = 0;
    }
}

void bm_e2e_fail(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fail_msg("%s", msg);
    abort(); /* not reached: fail_msg leaves the test */
}

int bm_e2e_exit(int failed)
{
    if (!failed)
        return 0;
    bm_e2e_kill_children();
    fflush(NULL);
    _exit(failed);
}

int64_t bm_e2e_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bm_e2e_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bm_e2e_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* environ with the test's KEY=VALUE overrides; BM_CONFIG removed so a
 * developer's configuration file never leaks into a test. Built before fork:
 * the test process has threads (the broker), so the child may not allocate. */
static char **build_env(const bm_e2e *e)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **v = calloc(n + (size_t)(e ? e->nenv : 0) + 1, sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int skip = klen == 9 && strncmp(environ[i], "BM_CONFIG", 9) == 0;
        for (int j = 0; e && j < e->nenv && !skip; j++)
            skip = strncmp(environ[i], e->env[j], klen + 1) == 0;
        if (!skip)
            v[k++] = environ[i];
    }
    for (int j = 0; e && j < e->nenv; j++)
        v[k++] = (char *)e->env[j];
    v[k] = NULL;
    return v;
}

pid_t bm_e2e_spawn(const bm_e2e *e, char *const argv[], const char *out_path)
{
    char **env = build_env(e);
    if (!env)
        bm_e2e_fail("out of memory");
    int fd =
        open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        bm_e2e_fail("cannot open %s: %s", out_path, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        bm_e2e_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls from here on. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        /* Everything is given as absolute paths; "/" is readable by any user the
         * child may switch to (the database server's). */
        if (chdir("/") != 0)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(argv[0], argv, env);
        static const char msg[] = "e2e: exec failed\n";
        if (write(2, msg, sizeof msg - 1) < 0)
            _exit(127);
        _exit(127);
    }
    close(fd);
    free(env);
    child_add(pid);
    return pid;
}

int bm_e2e_wait_exit(pid_t pid, int timeout_ms, const char *what)
{
    int64_t deadline = bm_e2e_now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0)
            bm_e2e_fail("%s: waitpid: %s", what, strerror(errno));
        if (bm_e2e_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            child_forget(pid);
            bm_e2e_fail("%s did not finish within %d ms (killed)", what, timeout_ms);
        }
        bm_e2e_sleep_ms(10);
    }
    child_forget(pid);
    if (WIFSIGNALED(st))
        bm_e2e_fail("%s died of signal %d", what, WTERMSIG(st));
    return WEXITSTATUS(st);
}

char *bm_e2e_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        if (n + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

void bm_e2e_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        bm_e2e_fail("cannot write %s: %s", path, strerror(errno));
    size_t w = fwrite(data, 1, len, f);
    if (fclose(f) != 0 || w != len)
        bm_e2e_fail("cannot write %s", path);
}

int bm_e2e_run(const bm_e2e *e, char *const argv[], char **out, int timeout_ms)
{
    char path[512];
    static unsigned seq;
    snprintf(path, sizeof path, "%s/run-%u-%u.out", e && e->dir[0] ? e->dir : "/tmp",
             (unsigned)getpid(), seq++);
    unlink(path);
    pid_t pid = bm_e2e_spawn(e, argv, path);
    int rc = bm_e2e_wait_exit(pid, timeout_ms, argv[0]);
    if (out) {
        *out = bm_e2e_slurp(path, NULL);
        if (!*out)
            *out = strdup("");
    }
    unlink(path);
    return rc;
}

/* --- the engine --------------------------------------------------------------------- */

/* A child of this process that has not exited (a zombie counts as exited; nothing is reaped). */
static int child_running(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (pid <= 0 || waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return 0;
    return si.si_pid != pid;
}

/* The test's run dir (BM_ENGINE_RUN_DIR as set now), or <it>-<n> when a live
 * engine of this test already has it. */
static const char *engine_run_dir(bm_e2e *e, char *out, size_t cap)
{
    const char *base = e->run_dir;
    for (int i = 0; i < e->nenv; i++)
        if (strncmp(e->env[i], "BM_ENGINE_RUN_DIR=", 18) == 0)
            base = e->env[i] + 18;
    for (int n = 0;; n++) {
        if (n == 0)
            snprintf(out, cap, "%s", base);
        else
            snprintf(out, cap, "%s-%d", base, n);
        int taken = 0;
        for (int i = 0; i < e->nruns && !taken; i++)
            taken = strcmp(e->runs[i].dir, out) == 0 && child_running(e->runs[i].pid);
        if (!taken)
            return out;
    }
}

void bm_e2e_engine_start(bm_e2e *e, bm_e2e_engine *g)
{
    char bin[1100], dir[340], base[340] = "";
    memset(g, 0, sizeof *g);
    snprintf(g->log, sizeof g->log, "%s/engine-%d.log", e->dir, ++e->nengines);
    bm_e2e_build_path(e, "brightmatter", bin, sizeof bin);
    char *argv[] = {bin, "run", NULL};
    engine_run_dir(e, dir, sizeof dir);
    for (int i = 0; i < e->nenv; i++)
        if (strncmp(e->env[i], "BM_ENGINE_RUN_DIR=", 18) == 0)
            snprintf(base, sizeof base, "%s", e->env[i] + 18);
    bm_e2e_setenv(e, "BM_ENGINE_RUN_DIR", dir);
    g->pid = bm_e2e_spawn(e, argv, g->log);
    bm_e2e_setenv(e, "BM_ENGINE_RUN_DIR", base[0] ? base : e->run_dir);
    int slot = e->nruns;
    for (int i = 0; i < e->nruns; i++)
        if (!child_running(e->runs[i].pid))
            slot = i;
    if (slot == (int)(sizeof e->runs / sizeof e->runs[0]))
        bm_e2e_fail("more than %d engines at once", slot);
    e->runs[slot].pid = g->pid;
    snprintf(e->runs[slot].dir, sizeof e->runs[slot].dir, "%s", dir);
    if (slot == e->nruns)
        e->nruns++;
}

int bm_e2e_engine_alive(bm_e2e_engine *g)
{
    if (g->reaped || g->pid <= 0)
        return 0;
    pid_t r = waitpid(g->pid, &g->status, WNOHANG);
    if (r == g->pid) {
        g->reaped = 1;
        child_forget(g->pid);
        return 0;
    }
    return 1;
}

void bm_e2e_engine_kill9(bm_e2e_engine *g)
{
    if (!bm_e2e_engine_alive(g))
        bm_e2e_fail("engine %d was already gone before kill -9 (see %s)", (int)g->pid, g->log);
    kill(g->pid, SIGKILL);
    waitpid(g->pid, &g->status, 0);
    g->reaped = 1;
    child_forget(g->pid);
}

void bm_e2e_engine_signal(bm_e2e_engine *g, int sig)
{
    if (!bm_e2e_engine_alive(g))
        bm_e2e_fail("engine %d is gone (see %s)", (int)g->pid, g->log);
    kill(g->pid, sig);
}

long bm_e2e_engine_stop(bm_e2e_engine *g, int timeout_ms)
{
    if (!bm_e2e_engine_alive(g)) {
        bm_e2e_log_tail(g, 30);
        bm_e2e_fail("engine %d ended before SIGTERM (status 0x%x)", (int)g->pid, g->status);
    }
    int64_t t0 = bm_e2e_now_ms();
    kill(g->pid, SIGTERM);
    while (bm_e2e_engine_alive(g)) {
        if (bm_e2e_now_ms() - t0 > timeout_ms) {
            kill(g->pid, SIGKILL);
            waitpid(g->pid, &g->status, 0);
            g->reaped = 1;
            child_forget(g->pid);
            bm_e2e_log_tail(g, 30);
            bm_e2e_fail("engine did not exit within %d ms of SIGTERM", timeout_ms);
        }
        bm_e2e_sleep_ms(10);
    }
    long took = (long)(bm_e2e_now_ms() - t0);
    if (!WIFEXITED(g->status) || WEXITSTATUS(g->status) != 0) {
        bm_e2e_log_tail(g, 30);
        bm_e2e_fail("engine exited with status 0x%x after SIGTERM, want exit code 0", g->status);
    }
    return took;
}

int bm_e2e_log_contains(const bm_e2e_engine *g, const char *needle)
{
    char *text = bm_e2e_slurp(g->log, NULL);
    int found = text && strstr(text, needle) != NULL;
    free(text);
    return found;
}

int bm_e2e_log_count(const bm_e2e_engine *g, const char *needle)
{
    char *text = bm_e2e_slurp(g->log, NULL);
    int n = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        n += strstr(line, needle) != NULL;
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return n;
}

void bm_e2e_log_tail(const bm_e2e_engine *g, int lines)
{
    size_t len = 0;
    char *text = bm_e2e_slurp(g->log, &len);
    if (!text)
        return;
    size_t i = len;
    int seen = 0;
    while (i > 0 && seen <= lines)
        if (text[--i] == '\n')
            seen++;
    fprintf(stderr, "--- last lines of %s ---\n%s--- end ---\n", g->log, text + (i ? i + 1 : 0));
    free(text);
}

void bm_e2e_wait_log(bm_e2e_engine *g, const char *needle, int timeout_ms)
{
    int64_t deadline = bm_e2e_now_ms() + timeout_ms;
    while (!bm_e2e_log_contains(g, needle)) {
        if (!bm_e2e_engine_alive(g)) {
            bm_e2e_log_tail(g, 30);
            bm_e2e_fail("engine died (status 0x%x) before logging \"%s\"", g->status, needle);
        }
        if (bm_e2e_now_ms() > deadline) {
            bm_e2e_log_tail(g, 30);
            bm_e2e_fail("engine did not log \"%s\" within %d ms", needle, timeout_ms);
        }
        bm_e2e_sleep_ms(20);
    }
}

/* --- deterministic randomness --------------------------------------------------------- */

void bm_e2e_rng_seed(bm_e2e_rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    if (!r->s)
        r->s = 1;
}

uint64_t bm_e2e_rng_next(bm_e2e_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

long bm_e2e_rng_range(bm_e2e_rng *r, long lo, long hi)
{
    if (hi <= lo)
        return lo;
    return lo + (long)(bm_e2e_rng_next(r) % (uint64_t)(hi - lo + 1));
}
