/* The concrete bm_batch, shared by the pipeline files. */
#ifndef BM_BATCH_INTERNAL_H
#define BM_BATCH_INTERNAL_H

#include "event/arena.h"
#include "pipeline/pipeline_int.h"
#include "pipeline/batch.h"
#include "pipeline/job.h"
#include "util/buf.h"

/* Messages of one topic, "key<TAB>json" per line: becomes one outbox row. */
typedef struct bm_outtopic {
    char topic[96];
    bm_buf lines;
    int count;
} bm_outtopic;

/* A BM_EMIT_COALESCE message: the last one per (topic, key) wins. */
typedef struct bm_coalesced {
    uint64_t hash;
    char *topic, *key, *json;
} bm_coalesced;

typedef struct bm_grant {
    char *campaign, *user, *idem, *json;
    char type[64];
} bm_grant;

struct bm_batch {
    bm_pipeline *e;
    bm_camp *cur_camp;     /* campaign being dispatched to */
    int32_t cur_partition; /* partition of the event being dispatched */
    bm_state_entry **dirty;
    size_t ndirty, capdirty;
    bm_outtopic *out;
    size_t nout, capout;
    bm_coalesced *co;
    size_t nco, capco;
    size_t *co_index; /* open addressing over co[], index+1, 0 = empty */
    size_t co_index_cap;
    bm_grant *grants;
    size_t ngrants, capgrants;
    bm_modinst *cur_mi; /* module being called (claims are per module) */
    bm_job_claim *claims;
    size_t nclaims, capclaims;
    bm_job_result *results;
    size_t nresults, capresults;
    bm_job_end *ends;
    size_t nends, capends;
    bm_job_member *members; /* community joins (community_join.c) */
    size_t nmembers, capmembers;
    int failed;        /* an allocation failed: the batch must not commit */
    bm_arena *scratch; /* parses of emitted JSON (checked, then dropped at once) */
};

void bm_batch_init(bm_batch *b, bm_pipeline *e);
/* Forgets the content (keeps allocations), clears dirty marks. */
void bm_batch_reset(bm_batch *b);
void bm_batch_free(bm_batch *b);
/* Appends a message to a topic's outbox row. */
void bm_batch_out(bm_batch *b, const char *topic, const char *key, const char *json, size_t jlen);
/* Moves the coalesced messages and state notifications into the outbox rows. */
void bm_batch_finish(bm_batch *b);

/* Nonzero if `type` is a built-in reward type or served by a reward module of mods. */
int bm_reward_type_known(const bm_modset *mods, const char *type);

/* Grows a vector of `size`-byte items to hold one more; 0 or -1 on OOM. */
int bm_batch_grow(void **v, size_t *cap, size_t n, size_t size);

/* Frees the claims, results and ends the batch still holds. */
void bm_batch_reset_v2(bm_batch *b);

/* Applies a bm.community.join command (community_join.c). */
void bm_community_join_apply(bm_batch *b, const bm_event *ev);

/* Records that campaign `c` ends in this batch (host side of on_campaign_end). */
int bm_batch_end_campaign(bm_batch *b, const char *campaign_id, const char *reason);

/* Loads from PostgreSQL every entry in `v` not loaded yet; 0 or -1 with err. */
int bm_batch_load_states(bm_pipeline *e, bm_state_entry **v, size_t n, char *err, size_t errlen);

/* Serializes what the batch writes into a commit job (moves the outbox rows and
 * grants out of the batch). NULL on OOM. */
struct bm_job *bm_batch_to_job(bm_batch *b);

#endif
