/*
 * bmctl battlepass: show a player's pass (read from PostgreSQL), or queue a
 * purchase / claim as a command event on game.events keyed by the user, so it
 * is applied in order with that user's events, exactly once, by the engine.
 * Tier math and the progress document follow modules/battlepass/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "bmctl/ctl_util.h"
#include "event/command.h"
#include "kafka/kafka.h"
#include "pg/pg.h"

static void bp_usage(FILE *out)
{
    fprintf(out, "usage: bmctl battlepass show CAMPAIGN USER [--json]\n"
                 "       bmctl battlepass purchase CAMPAIGN USER\n"
                 "       bmctl battlepass claim CAMPAIGN USER TIER [--premium]\n"
                 "  show: XP, tier, purchase, claimed and claimable tiers, today's XP per source.\n"
                 "  purchase / claim: queue the command for the engine (game.events, keyed by\n"
                 "  user); the engine applies it in order with the user's events.\n");
}

static void print_list(const char *label, json_t *a)
{
    printf("%s", label);
    if (json_array_size(a) == 0)
        printf(" -");
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        printf(" %lld", (long long)json_integer_value(x));
    }
}

static int bp_show(PGconn *c, const bm_pv_campaign *cc, const char *user, int as_json)
{
    char err[512] = "";
    bm_pv_progress p;
    if (bm_pv_progress_load(c, cc->id, user, &p, err, sizeof err) != 0) {
        fprintf(stderr, "battlepass: %s\n", err);
        return 1;
    }
    json_t *o = bm_pv_battlepass(cc, user, &p, ctl_now_ms());
    if (!o) {
        bm_pv_progress_clear(&p);
        return 1;
    }
    size_t i;
    json_t *s;
    json_t *src = json_object_get(o, "today");
    json_t *next = json_object_get(o, "nextTierXp");
    const char *bought = json_string_value(json_object_get(o, "purchasedAt"));
    int purchased = json_is_true(json_object_get(o, "purchased"));
    int tier = (int)json_integer_value(json_object_get(o, "tier"));
    int ntiers = (int)json_integer_value(json_object_get(o, "maxTier"));

    if (as_json) {
        ctl_print_json(o);
    } else {
        printf("battle pass: %s (%s)\n", cc->name, cc->id);
        printf("user:        %s\n", user);
        printf("xp:          %g (%lld events gave XP)\n", p.value, p.count);
        if (json_is_number(next))
            printf("tier:        %d of %d (next at %g XP)\n", tier, ntiers,
                   json_number_value(next));
        else
            printf("tier:        %d of %d (top tier)\n", tier, ntiers);
        printf("purchased:   %s%s%s\n", purchased ? "yes (" : "no",
               purchased && bought ? bought : "", purchased ? ")" : "");
        print_list("claimed:     free", json_object_get(o, "claimedFree"));
        print_list("; premium", json_object_get(o, "claimedPremium"));
        print_list("\nclaimable:   free", json_object_get(o, "claimableFree"));
        print_list("; premium", json_object_get(o, "claimablePremium"));
        printf("\ntoday's XP (UTC day of now; counters are per UTC day of event time):\n");
        json_array_foreach(src, i, s)
        {
            json_t *lim = json_object_get(s, "dailyLimit");
            printf("  %-3zu %-24s %g", i + 1, json_string_value(json_object_get(s, "eventType")),
                   json_number_value(json_object_get(s, "todayXp")));
            if (json_is_number(lim))
                printf(" / %g\n", json_number_value(lim));
            else
                printf(" (no daily limit, not tracked)\n");
        }
        json_decref(o);
    }
    bm_pv_progress_clear(&p);
    return 0;
}

/* Produces a purchase (tier 0) or claim command to game.events keyed by user. */
static int bp_command(bm_ctl *ctl, const bm_pv_campaign *cc, const char *user, int tier,
                      int premium)
{
    char err[1024] = "", boot[1024];
    const char *track = premium ? "premium" : "free";
    /* The same command the gateway's POST .../claim and .../purchase produce. */
    json_t *ev =
        bm_command_battlepass(cc->id, cc->game, user, tier, premium, ctl_now_ms(), "bmctl");
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    rd_kafka_t *p = NULL;
    int rc = 1;
    if (!text)
        goto done;
    if (bm_kafka_bootstrap(&ctl->cfg, boot, sizeof boot, err, sizeof err) != 0 ||
        !(p = bm_kafka_producer_new(boot, err, sizeof err)) ||
        bm_kafka_produce_sync(p, ctl->cfg.events_topic, user, text, strlen(text), err,
                              sizeof err) != 0) {
        fprintf(stderr, "battlepass: %s\n", err);
        goto done;
    }
    if (tier == 0)
        printf("queued purchase for %s in %s\n", user, cc->id);
    else
        printf("queued claim of tier %d (%s) for %s in %s\n", tier, track, user, cc->id);
    rc = 0;
done:
    if (p)
        rd_kafka_destroy(p);
    free(text);
    return rc;
}

int bm_cmd_battlepass(bm_ctl *ctl, int argc, char **argv)
{
    ctl_args a;
    char err[1024] = "";
    if (ctl_args_parse(argc, argv, 1, &a, err, sizeof err) != 0) {
        fprintf(stderr, "battlepass: %s\n", err);
        bp_usage(stderr);
        return 2;
    }
    if (a.help) {
        bp_usage(stdout);
        return 0;
    }
    const char *sub = a.npos > 0 ? a.pos[0] : "";
    int show = strcmp(sub, "show") == 0, buy = strcmp(sub, "purchase") == 0;
    int claim = strcmp(sub, "claim") == 0;
    long tier = 0;
    if (claim && a.npos == 4) {
        char *end;
        tier = strtol(a.pos[3], &end, 10);
        if (*end || tier < 1 || tier > 1000) {
            fprintf(stderr, "battlepass: TIER must be a whole number from 1 to 1000\n");
            return 2;
        }
    }
    if (!((show && a.npos == 3 && !a.premium) || (buy && a.npos == 3 && !a.premium && !a.json) ||
          (claim && a.npos == 4 && !a.json))) {
        bp_usage(stderr);
        return 2;
    }
    bm_pv_campaign cc = {0};
    int rc = 1;
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "battlepass: %s\n", err);
        goto done;
    }
    int found = bm_pv_campaign_load(c, a.pos[1], &cc, err, sizeof err);
    if (found != 0) {
        fprintf(stderr, "battlepass: %s\n", found > 0 ? "no such campaign" : err);
        goto done;
    }
    if (strcmp(cc.type, "battlepass") != 0) {
        fprintf(stderr, "battlepass: campaign %s is a %s, not a battle pass\n", cc.id, cc.type);
        goto done;
    }
    rc = show ? bp_show(c, &cc, a.pos[2], a.json)
              : bp_command(ctl, &cc, a.pos[2], (int)tier, a.premium);
done:
    bm_pv_campaign_clear(&cc);
    PQfinish(c);
    return rc;
}
