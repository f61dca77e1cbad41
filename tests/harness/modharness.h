/*
 * In-memory harness for campaign modules: loads a module .so with dlopen and
 * drives it through the module ABI the way the engine does, with a host-API
 * table that starts from the real one (event accessors, Lua formulas, log,
 * metrics) and replaces state, outbox and rewards with in-memory versions
 * that record everything.
 *
 * Batches behave like the engine's: state_get hands out a working copy of
 * the committed state; only copies passed to state_put are committed when the
 * batch ends, together with the batch's messages (BM_EMIT_COALESCE keeps the
 * last per topic and key) and reward grants (one per idempotency key; a
 * repeated key is counted as a duplicate and not recorded again). A module
 * that forgets state_put therefore loses its change here, as it would in the
 * engine after a cache reload.
 *
 * One harness per process (tests are single-threaded); not thread-safe.
 */
#ifndef BM_MODHARNESS_H
#define BM_MODHARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <brightmatter/module.h>

typedef struct harness_msg {
    char *topic;
    char *key;
    char *json;
    int flags;
    long batch; /* batch number it was committed with */
} harness_msg;

typedef struct harness_grant {
    char *campaign;
    char *user;
    char *idem_key;
    char *reward_json;
    long batch;
} harness_grant;

/* A module_results row written with api->result_put (compact JSON doc). */
typedef struct harness_result {
    char *campaign, *kind, *key, *doc;
} harness_result;

typedef struct harness_stats {
    uint64_t events; /* events given to harness_event */
    uint64_t calls;  /* on_event calls */
    uint64_t ok, skip, error, retry;
    uint64_t out_of_window; /* routed but outside the campaign window: not called */
    uint64_t state_puts;
    uint64_t batches;
} harness_stats;

/* Path of a built module: $BM_BUILD_DIR/modules/<name>.so (static buffer). */
const char *harness_module_path(const char *name);

/* dlopens the module, checks its header, calls init. 0, or -1 with err. */
int harness_load(const char *so_path, char *err, size_t errlen);

/* Removes every campaign, destroys the instance, dlcloses, forgets all records. */
void harness_unload(void);

/*
 * Adds a campaign from its document (the campaign file of `bmctl campaign
 * create`): "id" (required here), "type", "gameId", "name", window fields,
 * and the module's config keys. The whole text is the module's config_json;
 * the window comes from the engine's own parser. 0, or -1 with err (the
 * module's refusal text when campaign_add refuses).
 */
int harness_add_campaign(const char *campaign_json, char *err, size_t errlen);

/* Removes a campaign (campaign_remove); 0 or -1 if unknown. */
int harness_remove_campaign(const char *id);

/*
 * Decodes one event (bm_event_decode) and calls on_event for every campaign
 * of its game that subscribed to its type, skipping campaigns whose window
 * excludes the event time (events of type "bm.*" always reach their
 * campaigns). Returns the number of BM_OK results, or -1 if the event does
 * not decode. Ends the batch after harness_set_batch_size events.
 */
int harness_event(const char *event_json);

/* Ends the current batch, then calls the module's on_tick with `now_ms` in a
 * batch of its own, committed at once. Returns on_tick's result. */
int harness_tick(int64_t now_ms);

/* Ends the current batch, then calls on_campaign_end (BM_END_*) for campaign `id` in a
 * batch of its own, committed at once, as the engine does once per campaign.
 * Returns its result (BM_OK when the module has none), BM_ERROR for an unknown id. */
int harness_end_campaign(const char *id, int reason, int64_t now_ms);

/* Ends the current batch, then calls on_campaign_tick for campaign `id` in a batch
 * of its own, committed at once. Returns its result (BM_OK when the module has
 * none), BM_ERROR for an unknown id. */
int harness_campaign_tick(const char *id, int64_t now_ms);

/* Events per batch (default 1). Ends the current batch first. */
void harness_set_batch_size(int n);

/* Ends the current batch: commits put states, messages and grants. */
void harness_flush(void);

/* The engine dropping its cache: ends the batch. State lives in the harness,
 * so nothing committed is lost (kept for symmetry with the engine's API). */
void harness_reset_cache(void);

/*
 * Ends the batch, removes every campaign, destroys the module instance,
 * dlcloses and re-opens the .so, inits a new instance and re-adds the
 * campaigns: proves the module keeps nothing that matters outside the state.
 */
int harness_reload(char *err, size_t errlen);

/* Committed state of (campaign, user), or NULL if never committed. */
const bm_state *harness_state(const char *campaign, const char *user);

size_t harness_reward_count(void);
const harness_grant *harness_reward_at(size_t i);
const harness_grant *harness_reward_find(const char *idem_key);
/* Grants refused because their idempotency key was already granted. */
size_t harness_reward_duplicates(void);

/* The module_results row (campaign, kind, key), or NULL. claim_once and the
 * committed standings behave as in the engine (claims per campaign, once). */
const harness_result *harness_result_find(const char *campaign, const char *kind, const char *key);
size_t harness_message_count(void);
const harness_msg *harness_message_at(size_t i);
/* Messages on `topic` (committed), counted. */
size_t harness_message_count_topic(const char *topic);

harness_stats harness_stats_get(void);

/* The module's host-API table as the harness built it (for direct calls in tests). */
const bm_host_api *harness_api(void);

#endif
