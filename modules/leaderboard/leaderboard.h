/* leaderboard.so: parsed campaign config (leaderboard_config.c). */
#ifndef BM_LEADERBOARD_H
#define BM_LEADERBOARD_H

#include <brightmatter/module.h>

enum lb_agg { LB_SUM, LB_MAX, LB_MIN, LB_COUNT, LB_AVERAGE, LB_LAST };

typedef struct lb_campaign {
    const char *id; /* the host's string, valid until campaign_remove */
    char event_type[128];
    char data_field[256];
    enum lb_agg agg;
    bm_formula *formula; /* customFormula, or NULL */
    char **whitelist;    /* sorted; NULL when not gated */
    char **communities;  /* gating.communities (any of), NULL-terminated; NULL = none */
    size_t nwhitelist;
    double min_level; /* 0 = no gate */
    int max_entries;
    char refresh_json[160]; /* ui.leaderboard_refresh message, built once */
} lb_campaign;

/* Parses and validates; NULL with err naming the field. */
lb_campaign *lb_config_parse(const bm_host_api *api, bm_host *host, const bm_campaign *c, char *err,
                             size_t errlen);
void lb_config_free(const bm_host_api *api, lb_campaign *lb);
/* 1 if the user passes the whitelist (or there is none). */
int lb_whitelisted(const lb_campaign *lb, const char *user);

#endif
