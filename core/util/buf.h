/* A growable byte buffer with the escapers the batch writer needs. */
#ifndef BM_BUF_H
#define BM_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct bm_buf {
    char *p;
    size_t len, cap;
    int oom; /* sticky: set when an append could not grow the buffer */
} bm_buf;

void bm_buf_free(bm_buf *b);
/* Keeps the allocation, forgets the content. */
void bm_buf_reset(bm_buf *b);
int bm_buf_reserve(bm_buf *b, size_t extra);
void bm_buf_append(bm_buf *b, const void *data, size_t n);
void bm_buf_puts(bm_buf *b, const char *s);
void bm_buf_printf(bm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bm_buf_i64(bm_buf *b, int64_t v);
/* A double with round-trip precision ("%.17g", but integers print as integers). */
void bm_buf_double(bm_buf *b, double v);
/* A JSON string literal, quotes included. */
void bm_buf_json_str(bm_buf *b, const char *s);
/* A field for COPY ... (FORMAT text): backslash escapes for \\, tab, newline, CR. */
void bm_buf_copy_str(bm_buf *b, const char *s);
/* An element of a PostgreSQL array literal: "..." with \\ and \" escaped. */
void bm_buf_array_elem(bm_buf *b, const char *s);
/* NUL-terminates (not counted in len) and returns the text. */
const char *bm_buf_cstr(bm_buf *b);

#endif
