/*
 * RFC 3339 date-times: the one parser and formatter of the project. Plain C
 * with libc only, so the in-tree modules compile this very source (see
 * bm_add_module in CMakeLists.txt) instead of keeping copies.
 */
#ifndef BM_RFC3339_H
#define BM_RFC3339_H

#include <stddef.h>
#include <stdint.h>

/* Parses "2026-11-23T10:00:00.123Z" (offsets allowed, leap second clamped) to
 * ms since the epoch; 0, or -1 when s is not an RFC 3339 date-time. */
int bm_rfc3339_parse(const char *s, int64_t *ms_out);

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds. */
void bm_rfc3339_format(int64_t ms, char *buf, size_t len);

#endif
