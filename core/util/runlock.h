/* One engine per run directory: admin.sock, http.port, the per-generation module
 * copies and the containment state in engine.run_dir belong to one process. */
#ifndef BM_RUNLOCK_H
#define BM_RUNLOCK_H

#include <stddef.h>

/*
 * Takes <run_dir>/engine.lock (flock, exclusive, not waiting) and writes this
 * pid into it. Returns the open descriptor, kept for the life of the process
 * (children forked from it share the lock), or -1 with err naming the process
 * that holds it.
 */
int bm_runlock_take(const char *run_dir, char *err, size_t errlen);

#endif
