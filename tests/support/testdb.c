/* Test databases in the private cluster: create, migrate, drop. */
#include "support/testdb.h"

#include "pg/pg.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TESTDB_MAX_NAME 40

static const char *testdb_admin_dsn(void)
{
    const char *dsn = getenv("BM_POSTGRES_DSN");
    if (!dsn || !*dsn)
        fail_msg("BM_POSTGRES_DSN not set: run through scripts/test");
    return dsn;
}

/* Database names are spliced into SQL, so only a safe alphabet is accepted. */
static void testdb_check_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > TESTDB_MAX_NAME)
        fail_msg("test database name '%s' must be 1..%d characters", name ? name : "(null)",
                 TESTDB_MAX_NAME);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
            fail_msg("test database name '%s' may only use [a-z0-9_]", name);
    }
}

/* Appends `kw='value'` with libpq quoting; 0 or -1 when out of room. */
static int testdb_append(char *out, size_t len, size_t *pos, const char *kw, const char *val)
{
    int n = snprintf(out + *pos, len - *pos, "%s%s='", *pos ? " " : "", kw);
    if (n < 0 || (size_t)n >= len - *pos)
        return -1;
    *pos += (size_t)n;
    for (const char *p = val; *p; p++) {
        if (*pos + 3 >= len)
            return -1;
        if (*p == '\'' || *p == '\\')
            out[(*pos)++] = '\\';
        out[(*pos)++] = *p;
    }
    if (*pos + 2 >= len)
        return -1;
    out[(*pos)++] = '\'';
    out[*pos] = '\0';
    return 0;
}

/* The admin DSN (keyword or URI form) with its dbname replaced. */
static void testdb_dsn_for(const char *dbname, char *out, size_t len)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(testdb_admin_dsn(), &perr);
    if (!opts) {
        fail_msg("BM_POSTGRES_DSN does not parse: %s", perr ? perr : "out of memory");
        return; /* not reached: fail_msg jumps out of the test */
    }
    size_t pos = 0;
    int rc = 0;
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword && rc == 0; o++) {
        if (o->val && *o->val && strcmp(o->keyword, "dbname") != 0)
            rc = testdb_append(out, len, &pos, o->keyword, o->val);
    }
    if (rc == 0)
        rc = testdb_append(out, len, &pos, "dbname", dbname);
    PQconninfoFree(opts);
    if (rc != 0)
        fail_msg("DSN for %s does not fit in %zu bytes", dbname, len);
}

static PGconn *testdb_connect(const char *dsn)
{
    char err[1024];
    PGconn *c = bm_pg_connect(dsn, err, sizeof err);
    if (!c)
        fail_msg("cannot connect to '%s': %s", dsn, err);
    return c;
}

/* Runs one statement on the cluster's admin database. */
static void testdb_admin_exec(const char *sql)
{
    char err[1024];
    PGconn *admin = testdb_connect(testdb_admin_dsn());
    int rc = bm_pg_exec(admin, sql, err, sizeof err);
    PQfinish(admin);
    if (rc != 0)
        fail_msg("%s: %s", sql, err);
}

const char *bm_testdb_sql_dir(void)
{
    static char dir[4096];
    const char *src = getenv("BM_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/sql", src && *src ? src : BM_TEST_SOURCE_DIR);
    return dir;
}

PGconn *bm_testdb_create_empty(const char *name, char *dsn_out, size_t dsn_len)
{
    char sql[256], db[64];
    testdb_check_name(name);
    snprintf(db, sizeof db, "bmt_%s", name);
    /* FORCE ends sessions a crashed earlier run may have left behind. */
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    testdb_admin_exec(sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    testdb_admin_exec(sql);
    testdb_dsn_for(db, dsn_out, dsn_len);
    return testdb_connect(dsn_out);
}

PGconn *bm_testdb_create(const char *name, char *dsn_out, size_t dsn_len)
{
    char err[2048];
    int applied = 0;
    PGconn *c = bm_testdb_create_empty(name, dsn_out, dsn_len);
    if (bm_pg_migrate(c, bm_testdb_sql_dir(), &applied, err, sizeof err) != 0) {
        PQfinish(c);
        fail_msg("migrating bmt_%s from %s: %s", name, bm_testdb_sql_dir(), err);
    }
    return c;
}

void bm_testdb_drop(PGconn *c, const char *name)
{
    char sql[256];
    if (c)
        PQfinish(c);
    testdb_check_name(name);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS bmt_%s WITH (FORCE)", name);
    testdb_admin_exec(sql);
}

void bm_testdb_exec(PGconn *c, const char *sql)
{
    char err[2048];
    if (bm_pg_exec(c, sql, err, sizeof err) != 0)
        fail_msg("%s: %s", sql, err);
}

long long bm_testdb_query_ll(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 1) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s",
                 r && PQresultStatus(r) == PGRES_TUPLES_OK ? "expected one row, one column"
                                                           : PQerrorMessage(c));
        PQclear(r);
        fail_msg("%s: %s", sql, msg);
    }
    long long v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}
