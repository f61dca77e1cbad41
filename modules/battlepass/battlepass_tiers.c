/*
 * battlepass module: the tier table. Either an explicit list of tiers whose
 * xpRequired is what the tier costs on top of the previous one (the product's
 * tier generator writes it so; "cumulative": true reads totals instead), or a
 * generated curve where tier i costs floor(base * growth^(i-1)) XP. Both are
 * kept as the total XP that completes each tier.
 */
#include "battlepass.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generated curves must stay far below where doubles stop counting whole XP. */
#define BP_MAX_TOTAL_XP 1e15

static int whole_in(json_t *v, long lo, long hi, long *out)
{
    if (!bm_modcfg_is_number(v))
        return 0;
    double d = json_number_value(v);
    if (d != floor(d) || d < (double)lo || d > (double)hi)
        return 0;
    *out = (long)d;
    return 1;
}

static int parse_explicit(json_t *list, bp_cfg *cfg, long max_tier, int cumulative, char *err,
                          size_t errlen)
{
    static const char *const keys[] = {"tier", "xpRequired",  "freeReward", "premiumReward",
                                       "name", "description", NULL};
    size_t n = json_array_size(list);
    char base[32], p[64];
    cfg->tiers = calloc(n, sizeof *cfg->tiers);
    if (!cfg->tiers)
        return bm_modcfg_fail(err, errlen, "tiers", "out of memory");
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        bp_tier *bt = &cfg->tiers[i];
        cfg->ntiers = (int)i + 1;
        snprintf(base, sizeof base, "tiers[%zu]", i);
        if (!json_is_object(t))
            return bm_modcfg_fail(err, errlen, base, "must be an object");
        if (bm_modcfg_check_keys(t, base, keys, err, errlen))
            return -1;
        long num;
        snprintf(p, sizeof p, "%s.tier", base);
        if (!whole_in(json_object_get(t, "tier"), (long)i + 1, (long)i + 1, &num))
            return bm_modcfg_fail(err, errlen, p,
                                  "must be %zu (tiers are numbered 1, 2, 3, ... in list order)",
                                  i + 1);
        json_t *xp = json_object_get(t, "xpRequired");
        snprintf(p, sizeof p, "%s.xpRequired", base);
        if (!bm_modcfg_is_number(xp) || json_number_value(xp) < 0)
            return bm_modcfg_fail(err, errlen, p, "must be a number >= 0");
        double prev = i > 0 ? cfg->tiers[i - 1].xp_required : 0;
        if (cumulative) {
            bt->xp_required = json_number_value(xp);
            if (bt->xp_required < prev)
                return bm_modcfg_fail(err, errlen, p,
                                      "must be at least tiers[%zu].xpRequired (with cumulative: "
                                      "true, xpRequired is the total XP that completes the tier)",
                                      i - 1);
        } else {
            bt->xp_required = prev + json_number_value(xp);
            if (bt->xp_required > BP_MAX_TOTAL_XP)
                return bm_modcfg_fail(err, errlen, p,
                                      "the tiers up to this one need more than "
                                      "1e15 XP in total");
        }
        snprintf(p, sizeof p, "%s.freeReward", base);
        if (bm_modcfg_reward(json_object_get(t, "freeReward"), p, &bt->free_reward, err, errlen))
            return -1;
        snprintf(p, sizeof p, "%s.premiumReward", base);
        if (bm_modcfg_reward(json_object_get(t, "premiumReward"), p, &bt->premium_reward, err,
                             errlen))
            return -1;
    }
    /* maxTier below the list length cuts the table there. */
    while (max_tier && cfg->ntiers > max_tier) {
        cfg->ntiers--;
        free(cfg->tiers[cfg->ntiers].free_reward);
        free(cfg->tiers[cfg->ntiers].premium_reward);
    }
    return 0;
}

/* Copy of `s` with every "{tier}" replaced by the tier number. */
static char *subst_tier(const char *s, int tier)
{
    char num[16];
    int nl = snprintf(num, sizeof num, "%d", tier);
    size_t cap = strlen(s) + 1, hits = 0;
    for (const char *q = strstr(s, "{tier}"); q; q = strstr(q + 6, "{tier}"))
        hits++;
    cap += hits * (size_t)nl;
    char *out = malloc(cap), *w = out;
    if (!out)
        return NULL;
    while (*s) {
        if (strncmp(s, "{tier}", 6) == 0) {
            memcpy(w, num, (size_t)nl);
            w += nl;
            s += 6;
        } else {
            *w++ = *s++;
        }
    }
    *w = '\0';
    return out;
}

/* Replaces "{tier}" in every string inside v (objects and arrays walked). */
static void subst_json(json_t *v, int tier)
{
    if (json_is_string(v)) {
        char *s = subst_tier(json_string_value(v), tier);
        if (s)
            json_string_set(v, s);
        free(s);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c)
        {
            subst_json(c, tier);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            subst_json(c, tier);
        }
    }
}

static char *template_for(const char *reward_json, int tier)
{
    json_t *r = json_loads(reward_json, 0, NULL);
    if (!r)
        return NULL;
    subst_json(r, tier);
    char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(r);
    return s;
}

static int parse_template(json_t *tmpl, char **free_r, char **prem_r, long *free_every,
                          long *prem_every, char *err, size_t errlen)
{
    static const char *const keys[] = {"freeReward", "premiumReward", "freeEvery", "premiumEvery",
                                       NULL};
    *free_every = *prem_every = 1;
    if (!bm_modcfg_present(tmpl))
        return 0;
    if (!json_is_object(tmpl))
        return bm_modcfg_fail(err, errlen, "rewardTemplate", "must be an object");
    if (bm_modcfg_check_keys(tmpl, "rewardTemplate", keys, err, errlen) ||
        bm_modcfg_reward(json_object_get(tmpl, "freeReward"), "rewardTemplate.freeReward", free_r,
                         err, errlen) ||
        bm_modcfg_reward(json_object_get(tmpl, "premiumReward"), "rewardTemplate.premiumReward",
                         prem_r, err, errlen))
        return -1;
    json_t *v = json_object_get(tmpl, "freeEvery");
    if (bm_modcfg_present(v) && !whole_in(v, 1, BP_MAX_TIERS, free_every))
        return bm_modcfg_fail(err, errlen, "rewardTemplate.freeEvery",
                              "must be a whole number from 1 to %d", BP_MAX_TIERS);
    v = json_object_get(tmpl, "premiumEvery");
    if (bm_modcfg_present(v) && !whole_in(v, 1, BP_MAX_TIERS, prem_every))
        return bm_modcfg_fail(err, errlen, "rewardTemplate.premiumEvery",
                              "must be a whole number from 1 to %d", BP_MAX_TIERS);
    return 0;
}

static int parse_curve(json_t *curve, json_t *tmpl, bp_cfg *cfg, long max_tier, char *err,
                       size_t errlen)
{
    static const char *const keys[] = {"base", "growth", NULL};
    char *free_r = NULL, *prem_r = NULL;
    long free_every, prem_every;
    int rc = -1;
    if (!json_is_object(curve)) {
        bm_modcfg_fail(err, errlen, "tierCurve", "must be an object with base and growth");
        goto done;
    }
    if (bm_modcfg_check_keys(curve, "tierCurve", keys, err, errlen))
        goto done;
    json_t *b = json_object_get(curve, "base"), *g = json_object_get(curve, "growth");
    if (!bm_modcfg_is_number(b) || json_number_value(b) < 1) {
        bm_modcfg_fail(err, errlen, "tierCurve.base", "must be a number >= 1 (XP of tier 1)");
        goto done;
    }
    if (!bm_modcfg_is_number(g) || json_number_value(g) < 1 || json_number_value(g) > 10) {
        bm_modcfg_fail(err, errlen, "tierCurve.growth", "must be a number from 1 to 10");
        goto done;
    }
    if (parse_template(tmpl, &free_r, &prem_r, &free_every, &prem_every, err, errlen))
        goto done;
    cfg->tiers = calloc((size_t)max_tier, sizeof *cfg->tiers);
    if (!cfg->tiers) {
        bm_modcfg_fail(err, errlen, "tierCurve", "out of memory");
        goto done;
    }
    double base = json_number_value(b), growth = json_number_value(g), total = 0;
    for (int i = 1; i <= max_tier; i++) {
        bp_tier *bt = &cfg->tiers[i - 1];
        cfg->ntiers = i;
        total += floor(base * pow(growth, i - 1));
        if (total > BP_MAX_TOTAL_XP) {
            bm_modcfg_fail(err, errlen, "tierCurve",
                           "tier %d would need more than 1e15 XP (lower growth or maxTier)", i);
            goto done;
        }
        bt->xp_required = total;
        if (free_r && i % free_every == 0)
            bt->free_reward = template_for(free_r, i);
        if (prem_r && i % prem_every == 0)
            bt->premium_reward = template_for(prem_r, i);
    }
    rc = 0;
done:
    free(free_r);
    free(prem_r);
    return rc;
}

int bp_parse_tiers(json_t *root, bp_cfg *cfg, char *err, size_t errlen)
{
    json_t *list = json_object_get(root, "tiers"), *curve = json_object_get(root, "tierCurve");
    json_t *tmpl = json_object_get(root, "rewardTemplate"), *mt = json_object_get(root, "maxTier");
    json_t *cum = json_object_get(root, "cumulative");
    long max_tier = 0;
    if (bm_modcfg_present(cum) && !json_is_boolean(cum))
        return bm_modcfg_fail(err, errlen, "cumulative", "must be true or false");
    if (json_is_true(cum) && !bm_modcfg_present(list))
        return bm_modcfg_fail(err, errlen, "cumulative", "only applies to an explicit tiers list");
    if (bm_modcfg_present(list) && !json_is_array(list))
        return bm_modcfg_fail(err, errlen, "tiers", "must be a list of tiers");
    if (bm_modcfg_present(mt) && !whole_in(mt, 1, BP_MAX_TIERS, &max_tier))
        return bm_modcfg_fail(err, errlen, "maxTier", "must be a whole number from 1 to %d",
                              BP_MAX_TIERS);
    size_t n = json_array_size(list);
    if (n > 0 && bm_modcfg_present(curve))
        return bm_modcfg_fail(err, errlen, "tierCurve", "give either tiers or tierCurve, not both");
    if (bm_modcfg_present(tmpl) && !bm_modcfg_present(curve))
        return bm_modcfg_fail(err, errlen, "rewardTemplate", "only used with tierCurve");
    if (n > 0) {
        if (n > BP_MAX_TIERS)
            return bm_modcfg_fail(err, errlen, "tiers", "at most %d tiers", BP_MAX_TIERS);
        if (max_tier > (long)n)
            return bm_modcfg_fail(err, errlen, "maxTier",
                                  "must not exceed the number of tiers listed (%zu)", n);
        return parse_explicit(list, cfg, max_tier, json_is_true(cum), err, errlen);
    }
    if (bm_modcfg_present(curve)) {
        if (!max_tier)
            return bm_modcfg_fail(err, errlen, "maxTier", "required with tierCurve");
        return parse_curve(curve, tmpl, cfg, max_tier, err, errlen);
    }
    return bm_modcfg_fail(err, errlen, "tiers", "must list at least one tier (or give tierCurve)");
}
