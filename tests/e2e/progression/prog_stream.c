/*
 * The progression stream: deterministic game events and battle pass commands
 * as C structs, and the bytes a game SDK (or bmctl) would put on game.events
 * for each of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/progression/prog.h"
#include "event/event.h"

#define MINUTE_MS 60000LL

void prog_user_id(int user, char *buf, size_t len)
{
    snprintf(buf, len, "player-%04d", user);
}

static prog_event *push(prog_stream *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        prog_event *nv = realloc(s->ev, cap * sizeof *nv);
        if (!nv)
            bm_e2e_fail("out of memory");
        s->ev = nv;
        s->cap = cap;
    }
    prog_event *e = &s->ev[s->n++];
    memset(e, 0, sizeof *e);
    e->dup_of = -1;
    e->level = -1;
    return e;
}

/* A purchase id carries its request time: a second purchase reaches the pass too. */
static void note_purchase(prog_stream *s, int user)
{
    s->purchase_out[user] = 1;
}

/* Per-player generator state. */
typedef struct gen_user {
    int weight;
    int level;
    long last_game; /* index of the player's latest game event, -1 none */
    int last_tier, last_premium;
} gen_user;

static int pick_user(bm_e2e_rng *r, const gen_user *g, int users, long total_weight)
{
    long x = bm_e2e_rng_range(r, 0, total_weight - 1);
    for (int u = 0; u < users; u++) {
        x -= g[u].weight;
        if (x < 0)
            return u;
    }
    return users - 1;
}

static void gen_command(prog_stream *s, bm_e2e_rng *r, gen_user *g, prog_event *e, int purchase)
{
    if (purchase) {
        e->kind = PK_PURCHASE;
        note_purchase(s, e->user);
        return;
    }
    e->kind = PK_CLAIM;
    gen_user *u = &g[e->user];
    if (u->last_tier && bm_e2e_rng_range(r, 0, 9) < 3) {
        /* The same claim again (a double tap, a retry after a refusal). */
        e->tier = (int16_t)u->last_tier;
        e->premium = (uint8_t)u->last_premium;
        return;
    }
    if (bm_e2e_rng_range(r, 0, 19) == 0)
        e->tier = bm_e2e_rng_range(r, 0, 1) ? 0 : PROG_TIERS + 1;
    else
        e->tier = (int16_t)bm_e2e_rng_range(r, 1, PROG_TIERS);
    e->premium = bm_e2e_rng_range(r, 0, 9) < 4;
    u->last_tier = e->tier;
    u->last_premium = e->premium;
}

static void gen_game(bm_e2e_rng *r, gen_user *u, prog_event *e)
{
    long k = bm_e2e_rng_range(r, 0, 99);
    e->kind = k < 30   ? PK_MATCH
              : k < 70 ? PK_KILL
              : k < 75 ? PK_LEVEL_UP
              : k < 92 ? PK_LOGIN
                       : PK_OTHER_GAME;
    e->level = bm_e2e_rng_range(r, 0, 24) == 0 ? -1 : (int16_t)u->level;
    switch (e->kind) {
    case PK_MATCH:
    case PK_OTHER_GAME:
        e->ranked = bm_e2e_rng_range(r, 0, 2) == 0;
        e->score = bm_e2e_rng_range(r, 0, 19) == 0 ? -1 : (int32_t)bm_e2e_rng_range(r, 0, 400);
        e->kills = bm_e2e_rng_range(r, 0, 19) == 0 ? -1 : (int32_t)bm_e2e_rng_range(r, 0, 12);
        break;
    case PK_KILL:
        k = bm_e2e_rng_range(r, 0, 99);
        e->weapon = k < 45 ? PW_SWORD : k < 75 ? PW_BOW : PW_RIFLE;
        break;
    case PK_LEVEL_UP:
        e->level = (int16_t)++u->level;
        break;
    }
    /* A late arrival: the device was offline for a while (may cross midnight). */
    if (bm_e2e_rng_range(r, 0, 99) < 8)
        e->t -= bm_e2e_rng_range(r, 0, 20 * MINUTE_MS);
}

void prog_stream_generate(prog_stream *s, uint64_t seed, int users, size_t n, int with_pass)
{
    memset(s, 0, sizeof *s);
    s->users = users;
    s->with_pass = with_pass;
    s->purchase_out = calloc((size_t)users, 1);
    gen_user *g = calloc((size_t)users, sizeof *g);
    if (!s->purchase_out || !g)
        bm_e2e_fail("out of memory");
    /* A midnight 8 to 32 h ago: 6 h either side of it stay inside the engine's
     * past bound (30 days) and behind its future bound. */
    int64_t now = (int64_t)time(NULL) * 1000;
    s->midnight = (now - 8 * PROG_HOUR_MS) / PROG_DAY_MS * PROG_DAY_MS;
    int64_t clock = s->midnight - 6 * PROG_HOUR_MS;
    int64_t step = 12 * PROG_HOUR_MS / (int64_t)(n ? n : 1);

    bm_e2e_rng r;
    bm_e2e_rng_seed(&r, seed);
    long total_weight = 0;
    for (int u = 0; u < users; u++) {
        g[u].weight = (int)bm_e2e_rng_range(&r, 1, 8);
        g[u].level = (int)bm_e2e_rng_range(&r, 1, 3);
        g[u].last_game = -1;
        total_weight += g[u].weight;
    }
    for (size_t i = 0; i < n; i++) {
        clock += 1 + bm_e2e_rng_range(&r, 0, 2 * step);
        int user = pick_user(&r, g, users, total_weight);
        prog_event *e = push(s);
        e->user = user;
        e->t = clock;
        long k = bm_e2e_rng_range(&r, 0, 999);
        if (k < 15 && g[user].last_game >= 0) {
            /* The SDK sends a message again after a lost acknowledgement. */
            *e = s->ev[g[user].last_game];
            e->dup_of = (int32_t)g[user].last_game;
            s->duplicates++;
        } else if (with_pass && k < 30) {
            gen_command(s, &r, g, e, 1);
        } else if (with_pass && k < 80) {
            gen_command(s, &r, g, e, 0);
        } else {
            gen_game(&r, &g[user], e);
            g[user].last_game = (long)i;
        }
    }
    free(g);
}

void prog_stream_add_bmctl(prog_stream *s, int kind, int user, int tier, int premium)
{
    prog_event *e = push(s);
    e->kind = (uint8_t)kind;
    e->user = user;
    e->tier = (int16_t)tier;
    e->premium = (uint8_t)premium;
    e->bmctl = 1;
    e->t = (int64_t)time(NULL) * 1000;
    if (kind == PK_PURCHASE)
        note_purchase(s, user);
}

void prog_stream_free(prog_stream *s)
{
    free(s->ev);
    free(s->purchase_out);
    memset(s, 0, sizeof *s);
}

size_t prog_event_json(const prog_campaigns *c, const prog_stream *s, size_t i, char *buf,
                       size_t len)
{
    size_t idx = s->ev[i].dup_of >= 0 ? (size_t)s->ev[i].dup_of : i;
    const prog_event *e = &s->ev[idx];
    char user[32], ts[40], level[24] = "";
    prog_user_id(e->user, user, sizeof user);
    bm_rfc3339_format(e->t, ts, sizeof ts);
    if (e->level >= 0)
        snprintf(level, sizeof level, "\"level\":%d,", e->level);
    static const char *const weapons[] = {"sword", "bow", "rifle"};
    int n = 0;
    switch (e->kind) {
    case PK_PURCHASE: /* core/bmctl/cmd_battlepass.c: the id carries the request time */
        n = snprintf(buf, len,
                     "{\"eventId\":\"cmd:purchase:%s:%s:%lld:%zu\",\"gameId\":\"" PROG_GAME "\","
                     "\"userId\":\"%s\",\"eventType\":\"bm.battlepass.purchase\","
                     "\"timestamp\":\"%s\",\"source\":\"bmctl\",\"data\":{\"campaignId\":\"%s\"}}",
                     c->pass, user, (long long)e->t, idx, user, ts, c->pass);
        break;
    case PK_CLAIM: /* the claim id carries the request time */
        n = snprintf(buf, len,
                     "{\"eventId\":\"cmd:claim:%s:%s:%d:%s:%lld\",\"gameId\":\"" PROG_GAME "\","
                     "\"userId\":\"%s\",\"eventType\":\"bm.battlepass.claim\",\"timestamp\":\"%s\","
                     "\"source\":\"bmctl\",\"data\":{\"campaignId\":\"%s\",\"tier\":%d,"
                     "\"premium\":%s}}",
                     c->pass, user, e->tier, e->premium ? "premium" : "free", (long long)e->t, user,
                     ts, c->pass, e->tier, e->premium ? "true" : "false");
        break;
    case PK_MATCH:
    case PK_OTHER_GAME: {
        char score[24] = "", stats[64];
        if (e->score >= 0)
            snprintf(score, sizeof score, "\"score\":%d,", e->score);
        if (e->kills >= 0)
            snprintf(stats, sizeof stats, "{\"kills\":%d,\"deaths\":%d}", e->kills, (int)(idx % 7));
        else
            snprintf(stats, sizeof stats, "{\"deaths\":%d}", (int)(idx % 7));
        n = snprintf(buf, len,
                     "{\"eventId\":\"evt-%zu\",\"gameId\":\"%s\",\"userId\":\"%s\","
                     "\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\",\"source\":\"sdk\","
                     "\"data\":{\"matchId\":\"m-%zu\",\"mode\":\"%s\",%s%s\"stats\":%s,"
                     "\"durationSec\":%d}}",
                     idx, e->kind == PK_MATCH ? PROG_GAME : PROG_OTHER_GAME, user, ts, idx,
                     e->ranked ? "ranked" : "casual", level, score, stats, 300 + (int)(idx % 600));
        break;
    }
    case PK_KILL:
        n = snprintf(buf, len,
                     "{\"eventId\":\"evt-%zu\",\"gameId\":\"" PROG_GAME "\",\"userId\":\"%s\","
                     "\"eventType\":\"ENEMY_KILL\",\"timestamp\":\"%s\",\"source\":\"sdk\","
                     "\"data\":{%s\"weapon\":\"%s\",\"enemy\":\"%s\"}}",
                     idx, user, ts, level, weapons[e->weapon], idx % 2 ? "orc" : "troll");
        break;
    case PK_LEVEL_UP:
        n = snprintf(buf, len,
                     "{\"eventId\":\"evt-%zu\",\"gameId\":\"" PROG_GAME "\",\"userId\":\"%s\","
                     "\"eventType\":\"LEVEL_UP\",\"timestamp\":\"%s\",\"source\":\"sdk\","
                     "\"data\":{\"level\":%d}}",
                     idx, user, ts, e->level);
        break;
    default:
        n = snprintf(buf, len,
                     "{\"eventId\":\"evt-%zu\",\"gameId\":\"" PROG_GAME "\",\"userId\":\"%s\","
                     "\"eventType\":\"LOGIN\",\"timestamp\":\"%s\",\"source\":\"sdk\","
                     "\"data\":{%s\"platform\":\"%s\"}}",
                     idx, user, ts, level, idx % 3 ? "ios" : "pc");
    }
    if (n < 0 || (size_t)n >= len)
        bm_e2e_fail("message %zu does not fit %zu bytes", i, len);
    return (size_t)n;
}

void prog_stream_produce(rd_kafka_t *p, const prog_campaigns *c, const prog_stream *s, size_t from,
                         size_t to)
{
    char buf[1024], user[32];
    for (size_t i = from; i < to && i < s->n; i++) {
        if (s->ev[i].bmctl)
            continue;
        size_t len = prog_event_json(c, s, i, buf, sizeof buf);
        prog_user_id(s->ev[i].user, user, sizeof user);
        bm_e2e_produce(p, user, buf, len);
    }
}
