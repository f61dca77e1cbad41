/*
 * tournament module: campaign document -> tn_cfg. Refusals name the field
 * ("prizePool.distribution[2].percentage: ...") because `bmctl campaign
 * create` shows this text to the studio as the reason.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modcfg.h"
#include "tournament.h"

void tn_cfg_free(const bm_host_api *api, tn_cfg *cfg)
{
    if (!cfg)
        return;
    if (cfg->formula)
        api->formula_free(cfg->formula);
    for (size_t i = 0; i < cfg->ncommunities; i++)
        free(cfg->communities[i]);
    free(cfg->id), free(cfg->event_type), free(cfg->field);
    free(cfg->reward_type), free(cfg->reward_config);
    free(cfg);
}

static int whole_in(json_t *v, long long lo, long long hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int parse_scoring(const bm_host_api *api, bm_host *host, tn_cfg *cfg, json_t *s, char *err,
                         size_t errlen)
{
    static const char *const keys[] = {"eventType", "dataField", "aggregation", "formula", NULL};
    static const char *const aggs[] = {"sum", "max", "count"};
    if (!json_is_object(s))
        return bm_modcfg_fail(err, errlen, "scoringConfig", "required, an object");
    if (bm_modcfg_check_keys(s, "scoringConfig", keys, err, errlen))
        return -1;
    json_t *et = json_object_get(s, "eventType");
    if (!json_is_string(et) || !*json_string_value(et) || json_string_length(et) > 120)
        return bm_modcfg_fail(err, errlen, "scoringConfig.eventType",
                              "required, a non-empty string");
    if (strncmp(json_string_value(et), "bm.", 3) == 0)
        return bm_modcfg_fail(err, errlen, "scoringConfig.eventType",
                              "event types starting with bm. are reserved for commands");
    cfg->event_type = strdup(json_string_value(et));
    json_t *agg = json_object_get(s, "aggregation");
    cfg->agg = TN_SUM;
    if (bm_modcfg_present(agg)) {
        int found = 0;
        for (int i = 0; i < 3 && json_is_string(agg); i++)
            if (strcmp(json_string_value(agg), aggs[i]) == 0) {
                cfg->agg = (enum tn_agg)i;
                found = 1;
            }
        if (!found)
            return bm_modcfg_fail(err, errlen, "scoringConfig.aggregation",
                                  "must be one of sum, max, count");
    }
    json_t *f = json_object_get(s, "formula");
    if (bm_modcfg_present(f)) {
        if (!json_is_string(f) || !*json_string_value(f))
            return bm_modcfg_fail(err, errlen, "scoringConfig.formula",
                                  "must be a Lua expression or chunk");
        char why[256] = "", name[160];
        snprintf(name, sizeof name, "%s/scoringConfig.formula", cfg->id);
        cfg->formula = api->formula_compile(host, name, json_string_value(f), why, sizeof why);
        if (!cfg->formula)
            return bm_modcfg_fail(err, errlen, "scoringConfig.formula", "%s",
                                  why[0] ? why : "does not compile");
    }
    json_t *df = json_object_get(s, "dataField");
    if (bm_modcfg_present(df)) {
        if (!json_is_string(df) || !bm_modcfg_valid_path(json_string_value(df)))
            return bm_modcfg_fail(err, errlen, "scoringConfig.dataField",
                                  "must be a dotted path under data (e.g. score)");
        cfg->field = strdup(json_string_value(df));
    } else if (cfg->agg != TN_COUNT && !cfg->formula) {
        return bm_modcfg_fail(err, errlen, "scoringConfig.dataField",
                              "required unless aggregation is count or a formula is given");
    }
    return 0;
}

static int add_communities(tn_cfg *cfg, json_t *arr, const char *path, char *err, size_t errlen)
{
    if (!bm_modcfg_present(arr))
        return 0;
    if (!json_is_array(arr))
        return bm_modcfg_fail(err, errlen, path, "must be an array of community ids");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char p[96];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (!json_is_string(v) || !*json_string_value(v) || json_string_length(v) > 64)
            return bm_modcfg_fail(err, errlen, p, "must be a community id");
        int seen = 0;
        for (size_t k = 0; k < cfg->ncommunities && !seen; k++)
            seen = strcmp(cfg->communities[k], json_string_value(v)) == 0;
        if (seen)
            continue;
        if (cfg->ncommunities == TN_MAX_COMMUNITIES)
            return bm_modcfg_fail(err, errlen, p, "at most %d communities", TN_MAX_COMMUNITIES);
        cfg->communities[cfg->ncommunities++] = strdup(json_string_value(v));
    }
    return 0;
}

static int parse_entry(tn_cfg *cfg, json_t *root, char *err, size_t errlen)
{
    static const char *const keys[] = {"fee", "tokenType", "communities", "minLevel", NULL};
    static const char *const gkeys[] = {"communities", "minLevel", NULL};
    json_t *e = json_object_get(root, "entryRequirements");
    if (bm_modcfg_present(e)) {
        if (!json_is_object(e))
            return bm_modcfg_fail(err, errlen, "entryRequirements", "must be an object");
        if (bm_modcfg_check_keys(e, "entryRequirements", keys, err, errlen))
            return -1;
        json_t *fee = json_object_get(e, "fee");
        if (bm_modcfg_present(fee)) {
            if (!bm_modcfg_is_number(fee) || json_number_value(fee) < 0)
                return bm_modcfg_fail(err, errlen, "entryRequirements.fee",
                                      "must be a number >= 0");
            cfg->fee = json_number_value(fee);
        }
        json_t *tt = json_object_get(e, "tokenType");
        if (bm_modcfg_present(tt) &&
            !(json_is_string(tt) && (strcmp(json_string_value(tt), "native") == 0 ||
                                     strcmp(json_string_value(tt), "erc20") == 0 ||
                                     strcmp(json_string_value(tt), "nft") == 0)))
            return bm_modcfg_fail(err, errlen, "entryRequirements.tokenType",
                                  "must be one of native, erc20, nft");
        json_t *ml = json_object_get(e, "minLevel");
        if (bm_modcfg_present(ml)) {
            if (!bm_modcfg_is_number(ml) || json_number_value(ml) < 0)
                return bm_modcfg_fail(err, errlen, "entryRequirements.minLevel",
                                      "must be a number >= 0");
            cfg->has_level = 1;
            cfg->min_level = json_number_value(ml);
        }
        if (add_communities(cfg, json_object_get(e, "communities"), "entryRequirements.communities",
                            err, errlen))
            return -1;
    }
    json_t *g = json_object_get(root, "gating");
    if (bm_modcfg_present(g)) {
        if (!json_is_object(g))
            return bm_modcfg_fail(err, errlen, "gating", "must be an object");
        if (bm_modcfg_check_keys(g, "gating", gkeys, err, errlen))
            return -1;
        json_t *ml = json_object_get(g, "minLevel");
        if (bm_modcfg_present(ml)) {
            if (!bm_modcfg_is_number(ml) || json_number_value(ml) < 0)
                return bm_modcfg_fail(err, errlen, "gating.minLevel", "must be a number >= 0");
            if (!cfg->has_level || json_number_value(ml) > cfg->min_level)
                cfg->min_level = json_number_value(ml);
            cfg->has_level = 1;
        }
        if (add_communities(cfg, json_object_get(g, "communities"), "gating.communities", err,
                            errlen))
            return -1;
    }
    return 0;
}

static int parse_line(tn_cfg *cfg, json_t *d, size_t i, char *err, size_t errlen)
{
    static const char *const keys[] = {"rank", "rankTo", "percentage", NULL};
    char p[96], q[112];
    snprintf(p, sizeof p, "prizePool.distribution[%zu]", i);
    if (!json_is_object(d))
        return bm_modcfg_fail(err, errlen, p, "must be an object {rank, percentage}");
    if (bm_modcfg_check_keys(d, p, keys, err, errlen))
        return -1;
    json_t *r = json_object_get(d, "rank"), *to = json_object_get(d, "rankTo");
    json_t *pc = json_object_get(d, "percentage");
    snprintf(q, sizeof q, "%s.rank", p);
    if (!whole_in(r, 1, TN_MAX_PRIZE_RANK))
        return bm_modcfg_fail(err, errlen, q, "must be an integer 1..%d", TN_MAX_PRIZE_RANK);
    tn_prize_line *l = &cfg->lines[cfg->nlines];
    l->from = l->to = (int)json_integer_value(r);
    if (bm_modcfg_present(to)) {
        snprintf(q, sizeof q, "%s.rankTo", p);
        if (!whole_in(to, l->from, TN_MAX_PRIZE_RANK))
            return bm_modcfg_fail(err, errlen, q, "must be an integer rank..%d", TN_MAX_PRIZE_RANK);
        l->to = (int)json_integer_value(to);
    }
    snprintf(q, sizeof q, "%s.percentage", p);
    double pv = bm_modcfg_is_number(pc) ? json_number_value(pc) : -1;
    double bp = pv * 100;
    if (!(pv > 0 && pv <= 100) || fabs(bp - round(bp)) > 1e-6)
        return bm_modcfg_fail(err, errlen, q,
                              "must be a number in (0, 100] with at most two decimals");
    l->bp = (int64_t)llround(bp);
    for (size_t k = 0; k < cfg->nlines; k++)
        if (cfg->lines[k].from <= l->to && l->from <= cfg->lines[k].to)
            return bm_modcfg_fail(err, errlen, q, "ranks %d..%d overlap distribution[%zu]", l->from,
                                  l->to, k);
    cfg->nlines++;
    return 0;
}

static int parse_prizes(tn_cfg *cfg, json_t *pp, char *err, size_t errlen)
{
    static const char *const keys[] = {"totalValue", "decimals",     "distribution",
                                       "rewardType", "rewardConfig", NULL};
    static const char *const rtypes[] = {"token", "nft", "in_game", "webhook", NULL};
    if (!bm_modcfg_present(pp))
        return 0;
    if (!json_is_object(pp))
        return bm_modcfg_fail(err, errlen, "prizePool", "must be an object");
    if (bm_modcfg_check_keys(pp, "prizePool", keys, err, errlen))
        return -1;
    json_t *dec = json_object_get(pp, "decimals");
    if (bm_modcfg_present(dec) && !whole_in(dec, 0, 9))
        return bm_modcfg_fail(err, errlen, "prizePool.decimals", "must be an integer 0..9");
    cfg->decimals = bm_modcfg_present(dec) ? (int)json_integer_value(dec) : 0;
    json_t *tv = json_object_get(pp, "totalValue");
    double unit = pow(10, cfg->decimals);
    double minor = bm_modcfg_is_number(tv) ? json_number_value(tv) * unit : -1;
    if (!(minor >= 0) || minor > (double)TN_MAX_MINOR || fabs(minor - round(minor)) > 1e-6)
        return bm_modcfg_fail(err, errlen, "prizePool.totalValue",
                              "must be a number >= 0 with at most `decimals` decimals (below "
                              "2^53 minor units)");
    cfg->total_minor = (int64_t)llround(minor);
    json_t *dist = json_object_get(pp, "distribution");
    if (!json_is_array(dist) || json_array_size(dist) > TN_MAX_PRIZE_LINES)
        return bm_modcfg_fail(err, errlen, "prizePool.distribution",
                              "required, an array of at most %d {rank, percentage}",
                              TN_MAX_PRIZE_LINES);
    size_t i;
    json_t *d;
    int64_t bp_all = 0;
    json_array_foreach(dist, i, d)
    {
        if (parse_line(cfg, d, i, err, errlen))
            return -1;
        const tn_prize_line *l = &cfg->lines[cfg->nlines - 1];
        bp_all += l->bp * (l->to - l->from + 1);
    }
    if (bp_all > 10000)
        return bm_modcfg_fail(err, errlen, "prizePool.distribution",
                              "percentages sum to %.2f, more than 100", (double)bp_all / 100);
    json_t *rt = json_object_get(pp, "rewardType");
    int ok = 0;
    for (const char *const *a = rtypes; json_is_string(rt) && *a && !ok; a++)
        ok = strcmp(*a, json_string_value(rt)) == 0;
    if (!ok)
        return bm_modcfg_fail(err, errlen, "prizePool.rewardType",
                              "required, one of token, nft, in_game, webhook");
    cfg->reward_type = strdup(json_string_value(rt));
    json_t *rc = json_object_get(pp, "rewardConfig");
    if (bm_modcfg_present(rc) && !json_is_object(rc))
        return bm_modcfg_fail(err, errlen, "prizePool.rewardConfig", "must be an object");
    cfg->reward_config =
        json_is_object(rc) ? json_dumps(rc, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
    return 0;
}

/* scoreBy "player" (default) or "community", and communityPrizeSplit. */
static int parse_score_by(tn_cfg *cfg, json_t *root, char *err, size_t errlen)
{
    json_t *sb = json_object_get(root, "scoreBy"),
           *sp = json_object_get(root, "communityPrizeSplit");
    if (bm_modcfg_present(sb)) {
        const char *s = json_string_value(sb);
        if (!s || (strcmp(s, "player") != 0 && strcmp(s, "community") != 0))
            return bm_modcfg_fail(err, errlen, "scoreBy", "must be player or community");
        cfg->by_community = strcmp(s, "community") == 0;
    }
    if (cfg->by_community && cfg->ncommunities == 0)
        return bm_modcfg_fail(err, errlen, "scoreBy",
                              "community needs the competing communities in "
                              "entryRequirements.communities or gating.communities");
    if (bm_modcfg_present(sp)) {
        const char *s = json_string_value(sp);
        if (!cfg->by_community)
            return bm_modcfg_fail(err, errlen, "communityPrizeSplit",
                                  "only with scoreBy community");
        if (!s || (strcmp(s, "equal") != 0 && strcmp(s, "score") != 0))
            return bm_modcfg_fail(err, errlen, "communityPrizeSplit", "must be equal or score");
        cfg->split_by_score = strcmp(s, "score") == 0;
    }
    return 0;
}

/*
 * resetSchedule (the leaderboard's calendar: daily, weekly, monthly or
 * periodSeconds, with utcOffsetMinutes) plus duration (seconds, at most the
 * period): a run at every period start inside the window. Both or neither.
 */
static int parse_recurring(tn_cfg *cfg, json_t *root, char *err, size_t errlen)
{
    json_t *rs = json_object_get(root, "resetSchedule"), *du = json_object_get(root, "duration");
    if (!bm_modcfg_present(rs) && !bm_modcfg_present(du))
        return 0;
    if (!bm_modcfg_present(rs))
        return bm_modcfg_fail(err, errlen, "duration", "only with a resetSchedule");
    if (json_is_object(rs) && json_object_get(rs, "graceSeconds"))
        return bm_modcfg_fail(err, errlen, "resetSchedule.graceSeconds",
                              "not for tournaments: gracePeriodSeconds applies to every run");
    if (bm_period_parse(rs, "resetSchedule", cfg->grace_ms, &cfg->sched, err, errlen))
        return -1;
    int64_t longest = cfg->sched.kind == BM_PERIOD_MONTHLY ? 28 * 86400 : cfg->sched.len_ms / 1000;
    if (!whole_in(du, 1, longest))
        return bm_modcfg_fail(err, errlen, "duration",
                              "required with resetSchedule: seconds, an integer 1..%lld (the "
                              "shortest period)",
                              (long long)longest);
    cfg->recurring = 1;
    cfg->duration_ms = json_integer_value(du) * 1000;
    int64_t ps, pe, run, run_end;
    int64_t idx = bm_period_of(&cfg->sched, cfg->start_ms, &ps, &pe);
    if (tn_run_at(cfg, idx, &run, &run_end) != 0 && tn_run_at(cfg, idx + 1, &run, &run_end) != 0)
        return bm_modcfg_fail(err, errlen, "resetSchedule",
                              "no run fits between startDate and endDate");
    return 0;
}

tn_cfg *tn_cfg_parse(const bm_host_api *api, bm_host *host, const bm_campaign *c, char *err,
                     size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loads(c->config_json, 0, &jerr);
    tn_cfg *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "config: not a JSON object (%s)", jerr.text);
        goto fail;
    }
    cfg->id = strdup(c->id);
    if (bm_modcfg_window(root, err, errlen))
        goto fail;
    if (!c->start_ms || !c->end_ms) {
        bm_modcfg_fail(err, errlen, c->start_ms ? "endDate" : "startDate",
                       "required: a tournament has a start and an end");
        goto fail;
    }
    cfg->start_ms = c->start_ms;
    cfg->end_ms = c->end_ms;
    json_t *v = json_object_get(root, "maxParticipants");
    if (bm_modcfg_present(v) && !whole_in(v, 1, 10000000)) {
        bm_modcfg_fail(err, errlen, "maxParticipants", "must be an integer 1..10000000");
        goto fail;
    }
    cfg->max_participants = bm_modcfg_present(v) ? (int)json_integer_value(v) : 0;
    v = json_object_get(root, "maxAttempts");
    if (bm_modcfg_present(v) && !whole_in(v, 1, 1000000)) {
        bm_modcfg_fail(err, errlen, "maxAttempts", "must be an integer 1..1000000");
        goto fail;
    }
    cfg->max_attempts = bm_modcfg_present(v) ? (int)json_integer_value(v) : 0;
    v = json_object_get(root, "joinRequired");
    if (bm_modcfg_present(v) && !json_is_boolean(v)) {
        bm_modcfg_fail(err, errlen, "joinRequired", "must be true or false");
        goto fail;
    }
    cfg->join_required = json_is_true(v);
    v = json_object_get(root, "gracePeriodSeconds");
    if (bm_modcfg_present(v) && !whole_in(v, 0, 7 * 86400)) {
        bm_modcfg_fail(err, errlen, "gracePeriodSeconds", "must be an integer 0..604800");
        goto fail;
    }
    cfg->grace_ms = bm_modcfg_present(v) ? json_integer_value(v) * 1000 : 60000;
    if (parse_recurring(cfg, root, err, errlen))
        goto fail;
    if (parse_scoring(api, host, cfg, json_object_get(root, "scoringConfig"), err, errlen) ||
        parse_entry(cfg, root, err, errlen) ||
        parse_prizes(cfg, json_object_get(root, "prizePool"), err, errlen) ||
        parse_score_by(cfg, root, err, errlen))
        goto fail;
    json_decref(root);
    return cfg;
fail:
    json_decref(root);
    tn_cfg_free(api, cfg);
    return NULL;
}
