#include "util/buf.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bm_buf_free(bm_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void bm_buf_reset(bm_buf *b)
{
    b->len = 0;
    b->oom = 0;
}

int bm_buf_reserve(bm_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = ncap;
    return 0;
}

void bm_buf_append(bm_buf *b, const void *data, size_t n)
{
    if (bm_buf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void bm_buf_puts(bm_buf *b, const char *s)
{
    bm_buf_append(b, s, strlen(s));
}

void bm_buf_printf(bm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        bm_buf_append(b, tmp, (size_t)n);
        return;
    }
    if (bm_buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Digits by hand: this runs for every column of every state written. */
void bm_buf_i64(bm_buf *b, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    bm_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void bm_buf_double(bm_buf *b, double v)
{
    char tmp[40];
    int n;
    if (!isfinite(v))
        v = 0;
    if (fabs(v) < 9.0e15 && v == (double)(int64_t)v) {
        bm_buf_i64(b, (int64_t)v);
        return;
    }
    n = snprintf(tmp, sizeof tmp, "%.17g", v);
    bm_buf_append(b, tmp, (size_t)n);
}

void bm_buf_json_str(bm_buf *b, const char *s)
{
    bm_buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;
    for (; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\')
            continue;
        bm_buf_append(b, run, (size_t)(p - run));
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            bm_buf_append(b, esc, 2);
        } else {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            bm_buf_append(b, esc, 6);
        }
        run = p + 1;
    }
    bm_buf_append(b, run, (size_t)(p - run));
    bm_buf_append(b, "\"", 1);
}

void bm_buf_copy_str(bm_buf *b, const char *s)
{
    const char *run = s, *p = s;
    for (; *p; p++) {
        char c = *p;
        if (c != '\\' && c != '\t' && c != '\n' && c != '\r')
            continue;
        bm_buf_append(b, run, (size_t)(p - run));
        char esc[2] = {'\\', c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n' : 'r'};
        bm_buf_append(b, esc, 2);
        run = p + 1;
    }
    bm_buf_append(b, run, (size_t)(p - run));
}

void bm_buf_array_elem(bm_buf *b, const char *s)
{
    bm_buf_append(b, "\"", 1);
    const char *run = s, *p = s;
    for (; *p; p++) {
        if (*p != '\\' && *p != '"')
            continue;
        bm_buf_append(b, run, (size_t)(p - run));
        char esc[2] = {'\\', *p};
        bm_buf_append(b, esc, 2);
        run = p + 1;
    }
    bm_buf_append(b, run, (size_t)(p - run));
    bm_buf_append(b, "\"", 1);
}

const char *bm_buf_cstr(bm_buf *b)
{
    if (bm_buf_reserve(b, 0) != 0)
        return "";
    b->p[b->len] = '\0';
    return b->p;
}
