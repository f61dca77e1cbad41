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
    /* pinning (bm_loader), guarded by the loader's lock */
    int refs;              /* bm_modref handles held on this instance */
    int retired;           /* no longer in the current set: closed when refs reach 0 */
    int closing;           /* a thread is draining/closing it */
    int overdue;           /* still loaded past engine.drain_deadline_ms */
    int64_t retired_at_ms; /* monotonic time it was retired */
    struct bm_modinst *next_retired;
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
    /* Before destroy: lets the engine drop what adopt attached. For a retired
     * instance this may run on any thread (the last bm_loader_release), after
     * detach. */
    void (*release)(void *ud, bm_modinst *mi);
    /* Optional, processing thread, under the loader's lock, right after a
     * swap: point what the engine shares at the new set and unlink it from the
     * retired instances (which stay loaded while pinned). */
    void (*swapped)(void *ud, const bm_modset *now, bm_modinst *const *retired, size_t nretired);
    /* Optional, under the loader's lock: finds the campaign `id`, the instance
     * serving it and its context, and pins the campaign (its context stays
     * valid until unpin). Returns an opaque handle or NULL if not served. */
    void *(*campaign_pin)(void *ud, const char *id, bm_modinst **mi, void **cctx);
    void (*campaign_unpin)(void *ud, void *camp);
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

/* --- generations with pinned references (generations.c) ------------------
 *
 * bm_loader owns the current module set. The processing thread reloads it at
 * a batch boundary; any thread may pin an instance for an out-of-band call
 * (reward delivery, a gateway query). A retired instance is destroyed and
 * closed only once nothing holds it and its drain answered BM_OK; one still
 * loaded after engine.drain_deadline_ms is reported (bm_loader_retiring_json),
 * never cut off.
 */
typedef struct bm_loader bm_loader;
typedef struct bm_modref bm_modref;

/* NULL with err on OOM. lh is copied. */
bm_loader *bm_loader_new(const char *modules_dir, const char *copy_dir, const bm_loader_host *lh,
                         int drain_deadline_ms, char *err, size_t errlen);
/* Closes every instance, current and retired (roles are stopped first). */
void bm_loader_free(bm_loader *l);

/* Processing thread, batch boundary: scans and swaps in the new set, retiring
 * the instances it replaced (res->set and res->retired are consumed; report
 * and counts stay). 0, or -1 when the directory cannot be read. */
int bm_loader_reload(bm_loader *l, bm_scan_result *res);
/* The current set (processing thread only; NULL before the first reload). */
const bm_modset *bm_loader_current(const bm_loader *l);
/* Processing thread, batch boundary: drains and closes retired instances that
 * nothing holds; marks the ones past the deadline. */
void bm_loader_collect(bm_loader *l);
/* The lock that guards pins; the engine also holds it while it changes what
 * campaign_pin reads (the campaign registry). */
void bm_loader_lock(bm_loader *l);
void bm_loader_unlock(bm_loader *l);

/* Any thread: a reference on the current generation's instance serving
 * (kind, serves), or NULL when no module serves it. */
bm_modref *bm_loader_acquire(bm_loader *l, uint32_t kind, const char *serves);
/* Any thread: a reference on the instance serving campaign `campaign_id`,
 * with its context in *cctx (valid until release), or NULL. */
bm_modref *bm_loader_acquire_campaign(bm_loader *l, const char *campaign_id, void **cctx);
const bm_module *bm_modref_module(const bm_modref *r);
void *bm_modref_instance(const bm_modref *r);
bm_modinst *bm_modref_inst(const bm_modref *r);
/* Drops the reference; the last one of a retired generation destroys and
 * closes it (once its drain answers BM_OK; else the boundary retries). */
void bm_loader_release(bm_modref *r);

/* Retired instances still loaded, as JSON array text (caller frees):
 * [{"name","generation","refs","retiredMs","overdue"}]. */
char *bm_loader_retiring_json(bm_loader *l);
/* Number of retired instances still loaded. */
size_t bm_loader_nretiring(bm_loader *l);

#endif
