/* Engine configuration: etc/brightmatter.conf (libinih) + BM_* overrides. */
#ifndef BM_CONFIG_H
#define BM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* Roles a process can run (engine.roles), one bit each, in the order of
 * bm_config_role_names. A new role adds its name here and its ops table in
 * core/engine/roles.c. */
enum {
    BM_ROLE_PROCESSOR = 0,
    BM_ROLE_RELAY = 1,
    BM_ROLE_GATEWAY = 2,
    BM_ROLE_REWARDS = 3,
    BM_ROLE_SCHEDULER = 4,
    BM_NROLES = 5
};
extern const char *const bm_config_role_names[BM_NROLES];

typedef struct bm_config {
    /* [engine] */
    char roles[128];          /* as written: "processor,relay" */
    unsigned role_set;        /* bit (1u << BM_ROLE_x) per role in `roles` */
    int drain_deadline_ms;    /* a retiring generation past this is reported, not cut off */
    int campaign_end_grace_s; /* a closed window ends its campaign this long after end */
    char modules_dir[512];    /* where *.so modules are loaded from */
    char run_dir[512];        /* pid, admin socket, bootstrap file, module copies */
    char log_level[16];
    /* [kafka] */
    char brokers[512];            /* "embedded" or host:port,... */
    char group_id[128];           /* consumer group of the processors */
    char events_topic[128];       /* game.events */
    char partitioner[16];         /* userId -> partition: murmur2 | consistent | fnv1a | none */
    int embedded_partitions;      /* partitions of game.events in embedded mode */
    int session_timeout_ms;       /* group membership lapses after this without heartbeats */
    int socket_timeout_ms;        /* a silent broker connection is given up after this */
    char assignment_strategy[64]; /* partition.assignment.strategy of the processors */
    char group_instance_id[128];  /* static membership (group.instance.id); "" = dynamic */
    int lag_commit_ms;            /* Kafka-side offset commits for lag tools; 0 = never */
    /* [librdkafka]: every key passed as is to each Kafka client ("k=v\n" lines) */
    char kafka_props[4096];
    /* [postgres] */
    char pg_dsn[1024];
    char pg_synchronous_commit[8]; /* on | off: of the batch transactions only */
    /* [pipeline] */
    int batch_max_events;
    int batch_linger_ms;
    int max_event_bytes;
    int past_bound_s;
    int future_bound_s;
    int dedup_window_s;
    /* [store] */
    char store_events[8]; /* on | off */
    int store_retention_days;
    /* [lua] */
    long lua_instruction_limit;
    long lua_memory_limit_kb;
    int lua_pattern_max_len;
    /* [http] the gateway role (core/gateway) */
    char http_listen[128];    /* host:port; port 0 = kernel-chosen (written to run_dir/http.port) */
    int http_threads;         /* libmicrohttpd thread pool */
    int http_max_connections; /* open connections at most */
    int http_conn_timeout_s;  /* an idle connection is closed after this */
    int http_max_body_bytes;  /* request body limit (after gzip inflation too) */
    int http_max_events;      /* events per POST /v1/events body */
    int http_produce_timeout_ms; /* broker acknowledgement wait before 503 */
    int http_rate_per_s;         /* token bucket per API key: events per second */
    int http_rate_burst;         /* token bucket size */
    int http_pg_pool;            /* read connections of the query API */
    int http_key_cache_ms;       /* how long a looked-up API key is trusted */
    int http_rank_min_entries;   /* boards this large get an in-memory rank index */
    /* [auth] Firebase ID tokens of the admin API */
    char auth_project[128]; /* Firebase project id: aud, and iss suffix */
    char auth_certs[512];   /* PEM certificates by kid (JSON object) or a JWKS file */
    int auth_clock_skew_s;  /* leeway on exp / iat / auth_time */
    /* [rewards] (core/rewards) */
    int rewards_workers;             /* deliveries running at once */
    int rewards_per_endpoint;        /* deliveries at once to one host:port */
    int rewards_lease_s;             /* a claim not settled by then is claimed again */
    int rewards_poll_ms;             /* idle wait between looks for due rewards */
    char rewards_backoff[256];       /* retry delays, e.g. "5s,30s,2m,10m,1h,6h" */
    char rewards_backoff_repeat[32]; /* delay after the list is used up */
    char rewards_give_up[32];        /* a reward still failing this long after grant fails */
    int rewards_jitter_pct;          /* +- this percent on every delay */
    /* [chain] on-chain payouts (modules/common/ethpay.c reads it through the
     * host API's setting(); a reward's config overrides each key) */
    char chain_rpc_url[512]; /* JSON-RPC of the node or signer; "" = none */
    char chain_from[64];     /* sending account, 0x + 40 hex; "" = none */
    long chain_id;           /* EIP-155 chain id */
    int chain_confirmations; /* blocks on top of the payout's, itself included */
    long chain_gas;          /* gas limit of each payout transaction */
    /* [security] */
    char command_key_file[512];          /* "" = <run_dir>/command.key (created) */
    char command_key_previous_file[512]; /* accepted too, during a rotation */
    char admin_group[64];                /* group of admin.sock ("" = the engine's) */
    int dlq_original_max_bytes;          /* original bytes a DLQ record keeps */
    /* [campaigns] */
    int campaign_max_config_bytes;
    int campaign_max_name_bytes;
    int campaign_max_whitelist;
    /* [ws] WebSocket channels on the gateway port (core/gateway/gw_ws*.c) */
    int ws_max_connections;   /* all WebSocket connections */
    int ws_max_per_ip;        /* from one address */
    int ws_send_queue_bytes;  /* a client further behind is closed (1008) */
    int ws_leaderboard_hz;    /* coalesced leaderboard updates per campaign per second */
    int ws_ping_interval_s;   /* keepalive */
    int ws_max_subscriptions; /* channels per connection */
    /* containment (docs/DESIGN.md "Containment") */
    int supervise;              /* engine.supervise: a master process restarts the worker */
    int stop_timeout_ms;        /* engine.stop_timeout_ms: SIGKILL the worker after this */
    int restart_backoff_max_ms; /* engine.restart_backoff_max_ms */
    int probation_s;            /* engine.probation_s: a new generation is proven after this */
    int wd_init_ms, wd_campaign_ms, wd_event_ms, wd_tick_ms, wd_other_ms; /* [watchdog] */
    int wd_query_ms, wd_reward_ms, wd_max_stuck; /* [watchdog], calls on other threads */
    int lua_breaker_failures;    /* lua.breaker_failures in a row suspend a formula */
    int lua_breaker_cooldown_ms; /* lua.breaker_cooldown_ms, doubled on each repeat */
    int lua_batch_budget_ms;     /* lua.batch_budget_ms per formula per batch */
    char on_gap[16];             /* pipeline.on_gap: carry_on | stop */
} bm_config;

/* Nonzero if the configuration runs role BM_ROLE_x. */
int bm_config_has_role(const bm_config *c, int role);

/* Fills every key with its documented default. */
void bm_config_defaults(bm_config *c);

/*
 * Loads `path` over the defaults, then BM_<SECTION>_<KEY> environment
 * overrides. On error returns -1 and writes "file:line: key: reason" to err.
 * path may be NULL (defaults + environment only).
 */
int bm_config_load(bm_config *c, const char *path, char *err, size_t errlen);

/* Sets one key ("section.key") from a string; -1 with err on a bad value. */
int bm_config_set(bm_config *c, const char *section, const char *key, const char *value, char *err,
                  size_t errlen);

/* Calls fn with every key of `section` and its value as text (integers in decimal). */
void bm_config_each(const bm_config *c, const char *section,
                    void (*fn)(void *ud, const char *key, const char *value), void *ud);

/* Writes every key with its current value and help text, as a config file. */
void bm_config_dump(const bm_config *c, void *file);

#endif
