/* The event store: applied events into game_events (store.c). */
#ifndef BM_STORE_H
#define BM_STORE_H

#include <libpq-fe.h>

#include "event/event.h"
#include "pipeline/job.h"

/* Adds one applied event (its decoded fields and the payload as it arrived). */
void bm_store_add(bm_job *j, const bm_event *ev, const void *payload, size_t len);
/* Before the transaction: the day partitions the job's events need. */
void bm_store_prepare(bm_job *j, PGconn *pg);
/* Inside the transaction: COPY; -1 with j->err. */
int bm_store_write(bm_job *j, PGconn *pg);
/* Drops day partitions older than `days` (0: keep everything). */
void bm_store_retain(PGconn *pg, int days);

#endif
