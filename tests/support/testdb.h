/*
 * Test databases: each integration test gets its own fresh, migrated database
 * in the private cluster that scripts/test starts (BM_POSTGRES_DSN).
 * Every failure here fails the calling cmocka test; nothing is skipped.
 */
#ifndef BM_TESTDB_H
#define BM_TESTDB_H

#include <libpq-fe.h>
#include <stddef.h>

/*
 * Drops and recreates database bmt_<name> (name: [a-z0-9_], up to 40 chars),
 * applies the repository's sql/ migrations, writes its DSN to dsn_out and
 * returns a connection to it.
 */
PGconn *bm_testdb_create(const char *name, char *dsn_out, size_t dsn_len);

/* Same as bm_testdb_create without applying any migration. */
PGconn *bm_testdb_create_empty(const char *name, char *dsn_out, size_t dsn_len);

/* Closes `c` (may be NULL) and drops database bmt_<name>. */
void bm_testdb_drop(PGconn *c, const char *name);

/* The repository's migration directory: $BM_SOURCE_DIR/sql. */
const char *bm_testdb_sql_dir(void);

/* Runs a statement or script; fails the test with the PostgreSQL error. */
void bm_testdb_exec(PGconn *c, const char *sql);

/* Runs a query returning one row, one column; fails the test otherwise. NULL reads as 0. */
long long bm_testdb_query_ll(PGconn *c, const char *sql);

#endif
