/*
 * A player's battle pass as JSON: XP, tier, purchase, claimed and claimable
 * tiers, today's XP per source. Tier math and the progress document follow
 * modules/battlepass/README.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "progress/progress.h"

#define DAY_MS 86400000LL

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
        /* xpRequired is what each tier costs, unless the pass says cumulative: true. */
        int cumulative = json_is_true(json_object_get(cfg, "cumulative"));
        double total = 0;
        for (int i = 0; i < v->ntiers; i++) {
            json_t *t = json_array_get(tiers, (size_t)i);
            double xp = json_number_value(json_object_get(t, "xpRequired"));
            total = cumulative ? xp : total + xp;
            v->need[i] = total;
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

json_t *bm_pv_battlepass(const bm_pv_campaign *cc, const char *user, const bm_pv_progress *p,
                         int64_t now_ms)
{
    char t[40];
    bp_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    view_build(cc->config, v);
    int tier = view_tier(v, p->value);                     /* tiers completed */
    int current = tier < v->ntiers ? tier + 1 : v->ntiers; /* numbered as the product does */
    int purchased = json_integer_value(json_object_get(p->doc, "p")) != 0;
    int64_t bought = json_integer_value(json_object_get(p->doc, "pt"));
    int64_t today = now_ms / DAY_MS;
    char day[24];
    snprintf(day, sizeof day, "%lld", (long long)today);
    json_t *used = json_object_get(json_object_get(p->doc, "d"), day);
    json_t *sources = json_object_get(cc->config, "xpSources");

    json_t *o = json_object(), *src = json_array();
    json_object_set_new(o, "campaignId", json_string(cc->id));
    json_object_set_new(o, "name", json_string(cc->name));
    json_object_set_new(o, "userId", json_string(user));
    json_object_set_new(o, "xp", json_real(p->value));
    json_object_set_new(o, "xpEvents", json_integer(p->count));
    json_object_set_new(o, "tier", json_integer(current));
    json_object_set_new(o, "tiersCompleted", json_integer(tier));
    json_object_set_new(o, "maxTier", json_integer(v->ntiers));
    json_object_set_new(o, "nextTierXp", tier < v->ntiers ? json_real(v->need[tier]) : json_null());
    json_object_set_new(o, "purchased", json_boolean(purchased));
    bm_rfc3339_format(bought, t, sizeof t);
    json_object_set_new(o, "purchasedAt", bought ? json_string(t) : json_null());
    json_t *cf = json_object_get(p->doc, "cf"), *cp = json_object_get(p->doc, "cp");
    json_object_set_new(o, "claimedFree", cf ? json_copy(cf) : json_array());
    json_object_set_new(o, "claimedPremium", cp ? json_copy(cp) : json_array());
    json_object_set_new(o, "claimableFree", claimable(v, p->doc, tier, 0, purchased));
    json_object_set_new(o, "claimablePremium", claimable(v, p->doc, tier, 1, purchased));
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
    free(v);
    return o;
}
