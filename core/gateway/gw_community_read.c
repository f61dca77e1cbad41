/*
 * GET /v1/communities/{slug}: what a game shows of one of its studio's
 * communities before and after a player joins: name, description, whether it
 * is open, the active member count, the member metadata it asks for, and
 * (for a player token, or a game key with ?userId=) that player's membership.
 * Read with the key of a game of the community's studio or a player's own ID
 * token (its game's studio), or the studio owner's token; another studio's
 * community is a 404, as for the join.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "community/community.h"
#include "gateway/gw.h"

/* clang-format off */
#define SHOW                                                                                       \
    "SELECT c.id::text, c.name, c.config->>'description', c.is_open, "                             \
    "       (SELECT count(*) FROM community_members m WHERE m.community_id = c.id "                \
    "          AND m.status = 'active'), "                                                         \
    "       COALESCE(c.config->'memberMetadata', c.member_metadata)::text, "                       \
    "       (SELECT m.status FROM community_members m WHERE m.community_id = c.id "                \
    "          AND m.user_id = $4) "                                                               \
    "FROM communities c WHERE c.status = 'active' AND c.referral_slug = $1 AND "                   \
    "  (c.studio_id IS NULL OR c.studio_id = $3::uuid OR "                                         \
    "   c.studio_id = (SELECT g.studio_id FROM games g WHERE g.id = $2::uuid))"
/* clang-format on */

void gw_community_show(gw_req *r, const char *slug)
{
    char err[256];
    if (bm_community_slug_check(slug, err, sizeof err) != 0) {
        gw_error(r, 404, "not_found", "no such community");
        return;
    }
    gw_reader rd;
    if (gw_reader_auth(r, &rd) != 0)
        return;
    const char *user = rd.player ? rd.user : gw_arg(r, "userId");
    if (rd.player && gw_arg(r, "userId") && strcmp(gw_arg(r, "userId"), rd.user) != 0) {
        gw_error(r, 403, "forbidden", "a player token reads its own membership only");
        return;
    }
    if (user && (!*user || strlen(user) > 256)) {
        gw_error(r, 400, "invalid_parameter", "query parameter userId: 1 to 256 bytes");
        return;
    }
    PGconn *c = gw_pool_get(&r->g->pool, 2000);
    if (!c) {
        gw_error(r, 503, "unavailable", "database unavailable, retry later");
        return;
    }
    const char *p[4] = {slug, rd.game_uuid[0] ? rd.game_uuid : NULL,
                        rd.studio[0] ? rd.studio : NULL, user};
    PGresult *res = PQexecParams(c, SHOW, 4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        gw_error(r, 503, "unavailable", "database query failed, retry later");
    } else if (PQntuples(res) != 1) {
        gw_error(r, 404, "not_found", "no such community");
    } else {
        json_t *meta = json_loads(PQgetvalue(res, 0, 5), 0, NULL);
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:I, s:o}", "communityId",
                              PQgetvalue(res, 0, 0), "slug", slug, "name", PQgetvalue(res, 0, 1),
                              "isOpen", strcmp(PQgetvalue(res, 0, 3), "t") == 0, "members",
                              (json_int_t)strtoll(PQgetvalue(res, 0, 4), NULL, 10),
                              "memberMetadata", meta ? meta : json_null());
        json_object_set_new(o, "description",
                            PQgetisnull(res, 0, 2) ? json_null()
                                                   : json_string(PQgetvalue(res, 0, 2)));
        if (user) {
            json_object_set_new(o, "userId", json_string(user));
            json_object_set_new(o, "membership",
                                PQgetisnull(res, 0, 6) ? json_null()
                                                       : json_string(PQgetvalue(res, 0, 6)));
        }
        gw_json(r, 200, o);
    }
    PQclear(res);
    gw_pool_put(&r->g->pool, c);
}
