/*
 * bm-loadgen: writes realistic, deterministic game events to Kafka and the
 * totals it generated, so tests and benchmarks can check the engine against
 * an independent count.
 *
 * Messages: key = userId, value = one JSON object
 *   {"eventId":"<16 hex>","gameId":"<game>","userId":"<prefix><n>",
 *    "eventType":"<TYPE>","data":{...},"timestamp":"2026-11-23T10:00:00.123Z",
 *    "source":"loadgen"}
 * eventId is omitted with --no-event-id. Data by type (numeric fields are the
 * ones the expect file totals):
 *   MATCH_END      {"score":0..5000 (exponential-ish), "kills":0..30,
 *                   "deaths":0..20, "win":bool, "level":1..60, "mode":"ranked"|"casual"}
 *   ENEMY_KILL     {"enemy":"orc"|"troll"|"dragon"|"slime",
 *                   "weapon":"sword"|"bow"|"staff", "level":1..60}
 *   LEVEL_UP       {"level":2..60}
 *   ITEM_COLLECTED {"item":"gem"|"coin"|"potion", "rarity":"common"|"rare"|"epic",
 *                   "count":1..10}
 * "level" is always the player's level: it starts per user at 1..12 and rises
 * by one with each LEVEL_UP (at most 60).
 *
 * Determinism: everything derives from --seed (and --start): same options,
 * same bytes, same order. Users are Zipf-distributed (u0 is the most active);
 * each user plays one game, picked by a hash of the user. Timestamps rise
 * evenly from start to start+span over the valid events.
 *
 * Duplicates (--dup-fraction) are byte-identical re-sends of a valid event,
 * 1..2000 events later, with the same key and eventId. Malformed messages
 * (--bad-fraction) are extra messages interleaved with the valid ones, keyed
 * by some user: truncated JSON, missing userId, a field of the wrong type
 * (userId/eventType/gameId number, data string), a bad timestamp, a payload
 * over 64 KiB, or binary garbage. Produced = events + duplicates + bad.
 *
 * Expect file (--expect FILE), TSV, written only after every message was
 * delivered (via FILE.tmp and rename):
 *   line 1: "# bm-loadgen expect v1 ..." (the options that shape the stream)
 *   then, sorted bytewise by user then by type (LC_ALL=C sort order), one line
 *   per (user, type) with at least one valid event, duplicates counted once:
 *     user \t gameId \t eventType \t count [\t field=sum,max,min,last]...
 *   fields are that type's numeric data fields in alphabetical order; values
 *   are integers; "last" is the user's last such event in production order.
 *   then: "#total_valid\tN", "#total_bad\tB", "#total_duplicates\tD".
 *
 * stdout gets one JSON summary line at the end:
 *   {"events":N,"produced":M,"duplicates":D,"bad":B,"seconds":S,
 *    "events_per_s":R,"bytes":X,"start_ms":T[,"wire_bytes":W]}
 * bytes = key + value bytes produced; wire_bytes (--wire-stats) = bytes the
 * client sent to the brokers, compression and protocol included.
 * Exit: 0 all delivered; 1 run failed; 2 bad usage.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "expect.h"
#include "gen.h"
#include "produce.h"

#define DUP_MAX_DELAY 2000

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = 1;
}

/* Reads the broker list an embedded broker wrote, waiting for it to appear. */
static int read_bootstrap(const char *path, char *buf, size_t cap)
{
    for (int tries = 0; tries < 100; tries++) {
        FILE *fp = fopen(path, "r");
        if (fp) {
            size_t n = fread(buf, 1, cap - 1, fp);
            fclose(fp);
            while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
                n--;
            buf[n] = 0;
            if (n > 0)
                return 0;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* --- duplicates waiting to be re-sent: a min-heap on (due, seq) ------------- */

typedef struct dup_msg {
    uint64_t due, seq;
    uint32_t user;
    size_t len;
    char *val;
} dup_msg;

typedef struct dup_heap {
    dup_msg *a;
    size_t n, cap;
} dup_heap;

static int dup_less(const dup_msg *x, const dup_msg *y)
{
    return x->due < y->due || (x->due == y->due && x->seq < y->seq);
}

static int dup_push(dup_heap *h, dup_msg m)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        dup_msg *a = realloc(h->a, cap * sizeof(*a));
        if (!a)
            return -1;
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && dup_less(&m, &h->a[(i - 1) / 2])) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = m;
    return 0;
}

static dup_msg dup_pop(dup_heap *h)
{
    dup_msg top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && dup_less(&h->a[c + 1], &h->a[c]))
            c++;
        if (!dup_less(&h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n)
        h->a[i] = last;
    return top;
}

/* --- the run ----------------------------------------------------------------- */

typedef struct run {
    const bm_lg_options *o;
    bm_lg_gen *g;
    bm_lg_producer *p; /* NULL in --dry-run */
    uint64_t produced, bytes;
    double t0, next_report;
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int emit(run *r, uint32_t user, const char *val, size_t len, char *err, size_t errlen)
{
    char key[64];
    size_t klen = bm_lg_gen_user(r->g, user, key, sizeof(key));
    if (r->o->rate > 0) {
        double wait = r->t0 + (double)r->produced / r->o->rate - now_s();
        if (wait > 0.001) {
            struct timespec ts = {(time_t)wait, (long)((wait - floor(wait)) * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    if (r->p && bm_lg_producer_send(r->p, key, klen, val, len, err, errlen) < 0)
        return -1;
    r->produced++;
    r->bytes += klen + len;
    if (!r->o->quiet && (r->produced & 0xffff) == 0) {
        double t = now_s();
        if (t >= r->next_report) {
            fprintf(stderr, "bm-loadgen: %llu messages, %.0f/s\n", (unsigned long long)r->produced,
                    (double)r->produced / (t - r->t0));
            r->next_report = t + 5;
        }
    }
    return 0;
}

/* Produces the whole stream; fills the totals. 0, or -1 with err. */
static int generate(run *r, bm_lg_expect *x, char *buf, uint64_t *bad_out, uint64_t *dup_out,
                    char *err, size_t errlen)
{
    const bm_lg_options *o = r->o;
    uint64_t n = o->gp.events;
    uint64_t bad_left = (uint64_t)llround((double)n * o->bad_fraction);
    uint64_t dup_left = (uint64_t)llround((double)n * o->dup_fraction);
    uint64_t bad = 0, dups = 0, seq = 0;
    bm_lg_rng sel_bad, sel_dup;
    dup_heap heap = {0};
    int rc = -1;
    /* Exactly round(n*F) picks by selection sampling, each from its own stream. */
    bm_lg_rng_seed(&sel_bad, o->gp.seed, 3);
    bm_lg_rng_seed(&sel_dup, o->gp.seed, 4);

    for (uint64_t i = 0; i < n && !interrupted; i++) {
        if (bad_left && bm_lg_rng_unit(&sel_bad) * (double)(n - i) < (double)bad_left) {
            uint32_t user;
            size_t len = bm_lg_gen_bad(r->g, bad, i, &user, buf);
            bad_left--;
            bad++;
            if (emit(r, user, buf, len, err, errlen) < 0)
                goto done;
        }
        while (heap.n && heap.a[0].due <= i) {
            dup_msg m = dup_pop(&heap);
            int e = emit(r, m.user, m.val, m.len, err, errlen);
            free(m.val);
            if (e < 0)
                goto done;
            dups++;
        }
        bm_lg_event ev;
        size_t len = bm_lg_gen_valid(r->g, i, &ev, buf);
        if (emit(r, ev.user, buf, len, err, errlen) < 0)
            goto done;
        if (x)
            bm_lg_expect_add(x, &ev);
        if (dup_left && bm_lg_rng_unit(&sel_dup) * (double)(n - i) < (double)dup_left) {
            dup_msg m = {i + 1 + bm_lg_rng_below(&sel_dup, DUP_MAX_DELAY), seq++, ev.user, len,
                         malloc(len)};
            dup_left--;
            if (m.val)
                memcpy(m.val, buf, len);
            if (!m.val || dup_push(&heap, m) < 0) {
                free(m.val);
                snprintf(err, errlen, "out of memory");
                goto done;
            }
        }
    }
    while (heap.n && !interrupted) {
        dup_msg m = dup_pop(&heap);
        int e = emit(r, m.user, m.val, m.len, err, errlen);
        free(m.val);
        if (e < 0)
            goto done;
        dups++;
    }
    rc = 0;
done:
    while (heap.n)
        free(dup_pop(&heap).val);
    free(heap.a);
    *bad_out = bad;
    *dup_out = dups;
    return rc;
}
int main(int argc, char **argv)
{
    static bm_lg_options o;
    char err[1024], bootstrap[4096], header[1024];
    char *buf = NULL;
    bm_lg_expect *x = NULL;
    run r = {&o, NULL, NULL, 0, 0, 0, 0};
    uint64_t bad = 0, dups = 0;
    int rc = 1;

    int pa = bm_lg_args_parse(&o, argc, argv, err, sizeof(err));
    if (pa != 0) {
        if (pa > 0) {
            fputs(bm_lg_usage, stdout);
            return 0;
        }
        fprintf(stderr, "bm-loadgen: %s\n", err);
        return 2;
    }
    r.g = bm_lg_gen_new(&o.gp, err, sizeof(err));
    if (!r.g) {
        fprintf(stderr, "bm-loadgen: %s\n", err);
        return 2;
    }
    buf = malloc(BM_LG_MAX_MSG);
    if (o.expect)
        x = bm_lg_expect_new(o.gp.users);
    if (!buf || (o.expect && !x)) {
        fprintf(stderr, "bm-loadgen: out of memory\n");
        goto done;
    }
    if (!o.dry_run) {
        if (o.bootstrap_file) {
            if (read_bootstrap(o.bootstrap_file, bootstrap, sizeof(bootstrap)) < 0) {
                fprintf(stderr, "bm-loadgen: %s: no broker list after 10 s\n", o.bootstrap_file);
                goto done;
            }
            o.kc.bootstrap = bootstrap;
        }
        r.p = bm_lg_producer_new(&o.kc, err, sizeof(err));
        if (!r.p) {
            fprintf(stderr, "bm-loadgen: %s\n", err);
            rc = 2;
            goto done;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    r.t0 = now_s();
    r.next_report = r.t0 + 5;
    if (generate(&r, x, buf, &bad, &dups, err, sizeof(err)) < 0) {
        fprintf(stderr, "bm-loadgen: %s\n", err);
        goto done;
    }
    if (r.p && bm_lg_producer_finish(r.p, &interrupted, err, sizeof(err)) < 0) {
        fprintf(stderr, "bm-loadgen: %s\n", err);
        goto done;
    }
    double secs = now_s() - r.t0;
    if (interrupted) {
        fprintf(stderr, "bm-loadgen: interrupted; no expect file written\n");
        goto done;
    }
    if (x) {
        bm_lg_args_header(&o, header, sizeof(header));
        if (bm_lg_expect_write(x, r.g, header, bad, dups, o.expect, err, sizeof(err)) < 0) {
            fprintf(stderr, "bm-loadgen: %s\n", err);
            goto done;
        }
    }
    printf("{\"events\":%llu,\"produced\":%llu,\"duplicates\":%llu,\"bad\":%llu,"
           "\"seconds\":%.3f,\"events_per_s\":%.0f,\"bytes\":%llu,\"start_ms\":%lld",
           (unsigned long long)o.gp.events, (unsigned long long)r.produced,
           (unsigned long long)dups, (unsigned long long)bad, secs,
           secs > 0 ? (double)r.produced / secs : 0.0, (unsigned long long)r.bytes,
           (long long)o.gp.start_ms);
    if (r.p && o.kc.wire_stats)
        printf(",\"wire_bytes\":%lld", (long long)bm_lg_producer_wire_bytes(r.p));
    printf("}\n");
    fflush(stdout);
    rc = 0;
done:
    bm_lg_producer_free(r.p);
    bm_lg_expect_free(x);
    bm_lg_gen_free(r.g);
    free(buf);
    return rc;
}
