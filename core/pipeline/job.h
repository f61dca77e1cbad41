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
    uint64_t applied, rejected, duplicate;
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
    bm_job_dedup *dedup;
    size_t ndedup;
    bm_job_part *parts;
    size_t nparts;
    int64_t *created_ms; /* Kafka CreateTime of each message, for the latency histogram */
    size_t ncreated;
    size_t events;
    int failed; /* building ran out of memory: never run it */
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

/* Nonzero if running the job would write nothing. */
int bm_job_empty(const bm_job *j);

#endif
