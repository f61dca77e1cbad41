/* Player levels: cache, bulk load, per-event update and batch write (level.h). */
#include "level/level.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"

static uint64_t key_hash(const char *game, const char *user)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)game; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0x1f) * 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return h;
}

void bm_levels_init(bm_levels *l)
{
    memset(l, 0, sizeof *l);
}

static void entry_free(bm_level_entry *e)
{
    free(e->game);
    free(e->user);
    free(e);
}

void bm_levels_free(bm_levels *l)
{
    for (size_t i = 0; i < l->cap; i++)
        if (l->slots[i])
            entry_free(l->slots[i]);
    free(l->slots);
    free(l->load);
    free(l->dirty);
    memset(l, 0, sizeof *l);
}

static void insert_slot(bm_level_entry **slots, size_t cap, bm_level_entry *e)
{
    size_t i = e->hash & (cap - 1);
    while (slots[i])
        i = (i + 1) & (cap - 1);
    slots[i] = e;
}

static int grow_table(bm_levels *l)
{
    size_t ncap = l->cap ? l->cap * 2 : 1024;
    bm_level_entry **ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < l->cap; i++)
        if (l->slots[i])
            insert_slot(ns, ncap, l->slots[i]);
    free(l->slots);
    l->slots = ns;
    l->cap = ncap;
    return 0;
}

static bm_level_entry *find(const bm_levels *l, const char *game, const char *user)
{
    if (!l->cap)
        return NULL;
    uint64_t h = key_hash(game, user);
    for (size_t i = h & (l->cap - 1); l->slots[i]; i = (i + 1) & (l->cap - 1)) {
        bm_level_entry *e = l->slots[i];
        if (e->hash == h && strcmp(e->user, user) == 0 && strcmp(e->game, game) == 0)
            return e;
    }
    return NULL;
}

/* Appends to a vector of entry pointers. */
static int push(bm_level_entry ***v, size_t *n, size_t *cap, bm_level_entry *e)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        bm_level_entry **nv = realloc(*v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = e;
    return 0;
}

int bm_levels_want(bm_levels *l, const char *game, const char *user, int32_t partition)
{
    bm_level_entry *e = find(l, game, user);
    if (e)
        return 0;
    if ((l->count + 1) * 2 > l->cap && grow_table(l) != 0)
        return -1;
    e = calloc(1, sizeof *e);
    if (!e || !(e->game = strdup(game)) || !(e->user = strdup(user))) {
        if (e)
            entry_free(e);
        return -1;
    }
    e->hash = key_hash(game, user);
    e->partition = partition;
    if (push(&l->load, &l->nload, &l->capload, e) != 0) {
        entry_free(e);
        return -1;
    }
    e->queued = 1;
    insert_slot(l->slots, l->cap, e);
    l->count++;
    return 0;
}

int bm_levels_load(bm_levels *l, PGconn *pg, char *err, size_t errlen)
{
    if (!l->nload)
        return 0;
    bm_buf games = {0}, users = {0};
    bm_buf_puts(&games, "{");
    bm_buf_puts(&users, "{");
    for (size_t i = 0; i < l->nload; i++) {
        if (i) {
            bm_buf_puts(&games, ",");
            bm_buf_puts(&users, ",");
        }
        bm_buf_array_elem(&games, l->load[i]->game);
        bm_buf_array_elem(&users, l->load[i]->user);
    }
    bm_buf_puts(&games, "}");
    bm_buf_puts(&users, "}");
    int rc = -1;
    if (games.oom || users.oom) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    const char *params[2] = {bm_buf_cstr(&games), bm_buf_cstr(&users)};
    PGresult *r = PQexecParams(pg,
                               "SELECT k.i, p.level, p.level_at_ms "
                               "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(g, u, i) "
                               "JOIN player_levels p ON p.game_id = k.g AND p.user_id = k.u",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *m = PQerrorMessage(pg);
        snprintf(err, errlen, "load levels: %.*s", (int)strcspn(m, "\n"), m);
        PQclear(r);
        goto out;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        long idx = strtol(PQgetvalue(r, row, 0), NULL, 10) - 1;
        if (idx < 0 || (size_t)idx >= l->nload)
            continue;
        bm_level_entry *e = l->load[idx];
        e->level = strtod(PQgetvalue(r, row, 1), NULL);
        e->level_ms = strtoll(PQgetvalue(r, row, 2), NULL, 10);
        e->has = 1;
    }
    PQclear(r);
    for (size_t i = 0; i < l->nload; i++) {
        l->load[i]->loaded = 1;
        l->load[i]->queued = 0;
    }
    l->nload = 0;
    rc = 0;
out:
    bm_buf_free(&games);
    bm_buf_free(&users);
    return rc;
}

void bm_levels_observe(bm_levels *l, const char *game, const char *user, int64_t time_ms,
                       json_t *data)
{
    double v;
    if (!bm_event_number_value(json_object_get(data, "level"), &v))
        return;
    bm_level_entry *e = find(l, game, user);
    if (!e || !e->loaded)
        return; /* not prepared for this batch: cannot happen for a dispatched event */
    /* Latest by event time; on a tie the later in stream order wins. */
    if (e->has && time_ms < e->level_ms)
        return;
    if (e->has && e->level == v && e->level_ms == time_ms)
        return;
    e->level = v;
    e->level_ms = time_ms;
    e->has = 1;
    if (!e->dirty && push(&l->dirty, &l->ndirty, &l->capdirty, e) == 0)
        e->dirty = 1;
}

int bm_levels_get(const bm_levels *l, const char *game, const char *user, double *out)
{
    const bm_level_entry *e = find(l, game, user);
    if (!e || !e->has)
        return -1;
    *out = e->level;
    return 0;
}

void bm_levels_take(bm_levels *l, bm_buf arr[4], size_t *n)
{
    *n = 0;
    for (int k = 0; k < 4; k++)
        bm_buf_puts(&arr[k], "{");
    for (size_t i = 0; i < l->ndirty; i++) {
        bm_level_entry *e = l->dirty[i];
        const char *sep = i ? "," : "";
        for (int k = 0; k < 4; k++)
            bm_buf_puts(&arr[k], sep);
        bm_buf_array_elem(&arr[0], e->game);
        bm_buf_array_elem(&arr[1], e->user);
        bm_buf_double(&arr[2], e->level);
        bm_buf_i64(&arr[3], e->level_ms);
        e->dirty = 0;
        (*n)++;
    }
    for (int k = 0; k < 4; k++)
        bm_buf_puts(&arr[k], "}");
    l->ndirty = 0;
}

int bm_levels_write(PGconn *pg, bm_buf arr[4], size_t n, char *err, size_t errlen)
{
    if (!n)
        return 0;
    for (int k = 0; k < 4; k++)
        if (arr[k].oom) {
            snprintf(err, errlen, "levels: out of memory");
            return -1;
        }
    const char *v[4] = {bm_buf_cstr(&arr[0]), bm_buf_cstr(&arr[1]), bm_buf_cstr(&arr[2]),
                        bm_buf_cstr(&arr[3])};
    /* The guard keeps the later level when two writers ever raced (they cannot while
     * one process owns a player's partition, but the rule then holds in the table too). */
    PGresult *r =
        PQexecParams(pg,
                     "INSERT INTO player_levels AS p (game_id, user_id, level, level_at_ms) "
                     "SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::int8[]) "
                     "ON CONFLICT (game_id, user_id) DO UPDATE SET level = EXCLUDED.level, "
                     "level_at_ms = EXCLUDED.level_at_ms, updated_at = now() "
                     "WHERE p.level_at_ms <= EXCLUDED.level_at_ms",
                     4, NULL, v, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        const char *m = PQerrorMessage(pg);
        snprintf(err, errlen, "levels: %.*s", (int)strcspn(m, "\n"), m);
        return -1;
    }
    return 0;
}

void bm_levels_drop(bm_levels *l, int32_t partition)
{
    if (!l->cap)
        return;
    bm_level_entry **old = l->slots;
    size_t ocap = l->cap;
    bm_level_entry **ns = calloc(ocap, sizeof *ns);
    l->count = 0;
    for (size_t i = 0; i < ocap; i++) {
        bm_level_entry *e = old[i];
        if (!e)
            continue;
        /* Without memory for the new table everything goes, which is always correct. */
        if (!ns || partition < 0 || e->partition == partition) {
            entry_free(e);
        } else {
            insert_slot(ns, ocap, e);
            l->count++;
        }
    }
    free(old);
    l->slots = ns;
    l->cap = ns ? ocap : 0;
    l->nload = 0;
    l->ndirty = 0;
}
