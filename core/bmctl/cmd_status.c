/*
 * bmctl status: what containment did (restarts, quarantined files, suspended
 * formulas, gaps). bmctl gap list / ack: the gaps recorded in event_gaps and
 * the acknowledgement a partition stopped at a gap waits for.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "pg/pg.h"

void bm_ctl_print_containment(void *rootp)
{
    json_t *ct = json_object_get(rootp, "containment");
    if (!ct)
        return;
    const char *why = json_string_value(json_object_get(ct, "lastRestartReason"));
    printf("restarts %lld%s%s\n", (long long)json_integer_value(json_object_get(ct, "restarts")),
           why && *why ? " (last: " : "", why && *why ? why : "");
    if (why && *why)
        printf(")\n");
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(ct, "quarantined"), i, q)
    {
        const char *good = json_string_value(json_object_get(q, "goodCopy"));
        printf("QUARANTINED %s (module %s, since %s): %s; %s\n",
               json_string_value(json_object_get(q, "file")),
               json_string_value(json_object_get(q, "module")),
               json_string_value(json_object_get(q, "at")),
               json_string_value(json_object_get(q, "reason")),
               good && *good ? "serving the last good copy" : "no good copy: campaigns disabled");
    }
    json_array_foreach(json_object_get(ct, "probation"), i, q)
    {
        printf("on probation: %s generation %lld\n",
               json_string_value(json_object_get(q, "module")),
               (long long)json_integer_value(json_object_get(q, "generation")));
    }
    json_array_foreach(json_object_get(ct, "formulas"), i, q)
    {
        const char *st = json_string_value(json_object_get(q, "state"));
        long long by = json_integer_value(json_object_get(q, "skippedByBreaker"));
        long long bud = json_integer_value(json_object_get(q, "skippedByBudget"));
        if ((!st || strcmp(st, "suspended") != 0) && by == 0 && bud == 0)
            continue;
        printf("formula %s (campaign %s): %s, %lld skipped by its breaker, %lld by the batch "
               "budget, %lld trips\n",
               json_string_value(json_object_get(q, "name")),
               json_string_value(json_object_get(q, "campaign")), st, by, bud,
               (long long)json_integer_value(json_object_get(q, "breakerTrips")));
    }
    json_t *to = json_object_get(ct, "callTimeouts");
    long long tq = json_integer_value(json_object_get(to, "query"));
    long long tr = json_integer_value(json_object_get(to, "on_reward"));
    if (tq > 0 || tr > 0)
        printf("CALL TIMEOUTS query %lld, on_reward %lld since start; %lld calls still stuck "
               "(watchdog abandoned them)\n",
               tq, tr, (long long)json_integer_value(json_object_get(to, "stuck")));
    json_t *g = json_object_get(ct, "gaps");
    if (g && json_integer_value(json_object_get(g, "gaps")) > 0)
        printf("GAPS %lld since start, %lld events lost (bmctl gap list)\n",
               (long long)json_integer_value(json_object_get(g, "gaps")),
               (long long)json_integer_value(json_object_get(g, "eventsLost")));
    json_array_foreach(json_object_get(g, "stoppedPartitions"), i, q)
    {
        printf("STOPPED partition %lld at a gap %lld..%lld: bmctl gap ack\n",
               (long long)json_integer_value(json_object_get(q, "partition")),
               (long long)json_integer_value(json_object_get(q, "from")),
               (long long)json_integer_value(json_object_get(q, "to")));
    }
}

static PGconn *db(const bm_ctl *ctl)
{
    char err[512];
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c)
        fprintf(stderr, "bmctl: %s\n", err);
    return c;
}

/* event_gaps of this group and topic as a JSON array; NULL with the error printed. */
static json_t *gaps_load(const bm_ctl *ctl, PGconn *c)
{
    const char *v[2] = {ctl->cfg.group_id, ctl->cfg.events_topic};
    PGresult *r = PQexecParams(
        c,
        "SELECT coalesce(json_agg(json_build_object('id', id, 'partition', partition, 'from', "
        "from_offset, 'to', to_offset, 'events', to_offset - from_offset, 'action', action, "
        "'detectedAt', detected_at, 'ackedAt', acked_at) ORDER BY id), '[]')::text "
        "FROM event_gaps WHERE group_id = $1 AND topic = $2",
        2, NULL, v, NULL, NULL, 0);
    json_t *a = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        a = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    else
        fprintf(stderr, "bmctl: event_gaps: %s", PQerrorMessage(c));
    PQclear(r);
    return a;
}

static void gaps_print(json_t *a)
{
    size_t i;
    json_t *g;
    if (json_array_size(a) == 0) {
        printf("no gaps\n");
        return;
    }
    printf("%-6s %4s %12s %12s %10s %-10s %-28s %s\n", "ID", "PART", "FROM", "TO", "EVENTS",
           "ACTION", "DETECTED", "ACKED");
    json_array_foreach(a, i, g)
    {
        const char *acked = json_string_value(json_object_get(g, "ackedAt"));
        printf("%-6lld %4lld %12lld %12lld %10lld %-10s %-28s %s\n",
               (long long)json_integer_value(json_object_get(g, "id")),
               (long long)json_integer_value(json_object_get(g, "partition")),
               (long long)json_integer_value(json_object_get(g, "from")),
               (long long)json_integer_value(json_object_get(g, "to")),
               (long long)json_integer_value(json_object_get(g, "events")),
               json_string_value(json_object_get(g, "action")),
               json_string_value(json_object_get(g, "detectedAt")), acked ? acked : "-");
    }
}

int bm_cmd_gap(bm_ctl *ctl, int argc, char **argv)
{
    int list = argc >= 2 && strcmp(argv[1], "list") == 0;
    int ack = argc >= 3 && strcmp(argv[1], "ack") == 0;
    if (!list && !ack) {
        fprintf(stderr,
                "usage: bmctl gap list [--json] | bmctl gap ack ID|--all\n"
                "  Gaps are events the broker deleted before the engine applied them.\n"
                "  With pipeline.on_gap = stop a partition waits at its gap until acked.\n");
        return 2;
    }
    PGconn *c = db(ctl);
    if (!c)
        return 1;
    int rc = 0;
    if (list) {
        json_t *a = gaps_load(ctl, c);
        if (!a) {
            rc = 1;
        } else if (argc > 2 && strcmp(argv[2], "--json") == 0) {
            char *s = json_dumps(a, JSON_COMPACT);
            printf("%s\n", s ? s : "[]");
            free(s);
        } else {
            gaps_print(a);
        }
        json_decref(a);
    } else {
        int all = strcmp(argv[2], "--all") == 0;
        char *end = NULL;
        long long id = all ? 0 : strtoll(argv[2], &end, 10);
        if (!all && (!end || *end || id <= 0)) {
            fprintf(stderr, "bmctl: gap ack: '%s' is not a gap id (see bmctl gap list)\n", argv[2]);
            PQfinish(c);
            return 2;
        }
        char ids[24];
        snprintf(ids, sizeof ids, "%lld", id);
        const char *v[3] = {ctl->cfg.group_id, ctl->cfg.events_topic, ids};
        PGresult *r = PQexecParams(c,
                                   "UPDATE event_gaps SET acked_at = now() WHERE group_id = $1 "
                                   "AND topic = $2 AND acked_at IS NULL AND ($3::bigint = 0 OR "
                                   "id = $3::bigint)",
                                   3, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bmctl: gap ack: %s", PQerrorMessage(c));
            rc = 1;
        } else {
            long n = atol(PQcmdTuples(r));
            printf("acknowledged %ld gap(s)\n", n);
            rc = n > 0 ? 0 : 1;
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

int bm_cmd_status(bm_ctl *ctl, int argc, char **argv)
{
    int as_json = argc > 1 && strcmp(argv[1], "--json") == 0;
    char *resp = bm_ctl_admin_call(ctl, "modules");
    json_t *root = resp ? json_loads(resp, 0, NULL) : NULL;
    free(resp);
    PGconn *c = db(ctl);
    json_t *gaps = c ? gaps_load(ctl, c) : NULL;
    if (c)
        PQfinish(c);
    if (as_json) {
        json_t *o =
            json_pack("{s:O?, s:O?, s:O?}", "containment", json_object_get(root, "containment"),
                      "stats", json_object_get(root, "stats"), "gaps", gaps);
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        if (root) {
            json_t *st = json_object_get(root, "stats");
            printf("engine up: %lld batches, %lld events applied, %lld rejected, %lld commits "
                   "failed\n",
                   (long long)json_integer_value(json_object_get(st, "batches")),
                   (long long)json_integer_value(json_object_get(st, "applied")),
                   (long long)json_integer_value(json_object_get(st, "rejected")),
                   (long long)json_integer_value(json_object_get(st, "commitsFailed")));
            bm_ctl_print_containment(root);
        } else {
            printf("engine: not answering\n");
        }
        if (gaps) {
            size_t i, unacked = 0;
            json_t *g;
            json_array_foreach(gaps, i, g)
            {
                unacked += json_is_null(json_object_get(g, "ackedAt"));
            }
            printf("gaps recorded: %zu (%zu not acknowledged)\n", json_array_size(gaps), unacked);
        }
    }
    int rc = root && gaps ? 0 : 1;
    json_decref(root);
    json_decref(gaps);
    return rc;
}
