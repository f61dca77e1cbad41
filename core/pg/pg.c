/* PostgreSQL helpers over libpq: connect, exec, migrations. */
#include "pg/pg.h"

#include "log/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fixed key of the session-level advisory lock held for a whole migration run. */
#define BM_PG_MIGRATE_LOCK_KEY "6655470853359470592"

typedef struct pg_migration {
    long version;
    char *file; /* file name inside the sql dir */
} pg_migration;

/* Copies libpq's message as one line: logs are one record per line. */
static void pg_copy_msg(const char *msg, char *err, size_t errlen)
{
    if (!err || errlen == 0)
        return;
    size_t n = 0;
    for (const char *p = msg && *msg ? msg : "unknown error"; *p && n + 1 < errlen; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            if (n > 0 && err[n - 1] != ' ')
                err[n++] = ' ';
            continue;
        }
        err[n++] = *p;
    }
    while (n > 0 && err[n - 1] == ' ')
        n--;
    err[n] = '\0';
}

/* Line (1-based) of the character position PostgreSQL reports, counting UTF-8 characters. */
static long pg_line_of(const char *sql, long pos)
{
    long line = 1, chars = 0;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        if (++chars >= pos)
            break;
        if (*p == '\n')
            line++;
    }
    return line;
}

/*
 * Formats the error of result `r` (or of the connection when the result holds
 * none). For multi-line scripts the line of the error is given, since that is
 * what a person fixing a migration file needs.
 */
static void pg_result_err(PGconn *c, const PGresult *r, const char *sql, char *err, size_t errlen)
{
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!primary) {
        const char *m = r ? PQresultErrorMessage(r) : NULL;
        pg_copy_msg(m && *m ? m : PQerrorMessage(c), err, errlen);
        return;
    }
    const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
    const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    char where[48] = "";
    if (pos && sql && strchr(sql, '\n'))
        snprintf(where, sizeof where, "line %ld: ", pg_line_of(sql, atol(pos)));
    if (detail)
        snprintf(err, errlen, "%s%s (%s)", where, primary, detail);
    else
        snprintf(err, errlen, "%s%s", where, primary);
}

/* True for statuses that mean the command ran; an empty or comment-only script counts. */
static int pg_status_ok(ExecStatusType st)
{
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* Server messages go to the log as logfmt lines, never raw on stderr. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    bm_warn("pg", "%.*s", (int)strcspn(message, "\n"), message);
}

PGconn *bm_pg_connect(const char *dsn, char *err, size_t errlen)
{
    /* The setting travels in the startup packet, so PQreset keeps it: a session
     * opened again after a database restart must not start printing NOTICEs. */
    const char *const keys[] = {"dbname", "options", NULL};
    const char *const vals[] = {dsn ? dsn : "", "-c client_min_messages=warning", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        pg_copy_msg("out of memory", err, errlen);
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        pg_copy_msg(PQerrorMessage(c), err, errlen);
        goto fail;
    }
    PQsetNoticeProcessor(c, on_notice, NULL);
    return c;
fail:
    PQfinish(c);
    return NULL;
}

int bm_pg_exec(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    int rc = 0;
    if (!r || !pg_status_ok(PQresultStatus(r))) {
        pg_result_err(c, r, sql, err, errlen);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

int bm_pg_execp(PGconn *c, const char *sql, int nparams, const char *const *params, char *err,
                size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (!r || !pg_status_ok(PQresultStatus(r))) {
        pg_result_err(c, r, sql, err, errlen);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

int bm_pg_conn_lost(PGconn *c)
{
    if (!c || PQstatus(c) != CONNECTION_OK)
        return 1;
    return PQtransactionStatus(c) == PQTRANS_UNKNOWN;
}

/* ---- migrations ---------------------------------------------------------- */

/* Version of a migration file name "NNN_name.sql"; -1 if the name does not match. */
static long pg_migration_version(const char *name)
{
    const char *p = name;
    while (isdigit((unsigned char)*p))
        p++;
    size_t len = strlen(name);
    if (p == name || *p != '_' || p - name > 9 || len < 5 || strcmp(name + len - 4, ".sql") != 0)
        return -1;
    return strtol(name, NULL, 10);
}

static int pg_migration_cmp(const void *a, const void *b)
{
    const pg_migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static void pg_migrations_free(pg_migration *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].file);
    free(m);
}

/* Lists the migration files of `dir` sorted by version; refuses duplicate versions. */
static int pg_migrations_list(const char *dir, pg_migration **out, size_t *count, char *err,
                              size_t errlen)
{
    pg_migration *m = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long v = pg_migration_version(e->d_name);
        if (v < 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            pg_migration *nm = realloc(m, ncap * sizeof *nm);
            if (!nm)
                goto oom;
            m = nm;
            cap = ncap;
        }
        m[n].version = v;
        m[n].file = strdup(e->d_name);
        if (!m[n].file)
            goto oom;
        n++;
    }
    closedir(d);
    d = NULL;
    if (n > 1)
        qsort(m, n, sizeof *m, pg_migration_cmp);
    for (size_t i = 1; i < n; i++) {
        if (m[i].version == m[i - 1].version) {
            snprintf(err, errlen, "%s and %s: duplicate migration version %ld", m[i - 1].file,
                     m[i].file, m[i].version);
            goto fail;
        }
    }
    *out = m;
    *count = n;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", dir);
fail:
    if (d)
        closedir(d);
    pg_migrations_free(m, n);
    return -1;
}

/* Reads a whole file into a NUL-terminated heap buffer. */
static char *pg_read_file(const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0)
        goto io;
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto io;
    buf = malloc((size_t)size + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto io;
    buf[size] = '\0';
    if (strlen(buf) != (size_t)size) {
        snprintf(err, errlen, "file contains a NUL byte");
        goto fail;
    }
    fclose(f);
    return buf;
io:
    snprintf(err, errlen, "read error: %s", strerror(errno ? errno : EIO));
fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* 1 if `version` is among the sorted applied versions. */
static int pg_version_applied(const long *applied, size_t n, long version)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (applied[mid] == version)
            return 1;
        if (applied[mid] < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Loads the versions already recorded, ascending. */
static int pg_applied_versions(PGconn *c, long **out, size_t *count, char *err, size_t errlen)
{
    const char *sql = "SELECT version FROM schema_migrations ORDER BY version";
    PGresult *r = PQexec(c, sql);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_result_err(c, r, sql, err, errlen);
        PQclear(r);
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    long *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        PQclear(r);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = atol(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    *out = v;
    *count = n;
    return 0;
}

/*
 * Applies one file and records it in the same transaction, so a failing file
 * leaves neither partial changes nor a schema_migrations row.
 */
static int pg_apply_one(PGconn *c, const char *dir, const pg_migration *m, char *err, size_t errlen)
{
    char path[4096], msg[1024] = "", version[32];
    char *sql = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, m->file) >= sizeof path) {
        snprintf(msg, sizeof msg, "path too long");
        goto fail;
    }
    sql = pg_read_file(path, msg, sizeof msg);
    if (!sql)
        goto fail;
    if (bm_pg_exec(c, "BEGIN", msg, sizeof msg) != 0)
        goto fail;
    if (bm_pg_exec(c, sql, msg, sizeof msg) != 0)
        goto rollback;
    /* A COMMIT inside the file would make the file non-atomic; refuse to record it. */
    if (PQtransactionStatus(c) != PQTRANS_INTRANS) {
        snprintf(msg, sizeof msg,
                 "the file ends the migration transaction itself (remove BEGIN/COMMIT)");
        goto rollback;
    }
    snprintf(version, sizeof version, "%ld", m->version);
    const char *params[2] = {version, m->file};
    if (bm_pg_execp(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2,
                    params, msg, sizeof msg) != 0)
        goto rollback;
    if (bm_pg_exec(c, "COMMIT", msg, sizeof msg) != 0)
        goto rollback;
    free(sql);
    return 0;
rollback:
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK"));
fail:
    snprintf(err, errlen, "%s: %s", m->file, msg);
    free(sql);
    return -1;
}

int bm_pg_migrate(PGconn *c, const char *sql_dir, int *applied, char *err, size_t errlen)
{
    pg_migration *files = NULL;
    size_t nfiles = 0, napplied = 0;
    long *done = NULL;
    int locked = 0, count = 0, rc = -1;

    if (applied)
        *applied = 0;
    if (pg_migrations_list(sql_dir, &files, &nfiles, err, errlen) != 0)
        return -1;
    /* Session-level lock: held across the per-file transactions, released below. */
    if (bm_pg_exec(c, "SELECT pg_advisory_lock(" BM_PG_MIGRATE_LOCK_KEY ")", err, errlen) != 0)
        goto done;
    locked = 1;
    if (bm_pg_exec(c,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version INTEGER PRIMARY KEY,"
                   " name TEXT NOT NULL,"
                   " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                   err, errlen) != 0)
        goto done;
    if (pg_applied_versions(c, &done, &napplied, err, errlen) != 0)
        goto done;
    for (size_t i = 0; i < nfiles; i++) {
        if (pg_version_applied(done, napplied, files[i].version))
            continue;
        if (pg_apply_one(c, sql_dir, &files[i], err, errlen) != 0)
            goto done;
        count++;
    }
    rc = 0;
done:
    if (locked) {
        char ignored[256];
        if (bm_pg_exec(c, "SELECT pg_advisory_unlock(" BM_PG_MIGRATE_LOCK_KEY ")", ignored,
                       sizeof ignored) != 0 &&
            rc == 0) {
            snprintf(err, errlen, "%s", ignored);
            rc = -1;
        }
    }
    if (applied)
        *applied = count;
    free(done);
    pg_migrations_free(files, nfiles);
    return rc;
}
