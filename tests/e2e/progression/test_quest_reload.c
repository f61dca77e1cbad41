/*
 * Hot reload of quest.so with another version while the engine consumes a
 * steady stream of quest events: a thread produces at a fixed rate; at about
 * a third of the stream the module is replaced by the same sources built as
 * version 1.1.0-rebuild and `bmctl reload` swaps it in; at about two thirds
 * the original 1.0.0 comes back. Each reload must report the new version and
 * a higher generation, the rebuilt generation must have counted events, and at
 * the end every quest total, completion and reward grant must equal the
 * independent oracle: nothing lost or counted twice across the swaps.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/progression/prog.h"

#define DEFAULT_SEED 4242
#define USERS 300
#define EVENTS 24000
#define WARMUP 2000
#define RATE 3000 /* messages per second after the warm-up */
#define V2 "1.1.0-rebuild"

/* BM_E2E_SEED=<n> runs another stream (to reproduce or explore). */
static uint64_t seed(void)
{
    const char *s = getenv("BM_E2E_SEED");
    return s && *s ? strtoull(s, NULL, 10) : DEFAULT_SEED;
}

static int setup(void **state)
{
    bm_e2e *e = calloc(1, sizeof *e);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    bm_e2e_cleanup(*state);
    free(*state);
    return 0;
}

/* The paced producer. It never calls into cmocka: failures are reported in err. */
typedef struct pacer {
    rd_kafka_t *p;
    const prog_campaigns *c;
    const prog_stream *s;
    size_t from, to;
    atomic_size_t sent;
    char err[256];
} pacer;

static void *pace(void *arg)
{
    pacer *pc = arg;
    char buf[1024], user[32];
    int64_t t0 = bm_e2e_now_ms();
    for (size_t i = pc->from; i < pc->to && !pc->err[0]; i++) {
        size_t len = prog_event_json(pc->c, pc->s, i, buf, sizeof buf);
        prog_user_id(pc->s->ev[i].user, user, sizeof user);
        for (;;) {
            rd_kafka_resp_err_t rc =
                rd_kafka_producev(pc->p, RD_KAFKA_V_TOPIC(BM_TOPIC_EVENTS),
                                  RD_KAFKA_V_KEY(user, strlen(user)), RD_KAFKA_V_VALUE(buf, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                snprintf(pc->err, sizeof pc->err, "produce: %s", rd_kafka_err2str(rc));
                break;
            }
            rd_kafka_poll(pc->p, 50);
        }
        atomic_store(&pc->sent, i + 1 - pc->from);
        size_t done = i + 1 - pc->from;
        if (done % 100 == 0) {
            rd_kafka_poll(pc->p, 0);
            int64_t due = t0 + (int64_t)(done * 1000 / RATE);
            int64_t now = bm_e2e_now_ms();
            if (due > now)
                bm_e2e_sleep_ms((int)(due - now));
        }
    }
    return NULL;
}

/* Replaces quest.so with `from` and runs `bmctl reload`; returns the new generation. */
static int reload_to(bm_e2e *e, const char *from, const char *version, int previous,
                     const pacer *pc)
{
    prog_install_quest(e, from);
    char *out = NULL, want[128], got[64];
    const char *reload[] = {"reload", NULL};
    int rc = bm_e2e_bmctl(e, &out, reload);
    long long committed = bm_e2e_offsets_sum(e);
    size_t sent = atomic_load(&pc->sent);
    fprintf(stderr, "e2e: bmctl reload -> %s: exit %d at %lld committed, %zu of %zu sent\n%s",
            version, rc, committed, sent, pc->to - pc->from, out ? out : "");
    assert_int_equal(rc, 0);
    snprintf(want, sizeof want, "loaded quest.so: quest %s generation", version);
    if (!out || !strstr(out, want))
        bm_e2e_fail("bmctl reload did not report \"%s\"", want);
    free(out);
    /* Mid-stream: the engine had consumed part of the stream and had work left. */
    assert_true(committed > (long long)pc->from);
    assert_true(committed < (long long)pc->to);
    int gen = prog_quest_generation(e, got, sizeof got);
    assert_true(gen > previous);
    assert_string_equal(got, version);
    return gen;
}

/* Events dispatched to the live quest generation so far. */
static long long quest_events(bm_e2e *e)
{
    json_t *m = bm_e2e_modules(e);
    long long n = -1;
    size_t i;
    json_t *mod;
    json_array_foreach(json_object_get(m, "modules"), i, mod)
    {
        const char *name = json_string_value(json_object_get(mod, "name"));
        if (name && strcmp(name, "quest") == 0)
            n = json_integer_value(json_object_get(mod, "events"));
    }
    json_decref(m);
    return n;
}

static void test_quest_reload_mid_stream(void **state)
{
    bm_e2e *e = *state;
    int64_t t_start = bm_e2e_now_ms();
    bm_e2e_init(e, "questreload", 6);
    prog_install_modules(e);
    prog_campaigns c;
    prog_campaigns_create(e, &c, 0);
    prog_stream s;
    prog_stream_generate(&s, seed(), USERS, EVENTS, 0);
    char v1[1100], v2[1100], ver[64];
    bm_e2e_build_path(e, "modules/quest.so", v1, sizeof v1);
    bm_e2e_build_path(e, "tests/e2e/progression/quest_v2.so", v2, sizeof v2);

    /* Warm-up: the engine owns its partitions and consumes before the clock starts. */
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    rd_kafka_t *p = bm_e2e_producer(e);
    prog_stream_produce(p, &c, &s, 0, WARMUP);
    bm_e2e_producer_close(p);
    bm_e2e_wait_offsets(e, &g, WARMUP, 60000);
    int gen0 = prog_quest_generation(e, ver, sizeof ver);
    assert_string_equal(ver, "1.0.0");
    fprintf(stderr, "e2e: warm-up consumed after %lld ms, quest %s generation %d\n",
            (long long)(bm_e2e_now_ms() - t_start), ver, gen0);

    pacer pc = {.p = bm_e2e_producer(e), .c = &c, .s = &s, .from = WARMUP, .to = s.n};
    atomic_init(&pc.sent, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pace, &pc), 0);

    long long third = WARMUP + (long long)(s.n - WARMUP) / 3;
    bm_e2e_wait_offsets(e, &g, third, 60000);
    int gen1 = reload_to(e, v2, V2, gen0, &pc);

    bm_e2e_wait_offsets(e, &g, 2 * third - WARMUP, 60000);
    /* The rebuilt generation did the counting in between. */
    long long counted_by_v2 = quest_events(e);
    fprintf(stderr, "e2e: generation %d (%s) dispatched %lld events\n", gen1, V2, counted_by_v2);
    assert_true(counted_by_v2 > 0);
    reload_to(e, v1, "1.0.0", gen1, &pc);

    pthread_join(th, NULL);
    bm_e2e_producer_close(pc.p);
    if (pc.err[0])
        bm_e2e_fail("paced producer: %s", pc.err);
    bm_e2e_wait_offsets(e, &g, (long long)s.n, 90000);

    prog_oracle o;
    prog_oracle_run(&o, &s);
    prog_oracle_summary(&o);
    assert_true(o.quest_grants > 100);
    prog_verify(e, &c, &s, &o);
    prog_assert_no_module_errors(e, &c);
    assert_true(bm_e2e_log_contains(&g, "version=" V2));
    bm_e2e_engine_stop(&g, 10000);
    prog_verify(e, &c, &s, &o);
    fprintf(stderr, "e2e: total %lld ms\n", (long long)(bm_e2e_now_ms() - t_start));
    prog_oracle_free(&o);
    prog_stream_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quest_reload_mid_stream, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
