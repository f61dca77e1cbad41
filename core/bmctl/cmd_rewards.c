/*
 * bmctl rewards list|show|retry and bmctl webhook url|secret: what ops see of
 * reward delivery, and a game's webhook settings (read and written in
 * PostgreSQL; the rewards role picks changes up on its next claim).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "pg/pg.h"

static void rewards_usage(FILE *f)
{
    fprintf(f, "usage: bmctl rewards list [--status S] [--campaign C] [--user U] [--limit N] "
               "[--json]\n"
               "       bmctl rewards show ID\n"
               "       bmctl rewards retry ID\n"
               "  list: newest first; S is pending, processing, completed or failed.\n"
               "  retry: a failed (or waiting) reward is due again now, with a fresh retry "
               "schedule.\n");
}

static void webhook_usage(FILE *f)
{
    fprintf(f, "usage: bmctl webhook url GAME [URL | --clear]\n"
               "       bmctl webhook secret GAME [--rotate [--grace DURATION]]\n"
               "  GAME is the game's identifier or id. url without URL prints it.\n"
               "  secret prints the signing secrets in use, newest first; --rotate adds a new\n"
               "  one and keeps the others valid for --grace (default 24 hours, e.g. '2 hours'),\n"
               "  during which webhooks carry a signature for each.\n");
}

static PGresult *q(PGconn *pg, const char *sql, int n, const char *const *v, int *ok)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    *ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (!*ok)
        fprintf(stderr, "bmctl: %s", PQerrorMessage(pg));
    return r;
}

static const char *k_row_cols =
    "id, status, reward_type, user_id, campaign_id::text, attempts, "
    "to_char(next_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "COALESCE(error_message, ''), idempotency_key, reward_config::text, "
    "COALESCE(fulfillment_data::text, ''), COALESCE(transaction_hash, ''), "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "COALESCE(to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
    "COALESCE(claimed_by, '')";

static json_t *row_json(PGresult *r, int i)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "id",
                          (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "status",
                          PQgetvalue(r, i, 1), "rewardType", PQgetvalue(r, i, 2), "userId",
                          PQgetvalue(r, i, 3), "campaignId", PQgetvalue(r, i, 4), "attempts",
                          atoi(PQgetvalue(r, i, 5)), "nextAttemptAt", PQgetvalue(r, i, 6),
                          "idempotencyKey", PQgetvalue(r, i, 8), "createdAt", PQgetvalue(r, i, 12));
    if (*PQgetvalue(r, i, 7))
        json_object_set_new(o, "error", json_string(PQgetvalue(r, i, 7)));
    json_object_set_new(o, "reward", json_loads(PQgetvalue(r, i, 9), 0, NULL));
    if (*PQgetvalue(r, i, 10))
        json_object_set_new(o, "result", json_loads(PQgetvalue(r, i, 10), 0, NULL));
    if (*PQgetvalue(r, i, 11))
        json_object_set_new(o, "txHash", json_string(PQgetvalue(r, i, 11)));
    if (*PQgetvalue(r, i, 13))
        json_object_set_new(o, "completedAt", json_string(PQgetvalue(r, i, 13)));
    if (*PQgetvalue(r, i, 14))
        json_object_set_new(o, "claimedBy", json_string(PQgetvalue(r, i, 14)));
    return o;
}

static void print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2));
    printf("%s\n", s ? s : "null");
    free(s);
    json_decref(v);
}

static int rewards_list(PGconn *pg, int argc, char **argv)
{
    const char *status = NULL, *camp = NULL, *user = NULL, *limit = "50";
    int json = 0;
    for (int i = 2; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--status") == 0     ? &status
                           : strcmp(argv[i], "--campaign") == 0 ? &camp
                           : strcmp(argv[i], "--user") == 0     ? &user
                           : strcmp(argv[i], "--limit") == 0    ? &limit
                                                                : NULL;
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (dst && i + 1 < argc) {
            *dst = argv[++i];
        } else {
            fprintf(stderr, "bmctl rewards list: unknown or incomplete option '%s'\n", argv[i]);
            rewards_usage(stderr);
            return 2;
        }
    }
    if (status && strcmp(status, "pending") && strcmp(status, "processing") &&
        strcmp(status, "completed") && strcmp(status, "failed")) {
        fprintf(stderr,
                "bmctl rewards list: --status must be pending, processing, completed or "
                "failed, not '%s'\n",
                status);
        return 2;
    }
    if (atoi(limit) <= 0) {
        fprintf(stderr, "bmctl rewards list: --limit must be a positive integer\n");
        return 2;
    }
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM reward_fulfillments WHERE ($1::text IS NULL OR status = $1) AND "
             "($2::text IS NULL OR campaign_id::text = $2) AND ($3::text IS NULL OR user_id = $3) "
             "ORDER BY id DESC LIMIT $4::int",
             k_row_cols);
    const char *v[4] = {status, camp, user, limit};
    int ok;
    PGresult *r = q(pg, sql, 4, v, &ok);
    if (!ok) {
        PQclear(r);
        return 1;
    }
    if (json) {
        json_t *a = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(a, row_json(r, i));
        print_json(a);
    } else {
        printf("%-8s %-10s %-9s %-20s %-8s %-20s %s\n", "ID", "STATUS", "TYPE", "USER", "ATTEMPTS",
               "NEXT/DONE", "ERROR");
        for (int i = 0; i < PQntuples(r); i++) {
            const char *when = *PQgetvalue(r, i, 13) ? PQgetvalue(r, i, 13) : PQgetvalue(r, i, 6);
            printf("%-8s %-10s %-9s %-20.20s %-8s %-20s %.60s\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                   PQgetvalue(r, i, 5), when, PQgetvalue(r, i, 7));
        }
    }
    PQclear(r);
    return 0;
}

static int rewards_show(PGconn *pg, const char *id)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM reward_fulfillments WHERE id::text = $1", k_row_cols);
    const char *v[1] = {id};
    int ok;
    PGresult *r = q(pg, sql, 1, v, &ok);
    int rc = 1;
    if (ok && PQntuples(r) == 1) {
        print_json(row_json(r, 0));
        rc = 0;
    } else if (ok) {
        fprintf(stderr, "bmctl rewards show: no reward %s\n", id);
    }
    PQclear(r);
    return rc;
}

/* Makes a failed or pending reward due now, with its status change on the outbox. */
static int rewards_retry(PGconn *pg, const char *id)
{
    const char *v[1] = {id};
    int ok;
    PQclear(q(pg, "BEGIN", 0, NULL, &ok));
    PGresult *r = q(pg,
                    "UPDATE reward_fulfillments SET status = 'pending', attempts = 0, "
                    "next_attempt_at = now(), updated_at = now() WHERE id::text = $1 AND status "
                    "IN ('failed', 'pending') RETURNING id, idempotency_key, campaign_id::text, "
                    "user_id, reward_type",
                    1, v, &ok);
    if (!ok || PQntuples(r) != 1) {
        if (ok) {
            PGresult *s =
                q(pg, "SELECT status FROM reward_fulfillments WHERE id::text = $1", 1, v, &ok);
            if (ok && PQntuples(s) == 1)
                fprintf(stderr,
                        "bmctl rewards retry: reward %s is %s (only failed or pending "
                        "rewards are retried)\n",
                        id, PQgetvalue(s, 0, 0));
            else if (ok)
                fprintf(stderr, "bmctl rewards retry: no reward %s\n", id);
            PQclear(s);
        }
        PQclear(r);
        PQclear(PQexec(pg, "ROLLBACK"));
        return 1;
    }
    json_t *m = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:b}", "fulfillmentId",
                          (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10), "idempotencyKey",
                          PQgetvalue(r, 0, 1), "campaignId", PQgetvalue(r, 0, 2), "userId",
                          PQgetvalue(r, 0, 3), "rewardType", PQgetvalue(r, 0, 4), "status",
                          "pending", "attempts", 0, "manualRetry", 1);
    char *js = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    /* The user id as a COPY-style key (no tab or newline in it). */
    char key[512];
    size_t k = 0;
    for (const char *p = PQgetvalue(r, 0, 3); *p && k + 3 < sizeof key; p++) {
        if (*p == '\t' || *p == '\n' || *p == '\r' || *p == '\\') {
            key[k++] = '\\';
            key[k++] = *p == '\t' ? 't' : *p == '\n' ? 'n' : *p == '\r' ? 'r' : '\\';
        } else {
            key[k++] = *p;
        }
    }
    key[k] = '\0';
    char *line = malloc(strlen(key) + strlen(js ? js : "{}") + 3);
    sprintf(line, "%s\t%s\n", key, js ? js : "{}");
    free(js);
    PQclear(r);
    int all = 1;
    static const char *const topics[2] = {"reward.status", "ui.reward_updates"};
    for (int t = 0; t < 2 && all; t++) {
        const char *ov[2] = {topics[t], line};
        PQclear(q(pg, "INSERT INTO outbox (topic, message_count, payload) VALUES ($1, 1, $2)", 2,
                  ov, &all));
    }
    free(line);
    if (!all) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return 1;
    }
    PQclear(q(pg, "COMMIT", 0, NULL, &ok));
    if (ok)
        printf("reward %s is due again (pending)\n", id);
    return ok ? 0 : 1;
}

int bm_cmd_rewards(bm_ctl *ctl, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        rewards_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "list") != 0 &&
        !((strcmp(sub, "show") == 0 || strcmp(sub, "retry") == 0) && argc == 3)) {
        rewards_usage(stderr);
        return 2;
    }
    char err[512];
    PGconn *pg = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!pg) {
        fprintf(stderr, "bmctl: %s\n", err);
        return 1;
    }
    int rc = strcmp(sub, "list") == 0   ? rewards_list(pg, argc, argv)
             : strcmp(sub, "show") == 0 ? rewards_show(pg, argv[2])
                                        : rewards_retry(pg, argv[2]);
    PQfinish(pg);
    return rc;
}

static int webhook_url(PGconn *pg, int argc, char **argv)
{
    const char *game = argv[2];
    int ok;
    if (argc == 3) {
        const char *v[1] = {game};
        PGresult *r = q(pg,
                        "SELECT COALESCE(webhook_url, '') FROM games WHERE identifier = $1 OR "
                        "id::text = $1",
                        1, v, &ok);
        int rc = ok && PQntuples(r) == 1 ? 0 : 1;
        if (rc == 0)
            printf("%s\n", *PQgetvalue(r, 0, 0) ? PQgetvalue(r, 0, 0) : "(none)");
        else if (ok)
            fprintf(stderr, "bmctl webhook: no game '%s'\n", game);
        PQclear(r);
        return rc;
    }
    const char *url = strcmp(argv[3], "--clear") == 0 ? NULL : argv[3];
    if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        fprintf(stderr, "bmctl webhook url: '%s' is not an http:// or https:// URL\n", url);
        return 2;
    }
    const char *v[2] = {game, url};
    PGresult *r = q(pg,
                    "UPDATE games SET webhook_url = $2 WHERE identifier = $1 OR id::text = $1 "
                    "RETURNING identifier",
                    2, v, &ok);
    int rc = ok && PQntuples(r) == 1 ? 0 : 1;
    if (rc == 0)
        printf("game %s webhook_url %s\n", PQgetvalue(r, 0, 0), url ? url : "cleared");
    else if (ok)
        fprintf(stderr, "bmctl webhook: no game '%s'\n", game);
    PQclear(r);
    return rc;
}

static int webhook_secret(PGconn *pg, int argc, char **argv)
{
    const char *game = argv[2];
    int rotate = 0;
    const char *grace = "24 hours";
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--rotate") == 0) {
            rotate = 1;
        } else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
            grace = argv[++i];
        } else {
            webhook_usage(stderr);
            return 2;
        }
    }
    const char *v[2] = {game, grace};
    int ok;
    PGresult *g =
        q(pg, "SELECT id::text FROM games WHERE identifier = $1 OR id::text = $1", 1, v, &ok);
    if (!ok || PQntuples(g) != 1) {
        if (ok)
            fprintf(stderr, "bmctl webhook: no game '%s'\n", game);
        PQclear(g);
        return 1;
    }
    const char *gv[2] = {PQgetvalue(g, 0, 0), grace};
    if (rotate) {
        PQclear(q(pg, "BEGIN", 0, NULL, &ok));
        PQclear(q(pg,
                  "UPDATE game_webhook_secrets SET expires_at = LEAST(COALESCE(expires_at, "
                  "'infinity'), now() + $2::interval) WHERE game_id = $1::uuid",
                  2, gv, &ok));
        if (ok)
            PQclear(q(pg,
                      "INSERT INTO game_webhook_secrets (game_id, secret) VALUES ($1::uuid, "
                      "bm_new_webhook_secret())",
                      1, gv, &ok));
        PQclear(PQexec(pg, ok ? "COMMIT" : "ROLLBACK"));
        if (!ok) {
            PQclear(g);
            return 1;
        }
    }
    PGresult *r = q(pg,
                    "SELECT secret, COALESCE(to_char(expires_at AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') FROM game_webhook_secrets WHERE "
                    "game_id = $1::uuid AND (expires_at IS NULL OR expires_at > now()) ORDER BY "
                    "id DESC",
                    1, gv, &ok);
    PQclear(g);
    for (int i = 0; ok && i < PQntuples(r); i++)
        printf("%s%s%s\n", PQgetvalue(r, i, 0), *PQgetvalue(r, i, 1) ? "  expires " : "",
               PQgetvalue(r, i, 1));
    PQclear(r);
    return ok ? 0 : 1;
}

int bm_cmd_webhook(bm_ctl *ctl, int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "url") != 0 && strcmp(argv[1], "secret") != 0)) {
        webhook_usage(stderr);
        return 2;
    }
    char err[512];
    PGconn *pg = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!pg) {
        fprintf(stderr, "bmctl: %s\n", err);
        return 1;
    }
    int rc =
        strcmp(argv[1], "url") == 0 ? webhook_url(pg, argc, argv) : webhook_secret(pg, argc, argv);
    PQfinish(pg);
    return rc;
}
