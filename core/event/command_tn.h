/* Tournament and community command events (what bmctl and the gateway put on game.events). */
#ifndef BM_EVENT_COMMAND_TN_H
#define BM_EVENT_COMMAND_TN_H

#include <jansson.h>
#include <stdint.h>

/*
 * A tournament entry (join = 0, TOURNAMENT_ENTRY) or join (join = 1,
 * TOURNAMENT_JOIN) for user in campaign (of game `game`), paying `amount`
 * (< 0: none), stamped now_ms, from `source`. One event id per (tournament,
 * user, command, amount): a repeated request is dropped early, and the module keeps
 * a repeated command harmless anyway. New reference, or NULL.
 */
json_t *bm_command_tournament(const char *campaign, const char *game, const char *user, int join,
                              double amount, int64_t now_ms, const char *source);

/*
 * A COMMUNITY_JOIN (bm.community.join) of user to the community `community`
 * (id or slug) with the member's metadata (borrowed), the referrer and invite
 * code (NULL: none). gameId is "bm.community": a join belongs to no game.
 * The event id is one per (community, user, metadata): a retried join is
 * dropped early and is harmless anyway. New reference, or NULL.
 */
json_t *bm_command_community_join(const char *community, const char *user, json_t *metadata,
                                  const char *ref, const char *invite, int64_t now_ms,
                                  const char *source);

#endif
