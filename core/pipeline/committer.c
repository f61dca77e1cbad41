/*
 * The committer: runs commit jobs on its own PostgreSQL connection, one at a
 * time, so the processing thread prepares batch N+1 while batch N commits.
 * The processing thread submits a job only after it has collected the
 * outcome of the previous one, so a failure is always noticed before
 * anything built on top of it is committed (and the offset fence would
 * refuse it anyway).
 */
#include "pipeline/committer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log.h"
#include "pg/pg.h"

struct bm_committer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char dsn[1024];
    PGconn *pg;
    bm_job *pending; /* submitted, not yet run */
    bm_job *done;    /* run, not yet collected */
    int busy;        /* a job is submitted or running */
    int stop;
};

/* A connection that is gone is reopened before the job; if that fails the job
 * fails and the processing thread rewinds, which retries later. */
static void ensure_conn(bm_committer *c)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        return;
    if (c->pg) {
        PQreset(c->pg);
        if (PQstatus(c->pg) == CONNECTION_OK)
            return;
        PQfinish(c->pg);
        c->pg = NULL;
    }
    char err[256];
    c->pg = bm_pg_connect(c->dsn, err, sizeof err);
}

static void *committer_main(void *arg)
{
    bm_committer *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->pending && !c->stop)
            pthread_cond_wait(&c->cond, &c->lock);
        if (!c->pending)
            break;
        bm_job *j = c->pending;
        c->pending = NULL;
        pthread_mutex_unlock(&c->lock);
        ensure_conn(c);
        if (c->pg) {
            bm_job_run(j, c->pg);
        } else {
            j->rc = -1;
            snprintf(j->err, sizeof j->err, "database unreachable");
        }
        pthread_mutex_lock(&c->lock);
        c->done = j;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

bm_committer *bm_committer_start(const char *dsn, char *err, size_t errlen)
{
    bm_committer *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(c->dsn, sizeof c->dsn, "%s", dsn);
    c->pg = bm_pg_connect(dsn, err, errlen);
    if (!c->pg) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        snprintf(err, errlen, "committer: cannot start its thread");
        PQfinish(c->pg);
        free(c);
        return NULL;
    }
    return c;
}

void bm_committer_submit(bm_committer *c, bm_job *j)
{
    pthread_mutex_lock(&c->lock);
    c->pending = j;
    c->busy = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

bm_job *bm_committer_wait(bm_committer *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->busy && !c->done)
        pthread_cond_wait(&c->cond, &c->lock);
    bm_job *j = c->done;
    c->done = NULL;
    c->busy = 0;
    pthread_mutex_unlock(&c->lock);
    return j;
}

void bm_committer_stop(bm_committer *c)
{
    if (!c)
        return;
    bm_job_free(bm_committer_wait(c));
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    if (c->pg)
        PQfinish(c->pg);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}
