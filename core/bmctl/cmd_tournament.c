/*
 * bmctl tournament: show a tournament (status, seats, standings, prizes) read
 * from PostgreSQL, or queue an entry / join command on game.events keyed by
 * the user. Seats, ranks and prizes are computed by the module's own ranking
 * (modules/tournament/tournament_prize.c), so the provisional table shown
 * while a tournament runs is the one its finalisation will pay.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "bmctl/ctl_util.h"
#include "progress/progress.h"
#include "event/command_tn.h"
#include "kafka/kafka.h"
#include "pg/pg.h"

static void tn_usage(FILE *out)
{
    fprintf(out, "usage: bmctl tournament show ID [--period START] [--json]\n"
                 "       bmctl tournament entry ID USER [AMOUNT]\n"
                 "       bmctl tournament join ID USER [AMOUNT]\n"
                 "  show: status (scheduled, running, ended, paid), seats, standings and prizes;\n"
                 "  once paid, the stored results. A recurring tournament shows its current\n"
                 "  run, or the run starting at START (RFC 3339, as listed under periods).\n"
                 "  entry / join: queue the TOURNAMENT_ENTRY /\n"
                 "  TOURNAMENT_JOIN command (game.events, keyed by user).\n");
}

/* A row's prize in minor units: a number (standings) or {amount, decimals} (results). */
static long long prize_minor(json_t *row)
{
    json_t *p = json_object_get(row, "prize");
    return json_is_integer(p) ? (long long)json_integer_value(p)
                              : (long long)json_integer_value(json_object_get(p, "amount"));
}

static void print_table(json_t *o)
{
    char when[40];
    printf("tournament %s (%s)\n", json_string_value(json_object_get(o, "id")),
           json_string_value(json_object_get(o, "name")));
    printf("  status        %s\n", json_string_value(json_object_get(o, "status")));
    if (json_object_get(o, "period"))
        printf("  period        %s\n", json_string_value(json_object_get(o, "period")));
    ctl_time_format(json_integer_value(json_object_get(o, "startMs")), when, sizeof when);
    printf("  window        %s", when);
    ctl_time_format(json_integer_value(json_object_get(o, "endMs")), when, sizeof when);
    printf(" .. %s (grace %llds)\n", when,
           (long long)json_integer_value(json_object_get(o, "graceSeconds")));
    json_t *mp = json_object_get(o, "maxParticipants");
    printf("  seats         %lld taken",
           (long long)json_integer_value(json_object_get(o, "seated")));
    if (json_is_integer(mp))
        printf(" of %lld", (long long)json_integer_value(mp));
    printf(", %lld refused\n", (long long)json_integer_value(json_object_get(o, "refused")));
    printf("  prize pool    %lld minor units (decimals %lld)\n",
           (long long)json_integer_value(json_object_get(o, "totalMinor")),
           (long long)json_integer_value(json_object_get(o, "decimals")));
    printf("  %-8s %-6s %-24s %12s %14s\n", "position", "rank", "user", "score", "prize");
    size_t i;
    json_t *row;
    const char *st = json_string_value(json_object_get(o, "status"));
    int fin = st && (strcmp(st, "paid") == 0 || strcmp(st, "cancelled") == 0);
    json_array_foreach(json_object_get(o, fin ? "results" : "standings"), i, row)
    {
        printf("  %-8lld %-6lld %-24s %12g %14lld\n",
               (long long)json_integer_value(json_object_get(row, "position")),
               (long long)json_integer_value(json_object_get(row, "rank")),
               json_string_value(json_object_get(row, "userId")),
               json_number_value(json_object_get(row, "score")), (long long)prize_minor(row));
    }
    json_t *periods = json_object_get(o, "periods");
    if (json_array_size(periods)) {
        printf("  finalised periods (bmctl tournament show ID --period START):\n");
        json_array_foreach(periods, i, row)
        {
            printf("    %s %s\n", json_string_value(json_object_get(row, "period")),
                   json_string_value(json_object_get(row, "status")));
        }
    }
}

/* Provisional standings from the module's ranking, or the stored results once paid. */
static int tn_show(PGconn *c, const bm_pv_campaign *cc, const char *period, int as_json)
{
    char err[1024] = "";
    int bad = 0;
    json_t *out = bm_pv_tournament(c, cc, ctl_now_ms(), period, &bad, err, sizeof err);
    if (!out) {
        fprintf(stderr, "tournament: %s\n", err);
        return 1;
    }
    if (as_json)
        ctl_print_json(json_incref(out));
    else
        print_table(out);
    json_decref(out);
    return 0;
}

/* Produces an entry or join command to game.events keyed by user. */
static int tn_command(bm_ctl *ctl, const bm_pv_campaign *cc, const char *user, int join,
                      double amount)
{
    char err[1024] = "out of memory";
    json_t *ev = bm_command_tournament(cc->id, cc->game, user, join, amount, ctl_now_ms(), "bmctl");
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    int rc = 1;
    if (text && ctl_produce_command(ctl, user, text, err, sizeof err) == 0) {
        printf("queued %s for %s in %s\n", join ? "join" : "entry", user, cc->id);
        rc = 0;
    } else {
        fprintf(stderr, "tournament: %s\n", err);
    }
    free(text);
    return rc;
}

int bm_cmd_tournament(bm_ctl *ctl, int argc, char **argv)
{
    ctl_args a;
    char err[1024] = "";
    /* --period START (show only), taken out before the common flags */
    const char *period = NULL;
    char *rest[64];
    int nrest = 0;
    for (int i = 0; i < argc && nrest < 64; i++) {
        if (strcmp(argv[i], "--period") == 0 && i + 1 < argc) {
            period = argv[++i];
            continue;
        }
        rest[nrest++] = argv[i];
    }
    if (ctl_args_parse(nrest, rest, 1, &a, err, sizeof err) != 0) {
        fprintf(stderr, "tournament: %s\n", err);
        tn_usage(stderr);
        return 2;
    }
    if (a.help) {
        tn_usage(stdout);
        return 0;
    }
    const char *sub = a.npos > 0 ? a.pos[0] : "";
    int show = strcmp(sub, "show") == 0;
    int cmd = strcmp(sub, "entry") == 0 || strcmp(sub, "join") == 0;
    double amount = -1;
    if (cmd && a.npos == 4) {
        char *end;
        amount = strtod(a.pos[3], &end);
        if (*end || !(amount >= 0)) {
            fprintf(stderr, "tournament: AMOUNT must be a number >= 0\n");
            return 2;
        }
    }
    if (a.premium || (period && !show) ||
        !((show && a.npos == 2) || (cmd && !a.json && (a.npos == 3 || a.npos == 4)))) {
        tn_usage(stderr);
        return 2;
    }
    bm_pv_campaign cc = {0};
    int rc = 1;
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "tournament: %s\n", err);
        goto done;
    }
    int found = bm_pv_campaign_load(c, a.pos[1], &cc, err, sizeof err);
    if (found != 0) {
        fprintf(stderr, "tournament: %s\n", found > 0 ? "no such campaign" : err);
        goto done;
    }
    if (strcmp(cc.type, "tournament") != 0) {
        fprintf(stderr, "tournament: campaign %s is a %s, not a tournament\n", cc.id, cc.type);
        goto done;
    }
    rc = show ? tn_show(c, &cc, period, a.json)
              : tn_command(ctl, &cc, a.pos[2], strcmp(sub, "join") == 0, amount);
done:
    bm_pv_campaign_clear(&cc);
    PQfinish(c);
    return rc;
}
