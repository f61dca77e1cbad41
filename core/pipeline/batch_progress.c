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

int bm_batch_player_level(bm_batch *b, const bm_event *ev, double *out)
{
    if (!b || !ev)
        return -1;
    return bm_levels_get(&b->e->levels, ev->game_id, ev->user_id, out);
}

int bm_batch_state_each(bm_batch *b, const char *campaign_id,
                        int (*fn)(void *ud, const char *user_id, bm_state *st), void *ud)
{
    bm_pipeline *e = b->e;
    bm_camp *c = bm_camps_find(e->camps, campaign_id);
    if (!c || !fn)
        return -1;
    /* Committed players come from the table; entries created in this process but not
     * committed yet cannot exist at a batch boundary (the tick runs between batches). */
    const char *params[1] = {c->row.id};
    PGresult *r = PQexecParams(e->pg,
                               "SELECT user_id FROM user_progress WHERE campaign_id = $1 "
                               "ORDER BY user_id",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        bm_error("pipeline", "campaign=%s cannot list its players: %s", c->row.id,
                 PQerrorMessage(e->pg));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    bm_camp *saved = b->cur_camp;
    b->cur_camp = c;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        bm_state *st = bm_batch_state_get(b, c->row.id, PQgetvalue(r, i, 0));
        if (b->failed) {
            rc = -1;
            break;
        }
        if (fn(ud, PQgetvalue(r, i, 0), st) != 0)
            break;
    }
    b->cur_camp = saved;
    PQclear(r);
    return rc;
}
