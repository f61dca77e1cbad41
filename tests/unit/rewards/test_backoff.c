/*
 * The rewards role's retry schedule: durations as ops write them, the
 * default schedule of the documentation, jitter bounds, and when a reward
 * gives up.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "config/config.h"
#include "rewards/rewards.h"

static void test_durations(void **state)
{
    (void)state;
    int64_t ms = -1;
    assert_int_equal(bm_duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(bm_duration_parse(" 5s", &ms), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(bm_duration_parse("2m", &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(bm_duration_parse("6h", &ms), 0);
    assert_int_equal(ms, 6 * 3600000LL);
    assert_int_equal(bm_duration_parse("3d", &ms), 0);
    assert_int_equal(ms, 3 * 86400000LL);
    assert_int_equal(bm_duration_parse("7", &ms), 0); /* bare number: seconds */
    assert_int_equal(ms, 7000);
    assert_int_equal(bm_duration_parse("", &ms), -1);
    assert_int_equal(bm_duration_parse("5 minutes", &ms), -1);
    assert_int_equal(bm_duration_parse("-5s", &ms), -1);
    assert_int_equal(bm_duration_parse("5x", &ms), -1);
}

static void test_default_schedule(void **state)
{
    (void)state;
    bm_config c;
    bm_config_defaults(&c);
    bm_backoff b;
    char err[256];
    assert_int_equal(bm_backoff_parse(&b, &c, err, sizeof err), 0);
    /* 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, then every 12 h; no jitter at rnd 0.5. */
    static const int64_t want[] = {5000,    30000,    120000,   600000,
                                   3600000, 21600000, 43200000, 43200000};
    for (int i = 0; i < 8; i++)
        assert_int_equal(bm_backoff_delay(&b, i + 1, 0.5), want[i]);
    /* Jitter stays within +-20 %. */
    assert_int_equal(bm_backoff_delay(&b, 1, 0.0), 4000);
    assert_true(bm_backoff_delay(&b, 1, 0.999999) <= 6000);
    assert_true(bm_backoff_delay(&b, 1, 0.999999) > 5900);
    /* Give up once the delays add up to more than 3 days: 6 steps (~7.2 h)
     * plus 5 x 12 h is 67.2 h; a sixth 12 h retry would pass 72 h. */
    assert_false(bm_backoff_exhausted(&b, 11));
    assert_true(bm_backoff_exhausted(&b, 12));
}

static void test_bad_config_names_the_key(void **state)
{
    (void)state;
    bm_config c;
    bm_config_defaults(&c);
    snprintf(c.rewards_backoff, sizeof c.rewards_backoff, "5s,soon");
    bm_backoff b;
    char err[256] = "";
    assert_int_equal(bm_backoff_parse(&b, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "rewards.backoff"));
    assert_non_null(strstr(err, "soon"));
    bm_config_defaults(&c);
    snprintf(c.rewards_backoff_repeat, sizeof c.rewards_backoff_repeat, "0s");
    assert_int_equal(bm_backoff_parse(&b, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "rewards.backoff_repeat"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_default_schedule),
        cmocka_unit_test(test_bad_config_names_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
