/* Config validation helpers shared by the in-tree campaign modules. */
#ifndef BM_MODCFG_H
#define BM_MODCFG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <brightmatter/module.h>

/* Writes "path: <formatted reason>" to err; returns -1. */
int bm_modcfg_fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Refuses keys of obj not in the NULL-terminated `allowed` list, naming the
 * field and the allowed key it is a near miss of ("did you mean customFormula?");
 * path "" names top-level keys bare. 0 or -1. */
int bm_modcfg_check_keys(json_t *obj, const char *path, const char *const *allowed, char *err,
                         size_t errlen);
/* The allowed key `key` is a near miss of (a typo away), or NULL. */
const char *bm_modcfg_suggest(const char *key, const char *const *allowed);
/* Keys every campaign document may carry, whatever its module (NULL-terminated):
 * identity, window and dashboard fields the host or the UI reads. */
extern const char *const bm_modcfg_common_keys[];
/* Refuses top-level keys that are neither in bm_modcfg_common_keys nor in the
 * module's NULL-terminated `own` list; 0 or -1 with err. */
int bm_modcfg_check_top(json_t *root, const char *const *own, char *err, size_t errlen);
/* A number where the event (or config) may carry a numeric string: a JSON
 * number, or a string that is entirely a finite decimal number ("3", "-2.5e1").
 * 1 with *out set, 0 otherwise. */
int bm_modcfg_number_of(json_t *v, double *out);
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
/* The window's end in ms since the epoch (0 = none) of a document that passed
 * bm_modcfg_window. */
int64_t bm_modcfg_window_end(json_t *root);

/* gating.communities: a list of at most 32 community ids (strings of 1..64
 * bytes) -> a NULL-terminated malloc'd list in *out (NULL when absent or
 * empty); 0 or -1 with err naming the field. */
int bm_modcfg_communities(json_t *v, const char *path, char ***out, char *err, size_t errlen);
/* 1 when `list` is NULL or the user is an active member of any of them (the
 * host's community_member, as of this point of the batch). */
int bm_modcfg_member_any(const bm_host_api *api, bm_batch *b, char *const *list, const char *user);
/* Frees a list from bm_modcfg_communities (NULL is fine). */
void bm_modcfg_strv_free(char **v);

#endif
