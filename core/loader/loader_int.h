/* Loader internals shared by the loader's files; not part of the engine interface. */
#ifndef BM_LOADER_INT_H
#define BM_LOADER_INT_H

#include "loader/loader.h"

/* One loaded module instance (one generation of one module file). */
struct bm_modinst {
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
    void *engine_data; /* the host's slot: the campaign registry's adoptions */
    /* pinning (bm_loader), guarded by the loader's lock */
    int refs;              /* bm_modref handles held on this instance */
    int retired;           /* no longer in the current set: closed when refs reach 0 */
    int closing;           /* a thread is draining/closing it */
    int overdue;           /* still loaded past engine.drain_deadline_ms */
    int64_t retired_at_ms; /* monotonic time it was retired */
    struct bm_modinst *next_retired;
};

/*
 * bm_loader_open with the file each taken name came from, so a duplicate is
 * refused as "name: 'x' already loaded from FILE". taken_files may be NULL.
 */
int bm_loader_open_ex(const char *path, const char *copy_dir, int gen, const bm_loader_host *lh,
                      const char *const *taken, const char *const *taken_files, size_t ntaken,
                      bm_modinst **out, char *err, size_t errlen);

/* Release hook, destroy, host_free, dlclose, unlink: no drain. */
void bm_loader_destroy(bm_modinst *mi, const bm_loader_host *lh);

#endif
