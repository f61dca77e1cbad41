/*
 * Event generation for bm-loadgen. Every byte comes from the seed: the valid
 * stream, the malformed messages and the user choices each use their own
 * random stream, so changing --bad-fraction does not change the valid events.
 */
#include "gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const bm_lg_type_names[BM_LG_NTYPES] = {"ENEMY_KILL", "ITEM_COLLECTED", "LEVEL_UP",
                                                    "MATCH_END"};

const char *const bm_lg_type_fields[BM_LG_NTYPES][BM_LG_MAX_FIELDS + 1] = {
    {"level", NULL},
    {"count", NULL},
    {"level", NULL},
    {"deaths", "kills", "level", "score", NULL},
};

#define MAX_LEVEL 60
#define MAX_GAMES 64
#define MAX_IDENT 64

/* Stream numbers given to bm_lg_rng_seed. */
enum { STREAM_EVENTS = 1, STREAM_BAD = 2 };

/* Malformed message kinds (see main.c). */
enum { BAD_JSON, BAD_NO_USER, BAD_TYPES, BAD_TIME, BAD_BIG, BAD_BINARY, BAD_KINDS };

/* Ways format_event spoils an otherwise valid event. */
enum { F_NONE, F_NO_USER, F_USER_NUM, F_TYPE_NUM, F_DATA_STR, F_GAME_NUM, F_TIME, F_PAD };

static const char *const enemies[] = {"orc", "troll", "dragon", "slime"};
static const double enemy_w[] = {40, 20, 10, 30};
static const char *const weapons[] = {"sword", "bow", "staff"};
static const char *const items[] = {"gem", "coin", "potion"};
static const double item_w[] = {30, 50, 20};
static const char *const rarities[] = {"common", "rare", "epic"};
static const double rarity_w[] = {70, 25, 5};
static const char *const bad_times[] = {"2026-13-45T25:61:00.000Z", "yesterday", ""};

struct bm_lg_gen {
    bm_lg_params p;
    double *cdf; /* Zipf CDF over user indexes */
    double mix_cdf[BM_LG_NTYPES];
    char *games_buf;
    const char *games[MAX_GAMES];
    size_t ngames;
    uint8_t *level; /* current level of each user */
    bm_lg_rng ev, bad;
    uint64_t id_base;
    int64_t ts_sec; /* second that ts_str holds */
    char ts_str[32];
};

/* One generated event with its non-numeric choices. */
typedef struct full_event {
    bm_lg_event e;
    int win, ranked;
    int s0, s1; /* enemy/weapon or item/rarity */
} full_event;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void bm_lg_rng_seed(bm_lg_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = splitmix64(seed) ^ splitmix64(stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++) {
        x = splitmix64(x);
        r->s[i] = x;
    }
}

uint64_t bm_lg_rng_next(bm_lg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double bm_lg_rng_unit(bm_lg_rng *r)
{
    return (double)(bm_lg_rng_next(r) >> 11) * 0x1.0p-53;
}

uint32_t bm_lg_rng_below(bm_lg_rng *r, uint32_t n)
{
    /* Multiply-shift: the tiny bias is irrelevant for load generation. */
    return (uint32_t)(((bm_lg_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static int pick(bm_lg_rng *r, const double *w, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        total += w[i];
    double u = bm_lg_rng_unit(r) * total;
    for (int i = 0; i < n - 1; i++) {
        if (u < w[i])
            return i;
        u -= w[i];
    }
    return n - 1;
}

/* Exponential with the given mean, truncated to an int in [0, cap]. */
static int64_t expo(bm_lg_rng *r, double mean, int64_t cap)
{
    double x = -mean * log(1.0 - bm_lg_rng_unit(r));
    return x >= (double)cap ? cap : (int64_t)x;
}

static uint32_t pick_user(bm_lg_gen *g, bm_lg_rng *r)
{
    double u = bm_lg_rng_unit(r);
    uint32_t lo = 0, hi = g->p.users - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static int pick_type(bm_lg_gen *g, bm_lg_rng *r)
{
    double u = bm_lg_rng_unit(r);
    for (int t = 0; t < BM_LG_NTYPES - 1; t++)
        if (u < g->mix_cdf[t])
            return t;
    return BM_LG_NTYPES - 1;
}

static int ident_ok(const char *s, size_t len)
{
    if (len == 0 || len > MAX_IDENT)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == ':' || c == '@';
        if (!ok)
            return 0;
    }
    return 1;
}

bm_lg_gen *bm_lg_gen_new(const bm_lg_params *p, char *err, size_t errlen)
{
    bm_lg_gen *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->p = *p;
    g->ts_sec = INT64_MIN;
    if (p->users == 0 || p->users > (1u << 31)) {
        snprintf(err, errlen, "--users must be in 1..2147483648");
        goto fail;
    }
    if (!(p->zipf >= 0) || p->zipf > 10) {
        snprintf(err, errlen, "--zipf must be in 0..10");
        goto fail;
    }
    if (strlen(p->user_prefix) > 32 ||
        (p->user_prefix[0] && !ident_ok(p->user_prefix, strlen(p->user_prefix)))) {
        snprintf(err, errlen, "--user-prefix: at most 32 of [A-Za-z0-9._:@-]");
        goto fail;
    }
    if (p->start_ms < 0 || p->span_ms < 0 || p->start_ms > 253402300799999LL - p->span_ms) {
        snprintf(err, errlen, "--start/--span-ms must stay within years 1970..9999");
        goto fail;
    }

    /* Games: split the list once; a user's game is a hash of the user. */
    g->games_buf = strdup(p->games);
    if (!g->games_buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (char *save = NULL, *tok = strtok_r(g->games_buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (g->ngames == MAX_GAMES || !ident_ok(tok, strlen(tok))) {
            snprintf(err, errlen, "--games: at most %d ids of 1..%d of [A-Za-z0-9._:@-]", MAX_GAMES,
                     MAX_IDENT);
            goto fail;
        }
        g->games[g->ngames++] = tok;
    }
    if (g->ngames == 0) {
        snprintf(err, errlen, "--games: empty list");
        goto fail;
    }

    double total = 0;
    for (int t = 0; t < BM_LG_NTYPES; t++) {
        if (!(p->mix[t] >= 0)) {
            snprintf(err, errlen, "--mix: weights must be >= 0");
            goto fail;
        }
        total += p->mix[t];
        g->mix_cdf[t] = total;
    }
    if (!(total > 0)) {
        snprintf(err, errlen, "--mix: at least one weight must be > 0");
        goto fail;
    }
    for (int t = 0; t < BM_LG_NTYPES; t++)
        g->mix_cdf[t] /= total;

    g->cdf = malloc(sizeof(double) * p->users);
    g->level = malloc(p->users);
    if (!g->cdf || !g->level) {
        snprintf(err, errlen, "out of memory for %u users", p->users);
        goto fail;
    }
    double acc = 0;
    for (uint32_t k = 0; k < p->users; k++) {
        acc += 1.0 / pow((double)k + 1.0, p->zipf);
        g->cdf[k] = acc;
    }
    for (uint32_t k = 0; k < p->users; k++)
        g->cdf[k] /= acc;
    g->cdf[p->users - 1] = 1.0; /* rounding must never leave u past the end */

    /* Users start at different levels so "level" is not the same everywhere. */
    for (uint32_t k = 0; k < p->users; k++)
        g->level[k] = (uint8_t)(1 + splitmix64(p->seed ^ (0x5bd1e995ULL * (k + 1))) % 12);

    bm_lg_rng_seed(&g->ev, p->seed, STREAM_EVENTS);
    bm_lg_rng_seed(&g->bad, p->seed, STREAM_BAD);
    /* Ids depend on the start too, so runs without --start never collide. */
    g->id_base = splitmix64(p->seed ^ splitmix64((uint64_t)p->start_ms + 0x632be59bd9b4e019ULL));
    return g;

fail:
    bm_lg_gen_free(g);
    return NULL;
}

void bm_lg_gen_free(bm_lg_gen *g)
{
    if (!g)
        return;
    free(g->cdf);
    free(g->level);
    free(g->games_buf);
    free(g);
}

uint32_t bm_lg_gen_users(const bm_lg_gen *g)
{
    return g->p.users;
}

const char *bm_lg_gen_game(const bm_lg_gen *g, uint32_t user)
{
    return g->games[splitmix64(g->p.seed ^ 0xa0761d6478bd642fULL ^ user) % g->ngames];
}

/* --- output buffer: pieces are bounded by construction (ids <= 64 chars) --- */

typedef struct wbuf {
    char *b;
    size_t n;
} wbuf;

static void put_n(wbuf *w, const char *s, size_t len)
{
    memcpy(w->b + w->n, s, len);
    w->n += len;
}

static void put(wbuf *w, const char *s)
{
    put_n(w, s, strlen(s));
}

static void put_u64(wbuf *w, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        w->b[w->n++] = tmp[--i];
}

static void put_hex(wbuf *w, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 60; i >= 0; i -= 4)
        w->b[w->n++] = hex[(v >> i) & 15];
}

size_t bm_lg_gen_user(const bm_lg_gen *g, uint32_t user, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s%u", g->p.user_prefix, user);
    return n < 0 ? 0 : (size_t)n;
}

static void put_user(wbuf *w, const bm_lg_gen *g, uint32_t user)
{
    put(w, g->p.user_prefix);
    put_u64(w, user);
}

static void put_time(wbuf *w, bm_lg_gen *g, int64_t ms)
{
    int64_t sec = ms / 1000;
    if (sec != g->ts_sec) {
        /* Timestamps rise slowly: one gmtime per second of event time. */
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(g->ts_str, sizeof(g->ts_str), "%Y-%m-%dT%H:%M:%S", &tm);
        g->ts_sec = sec;
    }
    int m = (int)(ms % 1000);
    char frac[6] = {
        '.', (char)('0' + m / 100), (char)('0' + m / 10 % 10), (char)('0' + m % 10), 'Z', 0};
    put(w, g->ts_str);
    put(w, frac);
}

static int64_t event_time(const bm_lg_gen *g, uint64_t i)
{
    uint64_t last = g->p.events > 1 ? g->p.events - 1 : 1;
    if (i > last)
        i = last;
    return g->p.start_ms + (int64_t)((double)g->p.span_ms * (double)i / (double)last);
}

/* Draws the contents of one event for `user` at `level` from stream r. */
static void draw(bm_lg_gen *g, bm_lg_rng *r, int type, uint32_t user, int level, full_event *f)
{
    memset(f, 0, sizeof(*f));
    f->e.type = type;
    f->e.user = user;
    switch (type) {
    case BM_LG_MATCH_END: {
        int64_t kills = expo(r, 6.0, 30);
        int64_t deaths = expo(r, 5.0, 20);
        double pwin = 0.45 + 0.03 * (double)(kills - deaths);
        pwin = pwin < 0.05 ? 0.05 : pwin > 0.95 ? 0.95 : pwin;
        f->win = bm_lg_rng_unit(r) < pwin;
        f->ranked = bm_lg_rng_unit(r) < 0.4;
        int64_t score = expo(r, 250.0 + 8.0 * level, 5000) + 40 * kills + (f->win ? 300 : 0);
        f->e.v[0] = deaths;
        f->e.v[1] = kills;
        f->e.v[2] = level;
        f->e.v[3] = score > 5000 ? 5000 : score;
        break;
    }
    case BM_LG_ENEMY_KILL:
        f->s0 = pick(r, enemy_w, 4);
        f->s1 = (int)bm_lg_rng_below(r, 3);
        f->e.v[0] = level;
        break;
    case BM_LG_LEVEL_UP:
        f->e.v[0] = level;
        break;
    default: /* BM_LG_ITEM_COLLECTED */
        f->s0 = pick(r, item_w, 3);
        f->s1 = pick(r, rarity_w, 3);
        f->e.v[0] = 1 + expo(r, 1.5, 9);
        break;
    }
}

static void put_data(wbuf *w, const full_event *f)
{
    const int64_t *v = f->e.v;
    switch (f->e.type) {
    case BM_LG_MATCH_END:
        put(w, "{\"score\":");
        put_u64(w, (uint64_t)v[3]);
        put(w, ",\"kills\":");
        put_u64(w, (uint64_t)v[1]);
        put(w, ",\"deaths\":");
        put_u64(w, (uint64_t)v[0]);
        put(w, f->win ? ",\"win\":true,\"level\":" : ",\"win\":false,\"level\":");
        put_u64(w, (uint64_t)v[2]);
        put(w, f->ranked ? ",\"mode\":\"ranked\"" : ",\"mode\":\"casual\"");
        break;
    case BM_LG_ENEMY_KILL:
        put(w, "{\"enemy\":\"");
        put(w, enemies[f->s0]);
        put(w, "\",\"weapon\":\"");
        put(w, weapons[f->s1]);
        put(w, "\",\"level\":");
        put_u64(w, (uint64_t)v[0]);
        break;
    case BM_LG_LEVEL_UP:
        put(w, "{\"level\":");
        put_u64(w, (uint64_t)v[0]);
        break;
    default:
        put(w, "{\"item\":\"");
        put(w, items[f->s0]);
        put(w, "\",\"rarity\":\"");
        put(w, rarities[f->s1]);
        put(w, "\",\"count\":");
        put_u64(w, (uint64_t)v[0]);
        break;
    }
}

/*
 * Writes one event document. `flaw` spoils one part of it (F_NONE for a valid
 * event); `arg` is the variant for F_TIME and the pad length for F_PAD.
 */
static size_t format_event(bm_lg_gen *g, char *buf, uint64_t idx, const full_event *f, int64_t ms,
                           int flaw, size_t arg)
{
    wbuf w = {buf, 0};
    put(&w, "{");
    if (g->p.with_event_id) {
        put(&w, "\"eventId\":\"");
        put_hex(&w, splitmix64(g->id_base + idx));
        put(&w, "\",");
    }
    put(&w, "\"gameId\":");
    if (flaw == F_GAME_NUM) {
        put_u64(&w, 42);
    } else {
        put(&w, "\"");
        put(&w, bm_lg_gen_game(g, f->e.user));
        put(&w, "\"");
    }
    if (flaw == F_USER_NUM) {
        put(&w, ",\"userId\":");
        put_u64(&w, f->e.user);
    } else if (flaw != F_NO_USER) {
        put(&w, ",\"userId\":\"");
        put_user(&w, g, f->e.user);
        put(&w, "\"");
    }
    put(&w, ",\"eventType\":");
    if (flaw == F_TYPE_NUM) {
        put_u64(&w, (uint64_t)f->e.type + 1);
    } else {
        put(&w, "\"");
        put(&w, bm_lg_type_names[f->e.type]);
        put(&w, "\"");
    }
    put(&w, ",\"data\":");
    if (flaw == F_DATA_STR) {
        put(&w, "\"none\"");
    } else {
        put_data(&w, f);
        if (flaw == F_PAD) {
            put(&w, ",\"pad\":\"");
            memset(w.b + w.n, 'x', arg);
            w.n += arg;
            put(&w, "\"");
        }
        put(&w, "}");
    }
    put(&w, ",\"timestamp\":\"");
    if (flaw == F_TIME)
        put(&w, bad_times[arg]);
    else
        put_time(&w, g, ms);
    put(&w, "\",\"source\":\"loadgen\"}");
    return w.n;
}

size_t bm_lg_gen_valid(bm_lg_gen *g, uint64_t i, bm_lg_event *ev, char *buf)
{
    uint32_t user = pick_user(g, &g->ev);
    int type = pick_type(g, &g->ev);
    if (type == BM_LG_LEVEL_UP && g->level[user] < MAX_LEVEL)
        g->level[user]++;
    full_event f;
    draw(g, &g->ev, type, user, g->level[user], &f);
    *ev = f.e;
    return format_event(g, buf, i, &f, event_time(g, i), F_NONE, 0);
}

size_t bm_lg_gen_bad(bm_lg_gen *g, uint64_t j, uint64_t i, uint32_t *user, char *buf)
{
    bm_lg_rng *r = &g->bad;
    *user = pick_user(g, r);
    int kind = (int)bm_lg_rng_below(r, BAD_KINDS);
    if (kind == BAD_BINARY) {
        /* A leading byte >= 0x80 is neither JSON nor valid UTF-8 text. */
        size_t len = 8 + bm_lg_rng_below(r, 120);
        for (size_t k = 0; k < len; k++)
            buf[k] = (char)(bm_lg_rng_next(r) >> 56);
        buf[0] = (char)(0x80 | (unsigned char)buf[0]);
        return len;
    }
    full_event f;
    draw(g, r, pick_type(g, r), *user, g->level[*user], &f);
    /* Bad messages take ids after the valid ones, so no id is shared. */
    uint64_t idx = g->p.events + j;
    int64_t ms = event_time(g, i);
    switch (kind) {
    case BAD_JSON: {
        /* Any strict prefix of an object lacks its closing brace. */
        size_t len = format_event(g, buf, idx, &f, ms, F_NONE, 0);
        return 1 + bm_lg_rng_below(r, (uint32_t)len - 1);
    }
    case BAD_NO_USER:
        return format_event(g, buf, idx, &f, ms, F_NO_USER, 0);
    case BAD_TYPES: {
        static const int flaws[] = {F_USER_NUM, F_TYPE_NUM, F_DATA_STR, F_GAME_NUM};
        return format_event(g, buf, idx, &f, ms, flaws[bm_lg_rng_below(r, 4)], 0);
    }
    case BAD_TIME:
        return format_event(g, buf, idx, &f, ms, F_TIME, bm_lg_rng_below(r, 3));
    default: /* BAD_BIG: valid except for its size */
        return format_event(g, buf, idx, &f, ms, F_PAD,
                            BM_LG_REJECT_BYTES + bm_lg_rng_below(r, 4096));
    }
}
