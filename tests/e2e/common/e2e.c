/*
 * The e2e world: temp dir, database, broker hosted in the test process, and
 * the questions tests ask of PostgreSQL and Kafka.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e.h"
#include "support/testdb.h"

const char *bm_e2e_build_path(const bm_e2e *e, const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", e->build_dir, rel);
    return buf;
}

void bm_e2e_setenv(bm_e2e *e, const char *key, const char *value)
{
    size_t klen = strlen(key);
    int slot = e->nenv;
    for (int i = 0; i < e->nenv; i++)
        if (strncmp(e->env[i], key, klen) == 0 && e->env[i][klen] == '=')
            slot = i;
    if (slot >= BM_E2E_MAX_ENV)
        bm_e2e_fail("too many environment overrides");
    int n = snprintf(e->env[slot], sizeof e->env[slot], "%s=%s", key, value);
    if (n < 0 || (size_t)n >= sizeof e->env[slot])
        bm_e2e_fail("environment value for %s too long", key);
    if (slot == e->nenv)
        e->nenv++;
}

static void copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *data = bm_e2e_slurp(from, &len);
    if (!data)
        bm_e2e_fail("cannot read %s: %s", from, strerror(errno));
    bm_e2e_write_file(to, data, len);
    free(data);
}

void bm_e2e_init(bm_e2e *e, const char *name, int partitions)
{
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    const char *b = getenv("BM_BUILD_DIR");
    if (!b || !*b)
        bm_e2e_fail("BM_BUILD_DIR not set: run through ctest");
    snprintf(e->build_dir, sizeof e->build_dir, "%s", b);
    const char *admin = getenv("BM_POSTGRES_DSN");
    if (!admin || !*admin)
        bm_e2e_fail("BM_POSTGRES_DSN not set: run through scripts/test (or source "
                    "scripts/lib/common.sh and call bm_pg_start)");
    snprintf(e->dir, sizeof e->dir, "/tmp/bm-e2e-%s-XXXXXX", name);
    if (!mkdtemp(e->dir))
        bm_e2e_fail("mkdtemp: %s", strerror(errno));
    chmod(e->dir, 0755);
    snprintf(e->run_dir, sizeof e->run_dir, "%s/run", e->dir);
    snprintf(e->mods_dir, sizeof e->mods_dir, "%s/modules", e->dir);
    if (mkdir(e->run_dir, 0755) != 0 || mkdir(e->mods_dir, 0755) != 0)
        bm_e2e_fail("mkdir under %s: %s", e->dir, strerror(errno));
    char src[1100], dst[400];
    /* The engine's command key, known to the test so it can sign commands. */
    snprintf(dst, sizeof dst, "%s/command.key", e->run_dir);
    bm_e2e_write_file(dst, BM_E2E_COMMAND_KEY, strlen(BM_E2E_COMMAND_KEY));
    chmod(dst, 0600);
    copy_file(bm_e2e_build_path(e, "modules/leaderboard.so", src, sizeof src),
              (snprintf(dst, sizeof dst, "%s/leaderboard.so", e->mods_dir), dst));

    char dbname[sizeof e->dbname];
    snprintf(dbname, sizeof dbname, "e2e_%s_%d", name, (int)getpid());
    e->db = bm_testdb_create(dbname, e->dsn, sizeof e->dsn);
    snprintf(e->dbname, sizeof e->dbname, "%s", dbname);

    char err[512];
    e->partitions = partitions;
    e->broker = bm_broker_start(partitions, NULL, err, sizeof err);
    if (!e->broker)
        bm_e2e_fail("broker: %s", err);
    snprintf(e->bootstrap, sizeof e->bootstrap, "%s", bm_broker_bootstraps(e->broker));
    snprintf(e->group, sizeof e->group, "e2e-%s", name);

    bm_e2e_setenv(e, "BM_KAFKA_BROKERS", e->bootstrap);
    bm_e2e_setenv(e, "BM_KAFKA_GROUP_ID", e->group);
    bm_e2e_setenv(e, "BM_POSTGRES_DSN", e->dsn);
    bm_e2e_setenv(e, "BM_ENGINE_MODULES_DIR", e->mods_dir);
    bm_e2e_setenv(e, "BM_ENGINE_RUN_DIR", e->run_dir);
    /* Every engine of the test signs and checks commands with the same key, whatever
     * its run dir. */
    snprintf(dst, sizeof dst, "%s/command.key", e->run_dir);
    bm_e2e_setenv(e, "BM_SECURITY_COMMAND_KEY_FILE", dst);
    bm_e2e_setenv(e, "BM_ENGINE_LOG_LEVEL", "info");
    bm_e2e_setenv(e, "BM_PIPELINE_BATCH_MAX_EVENTS", "2000");
    /* The gateway role binds a kernel-chosen port (run_dir/http.port): tests run side by side. */
    bm_e2e_setenv(e, "BM_HTTP_LISTEN", "127.0.0.1:0");
    /* No master restarting a crashed engine: in these tests a crash (or a
     * sanitizer report) is a failure to see, not something to recover from.
     * The containment tests turn it back on. */
    bm_e2e_setenv(e, "BM_ENGINE_SUPERVISE", "0");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void bm_e2e_cleanup(bm_e2e *e)
{
    bm_e2e_kill_children();
    if (e->broker) {
        bm_broker_stop(e->broker);
        e->broker = NULL;
    }
    const char *keep = getenv("BM_E2E_KEEP");
    int keeping = keep && strcmp(keep, "1") == 0;
    if (e->dbname[0] && !keeping) {
        bm_testdb_drop(e->db, e->dbname);
        e->db = NULL;
    } else if (e->db) {
        PQfinish(e->db);
        e->db = NULL;
    }
    if (e->dir[0] && !keeping)
        nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else if (e->dir[0])
        fprintf(stderr, "e2e: kept %s and database bmt_%s\n", e->dir, e->dbname);
}

/* --- database ------------------------------------------------------------------------ */

long long bm_e2e_ll(bm_e2e *e, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    for (int attempt = 0;; attempt++) {
        if (PQstatus(e->db) != CONNECTION_OK)
            PQreset(e->db);
        PGresult *r = PQexec(e->db, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1) {
            long long v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            PQclear(r);
            return v;
        }
        char msg[512];
        snprintf(msg, sizeof msg, "%s",
                 PQresultStatus(r) == PGRES_TUPLES_OK ? "expected one value"
                                                      : PQerrorMessage(e->db));
        PQclear(r);
        /* A restarted server breaks the connection: one reset and retry. */
        if (attempt < 20 && PQstatus(e->db) != CONNECTION_OK) {
            bm_e2e_sleep_ms(100);
            continue;
        }
        bm_e2e_fail("%s: %s", sql, msg);
    }
}

long long bm_e2e_offsets_sum(bm_e2e *e)
{
    return bm_e2e_ll(e,
                     "SELECT COALESCE(sum(next_offset), 0) FROM consumer_offsets WHERE group_id = "
                     "'%s' AND topic = 'game.events'",
                     e->group);
}

long long bm_e2e_wait_offsets(bm_e2e *e, bm_e2e_engine *g, long long target, int timeout_ms)
{
    int64_t deadline = bm_e2e_now_ms() + timeout_ms;
    long long got;
    while ((got = bm_e2e_offsets_sum(e)) < target) {
        if (g && !bm_e2e_engine_alive(g)) {
            bm_e2e_log_tail(g, 40);
            bm_e2e_fail("engine died (status 0x%x) at offsets %lld of %lld", g->status, got,
                        target);
        }
        if (bm_e2e_now_ms() > deadline) {
            if (g)
                bm_e2e_log_tail(g, 40);
            for (int p = 0; p < e->partitions; p++) {
                long long n = bm_e2e_ll(e,
                                        "SELECT COALESCE(max(next_offset), -1) FROM "
                                        "consumer_offsets WHERE group_id = '%s' AND partition = %d",
                                        e->group, p);
                fprintf(stderr, "partition %d: next_offset %lld\n", p, n);
            }
            bm_e2e_fail("offsets reached %lld of %lld within %d ms", got, target, timeout_ms);
        }
        bm_e2e_sleep_ms(25);
    }
    return got;
}

void bm_e2e_assert_counters(bm_e2e *e, long long produced, long long applied, long long rejected,
                            long long duplicate)
{
    const char *q = "SELECT COALESCE(sum(%s), 0) FROM consumer_offsets WHERE group_id = '%s'";
    long long next = bm_e2e_ll(e, q, "next_offset", e->group);
    long long a = bm_e2e_ll(e, q, "events_applied", e->group);
    long long r = bm_e2e_ll(e, q, "events_rejected", e->group);
    long long d = bm_e2e_ll(e, q, "events_duplicate", e->group);
    if (next != produced || a != applied || r != rejected || d != duplicate)
        bm_e2e_fail("consumer_offsets: next_offset %lld applied %lld rejected %lld duplicate %lld; "
                    "want %lld %lld %lld %lld",
                    next, a, r, d, produced, applied, rejected, duplicate);
    /* Every message is accounted for exactly once. */
    assert_int_equal(a + r + d, produced);
}

long long bm_e2e_outbox_count(bm_e2e *e, const char *topic)
{
    return bm_e2e_ll(e, "SELECT COALESCE(sum(message_count), 0) FROM outbox WHERE topic = '%s'",
                     topic);
}

/* --- Kafka ----------------------------------------------------------------------------- */

/* A fresh client per question: one kept across a broker outage could sit on a
 * dead connection until librdkafka's socket timeout. */
static rd_kafka_t *probe_new(const bm_e2e *e)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", e->bootstrap, err, sizeof err) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err))
        bm_e2e_fail("probe config: %s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        bm_e2e_fail("probe: %s", err);
    return rk;
}

long long bm_e2e_topic_end(bm_e2e *e, const char *topic)
{
    rd_kafka_t *rk = probe_new(e);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    int parts = !rc && md && md->topic_cnt == 1 ? md->topics[0].partition_cnt : -1;
    if (md)
        rd_kafka_metadata_destroy(md);
    long long sum = 0;
    char what[256] = "";
    for (int p = 0; p < parts && !what[0]; p++) {
        int64_t lo = -1, hi = -1;
        rc = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (rc)
            snprintf(what, sizeof what, "watermarks %s/%d: %s", topic, p, rd_kafka_err2str(rc));
        else if (lo != 0)
            snprintf(what, sizeof what,
                     "%s/%d low watermark is %lld: the mock cluster dropped data (stream too "
                     "big for one partition)",
                     topic, p, (long long)lo);
        sum += hi;
    }
    rd_kafka_destroy(rk);
    if (parts < 0)
        bm_e2e_fail("metadata of %s: %s", topic, rd_kafka_err2str(rc));
    if (what[0])
        bm_e2e_fail("%s", what);
    return sum;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    if (m->err)
        (*(long *)opaque)++;
}

rd_kafka_t *bm_e2e_producer(bm_e2e *e)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    long *failed = calloc(1, sizeof *failed);
    if (!failed || rd_kafka_conf_set(conf, "bootstrap.servers", e->bootstrap, err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err) ||
        rd_kafka_conf_set(conf, "compression.codec", "lz4", err, sizeof err) ||
        rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err) ||
        rd_kafka_conf_set(conf, "message.max.bytes", "2000000", err, sizeof err))
        bm_e2e_fail("producer config: %s", err);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, failed);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p)
        bm_e2e_fail("producer: %s", err);
    return p;
}

/* The signature a command needs (cmdauth.h), or NULL for a game event. */
static const char *command_signature(const void *val, size_t len, char *sig)
{
    json_t *j = json_loadb(val, len, 0, NULL);
    const char *t = json_string_value(json_object_get(j, "eventType"));
    int cmd = t && bm_cmdauth_is_command(t);
    json_decref(j);
    if (!cmd)
        return NULL;
    bm_cmdauth keys = {.ncur = strlen(BM_E2E_COMMAND_KEY)};
    memcpy(keys.cur, BM_E2E_COMMAND_KEY, keys.ncur);
    bm_cmdauth_sign(&keys, val, len, sig);
    return sig;
}

void bm_e2e_produce(rd_kafka_t *p, const char *key, const void *val, size_t len)
{
    char sig[BM_CMDAUTH_SIG_SIZE];
    const char *signature = command_signature(val, len, sig);
    for (;;) {
        rd_kafka_headers_t *h = NULL;
        if (signature) {
            h = rd_kafka_headers_new(1);
            rd_kafka_header_add(h, BM_CMDAUTH_HEADER, -1, signature, -1);
        }
        rd_kafka_resp_err_t rc = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(BM_TOPIC_EVENTS), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (rc != RD_KAFKA_RESP_ERR_NO_ERROR && h)
            rd_kafka_headers_destroy(h);
        if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            bm_e2e_fail("produce: %s", rd_kafka_err2str(rc));
        rd_kafka_poll(p, 50);
    }
}

void bm_e2e_producer_close(rd_kafka_t *p)
{
    rd_kafka_resp_err_t rc = rd_kafka_flush(p, 30000);
    long *failed = rd_kafka_opaque(p);
    long nfailed = *failed;
    rd_kafka_destroy(p);
    free(failed);
    if (rc)
        bm_e2e_fail("producer flush: %s", rd_kafka_err2str(rc));
    if (nfailed)
        bm_e2e_fail("%ld messages were not delivered", nfailed);
}

/* --- tools ------------------------------------------------------------------------------- */

static void loadgen_argv(bm_e2e *e, const char *const *args, char **argv, size_t cap, char *bin,
                         size_t binlen)
{
    size_t n = 0;
    argv[n++] = (char *)bm_e2e_build_path(e, "bm-loadgen", bin, binlen);
    argv[n++] = "--bootstrap";
    argv[n++] = e->bootstrap;
    argv[n++] = "--quiet";
    for (size_t i = 0; args[i]; i++) {
        if (n + 2 > cap)
            bm_e2e_fail("too many loadgen arguments");
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
}

/* "produced" from the loadgen's one-line JSON summary in text. */
static long long loadgen_produced(const char *text)
{
    const char *line = text ? strstr(text, "{\"events\"") : NULL;
    json_t *j = line ? json_loads(line, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    json_t *p = json_object_get(j, "produced");
    if (!json_is_integer(p)) {
        json_decref(j);
        bm_e2e_fail("bm-loadgen printed no summary: %s", text ? text : "(nothing)");
    }
    long long v = json_integer_value(p);
    json_decref(j);
    return v;
}

long long bm_e2e_loadgen(bm_e2e *e, const char *const *args)
{
    char *argv[64], bin[1100], *out = NULL;
    loadgen_argv(e, args, argv, 64, bin, sizeof bin);
    int rc = bm_e2e_run(e, argv, &out, 120000);
    if (rc != 0) {
        fprintf(stderr, "%s\n", out);
        free(out);
        bm_e2e_fail("bm-loadgen exited with %d", rc);
    }
    long long produced = loadgen_produced(out);
    free(out);
    return produced;
}

pid_t bm_e2e_loadgen_start(bm_e2e *e, const char *const *args, const char *out_path)
{
    char *argv[64], bin[1100];
    loadgen_argv(e, args, argv, 64, bin, sizeof bin);
    unlink(out_path);
    return bm_e2e_spawn(e, argv, out_path);
}

long long bm_e2e_loadgen_wait(pid_t pid, const char *out_path, int timeout_ms)
{
    int rc = bm_e2e_wait_exit(pid, timeout_ms, "bm-loadgen");
    char *out = bm_e2e_slurp(out_path, NULL);
    if (rc != 0) {
        fprintf(stderr, "%s\n", out ? out : "");
        free(out);
        bm_e2e_fail("bm-loadgen exited with %d", rc);
    }
    long long produced = loadgen_produced(out);
    free(out);
    return produced;
}

int bm_e2e_bmctl(bm_e2e *e, char **out, const char *const *args)
{
    char *argv[32], bin[1100];
    size_t n = 0;
    argv[n++] = (char *)bm_e2e_build_path(e, "bmctl", bin, sizeof bin);
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return bm_e2e_run(e, argv, out, 60000);
}

void bm_e2e_campaign(bm_e2e *e, const char *json, char *id, size_t idlen)
{
    static int seq;
    char path[400], *out = NULL;
    snprintf(path, sizeof path, "%s/campaign-%d.json", e->dir, ++seq);
    bm_e2e_write_file(path, json, strlen(json));
    const char *args[] = {"campaign", "create", path, NULL};
    int rc = bm_e2e_bmctl(e, &out, args);
    /* "created campaign <uuid> (...)" */
    const char *p = out ? strstr(out, "created campaign ") : NULL;
    if (rc != 0 || !p) {
        fprintf(stderr, "%s\n", out ? out : "");
        free(out);
        bm_e2e_fail("bmctl campaign create %s exited with %d", json, rc);
    }
    p += strlen("created campaign ");
    size_t n = strcspn(p, " \n");
    if (n != 36 || n >= idlen) {
        free(out);
        bm_e2e_fail("bmctl printed no campaign id");
    }
    memcpy(id, p, n);
    id[n] = '\0';
    free(out);
}

json_t *bm_e2e_modules(bm_e2e *e)
{
    char *out = NULL;
    const char *args[] = {"modules", "--json", NULL};
    int rc = bm_e2e_bmctl(e, &out, args);
    json_t *j = rc == 0 ? json_loads(out, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (!j) {
        fprintf(stderr, "%s\n", out ? out : "");
        free(out);
        bm_e2e_fail("bmctl modules --json failed (exit %d)", rc);
    }
    free(out);
    return j;
}

json_t *bm_e2e_modules_campaign(json_t *modules, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(modules, "campaigns"), i, c)
    {
        const char *cid = json_string_value(json_object_get(c, "id"));
        if (cid && strcmp(cid, id) == 0)
            return c;
    }
    return NULL;
}

int bm_e2e_module_generation(json_t *modules, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(modules, "modules"), i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        if (n && strcmp(n, name) == 0)
            return (int)json_integer_value(json_object_get(m, "generation"));
    }
    return -1;
}

int bm_e2e_setup(void **state)
{
    *state = calloc(1, sizeof(bm_e2e));
    return *state ? 0 : -1;
}

int bm_e2e_teardown(void **state)
{
    bm_e2e_cleanup(*state);
    free(*state);
    return 0;
}

void bm_e2e_install_module(bm_e2e *e, const char *name)
{
    char src[1100], dst[700], rel[64];
    size_t len = 0;
    snprintf(rel, sizeof rel, "modules/%s", name);
    char *data = bm_e2e_slurp(bm_e2e_build_path(e, rel, src, sizeof src), &len);
    if (!data)
        bm_e2e_fail("cannot read %s", src);
    snprintf(dst, sizeof dst, "%s/%s", e->mods_dir, name);
    bm_e2e_write_file(dst, data, len);
    free(data);
}
