/*
 * Who may read which channel. A game API key reads campaign channels of its
 * game and the user channels of its players; a player token (a Firebase ID
 * token with role "player", the player's user id in a "userId" claim, else
 * sub, and a "gameId" claim naming the game) reads its own user channel and
 * the campaign channels of its game. User channels are kept per game, so a
 * key of one game never sees a same-named player of another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/gw.h"
#include "gateway/gw_ws_int.h"

#define CAMP_TTL_US (30 * 1000000LL)

static int key_auth(bm_ws *ws, const char *key, ws_principal *p, char *err, size_t errlen)
{
    if (strlen(key) != BM_APIKEY_LEN) {
        snprintf(err, errlen, "not a game API key");
        return -1;
    }
    char hash[65];
    bm_auth_sha256_hex(key, strlen(key), hash);
    PGconn *c = gw_pool_get(&ws->g->pool, 2000);
    if (!c)
        return -2;
    const char *par[1] = {hash};
    PGresult *r = PQexecParams(c,
                               "SELECT g.id FROM api_keys k JOIN games g ON g.id = k.game_id "
                               "WHERE k.key_hash = decode($1, 'hex') AND k.revoked_at IS NULL",
                               1, NULL, par, NULL, NULL, 0);
    int rc = -2;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = PQntuples(r) == 1 ? 0 : -1;
        if (rc == 0) {
            memset(p, 0, sizeof *p);
            p->is_key = 1;
            snprintf(p->game_uuid, sizeof p->game_uuid, "%s", PQgetvalue(r, 0, 0));
        } else {
            snprintf(err, errlen, "unknown or revoked API key");
        }
    }
    PQclear(r);
    gw_pool_put(&ws->g->pool, c);
    return rc;
}

static int token_auth(bm_ws *ws, const char *token, ws_principal *p, char *err, size_t errlen)
{
    bm_gateway *g = ws->g;
    char reason[128];
    bm_jwt_claims cl;
    pthread_mutex_lock(&g->jwks_lock);
    int rc = g->jwks ? bm_jwt_verify(g->jwks, token, g->cfg.auth_project, (int64_t)time(NULL),
                                     g->cfg.auth_clock_skew_s, &cl, reason, sizeof reason)
                     : -1;
    pthread_mutex_unlock(&g->jwks_lock);
    if (rc != 0) {
        snprintf(err, errlen, "token refused: %s",
                 g->jwks ? reason : "no certificates configured (auth.certs_file)");
        return -1;
    }
    const char *game = json_string_value(json_object_get(cl.payload, "gameId"));
    /* The player's user id: the userId claim when the studio maps ids, else sub (gw_player.c). */
    const char *uid = json_string_value(json_object_get(cl.payload, "userId"));
    const char *user = uid && *uid ? uid : cl.sub;
    int ok = strcmp(cl.role, "player") == 0 && game && strlen(user) < sizeof p->user;
    char gamebuf[260];
    snprintf(gamebuf, sizeof gamebuf, "%s", game ? game : "");
    memset(p, 0, sizeof *p);
    snprintf(p->user, sizeof p->user, "%s", user);
    bm_jwt_claims_clear(&cl);
    if (!ok) {
        snprintf(err, errlen, "a player token needs role \"player\" and a gameId claim");
        return -1;
    }
    PGconn *c = gw_pool_get(&g->pool, 2000);
    if (!c)
        return -2;
    const char *par[1] = {gamebuf};
    PGresult *r =
        PQexecParams(c, "SELECT id FROM games WHERE identifier = $1", 1, NULL, par, NULL, NULL, 0);
    rc = -2;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = PQntuples(r) == 1 ? 0 : -1;
        if (rc == 0)
            snprintf(p->game_uuid, sizeof p->game_uuid, "%s", PQgetvalue(r, 0, 0));
        else
            snprintf(err, errlen, "no such game: %.64s", gamebuf);
    }
    PQclear(r);
    gw_pool_put(&g->pool, c);
    return rc;
}

int ws_auth(bm_ws *ws, const char *credential, ws_principal *p, char *err, size_t errlen)
{
    if (!credential || !*credential) {
        snprintf(err, errlen, "a game API key or a player token is required");
        return -1;
    }
    if (strncmp(credential, BM_APIKEY_PREFIX, strlen(BM_APIKEY_PREFIX)) == 0)
        return key_auth(ws, credential, p, err, errlen);
    return token_auth(ws, credential, p, err, errlen);
}

static uint32_t camp_slot(const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *s = id; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % WS_CAMP_SLOTS;
}

int ws_campaign(bm_ws *ws, const char *id, char game[40], char type[16])
{
    if (!bm_auth_is_uuid(id))
        return 0;
    int64_t now = ws_now_us();
    ws_camp *s = &ws->camps[camp_slot(id)];
    pthread_mutex_lock(&ws->camp_lock);
    if (strcmp(s->id, id) == 0 && s->expires_us > now) {
        int found = s->found;
        snprintf(game, 40, "%s", s->game);
        snprintf(type, 16, "%s", s->type);
        pthread_mutex_unlock(&ws->camp_lock);
        return found;
    }
    pthread_mutex_unlock(&ws->camp_lock);
    PGconn *c = gw_pool_get(&ws->g->pool, 2000);
    if (!c)
        return -1;
    const char *par[1] = {id};
    PGresult *r = PQexecParams(c, "SELECT game_id, type FROM campaigns WHERE id = $1::uuid", 1,
                               NULL, par, NULL, NULL, 0);
    int rc = -1;
    ws_camp v = {0};
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = PQntuples(r) == 1;
        snprintf(v.id, sizeof v.id, "%s", id);
        v.found = rc;
        v.expires_us = now + CAMP_TTL_US;
        if (rc) {
            snprintf(v.game, sizeof v.game, "%s", PQgetvalue(r, 0, 0));
            snprintf(v.type, sizeof v.type, "%s", PQgetvalue(r, 0, 1));
        }
    }
    PQclear(r);
    gw_pool_put(&ws->g->pool, c);
    if (rc < 0)
        return -1;
    pthread_mutex_lock(&ws->camp_lock);
    *s = v;
    pthread_mutex_unlock(&ws->camp_lock);
    snprintf(game, 40, "%s", v.game);
    snprintf(type, 16, "%s", v.type);
    return rc;
}

int ws_channel_key(bm_ws *ws, const ws_principal *p, const char *channel, char *key, size_t cap,
                   const char **code, char *err, size_t errlen)
{
    *code = "forbidden";
    if (strncmp(channel, "campaign:", 9) == 0) {
        char game[40], type[16];
        int rc = ws_campaign(ws, channel + 9, game, type);
        if (rc < 0) {
            *code = "unavailable";
            snprintf(err, errlen, "database unavailable, retry later");
            return -1;
        }
        if (rc == 0 || strcmp(game, p->game_uuid) != 0) {
            /* Campaigns of other games look like missing ones: ids are not revealed. */
            *code = "not_found";
            snprintf(err, errlen, "no such campaign");
            return -1;
        }
        snprintf(key, cap, "%s", channel);
        return 0;
    }
    if (strncmp(channel, "user:", 5) == 0 && channel[5] && strlen(channel + 5) < 256) {
        if (!p->is_key && strcmp(channel + 5, p->user) != 0) {
            snprintf(err, errlen, "a player may only subscribe to its own user channel");
            return -1;
        }
        if ((size_t)snprintf(key, cap, "%s|%s", p->game_uuid, channel) >= cap) {
            *code = "invalid_channel";
            snprintf(err, errlen, "channel name too long");
            return -1;
        }
        return 0;
    }
    *code = "invalid_channel";
    snprintf(err, errlen, "channels are campaign:<id> or user:<id>");
    return -1;
}
