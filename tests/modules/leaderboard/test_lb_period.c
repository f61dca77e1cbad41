/*
 * resetSchedule's calendar (modules/leaderboard/leaderboard_period.c): which
 * period an event time falls in, for monthly (leap February, December into
 * January), weekly (Monday to Monday), daily with a UTC offset and fixed
 * lengths; and when a period counts as closed (end plus grace).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "leaderboard.h"
#include "util/rfc3339.h"

static int64_t ms(const char *ts)
{
    int64_t v;
    assert_int_equal(bm_rfc3339_parse(ts, &v), 0);
    return v;
}

static void expect(const lb_campaign *lb, const char *t, const char *start, const char *end)
{
    int64_t s, e;
    lb_period_of(lb, ms(t), &s, &e);
    assert_int_equal(s, ms(start));
    assert_int_equal(e, ms(end));
}

static void test_monthly(void **unused)
{
    (void)unused;
    lb_campaign lb;
    memset(&lb, 0, sizeof lb);
    lb.reset.kind = BM_PERIOD_MONTHLY;
    expect(&lb, "2024-02-29T23:59:59.999Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z");
    expect(&lb, "2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z");
    expect(&lb, "2026-12-31T12:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z");
    expect(&lb, "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z");
    /* UTC+2: the month starts at 22:00 UTC the day before. */
    lb.reset.offset_ms = 120 * 60000;
    expect(&lb, "2026-11-30T22:30:00Z", "2026-11-30T22:00:00Z", "2026-12-31T22:00:00Z");
    expect(&lb, "2026-11-30T21:59:59Z", "2026-10-31T22:00:00Z", "2026-11-30T22:00:00Z");
}

static void test_weekly_daily_fixed(void **unused)
{
    (void)unused;
    lb_campaign lb;
    memset(&lb, 0, sizeof lb);
    lb.reset.kind = BM_PERIOD_WEEKLY;
    lb.reset.len_ms = 7 * 86400000LL;
    /* 2026-11-28 is a Saturday: its week runs from Monday 23rd to Monday 30th. */
    expect(&lb, "2026-11-28T10:00:00Z", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z");
    expect(&lb, "2026-11-30T00:00:00Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z");
    lb.reset.kind = BM_PERIOD_FIXED;
    lb.reset.len_ms = 86400000LL;
    lb.reset.offset_ms = -300 * 60000; /* UTC-5: days start at 05:00 UTC */
    expect(&lb, "2026-11-28T04:59:59Z", "2026-11-27T05:00:00Z", "2026-11-28T05:00:00Z");
    expect(&lb, "2026-11-28T05:00:00Z", "2026-11-28T05:00:00Z", "2026-11-29T05:00:00Z");
    lb.reset.offset_ms = 0;
    lb.reset.len_ms = 20000;
    expect(&lb, "2026-11-28T10:00:19.999Z", "2026-11-28T10:00:00Z", "2026-11-28T10:00:20Z");
    /* Consecutive periods have consecutive indexes. */
    int64_t s, e;
    int64_t a = lb_period_of(&lb, ms("2026-11-28T10:00:19Z"), &s, &e);
    int64_t b = lb_period_of(&lb, ms("2026-11-28T10:00:20Z"), &s, &e);
    assert_int_equal(b, a + 1);
}

static void test_closed_after_grace(void **unused)
{
    (void)unused;
    lb_campaign lb;
    memset(&lb, 0, sizeof lb);
    lb.reset.kind = BM_PERIOD_FIXED;
    lb.reset.len_ms = 86400000LL;
    lb.reset.grace_ms = 60000;
    int64_t s, e;
    int64_t idx = lb_period_of(&lb, ms("2026-11-27T12:00:00Z"), &s, &e);
    assert_false(lb_period_closed(&lb, idx, ms("2026-11-28T00:00:59.999Z")));
    assert_true(lb_period_closed(&lb, idx, ms("2026-11-28T00:01:00Z")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monthly),
        cmocka_unit_test(test_weekly_daily_fixed),
        cmocka_unit_test(test_closed_after_grace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
