/*
 * bmctl outbox parked|retry ID|drop ID: outbox rows the broker refused for
 * good (a message too large, an invalid topic) are parked by the relay with
 * the error so that nothing else waits behind them. `parked` lists them,
 * `retry` hands one back to the relay (after the cause is fixed, e.g. the
 * broker's message.max.bytes raised), `drop` deletes it.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "bmctl/ctl_util.h"
#include "pg/pg.h"

static void outbox_usage(FILE *out)
{
    fprintf(out,
            "usage: bmctl outbox parked [--json]\n"
            "       bmctl outbox retry ID|all\n"
            "       bmctl outbox drop ID\n"
            "  Rows the broker refused for good are parked with the error; the relay\n"
            "  goes on with the rest. retry hands a row back to the relay, drop deletes it.\n");
}

static int list_parked(PGconn *c, int as_json)
{
    PGresult *r =
        PQexec(c, "SELECT id, topic, message_count, octet_length(payload), park_error, "
                  "to_char(parked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                  "FROM outbox WHERE parked_at IS NOT NULL ORDER BY id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "outbox: %s", PQerrorMessage(c));
        PQclear(r);
        return 1;
    }
    int n = PQntuples(r);
    if (as_json) {
        json_t *a = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(
                a, json_pack("{s:I, s:s, s:i, s:I, s:s, s:s}", "id",
                             (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "topic",
                             PQgetvalue(r, i, 1), "messages", atoi(PQgetvalue(r, i, 2)), "bytes",
                             (json_int_t)strtoll(PQgetvalue(r, i, 3), NULL, 10), "error",
                             PQgetvalue(r, i, 4), "parkedAt", PQgetvalue(r, i, 5)));
        ctl_print_json(a);
    } else if (n == 0) {
        printf("no parked outbox rows\n");
    } else {
        printf("%-10s %-28s %8s %10s  %-20s  %s\n", "ID", "TOPIC", "MESSAGES", "BYTES", "PARKED",
               "ERROR");
        for (int i = 0; i < n; i++)
            printf("%-10s %-28s %8s %10s  %-20s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 5),
                   PQgetvalue(r, i, 4));
    }
    PQclear(r);
    return 0;
}

/* retry / drop: one row (or every parked row for retry all). */
static int act(PGconn *c, const char *what, const char *id)
{
    int all = strcmp(id, "all") == 0;
    char *end;
    long long v = strtoll(id, &end, 10);
    if (!all && (*end || v <= 0)) {
        fprintf(stderr, "outbox: ID must be an outbox row id (see bmctl outbox parked)\n");
        return 2;
    }
    const char *sql = strcmp(what, "retry") == 0
                          ? (all ? "UPDATE outbox SET parked_at = NULL, park_error = NULL "
                                   "WHERE parked_at IS NOT NULL"
                                 : "UPDATE outbox SET parked_at = NULL, park_error = NULL "
                                   "WHERE parked_at IS NOT NULL AND id = $1::bigint")
                          : "DELETE FROM outbox WHERE parked_at IS NOT NULL AND id = $1::bigint";
    const char *p[1] = {id};
    PGresult *r = PQexecParams(c, sql, all ? 0 : 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "outbox: %s", PQerrorMessage(c));
        PQclear(r);
        return 1;
    }
    long n = atol(PQcmdTuples(r));
    PQclear(r);
    if (n == 0 && !all) {
        fprintf(stderr, "outbox: no parked row %s\n", id);
        return 1;
    }
    printf("%s %ld parked row%s\n", strcmp(what, "retry") == 0 ? "retrying" : "dropped", n,
           n == 1 ? "" : "s");
    return 0;
}

int bm_cmd_outbox(bm_ctl *ctl, int argc, char **argv)
{
    ctl_args a;
    char err[1024] = "";
    if (ctl_args_parse(argc, argv, 1, &a, err, sizeof err) != 0) {
        fprintf(stderr, "outbox: %s\n", err);
        outbox_usage(stderr);
        return 2;
    }
    if (a.help) {
        outbox_usage(stdout);
        return 0;
    }
    const char *sub = a.npos > 0 ? a.pos[0] : "";
    int parked = strcmp(sub, "parked") == 0 && a.npos == 1;
    int change = (strcmp(sub, "retry") == 0 || strcmp(sub, "drop") == 0) && a.npos == 2 && !a.json;
    if (!parked && !change) {
        outbox_usage(stderr);
        return 2;
    }
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "outbox: %s\n", err);
        return 1;
    }
    int rc = parked ? list_parked(c, a.json) : act(c, sub, a.pos[1]);
    PQfinish(c);
    return rc;
}
