/*
 * bmctl leaderboard history CAMPAIGN [--period START] [--limit N] [--json]
 *
 * The past periods of a board with a resetSchedule (written by leaderboard.so
 * as module_results: kind leaderboard_period per closed period, kind
 * leaderboard_history per player and period). Without --period: every closed
 * period, newest first, with its winner. With --period (the period's start as
 * listed): its final standings, ranked like the live board (score descending,
 * who reached it first, user id).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "bmctl/ctl_util.h"
#include "pg/pg.h"

/* clang-format off */
#define RANKED                                                                                     \
    "SELECT row_number() OVER (ORDER BY (doc->>'score')::float8 DESC, "                           \
    "         (doc->>'reachedMs')::bigint ASC, doc->>'userId' ASC), "                              \
    "       doc->>'userId', doc->>'score', doc->>'events' "                                        \
    "FROM module_results WHERE campaign_id::text = $1 AND kind = 'leaderboard_history' "          \
    "  AND doc->>'period' = $2 "                                                                   \
    "ORDER BY 1 LIMIT $3::int"
/* clang-format on */

static int periods(PGconn *pg, const char *id, int as_json)
{
    const char *params[1] = {id};
    /* clang-format off */
    PGresult *r = PQexecParams(pg,
        "SELECT p.key, p.doc->>'startMs', p.doc->>'endMs', p.doc->>'closedMs', "
        "       (SELECT count(*) FROM module_results h WHERE h.campaign_id = p.campaign_id "
        "          AND h.kind = 'leaderboard_history' AND h.doc->>'period' = p.key), "
        "       w.doc->>'userId', w.doc->>'score' "
        "FROM module_results p LEFT JOIN LATERAL (SELECT doc FROM module_results h "
        "   WHERE h.campaign_id = p.campaign_id AND h.kind = 'leaderboard_history' "
        "     AND h.doc->>'period' = p.key ORDER BY (h.doc->>'score')::float8 DESC, "
        "     (h.doc->>'reachedMs')::bigint ASC, h.doc->>'userId' ASC LIMIT 1) w ON true "
        "WHERE p.campaign_id::text = $1 AND p.kind = 'leaderboard_period' ORDER BY p.key DESC",
        1, NULL, params, NULL, NULL, 0);
    /* clang-format on */
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bmctl: %s", PQerrorMessage(pg));
        PQclear(r);
        return 1;
    }
    json_t *v = json_array();
    if (!as_json)
        printf("%-22s %-22s %8s  %s\n", "PERIOD", "END", "PLAYERS", "WINNER");
    for (int i = 0; i < PQntuples(r); i++) {
        char end[40];
        ctl_time_format(strtoll(PQgetvalue(r, i, 2), NULL, 10), end, sizeof end);
        long long players = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        const char *winner = PQgetvalue(r, i, 5);
        double score = strtod(PQgetvalue(r, i, 6), NULL);
        if (as_json) {
            json_t *p = json_pack("{s:s, s:I, s:I, s:I, s:I}", "period", PQgetvalue(r, i, 0),
                                  "startMs", (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10),
                                  "endMs", (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10),
                                  "closedMs", (json_int_t)strtoll(PQgetvalue(r, i, 3), NULL, 10),
                                  "players", (json_int_t)players);
            if (*winner)
                json_object_set_new(p, "winner",
                                    json_pack("{s:s, s:f}", "userId", winner, "score", score));
            json_array_append_new(v, p);
        } else {
            printf("%-22s %-22s %8lld  %s%s%.6g\n", PQgetvalue(r, i, 0), end, players,
                   *winner ? winner : "-", *winner ? " " : "", *winner ? score : 0.0);
        }
    }
    PQclear(r);
    if (as_json)
        ctl_print_json(json_pack("{s:s, s:o}", "campaign", id, "periods", v));
    else
        json_decref(v);
    return 0;
}

static int standings(PGconn *pg, const char *id, const char *period, int limit, int as_json)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[3] = {id, period, lim};
    PGresult *r = PQexecParams(pg, RANKED, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bmctl: %s", PQerrorMessage(pg));
        PQclear(r);
        return 1;
    }
    if (PQntuples(r) == 0) {
        fprintf(stderr, "bmctl: campaign %s has no history for period %s\n", id, period);
        PQclear(r);
        return 1;
    }
    json_t *v = json_array();
    if (!as_json)
        printf("%6s  %-32s %14s %8s\n", "RANK", "USER", "SCORE", "EVENTS");
    for (int i = 0; i < PQntuples(r); i++) {
        long long rank = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        double score = strtod(PQgetvalue(r, i, 2), NULL);
        long long events = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        if (as_json)
            json_array_append_new(v, json_pack("{s:I, s:s, s:f, s:I}", "rank", (json_int_t)rank,
                                               "userId", PQgetvalue(r, i, 1), "score", score,
                                               "events", (json_int_t)events));
        else
            printf("%6lld  %-32s %14.6g %8lld\n", rank, PQgetvalue(r, i, 1), score, events);
    }
    PQclear(r);
    if (as_json)
        ctl_print_json(
            json_pack("{s:s, s:s, s:o}", "campaign", id, "period", period, "standings", v));
    else
        json_decref(v);
    return 0;
}

int bm_ctl_leaderboard_history(bm_ctl *ctl, int argc, char **argv)
{
    const char *id = NULL, *period = NULL;
    int limit = 100, as_json = 0, bad = 0;
    for (int i = 2; i < argc && !bad; i++) {
        if (strcmp(argv[i], "--period") == 0 && i + 1 < argc)
            period = argv[++i];
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
            limit = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (!id && argv[i][0] != '-')
            id = argv[i];
        else
            bad = 1;
    }
    if (bad || !id || limit <= 0) {
        fprintf(stderr, "usage: bmctl leaderboard history CAMPAIGN [--period START] [--limit N] "
                        "[--json]\n");
        return 2;
    }
    char err[512];
    PGconn *pg = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!pg) {
        fprintf(stderr, "bmctl: %s\n", err);
        return 1;
    }
    int rc = period ? standings(pg, id, period, limit, as_json) : periods(pg, id, as_json);
    PQfinish(pg);
    return rc;
}
