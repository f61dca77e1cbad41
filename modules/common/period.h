/*
 * Reset calendars shared by the in-tree campaign modules (leaderboard
 * resetSchedule, recurring tournaments): which period an event time falls
 * in, its bounds, and the period's name.
 */
#ifndef BM_MOD_PERIOD_H
#define BM_MOD_PERIOD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* none, a fixed length (daily, or periodSeconds), weekly (from Monday), monthly. */
enum bm_period_kind { BM_PERIOD_NONE, BM_PERIOD_FIXED, BM_PERIOD_WEEKLY, BM_PERIOD_MONTHLY };

typedef struct bm_period {
    enum bm_period_kind kind;
    int64_t len_ms;    /* FIXED and WEEKLY: the period length */
    int64_t offset_ms; /* utcOffsetMinutes: periods start at local midnight */
    int64_t grace_ms;  /* graceSeconds: late events count until end + grace */
} bm_period;

/*
 * resetSchedule: "daily" | "weekly" | "monthly", or an object
 * {"every": "daily"|"weekly"|"monthly", "periodSeconds": N (instead of every),
 *  "utcOffsetMinutes": M, "graceSeconds": G}. Absent or null leaves kind
 * BM_PERIOD_NONE. grace_ms starts at default_grace_ms. 0, or -1 with err
 * naming the field under `path`.
 */
int bm_period_parse(json_t *r, const char *path, int64_t default_grace_ms, bm_period *p, char *err,
                    size_t errlen);
/* The period index of time t, with its bounds [start, end). */
int64_t bm_period_of(const bm_period *p, int64_t t, int64_t *start, int64_t *end);
/* The bounds of period index idx. */
void bm_period_bounds(const bm_period *p, int64_t idx, int64_t *start, int64_t *end);
/* A period's name: its start, RFC 3339 UTC ("2026-11-28T00:00:00Z"). */
void bm_period_name(int64_t start_ms, char *buf, size_t len);

#endif
