/* bmctl: the admin CLI. One file per command group. */
#ifndef BM_BMCTL_H
#define BM_BMCTL_H

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

#endif
