/* Expected totals of a bm-loadgen run, written as the --expect TSV file. */
#ifndef BM_LG_EXPECT_H
#define BM_LG_EXPECT_H

#include <stddef.h>
#include <stdint.h>

#include "gen.h"

typedef struct bm_lg_expect bm_lg_expect;

/* Empty totals for `users` users; NULL when out of memory. */
bm_lg_expect *bm_lg_expect_new(uint32_t users);

void bm_lg_expect_free(bm_lg_expect *x);

/* Counts one valid, first-time event (call in production order). */
void bm_lg_expect_add(bm_lg_expect *x, const bm_lg_event *ev);

/*
 * Writes the file (through path.tmp + rename, so readers never see half of
 * it): `header` (one line, without newline), one line per (user, type),
 * then the totals. Returns 0, or -1 with err.
 */
int bm_lg_expect_write(const bm_lg_expect *x, const bm_lg_gen *g, const char *header, uint64_t bad,
                       uint64_t dups, const char *path, char *err, size_t errlen);

#endif
