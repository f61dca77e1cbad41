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
    char brokers[512];       /* "embedded" or host:port,... */
    char group_id[128];      /* consumer group of the processors */
    char events_topic[128];  /* game.events */
    int embedded_partitions; /* partitions of game.events in embedded mode */
    int session_timeout_ms;  /* group membership lapses after this without heartbeats */
    int socket_timeout_ms;   /* a silent broker connection is given up after this */
    /* [postgres] */
    char pg_dsn[1024];
    /* [pipeline] */
    int batch_max_events;
    int batch_linger_ms;
    int max_event_bytes;
    int past_bound_s;
    int future_bound_s;
    int dedup_window_s;
    /* [lua] */
    long lua_instruction_limit;
    long lua_memory_limit_kb;
    int lua_pattern_max_len;
    /* containment (docs/DESIGN.md "Containment") */
    int supervise;              /* engine.supervise: a master process restarts the worker */
    int stop_timeout_ms;        /* engine.stop_timeout_ms: SIGKILL the worker after this */
    int restart_backoff_max_ms; /* engine.restart_backoff_max_ms */
    int probation_s;            /* engine.probation_s: a new generation is proven after this */
    int wd_init_ms, wd_campaign_ms, wd_event_ms, wd_tick_ms, wd_other_ms; /* [watchdog] */
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

/* Writes every key with its current value and help text, as a config file. */
void bm_config_dump(const bm_config *c, void *file);

#endif
