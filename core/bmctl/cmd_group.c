/*
 * bmctl group: the consumer group as the processors report it in
 * group_members (processes, the partitions each owns, lag per partition),
 * the relay's backlog (outbox rows not yet published) and reward deliveries
 * not finished. Reads PostgreSQL only: it works with every engine down.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "pg/pg.h"

/* A member that has not reported for this long is shown as gone. */
#define STALE_S 10

static long long one(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

int bm_cmd_group(bm_ctl *ctl, int argc, char **argv)
{
    int as_json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !as_json)) {
        fprintf(stderr, "usage: bmctl group [--json]\n");
        return 2;
    }
    char err[512];
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "bmctl: %s\n", err);
        return 1;
    }
    char stale[16];
    snprintf(stale, sizeof stale, "%d", STALE_S);
    const char *v2[2] = {ctl->cfg.group_id, stale};
    PGresult *r =
        PQexecParams(c,
                     "SELECT member, partitions::text, rebalances, "
                     "extract(epoch FROM now() - updated_at)::int, "
                     "updated_at > now() - make_interval(secs => $2::int) FROM group_members "
                     "WHERE group_id = $1 ORDER BY member",
                     2, NULL, v2, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bmctl: group_members: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return 1;
    }
    long long backlog = one(c, "SELECT count(*) FROM outbox WHERE published_at IS NULL");
    long long rewards = one(c, "SELECT count(*) FROM reward_fulfillments WHERE status IN "
                               "('pending', 'processing')");
    json_t *root = json_object();
    json_t *members = json_array();
    long long total_lag = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *parts = json_loads(PQgetvalue(r, i, 1), 0, NULL);
        long long lag = 0;
        size_t k;
        json_t *p;
        json_array_foreach(parts, k, p)
        {
            long long hi = json_integer_value(json_object_get(p, "high"));
            long long next = json_integer_value(json_object_get(p, "next"));
            long long l = hi >= next ? hi - next : 0;
            json_object_set_new(p, "lag", json_integer(l));
            lag += l;
        }
        int alive = strcmp(PQgetvalue(r, i, 4), "t") == 0;
        if (alive)
            total_lag += lag;
        json_array_append_new(
            members, json_pack("{s:s, s:b, s:i, s:I, s:I, s:o}", "member", PQgetvalue(r, i, 0),
                               "alive", alive, "secondsSinceReport", atoi(PQgetvalue(r, i, 3)),
                               "rebalances", (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10),
                               "lag", (json_int_t)lag, "partitions", parts ? parts : json_array()));
    }
    PQclear(r);
    PQfinish(c);
    json_object_set_new(root, "group", json_string(ctl->cfg.group_id));
    json_object_set_new(root, "members", members);
    json_object_set_new(root, "lag", json_integer(total_lag));
    json_object_set_new(root, "relayBacklog", json_integer(backlog));
    json_object_set_new(root, "pendingRewards", json_integer(rewards));
    if (as_json) {
        char *s = json_dumps(root, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
    } else {
        printf("group %s: %zu processes, lag %lld, relay backlog %lld, pending rewards %lld\n",
               ctl->cfg.group_id, json_array_size(members), total_lag, backlog, rewards);
        size_t i;
        json_t *m;
        json_array_foreach(members, i, m)
        {
            printf("%-40s %s (reported %llds ago, %lld rebalances)\n",
                   json_string_value(json_object_get(m, "member")),
                   json_is_true(json_object_get(m, "alive")) ? "alive" : "GONE",
                   (long long)json_integer_value(json_object_get(m, "secondsSinceReport")),
                   (long long)json_integer_value(json_object_get(m, "rebalances")));
            size_t k;
            json_t *p;
            json_array_foreach(json_object_get(m, "partitions"), k, p)
            {
                printf("  partition %-3lld next %-10lld end %-10lld lag %lld\n",
                       (long long)json_integer_value(json_object_get(p, "partition")),
                       (long long)json_integer_value(json_object_get(p, "next")),
                       (long long)json_integer_value(json_object_get(p, "high")),
                       (long long)json_integer_value(json_object_get(p, "lag")));
            }
        }
    }
    json_decref(root);
    return 0;
}
