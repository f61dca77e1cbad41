/* logfmt logging on stderr: one line per record. */
#ifndef BM_LOG_H
#define BM_LOG_H

#include <stdarg.h>

enum { BM_LOG_LVL_DEBUG = 0, BM_LOG_LVL_INFO = 1, BM_LOG_LVL_WARN = 2, BM_LOG_LVL_ERROR = 3 };

/* Sets the minimum level written; "debug", "info", "warn", "error". 0 or -1 if unknown. */
int bm_log_set_level_name(const char *name);
void bm_log_set_level(int level);
int bm_log_level(void);

/*
 * Writes `ts=... level=... module=<module> msg="<formatted>"` then the
 * optional extra logfmt fields in `kv` (already formatted, may be NULL).
 */
void bm_logf(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void bm_logv(int level, const char *module, const char *fmt, va_list ap);

#define bm_debug(mod, ...) bm_logf(BM_LOG_LVL_DEBUG, mod, __VA_ARGS__)
#define bm_info(mod, ...) bm_logf(BM_LOG_LVL_INFO, mod, __VA_ARGS__)
#define bm_warn(mod, ...) bm_logf(BM_LOG_LVL_WARN, mod, __VA_ARGS__)
#define bm_error(mod, ...) bm_logf(BM_LOG_LVL_ERROR, mod, __VA_ARGS__)

#endif
