/*
 * Closing a group consumer within a deadline. rd_kafka_consumer_close blocks
 * until the group coordinator has answered the leave; a coordinator that
 * stops answering (a broker fault) can hold it for good, and with it the
 * engine's stop. Here the close runs in librdkafka's background while the
 * caller serves its queue (rebalance callbacks run on the caller's thread, as
 * in rd_kafka_consumer_poll) until the consumer says it is closed or the
 * budget is spent. A consumer not closed in time is left as it is: the
 * coordinator drops the member after session.timeout.ms and hands its
 * partitions on. Destroying it instead would block on the same coordinator.
 */
#include "kafka/kafka.h"

#include <stdatomic.h>

#include "log/log.h"
#include "util/clock.h"

#define MAX_KEPT 8

/* Consumers left unclosed at stop, and their close queues: kept reachable. */
static rd_kafka_t *g_kept[MAX_KEPT];
static rd_kafka_queue_t *g_kept_q[MAX_KEPT];
static int g_nkept;
static _Atomic int64_t g_stop_by; /* mono ms; 0 = no stop under way */

void bm_kafka_stop_by(int64_t mono_ms)
{
    atomic_store(&g_stop_by, mono_ms);
}

int bm_kafka_consumer_close(rd_kafka_t *rk, int budget_ms)
{
    int64_t now = bm_mono_ms(), until = now + budget_ms;
    int64_t stop_by = atomic_load(&g_stop_by);
    if (stop_by > 0 && stop_by < until)
        until = stop_by > now + 200 ? stop_by : now + 200;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *ke = rd_kafka_consumer_close_queue(rk, q);
    if (ke) {
        /* Not a group consumer, already closed, or failed for good: nothing to wait for. */
        rd_kafka_error_destroy(ke);
        rd_kafka_queue_destroy(q);
        return 1;
    }
    while (!rd_kafka_consumer_closed(rk) && bm_mono_ms() < until) {
        /* A message that still arrives is dropped: nothing is applied any more. */
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    if (rd_kafka_consumer_closed(rk)) {
        rd_kafka_queue_destroy(q);
        return 1;
    }
    bm_warn("kafka",
            "client=%s not closed within %lld ms: the group coordinator does not answer; "
            "stopping without it (the group drops this member after its session timeout)",
            rd_kafka_name(rk), (long long)(until - now));
    if (g_nkept < MAX_KEPT) {
        g_kept[g_nkept] = rk;
        g_kept_q[g_nkept++] = q;
    }
    return 0;
}

void bm_kafka_consumer_end(rd_kafka_t *rk, int budget_ms)
{
    if (rk && bm_kafka_consumer_close(rk, budget_ms))
        rd_kafka_destroy(rk);
}
