/* Helpers shared by bmctl's campaign-progress commands (quest, battlepass). */
#ifndef BM_CTL_UTIL_H
#define BM_CTL_UTIL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Positional arguments and the flags these commands know. */
typedef struct ctl_args {
    const char *pos[8];
    int npos;
    int json;    /* --json */
    int premium; /* --premium */
    int help;    /* -h / --help */
} ctl_args;

/* Splits argv[first..] into flags and positionals. -1 with err on an unknown flag. */
int ctl_args_parse(int argc, char **argv, int first, ctl_args *a, char *err, size_t errlen);

/* A campaign row with its game's identifier and its config document. */
typedef struct ctl_campaign {
    char id[64];
    char type[32];
    char name[256];
    char game[260]; /* games.identifier: the gameId events carry */
    char status[16];
    json_t *config; /* campaigns.config (+ campaigns.gating when config has none) */
} ctl_campaign;

/* Loads a campaign by id. 0, 1 if there is no such campaign, -1 with err. */
int ctl_campaign_load(PGconn *c, const char *id, ctl_campaign *out, char *err, size_t errlen);
void ctl_campaign_clear(ctl_campaign *cc);

/* One user_progress row. Times are ms since the epoch, 0 when NULL. */
typedef struct ctl_progress {
    int found;
    double value, aux;
    long long count;
    int completed;
    int flags;
    int64_t completed_ms, first_ms, last_ms;
    json_t *doc; /* progress_data, NULL when none */
} ctl_progress;

/* Loads (campaign, user) progress; found = 0 when there is no row. 0 or -1 with err. */
int ctl_progress_load(PGconn *c, const char *campaign, const char *user, ctl_progress *out,
                      char *err, size_t errlen);
void ctl_progress_clear(ctl_progress *p);

/* Formats ms since the epoch as RFC 3339 UTC ("-" for 0). */
void ctl_time_format(int64_t ms, char *buf, size_t len);

/* Wall-clock now in ms. */
int64_t ctl_now_ms(void);

/* Prints a JSON value on stdout, indented, with a newline; consumes the reference. */
void ctl_print_json(json_t *v);

/* Refuses a campaign document whose gating.communities or
 * entryRequirements.communities names a community that does not exist
 * (ctl_community_ref.c); 0, or -1 with err naming the entry. */
int ctl_communities_exist(PGconn *pg, json_t *root, char *err, size_t errlen);

#endif
