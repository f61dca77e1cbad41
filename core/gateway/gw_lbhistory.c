/*
 * GET /v1/leaderboards/{id}/history: the closed periods of a board with a
 * resetSchedule (module_results kind leaderboard_period, newest first, each
 * with its player count and winner), and with ?period=START one period's
 * final standings (kind leaderboard_history), ranked like the live board:
 * score descending, who reached it first, user id. Read like the other
 * leaderboard routes: the key of the board's game or its studio owner's ID
 * token; anything else is a 404.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "util/rfc3339.h"

/* clang-format off */
#define PERIODS                                                                                    \
    "SELECT p.key, p.doc->>'startMs', p.doc->>'endMs', p.doc->>'closedMs', "                       \
    "       (SELECT count(*) FROM module_results h WHERE h.campaign_id = p.campaign_id "           \
    "          AND h.kind = 'leaderboard_history' AND h.doc->>'period' = p.key), "                 \
    "       w.doc->>'userId', w.doc->>'score' "                                                    \
    "FROM module_results p LEFT JOIN LATERAL (SELECT doc FROM module_results h "                   \
    "   WHERE h.campaign_id = p.campaign_id AND h.kind = 'leaderboard_history' "                   \
    "     AND h.doc->>'period' = p.key ORDER BY (h.doc->>'score')::float8 DESC, "                  \
    "     (h.doc->>'reachedMs')::bigint ASC, h.doc->>'userId' ASC LIMIT 1) w ON true "             \
    "WHERE p.campaign_id = $1::uuid AND p.kind = 'leaderboard_period' "                            \
    "ORDER BY p.key DESC LIMIT $2::int"
#define RANKED                                                                                     \
    "SELECT row_number() OVER (ORDER BY (doc->>'score')::float8 DESC, "                            \
    "         (doc->>'reachedMs')::bigint ASC, doc->>'userId' ASC), "                              \
    "       doc->>'userId', doc->>'score', doc->>'events' "                                        \
    "FROM module_results WHERE campaign_id = $1::uuid AND kind = 'leaderboard_history' "           \
    "  AND doc->>'period' = $2 "                                                                   \
    "ORDER BY 1 LIMIT $3::int"
#define PERIOD_ROW                                                                                 \
    "SELECT doc->>'startMs', doc->>'endMs', doc->>'closedMs' FROM module_results "                 \
    "WHERE campaign_id = $1::uuid AND kind = 'leaderboard_period' AND key = $2"
/* clang-format on */

static json_t *when(const char *ms)
{
    char ts[40];
    bm_rfc3339_format(strtoll(ms, NULL, 10), ts, sizeof ts);
    return json_string(ts);
}

static PGresult *run(gw_req *r, PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
        PQclear(res);
        return NULL;
    }
    return res;
}

/* 1 when the reader may see this leaderboard, 0 (404 set) or -1 (503 set). */
static int visible(gw_req *r, PGconn *c, const gw_reader *rd, const char *id)
{
    const char *p[3] = {id, rd->game_uuid[0] ? rd->game_uuid : NULL,
                        rd->studio[0] ? rd->studio : NULL};
    PGresult *res = run(r, c,
                        "SELECT 1 FROM campaigns c JOIN games g ON g.id = c.game_id WHERE c.id = "
                        "$1::uuid AND c.type = 'leaderboard' AND (g.id = $2::uuid OR "
                        "g.studio_id = $3::uuid)",
                        3, p);
    if (!res)
        return -1;
    int ok = PQntuples(res) == 1;
    PQclear(res);
    if (!ok)
        gw_error(r, 404, "not_found", "no such leaderboard");
    return ok;
}

static void periods(gw_req *r, PGconn *c, const char *id, const char *lim)
{
    const char *p[2] = {id, lim};
    PGresult *res = run(r, c, PERIODS, 2, p);
    if (!res)
        return;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:I}", "period", PQgetvalue(res, i, 0),
                              "startDate", when(PQgetvalue(res, i, 1)), "endDate",
                              when(PQgetvalue(res, i, 2)), "closedAt", when(PQgetvalue(res, i, 3)),
                              "players", (json_int_t)strtoll(PQgetvalue(res, i, 4), NULL, 10));
        json_object_set_new(o, "winner",
                            PQgetisnull(res, i, 5)
                                ? json_null()
                                : json_pack("{s:s, s:f}", "userId", PQgetvalue(res, i, 5), "score",
                                            strtod(PQgetvalue(res, i, 6), NULL)));
        json_array_append_new(arr, o);
    }
    PQclear(res);
    gw_json(r, 200, json_pack("{s:s, s:o}", "leaderboardId", id, "periods", arr));
}

static void standings(gw_req *r, PGconn *c, const char *id, const char *period, const char *lim)
{
    const char *p[3] = {id, period, lim};
    PGresult *pr = run(r, c, PERIOD_ROW, 2, p);
    if (!pr)
        return;
    if (PQntuples(pr) != 1) {
        PQclear(pr);
        gw_error(r, 404, "not_found", "no closed period starts at %s on this leaderboard", period);
        return;
    }
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o}", "leaderboardId", id, "period", period,
                          "startDate", when(PQgetvalue(pr, 0, 0)), "endDate",
                          when(PQgetvalue(pr, 0, 1)), "closedAt", when(PQgetvalue(pr, 0, 2)));
    PQclear(pr);
    PGresult *res = run(r, c, RANKED, 3, p);
    if (!res) {
        json_decref(o);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr, json_pack("{s:I, s:s, s:f, s:I}", "rank",
                                             (json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10),
                                             "userId", PQgetvalue(res, i, 1), "score",
                                             strtod(PQgetvalue(res, i, 2), NULL), "events",
                                             (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10)));
    PQclear(res);
    json_object_set_new(o, "standings", arr);
    gw_json(r, 200, o);
}

void gw_board_history(gw_req *r, const gw_reader *rd, const char *id)
{
    const char *period = gw_arg(r, "period"), *ls = gw_arg(r, "limit");
    long limit = 100;
    if (ls) {
        char *end;
        limit = strtol(ls, &end, 10);
        if (!*ls || *end || limit < 1 || limit > 1000) {
            gw_error(r, 400, "invalid_parameter", "query parameter limit: 1 to 1000");
            return;
        }
    }
    if (period && (!*period || strlen(period) > 40)) {
        gw_error(r, 400, "invalid_parameter",
                 "query parameter period: a period's start as listed (RFC 3339)");
        return;
    }
    if (!bm_auth_is_uuid(id)) {
        gw_error(r, 404, "not_found", "no such leaderboard");
        return;
    }
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return;
    }
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit);
    if (visible(r, c, rd, id) == 1) {
        if (period)
            standings(r, c, id, period, lim);
        else
            periods(r, c, id, lim);
    }
    gw_pool_put(&r->g->pool, c);
}
