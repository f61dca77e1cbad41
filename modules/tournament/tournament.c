/*
 * tournament.so: a window, seats, entry requirements, a score per player and
 * a prize pool split by rank (product document, "Tournaments"). Semantics
 * are in README.md.
 *
 * Entries and joins are command events (bm.tournament.entry / join) on
 * game.events keyed by user, so they run in the same exactly-once batch as
 * that user's scores. Everything per player lives in the host state:
 * value = score, count = counted attempts, first_ms = seat time (event time
 * of the first counted score), reached_ms = when the score last changed,
 * flags = entered / joined, aux = fee paid.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <brightmatter/module.h>

#include "tournament.h"

#define TOPIC_EVENTS "tournament.events"
#define TOPIC_UI "ui.tournament_updates"

typedef struct tn_instance {
    const bm_host_api *api;
    bm_host *host;
} tn_instance;

static void format_time(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)(ms - (int64_t)s * 1000));
}

static void emit_json(const tn_instance *ti, bm_batch *b, const char *topic, const char *key,
                      json_t *msg, int flags)
{
    char *s = msg ? json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (s)
        ti->api->emit(b, topic, key, s, flags);
    free(s);
    json_decref(msg);
}

/* A refused command or score, on both topics, with its reason. */
static void refuse(const tn_instance *ti, const tn_cfg *cfg, bm_batch *b, const char *user,
                   const char *what, const char *reason, int64_t t)
{
    char when[40], metric[64];
    format_time(t, when, sizeof when);
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "refused", "campaignId", cfg->id,
                          "userId", user, "command", what, "reason", reason);
    json_object_set_new(m, "timestamp", json_string(when));
    emit_json(ti, b, TOPIC_EVENTS, user, json_incref(m), 0);
    emit_json(ti, b, TOPIC_UI, user, m, 0);
    snprintf(metric, sizeof metric, "tournament_refused_%s", reason);
    ti->api->metric_add(ti->host, metric, 1);
}

/* Past the run's end + grace the results may already be final: nothing changes any more. */
static int closed(const tn_instance *ti, const tn_cfg *cfg, int64_t run_end)
{
    return ti->api->now_ms(ti->host) >= run_end + cfg->grace_ms;
}

static int on_command(const tn_instance *ti, const tn_cfg *cfg, bm_batch *b, const bm_event *ev,
                      int join)
{
    const bm_host_api *api = ti->api;
    const char *cid = api->event_string(ev, "campaignId");
    if (!cid || strcmp(cid, cfg->id) != 0)
        return BM_SKIP;
    const char *user = api->event_user(ev);
    const char *what = join ? "join" : "entry";
    int64_t t = api->event_time_ms(ev);
    int64_t run, run_end;
    if (tn_run_for_command(cfg, t, &run, &run_end) != 0 || closed(ti, cfg, run_end)) {
        refuse(ti, cfg, b, user, what, "ended", t);
        return BM_SKIP;
    }
    double paid = 0;
    if (api->event_number(ev, "amount", &paid) != 0 || !isfinite(paid))
        paid = 0;
    bm_state *st = api->state_get(b, cfg->id, user);
    if (!st)
        return BM_RETRY;
    tn_slot sl;
    tn_slot_get(cfg, st, run, &sl);
    int bit = join ? TN_FLAG_JOINED : TN_FLAG_ENTERED;
    if (join && cfg->fee > 0)
        bit |= TN_FLAG_ENTERED; /* a join carries the fee when there is one */
    bit &= ~sl.flags;
    if (!bit)
        return BM_SKIP; /* a repeated command changes nothing */
    if ((bit & TN_FLAG_ENTERED) && cfg->fee > 0 && paid < cfg->fee) {
        refuse(ti, cfg, b, user, what, "fee_too_low", t);
        return BM_SKIP;
    }
    sl.flags |= bit;
    if (paid > sl.aux)
        sl.aux = paid;
    if (tn_slot_put(api, ti->host, cfg, b, st, run, &sl) != BM_OK)
        return BM_RETRY;
    char when[40];
    format_time(t, when, sizeof when);
    json_t *m = json_pack("{s:s, s:s, s:s, s:f, s:s}", "type", join ? "joined" : "entered",
                          "campaignId", cfg->id, "userId", user, "paid", paid, "timestamp", when);
    emit_json(ti, b, TOPIC_EVENTS, user, json_incref(m), 0);
    emit_json(ti, b, TOPIC_UI, cfg->id, m, 0);
    return BM_OK;
}

/* Score of one event, or BM_SKIP / BM_ERROR. */
static int score_of(const tn_instance *ti, const tn_cfg *cfg, const bm_event *ev, double *x)
{
    if (cfg->formula) {
        int rc = ti->api->formula_eval(cfg->formula, ev, x);
        if (rc != BM_OK)
            return rc;
    } else if (cfg->field) {
        if (ti->api->event_number(ev, cfg->field, x) != 0)
            return BM_SKIP;
    } else {
        *x = 1;
    }
    return isfinite(*x) ? BM_OK : BM_SKIP;
}

/* Any-of community gating; a host without community support admits nobody. */
static int member_ok(const tn_instance *ti, const tn_cfg *cfg, bm_batch *b, const char *user)
{
    for (size_t i = 0; i < cfg->ncommunities; i++)
        if (ti->api->community_member(b, cfg->communities[i], user) == 1)
            return 1;
    return cfg->ncommunities == 0;
}

/*
 * scoreBy community: the community a player scores for is the first listed one
 * they are an active member of at their first counted score (of the run), kept
 * with the player's standing; later scores count only while they are still an
 * active member of it. 0 with sl->team filled, -1 when nothing counts.
 */
static int team_of(const tn_instance *ti, const tn_cfg *cfg, bm_batch *b, tn_slot *sl,
                   const char *user)
{
    if (sl->team[0])
        return ti->api->community_member(b, sl->team, user) == 1 ? 0 : -1;
    for (size_t i = 0; i < cfg->ncommunities; i++)
        if (ti->api->community_member(b, cfg->communities[i], user) == 1) {
            snprintf(sl->team, sizeof sl->team, "%s", cfg->communities[i]);
            return 0;
        }
    return -1;
}

static int on_score(const tn_instance *ti, const tn_cfg *cfg, bm_batch *b, const bm_event *ev)
{
    const bm_host_api *api = ti->api;
    int64_t t = api->event_time_ms(ev);
    int64_t run, run_end;
    if (tn_run_of(cfg, t, &run, &run_end) != 0)
        return BM_SKIP;
    if (closed(ti, cfg, run_end)) {
        api->metric_add(ti->host, "tournament_late_events", 1);
        return BM_SKIP;
    }
    const char *user = api->event_user(ev);
    if (cfg->has_level) {
        double lvl;
        /* The player's level as the host keeps it (this event's own level included). */
        if (api->player_level(b, ev, &lvl) != 0 || lvl < cfg->min_level)
            return BM_SKIP;
    }
    if (!cfg->by_community && !member_ok(ti, cfg, b, user))
        return BM_SKIP;
    double x = 0;
    int rc = score_of(ti, cfg, ev, &x);
    if (rc != BM_OK)
        return rc;
    bm_state *st = api->state_get(b, cfg->id, user);
    if (!st)
        return BM_RETRY;
    tn_slot sl;
    tn_slot_get(cfg, st, run, &sl);
    if ((cfg->fee > 0 && !(sl.flags & TN_FLAG_ENTERED)) ||
        (cfg->join_required && !(sl.flags & TN_FLAG_JOINED))) {
        api->metric_add(ti->host, "tournament_scores_without_entry", 1);
        return BM_SKIP;
    }
    if (cfg->max_attempts > 0 && sl.count >= cfg->max_attempts) {
        api->metric_add(ti->host, "tournament_attempts_over_limit", 1);
        return BM_SKIP;
    }
    if (cfg->by_community && team_of(ti, cfg, b, &sl, user) != 0)
        return BM_SKIP;
    double before = sl.value;
    int first = sl.count == 0;
    switch (cfg->agg) {
    case TN_SUM:
        sl.value += x;
        break;
    case TN_MAX:
        if (first || x > sl.value)
            sl.value = x;
        break;
    case TN_COUNT:
        sl.value += 1;
        break;
    }
    sl.count++;
    if (first || t < sl.first_ms)
        sl.first_ms = t;
    if (t > sl.updated_ms)
        sl.updated_ms = t;
    if (first || sl.value != before)
        sl.reached_ms = t;
    if (tn_slot_put(api, ti->host, cfg, b, st, run, &sl) != BM_OK)
        return BM_RETRY;
    char key[512], when[40];
    snprintf(key, sizeof key, "%s:%s", cfg->id, user);
    format_time(t, when, sizeof when);
    json_t *m = json_pack("{s:s, s:s, s:s, s:f, s:I, s:s}", "type", "score", "campaignId", cfg->id,
                          "userId", user, "score", sl.value, "attempts", (json_int_t)sl.count,
                          "timestamp", when);
    if (m && cfg->recurring) {
        char rn[40];
        tn_run_name(cfg, run, rn, sizeof rn);
        json_object_set_new(m, "period", json_string(rn));
    }
    emit_json(ti, b, TOPIC_EVENTS, key, m, BM_EMIT_COALESCE);
    emit_json(ti, b, TOPIC_UI, cfg->id,
              json_pack("{s:s, s:s}", "type", "standings_changed", "campaignId", cfg->id),
              BM_EMIT_COALESCE);
    return BM_OK;
}

static int tn_init(const bm_host_api *api, bm_host *host, void **instance, char *err, size_t errlen)
{
    if (api->size < offsetof(bm_host_api, player_level) + sizeof api->player_level ||
        !api->player_level) {
        snprintf(err, errlen, "host API 2 required (claim_once, standings, result rows); size %u",
                 (unsigned)api->size);
        return BM_ERROR;
    }
    tn_instance *ti = calloc(1, sizeof *ti);
    if (!ti) {
        snprintf(err, errlen, "out of memory");
        return BM_ERROR;
    }
    ti->api = api;
    ti->host = host;
    *instance = ti;
    return BM_OK;
}

static int tn_campaign_add(void *instance, const bm_campaign *c, bm_routes *routes, void **cctx,
                           char *err, size_t errlen)
{
    tn_instance *ti = instance;
    tn_cfg *cfg = tn_cfg_parse(ti->api, ti->host, c, err, errlen);
    if (!cfg)
        return BM_ERROR;
    if (routes && (ti->api->route(routes, cfg->event_type) | ti->api->route(routes, TN_CMD_ENTRY) |
                   ti->api->route(routes, TN_CMD_JOIN)) != 0) {
        snprintf(err, errlen, "scoringConfig.eventType: cannot subscribe to the event types");
        tn_cfg_free(ti->api, cfg);
        return BM_ERROR;
    }
    *cctx = cfg;
    return BM_OK;
}

static void tn_campaign_remove(void *instance, void *cctx)
{
    tn_instance *ti = instance;
    tn_cfg_free(ti->api, cctx);
}

static int tn_on_event(void *instance, void *cctx, bm_batch *b, const bm_event *ev)
{
    const tn_instance *ti = instance;
    const tn_cfg *cfg = cctx;
    const char *type = ti->api->event_type(ev);
    if (strcmp(type, TN_CMD_ENTRY) == 0)
        return on_command(ti, cfg, b, ev, 0);
    if (strcmp(type, TN_CMD_JOIN) == 0)
        return on_command(ti, cfg, b, ev, 1);
    return on_score(ti, cfg, b, ev);
}

/* 1 once this process saw run `run` finalised. */
static int run_done(const tn_cfg *cfg, int64_t run)
{
    for (int i = 0; i < TN_KEEP_RUNS; i++)
        if (cfg->done_runs[i] == run)
            return 1;
    return 0;
}

/*
 * Recurring: every run of the last TN_KEEP_RUNS periods that ended more than
 * grace (+ TN_SETTLE_MS on a tick) ago and is not known finalised is
 * finalised, oldest first; `force` (the campaign ended) does not wait.
 */
static int finalise_runs(const tn_instance *ti, tn_cfg *cfg, bm_batch *b, int64_t now, int force,
                         int cancelled)
{
    int64_t ps, pe;
    int64_t cur = bm_period_of(&cfg->sched, now, &ps, &pe);
    int rc = BM_SKIP;
    for (int64_t idx = cur - TN_KEEP_RUNS + 1; idx <= cur; idx++) {
        int64_t run, run_end;
        if (tn_run_at(cfg, idx, &run, &run_end) != 0 || run_done(cfg, run))
            continue;
        if (cancelled ? now < run
            : force   ? now < run_end
                      : now < run_end + cfg->grace_ms + TN_SETTLE_MS)
            continue;
        int r = tn_finalise(ti->api, ti->host, cfg, b, now, cancelled, run);
        /* A claim seen taken is checked once more 10 s later: a claim still in a
         * batch being committed reads as taken, and that batch may fail. */
        int done = r == BM_OK;
        if (r == BM_SKIP) {
            int i = 0;
            while (i < TN_KEEP_RUNS && cfg->seen_run[i] != run)
                i++;
            if (i < TN_KEEP_RUNS) {
                done = now - cfg->seen_ms[i] >= 10000;
            } else {
                memmove(cfg->seen_run + 1, cfg->seen_run,
                        (TN_KEEP_RUNS - 1) * sizeof cfg->seen_run[0]);
                memmove(cfg->seen_ms + 1, cfg->seen_ms,
                        (TN_KEEP_RUNS - 1) * sizeof cfg->seen_ms[0]);
                cfg->seen_run[0] = run;
                cfg->seen_ms[0] = now;
            }
        }
        if (done) {
            memmove(cfg->done_runs + 1, cfg->done_runs,
                    (TN_KEEP_RUNS - 1) * sizeof cfg->done_runs[0]);
            cfg->done_runs[0] = run;
        }
        if (r == BM_OK)
            rc = BM_OK;
        else if (r != BM_SKIP)
            return r;
    }
    return rc;
}

/* Time: the start (of each run) is announced once; after the end + grace +
 * settle the tournament (each run) is finalised. */
static int tn_campaign_tick(void *instance, void *cctx, bm_batch *b, int64_t now_ms)
{
    const tn_instance *ti = instance;
    tn_cfg *cfg = cctx;
    tn_announce_start(ti->api, cfg, b, now_ms);
    if (cfg->recurring) {
        int rc = finalise_runs(ti, cfg, b, now_ms, 0, 0);
        return rc == BM_RETRY ? BM_ERROR : rc;
    }
    if (cfg->final_done || now_ms < cfg->end_ms + cfg->grace_ms + TN_SETTLE_MS)
        return BM_SKIP;
    int rc = tn_finalise(ti->api, ti->host, cfg, b, now_ms, 0, 0);
    return rc == BM_RETRY ? BM_ERROR : rc;
}

/* The host ended the campaign (its own grace may be shorter than ours): finalise now
 * (every ended run of a recurring one), unless it was cancelled, which records the
 * end without prizes. */
static int tn_campaign_end(void *instance, void *cctx, bm_batch *b, int reason, int64_t now_ms)
{
    const tn_instance *ti = instance;
    tn_cfg *cfg = cctx;
    int cancelled = reason == BM_END_CANCELLED;
    int rc = cfg->recurring ? finalise_runs(ti, cfg, b, now_ms, 1, cancelled)
                            : tn_finalise(ti->api, ti->host, cfg, b, now_ms, cancelled, 0);
    return rc == BM_RETRY ? BM_ERROR : rc;
}

/* {"prizes":[{"rank","prize"}...],"totalMinor","decimals"}: the payout table as configured. */
static int tn_query(void *instance, void *cctx, const char *request_json, char **response)
{
    (void)instance;
    (void)request_json;
    const tn_cfg *cfg = cctx;
    int pr = tn_prize_ranks(cfg);
    int64_t *table = calloc((size_t)pr + 1, sizeof *table);
    if (!table)
        return BM_ERROR;
    int64_t sum = tn_prize_table(cfg, table, pr);
    json_t *arr = json_array();
    for (int r = 0; r < pr; r++)
        if (table[r] > 0)
            json_array_append_new(
                arr, json_pack("{s:i, s:I}", "rank", r + 1, "prize", (json_int_t)table[r]));
    free(table);
    json_t *root =
        json_pack("{s:o, s:I, s:I, s:i}", "prizes", arr, "totalMinor", (json_int_t)cfg->total_minor,
                  "paidMinor", (json_int_t)sum, "decimals", cfg->decimals);
    *response = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return *response ? BM_OK : BM_ERROR;
}

static void tn_destroy(void *instance)
{
    free(instance);
}

static const bm_module tournament_module = {
    BM_MODULE_HEADER,
    .name = "tournament",     /* unique module name */
    .version = "1.0.0",       /* semantic version of this module */
    .kind = BM_KIND_CAMPAIGN, /* consumes game events and commands */
    .flags = 0,               /* reserved */
    .serves = "tournament",   /* campaign type handled */
    .description = "tournaments: window, seats, entry fee, scoring, prize pool by rank",
    .init = tn_init,                       /* instance = host API + host */
    .campaign_add = tn_campaign_add,       /* validate, compile the formula, subscribe */
    .campaign_remove = tn_campaign_remove, /* free config and formula */
    .on_event = tn_on_event,               /* scores, entry and join commands */
    .on_tick = NULL,                       /* time is per campaign (on_campaign_tick) */
    .on_reward = NULL,                     /* not a reward module */
    .query = tn_query,                     /* the payout table */
    .drain = NULL,                         /* nothing buffered in the module */
    .destroy = tn_destroy,                 /* free the instance */
    .on_campaign_tick = tn_campaign_tick,  /* start announcement, finalisation */
    .campaign_changed = NULL,              /* nothing kept outside the config */
    .on_campaign_end = tn_campaign_end,    /* finalise (or record a cancellation) */
    .spare = {NULL},                       /* must stay NULL */
};

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    return &tournament_module;
}
