/*
 * bm-bench-naive: the product document's leaderboard processor, as written,
 * in C, so the pipeline benchmark can put the engine next to it on the same
 * machine, broker and database.
 *
 * For every event of game.events (its handleGameEvent): SELECT the game's
 * active leaderboard campaigns (campaigns joined to games on identifier),
 * then for each campaign whose scoringMetadata.eventType is the event's
 * type, one UPSERT of user_progress adding the event's value to
 * current_value. Each event is its own transaction (one COMMIT, hence one
 * WAL flush, per event); --autocommit makes every statement its own
 * transaction instead, which is what the document's pool.query() calls do.
 * It leaves out what the document does besides (a new Kafka producer per
 * UI update), so the figure it prints is an upper bound for that design.
 *
 * Reads from the beginning of every partition (assign, no group join) until
 * --events messages were handled; prints one JSON line on stdout:
 *   {"events":N,"upserts":U,"skipped":S,"seconds":T,"events_per_s":R}
 * timed from the first message to the last COMMIT.
 */
#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct naive_opts {
    char bootstrap[512];
    const char *topic;
    const char *dsn;
    long events;
    int autocommit;
    int timeout_s;
} naive_opts;

typedef struct naive_counts {
    long events, upserts, skipped;
} naive_counts;

static volatile sig_atomic_t g_run = 1;

static void on_stop(int sig)
{
    (void)sig;
    g_run = 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bm-bench-naive (--bootstrap LIST | --bootstrap-file F) --dsn DSN [options]\n"
               "  --topic T          topic to read (game.events)\n"
               "  --events N         events to handle (20000)\n"
               "  --autocommit       one transaction per statement instead of per event\n"
               "  --timeout-s S      give up when no message arrives for S seconds (30)\n"
               "stdout: {\"events\",\"upserts\",\"skipped\",\"seconds\",\"events_per_s\"}\n");
}

static int read_bootstrap_file(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(out, (int)len, f) != NULL;
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return ok && out[0] ? 0 : -1;
}

/* 0 ok, 1 help printed, 2 bad usage. */
static int parse_args(int argc, char **argv, naive_opts *o)
{
    static const struct option longs[] = {{"bootstrap", required_argument, NULL, 'b'},
                                          {"bootstrap-file", required_argument, NULL, 'B'},
                                          {"topic", required_argument, NULL, 't'},
                                          {"dsn", required_argument, NULL, 'd'},
                                          {"events", required_argument, NULL, 'n'},
                                          {"autocommit", no_argument, NULL, 'a'},
                                          {"timeout-s", required_argument, NULL, 'T'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->topic = "game.events";
    o->events = 20000;
    o->timeout_s = 30;
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'b':
            snprintf(o->bootstrap, sizeof o->bootstrap, "%s", optarg);
            break;
        case 'B':
            if (read_bootstrap_file(optarg, o->bootstrap, sizeof o->bootstrap) != 0) {
                fprintf(stderr, "bm-bench-naive: cannot read a broker list from %s\n", optarg);
                return 2;
            }
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'd':
            o->dsn = optarg;
            break;
        case 'n':
            o->events = strtol(optarg, NULL, 10);
            break;
        case 'a':
            o->autocommit = 1;
            break;
        case 'T':
            o->timeout_s = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!o->bootstrap[0] || !o->dsn || o->events <= 0 || o->timeout_s <= 0) {
        usage(stderr);
        return 2;
    }
    return 0;
}

/* A consumer assigned to every partition of topic from the beginning; NULL with err. */
static rd_kafka_t *consumer_new(const naive_opts *o, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "group.id", "bm-bench-naive", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* conf is now owned by rk. */
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, o->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    if (rc || md->topic_cnt != 1 || md->topics[0].partition_cnt <= 0) {
        snprintf(err, errlen, "no metadata for %s: %s", o->topic,
                 rc ? rd_kafka_err2str(rc) : "no partitions");
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
        return NULL;
    }
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(l, o->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rc = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (rc) {
        snprintf(err, errlen, "assign: %s", rd_kafka_err2str(rc));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

static int exec_ok(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "bm-bench-naive: %s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
    return ok ? 0 : -1;
}

/* data.<dotted path> as a number; 1 when the board has no field (a count). */
static int event_value(json_t *data, const char *field, double *out)
{
    if (!field || !*field) {
        *out = 1;
        return 0;
    }
    char path[256];
    snprintf(path, sizeof path, "%s", field);
    json_t *v = data;
    for (char *save = NULL, *seg = strtok_r(path, ".", &save); seg && v;
         seg = strtok_r(NULL, ".", &save))
        v = json_object_get(v, seg);
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

/* The document's processLeaderboardUpdate for one campaign row; 1 if it upserted. */
static int update_one(PGconn *pg, const char *camp_id, const char *config, const char *user,
                      const char *type, json_t *data)
{
    json_t *cfg = json_loads(config, 0, NULL);
    json_t *sm = json_object_get(cfg, "scoringMetadata");
    const char *et = json_string_value(json_object_get(sm, "eventType"));
    double v;
    int rc = 0;
    if (!et || strcmp(et, type) != 0 ||
        event_value(data, json_string_value(json_object_get(sm, "dataField")), &v) != 0)
        goto out;
    char val[64], stamp[32], progress[160];
    time_t t = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    snprintf(val, sizeof val, "%.17g", v);
    snprintf(progress, sizeof progress, "{\"totalScore\":%s,\"lastUpdate\":\"%s\"}", val, stamp);
    const char *p[4] = {camp_id, user, val, progress};
    PGresult *r = PQexecParams(
        pg,
        "INSERT INTO user_progress (campaign_id, user_id, current_value, progress_data) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (campaign_id, user_id) DO UPDATE SET "
        "current_value = user_progress.current_value + $3, progress_data = $4, "
        "last_updated = now()",
        4, NULL, p, NULL, NULL, 0);
    rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 1 : -1;
    if (rc < 0)
        fprintf(stderr, "bm-bench-naive: upsert: %s", PQerrorMessage(pg));
    PQclear(r);
out:
    json_decref(cfg);
    return rc;
}

/* handleGameEvent for one message; 0 ok, -1 on a database error. */
static int handle_event(PGconn *pg, const naive_opts *o, const rd_kafka_message_t *m,
                        naive_counts *n)
{
    json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
    const char *game = json_string_value(json_object_get(ev, "gameId"));
    const char *user = json_string_value(json_object_get(ev, "userId"));
    const char *type = json_string_value(json_object_get(ev, "eventType"));
    int rc = -1;
    if (!game || !user || !type) {
        n->skipped++;
        rc = 0;
        goto out;
    }
    if (!o->autocommit && exec_ok(pg, "BEGIN") != 0)
        goto out;
    const char *p[1] = {game};
    PGresult *r = PQexecParams(
        pg,
        "SELECT c.id, c.config, c.gating FROM campaigns c JOIN games g ON g.id = c.game_id "
        "WHERE g.identifier = $1 AND c.type = 'leaderboard' AND c.status = 'active' "
        "AND (c.start_date IS NULL OR c.start_date <= now()) "
        "AND (c.end_date IS NULL OR c.end_date >= now())",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bm-bench-naive: select: %s", PQerrorMessage(pg));
        PQclear(r);
        goto out;
    }
    json_t *data = json_object_get(ev, "data");
    for (int i = 0; i < PQntuples(r); i++) {
        int u = update_one(pg, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), user, type, data);
        if (u < 0) {
            PQclear(r);
            goto out;
        }
        n->upserts += u;
    }
    PQclear(r);
    if (!o->autocommit && exec_ok(pg, "COMMIT") != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0 && !o->autocommit)
        PQclear(PQexec(pg, "ROLLBACK"));
    json_decref(ev);
    return rc;
}

int main(int argc, char **argv)
{
    naive_opts o;
    int a = parse_args(argc, argv, &o);
    if (a)
        return a == 1 ? 0 : 2;
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);

    int status = 1;
    char err[512];
    rd_kafka_t *rk = NULL;
    PGconn *pg = PQconnectdb(o.dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "bm-bench-naive: %s", PQerrorMessage(pg));
        goto fail;
    }
    if (!(rk = consumer_new(&o, err, sizeof err))) {
        fprintf(stderr, "bm-bench-naive: %s\n", err);
        goto fail;
    }

    naive_counts n = {0};
    double first = 0, last_msg = now_s();
    while (g_run && n.events < o.events) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (now_s() - last_msg > o.timeout_s) {
                fprintf(stderr, "bm-bench-naive: no message for %d s after %ld events\n",
                        o.timeout_s, n.events);
                goto fail;
            }
            continue;
        }
        last_msg = now_s();
        if (m->err) {
            /* End of a partition is not an error; anything else is reported. */
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "bm-bench-naive: consume: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (n.events == 0)
            first = now_s();
        int rc = handle_event(pg, &o, m, &n);
        rd_kafka_message_destroy(m);
        if (rc != 0)
            goto fail;
        n.events++;
    }
    if (n.events < o.events) {
        fprintf(stderr, "bm-bench-naive: interrupted after %ld events\n", n.events);
        goto fail;
    }
    double secs = now_s() - first;
    printf("{\"events\":%ld,\"upserts\":%ld,\"skipped\":%ld,\"seconds\":%.3f,"
           "\"events_per_s\":%.1f}\n",
           n.events, n.upserts, n.skipped, secs, secs > 0 ? (double)n.events / secs : 0.0);
    status = 0;
fail:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    PQfinish(pg);
    return status;
}
