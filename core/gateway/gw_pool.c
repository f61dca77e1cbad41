/*
 * The gateway's PostgreSQL connections: a few, opened lazily, each lent to
 * one request at a time. Queries of the API are read-only by construction
 * (every statement is in this folder); writes are the admin API's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/gw.h"
#include "log/log.h"
#include "pg/pg.h"

int gw_pool_init(gw_pool *p, const char *dsn, int n, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    p->conns = calloc((size_t)n, sizeof *p->conns);
    p->busy = calloc((size_t)n, sizeof *p->busy);
    if (!p->conns || !p->busy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->n = n;
    snprintf(p->dsn, sizeof p->dsn, "%s", dsn);
    /* One connection now: a wrong DSN is a start-up error, not a stream of 503s. */
    p->conns[0] = bm_pg_connect(dsn, err, errlen);
    return p->conns[0] ? 0 : -1;
}

PGconn *gw_pool_get(gw_pool *p, int wait_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    for (;;) {
        for (int i = 0; i < p->n; i++) {
            if (p->busy[i])
                continue;
            p->busy[i] = 1;
            PGconn *c = p->conns[i];
            pthread_mutex_unlock(&p->lock);
            if (c && PQstatus(c) != CONNECTION_OK) {
                PQreset(c);
            } else if (!c) {
                char err[256];
                c = bm_pg_connect(p->dsn, err, sizeof err);
                if (!c)
                    bm_warn("gateway", "database connection failed: %s", err);
            }
            pthread_mutex_lock(&p->lock);
            p->conns[i] = c;
            if (c && PQstatus(c) == CONNECTION_OK) {
                pthread_mutex_unlock(&p->lock);
                return c;
            }
            p->busy[i] = 0;
            pthread_mutex_unlock(&p->lock);
            return NULL; /* the database is down: answer 503 now rather than queue */
        }
        if (pthread_cond_timedwait(&p->freed, &p->lock, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
    }
}

void gw_pool_put(gw_pool *p, PGconn *c)
{
    if (!c)
        return;
    /* A connection left inside a failed transaction or lost is reset on next use. */
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK"));
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n; i++)
        if (p->conns[i] == c)
            p->busy[i] = 0;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

void gw_pool_free(gw_pool *p)
{
    for (int i = 0; p->conns && i < p->n; i++)
        if (p->conns[i])
            PQfinish(p->conns[i]);
    free(p->conns);
    free(p->busy);
    if (p->n || p->conns) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->freed);
    }
    memset(p, 0, sizeof *p);
}
