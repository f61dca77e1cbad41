/* PostgreSQL helpers over libpq: connect, exec, migrations. */
#ifndef BM_PG_H
#define BM_PG_H

#include <libpq-fe.h>
#include <stddef.h>

/* Connects; NULL with err filled on failure. Sets client_min_messages=warning. */
PGconn *bm_pg_connect(const char *dsn, char *err, size_t errlen);

/* Refuses (-1 with err) a database migrated past BM_SCHEMA_VERSION, the highest
 * migration this binary was built with. */
int bm_pg_check_schema(PGconn *c, char *err, size_t errlen);

/* Runs a command or script (no result rows expected); 0 or -1 with err. */
int bm_pg_exec(PGconn *c, const char *sql, char *err, size_t errlen);

/* Runs a parameterised statement; 0 or -1 with err. */
int bm_pg_execp(PGconn *c, const char *sql, int nparams, const char *const *params, char *err,
                size_t errlen);

/*
 * Applies every sql/NNN_name.sql in `sql_dir` not yet in schema_migrations,
 * in order, each in its own transaction, under an advisory lock so two
 * processes do not race. *applied gets the count. 0 or -1 with err.
 */
int bm_pg_migrate(PGconn *c, const char *sql_dir, int *applied, char *err, size_t errlen);

/* 1 if the error on this connection means it is gone (reconnect), else 0. */
int bm_pg_conn_lost(PGconn *c);

#endif
