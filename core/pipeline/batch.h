/*
 * One batch: the events of one poll, the state they touch, and what the
 * batch's single transaction writes (states, outbox, rewards, offsets).
 */
#ifndef BM_BATCH_H
#define BM_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <brightmatter/module.h>

/* Host-API entry points that act on a batch (the concrete bm_batch lives in batch.c). */
bm_state *bm_batch_state_get(bm_batch *b, const char *campaign_id, const char *user_id);
int bm_batch_state_set_doc(bm_batch *b, bm_state *st, const char *json);
int bm_batch_state_put(bm_batch *b, bm_state *st, const char *notify_topic);
int bm_batch_emit(bm_batch *b, const char *topic, const char *key, const char *json, int flags);
int bm_batch_reward_grant(bm_batch *b, const char *campaign_id, const char *user_id,
                          const char *idem_key, const char *reward_json);
int bm_batch_community_member(bm_batch *b, const char *community_id, const char *user_id);
int bm_batch_claim_once(bm_batch *b, const char *work_key);
int bm_batch_standings_top(bm_batch *b, const char *campaign_id, int limit, bm_standing *out);
int bm_batch_standings_rank(bm_batch *b, const char *campaign_id, const char *user_id,
                            bm_standing *out);
int bm_batch_result_put(bm_batch *b, const char *campaign_id, const char *kind, const char *key,
                        const char *doc_json);

#endif
