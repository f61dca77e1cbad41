/*
 * Host API version 2, batch side: the player's level (kept by core/level) and
 * the list of a campaign's players for time-driven decisions (on_tick).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "log/log.h"
#include "pipeline/batch_internal.h"
#include "util/strset.h"

int bm_batch_player_level(bm_batch *b, const bm_event *ev, double *out)
{
    if (!b || !ev)
        return -1;
    return bm_levels_get(&b->e->levels, ev->game_id, ev->user_id, out);
}

/* Players of campaign slot `slot` that the cache holds with state: written by a batch
 * that may still be committing (pipelined), so not visible to a query yet. */
static int cached_users(const bm_state_cache *cache, uint32_t slot, bm_strset *seen, char ***out,
                        size_t *n)
{
    size_t cap = 0;
    for (size_t i = 0; i < cache->cap; i++) {
        const bm_state_entry *se = cache->slots[i].e;
        if (!se || se->camp_slot != slot || !se->loaded || (se->st.count == 0 && !se->st.doc))
            continue;
        if (bm_strset_has(seen, se->user))
            continue;
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nv = realloc(*out, ncap * sizeof *nv);
            if (!nv)
                return -1;
            *out = nv;
            cap = ncap;
        }
        if (bm_strset_add(seen, se->user) != 0 || !((*out)[*n] = strdup(se->user)))
            return -1;
        (*n)++;
    }
    return 0;
}

int bm_batch_state_each(bm_batch *b, const char *campaign_id,
                        int (*fn)(void *ud, const char *user_id, bm_state *st), void *ud)
{
    bm_pipeline *e = b->e;
    bm_camp *c = bm_camps_find(e->camps, campaign_id);
    if (!c || !fn)
        return -1;
    /* Players from the cache first (the batch in flight may not be committed yet),
     * then the committed ones the cache does not hold. The list is taken before any
     * callback runs: fn's state_get may grow the cache. */
    bm_strset seen = {0};
    char **users = NULL;
    size_t n = 0;
    int rc = -1;
    PGresult *r = NULL;
    if (cached_users(&e->cache, bm_camp_slot(c), &seen, &users, &n) != 0)
        goto out;
    const char *params[1] = {bm_camp_id(c)};
    r = PQexecParams(e->pg,
                     "SELECT user_id FROM user_progress WHERE campaign_id = $1 ORDER BY user_id", 1,
                     NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        bm_error("pipeline", "campaign=%s cannot list its players: %s", bm_camp_id(c),
                 PQerrorMessage(e->pg));
        goto out;
    }
    rc = 0;
    bm_camp *saved = b->cur_camp;
    b->cur_camp = c;
    for (size_t i = 0; rc == 0 && i < n + (size_t)PQntuples(r); i++) {
        const char *user = i < n ? users[i] : PQgetvalue(r, (int)(i - n), 0);
        if (i >= n && bm_strset_has(&seen, user))
            continue;
        bm_state *st = bm_batch_state_get(b, bm_camp_id(c), user);
        if (b->failed)
            rc = -1;
        else if (fn(ud, user, st) != 0)
            break;
    }
    b->cur_camp = saved;
out:
    PQclear(r);
    for (size_t i = 0; i < n; i++)
        free(users[i]);
    free(users);
    bm_strset_free(&seen);
    return rc;
}
