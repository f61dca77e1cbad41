/* Migrations against a real PostgreSQL: fresh apply, no-op rerun, rollback, ordering, races. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pg/pg.h"
#include "support/testdb.h"

/* Counts sql/NNN_name.sql files and finds the highest version, as a user would by ls. */
static int count_repo_migrations(long *max_version)
{
    DIR *d = opendir(bm_testdb_sql_dir());
    assert_non_null(d);
    int n = 0;
    *max_version = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *p = e->d_name;
        size_t len = strlen(p);
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || p[digits] != '_' || len < 5 || strcmp(p + len - 4, ".sql") != 0)
            continue;
        long v = strtol(p, NULL, 10);
        if (v > *max_version)
            *max_version = v;
        n++;
    }
    closedir(d);
    return n;
}

/* Every recorded row, so a rerun that rewrites anything shows up as a difference. */
static char *migrations_snapshot(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT string_agg(version || ':' || name || ':' || applied_at, ','"
                            " ORDER BY version) FROM schema_migrations");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *s = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return s;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void make_temp_dir(char *dir, size_t len)
{
    const char *base = getenv("BM_BUILD_DIR");
    snprintf(dir, len, "%s/bm-migrate-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(dir));
}

static void remove_temp_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void test_fresh_database_then_rerun_is_noop(void **state)
{
    char dsn[1024], err[2048];
    long max_version;
    int applied = -1;
    int expected = count_repo_migrations(&max_version);
    assert_true(expected >= 1);

    PGconn *c = bm_testdb_create_empty("migrate_fresh", dsn, sizeof dsn);
    if (bm_pg_migrate(c, bm_testdb_sql_dir(), &applied, err, sizeof err) != 0)
        fail_msg("first migrate: %s", err);
    assert_int_equal(applied, expected);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM schema_migrations"), expected);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT max(version) FROM schema_migrations"),
                     max_version);
    char *before = migrations_snapshot(c);

    applied = -1;
    if (bm_pg_migrate(c, bm_testdb_sql_dir(), &applied, err, sizeof err) != 0)
        fail_msg("second migrate: %s", err);
    assert_int_equal(applied, 0);
    char *after = migrations_snapshot(c);
    assert_string_equal(before, after);
    free(before);
    free(after);
    bm_testdb_drop(c, "migrate_fresh");
}

static void test_schema_has_what_the_engine_needs(void **state)
{
    char dsn[1024];
    PGconn *c = bm_testdb_create("migrate_schema", dsn, sizeof dsn);
    const char *tables[] = {"consumer_offsets",    "outbox",   "user_progress",
                            "reward_fulfillments", "api_keys", "campaigns",
                            "schema_migrations"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_tables WHERE tablename = '%s'",
                 tables[i]);
        if (bm_testdb_query_ll(c, sql) != 1)
            fail_msg("table %s is missing", tables[i]);
    }
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM information_schema.columns"
                                           " WHERE table_name = 'reward_fulfillments'"
                                           " AND column_name = 'error_message'"),
                     1);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM information_schema.columns"
                                           " WHERE table_name = 'api_keys'"
                                           " AND column_name = 'key_hash' AND data_type = 'bytea'"),
                     1);

    /* A second grant with the same idempotency key must be refused by the database. */
    bm_testdb_exec(c, "INSERT INTO games (id, name, identifier)"
                      " VALUES ('00000000-0000-0000-0000-000000000001', 'g', 'game-1');"
                      "INSERT INTO campaigns (id, game_id, type, name, config)"
                      " VALUES ('00000000-0000-0000-0000-0000000000c1',"
                      " '00000000-0000-0000-0000-000000000001', 'quest', 'q', '{}');"
                      "INSERT INTO reward_fulfillments"
                      " (idempotency_key, campaign_id, user_id, reward_type, reward_config)"
                      " VALUES ('k1', '00000000-0000-0000-0000-0000000000c1', 'u1', 'webhook',"
                      " '{}')");
    PGresult *r = PQexec(c, "INSERT INTO reward_fulfillments"
                            " (idempotency_key, campaign_id, user_id, reward_type, reward_config)"
                            " VALUES ('k1', '00000000-0000-0000-0000-0000000000c1', 'u1',"
                            " 'webhook', '{}')");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23505");
    PQclear(r);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM reward_fulfillments"), 1);
    bm_testdb_drop(c, "migrate_schema");
}

static void test_broken_file_rolls_back_and_is_not_recorded(void **state)
{
    char dir[512], dsn[1024], err[2048];
    int applied = -1;
    make_temp_dir(dir, sizeof dir);
    write_file(dir, "001_good.sql", "CREATE TABLE t_good (a int);\n");
    write_file(dir, "002_broken.sql",
               "CREATE TABLE t_partial (a int);\nINSERT INTO t_partial VALUES (1);\nSELEC oops;\n");
    PGconn *c = bm_testdb_create_empty("migrate_broken", dsn, sizeof dsn);

    assert_int_equal(bm_pg_migrate(c, dir, &applied, err, sizeof err), -1);
    assert_int_equal(applied, 1);
    if (!strstr(err, "002_broken.sql") || !strstr(err, "line 3") || !strstr(err, "SELEC"))
        fail_msg("error does not name the file, line and token: %s", err);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM pg_tables"
                                           " WHERE tablename = 't_good'"),
                     1);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM pg_tables"
                                           " WHERE tablename = 't_partial'"),
                     0);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM schema_migrations"), 1);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT max(version) FROM schema_migrations"), 1);

    /* Once fixed, the same run picks it up. */
    write_file(dir, "002_broken.sql",
               "CREATE TABLE t_partial (a int);\nINSERT INTO t_partial VALUES (1);\n");
    if (bm_pg_migrate(c, dir, &applied, err, sizeof err) != 0)
        fail_msg("after fix: %s", err);
    assert_int_equal(applied, 1);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM t_partial"), 1);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT max(version) FROM schema_migrations"), 2);
    bm_testdb_drop(c, "migrate_broken");
    remove_temp_dir(dir);
}

static void test_files_apply_in_numeric_order_and_others_are_ignored(void **state)
{
    char dir[512], dsn[1024], err[2048];
    int applied = -1;
    make_temp_dir(dir, sizeof dir);
    write_file(dir, "2_log.sql", "CREATE TABLE order_log (id serial, v int);\n");
    write_file(dir, "010_ten.sql", "INSERT INTO order_log (v) VALUES (10);\n");
    write_file(dir, "003_three.sql", "INSERT INTO order_log (v) VALUES (3);\n");
    write_file(dir, "README.md", "not a migration\n");
    write_file(dir, "04x.sql", "SELEC not a migration name;\n");
    write_file(dir, "005_notes.txt", "SELEC not sql;\n");
    PGconn *c = bm_testdb_create_empty("migrate_order", dsn, sizeof dsn);

    if (bm_pg_migrate(c, dir, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, 3);
    PGresult *r = PQexec(c, "SELECT string_agg(v::text, ',' ORDER BY id) FROM order_log");
    assert_string_equal(PQgetvalue(r, 0, 0), "3,10");
    PQclear(r);

    /* Two files claiming one version is ambiguous: refused before touching anything. */
    write_file(dir, "011_a.sql", "CREATE TABLE dup_a (a int);\n");
    write_file(dir, "0011_b.sql", "CREATE TABLE dup_b (a int);\n");
    assert_int_equal(bm_pg_migrate(c, dir, &applied, err, sizeof err), -1);
    assert_int_equal(applied, 0);
    if (!strstr(err, "duplicate migration version 11"))
        fail_msg("unexpected error: %s", err);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM pg_tables"
                                           " WHERE tablename LIKE 'dup_%'"),
                     0);
    bm_testdb_drop(c, "migrate_order");
    remove_temp_dir(dir);
}

static void test_file_with_its_own_commit_is_refused(void **state)
{
    char dir[512], dsn[1024], err[2048];
    int applied = -1;
    make_temp_dir(dir, sizeof dir);
    write_file(dir, "001_commit.sql", "CREATE TABLE tc (a int);\nCOMMIT;\n");
    PGconn *c = bm_testdb_create_empty("migrate_commit", dsn, sizeof dsn);
    assert_int_equal(bm_pg_migrate(c, dir, &applied, err, sizeof err), -1);
    assert_int_equal(applied, 0);
    if (!strstr(err, "001_commit.sql"))
        fail_msg("error does not name the file: %s", err);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM schema_migrations"), 0);
    bm_testdb_drop(c, "migrate_commit");
    remove_temp_dir(dir);
}

typedef struct racer {
    const char *dsn;
    pthread_barrier_t *start;
    int rc, applied;
    char err[2048];
} racer;

static void *race_migrate(void *arg)
{
    racer *r = arg;
    PGconn *c = bm_pg_connect(r->dsn, r->err, sizeof r->err);
    pthread_barrier_wait(r->start);
    if (!c) {
        r->rc = -1;
        return NULL;
    }
    r->rc = bm_pg_migrate(c, bm_testdb_sql_dir(), &r->applied, r->err, sizeof r->err);
    PQfinish(c);
    return NULL;
}

static void test_two_processes_migrating_at_once_apply_each_file_once(void **state)
{
    char dsn[1024];
    long max_version;
    int expected = count_repo_migrations(&max_version);
    PGconn *c = bm_testdb_create_empty("migrate_race", dsn, sizeof dsn);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    racer r[2] = {{.dsn = dsn, .start = &start}, {.dsn = dsn, .start = &start}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_migrate, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
        if (r[i].rc != 0)
            fail_msg("racer %d: %s", i, r[i].err);
    }
    assert_int_equal(r[0].applied + r[1].applied, expected);
    assert_int_equal(bm_testdb_query_ll(c, "SELECT count(*) FROM schema_migrations"), expected);
    bm_testdb_drop(c, "migrate_race");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_database_then_rerun_is_noop),
        cmocka_unit_test(test_schema_has_what_the_engine_needs),
        cmocka_unit_test(test_broken_file_rolls_back_and_is_not_recorded),
        cmocka_unit_test(test_files_apply_in_numeric_order_and_others_are_ignored),
        cmocka_unit_test(test_file_with_its_own_commit_is_refused),
        cmocka_unit_test(test_two_processes_migrating_at_once_apply_each_file_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
