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

/*
 * One loaded module instance (one generation of one module file). The loader
 * owns it (loader_int.h); the host reads it through the functions below and
 * calls into it through the bm_modinst_call_* wrappers (call.c).
 */
typedef struct bm_modinst bm_modinst;

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

/*
 * StrictModes-like check of a modules directory (want_dir) or a module file:
 * it must exist, be owned by root or the effective user, and not be writable
 * by group or others. 0, or -1 with the reason in why (trust.c).
 */
int bm_loader_trusted(const char *path, int want_dir, char *why, size_t whylen);

/* Frees res->retired (the array, not the instances: close those first). */
void bm_scan_result_clear(bm_scan_result *res);

/* Frees the set's array (not the instances). */
void bm_modset_free(bm_modset *s);

/* Instance serving a campaign/reward type in the set, or NULL. */
bm_modinst *bm_modset_find_serves(const bm_modset *s, uint32_t kind, const char *serves);

/* --- one instance, as the host sees it (call.c) ---------------------------- */

/* Its module's ABI table (name, version, kind, serves, abi_version). */
const bm_module *bm_modinst_module(const bm_modinst *mi);
const char *bm_modinst_name(const bm_modinst *mi);
int bm_modinst_generation(const bm_modinst *mi);
/* The file in the modules directory it was loaded from. */
const char *bm_modinst_file(const bm_modinst *mi);
/* The host handle its init() got (per-module metrics). */
bm_host *bm_modinst_host(const bm_modinst *mi);

/* What the processing thread counted on it (`bmctl modules`, /metrics). */
typedef struct bm_modinst_counts {
    uint64_t events, errors, skipped;
} bm_modinst_counts;
bm_modinst_counts bm_modinst_counters(const bm_modinst *mi);

/* The slot the host keeps per instance (the campaign registry's adoptions);
 * NULL until set. */
void *bm_modinst_engine_data(const bm_modinst *mi);
void bm_modinst_set_engine_data(bm_modinst *mi, void *data);

/*
 * Calls into an instance. Each is marked for the watchdog with the module,
 * its generation and file and the campaign (NULL when the call is about no
 * campaign), and returns the callback's answer; a callback the module does not
 * have (or its ABI version predates) answers BM_OK. The event, tick and end
 * wrappers run on the processing thread and count on the instance: events and
 * skips for on_event, an error for any negative answer.
 */
int bm_modinst_call_campaign_add(bm_modinst *mi, const bm_campaign *c, bm_routes *routes,
                                 void **cctx, char *err, size_t errlen);
/* campaign_changed (ABI 2; when change is a BM_CAMPAIGN_* value, not 0), then
 * campaign_remove. */
void bm_modinst_call_campaign_remove(bm_modinst *mi, void *cctx, int change,
                                     const char *campaign_id);
int bm_modinst_call_event(bm_modinst *mi, void *cctx, bm_batch *b, const bm_event *ev,
                          const char *campaign_id);
int bm_modinst_call_tick(bm_modinst *mi, bm_batch *b, int64_t now_ms);
int bm_modinst_call_campaign_tick(bm_modinst *mi, void *cctx, bm_batch *b, int64_t now_ms,
                                  const char *campaign_id);
int bm_modinst_call_campaign_end(bm_modinst *mi, void *cctx, bm_batch *b, int reason,
                                 int64_t now_ms, const char *campaign_id);

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
