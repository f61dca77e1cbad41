/*
 * The query API for widgets and game clients: leaderboards (top, around a
 * player, one player) and a game's campaigns. Read with a game's API key (of
 * the campaign's game) or a studio owner's ID token (of the campaign's
 * studio); anything else is a 404, so ids of other games are not revealed.
 * Ranks follow idx_user_progress_rank: score descending, then who reached it
 * first, then user id, exactly as the engine and bmctl rank.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/gw.h"
#include "gateway/gw_rank.h"
#include "progress/progress.h"

#define RANK_ORDER "current_value DESC, reached_at ASC, user_id ASC"
#define COLS "user_id, current_value"

typedef gw_reader reader;

int gw_reader_auth(gw_req *r, gw_reader *rd)
{
    memset(rd, 0, sizeof *rd);
    const char *auth = gw_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && strncmp(auth, "Bearer " BM_APIKEY_PREFIX, 7 + strlen(BM_APIKEY_PREFIX)) == 0) {
        gw_key k;
        if (gw_key_auth(r, &k) != 0)
            return -1;
        snprintf(rd->game_uuid, sizeof rd->game_uuid, "%s", k.game_uuid);
        return 0;
    }
    gw_principal p;
    if (gw_jwt_auth(r, &p) != 0)
        return -1;
    if (strcmp(p.role, "player") == 0) {
        rd->player = 1;
        snprintf(rd->game_uuid, sizeof rd->game_uuid, "%s", p.game_uuid);
        snprintf(rd->user, sizeof rd->user, "%s", p.user);
        snprintf(rd->game, sizeof rd->game, "%s", p.game);
        return 0;
    }
    if (!p.studio[0]) {
        gw_error(r, 403, "forbidden", "role %s cannot read studio data", p.role);
        return -1;
    }
    snprintf(rd->studio, sizeof rd->studio, "%s", p.studio);
    return 0;
}

static PGconn *conn(gw_req *r)
{
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c)
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
    return c;
}

static PGresult *q(gw_req *r, PGconn *c, const char *sql, int n, const char *const *p)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed: %s", PQerrorMessage(c));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* A leaderboard campaign as the query routes need it. */
typedef struct gw_boardinfo {
    char id[40];
    char game[40];   /* games.id */
    char studio[40]; /* games.studio_id, "" when none */
    char name[256];
    int deflimit;
    int found;
    int indexable; /* a leaderboard: leaderboard.updates feeds the rank index */
    int64_t expires_us;
} gw_boardinfo;
#define GW_BOARD_SLOTS 256

/* Loads a leaderboard campaign visible to the reader (from a short-lived cache, else one
 * query); 0, or -1 with the answer set (404 for a board of another game or studio). */
static int board_load(gw_req *r, const reader *rd, const char *id, char *name, size_t namelen,
                      int *deflimit, gw_ranks **ranks)
{
    bm_gateway *g = r->g;
    if (!bm_auth_is_uuid(id)) {
        gw_error(r, 404, "not_found", "no such leaderboard");
        return -1;
    }
    gw_boardinfo bi;
    int64_t now = gw_now_us();
    unsigned slot =
        (unsigned)strtoul((char[5]){id[0], id[1], id[2], id[3], 0}, NULL, 16) % GW_BOARD_SLOTS;
    int hit = 0;
    pthread_mutex_lock(&g->boards_lock);
    if (!g->boards)
        g->boards = calloc(GW_BOARD_SLOTS, sizeof *g->boards);
    if (g->boards && strcmp(g->boards[slot].id, id) == 0 && g->boards[slot].expires_us > now) {
        bi = g->boards[slot];
        hit = 1;
    }
    pthread_mutex_unlock(&g->boards_lock);
    if (!hit) {
        PGconn *c = conn(r);
        if (!c)
            return -1;
        const char *p[1] = {id};
        PGresult *res =
            q(r, c,
              "SELECT c.name, COALESCE((c.config #>> '{displayConfig,maxEntries}')"
              "::int, 10), c.game_id::text, COALESCE(g.studio_id::text, ''), c.type FROM "
              "campaigns c JOIN games g ON g.id = c.game_id WHERE c.id = $1::uuid "
              "AND c.type IN ('leaderboard', 'tournament')",
              1, p);
        gw_pool_put(&g->pool, c);
        if (!res)
            return -1;
        memset(&bi, 0, sizeof bi);
        snprintf(bi.id, sizeof bi.id, "%s", id);
        bi.found = PQntuples(res) == 1;
        if (bi.found) {
            snprintf(bi.name, sizeof bi.name, "%s", PQgetvalue(res, 0, 0));
            bi.deflimit = atoi(PQgetvalue(res, 0, 1));
            bi.indexable = strcmp(PQgetvalue(res, 0, 4), "leaderboard") == 0;
            snprintf(bi.game, sizeof bi.game, "%s", PQgetvalue(res, 0, 2));
            snprintf(bi.studio, sizeof bi.studio, "%s", PQgetvalue(res, 0, 3));
        }
        PQclear(res);
        bi.expires_us = now + (int64_t)g->cfg.http_key_cache_ms * 1000;
        pthread_mutex_lock(&g->boards_lock);
        if (g->boards)
            g->boards[slot] = bi;
        pthread_mutex_unlock(&g->boards_lock);
    }
    /* Ids compared exactly: a game key reads its game's boards, a studio its games' boards. */
    int visible = bi.found && ((rd->game_uuid[0] && strcmp(rd->game_uuid, bi.game) == 0) ||
                               (rd->studio[0] && strcmp(rd->studio, bi.studio) == 0));
    if (!visible) {
        gw_error(r, 404, "not_found", "no such leaderboard");
        return -1;
    }
    snprintf(name, namelen, "%s", bi.name);
    *deflimit = bi.deflimit;
    /* Only leaderboards publish leaderboard.updates; other boards are answered by SQL. */
    *ranks = bi.indexable ? g->ranks : NULL;
    return 0;
}

/* A whole number query argument in [lo, hi], or dflt when absent; -1 with 400 set. */
static int int_arg(gw_req *r, const char *name, long lo, long hi, long dflt, long *out)
{
    const char *s = gw_arg(r, name);
    if (!s) {
        *out = dflt;
        return 0;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        gw_error(r, 400, "invalid_parameter", "query parameter %s: a whole number from %ld to %ld",
                 name, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static void add_rows(json_t *arr, PGresult *res, long long first_rank, int step)
{
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr, json_pack("{s:I, s:s, s:f}", "rank",
                                             (json_int_t)(first_rank + (long long)i * step),
                                             "userId", PQgetvalue(res, i, 0), "score",
                                             strtod(PQgetvalue(res, i, 1), NULL)));
}

/* Rank, score and tie-break key of one player; 0, 1 when absent, -1 with the answer set. */
static int player_rank(gw_req *r, PGconn *c, const char *id, const char *user, long long *rank,
                       char *score, char *reached)
{
    const char *p[2] = {id, user};
    PGresult *res =
        q(r, c,
          "SELECT current_value, reached_at, 1 + (SELECT count(*) FROM user_progress o WHERE "
          "o.campaign_id = u.campaign_id AND (o.current_value > u.current_value OR "
          "(o.current_value = u.current_value AND (o.reached_at, o.user_id) < (u.reached_at, "
          "u.user_id)))) FROM user_progress u WHERE u.campaign_id = $1::uuid AND u.user_id = $2",
          2, p);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 1;
    }
    snprintf(score, 64, "%s", PQgetvalue(res, 0, 0));
    snprintf(reached, 64, "%s", PQgetvalue(res, 0, 1));
    *rank = atoll(PQgetvalue(res, 0, 2));
    PQclear(res);
    return 0;
}

static void board(gw_req *r, const reader *rd, const char *id)
{
    long limit, offset, window;
    const char *around = gw_arg(r, "around"), *me = gw_arg(r, "me");
    PGconn *c = NULL; /* taken only when the rank index cannot answer */
    char name[256];
    int deflimit;
    json_t *entries = json_array(), *ans = NULL;
    gw_ranks *ranks = NULL;
    if (board_load(r, rd, id, name, sizeof name, &deflimit, &ranks) != 0 ||
        int_arg(r, "limit", 1, 1000, deflimit > 0 ? deflimit : 10, &limit) != 0 ||
        int_arg(r, "offset", 0, 10000000, 0, &offset) != 0 ||
        int_arg(r, "window", 1, 100, 10, &window) != 0)
        goto out;
    char lim[24], off[24];
    int indexed = around ? gw_rank_around(ranks, id, around, window, entries)
                         : gw_rank_range(ranks, id, offset, limit, entries);
    if (indexed == 0 && around) {
        gw_error(r, 404, "not_found", "user has no entry on this leaderboard");
        goto out;
    }
    if (around && indexed > 0) {
        me = around;
    } else if (indexed >= 0 && !around) {
        /* page served by the rank index */
    } else if (around) {
        long long rank;
        char score[64], reached[64];
        if (!(c = conn(r)))
            goto out;
        int rc = player_rank(r, c, id, around, &rank, score, reached);
        if (rc < 0)
            goto out;
        if (rc > 0) {
            gw_error(r, 404, "not_found", "user has no entry on this leaderboard");
            goto out;
        }
        /* Ahead of the player, nearest first; then the player and those behind. */
        snprintf(lim, sizeof lim, "%ld", window / 2);
        const char *p[5] = {id, score, reached, around, lim};
        PGresult *a = q(r, c,
                        "SELECT " COLS " FROM user_progress WHERE campaign_id = $1::uuid AND "
                        "(current_value > $2::float8 OR (current_value = $2::float8 AND "
                        "(reached_at, user_id) < ($3::timestamptz, $4))) "
                        "ORDER BY current_value ASC, reached_at DESC, user_id DESC LIMIT $5::int",
                        5, p);
        if (!a)
            goto out;
        json_t *ahead = json_array();
        add_rows(ahead, a, rank - 1, -1);
        for (size_t i = json_array_size(ahead); i-- > 0;)
            json_array_append(entries, json_array_get(ahead, i));
        json_decref(ahead);
        snprintf(lim, sizeof lim, "%ld", window - (long)PQntuples(a));
        PQclear(a);
        PGresult *b = q(r, c,
                        "SELECT " COLS " FROM user_progress WHERE campaign_id = $1::uuid AND "
                        "(current_value < $2::float8 OR (current_value = $2::float8 AND "
                        "(reached_at, user_id) >= ($3::timestamptz, $4))) "
                        "ORDER BY " RANK_ORDER " LIMIT $5::int",
                        5, p);
        if (!b)
            goto out;
        add_rows(entries, b, rank, 1);
        PQclear(b);
        me = around;
    } else {
        if (!(c = conn(r)))
            goto out;
        snprintf(lim, sizeof lim, "%ld", limit);
        snprintf(off, sizeof off, "%ld", offset);
        const char *p[3] = {id, lim, off};
        PGresult *t = q(r, c,
                        "SELECT " COLS " FROM user_progress WHERE campaign_id = $1::uuid "
                        "ORDER BY " RANK_ORDER " LIMIT $2::int OFFSET $3::int",
                        3, p);
        if (!t)
            goto out;
        add_rows(entries, t, offset + 1, 1);
        PQclear(t);
    }
    ans = json_pack("{s:s, s:s, s:O}", "leaderboardId", id, "name", name, "entries", entries);
    if (me) {
        long long rank;
        char score[64], reached[64];
        double fast;
        int rc = gw_rank_user(ranks, id, me, &rank, &fast);
        if (rc >= 0) {
            rc = !rc;
            snprintf(score, sizeof score, "%.17g", fast);
        } else if (!c && !(c = conn(r))) {
            goto out;
        } else {
            rc = player_rank(r, c, id, me, &rank, score, reached);
        }
        if (rc < 0)
            goto out;
        json_object_set_new(ans, "me",
                            rc ? json_null()
                               : json_pack("{s:I, s:s, s:f}", "rank", (json_int_t)rank, "userId",
                                           me, "score", strtod(score, NULL)));
    }
    gw_json(r, 200, ans);
    ans = NULL;
out:
    json_decref(ans);
    json_decref(entries);
    gw_pool_put(&r->g->pool, c);
}

static void board_user(gw_req *r, const reader *rd, const char *id, const char *user)
{
    PGconn *c = NULL;
    char name[256], score[64], reached[64];
    int deflimit;
    long long rank;
    gw_ranks *ranks = NULL;
    if (board_load(r, rd, id, name, sizeof name, &deflimit, &ranks) == 0) {
        double fast;
        int rc = gw_rank_user(ranks, id, user, &rank, &fast);
        if (rc >= 0) {
            rc = !rc;
            snprintf(score, sizeof score, "%.17g", fast);
        } else if (!(c = conn(r))) {
            rc = -1;
        } else {
            rc = player_rank(r, c, id, user, &rank, score, reached);
        }
        if (rc > 0)
            gw_error(r, 404, "not_found", "user has no entry on this leaderboard");
        else if (rc == 0)
            gw_json(r, 200,
                    json_pack("{s:s, s:s, s:I, s:f}", "leaderboardId", id, "userId", user, "rank",
                              (json_int_t)rank, "score", strtod(score, NULL)));
    }
    gw_pool_put(&r->g->pool, c);
}

static const char *const k_types[] = {"leaderboard", "tournament", "quest", "battlepass"};
static const char *const k_status[] = {"draft", "active", "completed", "cancelled"};

static int one_of(const char *v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, set[i]) == 0)
            return 1;
    return 0;
}

static void campaigns(gw_req *r, const reader *rd, const char *game)
{
    const char *type = gw_arg(r, "type"), *status = gw_arg(r, "status");
    if (type && !one_of(type, k_types, 4)) {
        gw_error(r, 400, "invalid_parameter",
                 "query parameter type: leaderboard, tournament, quest or battlepass");
        return;
    }
    if (status && !one_of(status, k_status, 4)) {
        gw_error(r, 400, "invalid_parameter",
                 "query parameter status: draft, active, completed or cancelled");
        return;
    }
    PGconn *c = conn(r);
    if (!c)
        return;
    const char *p[5] = {game, rd->game_uuid[0] ? rd->game_uuid : NULL,
                        rd->studio[0] ? rd->studio : NULL, type, status};
    PGresult *res =
        q(r, c,
          "SELECT c.id, c.type, c.name, c.status, COALESCE(to_char(c.start_date AT TIME ZONE "
          "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), COALESCE(to_char(c.end_date AT TIME "
          "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), c.config::text "
          "FROM campaigns c JOIN games g ON g.id = c.game_id WHERE g.identifier = $1 AND "
          "(g.id = $2::uuid OR g.studio_id = $3::uuid) AND ($4::text IS NULL OR c.type = $4) "
          "AND ($5::text IS NULL OR c.status = $5) ORDER BY c.created_at, c.id",
          5, p);
    if (res) {
        json_t *arr = json_array();
        for (int i = 0; i < PQntuples(res); i++) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", PQgetvalue(res, i, 0), "type",
                                  PQgetvalue(res, i, 1), "name", PQgetvalue(res, i, 2), "status",
                                  PQgetvalue(res, i, 3));
            const char *sd = PQgetvalue(res, i, 4), *ed = PQgetvalue(res, i, 5);
            json_object_set_new(o, "startDate", *sd ? json_string(sd) : json_null());
            json_object_set_new(o, "endDate", *ed ? json_string(ed) : json_null());
            json_t *cfg = json_loads(PQgetvalue(res, i, 6), 0, NULL);
            json_object_set_new(o, "config", cfg ? cfg : json_object());
            json_array_append_new(arr, o);
        }
        PQclear(res);
        gw_json(r, 200, json_pack("{s:s, s:o}", "gameId", game, "campaigns", arr));
    }
    gw_pool_put(&r->g->pool, c);
}

/* The progress of user in one campaign of `type` visible to the reader, as JSON; NULL with
 * the answer set. */
static json_t *progress_view(gw_req *r, PGconn *c, const reader *rd, const char *id,
                             const char *type, const char *user)
{
    if (!bm_auth_is_uuid(id) || strlen(user) > 256) {
        gw_error(r, 404, "not_found", "no such %s", type);
        return NULL;
    }
    const char *p[4] = {id, rd->game_uuid[0] ? rd->game_uuid : NULL,
                        rd->studio[0] ? rd->studio : NULL, type};
    PGresult *res = q(r, c,
                      "SELECT 1 FROM campaigns c JOIN games g ON g.id = c.game_id WHERE c.id = "
                      "$1::uuid AND c.type = $4 AND (g.id = $2::uuid OR g.studio_id = $3::uuid)",
                      4, p);
    if (!res)
        return NULL;
    int visible = PQntuples(res) == 1;
    PQclear(res);
    if (!visible) {
        gw_error(r, 404, "not_found", "no such %s", type);
        return NULL;
    }
    bm_pv_campaign cc;
    bm_pv_progress pr = {0};
    char err[256];
    json_t *o = NULL;
    if (bm_pv_campaign_load(c, id, &cc, err, sizeof err) != 0) {
        gw_error(r, 503, "unavailable", "cannot read the campaign: %s", err);
        return NULL;
    }
    if (bm_pv_progress_load(c, id, user, &pr, err, sizeof err) != 0)
        gw_error(r, 503, "unavailable", "cannot read progress: %s", err);
    else if (strcmp(type, "quest") == 0)
        o = bm_pv_quest(&cc, user, &pr);
    else
        o = bm_pv_battlepass(&cc, user, &pr, (int64_t)time(NULL) * 1000);
    bm_pv_progress_clear(&pr);
    bm_pv_campaign_clear(&cc);
    return o;
}

static void progress_one(gw_req *r, const reader *rd, const char *id, const char *type,
                         const char *user)
{
    PGconn *c = conn(r);
    if (!c)
        return;
    json_t *o = progress_view(r, c, rd, id, type, user);
    if (o)
        gw_json(r, 200, o);
    gw_pool_put(&r->g->pool, c);
}

/* Every active quest of the game, with the user's progress in each. */
static void game_quests(gw_req *r, const reader *rd, const char *game, const char *user)
{
    PGconn *c = conn(r);
    if (!c)
        return;
    const char *p[3] = {game, rd->game_uuid[0] ? rd->game_uuid : NULL,
                        rd->studio[0] ? rd->studio : NULL};
    PGresult *res = q(r, c,
                      "SELECT c.id::text FROM campaigns c JOIN games g ON g.id = c.game_id WHERE "
                      "g.identifier = $1 AND (g.id = $2::uuid OR g.studio_id = $3::uuid) AND "
                      "c.type = 'quest' AND c.status = 'active' ORDER BY c.created_at, c.id",
                      3, p);
    if (res) {
        json_t *arr = json_array();
        int ok = 1;
        for (int i = 0; i < PQntuples(res) && ok; i++) {
            json_t *o = progress_view(r, c, rd, PQgetvalue(res, i, 0), "quest", user);
            ok = o != NULL;
            if (o)
                json_array_append_new(arr, o);
        }
        PQclear(res);
        if (ok)
            gw_json(r, 200,
                    json_pack("{s:s, s:s, s:o}", "gameId", game, "userId", user, "quests", arr));
        else
            json_decref(arr);
    }
    gw_pool_put(&r->g->pool, c);
}

void gw_query(gw_req *r, char **seg, int nseg)
{
    int write = nseg < 0;
    int n = write ? -nseg : nseg;
    int route = GW_R_OTHER;
    if ((n == 2 || n == 4) && strcmp(seg[0], "leaderboards") == 0 &&
        (n == 2 || strcmp(seg[2], "users") == 0))
        route = n == 2 ? GW_R_BOARD : GW_R_BOARD_USER;
    else if (n == 3 && strcmp(seg[0], "leaderboards") == 0 && strcmp(seg[2], "history") == 0)
        route = GW_R_BOARD_HISTORY;
    else if (n == 3 && strcmp(seg[0], "games") == 0 && strcmp(seg[2], "campaigns") == 0)
        route = GW_R_CAMPAIGNS;
    else if (n == 4 && strcmp(seg[0], "quests") == 0 && strcmp(seg[2], "users") == 0)
        route = GW_R_QUEST;
    else if (n == 5 && strcmp(seg[0], "games") == 0 && strcmp(seg[2], "users") == 0 &&
             strcmp(seg[4], "quests") == 0)
        route = GW_R_GAME_QUESTS;
    else if (n == 4 && strcmp(seg[0], "battlepasses") == 0 && strcmp(seg[2], "users") == 0)
        route = GW_R_BATTLEPASS;
    r->route = route;
    if (route == GW_R_OTHER) {
        gw_error(r, 404, "not_found", "no such route");
        return;
    }
    if (write) {
        gw_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: GET)", r->method);
        return;
    }
    reader rd;
    if (gw_reader_auth(r, &rd) != 0)
        return;
    /* A player reads the routes of one {userId}, its own, and of its own game. */
    const char *user = route == GW_R_BOARD || route == GW_R_CAMPAIGNS || route == GW_R_BOARD_HISTORY
                           ? NULL
                           : seg[3];
    if (rd.player && (!user || strcmp(user, rd.user) != 0 ||
                      (route == GW_R_GAME_QUESTS && strcmp(seg[1], rd.game) != 0))) {
        gw_error(r, 403, "forbidden",
                 "a player token reads its own quest, battle pass and rank only");
        return;
    }
    if (route == GW_R_BOARD)
        board(r, &rd, seg[1]);
    else if (route == GW_R_BOARD_HISTORY)
        gw_board_history(r, &rd, seg[1]);
    else if (route == GW_R_BOARD_USER)
        board_user(r, &rd, seg[1], seg[3]);
    else if (route == GW_R_QUEST)
        progress_one(r, &rd, seg[1], "quest", seg[3]);
    else if (route == GW_R_BATTLEPASS)
        progress_one(r, &rd, seg[1], "battlepass", seg[3]);
    else if (route == GW_R_GAME_QUESTS)
        game_quests(r, &rd, seg[1], seg[3]);
    else
        campaigns(r, &rd, seg[1]);
}
