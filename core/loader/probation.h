/*
 * Crash-loop protection: probation, quarantine and last-known-good copies.
 *
 * Before the engine first calls into a newly loaded generation (its init),
 * a durable record puts it on probation. The generation is proven after
 * engine.probation_s with events handled (or ten times that idle); its
 * per-generation copy then becomes the module's last known good copy. At
 * start, a generation named by a crash record (core/watchdog), or still on
 * probation after the worker died, is quarantined by content hash: that file
 * is not loaded again; the last good copy of the module serves instead, or,
 * when there is none, the module's campaigns stay disabled with the reason.
 *
 * Files under the state directory (<run_dir>/containment): state/<name>.g<N>.rec
 * (a generation in service and whether it is on probation), good/<name>.so +
 * .rec, quarantine/<hash>.rec, crash.rec (written by the watchdog or the crash
 * handler).
 */
#ifndef BM_PROBATION_H
#define BM_PROBATION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/loader.h"

/*
 * Opens the records under state_dir at start: clears stale per-generation
 * copies from copy_dir, quarantines what the crash record names, and, when after_crash
 * (the master restarted this worker after a crash), every generation still on
 * probation; otherwise probation records are forgotten (the previous process
 * was stopped from outside, which proves nothing about its modules).
 * probation_s: see above. 0, or -1 with err.
 */
int bm_probation_open(const char *state_dir, const char *copy_dir, int after_crash, int probation_s,
                      char *err, size_t errlen);

/* Where the watchdog writes its crash record. */
const char *bm_probation_crash_path(void);

/*
 * Before loading `path`: 0 load it; 1 it is quarantined and `use` names the
 * last good copy to load instead; -1 it is quarantined and there is no good
 * copy (why says so).
 */
int bm_probation_check(const char *path, char *use, size_t uselen, char *why, size_t whylen);

/* Puts a generation on probation (durably) before its init is called. */
void bm_probation_begin(const bm_modinst *mi);
/* The generation was refused before serving: its probation record goes away. */
void bm_probation_abandon(const bm_modinst *mi);
/* At batch boundaries: promotes the generations that proved themselves. */
void bm_probation_tick(const bm_modset *mods);
/* At a clean stop: generations still on probation are forgotten, not blamed. */
void bm_probation_close(void);

/* Why campaigns of type `serves` have no module, when it is a quarantine (else NULL). */
const char *bm_probation_disabled_reason(const char *serves);

/* {"quarantined":[{file,module,hash,reason,at,goodCopy}], "probation":[names]} (caller owns). */
json_t *bm_probation_json(void);

/* How many files are quarantined; safe from any thread (for /metrics). */
size_t bm_probation_quarantined(void);

/* FNV-1a 64 of a file's bytes; 0 when it cannot be read. */
uint64_t bm_probation_file_hash(const char *path);

#endif
