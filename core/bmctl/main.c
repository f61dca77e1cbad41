/* bmctl: the admin CLI. `bmctl help` lists the commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bmctl/bmctl.h"
#include "kafka/kafka.h"
#include "log/log.h"

typedef struct cmd {
    const char *name;
    int (*fn)(bm_ctl *, int, char **);
    const char *help;
} cmd;

static const cmd g_cmds[] = {
    {"migrate", bm_cmd_migrate, "migrate [--sql-dir DIR]          apply pending SQL migrations"},
    {"module", bm_cmd_module, "module check FILE.so...         run the loader's checks offline"},
    {"modules", bm_cmd_modules, "modules [--json]                 list loaded modules (engine)"},
    {"campaigns", bm_cmd_campaigns,
     "campaigns [--json]               campaigns the engine serves (suspended: no module)"},
    {"reload", bm_cmd_reload, "reload [--json]                  hot-reload the modules directory"},
    {"query", bm_cmd_query,
     "query CAMPAIGN [JSON]            a campaign module's query() (engine)"},
    {"campaign", bm_cmd_campaign,
     "campaign create FILE.json | list | show ID | disable ID | replay ID [--from TS] [--to TS]\n"
     "    | replay-drop REPLAY_ID    (replay: recount from the event store)"},
    {"status", bm_cmd_status,
     "status [--json]                  restarts, quarantine, breakers, gaps"},
    {"gap", bm_cmd_gap,
     "gap list [--json] | ack ID|--all  events the broker lost before they were applied"},
    {"leaderboard", bm_cmd_leaderboard,
     "leaderboard CAMPAIGN [--limit N] [--around USER] [--json]\n"
     "    | history CAMPAIGN [--period START] [--json]    (past periods of a reset board)"},
    {"quest", bm_cmd_quest, "quest progress CAMPAIGN USER [--json]"},
    {"event", bm_cmd_event,
     "event send JSON...                produce game events (keyed by user)"},
    {"battlepass", bm_cmd_battlepass,
     "battlepass show|purchase|claim CAMPAIGN USER [TIER] [--premium] [--json]"},
    {"tournament", bm_cmd_tournament,
     "tournament show ID [--period START] [--json] | entry|join ID USER [AMOUNT]"},
    {"community", bm_cmd_community,
     "community create|update|list|show|slug-check|approve|ban|unban|remove ..."},
    {"studio", bm_cmd_studio, "studio create --firebase-uid U --name N --email E"},
    {"game", bm_cmd_game,
     "game create --studio S --name N --identifier ID [--webhook-url U] | list"},
    {"key", bm_cmd_key, "key create --game ID | list --game ID | revoke KEY_ID"},
    {"rewards", bm_cmd_rewards,
     "rewards list [--status S] [--campaign C] [--user U] | show ID | retry ID"},
    {"webhook", bm_cmd_webhook, "webhook url GAME [URL|--clear] | secret GAME [--rotate]"},
    {"outbox", bm_cmd_outbox, "outbox parked [--json] | retry ID|all | drop ID"},
    {"group", bm_cmd_group,
     "group [--json]                   processes, partitions, lag, relay backlog, rewards"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bmctl [-c FILE] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        fprintf(f, "  %s\n", g_cmds[i].help);
    fprintf(f, "\nThe configuration comes from -c FILE (or $BM_CONFIG) and BM_* variables.\n");
}

int main(int argc, char **argv)
{
    bm_ctl ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.config_path = getenv("BM_CONFIG");
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            ctl.config_path = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc || strcmp(argv[i], "help") == 0) {
        usage(i >= argc ? stderr : stdout);
        return i >= argc ? 2 : 0;
    }
    char err[1024];
    if (bm_config_load(&ctl.cfg, ctl.config_path, err, sizeof err) != 0) {
        fprintf(stderr, "bmctl: config error: %s\n", err);
        return 2;
    }
    bm_kafka_props_set(ctl.cfg.kafka_props);
    /* bmctl speaks on stdout; library logs below warn would only be noise. */
    bm_log_set_level(BM_LOG_LVL_WARN);
    for (size_t k = 0; k < sizeof g_cmds / sizeof g_cmds[0]; k++)
        if (strcmp(argv[i], g_cmds[k].name) == 0)
            return g_cmds[k].fn(&ctl, argc - i, argv + i);
    fprintf(stderr, "bmctl: unknown command '%s'\n", argv[i]);
    usage(stderr);
    return 2;
}
