/*
 * bmctl leaderboard CAMPAIGN [--limit N] [--around USER] [--json]
 * (bmctl leaderboard history ...: cmd_lbhistory.c)
 *
 * Ranks follow idx_user_progress_rank: score descending, then who reached it
 * first, then user id. Top-N is one index-ordered scan; a player's rank is an
 * index-only count of the rows ahead of them, then a short scan each way.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "pg/pg.h"

#define RANK_ORDER "current_value DESC, reached_at ASC, user_id ASC"
#define COLS "user_id, current_value, event_count, COALESCE(reached_at::text, '')"

typedef struct entry {
    long long rank;
    char user[260];
    double score;
    long long events;
} entry;

static void format_score(double v, char *buf, size_t len)
{
    if (v == (double)(long long)v)
        snprintf(buf, len, "%lld", (long long)v);
    else
        snprintf(buf, len, "%.6g", v);
}

static int fetch(PGconn *pg, const char *sql, int n, const char *const *p, entry **out,
                 size_t *count, long long first_rank, int step)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bmctl: %s", PQerrorMessage(pg));
        PQclear(r);
        return -1;
    }
    int rows = PQntuples(r);
    entry *v = realloc(*out, (*count + (size_t)rows + 1) * sizeof *v);
    if (!v) {
        PQclear(r);
        return -1;
    }
    *out = v;
    for (int i = 0; i < rows; i++) {
        entry *e = &v[(*count)++];
        e->rank = first_rank + (long long)i * step;
        snprintf(e->user, sizeof e->user, "%s", PQgetvalue(r, i, 0));
        e->score = strtod(PQgetvalue(r, i, 1), NULL);
        e->events = atoll(PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return rows;
}

static int cmp_rank(const void *a, const void *b)
{
    long long x = ((const entry *)a)->rank, y = ((const entry *)b)->rank;
    return (x > y) - (x < y);
}

/* Default limit: the board's displayConfig.maxEntries, else 10. */
static int board_limit(PGconn *pg, const char *id, char *name, size_t namelen)
{
    const char *p[1] = {id};
    PGresult *r = PQexecParams(pg,
                               "SELECT name, COALESCE((config #>> '{displayConfig,maxEntries}')"
                               "::int, 10) FROM campaigns WHERE id = $1::uuid",
                               1, NULL, p, NULL, NULL, 0);
    int limit = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        snprintf(name, namelen, "%s", PQgetvalue(r, 0, 0));
        limit = atoi(PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return limit;
}

static int around(PGconn *pg, const char *id, const char *user, int limit, entry **v, size_t *n)
{
    const char *p1[2] = {id, user};
    PGresult *r = PQexecParams(
        pg,
        "SELECT current_value, reached_at, 1 + (SELECT count(*) FROM user_progress o WHERE "
        "o.campaign_id = u.campaign_id AND (o.current_value > u.current_value OR "
        "(o.current_value = u.current_value AND (o.reached_at, o.user_id) < (u.reached_at, "
        "u.user_id)))) FROM user_progress u WHERE u.campaign_id = $1::uuid AND u.user_id = $2",
        2, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "bmctl: user %s has no entry on %s\n", user, id);
        PQclear(r);
        return -1;
    }
    char value[64], reached[64], half[16];
    snprintf(value, sizeof value, "%s", PQgetvalue(r, 0, 0));
    snprintf(reached, sizeof reached, "%s", PQgetvalue(r, 0, 1));
    long long rank = atoll(PQgetvalue(r, 0, 2));
    PQclear(r);
    snprintf(half, sizeof half, "%d", limit / 2);
    const char *p[5] = {id, value, reached, user, half};
    /* Ahead of the player, nearest first; then the player and those behind. */
    if (fetch(pg,
              "SELECT " COLS " FROM user_progress WHERE campaign_id = $1::uuid AND "
              "(current_value > $2::float8 OR (current_value = $2::float8 AND "
              "(reached_at, user_id) < ($3::timestamptz, $4))) "
              "ORDER BY current_value ASC, reached_at DESC, user_id DESC LIMIT $5::int",
              5, p, v, n, rank - 1, -1) < 0)
        return -1;
    char rest[16];
    snprintf(rest, sizeof rest, "%d", limit - (int)*n);
    p[4] = rest;
    if (fetch(pg,
              "SELECT " COLS " FROM user_progress WHERE campaign_id = $1::uuid AND "
              "(current_value < $2::float8 OR (current_value = $2::float8 AND "
              "(reached_at, user_id) >= ($3::timestamptz, $4))) "
              "ORDER BY " RANK_ORDER " LIMIT $5::int",
              5, p, v, n, rank, 1) < 0)
        return -1;
    qsort(*v, *n, sizeof **v, cmp_rank);
    return 0;
}

int bm_cmd_leaderboard(bm_ctl *ctl, int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "history") == 0)
        return bm_ctl_leaderboard_history(ctl, argc, argv);
    const char *id = NULL, *user = NULL;
    int limit = 0, as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
            limit = atoi(argv[++i]);
        else if (strcmp(argv[i], "--around") == 0 && i + 1 < argc)
            user = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (!id && argv[i][0] != '-')
            id = argv[i];
        else {
            fprintf(stderr, "usage: bmctl leaderboard CAMPAIGN [--limit N] [--around USER] "
                            "[--json]\n");
            return 2;
        }
    }
    if (!id) {
        fprintf(stderr, "usage: bmctl leaderboard CAMPAIGN [--limit N] [--around USER] [--json]\n");
        return 2;
    }
    char err[512], name[256] = "";
    PGconn *pg = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!pg) {
        fprintf(stderr, "bmctl: %s\n", err);
        return 1;
    }
    int rc = 1;
    entry *v = NULL;
    size_t n = 0;
    int def = board_limit(pg, id, name, sizeof name);
    if (def < 0) {
        fprintf(stderr, "bmctl: campaign %s not found\n", id);
        goto out;
    }
    if (limit <= 0)
        limit = def > 0 ? def : 10;
    if (user) {
        if (around(pg, id, user, limit, &v, &n) != 0)
            goto out;
    } else {
        char lim[16];
        snprintf(lim, sizeof lim, "%d", limit);
        const char *p[2] = {id, lim};
        if (fetch(pg,
                  "SELECT " COLS " FROM user_progress WHERE campaign_id = $1::uuid "
                  "ORDER BY " RANK_ORDER " LIMIT $2::int",
                  2, p, &v, &n, 1, 1) < 0)
            goto out;
    }
    if (as_json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                arr, json_pack("{s:I, s:s, s:f, s:I}", "rank", (json_int_t)v[i].rank, "userId",
                               v[i].user, "score", v[i].score, "events", (json_int_t)v[i].events));
        json_t *root = json_pack("{s:s, s:s, s:o}", "campaignId", id, "name", name, "entries", arr);
        char *s = json_dumps(root, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(root);
    } else {
        printf("%s\n%5s  %-24s %14s\n", name, "RANK", "USER", "SCORE");
        for (size_t i = 0; i < n; i++) {
            char score[40];
            format_score(v[i].score, score, sizeof score);
            printf("%5lld  %-24s %14s%s\n", v[i].rank, v[i].user, score,
                   user && strcmp(user, v[i].user) == 0 ? "   <" : "");
        }
    }
    rc = 0;
out:
    free(v);
    PQfinish(pg);
    return rc;
}
