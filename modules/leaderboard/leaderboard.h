/* leaderboard.so: parsed campaign config (leaderboard_config.c). */
#ifndef BM_LEADERBOARD_H
#define BM_LEADERBOARD_H

#include <stdint.h>

#include <brightmatter/module.h>

#include "period.h"

enum lb_agg { LB_SUM, LB_MAX, LB_MIN, LB_COUNT, LB_AVERAGE, LB_LAST };

/* After a period's end plus its grace, the close waits this long more (wall
 * clock) so that batches which counted late events before the grace ran out
 * have committed. */
#define LB_SETTLE_MS 2000

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
    bm_period reset;        /* resetSchedule (kind BM_PERIOD_NONE = never) */
    int64_t closed_idx;     /* last period seen closed in this process */
    int64_t closed_ms;      /* when (wall clock) */
    int closed_verified;    /* seen claimed twice, 10 s apart */
} lb_campaign;

/* A player's period bookkeeping, kept in the state document (leaderboard_period.c). */
typedef struct lb_doc {
    int has_p, has_q;
    int64_t p;      /* period the live state belongs to */
    int64_t q;      /* the period before, still open for late events */
    double pv, pa;  /* its value and aux */
    int64_t pc, pr; /* its count and reached_ms */
} lb_doc;

/* The period index of event time t, with its bounds [start, end). */
int64_t lb_period_of(const lb_campaign *lb, int64_t t, int64_t *start, int64_t *end);
/* 1 once period idx is past its end plus grace (wall clock now_ms). */
int lb_period_closed(const lb_campaign *lb, int64_t idx, int64_t now_ms);
/* Reads the document (zeroed when absent); writes it back. */
int lb_doc_read(const bm_state *st, lb_doc *d);
int lb_doc_write(const bm_host_api *api, bm_batch *b, bm_state *st, const lb_doc *d);
/* Writes one player's standing of period idx (module_results kind leaderboard_history). */
int lb_history_put(const bm_host_api *api, bm_batch *b, const lb_campaign *lb, int64_t idx,
                   const char *user, double value, int64_t count, int64_t reached_ms);
/* Closes the period before now's once across processes (on_campaign_tick). */
int lb_period_tick(const bm_host_api *api, bm_host *host, lb_campaign *lb, bm_batch *b,
                   int64_t now);

/* Parses and validates; NULL with err naming the field. */
lb_campaign *lb_config_parse(const bm_host_api *api, bm_host *host, const bm_campaign *c, char *err,
                             size_t errlen);
void lb_config_free(const bm_host_api *api, lb_campaign *lb);
/* 1 if the user passes the whitelist (or there is none). */
int lb_whitelisted(const lb_campaign *lb, const char *user);

#endif
