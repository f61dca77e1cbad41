/* quest module: parsed campaign configuration shared by quest.c and quest_config.c. */
#ifndef BM_QUEST_H
#define BM_QUEST_H

#include <stddef.h>
#include <stdint.h>

#include <brightmatter/module.h>

/* Condition types (QuestCondition.type). */
enum { QC_COUNT, QC_VALUE, QC_EXISTS, QC_TIME };

/* Operators (QuestCondition.operator). */
enum { QOP_GTE, QOP_LTE, QOP_EQ, QOP_EXISTS, QOP_NEQ };

/* Type of a condition's target. */
enum { QT_NUMBER, QT_STRING, QT_BOOL };

/* How a value condition folds data.<field> over matching events. */
enum { QAGG_MAX, QAGG_MIN, QAGG_LAST, QAGG_SUM };

/* Most conditions a quest may have; keeps the progress document small. */
#define QUEST_MAX_CONDITIONS 32

typedef struct quest_cond {
    int type;
    int op;
    int agg;          /* value conditions only */
    char *event_type; /* owned */
    char *field;      /* owned dotted path under data, NULL = none */
    char *filter;     /* owned JSON object text, NULL = none */
    double target;    /* count, value, seconds (time_based) */
    int ttype;        /* QT_*: string and boolean targets are value conditions with eq/neq */
    char *tstr;       /* string target (owned), NULL otherwise */
    int tbool;        /* boolean target */
    char *tfilter;    /* {"<field>": <target>} (owned): the eq test for string/boolean */
    int deferred;     /* count with lte/eq: decided when the quest's window ends */
} quest_cond;

typedef struct quest_cfg {
    char *id;          /* campaign id (owned copy) */
    quest_cond *conds; /* nconds entries */
    size_t nconds;
    char *reward_json; /* {"type":..,"config":{..}} (owned) */
    int repeatable;
    int64_t cooldown_ms;
    char **whitelist;   /* user ids, sorted for bsearch; NULL = everybody */
    char **communities; /* gating.communities (any of), NULL-terminated; NULL = none */
    size_t nwhitelist;
    char **required; /* quest campaign ids that must be completed first */
    size_t nrequired;
    int has_min_level;
    double min_level;
    int64_t end_ms; /* window end (exclusive), 0 = none */
    int ndeferred;  /* conditions decided at the window's end */
} quest_cfg;

/*
 * Parses and validates a quest campaign document. Returns the config, or
 * NULL with err naming the offending field ("conditions[1].operator: ...").
 */
quest_cfg *quest_cfg_parse(const char *campaign_id, const char *config_json, char *err,
                           size_t errlen);

/* Frees a config from quest_cfg_parse (NULL is fine). */
void quest_cfg_free(quest_cfg *cfg);

/* Nonzero if user_id is on the whitelist (or there is none). */
int quest_cfg_whitelisted(const quest_cfg *cfg, const char *user_id);

#endif
