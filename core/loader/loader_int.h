/* Loader internals shared by loader.c and scan.c; not part of the engine interface. */
#ifndef BM_LOADER_INT_H
#define BM_LOADER_INT_H

#include "loader/loader.h"

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
