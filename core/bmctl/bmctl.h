/* bmctl: the admin CLI. One file per command group. */
#ifndef BM_BMCTL_H
#define BM_BMCTL_H

#include <libpq-fe.h>

#include "config/config.h"

typedef struct bm_ctl {
    bm_config cfg;
    const char *config_path; /* -c FILE, or NULL */
} bm_ctl;

/* Each returns the process exit code; argv[0] is the command name. */
int bm_cmd_migrate(bm_ctl *ctl, int argc, char **argv);     /* cmd_migrate.c */
int bm_cmd_module(bm_ctl *ctl, int argc, char **argv);      /* cmd_module.c: module check */
int bm_cmd_modules(bm_ctl *ctl, int argc, char **argv);     /* cmd_admin.c */
int bm_cmd_reload(bm_ctl *ctl, int argc, char **argv);      /* cmd_admin.c */
int bm_cmd_campaigns(bm_ctl *ctl, int argc, char **argv);   /* cmd_admin.c */
int bm_cmd_query(bm_ctl *ctl, int argc, char **argv);       /* cmd_admin.c */
int bm_cmd_campaign(bm_ctl *ctl, int argc, char **argv);    /* cmd_campaign.c */
int bm_cmd_leaderboard(bm_ctl *ctl, int argc, char **argv); /* cmd_leaderboard.c */
int bm_cmd_quest(bm_ctl *ctl, int argc, char **argv);       /* cmd_quest.c */
int bm_cmd_battlepass(bm_ctl *ctl, int argc, char **argv);  /* cmd_battlepass.c */
int bm_cmd_tournament(bm_ctl *ctl, int argc, char **argv);  /* cmd_tournament.c */
int bm_cmd_community(bm_ctl *ctl, int argc, char **argv);   /* cmd_community.c */
int bm_cmd_studio(bm_ctl *ctl, int argc, char **argv);      /* cmd_game.c */
int bm_cmd_game(bm_ctl *ctl, int argc, char **argv);        /* cmd_game.c */
int bm_cmd_key(bm_ctl *ctl, int argc, char **argv);         /* cmd_game.c */
int bm_cmd_rewards(bm_ctl *ctl, int argc, char **argv);     /* cmd_rewards.c */
int bm_cmd_webhook(bm_ctl *ctl, int argc, char **argv);     /* cmd_rewards.c */
int bm_cmd_outbox(bm_ctl *ctl, int argc, char **argv);      /* cmd_outbox.c */
int bm_cmd_event(bm_ctl *ctl, int argc, char **argv);       /* cmd_event.c: event send */
int bm_cmd_group(bm_ctl *ctl, int argc, char **argv);       /* cmd_group.c */
int bm_cmd_gap(bm_ctl *ctl, int argc, char **argv);         /* cmd_status.c: gap list|ack */
int bm_cmd_status(bm_ctl *ctl, int argc, char **argv);      /* cmd_status.c */
/* bmctl leaderboard history (cmd_lbhistory.c); argv[1] is "history". */
int bm_ctl_leaderboard_history(bm_ctl *ctl, int argc, char **argv);
/* bmctl campaign replay|replay-drop (cmd_replay.c); argv[1] is the subcommand. */
int bm_ctl_campaign_replay(PGconn *pg, int argc, char **argv);

/* Sends one request line to the engine's admin socket; the malloc'd JSON answer,
 * or NULL with the reason printed (cmd_admin.c). */
char *bm_ctl_admin_call(const bm_ctl *ctl, const char *request);
/* Prints the containment part of a modules answer: restarts, quarantined files,
 * suspended formulas, gaps (cmd_status.c). `root` is a json_t *. */
void bm_ctl_print_containment(void *root);
/* bmctl module check --smoke (cmd_smoke.c): 0 when the module ran clean, 1 otherwise. */
int bm_ctl_module_smoke(const bm_ctl *ctl, const char *so, const char *campaign_json,
                        const char *events_jsonl);

#endif
