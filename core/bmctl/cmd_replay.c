/*
 * bmctl campaign replay ID [--from TS] [--to TS] [--wait SECONDS]
 * bmctl campaign replay-drop REPLAY_ID
 *
 * Requests a recount of a campaign from the event store with its current
 * version (campaign_replays); the processes of the group recount each
 * partition they own in one of their batches (core/pipeline/replay.c). Waits
 * until every partition is recounted and prints what each counted and its
 * cut-over offset. replay-drop forgets the previous standings a replay kept
 * (and stops the replay if it has not finished).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bmctl/bmctl.h"
#include "bmctl/ctl_util.h"
#include "util/rfc3339.h"

static int parse_ts(const char *flag, const char *s, char *out, size_t len)
{
    int64_t ms;
    if (bm_rfc3339_parse(s, &ms) != 0) {
        fprintf(stderr, "bmctl: %s: '%s' is not an RFC 3339 time (2026-11-28T00:00:00Z)\n", flag,
                s);
        return -1;
    }
    snprintf(out, len, "%lld", (long long)ms);
    return 0;
}

/* The replay's partition rows as a JSON array, and whether all partitions are in. */
static json_t *parts_of(PGconn *pg, const char *camp, const char *id, int *complete)
{
    const char *params[2] = {camp, id};
    PGresult *r = PQexecParams(pg,
                               "SELECT doc::text FROM module_results WHERE campaign_id = $1 "
                               "AND kind = 'replay' AND split_part(key, ':', 1) = $2 "
                               "ORDER BY (doc->>'partition')::int",
                               2, NULL, params, NULL, NULL, 0);
    json_t *v = json_array();
    int need = 0;
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
        json_t *d = json_loads(PQgetvalue(r, i, 0), 0, NULL);
        int n = (int)json_integer_value(json_object_get(d, "partitions"));
        if (n > need)
            need = n;
        json_array_append_new(v, d ? d : json_null());
    }
    PQclear(r);
    *complete = need > 0 && (int)json_array_size(v) >= need;
    return v;
}

static int drop(PGconn *pg, const char *id)
{
    const char *params[1] = {id};
    /* A replay not finished (no engine serves the campaign at its version) stops too. */
    PGresult *r = PQexecParams(pg,
                               "UPDATE campaign_replays SET done_at = COALESCE(done_at, now()) "
                               "WHERE id::text = $1 RETURNING id",
                               1, NULL, params, NULL, NULL, 0);
    int found = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
        fprintf(stderr, "bmctl: replay %s not found\n", id);
        return 1;
    }
    r = PQexecParams(pg,
                     "DELETE FROM module_results m USING campaign_replays r "
                     "WHERE r.id = $1::bigint AND m.campaign_id = r.campaign_id "
                     "AND m.kind = 'replay_previous' AND split_part(m.key, ':', 1) = r.id::text",
                     1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (ok)
        printf("dropped %s previous standings of replay %s\n", PQcmdTuples(r), id);
    else
        fprintf(stderr, "bmctl: replay-drop: %s", PQerrorMessage(pg));
    PQclear(r);
    return ok ? 0 : 1;
}

int bm_ctl_campaign_replay(PGconn *pg, int argc, char **argv)
{
    if (strcmp(argv[1], "replay-drop") == 0)
        return drop(pg, argv[2]);
    const char *camp = argv[2];
    char from[32] = "", to[32] = "";
    int wait_s = 300;
    for (int i = 3; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bmctl: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--from") == 0) {
            if (parse_ts("--from", v, from, sizeof from) != 0)
                return 2;
        } else if (strcmp(argv[i], "--to") == 0) {
            if (parse_ts("--to", v, to, sizeof to) != 0)
                return 2;
        } else if (strcmp(argv[i], "--wait") == 0) {
            wait_s = atoi(v);
            if (wait_s < 0) {
                fprintf(stderr, "bmctl: --wait: seconds >= 0\n");
                return 2;
            }
        } else {
            fprintf(stderr, "bmctl: unknown option '%s' (--from TS, --to TS, --wait SECONDS)\n",
                    argv[i]);
            return 2;
        }
    }
    const char *params[3] = {camp, from[0] ? from : NULL, to[0] ? to : NULL};
    PGresult *r =
        PQexecParams(pg,
                     "INSERT INTO campaign_replays (campaign_id, version, from_ms, to_ms) "
                     "SELECT id, version, $2::bigint, $3::bigint FROM campaigns "
                     "WHERE id::text = $1 AND status = 'active' RETURNING id, version",
                     3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            fprintf(stderr, "bmctl: campaign %s not found or not active\n", camp);
        else
            fprintf(stderr, "bmctl: campaign replay: %s", PQerrorMessage(pg));
        PQclear(r);
        return 1;
    }
    char id[32];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    long long version = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    fprintf(stderr, "replay %s of campaign %s version %lld requested\n", id, camp, version);
    int64_t deadline = ctl_now_ms() + (int64_t)wait_s * 1000;
    for (;;) {
        int complete = 0;
        json_t *parts = parts_of(pg, camp, id, &complete);
        if (complete || ctl_now_ms() >= deadline) {
            long long players = 0, events = 0;
            size_t i;
            json_t *p;
            json_array_foreach(parts, i, p)
            {
                players += json_integer_value(json_object_get(p, "players"));
                events += json_integer_value(json_object_get(p, "events"));
            }
            ctl_print_json(json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:o}", "replay", id,
                                     "campaign", camp, "version", (json_int_t)version, "status",
                                     complete ? "done" : "pending", "players", (json_int_t)players,
                                     "events", (json_int_t)events, "partitions", parts));
            if (!complete)
                fprintf(stderr,
                        "bmctl: replay %s not finished within %d s: partitions are recounted by "
                        "running engines (is one running at version %lld?)\n",
                        id, wait_s, version);
            return complete ? 0 : 1;
        }
        json_decref(parts);
        usleep(200 * 1000);
    }
}
