/*
 * tournament module: the end. After endDate + grace + TN_SETTLE_MS (wall
 * clock), every processor's tick tries; api->claim_once("finalise") lets
 * exactly one batch across processes and crashes do it: that batch reads the
 * committed standings, ranks them, writes the result rows
 * (module_results kind "tournament_result", copied to tournament_results by
 * the migration's trigger) and grants every prize with the key
 * tournament:<campaign>:<position>, all in its one transaction. If the
 * process dies before the commit, the claim, the rows and the grants vanish
 * together and the next tick (of any process) does it again.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tournament.h"

static void emit(const bm_host_api *api, bm_batch *b, const char *topic, const char *key,
                 json_t *msg)
{
    char *s = msg ? json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (s)
        api->emit(b, topic, key, s, 0);
    free(s);
    json_decref(msg);
}

static int put_json(const bm_host_api *api, bm_batch *b, const char *campaign, const char *kind,
                    const char *key, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    int rc = s ? api->result_put(b, campaign, kind, key, s) : BM_ERROR;
    free(s);
    json_decref(doc);
    return rc;
}

void tn_announce_start(const bm_host_api *api, tn_cfg *cfg, bm_batch *b, int64_t now)
{
    if (cfg->started_done || now < cfg->start_ms)
        return;
    int c = api->claim_once(b, "started");
    if (c < 0)
        return;
    cfg->started_done = 1;
    if (c == 0)
        return;
    json_t *m = json_pack("{s:s, s:s, s:I, s:I}", "type", "started", "campaignId", cfg->id,
                          "startMs", (json_int_t)cfg->start_ms, "endMs", (json_int_t)cfg->end_ms);
    emit(api, b, "tournament.events", cfg->id, json_incref(m));
    emit(api, b, "ui.tournament_updates", cfg->id, m);
}

/* The reward of one prize: rewardConfig plus amount (minor units), decimals, rank, position. */
static char *prize_json(const tn_cfg *cfg, const tn_result *r)
{
    json_t *conf = json_loads(cfg->reward_config, 0, NULL);
    if (!json_is_object(conf)) {
        json_decref(conf);
        conf = json_object();
    }
    json_object_set_new(conf, "amount", json_integer(r->prize));
    json_object_set_new(conf, "decimals", json_integer(cfg->decimals));
    json_object_set_new(conf, "rank", json_integer(r->rank));
    json_object_set_new(conf, "position", json_integer(r->position));
    json_t *rw = json_pack("{s:s, s:o}", "type", cfg->reward_type, "config", conf);
    char *s = rw ? json_dumps(rw, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(rw);
    return s;
}

typedef struct tn_team {
    char id[72];
} tn_team;

/* Every entrant with a counted score: committed standings, seat times from their states. */
static int read_entrants(const bm_host_api *api, bm_host *host, const tn_cfg *cfg, bm_batch *b,
                         bm_standing **rows, tn_entry **entries, tn_team **teams)
{
    *rows = calloc(TN_MAX_ENTRANTS, sizeof **rows);
    *entries = calloc(TN_MAX_ENTRANTS, sizeof **entries);
    *teams = cfg->by_community ? calloc(TN_MAX_ENTRANTS, sizeof **teams) : NULL;
    if (!*rows || !*entries || (cfg->by_community && !*teams))
        return -1;
    int n = api->standings_top(b, cfg->id, TN_MAX_ENTRANTS, *rows);
    if (n < 0)
        return -1;
    int contested = cfg->max_participants > 0 && n > cfg->max_participants;
    int k = 0;
    for (int i = 0; i < n; i++) {
        bm_standing *s = &(*rows)[i];
        if (s->reached_ms == 0)
            continue; /* joined or entered, never scored */
        int64_t seat = 0;
        const char *team = NULL;
        if (contested || cfg->by_community) {
            /* Seat times only matter when there are more entrants than seats; the
             * community a player scores for is in the player's state. */
            const bm_state *st = api->state_get(b, cfg->id, s->user_id);
            if (!st || st->count == 0)
                continue;
            seat = st->first_ms;
            if (cfg->by_community) {
                json_t *d = st->doc ? json_loads(st->doc, 0, NULL) : NULL;
                const char *c = json_string_value(json_object_get(d, "c"));
                if (c)
                    snprintf((*teams)[k].id, sizeof(*teams)[k].id, "%s", c);
                json_decref(d);
                if (!c)
                    continue;
                team = (*teams)[k].id;
            }
        }
        (*entries)[k++] = (tn_entry){s->user_id, s->value, s->reached_ms, seat, team};
    }
    if (n == TN_MAX_ENTRANTS)
        api->log(host, BM_LOG_WARN, "tournament=%s more than %d entrants: only the first %d ranked",
                 cfg->id, TN_MAX_ENTRANTS, TN_MAX_ENTRANTS);
    return k;
}

/* One prize per position (scoreBy player). */
static int pay_players(const bm_host_api *api, const tn_cfg *cfg, bm_batch *b, const tn_result *res,
                       int n, json_t *top, int *paid, int64_t *total)
{
    for (int i = 0; i < n; i++) {
        const tn_result *r = &res[i];
        char key[32], idem[160];
        snprintf(key, sizeof key, "%d", r->position);
        json_t *doc = json_pack("{s:i, s:i, s:s, s:f, s:I, s:i}", "position", r->position, "rank",
                                r->rank, "userId", r->user, "score", r->score, "prize",
                                (json_int_t)r->prize, "decimals", cfg->decimals);
        if (i < 100)
            json_array_append(top, doc);
        if (put_json(api, b, cfg->id, "tournament_result", key, doc) != BM_OK)
            return BM_ERROR;
        if (r->prize <= 0 || !cfg->reward_type)
            continue;
        char *reward = prize_json(cfg, r);
        snprintf(idem, sizeof idem, "tournament:%s:%d", cfg->id, r->position);
        int g = reward ? api->reward_grant(b, cfg->id, r->user, idem, reward) : BM_ERROR;
        free(reward);
        if (g < 0)
            return BM_ERROR;
        (*paid)++;
        *total += r->prize;
        emit(api, b, "ui.tournament_updates", r->user,
             json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:i}", "type", "prize", "campaignId",
                       cfg->id, "userId", r->user, "rank", r->rank, "position", r->position,
                       "prize", (json_int_t)r->prize, "decimals", cfg->decimals));
    }
    return BM_OK;
}

/* One grant: the reward of a prize to one user, keyed `idem`; 0 or -1. */
static int grant(const bm_host_api *api, const tn_cfg *cfg, bm_batch *b, const char *user,
                 const tn_result *r, int64_t amount, const char *idem)
{
    tn_result one = *r;
    one.prize = amount;
    char *reward = prize_json(cfg, &one);
    int g = reward ? api->reward_grant(b, cfg->id, user, idem, reward) : BM_ERROR;
    free(reward);
    if (g < 0)
        return -1;
    emit(api, b, "ui.tournament_updates", user,
         json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:i}", "type", "prize", "campaignId", cfg->id,
                   "userId", user, "rank", r->rank, "position", r->position, "prize",
                   (json_int_t)amount, "decimals", cfg->decimals));
    return 0;
}

/*
 * scoreBy community: each community's score is the sum of its seated members'
 * scores (reached when the last of them reached theirs); communities are
 * ranked and paid like players, and a community's prize is split among its
 * seated members (tn_split), each share granted with the key
 * tournament:<campaign>:<position>:<user>.
 */
static int pay_communities(const bm_host_api *api, const tn_cfg *cfg, bm_batch *b,
                           const tn_result *res, int n, json_t *top, int *paid, int64_t *total)
{
    tn_entry *teams = calloc((size_t)n + 1, sizeof *teams), *members = NULL;
    tn_result *tres = calloc((size_t)n + 1, sizeof *tres);
    int64_t *share = calloc((size_t)n + 1, sizeof *share);
    members = calloc((size_t)n + 1, sizeof *members);
    int rc = BM_ERROR, nt = 0;
    if (!teams || !tres || !share || !members)
        goto out;
    for (int i = 0; i < n; i++) {
        const tn_result *r = &res[i];
        int t = 0;
        while (t < nt && strcmp(teams[t].user, r->team) != 0)
            t++;
        if (t == nt)
            teams[nt++] = (tn_entry){r->team, 0, 0, 0, NULL};
        teams[t].score += r->score;
        if (r->reached_ms > teams[t].reached_ms)
            teams[t].reached_ms = r->reached_ms;
    }
    tn_cfg whole = *cfg;
    whole.max_participants = 0; /* seats were for players */
    size_t none = 0;
    int m = tn_rank(&whole, teams, (size_t)nt, tres, &none);
    if (m < 0)
        goto out;
    for (int t = 0; t < m; t++) {
        const tn_result *tr = &tres[t];
        char key[32], idem[400];
        size_t k = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(res[i].team, tr->user) == 0)
                members[k++] = (tn_entry){res[i].user, res[i].score, res[i].reached_ms, 0, NULL};
        tn_split(tr->prize, members, k, cfg->split_by_score, share);
        json_t *split = json_array();
        for (size_t i = 0; i < k; i++)
            json_array_append_new(split,
                                  json_pack("{s:s, s:f, s:I}", "userId", members[i].user, "score",
                                            members[i].score, "prize", (json_int_t)share[i]));
        snprintf(key, sizeof key, "%d", tr->position);
        json_t *doc = json_pack("{s:i, s:i, s:s, s:f, s:I, s:i, s:b, s:o}", "position",
                                tr->position, "rank", tr->rank, "userId", tr->user, "score",
                                tr->score, "prize", (json_int_t)tr->prize, "decimals",
                                cfg->decimals, "community", 1, "members", split);
        if (t < 100)
            json_array_append(top, doc);
        if (put_json(api, b, cfg->id, "tournament_result", key, doc) != BM_OK)
            goto out;
        for (size_t i = 0; i < k && cfg->reward_type; i++) {
            if (share[i] <= 0)
                continue;
            snprintf(idem, sizeof idem, "tournament:%s:%d:%s", cfg->id, tr->position,
                     members[i].user);
            if (grant(api, cfg, b, members[i].user, tr, share[i], idem) != 0)
                goto out;
            (*paid)++;
            *total += share[i];
        }
    }
    rc = BM_OK;
out:
    free(teams);
    free(tres);
    free(share);
    free(members);
    return rc;
}

int tn_finalise(const bm_host_api *api, bm_host *host, tn_cfg *cfg, bm_batch *b, int64_t now,
                int cancelled)
{
    if (cfg->final_done)
        return BM_SKIP;
    bm_standing *rows = NULL;
    tn_entry *entries = NULL;
    tn_team *teams = NULL;
    tn_result *res = NULL;
    int rc = BM_RETRY, n = 0, paid = 0;
    size_t refused = 0;
    int64_t total = 0;
    json_t *top = json_array();
    /* Read and rank first, with no side effect: a failure here leaves the work
     * unclaimed for the next tick. After the claim, a failing write fails the
     * whole batch (the host marks it), so the claim never commits without the
     * results and grants. */
    if (!cancelled) {
        int k = read_entrants(api, host, cfg, b, &rows, &entries, &teams);
        res = k >= 0 ? calloc((size_t)k + 1, sizeof *res) : NULL;
        n = res ? tn_rank(cfg, entries, (size_t)k, res, &refused) : -1;
        if (n < 0)
            goto done;
    }
    int c = api->claim_once(b, "finalise");
    if (c <= 0) {
        cfg->final_done = c == 0;
        rc = c == 0 ? BM_SKIP : BM_RETRY;
        goto done;
    }
    api->log(host, BM_LOG_INFO, "tournament=%s finalising ranked=%d refused=%zu", cfg->id, n,
             refused);
    if ((cfg->by_community ? pay_communities(api, cfg, b, res, n, top, &paid, &total)
                           : pay_players(api, cfg, b, res, n, top, &paid, &total)) != BM_OK)
        goto done;
    json_t *summary =
        json_pack("{s:s, s:I, s:i, s:I, s:i, s:I, s:I, s:i}", "status",
                  cancelled ? "cancelled" : "paid", "finalisedMs", (json_int_t)now, "ranked", n,
                  "refused", (json_int_t)refused, "prizes", paid, "paidMinor", (json_int_t)total,
                  "totalMinor", (json_int_t)cfg->total_minor, "decimals", cfg->decimals);
    if (put_json(api, b, cfg->id, "tournament", "final", json_incref(summary)) != BM_OK) {
        json_decref(summary);
        goto done;
    }
    json_object_set_new(summary, "type", json_string("ended"));
    json_object_set_new(summary, "campaignId", json_string(cfg->id));
    json_object_set(summary, "standings", top);
    emit(api, b, "tournament.events", cfg->id, json_incref(summary));
    emit(api, b, "ui.tournament_updates", cfg->id, summary);
    api->metric_add(host, "tournament_finalised", 1);
    api->metric_add(host, "tournament_prizes_granted", paid);
    cfg->final_done = 1;
    rc = BM_OK;
done:
    json_decref(top);
    free(rows);
    free(entries);
    free(teams);
    free(res);
    return rc;
}
