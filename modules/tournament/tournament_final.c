/*
 * tournament module: the end. After endDate + grace + TN_SETTLE_MS (wall
 * clock), every processor's tick tries; api->claim_once("finalise") (for a
 * run of a recurring tournament "finalise:<run start>", its rows keyed
 * "<run start>:<position>" and its prizes tournament:<campaign>:<run start>:
 * <position>) lets
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
    int64_t run = cfg->start_ms, run_end = cfg->end_ms;
    char work[64] = "started", name[40] = "";
    if (cfg->recurring) {
        if (tn_run_of(cfg, now, &run, &run_end) != 0 || cfg->started_run == run)
            return;
        tn_run_name(cfg, run, name, sizeof name);
        snprintf(work, sizeof work, "started:%s", name);
    } else if (cfg->started_done || now < cfg->start_ms) {
        return;
    }
    int c = api->claim_once(b, work);
    if (c < 0)
        return;
    cfg->started_done = 1;
    cfg->started_run = run;
    if (c == 0)
        return;
    json_t *m = json_pack("{s:s, s:s, s:I, s:I}", "type", "started", "campaignId", cfg->id,
                          "startMs", (json_int_t)run, "endMs", (json_int_t)run_end);
    if (m && name[0])
        json_object_set_new(m, "period", json_string(name));
    emit(api, b, "tournament.events", cfg->id, json_incref(m));
    emit(api, b, "ui.tournament_updates", cfg->id, m);
}

/* The reward of one prize: rewardConfig plus amount (minor units), decimals, rank, position. */
static char *prize_json(const tn_cfg *cfg, const char *rn, const tn_result *r)
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
    if (rn[0])
        json_object_set_new(conf, "period", json_string(rn));
    json_t *rw = json_pack("{s:s, s:o}", "type", cfg->reward_type, "config", conf);
    char *s = rw ? json_dumps(rw, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(rw);
    return s;
}

typedef struct tn_team {
    char id[72];
} tn_team;

typedef struct run_read {
    const tn_cfg *cfg;
    int64_t run;
    bm_standing *rows;
    tn_entry *entries;
    tn_team *teams;
    int k;
} run_read;

/* state_each: one player's standing in the run being finalised (read only). */
static int read_run_one(void *ud, const char *user, bm_state *st)
{
    run_read *rr = ud;
    tn_slot sl;
    tn_slot_get(rr->cfg, st, rr->run, &sl);
    if (sl.count == 0 || sl.reached_ms == 0 || (rr->cfg->by_community && !sl.team[0]))
        return 0;
    if (rr->k == TN_MAX_ENTRANTS)
        return 1;
    bm_standing *s = &rr->rows[rr->k];
    snprintf(s->user_id, sizeof s->user_id, "%s", user);
    const char *team = NULL;
    if (rr->cfg->by_community) {
        snprintf(rr->teams[rr->k].id, sizeof rr->teams[rr->k].id, "%s", sl.team);
        team = rr->teams[rr->k].id;
    }
    rr->entries[rr->k] = (tn_entry){s->user_id, sl.value, sl.reached_ms, sl.first_ms, team};
    rr->k++;
    return 0;
}

/* Every entrant with a counted score: committed standings, seat times from their states;
 * for a run of a recurring tournament, each player's standing in that run. */
static int read_entrants(const bm_host_api *api, bm_host *host, const tn_cfg *cfg, bm_batch *b,
                         int64_t run, bm_standing **rows, tn_entry **entries, tn_team **teams)
{
    *rows = calloc(TN_MAX_ENTRANTS, sizeof **rows);
    *entries = calloc(TN_MAX_ENTRANTS, sizeof **entries);
    *teams = cfg->by_community ? calloc(TN_MAX_ENTRANTS, sizeof **teams) : NULL;
    if (!*rows || !*entries || (cfg->by_community && !*teams))
        return -1;
    if (cfg->recurring) {
        run_read rr = {cfg, run, *rows, *entries, *teams, 0};
        if (api->state_each(b, cfg->id, read_run_one, &rr) != 0)
            return -1;
        if (rr.k == TN_MAX_ENTRANTS)
            api->log(host, BM_LOG_WARN,
                     "tournament=%s more than %d entrants: only the first %d ranked", cfg->id,
                     TN_MAX_ENTRANTS, TN_MAX_ENTRANTS);
        return rr.k;
    }
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

/* The result row key: the position, "<run>:<position>" for a run of a recurring one. */
static void result_key(const char *rn, int position, char *buf, size_t len)
{
    if (rn[0])
        snprintf(buf, len, "%s:%d", rn, position);
    else
        snprintf(buf, len, "%d", position);
}

/* A prize's idempotency key: tournament:<campaign>[:<run>]:<position>[:<member>]. */
static void prize_key(const tn_cfg *cfg, const char *rn, int position, const char *member,
                      char *buf, size_t len)
{
    snprintf(buf, len, "tournament:%s%s%s:%d%s%s", cfg->id, rn[0] ? ":" : "", rn, position,
             member ? ":" : "", member ? member : "");
}

/* One prize per position (scoreBy player). */
static int pay_players(const bm_host_api *api, const tn_cfg *cfg, bm_batch *b, const char *rn,
                       const tn_result *res, int n, json_t *top, int *paid, int64_t *total)
{
    for (int i = 0; i < n; i++) {
        const tn_result *r = &res[i];
        char key[64], idem[240];
        result_key(rn, r->position, key, sizeof key);
        json_t *doc = json_pack("{s:i, s:i, s:s, s:f, s:I, s:i}", "position", r->position, "rank",
                                r->rank, "userId", r->user, "score", r->score, "prize",
                                (json_int_t)r->prize, "decimals", cfg->decimals);
        if (doc && rn[0])
            json_object_set_new(doc, "period", json_string(rn));
        if (i < 100)
            json_array_append(top, doc);
        if (put_json(api, b, cfg->id, "tournament_result", key, doc) != BM_OK)
            return BM_ERROR;
        if (r->prize <= 0 || !cfg->reward_type)
            continue;
        char *reward = prize_json(cfg, rn, r);
        prize_key(cfg, rn, r->position, NULL, idem, sizeof idem);
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
static int grant(const bm_host_api *api, const tn_cfg *cfg, bm_batch *b, const char *rn,
                 const char *user, const tn_result *r, int64_t amount, const char *idem)
{
    tn_result one = *r;
    one.prize = amount;
    char *reward = prize_json(cfg, rn, &one);
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
static int pay_communities(const bm_host_api *api, const tn_cfg *cfg, bm_batch *b, const char *rn,
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
        char key[64], idem[480];
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
        result_key(rn, tr->position, key, sizeof key);
        json_t *doc = json_pack("{s:i, s:i, s:s, s:f, s:I, s:i, s:b, s:o}", "position",
                                tr->position, "rank", tr->rank, "userId", tr->user, "score",
                                tr->score, "prize", (json_int_t)tr->prize, "decimals",
                                cfg->decimals, "community", 1, "members", split);
        if (doc && rn[0])
            json_object_set_new(doc, "period", json_string(rn));
        if (t < 100)
            json_array_append(top, doc);
        if (put_json(api, b, cfg->id, "tournament_result", key, doc) != BM_OK)
            goto out;
        for (size_t i = 0; i < k && cfg->reward_type; i++) {
            if (share[i] <= 0)
                continue;
            prize_key(cfg, rn, tr->position, members[i].user, idem, sizeof idem);
            if (grant(api, cfg, b, rn, members[i].user, tr, share[i], idem) != 0)
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
                int cancelled, int64_t run)
{
    if (!cfg->recurring && cfg->final_done)
        return BM_SKIP;
    char rn[40], work[64], fkey[64];
    tn_run_name(cfg, run, rn, sizeof rn);
    snprintf(work, sizeof work, "finalise%s%s", rn[0] ? ":" : "", rn);
    snprintf(fkey, sizeof fkey, "final%s%s", rn[0] ? ":" : "", rn);
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
        int k = read_entrants(api, host, cfg, b, run, &rows, &entries, &teams);
        res = k >= 0 ? calloc((size_t)k + 1, sizeof *res) : NULL;
        n = res ? tn_rank(cfg, entries, (size_t)k, res, &refused) : -1;
        if (n < 0)
            goto done;
    }
    int c = api->claim_once(b, work);
    if (c <= 0) {
        if (!cfg->recurring)
            cfg->final_done = c == 0;
        rc = c == 0 ? BM_SKIP : BM_RETRY;
        goto done;
    }
    api->log(host, BM_LOG_INFO, "tournament=%s%s%s finalising ranked=%d refused=%zu", cfg->id,
             rn[0] ? " period=" : "", rn, n, refused);
    if ((cfg->by_community ? pay_communities(api, cfg, b, rn, res, n, top, &paid, &total)
                           : pay_players(api, cfg, b, rn, res, n, top, &paid, &total)) != BM_OK)
        goto done;
    json_t *summary =
        json_pack("{s:s, s:I, s:i, s:I, s:i, s:I, s:I, s:i}", "status",
                  cancelled ? "cancelled" : "paid", "finalisedMs", (json_int_t)now, "ranked", n,
                  "refused", (json_int_t)refused, "prizes", paid, "paidMinor", (json_int_t)total,
                  "totalMinor", (json_int_t)cfg->total_minor, "decimals", cfg->decimals);
    if (summary && rn[0]) {
        json_object_set_new(summary, "period", json_string(rn));
        json_object_set_new(summary, "startMs", json_integer(run));
        json_object_set_new(summary, "endMs", json_integer(run + cfg->duration_ms));
    }
    if (put_json(api, b, cfg->id, "tournament", fkey, json_incref(summary)) != BM_OK) {
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
    if (!cfg->recurring)
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
