/*
 * bm-bench-http: load for scripts/bench/http. Each mode prints one JSON object.
 *   ingest URL KEY GAME THREADS BODIES   POST /v1/events, 100 events a body, keep-alive
 *   produce BOOTSTRAP TOPIC GAME EVENTS  the same events straight to Kafka (idempotent)
 *   query URL KEY BOARD USERS THREADS SECONDS   top-100, around and single-rank GETs
 * Users are "u<n>" with n < USERS (100000 for ingest/produce).
 */
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PER_BODY 100

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void timestamp(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int event_json(char *buf, size_t cap, const char *game, int tid, long seq, uint64_t *rng)
{
    char ts[40];
    timestamp(ts, sizeof ts);
    return snprintf(buf, cap,
                    "{\"eventId\":\"b%d-%ld\",\"gameId\":\"%s\",\"userId\":\"u%llu\","
                    "\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\",\"data\":{\"score\":%llu}}",
                    tid, seq, game, (unsigned long long)(rnd(rng) % 100000), ts,
                    (unsigned long long)(rnd(rng) % 1000));
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return s * n;
}

typedef struct job {
    int id;
    const char *url, *key, *game, *board;
    long bodies;
    int users;
    double until;
    long ok, failed;
    double *lat[3];
    long nlat[3], cap[3];
} job;

static void *ingest(void *arg)
{
    job *j = arg;
    CURL *c = curl_easy_init();
    char auth[200], url[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", j->key);
    snprintf(url, sizeof url, "%s/v1/events", j->url);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    static __thread char body[PER_BODY * 256 + 64];
    uint64_t rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(j->id + 1);
    long seq = 0;
    for (long b = 0; b < j->bodies; b++) {
        size_t n = (size_t)snprintf(body, sizeof body, "{\"events\":[");
        for (int i = 0; i < PER_BODY; i++) {
            n += (size_t)event_json(body + n, sizeof body - n, j->game, j->id, seq++, &rng);
            body[n++] = i + 1 < PER_BODY ? ',' : ']';
        }
        body[n++] = '}';
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);
        long st = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        if (st == 202)
            j->ok += PER_BODY;
        else
            j->failed++;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static void add_lat(job *j, int kind, double ms)
{
    if (j->nlat[kind] == j->cap[kind]) {
        j->cap[kind] = j->cap[kind] ? j->cap[kind] * 2 : 4096;
        j->lat[kind] = realloc(j->lat[kind], (size_t)j->cap[kind] * sizeof(double));
    }
    j->lat[kind][j->nlat[kind]++] = ms;
}

static void *query(void *arg)
{
    job *j = arg;
    CURL *c = curl_easy_init();
    char auth[200], url[600];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", j->key);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    uint64_t rng = 0x2545f4914f6cdd1dULL ^ (uint64_t)(j->id + 7);
    for (long i = 0; now_s() < j->until; i++) {
        int kind = (int)(i % 3);
        unsigned long long u = rnd(&rng) % (unsigned long long)j->users;
        if (kind == 0)
            snprintf(url, sizeof url, "%s/v1/leaderboards/%s?limit=100", j->url, j->board);
        else if (kind == 1)
            snprintf(url, sizeof url, "%s/v1/leaderboards/%s?around=u%llu&window=10", j->url,
                     j->board, u);
        else
            snprintf(url, sizeof url, "%s/v1/leaderboards/%s/users/u%llu", j->url, j->board, u);
        curl_easy_setopt(c, CURLOPT_URL, url);
        double t0 = now_s();
        long st = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        if (st == 200) {
            j->ok++;
            add_lat(j, kind, (now_s() - t0) * 1000);
        } else {
            j->failed++;
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p / 100.0 * (double)n);
    return v[i >= n ? n - 1 : i];
}

static int run_threads(job *jobs, int n, void *(*fn)(void *))
{
    pthread_t t[256];
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, fn, &jobs[i]);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return 0;
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        atomic_fetch_add((atomic_long *)m->_private, 1);
}

static int produce(const char *bootstrap, const char *topic, const char *game, long events)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof err);
    rd_kafka_conf_set(conf, "compression.codec", "lz4", err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p) {
        fprintf(stderr, "produce: %s\n", err);
        return 1;
    }
    static atomic_long failed;
    char ev[512], key[32];
    uint64_t rng = 42;
    double t0 = now_s();
    for (long i = 0; i < events; i++) {
        int n = event_json(ev, sizeof ev, game, 999, i, &rng);
        snprintf(key, sizeof key, "u%ld", i % 100000);
        while (rd_kafka_producev(
                   p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                   RD_KAFKA_V_VALUE(ev, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                   RD_KAFKA_V_OPAQUE(&failed), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 10);
        rd_kafka_poll(p, 0);
    }
    rd_kafka_flush(p, 60000);
    double dt = now_s() - t0;
    rd_kafka_destroy(p);
    printf("{\"events\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"events_per_s\":%.0f}\n", events,
           atomic_load(&failed), dt, (double)events / dt);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argv[3], argv[4], atol(argv[5]));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static job jobs[256];
    if (argc == 7 && strcmp(argv[1], "ingest") == 0) {
        int n = atoi(argv[5]);
        long bodies = atol(argv[6]);
        if (n < 1 || n > 256)
            return 2;
        for (int i = 0; i < n; i++)
            jobs[i] = (job){
                .id = i, .url = argv[2], .key = argv[3], .game = argv[4], .bodies = bodies / n};
        double t0 = now_s();
        run_threads(jobs, n, ingest);
        double dt = now_s() - t0;
        long ok = 0, failed = 0;
        for (int i = 0; i < n; i++)
            ok += jobs[i].ok, failed += jobs[i].failed;
        printf("{\"events\":%ld,\"failed_bodies\":%ld,\"seconds\":%.3f,\"events_per_s\":%.0f}\n",
               ok, failed, dt, (double)ok / dt);
        return 0;
    }
    if (argc == 8 && strcmp(argv[1], "query") == 0) {
        int n = atoi(argv[6]);
        if (n < 1 || n > 256)
            return 2;
        double t0 = now_s(), until = t0 + atof(argv[7]);
        for (int i = 0; i < n; i++)
            jobs[i] = (job){.id = i,
                            .url = argv[2],
                            .key = argv[3],
                            .board = argv[4],
                            .users = atoi(argv[5]),
                            .until = until};
        run_threads(jobs, n, query);
        double dt = now_s() - t0;
        static const char *const names[3] = {"top100", "around", "rank"};
        long ok = 0, failed = 0;
        printf("{");
        for (int k = 0; k < 3; k++) {
            long total = 0;
            for (int i = 0; i < n; i++)
                total += jobs[i].nlat[k];
            double *all = malloc((size_t)(total + 1) * sizeof(double));
            long m = 0;
            for (int i = 0; i < n; i++) {
                memcpy(all + m, jobs[i].lat[k], (size_t)jobs[i].nlat[k] * sizeof(double));
                m += jobs[i].nlat[k];
            }
            qsort(all, (size_t)m, sizeof(double), cmpd);
            printf("\"%s\":{\"req_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f},", names[k],
                   (double)m / dt, pct(all, m, 50), pct(all, m, 99));
            free(all);
        }
        for (int i = 0; i < n; i++)
            ok += jobs[i].ok, failed += jobs[i].failed;
        printf("\"req_per_s\":%.0f,\"failed\":%ld}\n", (double)ok / dt, failed);
        return 0;
    }
    fprintf(stderr, "usage: bm-bench-http ingest URL KEY GAME THREADS BODIES\n"
                    "       bm-bench-http produce BOOTSTRAP TOPIC GAME EVENTS\n"
                    "       bm-bench-http query URL KEY BOARD USERS THREADS SECONDS\n");
    return 2;
}
