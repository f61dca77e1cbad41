/* Config validation helpers shared by the in-tree campaign modules. */
#ifndef BM_MODCFG_H
#define BM_MODCFG_H

#include <stddef.h>

#include <jansson.h>

/* Writes "path: <formatted reason>" to err; returns -1. */
int bm_modcfg_fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Refuses keys of obj not in the NULL-terminated `allowed` list; 0 or -1. */
int bm_modcfg_check_keys(json_t *obj, const char *path, const char *const *allowed, char *err,
                         size_t errlen);
/* 1 for a finite JSON number. */
int bm_modcfg_is_number(json_t *v);
/* 1 when v is there and not null. */
int bm_modcfg_present(json_t *v);
/* 1 for a dotted path under data: non-empty segments of printable characters. */
int bm_modcfg_valid_path(const char *s);
/* Optional reward object at `path` -> canonical {"type","config"} text in *out
 * (NULL when absent); 0 or -1 with err naming the field. */
int bm_modcfg_reward(json_t *r, const char *path, char **out, char *err, size_t errlen);
/* Checks the window shapes the host reads: dateRange{start,end,ongoing} or
 * startDate/endDate/ongoing, RFC 3339 date-times, end after start; 0 or -1. */
int bm_modcfg_window(json_t *root, char *err, size_t errlen);

#endif
