/*
 * Directory scan: turns the modules directory into the next generation.
 *
 * Unchanged files keep the very same instance (so counters and campaign
 * contexts survive a reload); new and changed files are loaded while the
 * current generation is still live, so a refused file costs nothing: its old
 * instance simply stays in the set. The caller swaps the set at a batch
 * boundary and only then closes what was retired.
 */
#include "loader/loader.h"
#include "loader/loader_int.h"
#include "loader/probation.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log/log.h"

typedef struct scan_file {
    char name[256];
    char path[1024];
    struct stat st;
} scan_file;

/* What happened to an instance of the current set during this scan. */
enum { OLD_GONE = 0, OLD_KEPT, OLD_PENDING, OLD_HELD, OLD_REPLACED };

static void report(bm_scan_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(bm_scan_result *res, const char *fmt, ...)
{
    size_t used = strlen(res->report);
    if (used + 1 >= sizeof res->report)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->report + used, sizeof res->report - used, fmt, ap);
    va_end(ap);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const scan_file *)a)->name, ((const scan_file *)b)->name);
}

static int cmp_inst(const void *a, const void *b)
{
    return strcmp((*(bm_modinst *const *)a)->name, (*(bm_modinst *const *)b)->name);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int same_identity(const bm_modinst *mi, const struct stat *st)
{
    return mi->dev == st->st_dev && mi->ino == st->st_ino && mi->size == st->st_size &&
           mi->mtime.tv_sec == st->st_mtim.tv_sec && mi->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Regular *.so files of dir, sorted by name; hidden files are install temporaries. */
static int list_dir(const char *dir, scan_file **out, size_t *nout)
{
    DIR *d = opendir(dir);
    scan_file *files = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= 3 || strcmp(de->d_name + len - 3, ".so") != 0)
            continue;
        if (len >= sizeof files[0].name)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            scan_file *nf = realloc(files, ncap * sizeof *nf);
            if (nf == NULL)
                goto fail;
            files = nf;
            cap = ncap;
        }
        scan_file *f = &files[n];
        snprintf(f->name, sizeof f->name, "%s", de->d_name);
        int pl = snprintf(f->path, sizeof f->path, "%s/%s", dir, de->d_name);
        if (pl < 0 || (size_t)pl >= sizeof f->path)
            continue;
        /* stat, not lstat: a symlink to a module is a module. */
        if (stat(f->path, &f->st) != 0 || !S_ISREG(f->st.st_mode))
            continue;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(files, n, sizeof *files, cmp_file);
    *out = files;
    *nout = n;
    return 0;
fail:
    closedir(d);
    free(files);
    errno = ENOMEM;
    return -1;
}

int bm_loader_scan(const char *dir, const char *copy_dir, const bm_modset *cur,
                   const bm_loader_host *lh, bm_scan_result *res)
{
    scan_file *files = NULL;
    size_t nfiles = 0, ncur = cur ? cur->n : 0, nnext = 0, ntaken;
    bm_modinst **next = NULL, **retired = NULL, **matched = NULL;
    int *state = NULL;
    const char **taken = NULL, **taken_files = NULL;
    int gen = cur ? cur->generation + 1 : 1;
    int rc = -1;
    char err[1024];

    memset(res, 0, sizeof *res);
    if (bm_loader_trusted(dir, 1, err, sizeof err) != 0) {
        report(res, "scan refused: %s\n", err);
        bm_logf(BM_LOG_LVL_ERROR, "loader", "scan refused: %s", err);
        return -1;
    }
    if (list_dir(dir, &files, &nfiles) != 0) {
        report(res, "scan %s: %s\n", dir, strerror(errno));
        bm_logf(BM_LOG_LVL_ERROR, "loader", "scan failed dir=%s error=%s", dir, strerror(errno));
        return -1;
    }
    /* Everything is allocated up front, so a refusal is the only way a load fails. */
    next = calloc(nfiles + ncur + 1, sizeof *next);
    retired = calloc(ncur + 1, sizeof *retired);
    matched = calloc(nfiles + 1, sizeof *matched);
    state = calloc(ncur + 1, sizeof *state);
    taken = calloc(nfiles + ncur + 1, sizeof *taken);
    taken_files = calloc(nfiles + ncur + 1, sizeof *taken_files);
    if (!next || !retired || !matched || !state || !taken || !taken_files) {
        report(res, "scan %s: out of memory\n", dir);
        goto done;
    }

    /* Pass 1: unchanged files keep their instance; changed ones stay live meanwhile. */
    for (size_t f = 0; f < nfiles; f++) {
        for (size_t c = 0; c < ncur; c++) {
            if (strcmp(cur->mods[c]->src_path, files[f].path) != 0)
                continue;
            matched[f] = cur->mods[c];
            if (same_identity(cur->mods[c], &files[f].st)) {
                state[c] = OLD_KEPT;
                next[nnext++] = cur->mods[c];
                res->kept++;
                report(res, "kept %s: %s %s generation %d\n", files[f].name, cur->mods[c]->name,
                       cur->mods[c]->m->version, cur->mods[c]->generation);
            } else {
                state[c] = OLD_PENDING;
            }
            break;
        }
    }

    /* Pass 2: load new and changed files at the next generation. */
    for (size_t f = 0; f < nfiles; f++) {
        bm_modinst *old = matched[f], *mi = NULL;
        size_t oc = 0;
        if (old) {
            while (cur->mods[oc] != old)
                oc++;
            if (state[oc] == OLD_KEPT)
                continue;
        }
        /* Taken: everything in the next set, plus other files' instances still
         * waiting for their replacement (they keep their name if it fails). */
        ntaken = 0;
        for (size_t i = 0; i < nnext; i++) {
            taken[ntaken] = next[i]->name;
            taken_files[ntaken++] = next[i]->src_path;
        }
        for (size_t c = 0; c < ncur; c++) {
            if (state[c] == OLD_PENDING && cur->mods[c] != old) {
                taken[ntaken] = cur->mods[c]->name;
                taken_files[ntaken++] = cur->mods[c]->src_path;
            }
        }
        /* A quarantined file is never loaded again: its module's last good copy
         * serves in its place, under the file's name (core/loader/probation.h). */
        char use[1024] = "";
        int pc = bm_loader_trusted(files[f].path, 0, err, sizeof err) == 0
                     ? bm_probation_check(files[f].path, use, sizeof use, err, sizeof err)
                     : -1;
        if (pc == 0 && bm_loader_open_ex(files[f].path, copy_dir, gen, lh, taken, taken_files,
                                         ntaken, &mi, err, sizeof err) != 0)
            mi = NULL;
        if (pc == 1 && bm_loader_open_ex(use, copy_dir, gen, lh, taken, taken_files, ntaken, &mi,
                                         err, sizeof err) == 0) {
            snprintf(mi->src_path, sizeof mi->src_path, "%s", files[f].path);
            mi->dev = files[f].st.st_dev;
            mi->ino = files[f].st.st_ino;
            mi->size = files[f].st.st_size;
            mi->mtime = files[f].st.st_mtim;
            report(res, "rollback %s: quarantined, serving the last good copy %s\n", files[f].name,
                   use);
        }
        if (mi) {
            next[nnext++] = mi;
            res->loaded++;
            if (old) {
                state[oc] = OLD_REPLACED;
                retired[res->nretired++] = old;
                report(res, "loaded %s: %s %s generation %d (replaces generation %d)\n",
                       files[f].name, mi->name, mi->m->version, gen, old->generation);
            } else {
                report(res, "loaded %s: %s %s generation %d\n", files[f].name, mi->name,
                       mi->m->version, gen);
            }
        } else {
            res->refused++;
            if (old) {
                state[oc] = OLD_HELD;
                next[nnext++] = old;
                report(res, "refused %s: %s (generation %d keeps serving)\n", files[f].name, err,
                       old->generation);
            } else {
                report(res, "refused %s: %s\n", files[f].name, err);
            }
        }
    }

    /* Pass 3: instances whose file is gone. */
    for (size_t c = 0; c < ncur; c++) {
        if (state[c] != OLD_GONE)
            continue;
        retired[res->nretired++] = cur->mods[c];
        res->removed++;
        report(res, "removed %s: %s generation %d\n", base_name(cur->mods[c]->src_path),
               cur->mods[c]->name, cur->mods[c]->generation);
    }

    /* A first scan always yields a set, even an empty one: the engine needs a generation. */
    if (cur == NULL || res->loaded > 0 || res->removed > 0) {
        bm_modset *s = calloc(1, sizeof *s);
        if (s == NULL) {
            /* Nothing may be retired if nothing replaces it: undo the loads. */
            for (size_t i = 0; i < nnext; i++)
                if (next[i]->generation == gen)
                    bm_loader_close(next[i], lh);
            res->nretired = 0;
            report(res, "scan %s: out of memory\n", dir);
            goto done;
        }
        if (nnext > 1)
            qsort(next, nnext, sizeof *next, cmp_inst);
        s->generation = gen;
        s->n = nnext;
        s->mods = next;
        next = NULL;
        res->set = s;
    }
    bm_logf(BM_LOG_LVL_INFO, "loader",
            "scan dir=%s generation=%d changed=%d loaded=%d kept=%d refused=%d removed=%d", dir,
            res->set ? gen : (cur ? cur->generation : 0), res->set != NULL, res->loaded, res->kept,
            res->refused, res->removed);
    if (res->nretired > 0) {
        res->retired = retired;
        retired = NULL;
    }
    rc = 0;
done:
    free(files);
    free(next);
    free(retired);
    free(matched);
    free(state);
    free(taken);
    free(taken_files);
    return rc;
}

void bm_modset_free(bm_modset *s)
{
    if (s == NULL)
        return;
    free(s->mods);
    free(s);
}

bm_modinst *bm_modset_find_serves(const bm_modset *s, uint32_t kind, const char *serves)
{
    if (s == NULL || serves == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->mods[i]->m->kind == kind && strcmp(s->mods[i]->m->serves, serves) == 0)
            return s->mods[i];
    return NULL;
}

void bm_scan_result_clear(bm_scan_result *res)
{
    free(res->retired);
    res->retired = NULL;
    res->nretired = 0;
}
