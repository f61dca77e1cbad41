/*
 * bm-loadgen against the real Kafka protocol (librdkafka's mock cluster in
 * this process): the stream it writes, recounted here independently with
 * jansson, must equal the expect file it writes; the same seed and start
 * must give the same bytes; a failed delivery must fail the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define TOPIC "game.events"
#define PARTS 6
#define START_MS 1795428000000LL /* 2026-11-23T10:00:00.000Z */
#define SPAN_MS 3600000LL
#define MAX_EVENT_BYTES 65536
/* Typed end of run_loadgen's argument list (a bare NULL may be an int). */
#define ARGS_END ((const char *)NULL)

typedef struct msg {
    char *key, *val;
    size_t klen, vlen;
} msg;

typedef struct part_log {
    msg *m;
    size_t n, cap;
} part_log;

typedef struct fixture {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
    char dir[64];
    char bin[1024];
} fixture;

static void path_in(const fixture *f, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", f->dir, name);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[512];
    const char *bdir = getenv("BM_BUILD_DIR");
    assert_non_null(f);
    snprintf(f->bin, sizeof(f->bin), "%s/bm-loadgen", bdir ? bdir : ".");
    strcpy(f->dir, "/tmp/bm-loadgen-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "4", err, sizeof(err)); /* no "no bootstrap" notice */
    f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(f->rk); /* conf is now owned by rk */
    f->mc = rd_kafka_mock_cluster_new(f->rk, 1);
    assert_non_null(f->mc);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, TOPIC, PARTS, 1), 0);
    snprintf(f->bootstrap, sizeof(f->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(f->mc));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->rk);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

/* Runs bm-loadgen with a NULL-terminated argument list; stdout goes to out. */
static int run_loadgen(const fixture *f, const char *out, ...)
{
    const char *argv[64];
    int argc = 0;
    va_list ap;
    argv[argc++] = f->bin;
    va_start(ap, out);
    while (argc < 63 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0)
            _exit(127);
        execv(f->bin, (char *const *)argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Reads every partition from its offset in from[] to the end into logs[]. */
static void consume(const fixture *f, const int64_t *from, part_log *logs)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", f->bootstrap, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_conf_set(conf, "group.id", "bm-loadgen-test", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(c); /* conf is now owned by c */

    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(PARTS);
    for (int p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(tp, TOPIC, p)->offset = from[p];
    assert_int_equal(rd_kafka_assign(c, tp), 0);
    rd_kafka_topic_partition_list_destroy(tp);

    int eof[PARTS] = {0}, eofs = 0;
    for (int idle = 0; eofs < PARTS && idle < 600;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) {
            idle++;
            continue;
        }
        int p = m->partition;
        assert_true(p >= 0 && p < PARTS);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs += !eof[p];
            eof[p] = 1;
        } else {
            assert_int_equal(m->err, 0);
            part_log *l = &logs[p];
            if (l->n == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 1024;
                l->m = realloc(l->m, l->cap * sizeof(msg));
                assert_non_null(l->m);
            }
            msg *x = &l->m[l->n++];
            x->klen = m->key_len;
            x->vlen = m->len;
            x->key = malloc(m->key_len + 1);
            x->val = malloc(m->len + 1);
            memcpy(x->key, m->key, m->key_len);
            memcpy(x->val, m->payload, m->len);
            x->key[x->klen] = x->val[x->vlen] = 0;
        }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(eofs, PARTS);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

static void logs_free(part_log *logs)
{
    for (int p = 0; p < PARTS; p++) {
        for (size_t i = 0; i < logs[p].n; i++) {
            free(logs[p].m[i].key);
            free(logs[p].m[i].val);
        }
        free(logs[p].m);
    }
}

static int digits(const char *s, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        *out = *out * 10 + (s[i] - '0');
    }
    return 0;
}

/* Strict RFC 3339 UTC ("...Z", optional fraction) to ms; -1 when not one. */
static int parse_time(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, se, frac = 0;
    if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
        digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3)
                frac = frac * 10 + (*p - '0');
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            frac *= 10;
    }
    if (strcmp(p, "Z") != 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    /* Days from the civil date (proleptic Gregorian). */
    int yy = y - (mo <= 2);
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t days = (int64_t)era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    *ms = ((days * 24 + h) * 60 + mi) * 60000LL + se * 1000LL + frac;
    return 0;
}

/* The engine's notion of a valid event; NULL when the message is malformed. */
static json_t *decode_valid(const msg *m)
{
    if (m->vlen > MAX_EVENT_BYTES)
        return NULL;
    json_t *e = json_loadb(m->val, m->vlen, 0, NULL);
    if (!e)
        return NULL;
    json_t *id = json_object_get(e, "eventId"), *ts = json_object_get(e, "timestamp");
    int64_t ms;
    if (!json_is_object(e) || !json_is_string(json_object_get(e, "gameId")) ||
        !json_is_string(json_object_get(e, "userId")) ||
        !json_is_string(json_object_get(e, "eventType")) ||
        !json_is_object(json_object_get(e, "data")) || (id && !json_is_string(id)) ||
        !json_is_string(ts) || parse_time(json_string_value(ts), &ms) < 0) {
        json_decref(e);
        return NULL;
    }
    return e;
}

typedef struct recount {
    json_t *seen;  /* eventId -> true */
    json_t *cells; /* "user\ttype" -> {"game","count","fields":{name:[sum,max,min,last]}} */
    long valid, bad, dups;
    long bad_big, bad_json, bad_no_user;
} recount;

static void count_event(recount *rc, json_t *e)
{
    const char *user = json_string_value(json_object_get(e, "userId"));
    const char *type = json_string_value(json_object_get(e, "eventType"));
    char key[512];
    snprintf(key, sizeof(key), "%s\t%s", user, type);
    json_t *cell = json_object_get(rc->cells, key);
    if (!cell) {
        cell = json_pack("{s:O,s:I,s:{}}", "game", json_object_get(e, "gameId"), "count",
                         (json_int_t)0, "fields");
        json_object_set_new(rc->cells, key, cell);
    }
    /* Every game of a user must be the same one: the file has one column. */
    assert_string_equal(json_string_value(json_object_get(cell, "game")),
                        json_string_value(json_object_get(e, "gameId")));
    json_object_set_new(cell, "count",
                        json_integer(json_integer_value(json_object_get(cell, "count")) + 1));
    const char *name;
    json_t *v, *fields = json_object_get(cell, "fields");
    json_object_foreach(json_object_get(e, "data"), name, v)
    {
        if (!json_is_integer(v))
            continue;
        json_int_t x = json_integer_value(v);
        json_t *s = json_object_get(fields, name);
        if (!s) {
            json_object_set_new(fields, name, json_pack("[IIII]", x, x, x, x));
            continue;
        }
        json_int_t sum = json_integer_value(json_array_get(s, 0));
        json_int_t max = json_integer_value(json_array_get(s, 1));
        json_int_t min = json_integer_value(json_array_get(s, 2));
        json_array_clear(s);
        json_array_append_new(s, json_integer(sum + x));
        json_array_append_new(s, json_integer(x > max ? x : max));
        json_array_append_new(s, json_integer(x < min ? x : min));
        json_array_append_new(s, json_integer(x));
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The recount in the expect file's format, without its header line. */
static char *render(const recount *rc)
{
    size_t n = json_object_size(rc->cells), k = 0, cap = 4096 + n * 256, len = 0;
    const char **keys = malloc(n * sizeof(*keys));
    char *out = malloc(cap);
    const char *key;
    json_t *cell;
    json_object_foreach(rc->cells, key, cell)
    {
        keys[k++] = key;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (k = 0; k < n; k++) {
        cell = json_object_get(rc->cells, keys[k]);
        const char *tab = strchr(keys[k], '\t');
        json_t *fields = json_object_get(cell, "fields");
        len += (size_t)snprintf(out + len, cap - len, "%.*s\t%s\t%s\t%lld", (int)(tab - keys[k]),
                                keys[k], json_string_value(json_object_get(cell, "game")), tab + 1,
                                (long long)json_integer_value(json_object_get(cell, "count")));
        size_t nf = json_object_size(fields), f = 0;
        const char *names[16];
        json_t *v;
        assert_true(nf <= 16);
        json_object_foreach(fields, key, v)
        {
            names[f++] = key;
        }
        qsort(names, nf, sizeof(*names), cmp_str);
        for (f = 0; f < nf; f++) {
            json_t *s = json_object_get(fields, names[f]);
            len += (size_t)snprintf(out + len, cap - len, "\t%s=%lld,%lld,%lld,%lld", names[f],
                                    (long long)json_integer_value(json_array_get(s, 0)),
                                    (long long)json_integer_value(json_array_get(s, 1)),
                                    (long long)json_integer_value(json_array_get(s, 2)),
                                    (long long)json_integer_value(json_array_get(s, 3)));
        }
        len += (size_t)snprintf(out + len, cap - len, "\n");
        assert_true(len < cap);
    }
    snprintf(out + len, cap - len, "#total_valid\t%ld\n#total_bad\t%ld\n#total_duplicates\t%ld\n",
             rc->valid, rc->bad, rc->dups);
    free(keys);
    return out;
}

/* Recounts the consumed stream; checks keys and time order on the way. */
static void recount_logs(const part_log *logs, recount *rc)
{
    rc->seen = json_object();
    rc->cells = json_object();
    for (int p = 0; p < PARTS; p++) {
        int64_t prev_ms = 0;
        for (size_t i = 0; i < logs[p].n; i++) {
            const msg *m = &logs[p].m[i];
            json_t *e = decode_valid(m);
            if (!e) {
                json_t *any = json_loadb(m->val, m->vlen, 0, NULL);
                rc->bad++;
                rc->bad_big += m->vlen > MAX_EVENT_BYTES;
                rc->bad_json += !any;
                rc->bad_no_user += any && !json_object_get(any, "userId");
                json_decref(any);
                continue;
            }
            const char *user = json_string_value(json_object_get(e, "userId"));
            /* The key is what keeps one user's events in one partition, in order. */
            assert_int_equal(m->klen, strlen(user));
            assert_memory_equal(m->key, user, m->klen);
            const char *id = json_string_value(json_object_get(e, "eventId"));
            assert_non_null(id);
            if (json_object_get(rc->seen, id)) {
                rc->dups++;
                json_decref(e);
                continue;
            }
            json_object_set_new(rc->seen, id, json_true());
            int64_t ms;
            assert_int_equal(parse_time(json_string_value(json_object_get(e, "timestamp")), &ms),
                             0);
            assert_true(ms >= START_MS && ms <= START_MS + SPAN_MS);
            assert_true(ms >= prev_ms);
            prev_ms = ms;
            rc->valid++;
            count_event(rc, e);
            json_decref(e);
        }
    }
}

static void assert_same_text(const char *want, const char *got, const char *what)
{
    size_t at = 0, line = 1, start = 0;
    while (want[at] && want[at] == got[at]) {
        if (want[at] == '\n') {
            line++;
            start = at + 1;
        }
        at++;
    }
    if (!want[at] && !got[at])
        return;
    print_error("%s differs at line %zu:\n  want: %.*s\n  got:  %.*s\n", what, line,
                (int)strcspn(want + start, "\n"), want + start, (int)strcspn(got + start, "\n"),
                got + start);
    fail();
}

static void high_watermarks(const fixture *f, int64_t *hi)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", f->bootstrap, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk); /* conf is now owned by rk */
    for (int p = 0; p < PARTS; p++) {
        int64_t lo;
        assert_int_equal(rd_kafka_query_watermark_offsets(rk, TOPIC, p, &lo, &hi[p], 5000), 0);
        /* A low mark above 0 means the mock dropped data: the test got too big. */
        assert_int_equal(lo, 0);
    }
    rd_kafka_destroy(rk);
}

static void test_stream_matches_expect(void **state)
{
    fixture *f = *state;
    char expect1[128], expect2[128], out1[128], out2[128], bfile[128];
    path_in(f, "expect1.tsv", expect1, sizeof(expect1));
    path_in(f, "expect2.tsv", expect2, sizeof(expect2));
    path_in(f, "out1.json", out1, sizeof(out1));
    path_in(f, "out2.json", out2, sizeof(out2));
    path_in(f, "bootstrap", bfile, sizeof(bfile));

    assert_int_equal(run_loadgen(f, out1, "--bootstrap", f->bootstrap, "--events", "20000",
                                 "--users", "500", "--dup-fraction", "0.02", "--bad-fraction",
                                 "0.01", "--seed", "7", "--start", "2026-11-23T10:00:00.000Z",
                                 "--expect", expect1, "--quiet", ARGS_END),
                     0);

    json_t *sum = json_load_file(out1, 0, NULL);
    assert_non_null(sum);
    assert_int_equal(json_integer_value(json_object_get(sum, "events")), 20000);
    assert_int_equal(json_integer_value(json_object_get(sum, "duplicates")), 400);
    assert_int_equal(json_integer_value(json_object_get(sum, "bad")), 200);
    assert_int_equal(json_integer_value(json_object_get(sum, "produced")), 20600);
    assert_int_equal(json_integer_value(json_object_get(sum, "start_ms")), START_MS);
    json_decref(sum);

    int64_t zero[PARTS] = {0}, hi[PARTS];
    part_log run1[PARTS] = {{0}};
    high_watermarks(f, hi);
    consume(f, zero, run1);
    size_t total = 0;
    for (int p = 0; p < PARTS; p++) {
        assert_int_equal(run1[p].n, hi[p]);
        total += run1[p].n;
    }
    assert_int_equal(total, 20600);

    recount rc = {0};
    recount_logs(run1, &rc);
    assert_int_equal(rc.valid, 20000);
    assert_int_equal(rc.dups, 400);
    assert_int_equal(rc.bad, 200);
    /* The malformed mix covers the engine's rejection paths. */
    assert_true(rc.bad_big > 0 && rc.bad_json > 0 && rc.bad_no_user > 0);

    char *file = slurp(expect1, NULL);
    assert_non_null(file);
    char *body = strchr(file, '\n');
    assert_non_null(body);
    assert_true(file[0] == '#');
    char *mine = render(&rc);
    assert_same_text(body + 1, mine, "expect file (want) vs recount (got)");
    free(mine);

    /* Same seed and start, other bootstrap route: same file, same bytes. */
    FILE *bf = fopen(bfile, "w");
    assert_non_null(bf);
    fprintf(bf, "%s\n", f->bootstrap);
    fclose(bf);
    assert_int_equal(run_loadgen(f, out2, "--bootstrap-file", bfile, "--events", "20000", "--users",
                                 "500", "--dup-fraction", "0.02", "--bad-fraction", "0.01",
                                 "--seed", "7", "--start", "1795428000000", "--expect", expect2,
                                 "--quiet", ARGS_END),
                     0);
    char *file2 = slurp(expect2, NULL);
    assert_non_null(file2);
    assert_same_text(file, file2, "second expect file");

    part_log run2[PARTS] = {{0}};
    consume(f, hi, run2);
    for (int p = 0; p < PARTS; p++) {
        assert_int_equal(run2[p].n, run1[p].n);
        for (size_t i = 0; i < run1[p].n; i++) {
            assert_int_equal(run2[p].m[i].vlen, run1[p].m[i].vlen);
            assert_memory_equal(run2[p].m[i].val, run1[p].m[i].val, run1[p].m[i].vlen);
            assert_string_equal(run2[p].m[i].key, run1[p].m[i].key);
        }
    }

    free(file);
    free(file2);
    json_decref(rc.seen);
    json_decref(rc.cells);
    logs_free(run1);
    logs_free(run2);
}

static void test_failed_delivery_fails_run(void **state)
{
    fixture *f = *state;
    char expect[128], out[128];
    path_in(f, "expect-fail.tsv", expect, sizeof(expect));
    path_in(f, "out-fail.json", out, sizeof(out));
    /* ApiKey 0 is Produce: every produce request is refused for good. */
    rd_kafka_resp_err_t errs[64];
    for (int i = 0; i < 64; i++)
        errs[i] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
    rd_kafka_mock_push_request_errors_array(f->mc, 0, 64, errs);
    int rc = run_loadgen(f, out, "--bootstrap", f->bootstrap, "--events", "200", "--users", "10",
                         "--expect", expect, "--quiet", "-X", "message.timeout.ms=5000", ARGS_END);
    rd_kafka_mock_clear_request_errors(f->mc, 0);
    assert_int_equal(rc, 1);
    struct stat st;
    assert_int_not_equal(stat(expect, &st), 0); /* no totals for a stream that did not land */
}

static void test_bad_usage(void **state)
{
    fixture *f = *state;
    char out[128], help[128];
    path_in(f, "out-usage.txt", out, sizeof(out));
    path_in(f, "help.txt", help, sizeof(help));
    assert_int_equal(run_loadgen(f, out, "--events", "10", ARGS_END), 2); /* no broker */
    assert_int_equal(
        run_loadgen(f, out, "--bootstrap", f->bootstrap, "--bad-fraction", "1.5", ARGS_END), 2);
    assert_int_equal(run_loadgen(f, out, "--bootstrap", f->bootstrap, "--no-event-id",
                                 "--dup-fraction", "0.1", ARGS_END),
                     2);
    assert_int_equal(run_loadgen(f, out, "--bootstrap", f->bootstrap, "--mix", "JUMP=3", ARGS_END),
                     2);
    assert_int_equal(run_loadgen(f, help, "--help", ARGS_END), 0);
    char *text = slurp(help, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "#total_duplicates"));
    assert_non_null(strstr(text, "ITEM_COLLECTED"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stream_matches_expect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_delivery_fails_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_usage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
