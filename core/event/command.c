#include "event/command.h"

#include <stdio.h>

#include "event/event.h"

json_t *bm_command_battlepass(const char *campaign, const char *game, const char *user, int tier,
                              int premium, int64_t now_ms, const char *source)
{
    char eid[600], ts[40];
    bm_rfc3339_format(now_ms, ts, sizeof ts);
    /* Every request carries its time in its id, so each one reaches the pass: a repeated
     * purchase is acknowledged on battlepass.progress (and changes nothing), and a claim
     * refused now (tier not completed yet) can be made again later. The module's
     * purchased flag and claimed sets keep repeats harmless. */
    if (tier == 0)
        snprintf(eid, sizeof eid, "cmd:purchase:%s:%s:%lld", campaign, user, (long long)now_ms);
    else
        snprintf(eid, sizeof eid, "cmd:claim:%s:%s:%d:%s:%lld", campaign, user, tier,
                 premium ? "premium" : "free", (long long)now_ms);
    json_t *data = tier == 0 ? json_pack("{s:s}", "campaignId", campaign)
                             : json_pack("{s:s, s:i, s:b}", "campaignId", campaign, "tier", tier,
                                         "premium", premium);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "eventId", eid, "gameId", game,
                     "userId", user, "eventType",
                     tier == 0 ? "bm.battlepass.purchase" : "bm.battlepass.claim", "timestamp", ts,
                     "source", source, "data", data);
}
