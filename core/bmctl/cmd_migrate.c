/* bmctl migrate: applies sql/NNN_name.sql migrations to the configured database. */
#include "bmctl/bmctl.h"
#include "pg/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void migrate_usage(FILE *out)
{
    fprintf(out,
            "usage: bmctl migrate [--sql-dir DIR]\n"
            "  Applies every migration of DIR not yet recorded in schema_migrations.\n"
            "  DIR defaults to $BM_SQL_DIR, else ./sql if present, else %s.\n",
            BM_DEFAULT_SQL_DIR);
}

/* The option wins, then the environment, then a checkout's ./sql, then the installed copy. */
static const char *migrate_sql_dir(const char *opt)
{
    if (opt)
        return opt;
    const char *env = getenv("BM_SQL_DIR");
    if (env && *env)
        return env;
    struct stat st;
    if (stat("sql", &st) == 0 && S_ISDIR(st.st_mode))
        return "sql";
    return BM_DEFAULT_SQL_DIR;
}

/* Highest recorded version, 0 when none; -1 with err on failure. */
static long migrate_schema_version(PGconn *c, char *err, size_t errlen)
{
    const char *sql = "SELECT coalesce(max(version), 0) FROM schema_migrations";
    PGresult *r = PQexec(c, sql);
    long v = -1;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atol(PQgetvalue(r, 0, 0));
    else
        snprintf(err, errlen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    err[strcspn(err, "\n")] = '\0';
    PQclear(r);
    return v;
}

int bm_cmd_migrate(bm_ctl *ctl, int argc, char **argv)
{
    const char *opt_dir = NULL;
    char err[2048] = "";
    int applied = 0, rc = 1;
    PGconn *c = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sql-dir") == 0 && i + 1 < argc) {
            opt_dir = argv[++i];
        } else if (strncmp(argv[i], "--sql-dir=", 10) == 0) {
            opt_dir = argv[i] + 10;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            migrate_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "migrate: unexpected argument '%s'\n", argv[i]);
            migrate_usage(stderr);
            return 2;
        }
    }
    const char *dir = migrate_sql_dir(opt_dir);

    c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "migrate: %s\n", err);
        goto fail;
    }
    if (bm_pg_migrate(c, dir, &applied, err, sizeof err) != 0) {
        fprintf(stderr, "migrate: %s\n", err);
        if (applied > 0)
            fprintf(stderr, "migrate: %d migration(s) applied before the failure\n", applied);
        goto fail;
    }
    long version = migrate_schema_version(c, err, sizeof err);
    if (version < 0) {
        fprintf(stderr, "migrate: %s\n", err);
        goto fail;
    }
    printf("applied %d migration(s); schema at %03ld\n", applied, version);
    rc = 0;
fail:
    PQfinish(c);
    return rc;
}
