/*
 * The processor's presence in group_members: the partitions it owns, the next
 * offset of each (consumer_offsets as this process knows it) and the end of
 * the partition from the last fetch (librdkafka's cached high watermark), so
 * `bmctl group` shows owners and lag per partition without asking the broker.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log/log.h"
#include "pipeline/pipeline_int.h"
#include "util/clock.h"
#include "util/buf.h"

#define PRESENCE_EVERY_MS 2000

static void member_name(const bm_pipeline *e, char *out, size_t len)
{
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    snprintf(out, len, "%s:%ld%s%s", host, (long)getpid(), e->cfg.group_instance_id[0] ? "/" : "",
             e->cfg.group_instance_id);
}

void bm_pipeline_presence(bm_pipeline *e, int force)
{
    int64_t now = bm_now_ms();
    if (!force && now - e->last_presence_ms < PRESENCE_EVERY_MS)
        return;
    e->last_presence_ms = now;
    bm_buf b = {0};
    bm_buf_puts(&b, "[");
    int n = 0;
    for (int p = 0; p < e->npart_seen; p++) {
        if (!e->parts[p].owned)
            continue;
        int64_t lo = 0, hi = -1;
        if (e->consumer)
            rd_kafka_get_watermark_offsets(e->consumer, e->cfg.events_topic, p, &lo, &hi);
        bm_buf_printf(&b, "%s{\"partition\":%d,\"next\":%lld,\"high\":%lld}", n++ ? "," : "", p,
                      (long long)e->parts[p].expected, (long long)hi);
    }
    bm_buf_puts(&b, "]");
    char member[200], reb[32];
    member_name(e, member, sizeof member);
    snprintf(reb, sizeof reb, "%llu", (unsigned long long)atomic_load(&e->stats->rebalances));
    const char *v[4] = {e->cfg.group_id, member, bm_buf_cstr(&b), reb};
    PGresult *r =
        PQexecParams(e->pg,
                     "INSERT INTO group_members (group_id, member, partitions, rebalances) "
                     "VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (group_id, member) DO "
                     "UPDATE SET partitions = EXCLUDED.partitions, rebalances = "
                     "EXCLUDED.rebalances, updated_at = now()",
                     4, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        bm_debug("pipeline", "presence: %s", PQerrorMessage(e->pg));
    PQclear(r);
    bm_buf_free(&b);
}

void bm_pipeline_absent(bm_pipeline *e)
{
    char member[200];
    member_name(e, member, sizeof member);
    const char *v[2] = {e->cfg.group_id, member};
    PQclear(PQexecParams(e->pg, "DELETE FROM group_members WHERE group_id = $1 AND member = $2", 2,
                         NULL, v, NULL, NULL, 0));
}
