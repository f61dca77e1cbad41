/*
 * A commit job: everything one batch writes, serialized on the processing
 * thread so that the committer thread can run the transaction on its own
 * connection while the next batch is being prepared. A job holds no pointer
 * into the state cache, the campaign registry or a module.
 */
#ifndef BM_JOB_H
#define BM_JOB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct bm_job_topic {
    char topic[96];
    bm_buf lines; /* "key<TAB>json\n" per message */
    int count;
} bm_job_topic;

typedef struct bm_job_grant {
    char *campaign, *user, *idem, *json;
    char type[64];
} bm_job_grant;

/* A once-only claim: one work_claims row (module, campaign, key). */
typedef struct bm_job_claim {
    char *module, *campaign, *key;
} bm_job_claim;

/* A module_results row (upserted). */
typedef struct bm_job_result {
    char *campaign, *kind, *key, *doc;
} bm_job_result;

/* A campaign ended in this batch: campaigns.ended_at/end_reason (and status). */
typedef struct bm_job_end {
    char campaign[64];
    char reason[16]; /* completed | cancelled | window */
} bm_job_end;

/* A community join (bm.community.join): one community_members row, inserted
 * unless the user is already there, and the starter reward when it was. */
typedef struct bm_job_member {
    char *community, *user, *metadata, *status, *referral, *invite;
    char *reward; /* starterReward {"type","config"} or NULL */
} bm_job_member;

typedef struct bm_job_dedup {
    int32_t partition;
    int64_t first_offset;
    uint64_t *hashes;
    size_t n;
} bm_job_dedup;

typedef struct bm_job_part {
    int32_t partition;
    int64_t expected; /* fence: consumer_offsets.next_offset before this batch */
    int64_t next;     /* after it */
    uint64_t applied, rejected, duplicate, forwarded;
} bm_job_part;

typedef struct bm_job {
    char group[128], topic[128];
    bm_buf states; /* COPY text for bm_stage */
    size_t nstates;
    bm_job_topic *out;
    size_t nout, capout;
    bm_job_grant *grants;
    size_t ngrants;
    bm_job_claim *claims;
    size_t nclaims;
    bm_job_result *results;
    size_t nresults;
    bm_job_end *ends;
    size_t nends;
    bm_job_member *members;
    size_t nmembers;
    bm_job_dedup *dedup;
    size_t ndedup;
    bm_job_part *parts;
    size_t nparts;
    bm_buf levels[4]; /* players' levels changed: games, users, levels, times (core/level) */
    size_t nlevels;
    bm_buf stored; /* COPY text for game_events (store.events = on) */
    size_t nstored;
    int64_t stored_from_ms, stored_to_ms;
    int64_t *created_ms; /* Kafka CreateTime of each message, for the latency histogram */
    size_t ncreated;
    size_t events;
    int failed;       /* building ran out of memory: never run it */
    int async_commit; /* postgres.synchronous_commit = off for this transaction */
    /* outcome, set by the committer */
    int rc; /* 0 committed, 1 fence lost, 2 a claim was taken by another process, -1 database error
             */
    char err[512];
} bm_job;

/* Appends one message to the job's row for `topic`. */
void bm_job_out(bm_job *j, const char *topic, const char *key, const char *json, size_t jlen);

/* Runs the job's transaction on `pg`; sets j->rc and j->err. */
void bm_job_run(bm_job *j, PGconn *pg);

void bm_job_free(bm_job *j);

/* Frees the strings of one member row (community_join.c). */
void bm_job_member_free(bm_job_member *m);
/* Writes the job's community joins (community_join.c); 0 or -1 with j->err. */
int bm_job_write_members(bm_job *j, PGconn *pg);

/* Nonzero if running the job would write nothing. */
int bm_job_empty(const bm_job *j);

#endif
