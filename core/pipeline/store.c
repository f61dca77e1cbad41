/*
 * The event store (store.events = on): every applied event of a batch goes to
 * game_events with COPY inside the batch's own transaction, so the store holds
 * each applied event exactly once, across kills and rebalances, exactly like
 * the states. Day partitions are created before the transaction (outside it:
 * a day another process creates meanwhile does not fail the batch); retention
 * drops whole days.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pipeline/store.h"
#include "util/rfc3339.h"

/* COPY text escaping of len bytes (a payload is not NUL-terminated). */
static void copy_bytes(bm_buf *b, const char *s, size_t len)
{
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = s[i] == '\\'   ? "\\\\"
                          : s[i] == '\t' ? "\\t"
                          : s[i] == '\n' ? "\\n"
                          : s[i] == '\r' ? "\\r"
                                         : NULL;
        if (!esc)
            continue;
        bm_buf_append(b, s + from, i - from);
        bm_buf_puts(b, esc);
        from = i + 1;
    }
    bm_buf_append(b, s + from, len - from);
}

void bm_store_add(bm_job *j, const bm_event *ev, const void *payload, size_t len)
{
    char ts[40];
    bm_rfc3339_format(ev->time_ms, ts, sizeof ts);
    bm_buf *b = &j->stored;
    bm_buf_puts(b, ts);
    bm_buf_puts(b, "\t");
    bm_buf_copy_str(b, ev->game_id);
    bm_buf_puts(b, "\t");
    bm_buf_copy_str(b, ev->user_id);
    bm_buf_puts(b, "\t");
    bm_buf_copy_str(b, ev->event_type);
    bm_buf_puts(b, "\t");
    if (ev->event_id)
        bm_buf_copy_str(b, ev->event_id);
    else
        bm_buf_puts(b, "\\N");
    bm_buf_printf(b, "\t%d\t%lld\t", ev->partition, (long long)ev->offset);
    copy_bytes(b, payload, len);
    bm_buf_puts(b, "\n");
    if (!j->nstored || ev->time_ms < j->stored_from_ms)
        j->stored_from_ms = ev->time_ms;
    if (!j->nstored || ev->time_ms > j->stored_to_ms)
        j->stored_to_ms = ev->time_ms;
    j->nstored++;
}

void bm_store_prepare(bm_job *j, PGconn *pg)
{
    if (!j->nstored)
        return;
    char a[24], b[24];
    snprintf(a, sizeof a, "%lld", (long long)j->stored_from_ms);
    snprintf(b, sizeof b, "%lld", (long long)j->stored_to_ms);
    const char *v[2] = {a, b};
    PGresult *r =
        PQexecParams(pg, "SELECT bm_game_events_ensure($1, $2)", 2, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        bm_warn("store", "day partitions not created (events go to game_events_default): %s",
                PQerrorMessage(pg));
    PQclear(r);
}

int bm_store_write(bm_job *j, PGconn *pg)
{
    if (!j->nstored)
        return 0;
    PGresult *r = PQexec(pg, "COPY game_events (event_time, game_id, user_id, event_type, "
                             "event_id, kafka_partition, kafka_offset, payload) FROM STDIN");
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    const size_t slice = 1 << 20;
    for (size_t off = 0; ok && off < j->stored.len; off += slice) {
        size_t n = j->stored.len - off < slice ? j->stored.len - off : slice;
        ok = PQputCopyData(pg, j->stored.p + off, (int)n) == 1;
    }
    if (PQputCopyEnd(pg, ok ? NULL : "aborted by the engine") != 1)
        ok = 0;
    while ((r = PQgetResult(pg))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            ok = 0;
        PQclear(r);
    }
    if (!ok) {
        snprintf(j->err, sizeof j->err, "event store: %s", PQerrorMessage(pg));
        return -1;
    }
    return 0;
}

void bm_store_retain(PGconn *pg, int days)
{
    if (days <= 0)
        return;
    char d[16];
    snprintf(d, sizeof d, "%d", days);
    const char *v[1] = {d};
    PGresult *r =
        PQexecParams(pg, "SELECT bm_game_events_retain($1::int)", 1, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        bm_warn("store", "retention: %s", PQerrorMessage(pg));
    else if (atoi(PQgetvalue(r, 0, 0)) > 0)
        bm_info("store", "retention dropped %s day partitions older than %d days",
                PQgetvalue(r, 0, 0), days);
    PQclear(r);
}
