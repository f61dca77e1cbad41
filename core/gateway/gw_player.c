/*
 * The player role: a Firebase ID token with role "player" reads only its own
 * user data. Its user id is the token's "userId" claim when the studio's
 * backend set one (game user ids that are not Firebase uids), else its sub;
 * its game is the "gameId" claim (games.identifier), as on the WebSocket.
 * The query routes compare {userId} with that id (gw_query.c); the routes
 * that write (events, claims, purchases) and the admin API answer 403.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/gw.h"

int gw_player_resolve(gw_req *r, const bm_jwt_claims *cl, gw_principal *p)
{
    json_t *u = json_object_get(cl->payload, "userId");
    const char *user = json_is_string(u) ? json_string_value(u) : cl->sub;
    const char *game = json_string_value(json_object_get(cl->payload, "gameId"));
    if (!user || !*user || strlen(user) >= sizeof p->user || !game || !*game ||
        strlen(game) >= sizeof p->game) {
        gw_error(r, 403, "forbidden",
                 "a player token needs a gameId claim (and a userId claim or sub of at most "
                 "256 bytes)");
        return -1;
    }
    snprintf(p->user, sizeof p->user, "%s", user);
    snprintf(p->game, sizeof p->game, "%s", game);
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return -1;
    }
    const char *par[1] = {p->game};
    PGresult *res =
        PQexecParams(c, "SELECT id FROM games WHERE identifier = $1", 1, NULL, par, NULL, NULL, 0);
    int st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK && PQntuples(res) == 1)
        snprintf(p->game_uuid, sizeof p->game_uuid, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    gw_pool_put(&r->g->pool, c);
    if (st != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
        return -1;
    }
    if (!p->game_uuid[0]) {
        gw_error(r, 403, "forbidden", "the token's gameId names no game");
        return -1;
    }
    return 0;
}

int gw_player_refused(gw_req *r)
{
    bm_gateway *g = r->g;
    const char *auth = gw_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    /* Game keys and missing credentials go on to the route's own check. */
    if (!auth || strncmp(auth, "Bearer ", 7) != 0 ||
        strncmp(auth + 7, BM_APIKEY_PREFIX, strlen(BM_APIKEY_PREFIX)) == 0)
        return 0;
    char reason[128];
    bm_jwt_claims cl;
    pthread_mutex_lock(&g->jwks_lock);
    int rc = g->jwks ? bm_jwt_verify(g->jwks, auth + 7, g->cfg.auth_project, (int64_t)time(NULL),
                                     g->cfg.auth_clock_skew_s, &cl, reason, sizeof reason)
                     : -1;
    pthread_mutex_unlock(&g->jwks_lock);
    if (rc != 0)
        return 0;
    int player = strcmp(cl.role, "player") == 0;
    bm_jwt_claims_clear(&cl);
    if (player)
        gw_error(r, 403, "forbidden",
                 "a player token reads its own quest, battle pass and rank only");
    return player;
}
