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

#endif
