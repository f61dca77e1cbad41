/*
 * End-to-end test helpers: the real `brightmatter` engine as a child process,
 * a Kafka mock cluster hosted by the test process (so it survives kill -9 of
 * the engine and takes fault injection), a fresh migrated database, bmctl and
 * bm-loadgen runs, bm-loadgen's expect file, and board comparisons.
 *
 * Every helper fails the calling cmocka test (fail_msg) on error. Every child
 * is registered so a failing test never leaves one running: the teardown
 * (bm_e2e_cleanup) and an atexit handler kill them, and each child also gets
 * SIGKILL from the kernel if the test process dies.
 */
#ifndef BM_E2E_H
#define BM_E2E_H

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cmdauth/cmdauth.h"
#include "kafka/kafka.h"

#define BM_E2E_MAX_ENV 32

/* The command key written to every test's run dir (cmdauth.h). */
#define BM_E2E_COMMAND_KEY "e2e-command-key-0123456789abcdef"

/* One test's world: temp dir, database, broker, engine settings. */
typedef struct bm_e2e {
    char name[48];
    char dir[256];      /* /tmp/bm-e2e-<name>-XXXXXX */
    char run_dir[320];  /* engine.run_dir */
    char mods_dir[320]; /* engine.modules_dir: a private copy of leaderboard.so */
    char build_dir[1024];
    char dbname[48]; /* bm_testdb name (database bmt_<dbname>) */
    char dsn[1024];
    PGconn *db;
    bm_broker *broker;
    char bootstrap[256];
    char group[64];
    int partitions;
    char env[BM_E2E_MAX_ENV][256];
    int nenv;
    int nengines;
    /* Run dirs of the engines started here: one engine per run dir (the engine
     * refuses a second), so a second live engine gets <run dir>-<n>. */
    struct {
        pid_t pid;
        char dir[340];
    } runs[16];
    int nruns;
} bm_e2e;

/* An engine child process. */
typedef struct bm_e2e_engine {
    pid_t pid;
    char log[400];
    int reaped;
    int status; /* wait status once reaped */
} bm_e2e_engine;

/* --- setup ------------------------------------------------------------------------ */

/* Temp dir, database bmt_<name>_<pid>, broker with `partitions` on game.events,
 * leaderboard.so copied into a private modules dir. */
void bm_e2e_init(bm_e2e *e, const char *name, int partitions);
/* Kills children, stops the broker, drops the database, removes the temp dir
 * (kept when BM_E2E_KEEP=1). Safe on a partly initialised e. */
void bm_e2e_cleanup(bm_e2e *e);
/* cmocka setup/teardown: a zeroed bm_e2e in *state; its cleanup and free. */
int bm_e2e_setup(void **state);
int bm_e2e_teardown(void **state);
/* Copies build/modules/<name> (e.g. "tournament.so") into the test's modules dir. */
void bm_e2e_install_module(bm_e2e *e, const char *name);
/* Adds KEY=VALUE to the environment of every engine and bmctl started after. */
void bm_e2e_setenv(bm_e2e *e, const char *key, const char *value);
/* Writes the path of a build artefact (relative to BM_BUILD_DIR) into buf. */
const char *bm_e2e_build_path(const bm_e2e *e, const char *rel, char *buf, size_t cap);

/* --- processes ---------------------------------------------------------------------- */

/* Starts argv with the test's environment; stdout+stderr to out_path (or /dev/null). */
pid_t bm_e2e_spawn(const bm_e2e *e, char *const argv[], const char *out_path);
/* Waits for a spawned child up to timeout_ms; returns its exit code, or fails the
 * test (killing it) when it times out or dies of a signal. */
int bm_e2e_wait_exit(pid_t pid, int timeout_ms, const char *what);
/* Runs argv to completion (timeout_ms) and returns its exit code; its output
 * (stdout+stderr, NUL-terminated, malloc'd) goes to *out when out is not NULL. */
int bm_e2e_run(const bm_e2e *e, char *const argv[], char **out, int timeout_ms);
/* SIGKILLs every child still registered and reaps it. */
void bm_e2e_kill_children(void);

/* Starts `brightmatter run`; log in <dir>/engine-<n>.log. */
void bm_e2e_engine_start(bm_e2e *e, bm_e2e_engine *g);
/* 1 while the process runs (reaps it once it has ended). */
int bm_e2e_engine_alive(bm_e2e_engine *g);
/* kill -9 and reap. */
void bm_e2e_engine_kill9(bm_e2e_engine *g);
/* SIGTERM; asserts exit status 0 within timeout_ms; returns the ms it took. */
long bm_e2e_engine_stop(bm_e2e_engine *g, int timeout_ms);
/* Sends a signal (SIGHUP for reload). */
void bm_e2e_engine_signal(bm_e2e_engine *g, int sig);
/* 1 when the engine's log contains needle. */
int bm_e2e_log_contains(const bm_e2e_engine *g, const char *needle);
/* Number of log lines containing needle. */
int bm_e2e_log_count(const bm_e2e_engine *g, const char *needle);
/* Polls the log for needle; fails the test after timeout_ms or if the engine dies. */
void bm_e2e_wait_log(bm_e2e_engine *g, const char *needle, int timeout_ms);
/* Prints the last lines of the engine log (diagnostics on failure). */
void bm_e2e_log_tail(const bm_e2e_engine *g, int lines);

/* --- database ---------------------------------------------------------------------- */

/* One integer from a query (printf-style SQL); reconnects once if the connection broke. */
long long bm_e2e_ll(bm_e2e *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* sum(next_offset) of the test's consumer group. */
long long bm_e2e_offsets_sum(bm_e2e *e);
/* Polls until sum(next_offset) >= target and returns it; fails on timeout or if
 * g (may be NULL) dies. */
long long bm_e2e_wait_offsets(bm_e2e *e, bm_e2e_engine *g, long long target, int timeout_ms);
/* Asserts the consumer_offsets counters of the group. */
void bm_e2e_assert_counters(bm_e2e *e, long long produced, long long applied, long long rejected,
                            long long duplicate);
/* sum(message_count) of outbox rows for topic. */
long long bm_e2e_outbox_count(bm_e2e *e, const char *topic);

/* --- Kafka --------------------------------------------------------------------------- */

/* Sum of high watermarks of topic; asserts every low watermark is 0 (nothing dropped). */
long long bm_e2e_topic_end(bm_e2e *e, const char *topic);
/* An idempotent producer to the test broker. */
rd_kafka_t *bm_e2e_producer(bm_e2e *e);
/* Queues one message (copied); key may be NULL. Command events (cmdauth.h) are
 * signed with BM_E2E_COMMAND_KEY, as bmctl and the gateway sign them. */
void bm_e2e_produce(rd_kafka_t *p, const char *key, const void *val, size_t len);
/* Flushes and destroys the producer; asserts every message was delivered. */
void bm_e2e_producer_close(rd_kafka_t *p);

/* --- tools ----------------------------------------------------------------------------- */

/* Runs bm-loadgen to completion with args (NULL-terminated, --bootstrap added);
 * returns "produced" from its summary. */
long long bm_e2e_loadgen(bm_e2e *e, const char *const *args);
/* Starts bm-loadgen in the background; collect with bm_e2e_loadgen_wait. */
pid_t bm_e2e_loadgen_start(bm_e2e *e, const char *const *args, const char *out_path);
long long bm_e2e_loadgen_wait(pid_t pid, const char *out_path, int timeout_ms);
/* Runs bmctl with args (NULL-terminated); returns exit code, output in *out (malloc'd). */
int bm_e2e_bmctl(bm_e2e *e, char **out, const char *const *args);
/* `bmctl campaign create` on this JSON text; asserts success; writes the campaign id. */
void bm_e2e_campaign(bm_e2e *e, const char *json, char *id, size_t idlen);
/* `bmctl modules --json`, parsed; caller json_decref's. */
json_t *bm_e2e_modules(bm_e2e *e);
/* The campaigns[] entry with this id in a modules answer, or NULL. */
json_t *bm_e2e_modules_campaign(json_t *modules, const char *id);
/* The generation of the module named `name` in a modules answer, or -1. */
int bm_e2e_module_generation(json_t *modules, const char *name);

/* --- independent counts -------------------------------------------------------------- */

typedef struct bm_e2e_field {
    char name[32];
    long long sum, max, min, last;
} bm_e2e_field;

typedef struct bm_e2e_row {
    char user[64];
    char game[64];
    char type[32];
    long long count;
    int nfields;
    bm_e2e_field f[4];
} bm_e2e_row;

typedef struct bm_e2e_expect {
    bm_e2e_row *rows;
    size_t n, cap;
    long long valid, bad, dups;
} bm_e2e_expect;

/* Adds a bm-loadgen expect file (rows of the same user and type merge). */
void bm_e2e_expect_load(bm_e2e_expect *x, const char *path);
/* Adds one valid event with the given numeric fields (for streams the test builds). */
void bm_e2e_expect_add(bm_e2e_expect *x, const char *user, const char *game, const char *type,
                       const char *const *names, const long long *values, int n);
void bm_e2e_expect_free(bm_e2e_expect *x);
/* A row's field, or NULL. */
const bm_e2e_field *bm_e2e_row_field(const bm_e2e_row *r, const char *name);

/* Expected board value of one (user, type) row. */
typedef double (*bm_e2e_value_fn)(const bm_e2e_row *r, const void *ud);
double bm_e2e_value_sum(const bm_e2e_row *r, const void *field);
double bm_e2e_value_max(const bm_e2e_row *r, const void *field);
double bm_e2e_value_count(const bm_e2e_row *r, const void *unused);

/*
 * Asserts that campaign `camp` holds exactly one user_progress row per expect
 * row of event type `type`, with current_value == fn(row) and event_count ==
 * row count, and no other rows. Returns the number of entries compared.
 */
size_t bm_e2e_assert_board(bm_e2e *e, const char *camp, const bm_e2e_expect *x, const char *type,
                           bm_e2e_value_fn fn, const void *ud);

/* --- a database server of the test's own (for stopping and starting it) ------------ */

typedef struct bm_e2e_pg {
    char dir[256]; /* data/, the socket and postgres.log */
    char data[300];
    char log[300];
    char bindir[256];
    char user[64]; /* cluster owner: postgres when the test runs as root */
    int running;
} bm_e2e_pg;

/* initdb + start in a temp dir; sets BM_POSTGRES_DSN (this process) to it, so
 * call it before bm_e2e_init. */
void bm_e2e_pg_start(bm_e2e_pg *pg);
/* pg_ctl stop -m fast / pg_ctl start. */
void bm_e2e_pg_down(bm_e2e_pg *pg);
void bm_e2e_pg_up(bm_e2e_pg *pg);
/* Stops the server (immediate) and removes its directory. */
void bm_e2e_pg_stop(bm_e2e_pg *pg);

/* --- small things ------------------------------------------------------------------- */

/* What main returns: after a failed test the process ends at once (children
 * killed, output flushed), so the leak checker does not add noise about what
 * the failed test could not free; a passing run exits normally and is checked. */
int bm_e2e_exit(int failed);

/* fail_msg that the compiler and static checkers know never returns. */
void bm_e2e_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

int64_t bm_e2e_now_ms(void);
/* Wall-clock ms (campaign windows are wall time; bm_e2e_now_ms is monotonic). */
int64_t bm_e2e_wall_ms(void);
void bm_e2e_sleep_ms(int ms);
/* Deterministic pseudo-random numbers (xorshift64*). */
typedef struct bm_e2e_rng {
    uint64_t s;
} bm_e2e_rng;
void bm_e2e_rng_seed(bm_e2e_rng *r, uint64_t seed);
uint64_t bm_e2e_rng_next(bm_e2e_rng *r);
/* Uniform in [lo, hi]. */
long bm_e2e_rng_range(bm_e2e_rng *r, long lo, long hi);
/* Reads a whole file (NUL-terminated, malloc'd) or NULL. */
char *bm_e2e_slurp(const char *path, size_t *len);
/* Writes a file; fails the test on error. */
void bm_e2e_write_file(const char *path, const void *data, size_t len);

#endif
