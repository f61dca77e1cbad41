/*
 * A PostgreSQL cluster of the test's own, for tests that stop and start the
 * server: doing that to the shared cluster of scripts/test would break every
 * other test running at the same time. Same binaries and settings as
 * scripts/lib/common.sh (unix socket only, server as `postgres` when root).
 */
#include <errno.h>
#include <ftw.h>
#include <glob.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e.h"

static int executable(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, X_OK) == 0;
}

/* $BM_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin. */
static void find_bindir(char *out, size_t cap)
{
    const char *env = getenv("BM_PG_BINDIR");
    if (env && *env && executable(env, "pg_ctl") && executable(env, "initdb")) {
        snprintf(out, cap, "%s", env);
        return;
    }
    glob_t g;
    out[0] = '\0';
    if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) == 0) {
        long best = -1;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
            if (v > best && executable(g.gl_pathv[i], "pg_ctl")) {
                best = v;
                snprintf(out, cap, "%s", g.gl_pathv[i]);
            }
        }
        globfree(&g);
    }
    if (!out[0])
        bm_e2e_fail("no PostgreSQL server binaries (set BM_PG_BINDIR)");
}

static const char *find_runuser(void)
{
    static const char *const cands[] = {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser",
                                        "/bin/runuser"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    bm_e2e_fail("running as root needs runuser to start PostgreSQL as another user");
    return NULL;
}

/* Runs a server binary as the cluster owner; fails the test on a non-zero exit. */
static void pg_cmd(const bm_e2e_pg *pg, const char *const *args, const char *what)
{
    char *argv[24], tool[600];
    size_t n = 0;
    if (getuid() == 0) {
        argv[n++] = (char *)find_runuser();
        argv[n++] = "-u";
        argv[n++] = (char *)pg->user;
        argv[n++] = "--";
    }
    snprintf(tool, sizeof tool, "%s/%s", pg->bindir, args[0]);
    argv[n++] = tool;
    for (size_t i = 1; args[i] && n < 23; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    char *out = NULL;
    int rc = bm_e2e_run(NULL, argv, &out, 120000);
    if (rc != 0) {
        char *logtext = bm_e2e_slurp(pg->log, NULL);
        fprintf(stderr, "%s\n%s\n", out ? out : "", logtext ? logtext : "");
        free(logtext);
        free(out);
        bm_e2e_fail("%s exited with %d", what, rc);
    }
    free(out);
}

static void opts(const bm_e2e_pg *pg, char *buf, size_t cap)
{
    /* fsync off: the test kills the server's clients and stops the server
     * cleanly, never the machine (same reasoning as scripts/lib/common.sh). */
    snprintf(buf, cap, "-k %s -c listen_addresses='' -c fsync=off -c full_page_writes=off",
             pg->dir);
}

void bm_e2e_pg_start(bm_e2e_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    find_bindir(pg->bindir, sizeof pg->bindir);
    const char *u = getenv("BM_PG_USER");
    if (getuid() == 0)
        snprintf(pg->user, sizeof pg->user, "%s", u && *u && strcmp(u, "root") ? u : "postgres");
    else
        snprintf(pg->user, sizeof pg->user, "%s", getpwuid(getuid())->pw_name);
    snprintf(pg->dir, sizeof pg->dir, "/tmp/bm-e2e-pg-XXXXXX");
    if (!mkdtemp(pg->dir))
        bm_e2e_fail("mkdtemp: %s", strerror(errno));
    chmod(pg->dir, 0755);
    if (getuid() == 0) {
        struct passwd *pw = getpwnam(pg->user);
        if (!pw || chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0)
            bm_e2e_fail("cannot hand %s to user %s", pg->dir, pg->user);
    }
    snprintf(pg->data, sizeof pg->data, "%s/data", pg->dir);
    snprintf(pg->log, sizeof pg->log, "%s/postgres.log", pg->dir);
    const char *initdb[] = {"initdb", "-D", pg->data, "-A",          "trust",     "-U",
                            pg->user, "-E", "UTF8",   "--no-locale", "--no-sync", NULL};
    pg_cmd(pg, initdb, "initdb");
    bm_e2e_pg_up(pg);
    char dsn[512];
    snprintf(dsn, sizeof dsn, "host=%s dbname=postgres user=%s", pg->dir, pg->user);
    /* bm_testdb_* create the test's databases on the cluster named here. */
    setenv("BM_POSTGRES_DSN", dsn, 1);
}

void bm_e2e_pg_up(bm_e2e_pg *pg)
{
    char o[700];
    opts(pg, o, sizeof o);
    const char *start[] = {"pg_ctl", "-D", pg->data, "-l", pg->log, "-o",
                           o,        "-w", "-t",     "60", "start", NULL};
    pg_cmd(pg, start, "pg_ctl start");
    pg->running = 1;
}

void bm_e2e_pg_down(bm_e2e_pg *pg)
{
    const char *stop[] = {"pg_ctl", "-D", pg->data, "-m", "fast", "-w", "-t", "60", "stop", NULL};
    pg_cmd(pg, stop, "pg_ctl stop");
    pg->running = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void bm_e2e_pg_stop(bm_e2e_pg *pg)
{
    if (!pg->dir[0])
        return;
    if (pg->running) {
        const char *stop[] = {"pg_ctl", "-D", pg->data, "-m",   "immediate",
                              "-w",     "-t", "60",     "stop", NULL};
        pg_cmd(pg, stop, "pg_ctl stop");
        pg->running = 0;
    }
    const char *keep = getenv("BM_E2E_KEEP");
    if (!(keep && strcmp(keep, "1") == 0))
        nftw(pg->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    pg->dir[0] = '\0';
}
