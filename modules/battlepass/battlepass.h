/* battlepass module: parsed campaign configuration shared by battlepass*.c. */
#ifndef BM_BATTLEPASS_H
#define BM_BATTLEPASS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <brightmatter/module.h>

#include "modcfg.h"

/* Bounds that keep the progress document and the tier table small. */
#define BP_MAX_SOURCES 32
#define BP_MAX_TIERS 1000
/* Daily XP counters are kept for this many UTC days back from the latest one. */
#define BP_KEEP_DAYS 7

/* Command event types (produced by `bmctl battlepass`, keyed by user on game.events). */
#define BP_CMD_PURCHASE "bm.battlepass.purchase"
#define BP_CMD_CLAIM "bm.battlepass.claim"

typedef struct bp_source {
    char *event_type;    /* owned */
    char *field;         /* owned dotted path under data, NULL = flat xpValue */
    char *filter;        /* owned JSON object text, NULL = none */
    double xp_value;     /* flat XP, or multiplier of data.<field> */
    double daily_limit;  /* XP per UTC day of event time; 0 = unlimited */
    bm_formula *formula; /* compiled Lua, NULL = none */
} bp_source;

typedef struct bp_tier {
    double xp_required;   /* total XP that completes this tier (unlocks its rewards) */
    char *free_reward;    /* reward JSON text or NULL */
    char *premium_reward; /* reward JSON text or NULL */
} bp_tier;

typedef struct bp_cfg {
    char *id; /* campaign id (owned copy) */
    bp_source *sources;
    size_t nsources;
    bp_tier *tiers; /* tiers[0] is tier 1; ntiers = maxTier in effect */
    int ntiers;
    int entry_purchase; /* 1: claims (both tracks) need the purchase; XP counts before it */
    int has_level;
    double required_level;
    char **communities; /* gating.communities (any of), NULL-terminated; NULL = none */
    /* entryRequirement type community: members of any of these earn XP and claim; NULL = none */
    char **entry_communities;
} bp_cfg;

/*
 * Parses and validates a battle pass campaign document; compiles formulas
 * through the host API. NULL with err naming the field on failure.
 */
bp_cfg *bp_cfg_parse(const bm_host_api *api, bm_host *host, const char *campaign_id,
                     const char *config_json, char *err, size_t errlen);

/* Frees a config (and its formulas). NULL is fine. */
void bp_cfg_free(const bm_host_api *api, bp_cfg *cfg);

/* Tiers completed with `xp` total XP: 0..ntiers. */
int bp_cfg_tier_for(const bp_cfg *cfg, double xp);
/* The tier the player is on, as the product numbers it: 1 at 0 XP, N+1 once
 * tier N is completed, at most ntiers. */
int bp_cfg_current_tier(const bp_cfg *cfg, int completed);

/* Config helpers shared by battlepass_config.c and battlepass_tiers.c (hidden symbols). */
/* tiers / tierCurve / rewardTemplate / maxTier -> cfg->tiers and cfg->ntiers. */
int bp_parse_tiers(json_t *root, bp_cfg *cfg, char *err, size_t errlen);

#endif
