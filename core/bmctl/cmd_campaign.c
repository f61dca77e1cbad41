/*
 * bmctl campaign create|list|show|disable (replay and replay-drop: cmd_replay.c).
 *
 * A campaign file is the product's config object for its type plus "type"
 * (and optionally "id" to update an existing campaign). bm_campdoc_save
 * (campaign/camp_save.c, shared with the admin API) validates it with the
 * module that serves the type, exactly as the engine will load it, so what
 * `create` accepts the engine serves.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bmctl/bmctl.h"
#include "bmctl/ctl_util.h"
#include "campaign/campaign.h"
#include "campdoc/campdoc.h"
#include "kafka/kafka.h"
#include "pg/pg.h"

static char *read_file(const char *path, size_t *len)
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
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
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

static int create(bm_ctl *ctl, PGconn *pg, const char *path)
{
    char err[1024], id[64];
    size_t len = 0;
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > ctl->cfg.campaign_max_config_bytes) {
        fprintf(stderr,
                "bmctl: %s: campaign document is %lld bytes, more than "
                "campaigns.max_config_bytes (%d)\n",
                path, (long long)st.st_size, ctl->cfg.campaign_max_config_bytes);
        return 1;
    }
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "bmctl: cannot read %s\n", path);
        return 1;
    }
    json_t *root = bm_camp_parse_doc(&ctl->cfg, text, len, err, sizeof err);
    free(text);
    if (!root) {
        fprintf(stderr, "bmctl: %s: %s\n", path, err);
        return 1;
    }
    long long version = 0;
    int rc = bm_campdoc_save(pg, ctl->cfg.modules_dir, root, NULL, id, &version, err, sizeof err);
    if (rc == 0) {
        announce(ctl, id, "CAMPAIGN_UPSERT");
        printf("%s campaign %s (%s \"%s\", game %s, version %lld)\n",
               version > 1 ? "updated" : "created", id,
               json_string_value(json_object_get(root, "type")),
               json_string_value(json_object_get(root, "name")),
               json_string_value(json_object_get(root, "gameId")), version);
    } else if (rc == 1) {
        fprintf(stderr, "bmctl: %s: invalid campaign: %s\n", path, err);
    } else {
        fprintf(stderr, "bmctl: campaign not saved: %s\n", err);
    }
    json_decref(root);
    return rc == 0 ? 0 : 1;
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
    char err[512];
    int rc = bm_campdoc_disable(pg, id, NULL, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "bmctl: campaign %s %s\n", id, rc > 0 ? "not found" : err);
        return 1;
    }
    announce(ctl, id, "CAMPAIGN_DISABLE");
    printf("disabled campaign %s\n", id);
    return 0;
}

int bm_cmd_campaign(bm_ctl *ctl, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bmctl campaign create FILE.json | list | show ID | disable ID | "
                        "replay ID [--from TS] [--to TS] [--wait S] | replay-drop REPLAY_ID\n");
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
    else if (strcmp(sub, "replay") == 0 || strcmp(sub, "replay-drop") == 0)
        rc = bm_ctl_campaign_replay(pg, argc, argv);
    else {
        fprintf(stderr, "bmctl: unknown campaign command '%s'\n", sub);
        rc = 2;
    }
    PQfinish(pg);
    return rc;
}
