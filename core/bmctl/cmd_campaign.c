/*
 * bmctl campaign create|list|show|disable.
 *
 * A campaign file is the product's config object for its type plus "type"
 * (and optionally "id" to update an existing campaign). It is validated by
 * the module that serves the type, exactly as the engine will load it, so
 * what `create` accepts the engine serves.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bmctl/bmctl.h"
#include "campaign/campaign.h"
#include "host/host.h"
#include "kafka/kafka.h"
#include "loader/loader.h"
#include "log/log.h"
#include "pg/pg.h"

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
static int validate_with_module(const bm_ctl *ctl, const bm_camp_row *row, char *err, size_t errlen)
{
    char copy_dir[] = "/tmp/bmctl-validate-XXXXXX";
    if (!mkdtemp(copy_dir)) {
        snprintf(err, errlen, "cannot create a temporary directory");
        return -1;
    }
    bm_loader_host lh = {
        .api = bm_host_api_get(), .host_new = ctl_host_new, .host_free = ctl_host_free};
    bm_scan_result res;
    memset(&res, 0, sizeof res);
    int rc = -1;
    if (bm_loader_scan(ctl->cfg.modules_dir, copy_dir, NULL, &lh, &res) != 0 || !res.set) {
        snprintf(err, errlen, "cannot load modules from %s", ctl->cfg.modules_dir);
        goto out;
    }
    bm_modinst *mi = bm_modset_find_serves(res.set, BM_KIND_CAMPAIGN, row->type);
    if (!mi) {
        snprintf(err, errlen, "type: no module in %s serves '%s'", ctl->cfg.modules_dir, row->type);
        goto out;
    }
    bm_campaign c;
    bm_camp_view(&c, row);
    bm_routes routes = {0};
    void *cctx = NULL;
    err[0] = '\0';
    if (mi->m->campaign_add(mi->instance, &c, &routes, &cctx, err, errlen) == BM_OK) {
        mi->m->campaign_remove(mi->instance, cctx);
        rc = 0;
    } else if (!err[0]) {
        snprintf(err, errlen, "refused by module %s", mi->name);
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

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Tells running engines to look again; they also re-read every 30 s. */
static void announce(const bm_ctl *ctl, const char *id, const char *what)
{
    char bootstrap[512], err[512];
    if (bm_kafka_bootstrap(&ctl->cfg, bootstrap, sizeof bootstrap, err, sizeof err) != 0) {
        fprintf(stderr, "bmctl: note: %s; running engines pick the change up within 30 s\n", err);
        return;
    }
    rd_kafka_t *p = bm_kafka_producer_new(bootstrap, err, sizeof err);
    if (!p) {
        fprintf(stderr, "bmctl: note: %s\n", err);
        return;
    }
    json_t *j = json_pack("{s:s, s:s}", "type", what, "id", id);
    char *msg = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!msg || bm_kafka_produce_sync(p, BM_TOPIC_CONFIG_CAMPAIGNS, id, msg, strlen(msg), err,
                                      sizeof err) != 0)
        fprintf(stderr, "bmctl: note: %s; running engines pick the change up within 30 s\n",
                msg ? err : "out of memory");
    free(msg);
    rd_kafka_destroy(p);
}

static const char *str_field(json_t *root, const char *k, char *err, size_t errlen)
{
    const char *v = json_string_value(json_object_get(root, k));
    if (!v || !*v)
        snprintf(err, errlen, "%s: required, a non-empty string", k);
    return v && *v ? v : NULL;
}

static int create(bm_ctl *ctl, PGconn *pg, const char *path)
{
    char err[1024];
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "bmctl: cannot read %s\n", path);
        return 1;
    }
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    free(text);
    if (!json_is_object(root)) {
        fprintf(stderr, "bmctl: %s: invalid JSON at line %d: %s\n", path, jerr.line, jerr.text);
        json_decref(root);
        return 1;
    }
    int rc = 1;
    bm_camp_row row;
    memset(&row, 0, sizeof row);
    const char *type, *name, *game;
    if (!(type = str_field(root, "type", err, sizeof err)) ||
        !(name = str_field(root, "name", err, sizeof err)) ||
        !(game = str_field(root, "gameId", err, sizeof err)))
        goto invalid;
    if (!type_well_formed(type)) {
        snprintf(err, sizeof err,
                 "type: '%.64s' is not a type name (a-z first, then a-z 0-9 _ . -, at most 31)",
                 type);
        goto invalid;
    }
    json_t *idv = json_object_get(root, "id");
    if (idv && (!json_is_string(idv) || json_string_length(idv) != 36)) {
        snprintf(err, sizeof err, "id: must be a UUID string");
        goto invalid;
    }
    snprintf(row.id, sizeof row.id, "%s",
             idv ? json_string_value(idv) : "00000000-0000-0000-0000-000000000000");
    snprintf(row.type, sizeof row.type, "%s", type);
    snprintf(row.name, sizeof row.name, "%s", name);
    snprintf(row.game, sizeof row.game, "%s", game);
    row.config = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!row.config) {
        snprintf(err, sizeof err, "out of memory");
        goto invalid;
    }
    if (bm_camp_window(row.config, &row.start_ms, &row.end_ms, err, sizeof err) != 0 ||
        validate_with_module(ctl, &row, err, sizeof err) != 0)
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
    /* The game is registered on first use, addressed by its identifier. */
    PGresult *r = PQexecParams(
        pg,
        "WITH g AS (INSERT INTO games (name, identifier) VALUES ($2, $2) "
        "  ON CONFLICT (identifier) DO UPDATE SET identifier = EXCLUDED.identifier RETURNING id) "
        "INSERT INTO campaigns AS c (id, game_id, type, name, config, gating, start_date, "
        "end_date, status) SELECT COALESCE($1::uuid, gen_random_uuid()), g.id, $3, $4, "
        "$5::jsonb, $6::jsonb, CASE WHEN $7::bigint = 0 THEN NULL ELSE "
        "to_timestamp($7::bigint / 1000.0) END, CASE WHEN $8::bigint = 0 THEN NULL ELSE "
        "to_timestamp($8::bigint / 1000.0) END, 'active' FROM g "
        "ON CONFLICT (id) DO UPDATE SET game_id = EXCLUDED.game_id, type = EXCLUDED.type, "
        "name = EXCLUDED.name, config = EXCLUDED.config, gating = EXCLUDED.gating, "
        "start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date, status = 'active', "
        "version = c.version + 1, updated_at = now() RETURNING id, version",
        8, NULL, p, NULL, NULL, 0);
    free(gating_text);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bmctl: campaign not saved: %s", PQerrorMessage(pg));
        PQclear(r);
        goto out;
    }
    char id[64];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    long long version = atoll(PQgetvalue(r, 0, 1));
    PQclear(r);
    announce(ctl, id, "CAMPAIGN_UPSERT");
    printf("%s campaign %s (%s \"%s\", game %s, version %lld)\n",
           version > 1 ? "updated" : "created", id, type, name, game, version);
    rc = 0;
    goto out;
invalid:
    fprintf(stderr, "bmctl: %s: invalid campaign: %s\n", path, err);
out:
    free(row.config);
    json_decref(root);
    return rc;
}

static int list(PGconn *pg)
{
    PGresult *r = PQexec(pg, "SELECT c.id, c.type, c.status, c.version, g.identifier, c.name, "
                             "COALESCE(to_char(c.start_date AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-'), "
                             "COALESCE(to_char(c.end_date AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-') "
                             "FROM campaigns c JOIN games g ON g.id = c.game_id "
                             "ORDER BY c.created_at, c.id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bmctl: %s", PQerrorMessage(pg));
        PQclear(r);
        return 1;
    }
    printf("%-36s %-11s %-9s %3s %-14s %-20s %-20s %s\n", "ID", "TYPE", "STATUS", "VER", "GAME",
           "START", "END", "NAME");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-36s %-11s %-9s %3s %-14s %-20s %-20s %s\n", PQgetvalue(r, i, 0),
               PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
               PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 5));
    PQclear(r);
    return 0;
}

static int show(PGconn *pg, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = PQexecParams(
        pg,
        "SELECT json_build_object('id', c.id, 'type', c.type, 'name', c.name, 'status', "
        "c.status, 'version', c.version, 'gameId', g.identifier, 'startDate', c.start_date, "
        "'endDate', c.end_date, 'config', c.config, 'participants', "
        "(SELECT count(*) FROM user_progress u WHERE u.campaign_id = c.id))::text "
        "FROM campaigns c JOIN games g ON g.id = c.game_id WHERE c.id::text = $1",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "bmctl: campaign %s not found\n", id);
        PQclear(r);
        return 1;
    }
    json_t *j = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    char *pretty = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", pretty ? pretty : PQgetvalue(r, 0, 0));
    free(pretty);
    json_decref(j);
    PQclear(r);
    return 0;
}

static int disable(bm_ctl *ctl, PGconn *pg, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = PQexecParams(pg,
                               "UPDATE campaigns SET status = 'cancelled', version = version + 1, "
                               "updated_at = now() WHERE id::text = $1 RETURNING id",
                               1, NULL, p, NULL, NULL, 0);
    int found = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
        fprintf(stderr, "bmctl: campaign %s not found\n", id);
        return 1;
    }
    announce(ctl, id, "CAMPAIGN_DISABLE");
    printf("disabled campaign %s\n", id);
    return 0;
}

int bm_cmd_campaign(bm_ctl *ctl, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bmctl campaign create FILE.json | list | show ID | disable ID\n");
        return 2;
    }
    const char *sub = argv[1];
    int needs_arg = strcmp(sub, "list") != 0;
    if (needs_arg && argc < 3) {
        fprintf(stderr, "usage: bmctl campaign %s %s\n", sub,
                strcmp(sub, "create") == 0 ? "FILE.json" : "ID");
        return 2;
    }
    char err[512];
    PGconn *pg = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!pg) {
        fprintf(stderr, "bmctl: %s\n", err);
        return 1;
    }
    int rc;
    if (strcmp(sub, "create") == 0)
        rc = create(ctl, pg, argv[2]);
    else if (strcmp(sub, "list") == 0)
        rc = list(pg);
    else if (strcmp(sub, "show") == 0)
        rc = show(pg, argv[2]);
    else if (strcmp(sub, "disable") == 0)
        rc = disable(ctl, pg, argv[2]);
    else {
        fprintf(stderr, "bmctl: unknown campaign command '%s'\n", sub);
        rc = 2;
    }
    PQfinish(pg);
    return rc;
}
