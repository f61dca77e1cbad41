/* Command events: what bmctl and the gateway put on game.events for the engine to apply. */
#ifndef BM_EVENT_COMMAND_H
#define BM_EVENT_COMMAND_H

#include <jansson.h>
#include <stdint.h>

/*
 * A battle pass purchase (tier 0) or claim (tier >= 1, premium track or free)
 * for user in campaign (of game `game`), stamped now_ms, from `source`.
 * Purchases carry one id per (pass, user) so a repeated request is dropped
 * early; a claim refused now (tier not reached) must be possible later, so its
 * id carries the request time and the module's claimed set keeps repeats
 * harmless. New reference, or NULL.
 */
json_t *bm_command_battlepass(const char *campaign, const char *game, const char *user, int tier,
                              int premium, int64_t now_ms, const char *source);

#endif
