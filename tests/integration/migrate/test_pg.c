/* libpq helpers against a real PostgreSQL: errors a person can act on, lost connections. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pg/pg.h"
#include "support/testdb.h"

static void test_connect_failure_says_why(void **state)
{
    char err[1024] = "";
    PGconn *c = bm_pg_connect("host=/nonexistent-bm-socket-dir dbname=x connect_timeout=2", err,
                              sizeof err);
    assert_null(c);
    if (!strstr(err, "/nonexistent-bm-socket-dir"))
        fail_msg("error does not name the socket: %s", err);
    assert_null(strchr(err, '\n'));
}

static void test_exec_and_execp(void **state)
{
    char dsn[1024], err[1024] = "";
    PGconn *c = bm_testdb_create_empty("pg_exec", dsn, sizeof dsn);
    assert_int_equal(bm_pg_exec(c, "CREATE TABLE kv (k text PRIMARY KEY, v int)", err, sizeof err),
                     0);
    /* Parameters travel separately, so quotes in values are data, not SQL. */
    const char *p[2] = {"it's", "7"};
    assert_int_equal(bm_pg_execp(c, "INSERT INTO kv VALUES ($1, $2::int)", 2, p, err, sizeof err),
                     0);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT v FROM kv WHERE k = 'it''s'"), 7);

    assert_int_equal(bm_pg_execp(c, "INSERT INTO kv VALUES ($1, $2::int)", 2, p, err, sizeof err),
                     -1);
    if (!strstr(err, "duplicate key"))
        fail_msg("unexpected error: %s", err);

    /* A script error points at the line, as migration authors need. */
    assert_int_equal(
        bm_pg_exec(c, "SELECT 1;\nSELECT 2;\nSELECT nosuchcol FROM kv;", err, sizeof err), -1);
    if (!strstr(err, "line 3: ") || !strstr(err, "nosuchcol"))
        fail_msg("unexpected error: %s", err);
    /* Comment-only scripts are valid (a migration may be all comments). */
    assert_int_equal(bm_pg_exec(c, "-- nothing to do\n", err, sizeof err), 0);
    assert_int_equal(bm_pg_conn_lost(c), 0);
    bm_testdb_drop(c, "pg_exec");
}

static void test_conn_lost_after_backend_terminated(void **state)
{
    char dsn[1024], err[1024] = "", sql[128];
    PGconn *c = bm_testdb_create_empty("pg_lost", dsn, sizeof dsn);
    PGconn *killer = bm_pg_connect(dsn, err, sizeof err);
    assert_non_null(killer);

    /* An ordinary SQL error keeps the connection usable. */
    assert_int_equal(bm_pg_exec(c, "SELECT 1/0", err, sizeof err), -1);
    assert_int_equal(bm_pg_conn_lost(c), 0);

    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d, 5000)", PQbackendPID(c));
    assert_int_equal(bm_pg_exec(killer, sql, err, sizeof err), 0);
    assert_int_equal(bm_pg_exec(c, "SELECT 1", err, sizeof err), -1);
    assert_int_equal(bm_pg_conn_lost(c), 1);
    assert_int_equal(bm_pg_conn_lost(NULL), 1);
    PQfinish(killer);
    bm_testdb_drop(c, "pg_lost");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_failure_says_why),
        cmocka_unit_test(test_exec_and_execp),
        cmocka_unit_test(test_conn_lost_after_backend_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
