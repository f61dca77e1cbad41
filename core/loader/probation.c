/*
 * Probation, quarantine and last-known-good copies (see probation.h). All of
 * it runs on the processing thread; records are small key=value files written
 * through a temporary name, fsync'd and renamed, so a crash at any point
 * leaves either the old record or the new one.
 */
#include "loader/probation.h"
#include "loader/loader_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "supervisor/supervisor.h"
#include "watchdog/watchdog.h"

#define BM_PROB_MAX 64

typedef struct quarantined {
    uint64_t hash;
    char module[64];
    char serves[64];
    char file[1024];
    char reason[512];
    char at[32];
} quarantined;

typedef struct on_probation {
    char name[64];
    int generation;
    int64_t since_ms;
} on_probation;

static struct {
    int open;
    char dir[1024];    /* the records */
    char copies[1024]; /* per-generation copies */
    char crash[1100];
    int probation_s;
    quarantined q[BM_PROB_MAX];
    size_t nq;
    on_probation p[BM_PROB_MAX];
    size_t np;
    char why[512];
} g;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t bm_probation_file_hash(const char *path)
{
    unsigned char buf[65536];
    uint64_t h = 1469598103934665603ULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 1099511628211ULL;
    close(fd);
    return n < 0 ? 0 : h;
}

/* --- records ----------------------------------------------------------------------- */

static int write_durable(const char *path, const void *data, size_t len)
{
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    /* The rename itself is durable once the directory is synced. */
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static void field(const char *text, const char *key, char *out, size_t len)
{
    size_t kl = strlen(key);
    out[0] = '\0';
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1, *nl = strchr(v, '\n');
            snprintf(out, len, "%.*s", (int)(nl ? (size_t)(nl - v) : strlen(v)), v);
            return;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
}

static void path_of(char *out, size_t len, const char *sub, const char *name, const char *ext)
{
    snprintf(out, len, "%s/%s/%s%s", g.dir, sub, name, ext);
}

static void now_text(char *out, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The good copy of a module usable instead of a quarantined hash, or "". */
static void good_copy(const char *module, uint64_t bad, char *out, size_t len)
{
    out[0] = '\0';
    char p[1200];
    path_of(p, sizeof p, "good", module, ".so");
    uint64_t h = bm_probation_file_hash(p);
    if (h == 0 || h == bad)
        return;
    for (size_t i = 0; i < g.nq; i++)
        if (g.q[i].hash == h)
            return;
    snprintf(out, len, "%s", p);
}

static quarantined *find_q(uint64_t hash)
{
    for (size_t i = 0; i < g.nq; i++)
        if (g.q[i].hash == hash)
            return &g.q[i];
    return NULL;
}

static void quarantine(uint64_t hash, const char *module, const char *serves, const char *file,
                       const char *reason)
{
    if (hash == 0 || find_q(hash) || g.nq == BM_PROB_MAX)
        return;
    quarantined *q = &g.q[g.nq++];
    memset(q, 0, sizeof *q);
    q->hash = hash;
    snprintf(q->module, sizeof q->module, "%s", module);
    snprintf(q->serves, sizeof q->serves, "%s", serves);
    snprintf(q->file, sizeof q->file, "%s", file);
    snprintf(q->reason, sizeof q->reason, "%s", reason);
    now_text(q->at, sizeof q->at);
    char text[2048], p[1200], hex[20];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hash);
    int n =
        snprintf(text, sizeof text, "hash=%s\nmodule=%s\nserves=%s\nfile=%s\nreason=%s\nat=%s\n",
                 hex, q->module, q->serves, q->file, q->reason, q->at);
    path_of(p, sizeof p, "quarantine", hex, ".rec");
    if (write_durable(p, text, (size_t)n) != 0)
        bm_error("loader", "cannot write %s: %s", p, strerror(errno));
    char good[1200];
    good_copy(module, hash, good, sizeof good);
    if (good[0])
        bm_error("loader",
                 "quarantined file=%s module=%s hash=%s reason=\"%s\"; the last good copy %s "
                 "serves instead",
                 file, module, hex, reason, good);
    else
        bm_error("loader",
                 "quarantined file=%s module=%s hash=%s reason=\"%s\"; no good copy: campaigns "
                 "of type '%s' are disabled until a fixed file is installed",
                 file, module, hex, reason, serves);
}

static void load_quarantine(void)
{
    char d[1100];
    snprintf(d, sizeof d, "%s/quarantine", g.dir);
    DIR *dir = opendir(d);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL && g.nq < BM_PROB_MAX) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".rec") != 0)
            continue;
        char p[1400], text[4096], hex[20];
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        if (read_small(p, text, sizeof text) != 0)
            continue;
        quarantined *q = &g.q[g.nq];
        memset(q, 0, sizeof *q);
        field(text, "hash", hex, sizeof hex);
        q->hash = strtoull(hex, NULL, 16);
        field(text, "module", q->module, sizeof q->module);
        field(text, "serves", q->serves, sizeof q->serves);
        field(text, "file", q->file, sizeof q->file);
        field(text, "reason", q->reason, sizeof q->reason);
        field(text, "at", q->at, sizeof q->at);
        if (q->hash && !find_q(q->hash))
            g.nq++;
    }
    if (dir)
        closedir(dir);
}

/* <name>.g<digits>.so */
static int is_generation_copy(const char *n)
{
    size_t len = strlen(n);
    if (len < 6 || strcmp(n + len - 3, ".so") != 0)
        return 0;
    const char *end = n + len - 3, *p = end;
    while (p > n && p[-1] >= '0' && p[-1] <= '9')
        p--;
    return p < end && p - n >= 2 && p[-1] == 'g' && p[-2] == '.';
}

static void clear_stale_copies(void)
{
    DIR *dir = opendir(g.copies);
    struct dirent *de;
    int n = 0;
    while (dir && (de = readdir(dir)) != NULL) {
        if (!is_generation_copy(de->d_name))
            continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", g.copies, de->d_name);
        if (unlink(p) == 0)
            n++;
    }
    if (dir)
        closedir(dir);
    if (n)
        bm_info("loader", "cleared %d stale per-generation copies in %s", n, g.copies);
}

/* Blames the generations the previous worker left on probation, or forgets them. */
static void settle_states(int after_crash, const bm_crash_record *cr)
{
    char d[1100];
    snprintf(d, sizeof d, "%s/state", g.dir);
    DIR *dir = opendir(d);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".rec") != 0)
            continue;
        char p[1400], text[4096], name[64], serves[64], file[1024], hex[20], gen[16], st[16];
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        if (read_small(p, text, sizeof text) != 0)
            continue;
        field(text, "name", name, sizeof name);
        field(text, "serves", serves, sizeof serves);
        field(text, "file", file, sizeof file);
        field(text, "hash", hex, sizeof hex);
        field(text, "generation", gen, sizeof gen);
        field(text, "state", st, sizeof st);
        uint64_t hash = strtoull(hex, NULL, 16);
        char reason[512];
        if (cr && strcmp(cr->module, name) == 0 && atoi(gen) == cr->generation) {
            snprintf(reason, sizeof reason, "%s in %s%s%s (generation %d)", cr->reason,
                     cr->callback, cr->campaign[0] ? " of campaign " : "", cr->campaign,
                     cr->generation);
            quarantine(hash, name, serves, file, reason);
        } else if (strcmp(st, "probation") == 0 && after_crash && !cr) {
            /* No record names the culprit (it died where no handler runs): every
             * generation still on probation is suspect. */
            snprintf(reason, sizeof reason, "on probation (generation %s) when the worker died: %s",
                     gen,
                     bm_supervisor_restart_reason()[0] ? bm_supervisor_restart_reason()
                                                       : "unexpected exit");
            quarantine(hash, name, serves, file, reason);
        }
        /* Generations are numbered afresh by every process: the records are history
         * now (the good copies are in good/). */
        unlink(p);
    }
    if (dir)
        closedir(dir);
}

int bm_probation_open(const char *state_dir, const char *copy_dir, int after_crash, int probation_s,
                      char *err, size_t errlen)
{
    memset(&g, 0, sizeof g);
    snprintf(g.dir, sizeof g.dir, "%s", state_dir);
    snprintf(g.copies, sizeof g.copies, "%s", copy_dir);
    snprintf(g.crash, sizeof g.crash, "%s/crash.rec", state_dir);
    g.probation_s = probation_s;
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
        return -1;
    }
    static const char *const subs[] = {"state", "good", "quarantine"};
    for (size_t i = 0; i < 3; i++) {
        char p[1100];
        snprintf(p, sizeof p, "%s/%s", state_dir, subs[i]);
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: %s", p, strerror(errno));
            return -1;
        }
    }
    clear_stale_copies();
    load_quarantine();
    bm_crash_record cr;
    int have = bm_watchdog_take_record(g.crash, &cr) == 0;
    if (have)
        bm_error("loader",
                 "the previous worker ended in module=%s generation=%d callback=%s%s%s: %s",
                 cr.module, cr.generation, cr.callback, cr.campaign[0] ? " campaign=" : "",
                 cr.campaign, cr.reason);
    settle_states(after_crash, have ? &cr : NULL);
    g.open = 1;
    return 0;
}

const char *bm_probation_crash_path(void)
{
    return g.crash;
}

int bm_probation_check(const char *path, char *use, size_t uselen, char *why, size_t whylen)
{
    if (!g.open)
        return 0;
    quarantined *q = find_q(bm_probation_file_hash(path));
    if (!q)
        return 0;
    good_copy(q->module, q->hash, use, uselen);
    if (use[0]) {
        snprintf(why, whylen, "quarantined: %s; serving the last good copy", q->reason);
        bm_error("loader",
                 "quarantined file=%s module=%s reason=\"%s\"; loading the last good copy %s", path,
                 q->module, q->reason, use);
        return 1;
    }
    snprintf(why, whylen, "quarantined: %s; no good copy of module %s", q->reason, q->module);
    bm_error("loader", "quarantined file=%s module=%s reason=\"%s\"; not loaded, no good copy",
             path, q->module, q->reason);
    return -1;
}

/* state/<name>.g<generation>.rec */
static void state_path(char *out, size_t len, const char *name, int generation)
{
    char base[100];
    snprintf(base, sizeof base, "%s.g%d", name, generation);
    path_of(out, len, "state", base, ".rec");
}

/* Removes the state records of `name` other than generation `keep`. */
static void drop_states(const char *name, int keep)
{
    char d[1100], prefix[80];
    snprintf(d, sizeof d, "%s/state", g.dir);
    snprintf(prefix, sizeof prefix, "%s.g", name);
    size_t pl = strlen(prefix);
    DIR *dir = opendir(d);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, prefix, pl) != 0 || atoi(de->d_name + pl) == keep)
            continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        unlink(p);
    }
    if (dir)
        closedir(dir);
}

static void write_state(const bm_modinst *mi, const char *state, uint64_t hash)
{
    char text[2048], p[1200];
    int n = snprintf(
        text, sizeof text, "name=%s\nserves=%s\nfile=%s\nhash=%016llx\ngeneration=%d\nstate=%s\n",
        mi->name, mi->m->serves, mi->src_path, (unsigned long long)hash, mi->generation, state);
    state_path(p, sizeof p, mi->name, mi->generation);
    if (write_durable(p, text, (size_t)n) != 0)
        bm_error("loader", "cannot write %s: %s", p, strerror(errno));
}

void bm_probation_begin(const bm_modinst *mi)
{
    if (!g.open)
        return;
    write_state(mi, "probation", bm_probation_file_hash(mi->copy_path));
    for (size_t i = 0; i < g.np; i++)
        if (strcmp(g.p[i].name, mi->name) == 0) {
            g.p[i].generation = mi->generation;
            g.p[i].since_ms = mono_ms();
            return;
        }
    if (g.np < BM_PROB_MAX) {
        on_probation *o = &g.p[g.np++];
        snprintf(o->name, sizeof o->name, "%s", mi->name);
        o->generation = mi->generation;
        o->since_ms = mono_ms();
    }
}

static void drop_probation(size_t i)
{
    g.p[i] = g.p[--g.np];
}

void bm_probation_abandon(const bm_modinst *mi)
{
    if (!g.open)
        return;
    for (size_t i = 0; i < g.np; i++)
        if (strcmp(g.p[i].name, mi->name) == 0 && g.p[i].generation == mi->generation) {
            drop_probation(i);
            break;
        }
    /* The generation in service keeps its own record. */
    char p[1200];
    state_path(p, sizeof p, mi->name, mi->generation);
    unlink(p);
}

static void promote(const bm_modinst *mi)
{
    char good[1200], tmp[1300], text[2048];
    uint64_t hash = bm_probation_file_hash(mi->copy_path);
    path_of(good, sizeof good, "good", mi->name, ".so");
    snprintf(tmp, sizeof tmp, "%s.tmp", good);
    /* Copy the generation's private copy: the file in the modules directory may
     * have been replaced since it was loaded. */
    int in = open(mi->copy_path, O_RDONLY | O_CLOEXEC);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    int ok = in >= 0 && out >= 0;
    char buf[65536];
    ssize_t n;
    while (ok && (n = read(in, buf, sizeof buf)) > 0)
        ok = write(out, buf, (size_t)n) == n;
    if (in >= 0)
        close(in);
    if (out >= 0) {
        ok = fsync(out) == 0 && ok;
        ok = close(out) == 0 && ok;
    }
    if (!ok || rename(tmp, good) != 0) {
        unlink(tmp);
        bm_error("loader", "cannot keep the good copy of module=%s: %s", mi->name, strerror(errno));
        return;
    }
    int len =
        snprintf(text, sizeof text, "name=%s\nversion=%s\nfile=%s\nhash=%016llx\ngeneration=%d\n",
                 mi->name, mi->m->version, mi->src_path, (unsigned long long)hash, mi->generation);
    char rec[1200];
    path_of(rec, sizeof rec, "good", mi->name, ".rec");
    write_durable(rec, text, (size_t)len);
    write_state(mi, "good", hash);
    drop_states(mi->name, mi->generation);
    bm_info("loader", "module=%s generation=%d version=%s proven; kept as the last good copy %s",
            mi->name, mi->generation, mi->m->version, good);
}

void bm_probation_tick(const bm_modset *mods)
{
    if (!g.open || g.np == 0)
        return;
    int64_t now = mono_ms(), need = (int64_t)g.probation_s * 1000;
    for (size_t i = 0; i < g.np;) {
        const bm_modinst *mi = NULL;
        for (size_t k = 0; mods && k < mods->n; k++)
            if (strcmp(mods->mods[k]->name, g.p[i].name) == 0 &&
                mods->mods[k]->generation == g.p[i].generation)
                mi = mods->mods[k];
        int64_t age = now - g.p[i].since_ms;
        if (!mi) {
            if (age > need) /* replaced or removed meanwhile */
                drop_probation(i);
            else
                i++;
            continue;
        }
        if (age >= need && (mi->events > 0 || age >= 10 * need)) {
            promote(mi);
            drop_probation(i);
            continue;
        }
        i++;
    }
}

void bm_probation_close(void)
{
    if (!g.open)
        return;
    for (size_t i = 0; i < g.np; i++) {
        char p[1200];
        state_path(p, sizeof p, g.p[i].name, g.p[i].generation);
        unlink(p);
    }
    g.np = 0;
    g.open = 0;
}

const char *bm_probation_disabled_reason(const char *serves)
{
    for (size_t i = 0; serves && i < g.nq; i++) {
        if (strcmp(g.q[i].serves, serves) != 0)
            continue;
        char good[1200];
        good_copy(g.q[i].module, g.q[i].hash, good, sizeof good);
        if (good[0])
            continue;
        /* The campaign's status field is short: the reason comes first. */
        snprintf(g.why, sizeof g.why, "module %s quarantined: %.200s (%.200s)", g.q[i].module,
                 g.q[i].reason, g.q[i].file);
        return g.why;
    }
    return NULL;
}

size_t bm_probation_quarantined(void)
{
    return __atomic_load_n(&g.nq, __ATOMIC_RELAXED);
}

json_t *bm_probation_json(void)
{
    json_t *o = json_object(), *qa = json_array(), *pa = json_array();
    for (size_t i = 0; i < g.nq; i++) {
        char hex[20], good[1200];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)g.q[i].hash);
        good_copy(g.q[i].module, g.q[i].hash, good, sizeof good);
        json_array_append_new(qa, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "file",
                                            g.q[i].file, "module", g.q[i].module, "serves",
                                            g.q[i].serves, "hash", hex, "reason", g.q[i].reason,
                                            "at", g.q[i].at, "goodCopy", good));
    }
    for (size_t i = 0; i < g.np; i++)
        json_array_append_new(
            pa, json_pack("{s:s, s:i}", "module", g.p[i].name, "generation", g.p[i].generation));
    json_object_set_new(o, "quarantined", qa);
    json_object_set_new(o, "probation", pa);
    return o;
}
