/*
 * battlepass module: seasonal XP, tiers, free and premium reward tracks
 * (product document, "Battle Passes"). Semantics are in README.md.
 *
 * Purchases and claims are command events (bm.battlepass.purchase / claim)
 * on game.events keyed by user, so they run in the same exactly-once batch
 * as that user's game events. Everything per user lives in the host state:
 * value = total XP, aux = the tier the player is on (1-based, as the product
 * numbers it), count = events that gave XP, flags bit 0 = purchased, doc =
 * claims and daily counters.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <brightmatter/module.h>

#include "battlepass.h"
#include "rfc3339.h"

#define TOPIC_PROGRESS "battlepass.progress"
#define TOPIC_UI "ui.battlepass_updates"
#define DAY_MS 86400000LL
#define FLAG_PURCHASED 1

typedef struct bp_instance {
    const bm_host_api *api;
    bm_host *host;
} bp_instance;

/* A sorted set of tier numbers. */
typedef struct bp_set {
    int *v;
    size_t n;
} bp_set;

/* The progress document, decoded. */
typedef struct bp_doc {
    int purchased;
    int64_t purchased_ms;
    bp_set claimed[2]; /* [0] free track, [1] premium track */
    int ndays;
    int64_t day[BP_KEEP_DAYS];                 /* UTC day numbers (ms / 86400000) */
    double used[BP_KEEP_DAYS][BP_MAX_SOURCES]; /* XP given per source that day */
} bp_doc;

static void format_time(int64_t ms, char *buf, size_t len)
{
    bm_rfc3339_format(ms, buf, len); /* the host's own source, compiled in */
}

static int64_t utc_day(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
}

static int set_has(const bp_set *s, int tier)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == tier)
            return 1;
    return 0;
}

static int set_add(bp_set *s, int tier)
{
    int *nv = realloc(s->v, (s->n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    size_t i = s->n;
    while (i > 0 && nv[i - 1] > tier) {
        nv[i] = nv[i - 1];
        i--;
    }
    nv[i] = tier;
    s->v = nv;
    s->n++;
    return 0;
}

static void doc_clear(bp_doc *d)
{
    free(d->claimed[0].v);
    free(d->claimed[1].v);
}

/* Decodes the document; missing or malformed parts read as empty. */
static void doc_read(const char *text, const bp_cfg *cfg, bp_doc *d)
{
    memset(d, 0, sizeof *d);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    d->purchased = json_integer_value(json_object_get(root, "p")) != 0;
    d->purchased_ms = json_integer_value(json_object_get(root, "pt"));
    static const char *const keys[2] = {"cf", "cp"};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(root, keys[k]), i, v)
        {
            int tier = (int)json_integer_value(v);
            if (!set_has(&d->claimed[k], tier))
                set_add(&d->claimed[k], tier);
        }
    }
    const char *key;
    json_t *arr;
    json_object_foreach(json_object_get(root, "d"), key, arr)
    {
        int slot = d->ndays;
        if (slot == BP_KEEP_DAYS) {
            /* Keep the latest days only (documents are written pruned; this is a guard). */
            slot = 0;
            for (int j = 1; j < d->ndays; j++)
                if (d->day[j] < d->day[slot])
                    slot = j;
            if (strtoll(key, NULL, 10) < d->day[slot])
                continue;
        } else {
            d->ndays++;
        }
        d->day[slot] = strtoll(key, NULL, 10);
        for (size_t i = 0; i < BP_MAX_SOURCES; i++)
            d->used[slot][i] = i < cfg->nsources ? json_number_value(json_array_get(arr, i)) : 0;
    }
    json_decref(root);
}

static json_t *set_json(const bp_set *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n; i++)
        json_array_append_new(a, json_integer(s->v[i]));
    return a;
}

/* {"t":tier,"tc":completed,"p":1,"pt":ms,"cf":[..],"cp":[..],"d":{"<day>":[xp per source]}},
 * empty parts left out. */
static char *doc_write(const bp_cfg *cfg, const bp_doc *d, int done)
{
    json_t *root = json_object();
    json_object_set_new(root, "t", json_integer(bp_cfg_current_tier(cfg, done)));
    json_object_set_new(root, "tc", json_integer(done));
    if (d->purchased) {
        json_object_set_new(root, "p", json_integer(1));
        json_object_set_new(root, "pt", json_integer(d->purchased_ms));
    }
    if (d->claimed[0].n)
        json_object_set_new(root, "cf", set_json(&d->claimed[0]));
    if (d->claimed[1].n)
        json_object_set_new(root, "cp", set_json(&d->claimed[1]));
    if (d->ndays) {
        json_t *days = json_object();
        for (int j = 0; j < d->ndays; j++) {
            char k[24];
            json_t *a = json_array();
            for (size_t i = 0; i < cfg->nsources; i++)
                json_array_append_new(a, json_real(d->used[j][i]));
            snprintf(k, sizeof k, "%lld", (long long)d->day[j]);
            json_object_set_new(days, k, a);
        }
        json_object_set_new(root, "d", days);
    }
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(root);
    return s;
}

/* Slot of `day` in the counters, adding it (and pruning days too old) if absent. */
static int day_slot(bp_doc *d, int64_t day)
{
    int64_t latest = day;
    for (int j = 0; j < d->ndays; j++) {
        if (d->day[j] == day)
            return j;
        if (d->day[j] > latest)
            latest = d->day[j];
    }
    int w = 0;
    for (int j = 0; j < d->ndays; j++) {
        if (d->day[j] > latest - BP_KEEP_DAYS) {
            d->day[w] = d->day[j];
            memcpy(d->used[w], d->used[j], sizeof d->used[w]);
            w++;
        }
    }
    d->ndays = w;
    if (d->ndays == BP_KEEP_DAYS)
        return -1;
    memset(d->used[d->ndays], 0, sizeof d->used[d->ndays]);
    d->day[d->ndays] = day;
    return d->ndays++;
}

/*
 * XP an event gives after daily limits, updating the counters. A limited
 * source gives nothing for an event more than BP_KEEP_DAYS-1 days older than
 * the newest counted day: that day's counter is no longer kept.
 */
static double apply_limits(const bp_cfg *cfg, bp_doc *d, const double *raw, int64_t t)
{
    int64_t day = utc_day(t), newest = INT64_MIN;
    for (int j = 0; j < d->ndays; j++)
        newest = d->day[j] > newest ? d->day[j] : newest;
    double total = 0;
    for (size_t i = 0; i < cfg->nsources; i++) {
        double x = raw[i];
        if (!(x > 0))
            continue;
        double limit = cfg->sources[i].daily_limit;
        if (limit > 0) {
            if (d->ndays && day <= newest - BP_KEEP_DAYS)
                continue;
            int slot = day_slot(d, day);
            if (slot < 0)
                continue;
            double room = limit - d->used[slot][i];
            x = x < room ? x : room;
            if (!(x > 0))
                continue;
            d->used[slot][i] += x;
        }
        total += x;
    }
    return total;
}

/* XP a source would give for an event before limits; <= 0 when it gives none. */
static double source_xp(const bm_host_api *api, const bp_source *s, const bm_event *ev,
                        const char *type)
{
    double x = 0;
    if (strcmp(type, s->event_type) != 0 || (s->filter && !api->event_matches(ev, s->filter)))
        return 0;
    if (s->formula) {
        if (api->formula_eval(s->formula, ev, &x) != BM_OK)
            return 0;
    } else if (s->field) {
        /* Numeric strings count, as they do for formulas (the host's one rule). */
        if (api->event_number(ev, s->field, &x) != 0)
            return 0;
        x *= s->xp_value;
    } else {
        x = s->xp_value;
    }
    return isfinite(x) && x > 0 ? x : 0;
}

/* Rewards the player could claim now, with `done` tiers completed. */
static int claimable(const bp_cfg *cfg, const bp_doc *d, int done)
{
    int n = 0;
    for (int i = 1; i <= done && i <= cfg->ntiers; i++) {
        const bp_tier *bt = &cfg->tiers[i - 1];
        if (bt->free_reward && (!cfg->entry_purchase || d->purchased) &&
            !set_has(&d->claimed[0], i))
            n++;
        if (bt->premium_reward && d->purchased && !set_has(&d->claimed[1], i))
            n++;
    }
    return n;
}

static void emit_json(const bp_instance *bi, bm_batch *b, const char *topic, const char *key,
                      json_t *msg, int flags)
{
    char *s = msg ? json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (s)
        bi->api->emit(b, topic, key, s, flags);
    free(s);
    json_decref(msg);
}

/* Total XP that completes the tier the player is on; null once all are completed. */
static json_t *next_xp(const bp_cfg *cfg, int done)
{
    return done < cfg->ntiers ? json_real(cfg->tiers[done].xp_required) : json_null();
}

/* Writes the document and state; then the coalesced UI snapshot. */
static int save(const bp_instance *bi, const bp_cfg *cfg, bm_batch *b, bm_state *st,
                const bp_doc *d, const char *user, int64_t t)
{
    int done = bp_cfg_tier_for(cfg, st->value);
    st->aux = bp_cfg_current_tier(cfg, done);
    st->flags = d->purchased ? (st->flags | FLAG_PURCHASED) : (st->flags & ~FLAG_PURCHASED);
    char *doc = doc_write(cfg, d, done);
    int rc = doc ? bi->api->state_set_doc(b, st, doc) : -1;
    free(doc);
    if (rc != 0 || bi->api->state_put(b, st, NULL) != 0)
        return BM_RETRY;
    char key[512], when[40];
    snprintf(key, sizeof key, "%s:%s", cfg->id, user);
    format_time(t, when, sizeof when);
    emit_json(bi, b, TOPIC_UI, key,
              json_pack("{s:s, s:s, s:s, s:f, s:i, s:i, s:o, s:b, s:i, s:s}", "type", "progress",
                        "campaignId", cfg->id, "userId", user, "xp", st->value, "tier",
                        bp_cfg_current_tier(cfg, done), "tiersCompleted", done, "nextTierXp",
                        next_xp(cfg, done), "purchased", d->purchased, "claimable",
                        claimable(cfg, d, done), "timestamp", when),
              BM_EMIT_COALESCE);
    return BM_OK;
}

static int on_xp(const bp_instance *bi, const bp_cfg *cfg, bm_batch *b, const bm_event *ev,
                 const char *type)
{
    const bm_host_api *api = bi->api;
    double raw[BP_MAX_SOURCES];
    int any = 0;
    for (size_t i = 0; i < cfg->nsources; i++) {
        raw[i] = source_xp(api, &cfg->sources[i], ev, type);
        any |= raw[i] > 0;
    }
    if (!any)
        return BM_SKIP;
    if (cfg->has_level) {
        /* The player's level as the host keeps it, not a field of this event. */
        double lvl;
        if (api->player_level(b, ev, &lvl) != 0 || lvl < cfg->required_level)
            return BM_SKIP;
    }
    const char *user = api->event_user(ev);
    if (!bm_modcfg_member_any(api, b, cfg->communities, user))
        return BM_SKIP;
    int64_t t = api->event_time_ms(ev);
    if (!bm_modcfg_member_any(api, b, cfg->entry_communities, user)) {
        /* The pass is for a community's members: the player is told why nothing counted. */
        char key[512], when[40];
        snprintf(key, sizeof key, "%s:%s:refused", cfg->id, user);
        format_time(t, when, sizeof when);
        emit_json(bi, b, TOPIC_PROGRESS, key,
                  json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "xp_refused", "campaignId",
                            cfg->id, "userId", user, "reason", "not_a_member", "timestamp", when),
                  BM_EMIT_COALESCE);
        api->metric_add(bi->host, "battlepass_xp_refused_not_member", 1);
        return BM_SKIP;
    }
    bm_state *st = api->state_get(b, cfg->id, user);
    if (!st)
        return BM_RETRY;
    bp_doc d;
    doc_read(st->doc, cfg, &d);
    /* XP counts from the pass's start whether or not the pass is bought yet: a
     * purchase unlocks what the player has already earned. */
    int rc = BM_SKIP;
    double xp = apply_limits(cfg, &d, raw, t);
    if (!(xp > 0))
        goto done;
    if (!isfinite(st->value + xp)) {
        /* An overflowing total would wipe the player's XP: refuse the event. */
        api->metric_add(bi->host, "battlepass_nonfinite_refused", 1);
        rc = BM_ERROR;
        goto done;
    }
    int before = bp_cfg_tier_for(cfg, st->value);
    st->value += xp;
    st->count++;
    if (st->count == 1)
        st->first_ms = t;
    st->updated_ms = t;
    st->reached_ms = t;
    rc = save(bi, cfg, b, st, &d, user, t);
    if (rc != BM_OK)
        goto done;
    int done_now = bp_cfg_tier_for(cfg, st->value);
    int tier = bp_cfg_current_tier(cfg, done_now);
    char key[512], when[40];
    snprintf(key, sizeof key, "%s:%s", cfg->id, user);
    format_time(t, when, sizeof when);
    emit_json(bi, b, TOPIC_PROGRESS, key,
              json_pack("{s:s, s:s, s:s, s:f, s:i, s:i, s:o, s:s}", "type", "xp", "campaignId",
                        cfg->id, "userId", user, "xp", st->value, "tier", tier, "tiersCompleted",
                        done_now, "nextTierXp", next_xp(cfg, done_now), "timestamp", when),
              BM_EMIT_COALESCE);
    if (done_now > before)
        emit_json(bi, b, TOPIC_UI, user,
                  json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "type", "tier_reached", "campaignId",
                            cfg->id, "userId", user, "tier", tier, "tiersCompleted", done_now,
                            "timestamp", when),
                  0);
done:
    doc_clear(&d);
    return rc;
}

/* Commands name their campaign in data.campaignId; others' commands are not ours. */
static int command_is_ours(const bm_host_api *api, const bp_cfg *cfg, const bm_event *ev)
{
    const char *cid = api->event_string(ev, "campaignId");
    return cid && strcmp(cid, cfg->id) == 0;
}

static int on_purchase(const bp_instance *bi, const bp_cfg *cfg, bm_batch *b, const bm_event *ev)
{
    const bm_host_api *api = bi->api;
    if (!command_is_ours(api, cfg, ev))
        return BM_SKIP;
    const char *user = api->event_user(ev);
    int64_t t = api->event_time_ms(ev);
    bm_state *st = api->state_get(b, cfg->id, user);
    if (!st)
        return BM_RETRY;
    bp_doc d;
    doc_read(st->doc, cfg, &d);
    int rc = BM_SKIP; /* a second purchase changes nothing, but is acknowledged */
    int repeated = d.purchased;
    if (!d.purchased) {
        d.purchased = 1;
        d.purchased_ms = t;
        rc = save(bi, cfg, b, st, &d, user, t);
    }
    if (rc == BM_OK || repeated) {
        char when[40], since[40], key[512];
        format_time(t, when, sizeof when);
        format_time(d.purchased_ms, since, sizeof since);
        snprintf(key, sizeof key, "%s:%s", cfg->id, user);
        int done = bp_cfg_tier_for(cfg, st->value);
        int tier = bp_cfg_current_tier(cfg, done);
        /* Every purchase command gets its answer on the progress topic, repeated or not. */
        emit_json(bi, b, TOPIC_PROGRESS, key,
                  json_pack("{s:s, s:s, s:s, s:b, s:s, s:s*, s:i, s:i, s:i, s:s}", "type",
                            "purchase", "campaignId", cfg->id, "userId", user, "repeated", repeated,
                            "purchasedAt", since, "eventId", api->event_id(ev), "tier", tier,
                            "tiersCompleted", done, "claimable", claimable(cfg, &d, done),
                            "timestamp", when),
                  0);
        if (!repeated)
            emit_json(bi, b, TOPIC_UI, user,
                      json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:s}", "type", "purchased",
                                "campaignId", cfg->id, "userId", user, "tier", tier,
                                "tiersCompleted", done, "claimable", claimable(cfg, &d, done),
                                "timestamp", when),
                      0);
    }
    doc_clear(&d);
    return rc;
}

static void refuse(const bp_instance *bi, const bp_cfg *cfg, bm_batch *b, const char *user,
                   double tier, int premium, const char *reason, int64_t t)
{
    char when[40];
    format_time(t, when, sizeof when);
    emit_json(bi, b, TOPIC_UI, user,
              json_pack("{s:s, s:s, s:s, s:f, s:s, s:s, s:s}", "type", "claim_refused",
                        "campaignId", cfg->id, "userId", user, "tier", tier, "track",
                        premium ? "premium" : "free", "reason", reason, "timestamp", when),
              0);
    bi->api->metric_add(bi->host, "battlepass_claims_refused", 1);
}

static int on_claim(const bp_instance *bi, const bp_cfg *cfg, bm_batch *b, const bm_event *ev)
{
    static const char premium_filter[] = "{\"premium\":true}";
    const bm_host_api *api = bi->api;
    if (!command_is_ours(api, cfg, ev))
        return BM_SKIP;
    const char *user = api->event_user(ev);
    int64_t t = api->event_time_ms(ev);
    int premium = api->event_matches(ev, premium_filter) != 0;
    double want = 0;
    if (api->event_number(ev, "tier", &want) != 0 || want != floor(want) || want < 1 ||
        want > cfg->ntiers) {
        refuse(bi, cfg, b, user, want, premium, "invalid_tier", t);
        return BM_SKIP;
    }
    int tier = (int)want;
    bm_state *st = api->state_get(b, cfg->id, user);
    if (!st)
        return BM_RETRY;
    bp_doc d;
    doc_read(st->doc, cfg, &d);
    const bp_tier *bt = &cfg->tiers[tier - 1];
    const char *reward = premium ? bt->premium_reward : bt->free_reward;
    const char *reason = NULL;
    if (!bm_modcfg_member_any(api, b, cfg->entry_communities, user))
        reason = "not_a_member";
    else if ((premium || cfg->entry_purchase) && !d.purchased)
        reason = "not_purchased";
    else if (tier > bp_cfg_tier_for(cfg, st->value))
        reason = "tier_not_reached";
    else if (!reward)
        reason = "no_reward";
    else if (set_has(&d.claimed[premium], tier))
        reason = "already_claimed";
    int rc = BM_SKIP;
    if (reason) {
        refuse(bi, cfg, b, user, want, premium, reason, t);
    } else if (set_add(&d.claimed[premium], tier) != 0) {
        rc = BM_RETRY;
    } else {
        char idem[512], when[40];
        snprintf(idem, sizeof idem, "bp:%s:%s:%d:%s", cfg->id, user, tier,
                 premium ? "premium" : "free");
        rc = api->reward_grant(b, cfg->id, user, idem, reward) >= 0 ? BM_OK : BM_RETRY;
        if (rc == BM_OK)
            rc = save(bi, cfg, b, st, &d, user, t);
        if (rc == BM_OK) {
            format_time(t, when, sizeof when);
            emit_json(bi, b, TOPIC_UI, user,
                      json_pack("{s:s, s:s, s:s, s:i, s:s, s:o*, s:s}", "type", "claimed",
                                "campaignId", cfg->id, "userId", user, "tier", tier, "track",
                                premium ? "premium" : "free", "reward", json_loads(reward, 0, NULL),
                                "timestamp", when),
                      0);
        }
    }
    doc_clear(&d);
    return rc;
}

static int bp_init(const bm_host_api *api, bm_host *host, void **instance, char *err, size_t errlen)
{
    if (api->size < offsetof(bm_host_api, player_level) + sizeof api->player_level ||
        !api->player_level) {
        snprintf(err, errlen, "host API too old (size %u, version %u; needs version 2)",
                 (unsigned)api->size, (unsigned)api->version);
        return BM_ERROR;
    }
    bp_instance *bi = calloc(1, sizeof *bi);
    if (!bi) {
        snprintf(err, errlen, "out of memory");
        return BM_ERROR;
    }
    bi->api = api;
    bi->host = host;
    *instance = bi;
    return BM_OK;
}

static int bp_campaign_add(void *instance, const bm_campaign *c, bm_routes *routes, void **cctx,
                           char *err, size_t errlen)
{
    bp_instance *bi = instance;
    bp_cfg *cfg = bp_cfg_parse(bi->api, bi->host, c->id, c->config_json, err, errlen);
    if (!cfg)
        return BM_ERROR;
    if (routes) {
        int rc = bi->api->route(routes, BP_CMD_PURCHASE) | bi->api->route(routes, BP_CMD_CLAIM);
        for (size_t i = 0; i < cfg->nsources && rc == 0; i++) {
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++)
                seen = strcmp(cfg->sources[j].event_type, cfg->sources[i].event_type) == 0;
            if (!seen)
                rc = bi->api->route(routes, cfg->sources[i].event_type);
        }
        if (rc != 0) {
            snprintf(err, errlen, "xpSources: cannot subscribe to the event types");
            bp_cfg_free(bi->api, cfg);
            return BM_ERROR;
        }
    }
    *cctx = cfg;
    return BM_OK;
}

static void bp_campaign_remove(void *instance, void *cctx)
{
    bp_instance *bi = instance;
    bp_cfg_free(bi->api, cctx);
}

static int bp_on_event(void *instance, void *cctx, bm_batch *b, const bm_event *ev)
{
    const bp_instance *bi = instance;
    const bp_cfg *cfg = cctx;
    const char *type = bi->api->event_type(ev);
    if (strcmp(type, BP_CMD_PURCHASE) == 0)
        return on_purchase(bi, cfg, b, ev);
    if (strcmp(type, BP_CMD_CLAIM) == 0)
        return on_claim(bi, cfg, b, ev);
    return on_xp(bi, cfg, b, ev, type);
}

static void bp_destroy(void *instance)
{
    free(instance);
}

static const bm_module battlepass_module = {
    BM_MODULE_HEADER,
    .name = "battlepass",     /* unique module name */
    .version = "1.0.0",       /* semantic version of this module */
    .kind = BM_KIND_CAMPAIGN, /* consumes game events and commands */
    .flags = 0,               /* reserved */
    .serves = "battlepass",   /* campaign type handled */
    .description = "season XP, tiers, free and premium reward tracks with claims",
    .init = bp_init,                       /* instance = host API + host */
    .campaign_add = bp_campaign_add,       /* validate, compile formulas, subscribe */
    .campaign_remove = bp_campaign_remove, /* free config and formulas */
    .on_event = bp_on_event,               /* XP, purchase and claim commands */
    .on_tick = NULL,                       /* nothing is time-driven */
    .on_reward = NULL,                     /* not a reward module */
    .query = NULL,                         /* progress is read from user_progress */
    .drain = NULL,                         /* nothing buffered in the module */
    .destroy = bp_destroy,                 /* free the instance */
    .spare = {NULL},                       /* must stay NULL */
};

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    return &battlepass_module;
}
