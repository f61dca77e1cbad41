/*
 * The rewards role: delivers reward_fulfillments rows through reward modules.
 *
 * A dispatcher thread claims due rows (FOR UPDATE SKIP LOCKED; a claim is a
 * lease, so a crashed host's claims come back when it runs out) and hands them
 * to a bounded pool of worker threads; a recorder thread writes each outcome
 * with its outbox messages (reward.status, ui.reward_updates) in one
 * transaction per round. Each of the two has its own PostgreSQL connection,
 * so claiming and recording overlap. Workers call the module
 * whose `serves` equals the row's reward_type; at most `per_endpoint` of them
 * talk to one endpoint at a time, so one slow receiver does not hold the
 * others back. Rows whose type no loaded module serves are not claimed: they
 * wait, counted (`bmctl modules --json` -> rewards.waitingNoModule).
 */
#ifndef BM_REWARDS_H
#define BM_REWARDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <brightmatter/module.h>

#include "config/config.h"
#include "loader/loader.h"
#include "role/role.h"

typedef struct bm_rewards bm_rewards;

/* The role's ops table (engine.roles "rewards"; listed in core/engine/roles.c). */
extern const bm_role_ops bm_rewards_role;

/* Starts the role; modules are looked up in `loader`. NULL with err. */
bm_rewards *bm_rewards_start(const bm_config *cfg, bm_loader *loader, char *err, size_t errlen);

/* Claims nothing more, lets running deliveries finish and records them, hands
 * claimed-but-unstarted rows back, then stops. NULL is a no-op. */
void bm_rewards_stop(bm_rewards *r);

/* Counters as a JSON object (caller owns it); an empty object when r is NULL. */
json_t *bm_rewards_stats_json(bm_rewards *r);

/* --- retry schedule (rewards_backoff.c) ------------------------------------ */

#define BM_REWARDS_MAX_STEPS 32

typedef struct bm_backoff {
    int64_t step_ms[BM_REWARDS_MAX_STEPS];
    int nsteps;
    int64_t repeat_ms;  /* after the list */
    int64_t give_up_ms; /* since the grant */
    int jitter_pct;
} bm_backoff;

/* Parses "5s,30s,2m" style lists and single durations from the config; -1 with err. */
int bm_backoff_parse(bm_backoff *b, const bm_config *cfg, char *err, size_t errlen);
/* Parses one duration ("250ms", "5s", "2m", "1h", "3d"; a bare number is seconds). */
int bm_duration_parse(const char *s, int64_t *ms);
/* Delay before the next try after `attempts` tries, jitter applied (rnd in [0,1)). */
int64_t bm_backoff_delay(const bm_backoff *b, int attempts, double rnd);
/* 1 when the schedule's delays through retry `attempts` add up to more than
 * give_up_ms: the reward fails instead of retrying (`bmctl rewards retry`
 * resets attempts, so a retried reward gets the whole schedule again). */
int bm_backoff_exhausted(const bm_backoff *b, int attempts);

/* --- host-API functions for reward modules (rewards_api.c) ----------------- */

const char *bm_rewards_api_webhook_url(const bm_reward *r);
int bm_rewards_api_secrets(const bm_reward *r, const char **out, int max);
const char *bm_rewards_api_saved(const bm_reward *r);
int bm_rewards_api_save(const bm_reward *r, const char *json);
int64_t bm_rewards_api_nonce(const bm_reward *r, const char *account, int64_t chain_next);
const char *bm_rewards_api_wallet(const bm_reward *r);

#endif
