/* Reset calendars (period.h): fixed lengths, weeks from Monday, calendar months. */
#include "period.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modcfg.h"

#define DAY_MS 86400000LL

/* floor division for negative times */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Start (ms, UTC) of month index y*12+m in the schedule's local time. */
static int64_t month_start(const bm_period *p, int64_t idx)
{
    int64_t y = floor_div(idx, 12), m = idx - y * 12;
    /* days from civil (proleptic Gregorian), March-based year */
    int64_t yy = m < 2 ? y - 1 : y, mm = m < 2 ? m + 10 : m - 2;
    int64_t era = floor_div(yy, 400), yoe = yy - era * 400;
    int64_t doy = (153 * mm + 2) / 5, doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return days * DAY_MS - p->offset_ms;
}

/* Fixed lengths count from midnight, weeks from a Monday (1970-01-05). */
static int64_t origin(const bm_period *p)
{
    return (p->kind == BM_PERIOD_WEEKLY ? 4 * DAY_MS : 0) - p->offset_ms;
}

void bm_period_bounds(const bm_period *p, int64_t idx, int64_t *start, int64_t *end)
{
    if (p->kind == BM_PERIOD_MONTHLY) {
        *start = month_start(p, idx);
        *end = month_start(p, idx + 1);
        return;
    }
    *start = origin(p) + idx * p->len_ms;
    *end = *start + p->len_ms;
}

int64_t bm_period_of(const bm_period *p, int64_t t, int64_t *start, int64_t *end)
{
    int64_t idx;
    if (p->kind == BM_PERIOD_MONTHLY) {
        time_t s = (time_t)floor_div(t + p->offset_ms, 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        idx = (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
    } else {
        idx = floor_div(t - origin(p), p->len_ms);
    }
    bm_period_bounds(p, idx, start, end);
    return idx;
}

void bm_period_name(int64_t start_ms, char *buf, size_t len)
{
    time_t secs = (time_t)floor_div(start_ms, 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "path.field: reason"; -1. */
static int fail_at(char *err, size_t errlen, const char *path, const char *field,
                   const char *reason)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s", path, field);
    return bm_modcfg_fail(err, errlen, full, "%s", reason);
}

int bm_period_parse(json_t *r, const char *path, int64_t default_grace_ms, bm_period *p, char *err,
                    size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->grace_ms = default_grace_ms;
    if (!r || json_is_null(r))
        return 0;
    static const char *const keys[] = {"every", "periodSeconds", "utcOffsetMinutes", "graceSeconds",
                                       NULL};
    json_t *every = r;
    if (json_is_object(r)) {
        if (bm_modcfg_check_keys(r, path, keys, err, errlen))
            return -1;
        every = json_object_get(r, "every");
        json_t *ps = json_object_get(r, "periodSeconds");
        if ((every != NULL) == (ps != NULL))
            return bm_modcfg_fail(err, errlen, path, "give one of every or periodSeconds");
        if (ps) {
            if (!json_is_integer(ps) || json_integer_value(ps) < 1 ||
                json_integer_value(ps) > 366 * 86400)
                return fail_at(err, errlen, path, "periodSeconds",
                               "must be an integer 1..31622400");
            p->kind = BM_PERIOD_FIXED;
            p->len_ms = json_integer_value(ps) * 1000;
        }
        json_t *off = json_object_get(r, "utcOffsetMinutes");
        if (off && (!json_is_integer(off) || llabs((long long)json_integer_value(off)) > 14 * 60))
            return fail_at(err, errlen, path, "utcOffsetMinutes", "must be an integer -840..840");
        p->offset_ms = off ? json_integer_value(off) * 60000 : 0;
        json_t *g = json_object_get(r, "graceSeconds");
        if (g &&
            (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > 7 * 86400))
            return fail_at(err, errlen, path, "graceSeconds", "must be an integer 0..604800");
        if (g)
            p->grace_ms = json_integer_value(g) * 1000;
    }
    if (every) {
        const char *v = json_string_value(every);
        if (v && strcmp(v, "daily") == 0) {
            p->kind = BM_PERIOD_FIXED;
            p->len_ms = DAY_MS;
        } else if (v && strcmp(v, "weekly") == 0) {
            p->kind = BM_PERIOD_WEEKLY;
            p->len_ms = 7 * DAY_MS;
        } else if (v && strcmp(v, "monthly") == 0) {
            p->kind = BM_PERIOD_MONTHLY;
        } else if (json_is_object(r)) {
            return fail_at(err, errlen, path, "every", "must be daily, weekly or monthly");
        } else {
            return bm_modcfg_fail(err, errlen, path, "must be daily, weekly or monthly");
        }
    }
    return 0;
}
