/*
 * bmctl studio create | game create|list | key create|list|revoke.
 *
 * A key is printed once, when it is made; PostgreSQL keeps only its SHA-256
 * (api_keys.key_hash) and its first characters (key_prefix) to tell keys apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "bmctl/bmctl.h"
#include "pg/pg.h"

/* --name N style options; returns the value or NULL. */
static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

/* Every argument from index 2 on must be a known option followed by a value. */
static int opts_ok(int argc, char **argv, const char *const *known)
{
    for (int i = 2; i < argc; i += 2) {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(argv[i], *k) == 0;
        if (!ok || i + 1 >= argc) {
            fprintf(stderr, "bmctl: %s: unknown option or missing value\n", argv[i]);
            return 0;
        }
    }
    return 1;
}

static PGconn *db(bm_ctl *ctl)
{
    char err[512];
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c)
        fprintf(stderr, "bmctl: %s\n", err);
    return c;
}

/* Runs a statement and prints its rows as tab-separated text; 0, or 1 on error. */
static int run(PGconn *c, const char *sql, int n, const char *const *p, int *rows, int print)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        fprintf(stderr, "bmctl: %s",
                state && strcmp(state, "23505") == 0
                    ? "already exists (identifier, uid or email taken)\n"
                    : PQerrorMessage(c));
        PQclear(r);
        return 1;
    }
    *rows = PQntuples(r);
    for (int i = 0; print && i < PQntuples(r); i++)
        for (int f = 0; f < PQnfields(r); f++)
            printf("%s%s", PQgetisnull(r, i, f) ? "-" : PQgetvalue(r, i, f),
                   f + 1 < PQnfields(r) ? "\t" : "\n");
    PQclear(r);
    return 0;
}

int bm_cmd_studio(bm_ctl *ctl, int argc, char **argv)
{
    static const char *const known[] = {"--firebase-uid", "--name", "--email", NULL};
    const char *uid = opt(argc, argv, "--firebase-uid"), *name = opt(argc, argv, "--name");
    const char *email = opt(argc, argv, "--email");
    if (argc < 2 || strcmp(argv[1], "create") != 0 || !opts_ok(argc, argv, known) || !uid ||
        !name || !email) {
        fprintf(stderr, "usage: bmctl studio create --firebase-uid U --name N --email E\n");
        return 2;
    }
    PGconn *c = db(ctl);
    if (!c)
        return 1;
    const char *p[3] = {uid, name, email};
    int rows, rc = run(c,
                       "INSERT INTO studios (firebase_uid, name, email) VALUES ($1, $2, $3) "
                       "RETURNING id",
                       3, p, &rows, 1);
    PQfinish(c);
    return rc;
}

int bm_cmd_game(bm_ctl *ctl, int argc, char **argv)
{
    static const char *const known[] = {"--studio", "--name", "--identifier", "--webhook-url",
                                        NULL};
    const char *sub = argc > 1 ? argv[1] : "";
    if (!opts_ok(argc, argv, known))
        return 2;
    const char *studio = opt(argc, argv, "--studio"), *name = opt(argc, argv, "--name");
    const char *ident = opt(argc, argv, "--identifier"), *hook = opt(argc, argv, "--webhook-url");
    int create = strcmp(sub, "create") == 0, list = strcmp(sub, "list") == 0;
    if (!(create && studio && name && ident) && !list) {
        fprintf(stderr, "usage: bmctl game create --studio S --name N --identifier ID "
                        "[--webhook-url U]\n"
                        "       bmctl game list [--studio S]\n"
                        "  S is the studio's id or its Firebase uid; ID is the gameId events "
                        "carry.\n");
        return 2;
    }
    PGconn *c = db(ctl);
    if (!c)
        return 1;
    int rows = 0, rc;
    if (create) {
        const char *p[4] = {studio, name, ident, hook};
        rc = run(c,
                 "INSERT INTO games (studio_id, name, identifier, webhook_url) SELECT id, $2, $3, "
                 "$4 FROM studios WHERE id::text = $1 OR firebase_uid = $1 RETURNING identifier",
                 4, p, &rows, 1);
        if (rc == 0 && rows == 0) {
            fprintf(stderr, "bmctl: no studio %s (bmctl studio create first)\n", studio);
            rc = 1;
        }
    } else {
        const char *p[1] = {studio};
        printf("GAME\tNAME\tSTUDIO\tWEBHOOK\n");
        rc = run(c,
                 "SELECT g.identifier, g.name, COALESCE(s.name, '-'), g.webhook_url FROM games g "
                 "LEFT JOIN studios s ON s.id = g.studio_id WHERE $1::text IS NULL OR "
                 "s.id::text = $1 OR s.firebase_uid = $1 ORDER BY g.created_at, g.identifier",
                 1, p, &rows, 1);
    }
    PQfinish(c);
    return rc;
}

int bm_cmd_key(bm_ctl *ctl, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    const char *game = NULL;
    if ((strcmp(sub, "create") == 0 || strcmp(sub, "list") == 0) && argc == 4 &&
        strcmp(argv[2], "--game") == 0)
        game = argv[3];
    int revoke = strcmp(sub, "revoke") == 0 && argc == 3;
    if (!game && !revoke) {
        fprintf(stderr, "usage: bmctl key create --game ID   (prints the key once)\n"
                        "       bmctl key list --game ID\n"
                        "       bmctl key revoke KEY_ID\n");
        return 2;
    }
    PGconn *c = db(ctl);
    if (!c)
        return 1;
    int rows = 0, rc = 1;
    if (revoke) {
        const char *p[1] = {argv[2]};
        char *end;
        long long id = strtoll(argv[2], &end, 10);
        if (*end || id <= 0) {
            fprintf(stderr, "bmctl: KEY_ID is the number `bmctl key list` shows\n");
        } else if ((rc = run(c,
                             "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) "
                             "WHERE id = $1::bigint RETURNING id",
                             1, p, &rows, 0)) == 0) {
            if (rows == 0) {
                fprintf(stderr, "bmctl: no key %s\n", argv[2]);
                rc = 1;
            } else {
                printf("revoked key %s (the gateway stops accepting it within "
                       "http.key_cache_ms)\n",
                       argv[2]);
            }
        }
    } else if (strcmp(sub, "create") == 0) {
        char key[80], err[512];
        long long id;
        int r = bm_apikey_create(c, game, NULL, key, &id, err, sizeof err);
        if (r > 0) {
            fprintf(stderr, "bmctl: no game %s\n", game);
        } else if (r < 0) {
            fprintf(stderr, "bmctl: %s\n", err);
        } else {
            fprintf(stderr, "key %lld for %s (shown once; only its SHA-256 is stored):\n", id,
                    game);
            printf("%s\n", key);
            rc = 0;
        }
    } else {
        const char *p[1] = {game};
        printf("ID\tPREFIX\tCREATED\tREVOKED\n");
        rc = run(c,
                 "SELECT k.id, k.key_prefix, k.created_at, k.revoked_at FROM api_keys k JOIN "
                 "games g ON g.id = k.game_id WHERE g.identifier = $1 ORDER BY k.id",
                 1, p, &rows, 1);
    }
    PQfinish(c);
    return rc;
}
