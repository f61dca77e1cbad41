#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { T_STR, T_INT, T_LONG, T_ROLES };

const char *const bm_config_role_names[BM_NROLES] = {"processor", "relay", "gateway", "rewards",
                                                     "scheduler"};

/* One row per key: the file documents the same keys (etc/brightmatter.conf). */
typedef struct key_def {
    const char *section;
    const char *key;
    int type;
    size_t offset;
    size_t size; /* string capacity */
    const char *def;
    long min, max;
    const char *help;
} key_def;

#define STR(sec, k, field, d, h)                                                                   \
    {                                                                                              \
        sec, k, T_STR, offsetof(bm_config, field), sizeof(((bm_config *)0)->field), d, 0, 0, h     \
    }
#define INT(sec, k, field, d, lo, hi, h)                                                           \
    {                                                                                              \
        sec, k, T_INT, offsetof(bm_config, field), 0, d, lo, hi, h                                 \
    }
#define LNG(sec, k, field, d, lo, hi, h)                                                           \
    {                                                                                              \
        sec, k, T_LONG, offsetof(bm_config, field), 0, d, lo, hi, h                                \
    }

static const key_def g_keys[] = {
    {"engine", "roles", T_ROLES, offsetof(bm_config, roles), sizeof(((bm_config *)0)->roles),
     "processor,relay,gateway,rewards", 0, 0,
     "roles this process runs: processor, relay, gateway, rewards, scheduler"},
    INT("engine", "drain_deadline_ms", drain_deadline_ms, "5000", 0, 3600000,
        "a retired module generation still draining after this is reported by bmctl modules"),
    INT("engine", "campaign_end_grace_s", campaign_end_grace_s, "60", 0, 86400,
        "a campaign whose window closed ends this long after its end date (late events)"),
    STR("engine", "modules_dir", modules_dir, BM_DEFAULT_MODULES_DIR, "module .so directory"),
    STR("engine", "run_dir", run_dir, "var/run",
        "runtime files: admin socket, module copies; one engine per run_dir"),
    STR("engine", "log_level", log_level, "info", "debug | info | warn | error"),
    STR("kafka", "brokers", brokers, "embedded", "embedded, or host:port,... of Kafka/Redpanda"),
    STR("kafka", "group_id", group_id, "brightmatter", "consumer group of the processors"),
    STR("kafka", "events_topic", events_topic, "game.events", "topic game events arrive on"),
    STR("kafka", "partitioner", partitioner, "murmur2",
        "maps a userId to its partition of events_topic (murmur2 = the Java client's default, "
        "consistent = CRC32, fnv1a, none); an event found elsewhere is forwarded there"),
    INT("kafka", "embedded_partitions", embedded_partitions, "6", 1, 256,
        "partitions of game.events on the embedded broker"),
    INT("kafka", "session_timeout_ms", session_timeout_ms, "10000", 1000, 300000,
        "a processor that stops heartbeating loses its partitions after this"),
    INT("kafka", "socket_timeout_ms", socket_timeout_ms, "10000", 1000, 300000,
        "a broker connection silent this long is dropped and reopened"),
    STR("kafka", "assignment_strategy", assignment_strategy, "cooperative-sticky",
        "cooperative-sticky (incremental: a join or leave moves only the partitions that change "
        "owner) | range | roundrobin"),
    STR("kafka", "group_instance_id", group_instance_id, "",
        "static membership: a restart with the same id keeps its partitions (\"\" = dynamic)"),
    INT("kafka", "lag_commit_ms", lag_commit_ms, "0", 0, 3600000,
        "commit offsets to Kafka this often for external lag tools (0 = never; PostgreSQL holds "
        "the truth)"),
    STR("postgres", "dsn", pg_dsn, "dbname=brightmatter", "libpq connection string"),
    STR("postgres", "synchronous_commit", pg_synchronous_commit, "on",
        "off: a batch's COMMIT returns before its WAL is flushed (a database crash loses the "
        "last batches, which are read again from Kafka; nothing is lost or applied twice)"),
    INT("pipeline", "batch_max_events", batch_max_events, "50000", 1, 1000000,
        "events per batch transaction at most"),
    INT("pipeline", "batch_linger_ms", batch_linger_ms, "50", 0, 60000,
        "how long a batch waits to fill"),
    INT("pipeline", "max_event_bytes", max_event_bytes, "65536", 256, 16777216,
        "larger events go to the DLQ"),
    INT("pipeline", "past_bound_s", past_bound_s, "2592000", 0, INT_MAX,
        "events older than this (by timestamp) go to the DLQ"),
    INT("pipeline", "future_bound_s", future_bound_s, "300", 0, INT_MAX,
        "events further in the future go to the DLQ"),
    INT("pipeline", "dedup_window_s", dedup_window_s, "3600", 0, INT_MAX,
        "how long an applied eventId is remembered"),
    STR("store", "events", store_events, "on",
        "on: every applied event is kept in game_events (in its batch's transaction) | off"),
    INT("store", "retention_days", store_retention_days, "30", 0, 36500,
        "day partitions of game_events older than this are dropped (0 = keep all)"),
    LNG("lua", "instruction_limit", lua_instruction_limit, "1000000", 1000, 1000000000L,
        "VM instructions per formula call"),
    LNG("lua", "memory_limit_kb", lua_memory_limit_kb, "1024", 64, 1048576,
        "memory per formula state"),
    INT("lua", "pattern_max_len", lua_pattern_max_len, "64", 1, 4096,
        "longest pattern string.find/match/gmatch/gsub accept"),
    STR("http", "listen", http_listen, "127.0.0.1:8080",
        "gateway address host:port (port 0: kernel-chosen, see run_dir/http.port)"),
    INT("http", "threads", http_threads, "4", 1, 256, "libmicrohttpd thread pool size"),
    INT("http", "max_connections", http_max_connections, "1024", 4, 65536,
        "open connections at most"),
    INT("http", "connection_timeout_s", http_conn_timeout_s, "30", 1, 3600,
        "an idle or slow connection is closed after this"),
    INT("http", "max_body_bytes", http_max_body_bytes, "1048576", 1024, 67108864,
        "request body limit, after gzip inflation too (413 above)"),
    INT("http", "max_events_per_body", http_max_events, "500", 1, 100000,
        "events in one POST /v1/events body at most"),
    INT("http", "produce_timeout_ms", http_produce_timeout_ms, "5000", 100, 300000,
        "broker acknowledgement wait before answering 503"),
    INT("http", "rate_per_s", http_rate_per_s, "10000", 1, 100000000,
        "events per second per API key (api_keys.rate_per_s overrides)"),
    INT("http", "rate_burst", http_rate_burst, "20000", 1, 100000000,
        "token bucket size per API key (api_keys.rate_burst overrides)"),
    INT("http", "pg_pool", http_pg_pool, "4", 1, 64, "PostgreSQL connections of the gateway"),
    INT("http", "key_cache_ms", http_key_cache_ms, "5000", 0, 3600000,
        "how long a looked-up API key is trusted (revocation delay)"),
    INT("http", "rank_index_min_entries", http_rank_min_entries, "10000", 0, 2147483647,
        "boards with at least this many entries are ranked in memory (0: every board)"),
    STR("auth", "firebase_project", auth_project, "", "Firebase project id (aud, iss suffix)"),
    STR("auth", "certs_file", auth_certs, "",
        "PEM certificates by kid (JSON object) or JWKS file; reloaded on SIGHUP"),
    INT("auth", "clock_skew_s", auth_clock_skew_s, "60", 0, 3600,
        "leeway on exp, iat and auth_time"),
    INT("rewards", "workers", rewards_workers, "64", 1, 1024, "reward deliveries running at once"),
    INT("rewards", "per_endpoint", rewards_per_endpoint, "16", 1, 1024,
        "deliveries running at once to one endpoint (scheme://host:port)"),
    INT("rewards", "lease_s", rewards_lease_s, "300", 5, 86400,
        "a claimed reward not settled within this is claimed again (crashed host)"),
    INT("rewards", "poll_ms", rewards_poll_ms, "200", 10, 60000,
        "idle wait between looks for due rewards"),
    STR("rewards", "backoff", rewards_backoff, "5s,30s,2m,10m,1h,6h",
        "delay before retry 1, 2, ... (units ms, s, m, h, d)"),
    STR("rewards", "backoff_repeat", rewards_backoff_repeat, "12h",
        "delay between retries once the list is used up"),
    STR("rewards", "give_up_after", rewards_give_up, "3d",
        "a reward fails once its retry delays add up to more than this"),
    INT("rewards", "jitter_pct", rewards_jitter_pct, "20", 0, 100,
        "every retry delay is moved by up to this percent either way"),
    STR("chain", "rpc_url", chain_rpc_url, "",
        "JSON-RPC URL of the node or signer that signs payouts (http or https; empty: none)"),
    STR("chain", "from", chain_from, "", "sending account of payouts, 0x + 40 hex (empty: none)"),
    LNG("chain", "chain_id", chain_id, "1", 1, LONG_MAX, "EIP-155 chain id payouts are signed for"),
    INT("chain", "confirmations", chain_confirmations, "1", 1, 10000,
        "a payout completes once its block has this many blocks on top, itself included"),
    LNG("chain", "gas", chain_gas, "300000", 21000, 100000000,
        "gas limit of each payout transaction"),
    STR("security", "command_key_file", command_key_file, "",
        "HMAC key that command events must be signed with (empty: <run_dir>/command.key, "
        "created at first start, mode 0600)"),
    STR("security", "command_key_previous_file", command_key_previous_file, "",
        "previous command key, still accepted while signers move to the new one"),
    STR("security", "admin_group", admin_group, "",
        "group owning admin.sock (mode 0660); empty: the engine's own group"),
    INT("security", "dlq_original_max_bytes", dlq_original_max_bytes, "4096", 0, 262144,
        "bytes of a rejected event kept in its DLQ record (length and SHA-256 always kept)"),
    INT("campaigns", "max_config_bytes", campaign_max_config_bytes, "262144", 1024, 16777216,
        "largest campaign config document accepted"),
    INT("campaigns", "max_name_bytes", campaign_max_name_bytes, "200", 16, 65536,
        "longest campaign name accepted"),
    INT("campaigns", "max_whitelist", campaign_max_whitelist, "10000", 0, 10000000,
        "most userIds a campaign's whitelist may list (use a community for larger audiences)"),
    INT("ws", "max_connections", ws_max_connections, "10000", 1, 1000000,
        "WebSocket connections (GET /v1/ws) at most, all addresses together"),
    INT("ws", "max_per_ip", ws_max_per_ip, "256", 1, 1000000,
        "WebSocket connections from one address at most"),
    INT("ws", "send_queue_bytes", ws_send_queue_bytes, "262144", 1024, 67108864,
        "bytes waiting for one slow client before it is closed with 1008"),
    INT("ws", "leaderboard_hz", ws_leaderboard_hz, "4", 1, 100,
        "leaderboard updates per second per campaign at most (changes coalesced)"),
    INT("ws", "ping_interval_s", ws_ping_interval_s, "25", 1, 3600,
        "a quiet connection is pinged after this; closed after twice this"),
    INT("ws", "max_subscriptions", ws_max_subscriptions, "64", 1, 4096,
        "channels one connection may subscribe to"),
    /* containment */
    INT("engine", "supervise", supervise, "1", 0, 1,
        "1: a master process runs the engine as a worker and restarts it after a crash"),
    INT("engine", "stop_timeout_ms", stop_timeout_ms, "20000", 100, 600000,
        "SIGTERM stops the engine within this; the worker is killed after it"),
    INT("engine", "restart_backoff_max_ms", restart_backoff_max_ms, "30000", 100, 3600000,
        "longest wait before restarting a crashed worker (doubles from 250 ms)"),
    INT("engine", "probation_s", probation_s, "30", 0, 86400,
        "a newly loaded module generation becomes the last known good copy after this"),
    INT("watchdog", "init_ms", wd_init_ms, "30000", 10, 3600000, "deadline of a module's init"),
    INT("watchdog", "campaign_ms", wd_campaign_ms, "10000", 10, 3600000,
        "deadline of campaign_add/update/remove"),
    INT("watchdog", "event_ms", wd_event_ms, "5000", 10, 3600000,
        "deadline of one on_event call (formulas included)"),
    INT("watchdog", "tick_ms", wd_tick_ms, "10000", 10, 3600000, "deadline of one on_tick call"),
    INT("watchdog", "other_ms", wd_other_ms, "10000", 10, 3600000, "deadline of drain and destroy"),
    INT("watchdog", "query_ms", wd_query_ms, "5000", 10, 3600000,
        "deadline of one query call; an overrun is answered 504"),
    INT("watchdog", "reward_ms", wd_reward_ms, "60000", 10, 3600000,
        "deadline of one on_reward call; an overrun is retried later"),
    INT("watchdog", "max_stuck", wd_max_stuck, "8", 0, 1000,
        "calls abandoned past their deadline still running before the worker restarts (0: no cap)"),
    INT("lua", "breaker_failures", lua_breaker_failures, "5", 1, 1000000,
        "failures or overruns in a row that suspend a formula"),
    INT("lua", "breaker_cooldown_ms", lua_breaker_cooldown_ms, "1000", 1, 86400000,
        "first suspension; doubles on each repeat (up to 1 hour)"),
    INT("lua", "batch_budget_ms", lua_batch_budget_ms, "50", 1, 3600000,
        "time one formula may use per batch; its later events in the batch are skipped"),
    STR("pipeline", "on_gap", on_gap, "carry_on",
        "carry_on | stop: what a partition does when the broker lost events it needs"),
};
#define NKEYS (sizeof g_keys / sizeof g_keys[0])

static const key_def *find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcasecmp(g_keys[i].section, section) == 0 && strcasecmp(g_keys[i].key, key) == 0)
            return &g_keys[i];
    return NULL;
}

int bm_config_has_role(const bm_config *c, int role)
{
    return role >= 0 && role < BM_NROLES && (c->role_set & (1u << role)) != 0;
}

/* "processor, relay" -> bit set; unknown or repeated names are refused. */
static int parse_roles(const char *value, unsigned *out, char *err, size_t errlen)
{
    unsigned set = 0;
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == 0)
            break;
        int found = -1;
        for (int i = 0; i < BM_NROLES; i++)
            if (strlen(bm_config_role_names[i]) == n && strncmp(p, bm_config_role_names[i], n) == 0)
                found = i;
        if (found < 0) {
            snprintf(err, errlen,
                     "engine.roles: unknown role '%.*s' (known: processor, relay, gateway, "
                     "rewards, scheduler)",
                     (int)(n > 64 ? 64 : n), p);
            return -1;
        }
        if (set & (1u << found)) {
            snprintf(err, errlen, "engine.roles: role '%s' given twice",
                     bm_config_role_names[found]);
            return -1;
        }
        set |= 1u << found;
        p += n;
    }
    if (!set) {
        snprintf(err, errlen, "engine.roles: at least one role is needed");
        return -1;
    }
    *out = set;
    return 0;
}

/* chain.from and chain.rpc_url, when set: an address and an http(s) URL. */
static int check_chain(const key_def *k, const char *value, char *err, size_t errlen)
{
    if (strcmp(k->section, "chain") != 0 || !*value)
        return 0;
    if (strcmp(k->key, "from") == 0) {
        size_t n = strlen(value), i = 2;
        if (n == 42 && value[0] == '0' && (value[1] == 'x' || value[1] == 'X'))
            while (i < n && isxdigit((unsigned char)value[i]))
                i++;
        if (n != 42 || i != n) {
            snprintf(err, errlen, "chain.from: '%.64s' is not an address (0x and 40 hex digits)",
                     value);
            return -1;
        }
    }
    if (strcmp(k->key, "rpc_url") == 0 && strncasecmp(value, "http://", 7) != 0 &&
        strncasecmp(value, "https://", 8) != 0) {
        snprintf(err, errlen, "chain.rpc_url: '%.64s' is not an http:// or https:// URL", value);
        return -1;
    }
    return 0;
}

static int set_value(bm_config *c, const key_def *k, const char *value, char *err, size_t errlen)
{
    char *base = (char *)c + k->offset;
    if (k->type == T_ROLES && parse_roles(value, &c->role_set, err, errlen) != 0)
        return -1;
    if (k->type == T_STR && strcmp(k->key, "log_level") == 0 && strcasecmp(value, "debug") != 0 &&
        strcasecmp(value, "info") != 0 && strcasecmp(value, "warn") != 0 &&
        strcasecmp(value, "error") != 0) {
        snprintf(err, errlen, "%s.%s: '%.32s' is not one of debug, info, warn, error", k->section,
                 k->key, value);
        return -1;
    }
    if (k->type == T_STR && strcmp(k->key, "partitioner") == 0 && strcmp(value, "murmur2") != 0 &&
        strcmp(value, "consistent") != 0 && strcmp(value, "fnv1a") != 0 &&
        strcmp(value, "none") != 0) {
        snprintf(err, errlen, "%s.%s: '%.32s' is not one of murmur2, consistent, fnv1a, none",
                 k->section, k->key, value);
        return -1;
    }
    if (k->type == T_STR && check_chain(k, value, err, errlen) != 0)
        return -1;
    if (k->type == T_STR || k->type == T_ROLES) {
        if (strlen(value) >= k->size) {
            snprintf(err, errlen, "%s.%s: value longer than %zu bytes", k->section, k->key,
                     k->size - 1);
            return -1;
        }
        memcpy(base, value, strlen(value) + 1);
        return 0;
    }
    errno = 0;
    char *end = NULL;
    long v = strtol(value, &end, 10);
    while (end && isspace((unsigned char)*end))
        end++;
    if (errno || end == value || (end && *end)) {
        snprintf(err, errlen, "%s.%s: '%s' is not an integer", k->section, k->key, value);
        return -1;
    }
    if (v < k->min || v > k->max) {
        snprintf(err, errlen, "%s.%s: %ld is outside %ld..%ld", k->section, k->key, v, k->min,
                 k->max);
        return -1;
    }
    if (k->type == T_INT)
        *(int *)base = (int)v;
    else
        *(long *)base = v;
    return 0;
}

int bm_config_set(bm_config *c, const char *section, const char *key, const char *value, char *err,
                  size_t errlen)
{
    const key_def *k = find_key(section, key);
    if (!k) {
        snprintf(err, errlen, "unknown key %s.%s", section, key);
        return -1;
    }
    return set_value(c, k, value, err, errlen);
}

void bm_config_defaults(bm_config *c)
{
    char err[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NKEYS; i++)
        (void)set_value(c, &g_keys[i], g_keys[i].def, err, sizeof err);
}

typedef struct parse_ctx {
    bm_config *c;
    const char *path;
    char *err;
    size_t errlen;
    int failed;
    char why[300];
} parse_ctx;

/* Returning 0 makes ini_parse_file report this line as the first error. */
static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *p = user;
    if (p->failed)
        return 1;
    if (strcasecmp(section, "librdkafka") == 0) {
        size_t used = strlen(p->c->kafka_props), need = strlen(name) + strlen(value) + 2;
        if (strchr(name, '\n') || strchr(value, '\n') || used + need >= sizeof p->c->kafka_props) {
            snprintf(p->why, sizeof p->why, "librdkafka.%s: the [librdkafka] section is too long",
                     name);
            p->failed = 1;
            return 0;
        }
        snprintf(p->c->kafka_props + used, sizeof p->c->kafka_props - used, "%s=%s\n", name, value);
        return 1;
    }
    if (bm_config_set(p->c, section, name, value, p->why, sizeof p->why) != 0) {
        p->failed = 1;
        return 0;
    }
    return 1;
}

/* BM_PIPELINE_BATCH_MAX_EVENTS overrides [pipeline] batch_max_events. */
static int apply_env(bm_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char name[128];
        snprintf(name, sizeof name, "BM_%s_%s", g_keys[i].section, g_keys[i].key);
        for (char *q = name; *q; q++)
            *q = (char)toupper((unsigned char)*q);
        const char *v = getenv(name);
        if (!v)
            continue;
        char why[300];
        if (set_value(c, &g_keys[i], v, why, sizeof why) != 0) {
            snprintf(err, errlen, "environment %s: %s", name, why);
            return -1;
        }
    }
    return 0;
}

int bm_config_load(bm_config *c, const char *path, char *err, size_t errlen)
{
    bm_config_defaults(c);
    if (path) {
        FILE *f = fopen(path, "r");
        if (!f) {
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
            return -1;
        }
        parse_ctx p = {.c = c, .path = path, .err = err, .errlen = errlen};
        int rc = ini_parse_file(f, on_ini, &p);
        fclose(f);
        if (p.failed) {
            snprintf(err, errlen, "%s:%d: %s", path, rc, p.why);
            return -1;
        }
        if (rc > 0) {
            snprintf(err, errlen, "%s:%d: syntax error", path, rc);
            return -1;
        }
        if (rc < 0) {
            snprintf(err, errlen, "%s: read error", path);
            return -1;
        }
    }
    if (apply_env(c, err, errlen) != 0)
        return -1;
    if (strcmp(c->on_gap, "carry_on") != 0 && strcmp(c->on_gap, "stop") != 0) {
        snprintf(err, errlen, "pipeline.on_gap: '%s' must be carry_on or stop", c->on_gap);
        return -1;
    }
    if (strcmp(c->pg_synchronous_commit, "on") != 0 &&
        strcmp(c->pg_synchronous_commit, "off") != 0) {
        snprintf(err, errlen, "postgres.synchronous_commit: '%s' must be on or off",
                 c->pg_synchronous_commit);
        return -1;
    }
    return 0;
}

void bm_config_each(const bm_config *c, const char *section,
                    void (*fn)(void *ud, const char *key, const char *value), void *ud)
{
    char text[1100];
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &g_keys[i];
        if (strcasecmp(k->section, section) != 0)
            continue;
        const char *base = (const char *)c + k->offset;
        if (k->type == T_STR || k->type == T_ROLES)
            snprintf(text, sizeof text, "%s", base);
        else if (k->type == T_INT)
            snprintf(text, sizeof text, "%d", *(const int *)base);
        else
            snprintf(text, sizeof text, "%ld", *(const long *)base);
        fn(ud, k->key, text);
    }
}

void bm_config_dump(const bm_config *c, void *file)
{
    FILE *f = file;
    const char *last = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &g_keys[i];
        if (strcmp(last, k->section) != 0) {
            fprintf(f, "%s[%s]\n", i ? "\n" : "", k->section);
            last = k->section;
        }
        const char *base = (const char *)c + k->offset;
        fprintf(f, "; %s (default %s)\n", k->help, k->def);
        if (k->type == T_STR || k->type == T_ROLES)
            fprintf(f, "%s = %s\n", k->key, base);
        else if (k->type == T_INT)
            fprintf(f, "%s = %d\n", k->key, *(const int *)base);
        else
            fprintf(f, "%s = %ld\n", k->key, *(const long *)base);
    }
    /* librdkafka properties passed as they are (security.protocol, sasl.*, ssl.*, ...) */
    fprintf(f, "\n[librdkafka]\n%s", c->kafka_props);
}
