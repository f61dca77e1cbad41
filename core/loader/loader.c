/*
 * Module loader: per-generation copies, the ordered ABI checks, init/adopt
 * and retirement. Scanning a directory into a new generation is in scan.c.
 *
 * The checks follow the layout of bm_module: the fixed header is read first
 * and nothing past it is touched until struct_size says the module was
 * compiled with the same struct as the host. Each refusal names the field
 * that differs, so an operator can tell a stale build from a broken one.
 */
#include "loader/loader.h"
#include "loader/loader_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loader/probation.h"
#include "log/log.h"
#include "util/clock.h"
#include "watchdog/watchdog.h"

/* bm_loader_close (tools and tests) waits this long for a drain; the engine's
 * generations never cut a drain off (generations.c). */
#define BM_DRAIN_TIMEOUT_MS 5000
#define BM_DRAIN_SLEEP_MS 10

/* Writes "<field>: <detail>" to err. */
static void refuse(char *err, size_t errlen, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void refuse(char *err, size_t errlen, const char *field, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", field, detail);
}

/* One logfmt line per refusal; err is "<field>: <detail>". */
static void log_refusal(const char *path, const char *err)
{
    const char *colon = strchr(err, ':');
    int flen = colon ? (int)(colon - err) : (int)strlen(err);
    const char *reason = colon ? colon + 1 : "";
    while (*reason == ' ')
        reason++;
    bm_logf(BM_LOG_LVL_ERROR, "loader", "refused file=%s field=%.*s reason=%s", path, flen, err,
            reason);
}

/* "ptr=8 time_t=8 long=8 size_t=8 double=8 le=1" */
static void describe_signature(uint64_t sig, char *buf, size_t len)
{
    snprintf(buf, len, "ptr=%u time_t=%u long=%u size_t=%u double=%u le=%u", (unsigned)(sig & 0xff),
             (unsigned)((sig >> 8) & 0xff), (unsigned)((sig >> 16) & 0xff),
             (unsigned)((sig >> 24) & 0xff), (unsigned)((sig >> 32) & 0xff),
             (unsigned)((sig >> 40) & 0xff));
    if (sig >> 48)
        snprintf(buf + strlen(buf), len - strlen(buf), " extra=0x%llx",
                 (unsigned long long)(sig >> 48));
}

/* Non-empty, shorter than a bm_modinst name field; 0 or -1 with err. */
static int check_text(const char *field, const char *s, char *err, size_t errlen)
{
    if (s == NULL || s[0] == '\0') {
        refuse(err, errlen, field, "empty");
        return -1;
    }
    if (strlen(s) >= sizeof(((bm_module_info *)0)->name)) {
        refuse(err, errlen, field, "longer than %zu bytes",
               sizeof(((bm_module_info *)0)->name) - 1);
        return -1;
    }
    return 0;
}

/* Module names end up in metric names and log keys: keep them to a safe alphabet. */
static int check_name(const char *name, char *err, size_t errlen)
{
    if (check_text("name", name, err, errlen) != 0)
        return -1;
    for (const char *p = name; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || *p == '-';
        if (!ok) {
            refuse(err, errlen, "name", "'%s' has a character outside [A-Za-z0-9_-]", name);
            return -1;
        }
    }
    return 0;
}

/* The ordered ABI checks on a descriptor that dlsym handed back. */
static int check_module(const bm_module *m, char *err, size_t errlen)
{
    /* Fixed header first: these four fields are where every ABI puts them. */
    if (m->magic != BM_MODULE_MAGIC) {
        refuse(err, errlen, "magic", "got 0x%016llx, want 0x%016llx", (unsigned long long)m->magic,
               (unsigned long long)BM_MODULE_MAGIC);
        return -1;
    }
    if (m->abi_version < BM_ABI_MIN_VERSION || m->abi_version > BM_ABI_VERSION) {
        refuse(err, errlen, "abi_version", "got %u, want %u..%u", (unsigned)m->abi_version,
               (unsigned)BM_ABI_MIN_VERSION, (unsigned)BM_ABI_VERSION);
        return -1;
    }
    /* A smaller struct would make every read below run past the module's object. */
    if (m->struct_size != sizeof(bm_module)) {
        refuse(err, errlen, "struct_size", "got %u, want %zu", (unsigned)m->struct_size,
               sizeof(bm_module));
        return -1;
    }
    if (m->signature != BM_BUILD_SIGNATURE) {
        char got[128], want[128];
        describe_signature(m->signature, got, sizeof got);
        describe_signature(BM_BUILD_SIGNATURE, want, sizeof want);
        refuse(err, errlen, "signature", "got %s, want %s", got, want);
        return -1;
    }

    /* Identity. */
    if (check_name(m->name, err, errlen) != 0 || check_text("version", m->version, err, errlen) ||
        check_text("serves", m->serves, err, errlen))
        return -1;
    if (m->kind != BM_KIND_CAMPAIGN && m->kind != BM_KIND_REWARD) {
        refuse(err, errlen, "kind", "got %u, want %d (campaign) or %d (reward)", (unsigned)m->kind,
               BM_KIND_CAMPAIGN, BM_KIND_REWARD);
        return -1;
    }
    if (m->flags != 0) {
        refuse(err, errlen, "flags", "got 0x%x, must be 0", (unsigned)m->flags);
        return -1;
    }

    /* Callbacks the host calls without testing for NULL. */
    if (m->init == NULL) {
        refuse(err, errlen, "init", "required callback is NULL");
        return -1;
    }
    if (m->destroy == NULL) {
        refuse(err, errlen, "destroy", "required callback is NULL");
        return -1;
    }
    if (m->kind == BM_KIND_CAMPAIGN) {
        const char *missing = m->campaign_add == NULL      ? "campaign_add"
                              : m->campaign_remove == NULL ? "campaign_remove"
                              : m->on_event == NULL        ? "on_event"
                                                           : NULL;
        if (missing) {
            refuse(err, errlen, missing, "required for campaign modules, is NULL");
            return -1;
        }
    } else if (m->on_reward == NULL) {
        refuse(err, errlen, "on_reward", "required for reward modules, is NULL");
        return -1;
    }

    /* Version 1 had eight spare slots: the three that version 2 named must be
     * NULL in a version-1 module, under their version-1 names. */
    if (m->abi_version == 1) {
        const void *v1[3] = {(const void *)m->on_campaign_tick, (const void *)m->campaign_changed,
                             (const void *)m->on_campaign_end};
        for (int i = 0; i < 3; i++) {
            if (v1[i] != NULL) {
                snprintf(err, errlen, "spare[%d]: must be NULL for abi_version 1", i);
                return -1;
            }
        }
    }
    /* Spare slots get meaning in later ABI versions; a non-NULL one means a newer build. */
    for (int i = 0; i < BM_MODULE_SPARE_SLOTS; i++) {
        if (m->spare[i] != NULL) {
            snprintf(err, errlen, "spare[%d]: must be NULL", i);
            return -1;
        }
    }
    return 0;
}

/* Copies src to dst (a fresh file); fills *st with the identity of what was read. */
static int copy_file(const char *src, const char *dst, struct stat *st, char *err, size_t errlen)
{
    char buf[65536];
    int in = -1, out = -1;

    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, st) != 0) {
        refuse(err, errlen, "file", "%s: %s", src, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        refuse(err, errlen, "file", "%s: not a regular file", src);
        goto fail;
    }
    /* A stale copy from an earlier run may exist; never write into a mapped file. */
    unlink(dst);
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (out < 0) {
        refuse(err, errlen, "copy", "%s: %s", dst, strerror(errno));
        goto fail;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            refuse(err, errlen, "file", "%s: %s", src, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                refuse(err, errlen, "copy", "%s: %s", dst, strerror(errno));
                goto fail;
            }
            off += w;
        }
    }
    close(in);
    if (close(out) != 0) {
        refuse(err, errlen, "copy", "%s: %s", dst, strerror(errno));
        unlink(dst);
        return -1;
    }
    return 0;
fail:
    if (in >= 0)
        close(in);
    if (out >= 0) {
        close(out);
        unlink(dst);
    }
    return -1;
}

/* copy_dir/<basename without .so>.g<gen>.so */
static int copy_path_for(const char *src, const char *copy_dir, int gen, char *out, size_t outlen)
{
    const char *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    size_t blen = strlen(base);
    if (blen > 3 && strcmp(base + blen - 3, ".so") == 0)
        blen -= 3;
    int n = snprintf(out, outlen, "%s/%.*s.g%d.so", copy_dir, (int)blen, base, gen);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* dlopen a copy and find its descriptor; on success *dl is open, else closed. */
static int open_copy(const char *copy, void **dl, const bm_module **mod, char *err, size_t errlen)
{
    *dl = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    if (*dl == NULL) {
        const char *e = dlerror();
        refuse(err, errlen, "dlopen", "%s", e ? e : "failed");
        return -1;
    }
    dlerror();
    /* A function pointer, not data: that is what dlsym is promised to return. */
    bm_module_entry_fn entry;
    *(void **)&entry = dlsym(*dl, BM_MODULE_ENTRY_SYMBOL);
    if (entry == NULL) {
        refuse(err, errlen, "entry", "symbol %s not found", BM_MODULE_ENTRY_SYMBOL);
        goto fail;
    }
    *mod = entry();
    if (*mod == NULL) {
        refuse(err, errlen, "entry", "%s returned NULL", BM_MODULE_ENTRY_SYMBOL);
        goto fail;
    }
    return 0;
fail:
    dlclose(*dl);
    *dl = NULL;
    return -1;
}

static void fill_info(const bm_module *m, bm_module_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", m->name);
    snprintf(info->version, sizeof info->version, "%s", m->version);
    snprintf(info->serves, sizeof info->serves, "%s", m->serves);
    info->kind = m->kind;
    info->abi_version = m->abi_version;
}

int bm_loader_check(const char *path, bm_module_info *info, char *err, size_t errlen)
{
    char dir[512], copy[1024];
    const char *tmp = getenv("TMPDIR");
    void *dl = NULL;
    const bm_module *m = NULL;
    struct stat st;
    int rc = -1, have_dir = 0, have_copy = 0;

    /* A private copy: the same path may already be open in this process. */
    snprintf(dir, sizeof dir, "%s/bm-check.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        refuse(err, errlen, "copy", "%s: %s", dir, strerror(errno));
        goto done;
    }
    have_dir = 1;
    if (copy_path_for(path, dir, 0, copy, sizeof copy) != 0) {
        refuse(err, errlen, "file", "path too long");
        goto done;
    }
    if (copy_file(path, copy, &st, err, errlen) != 0)
        goto done;
    have_copy = 1;
    if (open_copy(copy, &dl, &m, err, errlen) != 0)
        goto done;
    if (check_module(m, err, errlen) != 0)
        goto done;
    if (info)
        fill_info(m, info);
    rc = 0;
done:
    if (rc != 0)
        log_refusal(path, err);
    if (dl)
        dlclose(dl);
    if (have_copy)
        unlink(copy);
    if (have_dir)
        rmdir(dir);
    return rc;
}

int bm_loader_open_ex(const char *path, const char *copy_dir, int gen, const bm_loader_host *lh,
                      const char *const *taken, const char *const *taken_files, size_t ntaken,
                      bm_modinst **out, char *err, size_t errlen)
{
    bm_modinst *mi = NULL;
    struct stat st;
    char merr[512] = "";
    int have_copy = 0, inited = 0, probation = 0;

    *out = NULL;
    mi = calloc(1, sizeof *mi);
    if (mi == NULL) {
        refuse(err, errlen, "memory", "out of memory");
        goto fail;
    }
    snprintf(mi->src_path, sizeof mi->src_path, "%s", path);
    mi->generation = gen;
    if (mkdir(copy_dir, 0700) != 0 && errno != EEXIST) {
        refuse(err, errlen, "copy", "%s: %s", copy_dir, strerror(errno));
        goto fail;
    }
    if (copy_path_for(path, copy_dir, gen, mi->copy_path, sizeof mi->copy_path) != 0) {
        refuse(err, errlen, "file", "path too long");
        goto fail;
    }
    if (copy_file(path, mi->copy_path, &st, err, errlen) != 0)
        goto fail;
    have_copy = 1;
    mi->dev = st.st_dev;
    mi->ino = st.st_ino;
    mi->size = st.st_size;
    mi->mtime = st.st_mtim;

    if (open_copy(mi->copy_path, &mi->dl, &mi->m, err, errlen) != 0)
        goto fail;
    if (check_module(mi->m, err, errlen) != 0)
        goto fail;
    for (size_t i = 0; i < ntaken; i++) {
        if (taken[i] && strcmp(taken[i], mi->m->name) == 0) {
            if (taken_files && taken_files[i])
                refuse(err, errlen, "name", "'%s' already loaded from %s", mi->m->name,
                       taken_files[i]);
            else
                refuse(err, errlen, "name", "'%s' already loaded", mi->m->name);
            goto fail;
        }
    }
    snprintf(mi->name, sizeof mi->name, "%s", mi->m->name);

    mi->host = lh && lh->host_new ? lh->host_new(lh->ud, mi->name) : NULL;
    /* Durably on probation before the first call into the new code. */
    bm_probation_begin(mi);
    probation = 1;
    bm_watchdog_enter(BM_WD_INIT, mi->name, gen, path, NULL);
    int irc = mi->m->init(lh ? lh->api : NULL, mi->host, &mi->instance, merr, sizeof merr);
    bm_watchdog_leave();
    merr[sizeof merr - 1] = '\0'; /* the module's text, terminated whatever it wrote */
    if (irc != BM_OK) {
        if (merr[0])
            refuse(err, errlen, "init", "%s", merr);
        else
            refuse(err, errlen, "init", "returned %d", irc);
        goto fail;
    }
    inited = 1;
    if (lh && lh->adopt) {
        merr[0] = '\0';
        /* A failing adopt undoes its own partial work: release is not called. */
        if (lh->adopt(lh->ud, mi, merr, sizeof merr) != 0) {
            merr[sizeof merr - 1] = '\0';
            refuse(err, errlen, "adopt", "%s", merr[0] ? merr : "refused by the engine");
            goto fail;
        }
    }
    bm_logf(BM_LOG_LVL_INFO, "loader", "loaded file=%s name=%s version=%s generation=%d copy=%s",
            path, mi->name, mi->m->version, gen, mi->copy_path);
    *out = mi;
    return 0;
fail:
    log_refusal(path, err);
    if (mi) {
        if (probation)
            bm_probation_abandon(mi);
        if (inited) {
            bm_watchdog_enter(BM_WD_DESTROY, mi->name, gen, path, NULL);
            mi->m->destroy(mi->instance);
            bm_watchdog_leave();
        }
        if (mi->host && lh && lh->host_free)
            lh->host_free(lh->ud, mi->host);
        if (mi->dl)
            dlclose(mi->dl);
        if (have_copy)
            unlink(mi->copy_path);
        free(mi);
    }
    return -1;
}

int bm_loader_open(const char *path, const char *copy_dir, int gen, const bm_loader_host *lh,
                   const char *const *taken, size_t ntaken, bm_modinst **out, char *err,
                   size_t errlen)
{
    return bm_loader_open_ex(path, copy_dir, gen, lh, taken, NULL, ntaken, out, err, errlen);
}

void bm_loader_close(bm_modinst *mi, const bm_loader_host *lh)
{
    if (mi == NULL)
        return;
    /* Bounded: a module that never drains must not hold a reload forever. */
    if (mi->m->drain) {
        int64_t deadline = bm_mono_ms() + BM_DRAIN_TIMEOUT_MS;
        int rc;
        for (;;) {
            bm_watchdog_enter(BM_WD_DRAIN, mi->name, mi->generation, mi->src_path, NULL);
            rc = mi->m->drain(mi->instance);
            bm_watchdog_leave();
            if (rc == BM_OK || bm_mono_ms() >= deadline)
                break;
            struct timespec nap = {0, BM_DRAIN_SLEEP_MS * 1000000L};
            nanosleep(&nap, NULL);
        }
        if (rc != BM_OK)
            bm_logf(BM_LOG_LVL_WARN, "loader",
                    "drain timeout name=%s generation=%d waited_ms=%d rc=%d", mi->name,
                    mi->generation, BM_DRAIN_TIMEOUT_MS, rc);
    }
    bm_loader_destroy(mi, lh);
}

void bm_loader_destroy(bm_modinst *mi, const bm_loader_host *lh)
{
    if (lh && lh->release)
        lh->release(lh->ud, mi);
    bm_watchdog_enter(BM_WD_DESTROY, mi->name, mi->generation, mi->src_path, NULL);
    mi->m->destroy(mi->instance);
    bm_watchdog_leave();
    if (mi->host && lh && lh->host_free)
        lh->host_free(lh->ud, mi->host);
    bm_logf(BM_LOG_LVL_INFO, "loader", "closed name=%s generation=%d", mi->name, mi->generation);
    dlclose(mi->dl);
    unlink(mi->copy_path);
    free(mi);
}
