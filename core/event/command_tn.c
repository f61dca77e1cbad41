#include "event/command_tn.h"

#include <stdio.h>

#include "event/event.h"

json_t *bm_command_tournament(const char *campaign, const char *game, const char *user, int join,
                              double amount, int64_t now_ms, const char *source)
{
    char eid[600], ts[40];
    bm_rfc3339_format(now_ms, ts, sizeof ts);
    /* The amount is part of the id: a retry of a refused (underpaid) entry with the
     * right amount must not be dropped as a repeat. */
    snprintf(eid, sizeof eid, "cmd:tournament-%s:%s:%s:%.17g", join ? "join" : "entry", campaign,
             user, amount);
    json_t *data = json_pack("{s:s}", "campaignId", campaign);
    if (data && amount >= 0)
        json_object_set_new(data, "amount", json_real(amount));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "eventId", eid, "gameId", game,
                     "userId", user, "eventType",
                     join ? "bm.tournament.join" : "bm.tournament.entry", "timestamp", ts, "source",
                     source, "data", data);
}
