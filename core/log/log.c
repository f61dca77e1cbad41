#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static int g_level = BM_LOG_LVL_INFO;
static const char *const g_names[] = {"debug", "info", "warn", "error"};

void bm_log_set_level(int level)
{
    g_level = level;
}

int bm_log_level(void)
{
    return g_level;
}

int bm_log_set_level_name(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, g_names[i]) == 0) {
            g_level = i;
            return 0;
        }
    }
    return -1;
}

/* Quotes a logfmt value: escapes quote, backslash and control bytes. */
static size_t quote(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && n + 4 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)*p;
        } else if (*p == '\n') {
            dst[n++] = '\\';
            dst[n++] = 'n';
        } else if (*p < 0x20) {
            dst[n++] = ' ';
        } else {
            dst[n++] = (char)*p;
        }
    }
    dst[n] = '\0';
    return n;
}

void bm_logv(int level, const char *module, const char *fmt, va_list ap)
{
    if (level < g_level)
        return;
    if (level < 0 || level > 3)
        level = BM_LOG_LVL_ERROR;
    char msg[2048], q[4200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    quote(q, sizeof q, msg);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    /* One fprintf so concurrent threads do not interleave within a line. */
    fprintf(stderr, "ts=%s.%03dZ level=%s module=%s msg=\"%s\"\n", ts, (int)(tv.tv_usec / 1000),
            g_names[level], module ? module : "core", q);
}

void bm_logf(int level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bm_logv(level, module, fmt, ap);
    va_end(ap);
}
