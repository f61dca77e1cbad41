/*
 * Module loader: checks, generations, hot reload (DESIGN section 4).
 *
 * Every load copies the .so to a per-generation path first, because dlopen
 * of a path already open returns the old handle. The checks run in a fixed
 * order and the first failure is reported with the field that differs.
 */
#ifndef BM_LOADER_H
#define BM_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <brightmatter/module.h>

/* What `bmctl module check` prints on success. */
typedef struct bm_module_info {
    char name[64];
    char version[64];
    char serves[64];
    uint32_t kind;
    uint32_t abi_version;
} bm_module_info;

/* One loaded module instance (one generation of one module file). */
typedef struct bm_modinst {
    const bm_module *m;
    void *dl;
    void *instance; /* what init() returned */
    bm_host *host;  /* handed to init(); from bm_loader_host.host_new */
    char name[64];
    char src_path[1024];  /* file in the modules directory */
    char copy_path[1024]; /* private per-generation copy that was dlopened */
    int generation;
    /* identity of the source file when loaded, to notice changes */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    /* counters, updated by the processing thread, read by `bmctl modules` */
    uint64_t events;
    uint64_t errors;
    uint64_t skipped;
    void *engine_data; /* owned by the engine (per-instance campaign contexts) */
} bm_modinst;

/* A generation: the set of modules the engine dispatches to. */
typedef struct bm_modset {
    int generation;
    size_t n;
    bm_modinst **mods; /* sorted by name */
} bm_modset;

/* Hooks the loader calls into the host. */
typedef struct bm_loader_host {
    const bm_host_api *api;
    bm_host *(*host_new)(void *ud, const char *module_name);
    void (*host_free)(void *ud, bm_host *h);
    /* After init: lets the engine attach campaigns to the new instance.
     * Nonzero refuses the module with err (the old generation keeps serving). */
    int (*adopt)(void *ud, bm_modinst *mi, char *err, size_t errlen);
    /* Before destroy: lets the engine drop what adopt attached. */
    void (*release)(void *ud, bm_modinst *mi);
    void *ud;
} bm_loader_host;

/*
 * Offline checks (`bmctl module check`): entry symbol, magic, ABI version,
 * struct size, build signature, identity, spare slots. No init. 0 with info
 * filled, or -1 with err naming the field ("magic: got 0x.., want 0x..").
 */
int bm_loader_check(const char *path, bm_module_info *info, char *err, size_t errlen);

/*
 * Loads one module for generation `gen`: copy into copy_dir, dlopen
 * RTLD_NOW|RTLD_LOCAL, the checks above, init, then lh->adopt. `taken`
 * lists module names already loaded (duplicate check), may be NULL.
 */
int bm_loader_open(const char *path, const char *copy_dir, int gen, const bm_loader_host *lh,
                   const char *const *taken, size_t ntaken, bm_modinst **out, char *err,
                   size_t errlen);

/* Retires an instance: drain (bounded), release, destroy, dlclose, unlink the copy. */
void bm_loader_close(bm_modinst *mi, const bm_loader_host *lh);

typedef struct bm_scan_result {
    bm_modset *set;       /* the new generation (NULL if nothing changed) */
    bm_modinst **retired; /* instances the new set replaced or dropped */
    size_t nretired;
    int loaded, kept, refused, removed;
    char report[8192]; /* one line per file: "loaded|kept|refused|removed <file>: <detail>" */
} bm_scan_result;

/*
 * Re-scans `dir` against the current set `cur` (NULL on first start).
 * Unchanged files keep their instance; new or changed files are loaded at
 * generation cur->generation + 1; a refused changed file keeps its old
 * instance serving; files gone are retired. The caller swaps res->set in at
 * a batch boundary, then closes res->retired. Returns 0 unless the directory
 * cannot be read. A first scan (cur == NULL) always yields a set, possibly
 * empty. res->retired is allocated: free it with bm_scan_result_clear.
 */
int bm_loader_scan(const char *dir, const char *copy_dir, const bm_modset *cur,
                   const bm_loader_host *lh, bm_scan_result *res);

/* Frees res->retired (the array, not the instances: close those first). */
void bm_scan_result_clear(bm_scan_result *res);

/* Frees the set's array (not the instances). */
void bm_modset_free(bm_modset *s);

/* Instance serving a campaign/reward type in the set, or NULL. */
bm_modinst *bm_modset_find_serves(const bm_modset *s, uint32_t kind, const char *serves);

#endif
