/*
 * The tournament query API: GET /v1/tournaments/{id} (status, window, seats,
 * prize pool, top standings or, once finalised, the final table) and
 * GET /v1/tournaments/{id}/users/{userId} (seat, score, rank, prize). Read
 * with the API key of the tournament's game or its studio owner's ID token;
 * anything else is a 404. The standings come from the module's own ranking
 * (bm_pv_tournament, as bmctl tournament show), so the provisional table is
 * the one finalisation pays. A recurring tournament answers for its current
 * run, or for the run named by ?period=<RFC 3339 start of the run>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "progress/progress.h"
#include "util/clock.h"
#include "util/rfc3339.h"

/* The tournament view for a reader; NULL with the answer set. */
static json_t *load(gw_req *r, const gw_reader *rd, const char *id)
{
    if (!bm_auth_is_uuid(id)) {
        gw_error(r, 404, "not_found", "no such tournament");
        return NULL;
    }
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return NULL;
    }
    json_t *o = NULL;
    const char *p[3] = {id, rd->game_uuid[0] ? rd->game_uuid : NULL,
                        rd->studio[0] ? rd->studio : NULL};
    PGresult *res = PQexecParams(c,
                                 "SELECT 1 FROM campaigns c JOIN games g ON g.id = c.game_id "
                                 "WHERE c.id = $1::uuid AND c.type = 'tournament' AND (g.id = "
                                 "$2::uuid OR g.studio_id = $3::uuid)",
                                 3, NULL, p, NULL, NULL, 0);
    int st = PQresultStatus(res), visible = st == PGRES_TUPLES_OK && PQntuples(res) == 1;
    PQclear(res);
    char err[1024];
    bm_pv_campaign cc = {0};
    if (st != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
    } else if (!visible) {
        gw_error(r, 404, "not_found", "no such tournament");
    } else if (bm_pv_campaign_load(c, id, &cc, err, sizeof err) != 0) {
        gw_error(r, 503, "unavailable", "cannot read the tournament: %s", err);
    } else {
        int bad = 0;
        o = bm_pv_tournament(c, &cc, bm_now_ms(), gw_arg(r, "period"), &bad, err, sizeof err);
        if (!o && bad)
            gw_error(r, 400, "invalid_parameter", "query parameter %s", err);
        else if (!o)
            gw_error(r, 503, "unavailable", "cannot rank the tournament: %s", err);
    }
    bm_pv_campaign_clear(&cc);
    gw_pool_put(&r->g->pool, c);
    return o;
}

static json_t *when(json_t *v)
{
    char ts[40];
    bm_rfc3339_format((int64_t)json_integer_value(v), ts, sizeof ts);
    return json_string(ts);
}

/* A results row's prize ({amount, decimals} or null) in minor units. */
static json_int_t prize_minor(json_t *row)
{
    json_t *p = json_object_get(row, "prize");
    return json_is_integer(p) ? json_integer_value(p)
                              : json_integer_value(json_object_get(p, "amount"));
}

/* Rows as the API shows them: {position, rank, userId, score, prize (minor units)}. */
static json_t *rows(json_t *src, size_t limit)
{
    json_t *arr = json_array(), *row;
    size_t i;
    json_array_foreach(src, i, row)
    {
        if (i >= limit)
            break;
        json_t *o = json_pack(
            "{s:O, s:O, s:O, s:O, s:I}", "position", json_object_get(row, "position"), "rank",
            json_object_get(row, "rank"), "userId", json_object_get(row, "userId"), "score",
            json_object_get(row, "score"), "prize", prize_minor(row));
        if (json_object_get(row, "community"))
            json_object_set(o, "community", json_object_get(row, "community"));
        json_array_append_new(arr, o);
    }
    return arr;
}

static int finalised(json_t *v)
{
    const char *st = json_string_value(json_object_get(v, "status"));
    return st && (strcmp(st, "paid") == 0 || strcmp(st, "cancelled") == 0);
}

static void tournament(gw_req *r, const gw_reader *rd, const char *id)
{
    long limit = 10;
    const char *ls = gw_arg(r, "limit");
    if (ls) {
        char *end;
        limit = strtol(ls, &end, 10);
        if (!*ls || *end || limit < 1 || limit > 1000) {
            gw_error(r, 400, "invalid_parameter", "query parameter limit: 1 to 1000");
            return;
        }
    }
    json_t *v = load(r, rd, id);
    if (!v)
        return;
    int fin = finalised(v);
    json_t *seats = json_pack("{s:O, s:O}", "taken", json_object_get(v, "seated"), "refused",
                              json_object_get(v, "refused"));
    json_object_set(seats, "max",
                    json_object_get(v, "maxParticipants") ? json_object_get(v, "maxParticipants")
                                                          : json_null());
    json_t *o = json_pack(
        "{s:s, s:O, s:O, s:o, s:o, s:O, s:o, s:{s:O, s:O}, s:b}", "tournamentId", id, "name",
        json_object_get(v, "name"), "status", json_object_get(v, "status"), "startDate",
        when(json_object_get(v, "startMs")), "endDate", when(json_object_get(v, "endMs")),
        "graceSeconds", json_object_get(v, "graceSeconds"), "seats", seats, "prizePool",
        "totalMinor", json_object_get(v, "totalMinor"), "decimals", json_object_get(v, "decimals"),
        "final", fin);
    /* Once finalised the stored table is the answer; before, the provisional top. */
    json_object_set_new(o, fin ? "results" : "standings",
                        rows(json_object_get(v, fin ? "results" : "standings"), (size_t)limit));
    /* A recurring tournament: the run shown (startDate..endDate above) and the finalised ones. */
    if (json_object_get(v, "period")) {
        json_object_set(o, "period", json_object_get(v, "period"));
        json_object_set_new(o, "seriesStartDate", when(json_object_get(v, "seriesStartMs")));
        json_object_set_new(o, "seriesEndDate", when(json_object_get(v, "seriesEndMs")));
        json_object_set(o, "periods", json_object_get(v, "periods"));
    }
    json_decref(v);
    gw_json(r, 200, o);
}

static void tournament_user(gw_req *r, const gw_reader *rd, const char *id, const char *user)
{
    json_t *v = load(r, rd, id);
    if (!v)
        return;
    int fin = finalised(v);
    json_t *table = json_object_get(v, fin ? "results" : "standings"), *row, *hit = NULL;
    size_t i;
    json_array_foreach(table, i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "userId")), user) == 0) {
            hit = row;
            break;
        }
    }
    if (!hit) {
        gw_error(r, 404, "not_found", "user has no seat in this tournament");
    } else {
        json_t *o = json_pack("{s:s, s:s, s:O, s:b, s:O, s:O, s:O, s:I, s:b}", "tournamentId", id,
                              "userId", user, "status", json_object_get(v, "status"), "seated", 1,
                              "position", json_object_get(hit, "position"), "rank",
                              json_object_get(hit, "rank"), "score", json_object_get(hit, "score"),
                              "prize", prize_minor(hit), "final", fin);
        gw_json(r, 200, o);
    }
    json_decref(v);
}

void gw_tournament(gw_req *r, char **seg, int nseg)
{
    int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (nseg == 1)
        r->route = GW_R_TOURNAMENT;
    else if (nseg == 3 && strcmp(seg[1], "users") == 0)
        r->route = GW_R_TOURNAMENT_USER;
    else {
        gw_error(r, 404, "not_found", "no such route");
        return;
    }
    if (!get) {
        gw_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: GET)", r->method);
        return;
    }
    gw_reader rd;
    if (gw_reader_auth(r, &rd) != 0)
        return;
    if (r->route == GW_R_TOURNAMENT)
        tournament(r, &rd, seg[0]);
    else if (strlen(seg[2]) > 256)
        gw_error(r, 404, "not_found", "user has no seat in this tournament");
    else
        tournament_user(r, &rd, seg[0], seg[2]);
}
