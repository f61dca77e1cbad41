/*
 * bmctl tournament: show a tournament (status, seats, standings, prizes) read
 * from PostgreSQL, or queue an entry / join command on game.events keyed by
 * the user. Seats, ranks and prizes are computed by the module's own ranking
 * (modules/tournament/tournament_prize.c), so the provisional table shown
 * while a tournament runs is the one its finalisation will pay.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "bmctl/ctl_util.h"
#include "progress/progress.h"
#include "campaign/campaign.h"
#include "event/command_tn.h"
#include "host/host.h"
#include "kafka/kafka.h"
#include "pg/pg.h"
#include "tournament.h"

static void tn_usage(FILE *out)
{
    fprintf(out, "usage: bmctl tournament show ID [--json]\n"
                 "       bmctl tournament entry ID USER [AMOUNT]\n"
                 "       bmctl tournament join ID USER [AMOUNT]\n"
                 "  show: status (scheduled, running, ended, paid), seats, standings and prizes;\n"
                 "  once paid, the stored results. entry / join: queue the TOURNAMENT_ENTRY /\n"
                 "  TOURNAMENT_JOIN command (game.events, keyed by user).\n");
}

typedef struct tn_rows {
    tn_entry *e;
    char (*user)[256];
    char (*team)[72];
    size_t n;
} tn_rows;

static int load_entrants(PGconn *c, const char *id, tn_rows *rows, char *err, size_t errlen)
{
    const char *p[1] = {id};
    PGresult *r =
        PQexecParams(c,
                     "SELECT user_id, current_value, "
                     "COALESCE((extract(epoch FROM reached_at) * 1000)::bigint, 0), "
                     "COALESCE((extract(epoch FROM first_event_at) * 1000)::bigint, 0), "
                     "COALESCE(progress_data->>'c', '') "
                     "FROM user_progress WHERE campaign_id = $1::uuid AND event_count > 0",
                     1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading standings: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    rows->e = calloc(n + 1, sizeof *rows->e);
    rows->user = calloc(n + 1, sizeof *rows->user);
    rows->team = calloc(n + 1, sizeof *rows->team);
    if (!rows->e || !rows->user || !rows->team) {
        PQclear(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(rows->user[i], sizeof rows->user[i], "%s", PQgetvalue(r, (int)i, 0));
        snprintf(rows->team[i], sizeof rows->team[i], "%s", PQgetvalue(r, (int)i, 4));
        rows->e[i] = (tn_entry){rows->user[i], strtod(PQgetvalue(r, (int)i, 1), NULL),
                                atoll(PQgetvalue(r, (int)i, 2)), atoll(PQgetvalue(r, (int)i, 3)),
                                rows->team[i][0] ? rows->team[i] : NULL};
    }
    rows->n = n;
    PQclear(r);
    return 0;
}

/* The stored results once paid: [{position, rank, userId, score, prize}]; NULL on error. */
static json_t *load_results(PGconn *c, const char *id, char *err, size_t errlen)
{
    const char *p[1] = {id};
    PGresult *r = PQexecParams(c,
                               "SELECT rank, user_id, score, COALESCE(prize::text, 'null') "
                               "FROM tournament_results WHERE campaign_id = $1::uuid ORDER BY rank",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading results: %s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *prize = json_loads(PQgetvalue(r, i, 3), JSON_DECODE_ANY, NULL);
        json_t *row =
            json_pack("{s:i, s:s, s:f, s:o}", "position", atoi(PQgetvalue(r, i, 0)), "userId",
                      PQgetvalue(r, i, 1), "score", strtod(PQgetvalue(r, i, 2), NULL), "prize",
                      prize ? prize : json_null());
        json_array_append_new(arr, row);
    }
    PQclear(r);
    return arr;
}

/* "paid" / "cancelled" once finalised (the summary row), else "" ; NULL on error. */
static const char *final_status(PGconn *c, const char *id, char *buf, size_t len)
{
    const char *p[1] = {id};
    PGresult *r = PQexecParams(c,
                               "SELECT doc->>'status' FROM module_results WHERE campaign_id = "
                               "$1::uuid AND kind = 'tournament' AND key = 'final'",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return NULL;
    }
    snprintf(buf, len, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return buf;
}

static const char *status_of(const tn_cfg *cfg, int64_t now, const char *final)
{
    if (*final)
        return final;
    if (now < cfg->start_ms)
        return "scheduled";
    return now < cfg->end_ms ? "running" : "ended";
}

static void print_table(json_t *o)
{
    char when[40];
    printf("tournament %s (%s)\n", json_string_value(json_object_get(o, "id")),
           json_string_value(json_object_get(o, "name")));
    printf("  status        %s\n", json_string_value(json_object_get(o, "status")));
    ctl_time_format(json_integer_value(json_object_get(o, "startMs")), when, sizeof when);
    printf("  window        %s", when);
    ctl_time_format(json_integer_value(json_object_get(o, "endMs")), when, sizeof when);
    printf(" .. %s (grace %llds)\n", when,
           (long long)json_integer_value(json_object_get(o, "graceSeconds")));
    json_t *mp = json_object_get(o, "maxParticipants");
    printf("  seats         %lld taken",
           (long long)json_integer_value(json_object_get(o, "seated")));
    if (json_is_integer(mp))
        printf(" of %lld", (long long)json_integer_value(mp));
    printf(", %lld refused\n", (long long)json_integer_value(json_object_get(o, "refused")));
    printf("  prize pool    %lld minor units (decimals %lld)\n",
           (long long)json_integer_value(json_object_get(o, "totalMinor")),
           (long long)json_integer_value(json_object_get(o, "decimals")));
    printf("  %-8s %-6s %-24s %12s %14s\n", "position", "rank", "user", "score", "prize");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(o, "standings"), i, row)
    {
        printf("  %-8lld %-6lld %-24s %12g %14lld\n",
               (long long)json_integer_value(json_object_get(row, "position")),
               (long long)json_integer_value(json_object_get(row, "rank")),
               json_string_value(json_object_get(row, "userId")),
               json_number_value(json_object_get(row, "score")),
               (long long)json_integer_value(json_object_get(row, "prize")));
    }
}

/* Provisional standings from the module's ranking, or the stored results once paid. */
static int tn_show(PGconn *c, const bm_pv_campaign *cc, int as_json)
{
    char err[1024] = "", *cfg_text = json_dumps(cc->config, JSON_COMPACT);
    bm_campaign camp = {.id = cc->id, .config_json = cfg_text, .name = cc->name};
    bm_host *host = bm_host_new("tournament", NULL);
    tn_cfg *cfg = NULL;
    tn_rows rows = {0};
    tn_result *res = NULL;
    json_t *out = NULL, *stored = NULL;
    int rc = 1;
    if (!cfg_text || bm_camp_window(cfg_text, &camp.start_ms, &camp.end_ms, err, sizeof err) != 0 ||
        !(cfg = tn_cfg_parse(bm_host_api_get(), host, &camp, err, sizeof err)))
        goto done;
    if (load_entrants(c, cc->id, &rows, err, sizeof err) != 0 ||
        !(stored = load_results(c, cc->id, err, sizeof err)))
        goto done;
    res = calloc(rows.n + 1, sizeof *res);
    size_t refused = 0;
    int n = res ? tn_rank(cfg, rows.e, rows.n, res, &refused) : -1;
    if (n < 0) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    char fin[32];
    if (!final_status(c, cc->id, fin, sizeof fin)) {
        snprintf(err, sizeof err, "reading the final status: %s", PQerrorMessage(c));
        goto done;
    }
    json_t *standings = json_array();
    for (int i = 0; i < n; i++) {
        /* scoreBy community: prizes go to communities, shown once paid (results) */
        json_t *row = json_pack("{s:i, s:i, s:s, s:f, s:I}", "position", res[i].position, "rank",
                                res[i].rank, "userId", res[i].user, "score", res[i].score, "prize",
                                (json_int_t)(cfg->by_community ? 0 : res[i].prize));
        if (res[i].team)
            json_object_set_new(row, "community", json_string(res[i].team));
        json_array_append_new(standings, row);
    }
    out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:o, s:o}", "id", cc->id,
                    "name", cc->name, "status", status_of(cfg, ctl_now_ms(), fin), "startMs",
                    (json_int_t)cfg->start_ms, "endMs", (json_int_t)cfg->end_ms, "graceSeconds",
                    (json_int_t)(cfg->grace_ms / 1000), "seated", (json_int_t)n, "refused",
                    (json_int_t)refused, "totalMinor", (json_int_t)cfg->total_minor, "decimals",
                    cfg->decimals, "standings", standings, "results", json_incref(stored));
    if (cfg->max_participants > 0)
        json_object_set_new(out, "maxParticipants", json_integer(cfg->max_participants));
    if (as_json)
        ctl_print_json(json_incref(out));
    else
        print_table(out);
    rc = 0;
done:
    if (rc != 0)
        fprintf(stderr, "tournament: %s\n", err);
    json_decref(out);
    json_decref(stored);
    free(res);
    free(rows.e);
    free(rows.user);
    free(rows.team);
    tn_cfg_free(bm_host_api_get(), cfg);
    bm_host_free(host);
    free(cfg_text);
    return rc;
}

/* Produces an entry or join command to game.events keyed by user. */
static int tn_command(bm_ctl *ctl, const bm_pv_campaign *cc, const char *user, int join,
                      double amount)
{
    char err[1024] = "out of memory";
    json_t *ev = bm_command_tournament(cc->id, cc->game, user, join, amount, ctl_now_ms(), "bmctl");
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    int rc = 1;
    if (text && ctl_produce_command(ctl, user, text, err, sizeof err) == 0) {
        printf("queued %s for %s in %s\n", join ? "join" : "entry", user, cc->id);
        rc = 0;
    } else {
        fprintf(stderr, "tournament: %s\n", err);
    }
    free(text);
    return rc;
}

int bm_cmd_tournament(bm_ctl *ctl, int argc, char **argv)
{
    ctl_args a;
    char err[1024] = "";
    if (ctl_args_parse(argc, argv, 1, &a, err, sizeof err) != 0) {
        fprintf(stderr, "tournament: %s\n", err);
        tn_usage(stderr);
        return 2;
    }
    if (a.help) {
        tn_usage(stdout);
        return 0;
    }
    const char *sub = a.npos > 0 ? a.pos[0] : "";
    int show = strcmp(sub, "show") == 0;
    int cmd = strcmp(sub, "entry") == 0 || strcmp(sub, "join") == 0;
    double amount = -1;
    if (cmd && a.npos == 4) {
        char *end;
        amount = strtod(a.pos[3], &end);
        if (*end || !(amount >= 0)) {
            fprintf(stderr, "tournament: AMOUNT must be a number >= 0\n");
            return 2;
        }
    }
    if (a.premium || !((show && a.npos == 2) || (cmd && !a.json && (a.npos == 3 || a.npos == 4)))) {
        tn_usage(stderr);
        return 2;
    }
    bm_pv_campaign cc = {0};
    int rc = 1;
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "tournament: %s\n", err);
        goto done;
    }
    int found = bm_pv_campaign_load(c, a.pos[1], &cc, err, sizeof err);
    if (found != 0) {
        fprintf(stderr, "tournament: %s\n", found > 0 ? "no such campaign" : err);
        goto done;
    }
    if (strcmp(cc.type, "tournament") != 0) {
        fprintf(stderr, "tournament: campaign %s is a %s, not a tournament\n", cc.id, cc.type);
        goto done;
    }
    rc = show ? tn_show(c, &cc, a.json)
              : tn_command(ctl, &cc, a.pos[2], strcmp(sub, "join") == 0, amount);
done:
    bm_pv_campaign_clear(&cc);
    PQfinish(c);
    return rc;
}
