/*
 * bmctl battlepass: show a player's pass (read from PostgreSQL), or queue a
 * purchase / claim as a command event on game.events keyed by the user, so it
 * is applied in order with that user's events, exactly once, by the engine.
 * Tier math and the progress document follow modules/battlepass/README.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "cmdauth/cmdauth.h"
#include "bmctl/ctl_util.h"
#include "kafka/kafka.h"
#include "pg/pg.h"

#define DAY_MS 86400000LL

static void bp_usage(FILE *out)
{
    fprintf(out, "usage: bmctl battlepass show CAMPAIGN USER [--json]\n"
                 "       bmctl battlepass purchase CAMPAIGN USER\n"
                 "       bmctl battlepass claim CAMPAIGN USER TIER [--premium]\n"
                 "  show: XP, tier, purchase, claimed and claimable tiers, today's XP per source.\n"
                 "  purchase / claim: queue the command for the engine (game.events, keyed by\n"
                 "  user); the engine applies it in order with the user's events.\n");
}

/* The tier table as the module builds it. */
typedef struct bp_view {
    int ntiers;
    double need[1000];
    char has_free[1000], has_prem[1000];
    int entry_purchase;
} bp_view;

static int whole(json_t *v, int dflt)
{
    return json_is_number(v) ? (int)json_number_value(v) : dflt;
}

static void view_build(json_t *cfg, bp_view *v)
{
    memset(v, 0, sizeof *v);
    json_t *tiers = json_object_get(cfg, "tiers"), *curve = json_object_get(cfg, "tierCurve");
    int max = whole(json_object_get(cfg, "maxTier"), 0);
    const char *entry =
        json_string_value(json_object_get(json_object_get(cfg, "entryRequirement"), "type"));
    v->entry_purchase = entry && strcmp(entry, "purchase") == 0;
    if (json_array_size(tiers) > 0) {
        v->ntiers = (int)json_array_size(tiers);
        if (max > 0 && max < v->ntiers)
            v->ntiers = max;
        if (v->ntiers > 1000)
            v->ntiers = 1000;
        for (int i = 0; i < v->ntiers; i++) {
            json_t *t = json_array_get(tiers, (size_t)i);
            v->need[i] = json_number_value(json_object_get(t, "xpRequired"));
            v->has_free[i] = json_is_object(json_object_get(t, "freeReward"));
            v->has_prem[i] = json_is_object(json_object_get(t, "premiumReward"));
        }
        return;
    }
    json_t *tmpl = json_object_get(cfg, "rewardTemplate");
    double base = json_number_value(json_object_get(curve, "base"));
    double growth = json_number_value(json_object_get(curve, "growth"));
    int fe = whole(json_object_get(tmpl, "freeEvery"), 1);
    int pe = whole(json_object_get(tmpl, "premiumEvery"), 1);
    int hf = json_is_object(json_object_get(tmpl, "freeReward"));
    int hp = json_is_object(json_object_get(tmpl, "premiumReward"));
    v->ntiers = max > 1000 ? 1000 : max;
    double total = 0;
    for (int i = 1; i <= v->ntiers; i++) {
        total += floor(base * pow(growth, i - 1));
        v->need[i - 1] = total;
        v->has_free[i - 1] = (char)(hf && fe > 0 && i % fe == 0);
        v->has_prem[i - 1] = (char)(hp && pe > 0 && i % pe == 0);
    }
}

static int view_tier(const bp_view *v, double xp)
{
    int t = 0;
    while (t < v->ntiers && v->need[t] <= xp)
        t++;
    return t;
}

static int claimed(json_t *list, int tier)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        if (json_integer_value(x) == tier)
            return 1;
    }
    return 0;
}

/* Tiers reached, with a reward on the track, not yet claimed, and allowed by the purchase rule. */
static json_t *claimable(const bp_view *v, json_t *doc, int tier, int premium, int purchased)
{
    json_t *a = json_array();
    if ((premium || v->entry_purchase) && !purchased)
        return a;
    json_t *done = json_object_get(doc, premium ? "cp" : "cf");
    for (int i = 1; i <= tier; i++)
        if ((premium ? v->has_prem[i - 1] : v->has_free[i - 1]) && !claimed(done, i))
            json_array_append_new(a, json_integer(i));
    return a;
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

static int bp_show(PGconn *c, const ctl_campaign *cc, const char *user, int as_json)
{
    char err[512] = "", t[40];
    ctl_progress p;
    if (ctl_progress_load(c, cc->id, user, &p, err, sizeof err) != 0) {
        fprintf(stderr, "battlepass: %s\n", err);
        return 1;
    }
    bp_view *v = calloc(1, sizeof *v);
    if (!v) {
        ctl_progress_clear(&p);
        return 1;
    }
    view_build(cc->config, v);
    int tier = view_tier(v, p.value);
    int purchased = json_integer_value(json_object_get(p.doc, "p")) != 0;
    int64_t bought = json_integer_value(json_object_get(p.doc, "pt"));
    int64_t today = ctl_now_ms() / DAY_MS;
    char day[24];
    snprintf(day, sizeof day, "%lld", (long long)today);
    json_t *used = json_object_get(json_object_get(p.doc, "d"), day);
    json_t *sources = json_object_get(cc->config, "xpSources");

    json_t *o = json_object(), *src = json_array();
    json_object_set_new(o, "campaignId", json_string(cc->id));
    json_object_set_new(o, "name", json_string(cc->name));
    json_object_set_new(o, "userId", json_string(user));
    json_object_set_new(o, "xp", json_real(p.value));
    json_object_set_new(o, "xpEvents", json_integer(p.count));
    json_object_set_new(o, "tier", json_integer(tier));
    json_object_set_new(o, "maxTier", json_integer(v->ntiers));
    json_object_set_new(o, "nextTierXp", tier < v->ntiers ? json_real(v->need[tier]) : json_null());
    json_object_set_new(o, "purchased", json_boolean(purchased));
    ctl_time_format(bought, t, sizeof t);
    json_object_set_new(o, "purchasedAt", bought ? json_string(t) : json_null());
    json_t *cf = json_object_get(p.doc, "cf"), *cp = json_object_get(p.doc, "cp");
    json_object_set_new(o, "claimedFree", cf ? json_copy(cf) : json_array());
    json_object_set_new(o, "claimedPremium", cp ? json_copy(cp) : json_array());
    json_object_set_new(o, "claimableFree", claimable(v, p.doc, tier, 0, purchased));
    json_object_set_new(o, "claimablePremium", claimable(v, p.doc, tier, 1, purchased));
    size_t i;
    json_t *s;
    json_array_foreach(sources, i, s)
    {
        json_t *lim = json_object_get(s, "dailyLimit");
        json_array_append_new(src, json_pack("{s:s, s:f, s:o}", "eventType",
                                             json_string_value(json_object_get(s, "eventType")),
                                             "todayXp", json_number_value(json_array_get(used, i)),
                                             "dailyLimit",
                                             json_is_number(lim) ? json_copy(lim) : json_null()));
    }
    json_object_set_new(o, "today", src);

    if (as_json) {
        ctl_print_json(o);
    } else {
        printf("battle pass: %s (%s)\n", cc->name, cc->id);
        printf("user:        %s\n", user);
        printf("xp:          %g (%lld events gave XP)\n", p.value, p.count);
        if (tier < v->ntiers)
            printf("tier:        %d of %d (next at %g XP)\n", tier, v->ntiers, v->need[tier]);
        else
            printf("tier:        %d of %d (top tier)\n", tier, v->ntiers);
        printf("purchased:   %s%s%s\n", purchased ? "yes (" : "no", purchased ? t : "",
               purchased ? ")" : "");
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
    free(v);
    ctl_progress_clear(&p);
    return 0;
}

/* Produces a purchase (tier 0) or claim command to game.events keyed by user. */
static int bp_command(bm_ctl *ctl, const ctl_campaign *cc, const char *user, int tier, int premium)
{
    char err[1024] = "", boot[1024], eid[512], ts[40];
    int64_t now = ctl_now_ms();
    const char *track = premium ? "premium" : "free";
    ctl_time_format(now, ts, sizeof ts);
    /* Purchases are idempotent whenever they happen: one id per (pass, user) lets the
     * engine drop a repeated request early. A claim refused now (tier not reached yet)
     * must be possible again later, so its id carries the request time; the module's
     * claimed set keeps repeated claims harmless. */
    if (tier == 0)
        snprintf(eid, sizeof eid, "cmd:purchase:%s:%s", cc->id, user);
    else
        snprintf(eid, sizeof eid, "cmd:claim:%s:%s:%d:%s:%lld", cc->id, user, tier, track,
                 (long long)now);
    json_t *data = tier == 0 ? json_pack("{s:s}", "campaignId", cc->id)
                             : json_pack("{s:s, s:i, s:b}", "campaignId", cc->id, "tier", tier,
                                         "premium", premium);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "eventId", eid, "gameId",
                           cc->game, "userId", user, "eventType",
                           tier == 0 ? "bm.battlepass.purchase" : "bm.battlepass.claim",
                           "timestamp", ts, "source", "bmctl", "data", data);
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    rd_kafka_t *p = NULL;
    int rc = 1;
    if (!text)
        goto done;
    /* Commands count only when signed with the engine's command key. */
    bm_cmdauth keys;
    char sig[BM_CMDAUTH_SIG_SIZE];
    if (bm_kafka_bootstrap(&ctl->cfg, boot, sizeof boot, err, sizeof err) != 0 ||
        bm_cmdauth_load(&keys, &ctl->cfg, 0, err, sizeof err) != 0) {
        fprintf(stderr, "battlepass: %s\n", err);
        goto done;
    }
    bm_cmdauth_sign(&keys, text, strlen(text), sig);
    bm_cmdauth_clear(&keys);
    if (!(p = bm_kafka_producer_new(boot, err, sizeof err)) ||
        bm_kafka_produce_sync_hdr(p, ctl->cfg.events_topic, user, text, strlen(text),
                                  BM_CMDAUTH_HEADER, sig, err, sizeof err) != 0) {
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
    ctl_campaign cc = {0};
    int rc = 1;
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "battlepass: %s\n", err);
        goto done;
    }
    int found = ctl_campaign_load(c, a.pos[1], &cc, err, sizeof err);
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
    ctl_campaign_clear(&cc);
    PQfinish(c);
    return rc;
}
