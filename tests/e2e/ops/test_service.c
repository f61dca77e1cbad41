/*
 * The engine under a service manager: with NOTIFY_SOCKET and WATCHDOG_USEC set
 * (as systemd sets them for Type=notify, WatchdogSec=) it says READY=1 once
 * it runs, pings WATCHDOG=1 at least every half period while it runs, says
 * STOPPING=1 on SIGTERM and exits 0. A database migrated past the binary's
 * schema is refused at startup with the reason.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e.h"

/* Datagrams received within ms, appended to buf as lines. */
static void collect(int fd, int ms, char *buf, size_t cap)
{
    int64_t end = bm_e2e_now_ms() + ms;
    while (bm_e2e_now_ms() < end) {
        char m[512];
        ssize_t n = recv(fd, m, sizeof m - 1, MSG_DONTWAIT);
        if (n <= 0) {
            bm_e2e_sleep_ms(10);
            continue;
        }
        m[n] = '\0';
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s\n", m);
    }
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_notify_and_watchdog(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "service", 2);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[300];
    snprintf(path, sizeof path, "%s/notify", e->dir);
    if (strlen(path) >= sizeof sa.sun_path)
        bm_e2e_fail("socket path too long: %s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    bm_e2e_setenv(e, "NOTIFY_SOCKET", sa.sun_path);
    bm_e2e_setenv(e, "WATCHDOG_USEC", "400000");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    static char got[65536];
    got[0] = '\0';
    bm_e2e_wait_log(&g, "msg=\"started roles=", 30000);
    collect(fd, 2000, got, sizeof got);
    assert_non_null(strstr(got, "READY=1"));
    /* 2 s at a 400 ms watchdog: a ping every 200 ms at most apart, so >= 8. */
    int pings = count(got, "WATCHDOG=1");
    fprintf(stderr, "e2e: %d watchdog pings in 2 s (WatchdogSec 0.4 s)\n", pings);
    assert_true(pings >= 8);
    assert_null(strstr(got, "STOPPING=1"));
    kill(g.pid, SIGTERM);
    assert_int_equal(bm_e2e_wait_exit(g.pid, 20000, "engine after SIGTERM"), 0);
    g.reaped = 1;
    collect(fd, 100, got, sizeof got);
    assert_non_null(strstr(got, "STOPPING=1"));
    close(fd);
}

static void test_newer_schema_refused(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "schema", 2);
    bm_e2e_ll(e, "WITH i AS (INSERT INTO schema_migrations (version, name) VALUES (999, "
                 "'999_from_the_future.sql') RETURNING 1) SELECT count(*) FROM i");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    int rc = bm_e2e_wait_exit(g.pid, 30000, "engine on a newer schema");
    g.reaped = 1;
    assert_int_not_equal(rc, 0);
    assert_true(bm_e2e_log_contains(&g, "schema version 999, newer than this binary's"));
}

/* store.retention_days drops whole day partitions of game_events at startup
 * (then hourly); younger days stay. */
static void test_event_store_retention(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "retention", 2);
    bm_e2e_ll(e, "SELECT count(*) FROM (SELECT bm_game_events_ensure("
                 "(extract(epoch FROM now() - interval '40 days') * 1000)::bigint, "
                 "(extract(epoch FROM now() - interval '38 days') * 1000)::bigint)) s");
    bm_e2e_ll(e, "SELECT count(*) FROM (SELECT bm_game_events_ensure("
                 "(extract(epoch FROM now() - interval '2 days') * 1000)::bigint, "
                 "(extract(epoch FROM now()) * 1000)::bigint)) s");
    const char *q = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'game_events'::regclass";
    assert_int_equal(bm_e2e_ll(e, "%s", q), 1 + 3 + 3); /* default + 2 ranges of 3 days */
    bm_e2e_setenv(e, "BM_STORE_RETENTION_DAYS", "30");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "retention dropped 3 day partitions", 30000);
    assert_int_equal(bm_e2e_ll(e, "%s", q), 1 + 3);
    bm_e2e_engine_stop(&g, 20000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_notify_and_watchdog, bm_e2e_setup, bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, bm_e2e_setup, bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_event_store_retention, bm_e2e_setup, bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
