/* The engine's own struct, shared by the files of core/engine only. */
#ifndef BM_ENGINE_INT_H
#define BM_ENGINE_INT_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "campaign/campaign.h"
#include "engine/engine.h"
#include "kafka/kafka.h"
#include "loader/loader.h"
#include "lua/lua_sandbox.h"
#include "stats/stats.h"

typedef struct bm_admin bm_admin;

typedef struct bm_role_slot {
    const bm_role_ops *ops; /* NULL: not running */
    void *state;
} bm_role_slot;

struct bm_engine {
    bm_config cfg;
    char bootstrap[512];
    bm_broker *broker;           /* embedded broker, if kafka.brokers=embedded */
    PGconn *pg;                  /* campaign refreshes (processing thread) */
    rd_kafka_t *config_consumer; /* config.campaigns, every partition, no group */

    bm_loader_host lh;
    bm_loader *loader;
    bm_lua_limits lua;
    bm_camps camps;
    bm_stats stats;
    bm_role_env env;
    bm_role_slot roles[BM_NROLES];

    volatile sig_atomic_t *run;
    atomic_int reload_requested;
    atomic_int campaigns_changed;
    int64_t last_campaign_refresh_ms;
    uint64_t ends_seen; /* stats.ends_committed at the last refresh */

    bm_admin *admin;
    pthread_mutex_t report_lock; /* guards `report` for admin readers */
    char report[8192];           /* last reload report */
};

/* Re-scans the modules directory now (processing thread, batch boundary). */
void bm_engine_reload(bm_engine *e);
/* Reloads campaigns from PostgreSQL now (processing thread, batch boundary). */
void bm_engine_refresh_campaigns(bm_engine *e);
/* Run dir 0750 and module copies 0700 whatever the umask; the modules dir must
 * exist and be trusted (bm_loader_trusted). 0 or -1 with err (secure.c). */
int bm_engine_secure_paths(const bm_config *cfg, const char *copy_dir, char *err, size_t errlen);
/* admin.sock 0660, group security.admin_group when set. 0 or -1 with err. */
int bm_engine_secure_socket(const bm_config *cfg, char *err, size_t errlen);
/* Answers "query <campaign id> <json>" on the admin socket's thread (query.c). */
char *bm_engine_admin_query(void *ud, const char *req);
/* The module list as JSON (processing thread). Caller frees. */
char *bm_engine_modules_json(bm_engine *e);

#endif
