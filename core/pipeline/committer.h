/* The committer thread: runs one commit job at a time on its own connection. */
#ifndef BM_COMMITTER_H
#define BM_COMMITTER_H

#include <stddef.h>

#include "pipeline/job.h"

typedef struct bm_committer bm_committer;

/* Connects and starts the thread; NULL with err. */
bm_committer *bm_committer_start(const char *dsn, char *err, size_t errlen);
/* Hands over a job (ownership passes); the previous one must have been collected. */
void bm_committer_submit(bm_committer *c, bm_job *j);
/* Waits for the submitted job and returns it with its outcome (NULL if none). */
bm_job *bm_committer_wait(bm_committer *c);
/* Finishes the job in flight (discarding its outcome), stops the thread. */
void bm_committer_stop(bm_committer *c);

#endif
