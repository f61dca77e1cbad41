/*
 * API keys of games: "Authorization: Bearer bmk_..." is hashed (SHA-256) and
 * looked up in api_keys; the answer (including "no such key") is cached for
 * http.key_cache_ms, so a revoked key stops working within that time. Each
 * key has a token bucket (events per second and burst from the config or
 * from the key's own row) in the same slot.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define GW_KEY_SLOTS 4096
#define GW_KEY_PROBE 8

struct gw_keyslot {
    char hash[65]; /* "" = free */
    int found;
    gw_key key;
    int64_t expires_us;
    double tokens;
    int64_t refill_us;
};

static uint32_t slot_of(const char *hash)
{
    return (uint32_t)strtoul(
               (char[9]){hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7], 0},
               NULL, 16) %
           GW_KEY_SLOTS;
}

/* The slot for hash under keys_lock: its own, a free one, or the stalest of the probe. */
static gw_keyslot *find_slot(bm_gateway *g, const char *hash, int *hit)
{
    uint32_t h = slot_of(hash);
    gw_keyslot *victim = NULL;
    for (int i = 0; i < GW_KEY_PROBE; i++) {
        gw_keyslot *s = &g->keys[(h + (uint32_t)i) % GW_KEY_SLOTS];
        if (strcmp(s->hash, hash) == 0) {
            *hit = 1;
            return s;
        }
        if (!victim || !s->hash[0] || (victim->hash[0] && s->expires_us < victim->expires_us))
            victim = s;
    }
    *hit = 0;
    return victim;
}

static int lookup(bm_gateway *g, const char *hash, gw_key *k, int *found)
{
    PGconn *c = gw_pool_get(&g->pool, 2000);
    if (!c)
        return -1;
    const char *p[1] = {hash};
    PGresult *r = PQexecParams(c,
                               "SELECT k.id, g.id, g.identifier, COALESCE(g.studio_id::text, ''), "
                               "COALESCE(k.rate_per_s, 0), COALESCE(k.rate_burst, 0) "
                               "FROM api_keys k JOIN games g ON g.id = k.game_id "
                               "WHERE k.key_hash = decode($1, 'hex') AND k.revoked_at IS NULL",
                               1, NULL, p, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = 0;
        *found = PQntuples(r) == 1;
        if (*found) {
            memset(k, 0, sizeof *k);
            k->id = atoll(PQgetvalue(r, 0, 0));
            snprintf(k->game_uuid, sizeof k->game_uuid, "%s", PQgetvalue(r, 0, 1));
            snprintf(k->game, sizeof k->game, "%s", PQgetvalue(r, 0, 2));
            snprintf(k->studio, sizeof k->studio, "%s", PQgetvalue(r, 0, 3));
            k->rate = atof(PQgetvalue(r, 0, 4));
            k->burst = atof(PQgetvalue(r, 0, 5));
            if (k->rate <= 0)
                k->rate = g->cfg.http_rate_per_s;
            if (k->burst <= 0)
                k->burst = g->cfg.http_rate_burst;
        }
    }
    PQclear(r);
    gw_pool_put(&g->pool, c);
    return rc;
}

int gw_key_auth(gw_req *r, gw_key *out)
{
    bm_gateway *g = r->g;
    const char *auth = gw_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        gw_error(r, 401, "unauthorized", "Authorization: Bearer <game API key> is required");
        return -1;
    }
    const char *key = auth + 7;
    if (strncmp(key, BM_APIKEY_PREFIX, strlen(BM_APIKEY_PREFIX)) != 0 ||
        strlen(key) != BM_APIKEY_LEN) {
        gw_error(r, 401, "unauthorized", "not a game API key");
        return -1;
    }
    char hash[65];
    bm_auth_sha256_hex(key, strlen(key), hash);
    int64_t now = gw_now_us();
    int hit, found = 0;
    pthread_mutex_lock(&g->keys_lock);
    if (!g->keys)
        g->keys = calloc(GW_KEY_SLOTS, sizeof *g->keys);
    gw_keyslot *s = g->keys ? find_slot(g, hash, &hit) : NULL;
    if (s && hit && s->expires_us > now) {
        found = s->found;
        *out = s->key;
        pthread_mutex_unlock(&g->keys_lock);
        goto decided;
    }
    pthread_mutex_unlock(&g->keys_lock);
    gw_key k;
    if (lookup(g, hash, &k, &found) != 0) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return -1;
    }
    pthread_mutex_lock(&g->keys_lock);
    s = g->keys ? find_slot(g, hash, &hit) : NULL;
    if (s) {
        if (!hit || s->key.id != k.id) {
            /* A new slot starts with a full bucket. */
            s->tokens = found ? k.burst : 0;
            s->refill_us = now;
        }
        snprintf(s->hash, sizeof s->hash, "%s", hash);
        s->found = found;
        if (found)
            s->key = k;
        s->expires_us = now + (int64_t)g->cfg.http_key_cache_ms * 1000;
    }
    pthread_mutex_unlock(&g->keys_lock);
    if (found)
        *out = k;
decided:
    if (!found) {
        gw_error(r, 401, "unauthorized", "unknown or revoked API key");
        return -1;
    }
    return 0;
}

int gw_key_take(gw_req *r, const gw_key *k, double n)
{
    bm_gateway *g = r->g;
    char hash[65];
    const char *auth = gw_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    bm_auth_sha256_hex(auth + 7, strlen(auth + 7), hash);
    int64_t now = gw_now_us();
    double wait_s = 0;
    pthread_mutex_lock(&g->keys_lock);
    int hit = 0;
    gw_keyslot *s = g->keys ? find_slot(g, hash, &hit) : NULL;
    if (s && hit) {
        s->tokens += (double)(now - s->refill_us) / 1e6 * k->rate;
        if (s->tokens > k->burst)
            s->tokens = k->burst;
        s->refill_us = now;
        if (n > k->burst)
            wait_s = -1; /* can never fit: the body is larger than the bucket */
        else if (s->tokens >= n)
            s->tokens -= n;
        else
            wait_s = (n - s->tokens) / k->rate;
    }
    pthread_mutex_unlock(&g->keys_lock);
    if (wait_s == 0)
        return 0;
    atomic_fetch_add(&g->m.rate_limited, 1);
    if (wait_s < 0) {
        snprintf(r->retry_after, sizeof r->retry_after, "%d", 1);
        gw_error(r, 429, "rate_limited",
                 "%g events exceed this key's burst of %g: send smaller bodies", n, k->burst);
    } else {
        snprintf(r->retry_after, sizeof r->retry_after, "%d", (int)ceil(wait_s));
        gw_error(r, 429, "rate_limited", "rate limit of %g events/s for this key exceeded",
                 k->rate);
    }
    return -1;
}

void gw_keys_free(bm_gateway *g)
{
    free(g->keys);
    g->keys = NULL;
}
