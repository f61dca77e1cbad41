/*
 * Campaign progress as players and dashboards see it, built from the campaign
 * config and the user_progress row the modules write. Shared by bmctl and the
 * gateway's query API, so both answer the same thing.
 */
#ifndef BM_PROGRESS_H
#define BM_PROGRESS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* A campaign row with its game's identifier and its config document. */
typedef struct bm_pv_campaign {
    char id[64];
    char type[32];
    char name[256];
    char game[260]; /* games.identifier: the gameId events carry */
    char status[16];
    json_t *config; /* campaigns.config (+ campaigns.gating when config has none) */
} bm_pv_campaign;

/* Loads a campaign by id. 0, 1 if there is no such campaign, -1 with err. */
int bm_pv_campaign_load(PGconn *c, const char *id, bm_pv_campaign *out, char *err, size_t errlen);
void bm_pv_campaign_clear(bm_pv_campaign *cc);

/* One user_progress row. Times are ms since the epoch, 0 when NULL. */
typedef struct bm_pv_progress {
    int found;
    double value, aux;
    long long count;
    int completed;
    int flags;
    int64_t completed_ms, first_ms, last_ms;
    json_t *doc; /* progress_data, NULL when none */
} bm_pv_progress;

/* Loads (campaign, user) progress; found = 0 when there is no row. 0 or -1 with err. */
int bm_pv_progress_load(PGconn *c, const char *campaign, const char *user, bm_pv_progress *out,
                        char *err, size_t errlen);
void bm_pv_progress_clear(bm_pv_progress *p);

/* A quest view: {campaignId, name, userId, status, completions, completedAt, repeatable,
 * cooldownHours, eventCount, lastEventAt, conditions:[{type, eventType, field?, operator,
 * target, current, events, met, aggregate?, filter?}]}. New reference. */
json_t *bm_pv_quest(const bm_pv_campaign *cc, const char *user, const bm_pv_progress *p);

/* A battle pass view: {campaignId, name, userId, xp, xpEvents, tier, maxTier, nextTierXp,
 * purchased, purchasedAt, claimedFree, claimedPremium, claimableFree, claimablePremium,
 * today:[{eventType, todayXp, dailyLimit}]} as of now_ms. New reference. */
json_t *bm_pv_battlepass(const bm_pv_campaign *cc, const char *user, const bm_pv_progress *p,
                         int64_t now_ms);

/* A tournament view as of now_ms: {id, name, status (scheduled, running, ended, paid,
 * cancelled), startMs, endMs, graceSeconds, seated, refused, maxParticipants?, totalMinor,
 * decimals, standings:[{position, rank, userId, score, prize, community?}] (the module's own
 * ranking, so what finalisation pays), results:[{position, rank, userId, score, prize}] (stored
 * once finalised)}. A recurring tournament shows one run (startMs..endMs, status of that run,
 * plus period, seriesStartMs, seriesEndMs, periods:[{period, status}] finalised newest first):
 * the run named by `period` (its RFC 3339 start), or with NULL the current or latest run.
 * New reference, or NULL with err (*bad_period = 1 when `period` names no run). */
json_t *bm_pv_tournament(PGconn *c, const bm_pv_campaign *cc, int64_t now_ms, const char *period,
                         int *bad_period, char *err, size_t errlen);

#endif
