/* Helpers of the reward-delivery end-to-end tests. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e/rewards/rw_test.h"

static PGresult *must(bm_e2e *e, const char *sql)
{
    PGresult *r = PQexec(e->db, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(e->db));
        PQclear(r);
        bm_e2e_fail("sql failed: %s -- %.200s", msg, sql);
    }
    return r;
}

char *rw_text(bm_e2e *e, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = must(e, sql);
    char *s = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return s;
}

void rw_install_module(bm_e2e *e, const char *file)
{
    char src[1100], tmp[500], dst[500];
    bm_e2e_build_path(e, file, src, sizeof src);
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    size_t len = 0;
    char *data = bm_e2e_slurp(src, &len);
    if (!data)
        bm_e2e_fail("cannot read %s: %s", src, strerror(errno));
    /* Written aside and renamed: the engine never sees half a file. */
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", e->dir, base);
    snprintf(dst, sizeof dst, "%s/%s", e->mods_dir, base);
    bm_e2e_write_file(tmp, data, len);
    free(data);
    if (rename(tmp, dst) != 0)
        bm_e2e_fail("rename %s: %s", dst, strerror(errno));
}

void rw_setup(bm_e2e *e, const char *name, const char *game, char *secret, size_t cap)
{
    bm_e2e_init(e, name, 1);
    rw_install_module(e, "modules/reward_webhook.so");
    rw_install_module(e, "modules/reward_ingame.so");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO games (name, identifier) VALUES ('%s', '%s'); "
             "INSERT INTO campaigns (id, game_id, type, name, config, status) SELECT '%s', id, "
             "'quest', 'rewards test', '{}', 'draft' FROM games WHERE identifier = '%s'",
             game, game, RW_CAMPAIGN, game);
    PQclear(must(e, sql));
    char *s = rw_text(e,
                      "SELECT secret FROM game_webhook_secrets s JOIN games g ON g.id = s.game_id "
                      "WHERE g.identifier = '%s'",
                      game);
    if (strncmp(s, "whsec_", 6) != 0)
        bm_e2e_fail("game %s was created without a whsec_ secret: '%s'", game, s);
    snprintf(secret, cap, "%s", s);
    free(s);
    bm_e2e_setenv(e, "BM_ENGINE_ROLES", "relay,rewards");
    bm_e2e_setenv(e, "BM_REWARDS_BACKOFF", "100ms,200ms,400ms");
    bm_e2e_setenv(e, "BM_REWARDS_BACKOFF_REPEAT", "500ms");
    bm_e2e_setenv(e, "BM_REWARDS_LEASE_S", "5");
    bm_e2e_setenv(e, "BM_REWARDS_POLL_MS", "50");
}

/* Full path of node from PATH (the spawner execs without a PATH search). */
static void find_node(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/node", d);
        if (access(out, X_OK) == 0)
            return;
    }
    bm_e2e_fail("node not found in PATH: install nodejs (scripts/lib/common.sh lists it)");
}

void rw_recv_start(bm_e2e *e, rw_recv *r, const char *secrets, const char *fail_rate,
                   const char *delay_ms)
{
    static int seq;
    char js[1100], portf[400], out[400], node[1100];
    find_node(node, sizeof node);
    snprintf(js, sizeof js, "%s/tests/e2e/rewards/receiver.js", getenv("BM_SOURCE_DIR"));
    snprintf(portf, sizeof portf, "%s/recv-%d.port", e->dir, seq);
    snprintf(r->log, sizeof r->log, "%s/recv-%d.log", e->dir, seq);
    snprintf(out, sizeof out, "%s/recv-%d.out", e->dir, seq);
    seq++;
    char *argv[] = {node,          js,
                    "--port-file", portf,
                    "--log",       r->log,
                    "--secret",    (char *)secrets,
                    "--fail-rate", (char *)fail_rate,
                    "--delay-ms",  (char *)delay_ms,
                    "--seed",      "20261128",
                    NULL};
    r->pid = bm_e2e_spawn(e, argv, out);
    for (int i = 0; i < 200; i++) {
        char *p = bm_e2e_slurp(portf, NULL);
        if (p) {
            r->port = atoi(p);
            free(p);
            return;
        }
        bm_e2e_sleep_ms(50);
    }
    bm_e2e_fail("the test receiver did not start (see %s)", out);
}

rw_hit *rw_recv_hits(const rw_recv *r, size_t *n)
{
    *n = 0;
    char *text = bm_e2e_slurp(r->log, NULL);
    if (!text)
        return NULL;
    size_t cap = 1;
    for (char *p = text; *p; p++)
        cap += *p == '\n';
    rw_hit *h = calloc(cap, sizeof *h);
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(l, 0, NULL);
        if (!j)
            continue;
        rw_hit *x = &h[(*n)++];
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *oc = json_string_value(json_object_get(j, "outcome"));
        snprintf(x->id, sizeof x->id, "%s", id ? id : "");
        snprintf(x->outcome, sizeof x->outcome, "%s", oc ? oc : "");
        x->sig = json_is_true(json_object_get(j, "sig"));
        x->nsig = (int)json_integer_value(json_object_get(j, "nsig"));
        x->inflight = (int)json_integer_value(json_object_get(j, "inflight"));
        x->at = (long long)json_integer_value(json_object_get(j, "at"));
        json_decref(j);
    }
    free(text);
    return h;
}

void rw_grant(bm_e2e *e, const char *prefix, int n, const char *type, const char *config_json)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO reward_fulfillments (idempotency_key, campaign_id, user_id, "
             "reward_type, reward_config) SELECT '%s' || i, '%s', 'user-' || i, '%s', '%s' "
             "FROM generate_series(1, %d) i",
             prefix, RW_CAMPAIGN, type, config_json, n);
    PQclear(must(e, sql));
}

void rw_wait_status(bm_e2e *e, bm_e2e_engine *g, const char *status, long long want, int timeout_ms)
{
    int64_t until = bm_e2e_now_ms() + timeout_ms;
    long long got = 0;
    while (bm_e2e_now_ms() < until) {
        got = bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE status = '%s'", status);
        if (got >= want)
            return;
        if (g && !bm_e2e_engine_alive(g)) {
            bm_e2e_log_tail(g, 30);
            bm_e2e_fail("the engine died (wait status 0x%x) while waiting for %lld %s rewards",
                        g->status, want, status);
        }
        bm_e2e_sleep_ms(100);
    }
    if (g)
        bm_e2e_log_tail(g, 30);
    bm_e2e_fail("after %d ms: %lld rewards %s, want %lld", timeout_ms, got, status, want);
}
