#include "event/command_tn.h"

#include <stdio.h>
#include <stdlib.h>

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

json_t *bm_command_community_join(const char *community, const char *user, json_t *metadata,
                                  const char *ref, const char *invite, int64_t now_ms,
                                  const char *source)
{
    char eid[700], ts[40];
    char *meta = json_dumps(metadata, JSON_COMPACT | JSON_SORT_KEYS);
    bm_rfc3339_format(now_ms, ts, sizeof ts);
    /* The metadata is part of the id: a join refused for bad metadata may come again fixed. */
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = meta ? meta : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(eid, sizeof eid, "cmd:community-join:%s:%s:%016llx", community, user,
             (unsigned long long)h);
    free(meta);
    json_t *data = json_pack("{s:s, s:O}", "communityId", community, "metadata", metadata);
    if (data && ref)
        json_object_set_new(data, "ref", json_string(ref));
    if (data && invite)
        json_object_set_new(data, "inviteCode", json_string(invite));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "eventId", eid, "gameId",
                     "bm.community", "userId", user, "eventType", "bm.community.join", "timestamp",
                     ts, "source", source, "data", data);
}
