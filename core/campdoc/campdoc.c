/* Campaign documents (campdoc.h): validation by the module of the type, upsert, disable. */
#include <jansson.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "campdoc/campdoc.h"

#include "campaign/campaign.h"
#include "host/host.h"
#include "loader/loader.h"

/* Campaign types are open: whatever a module serves. The form is what the
 * schema keeps (campaigns_type_format); which types exist is the modules'. */
static int type_well_formed(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 31 || t[0] < 'a' || t[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_' ||
              t[i] == '.' || t[i] == '-'))
            return 0;
    return 1;
}

#define SAVE_SCOPED                                                                                \
    "INSERT INTO campaigns AS c (id, game_id, studio_id, type, name, config, gating, "             \
    "start_date, end_date, status) SELECT COALESCE($1::uuid, gen_random_uuid()), g.id, "           \
    "g.studio_id, $3, $4, $5::jsonb, $6::jsonb, CASE WHEN $7::bigint = 0 THEN NULL ELSE "          \
    "to_timestamp($7::bigint / 1000.0) END, CASE WHEN $8::bigint = 0 THEN NULL ELSE "              \
    "to_timestamp($8::bigint / 1000.0) END, 'active' FROM games g WHERE g.identifier = $2 AND "    \
    "g.studio_id = $9::uuid ON CONFLICT (id) DO UPDATE SET game_id = EXCLUDED.game_id, type = "    \
    "EXCLUDED.type, name = EXCLUDED.name, config = EXCLUDED.config, gating = EXCLUDED.gating, "    \
    "start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date, status = 'active', "          \
    "version = c.version + 1, updated_at = now() WHERE c.game_id IN (SELECT id FROM games "        \
    "WHERE studio_id = $9::uuid) RETURNING id, version"

static bm_host *ctl_host_new(void *ud, const char *name)
{
    (void)ud;
    return bm_host_new(name, NULL);
}

static void ctl_host_free(void *ud, bm_host *h)
{
    (void)ud;
    bm_host_free(h);
}

/* Validates with the module serving row->type from modules_dir. */
static int validate_with_module(const char *modules_dir, const bm_camp_row *row, char *err,
                                size_t errlen)
{
    char copy_dir[] = "/tmp/bm-validate-XXXXXX";
    if (!mkdtemp(copy_dir)) {
        snprintf(err, errlen, "cannot create a temporary directory");
        return -1;
    }
    bm_loader_host lh = {
        .api = bm_host_api_get(), .host_new = ctl_host_new, .host_free = ctl_host_free};
    bm_scan_result res;
    memset(&res, 0, sizeof res);
    int rc = -1;
    if (bm_loader_scan(modules_dir, copy_dir, NULL, &lh, &res) != 0 || !res.set) {
        snprintf(err, errlen, "cannot load modules from %s: %.400s", modules_dir, res.report);
        goto out;
    }
    bm_modinst *mi = bm_modset_find_serves(res.set, BM_KIND_CAMPAIGN, row->type);
    if (!mi) {
        snprintf(err, errlen, "type: no module in %s serves '%s'%s%.400s", modules_dir, row->type,
                 res.refused ? "; " : "", res.refused ? res.report : "");
        goto out;
    }
    bm_campaign c;
    bm_camp_view(&c, row);
    bm_routes routes = {0};
    void *cctx = NULL;
    err[0] = '\0';
    if (bm_modinst_call_campaign_add(mi, &c, &routes, &cctx, err, errlen) == BM_OK) {
        bm_modinst_call_campaign_remove(mi, cctx, 0, c.id);
        rc = 0;
    } else if (!err[0]) {
        snprintf(err, errlen, "refused by module %s", bm_modinst_name(mi));
    }
    bm_routes_clear(&routes);
out:
    if (res.set) {
        for (size_t i = 0; i < res.set->n; i++)
            bm_loader_close(res.set->mods[i], &lh);
        bm_modset_free(res.set);
    }
    free(res.retired);
    rmdir(copy_dir);
    return rc;
}

/*
 * Neither bmctl nor the gateway loads a module into its own process: the
 * validation runs in a child (after the loader's ownership and mode checks) and
 * only its verdict, one status byte and the message, comes back through a pipe.
 */
static int validate_in_child(const char *modules_dir, const bm_camp_row *row, char *err,
                             size_t errlen)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, errlen, "cannot validate: pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        snprintf(err, errlen, "cannot validate: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        char msg[1024] = "";
        char ok = validate_with_module(modules_dir, row, msg, sizeof msg) == 0 ? 'y' : 'n';
        ssize_t w = write(fds[1], &ok, 1);
        if (w == 1)
            w = write(fds[1], msg, strlen(msg));
        _exit(w < 0 ? 3 : 0);
    }
    close(fds[1]);
    char buf[1025];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof buf - 1 && (got = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)got;
    close(fds[0]);
    buf[n] = '\0';
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (n == 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(err, errlen, "validation by the module crashed (%s %d)",
                 WIFSIGNALED(st) ? "signal" : "status",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        return -1;
    }
    if (buf[0] == 'y')
        return 0;
    snprintf(err, errlen, "%s", buf + 1);
    return -1;
}

static const char *str_field(json_t *root, const char *k, char *err, size_t errlen)
{
    const char *v = json_string_value(json_object_get(root, k));
    if (!v || !*v)
        snprintf(err, errlen, "%s: required, a non-empty string", k);
    return v && *v ? v : NULL;
}

int bm_campdoc_save(PGconn *pg, const char *modules_dir, json_t *root, const char *studio_id,
                    char id_out[64], long long *version_out, char *err, size_t errlen)
{
    int rc = 1;
    bm_camp_row row;
    memset(&row, 0, sizeof row);
    const char *type, *name, *game;
    if (!(type = str_field(root, "type", err, errlen)) ||
        !(name = str_field(root, "name", err, errlen)) ||
        !(game = str_field(root, "gameId", err, errlen)))
        goto invalid;
    if (!type_well_formed(type)) {
        snprintf(err, errlen,
                 "type: '%.64s' is not a type name (a-z first, then a-z 0-9 _ . -, at most 31)",
                 type);
        goto invalid;
    }
    json_t *idv = json_object_get(root, "id");
    if (idv && (!json_is_string(idv) || json_string_length(idv) != 36)) {
        snprintf(err, errlen, "id: must be a UUID string");
        goto invalid;
    }
    snprintf(row.id, sizeof row.id, "%s",
             idv ? json_string_value(idv) : "00000000-0000-0000-0000-000000000000");
    snprintf(row.type, sizeof row.type, "%s", type);
    snprintf(row.name, sizeof row.name, "%s", name);
    snprintf(row.game, sizeof row.game, "%s", game);
    row.config = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!row.config) {
        snprintf(err, errlen, "out of memory");
        goto invalid;
    }
    if (bm_camp_window(row.config, &row.start_ms, &row.end_ms, err, errlen) != 0 ||
        validate_in_child(modules_dir, &row, err, errlen) != 0 ||
        bm_campdoc_communities_exist(pg, root, err, errlen) != 0)
        goto invalid;

    json_t *gating = json_object_get(root, "gating");
    char *gating_text = gating ? json_dumps(gating, JSON_COMPACT) : NULL;
    char start[32], end[32];
    snprintf(start, sizeof start, "%lld", (long long)row.start_ms);
    snprintf(end, sizeof end, "%lld", (long long)row.end_ms);
    const char *p[8] = {idv ? row.id : NULL,
                        game,
                        type,
                        name,
                        row.config,
                        gating_text ? gating_text : "{}",
                        start,
                        end};
    /* Without a studio (bmctl) the game is registered on first use, addressed by its
     * identifier; for a studio the game must be one of its own, and so must the campaign
     * an "id" updates. */
    const char *ps[9] = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], studio_id};
    PGresult *r =
        studio_id
            ? PQexecParams(pg, SAVE_SCOPED, 9, NULL, ps, NULL, NULL, 0)
            : PQexecParams(
                  pg,
                  "WITH g AS (INSERT INTO games (name, identifier) VALUES ($2, $2) "
                  "  ON CONFLICT (identifier) DO UPDATE SET identifier = EXCLUDED.identifier "
                  "RETURNING id) "
                  "INSERT INTO campaigns AS c (id, game_id, type, name, config, gating, "
                  "start_date, "
                  "end_date, status) SELECT COALESCE($1::uuid, gen_random_uuid()), g.id, $3, $4, "
                  "$5::jsonb, $6::jsonb, CASE WHEN $7::bigint = 0 THEN NULL ELSE "
                  "to_timestamp($7::bigint / 1000.0) END, CASE WHEN $8::bigint = 0 THEN NULL ELSE "
                  "to_timestamp($8::bigint / 1000.0) END, 'active' FROM g "
                  "ON CONFLICT (id) DO UPDATE SET game_id = EXCLUDED.game_id, type = "
                  "EXCLUDED.type, "
                  "name = EXCLUDED.name, config = EXCLUDED.config, gating = EXCLUDED.gating, "
                  "start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date, status = "
                  "'active', "
                  "version = c.version + 1, updated_at = now() RETURNING id, version",
                  8, NULL, p, NULL, NULL, 0);
    free(gating_text);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(pg));
        err[strcspn(err, "\n")] = '\0';
        PQclear(r);
        rc = -1;
        goto out;
    }
    if (PQntuples(r) == 0) {
        snprintf(err, errlen, "gameId: no such game in this studio (or id: no such campaign)");
        PQclear(r);
        rc = 2;
        goto out;
    }
    snprintf(id_out, 64, "%s", PQgetvalue(r, 0, 0));
    *version_out = atoll(PQgetvalue(r, 0, 1));
    PQclear(r);
    rc = 0;
    goto out;
invalid:
    rc = 1;
out:
    free(row.config);
    return rc;
}

int bm_campdoc_disable(PGconn *pg, const char *id, const char *studio_id, char *err, size_t errlen)
{
    const char *p[2] = {id, studio_id};
    PGresult *r = PQexecParams(pg,
                               "UPDATE campaigns SET status = 'cancelled', version = version + 1, "
                               "updated_at = now() WHERE id::text = $1 AND ($2::uuid IS NULL OR "
                               "game_id IN (SELECT id FROM games WHERE studio_id = $2::uuid)) "
                               "RETURNING id",
                               2, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(r) != PGRES_TUPLES_OK ? -1 : PQntuples(r) == 1 ? 0 : 2;
    if (rc < 0) {
        snprintf(err, errlen, "%s", PQerrorMessage(pg));
        err[strcspn(err, "\n")] = '\0';
    }
    PQclear(r);
    return rc;
}
