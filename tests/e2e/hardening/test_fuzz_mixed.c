/*
 * A bounded fuzz run through the real engine: bm-loadgen's stream (valid
 * events, re-sent duplicates, malformed messages) at full speed, while the
 * test mixes in hostile traffic of its own: forged battle pass purchases
 * (unsigned, or with a wrong signature), signed purchases, ~600 KB non-UTF-8
 * events and keyless events. Every board total, every counter, the DLQ and
 * every purchase must then equal the independent count: loadgen's expect file
 * plus what the test produced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e_scenario.h"
#include "event/event.h"

#define GAME "demo-game"
#define SIGNED 40
#define FORGED 60
#define HUGE 3

static int setup(void **state)
{
    bm_e2e *e = calloc(1, sizeof *e);
    *state = e;
    return e ? 0 : -1;
}

static int teardown(void **state)
{
    bm_e2e_cleanup(*state);
    free(*state);
    return 0;
}

static void produce_hdr(rd_kafka_t *p, const char *key, const char *val, size_t len,
                        const char *sig)
{
    rd_kafka_headers_t *h = NULL;
    if (sig) {
        h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, BM_CMDAUTH_HEADER, -1, sig, -1);
    }
    for (;;) {
        rd_kafka_resp_err_t rc = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(BM_TOPIC_EVENTS), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            bm_e2e_fail("produce: %s", rd_kafka_err2str(rc));
        rd_kafka_poll(p, 50);
    }
}

/* The hostile part: returns messages produced; adds to *bad and *valid. */
static long long hostile_mix(bm_e2e *e, const char *pass, long long *bad, long long *valid)
{
    bm_e2e_rng rng;
    bm_e2e_rng_seed(&rng, 4242);
    rd_kafka_t *p = bm_e2e_producer(e);
    char ts[40], buf[1024], user[64], sig[BM_CMDAUTH_SIG_SIZE];
    bm_rfc3339_format((int64_t)time(NULL) * 1000, ts, sizeof ts);
    bm_cmdauth keys = {.ncur = strlen(BM_E2E_COMMAND_KEY)};
    memcpy(keys.cur, BM_E2E_COMMAND_KEY, keys.ncur);
    long long n = 0;
    for (int i = 0; i < SIGNED + FORGED; i++) {
        int forged = i >= SIGNED;
        snprintf(user, sizeof user, "%s-%d", forged ? "mallory" : "buyer", i);
        int len = snprintf(buf, sizeof buf,
                           "{\"eventId\":\"cmd:purchase:%s:%s\",\"gameId\":\"" GAME "\","
                           "\"userId\":\"%s\",\"eventType\":\"bm.battlepass.purchase\","
                           "\"timestamp\":\"%s\",\"source\":\"%s\","
                           "\"data\":{\"campaignId\":\"%s\"}}",
                           pass, user, user, ts, forged ? "game-client" : "server", pass);
        if (!forged) {
            bm_cmdauth_sign(&keys, buf, (size_t)len, sig);
            produce_hdr(p, user, buf, (size_t)len, sig);
            (*valid)++;
        } else if (bm_e2e_rng_range(&rng, 0, 2) == 0) {
            produce_hdr(p, user, buf, (size_t)len, NULL);
            (*bad)++;
        } else {
            /* signed with another key, or a valid signature of other bytes */
            bm_cmdauth other = {.ncur = 20};
            memcpy(other.cur, "not-the-engine-key!!", 20);
            bm_cmdauth_sign(bm_e2e_rng_range(&rng, 0, 1) ? &other : &keys, buf, (size_t)len - 1,
                            sig);
            produce_hdr(p, user, buf, (size_t)len, sig);
            (*bad)++;
        }
        n++;
    }
    size_t big = 600 * 1000;
    char *junk = malloc(big);
    assert_non_null(junk);
    for (int k = 0; k < HUGE; k++) {
        for (size_t i = 0; i < big; i++)
            junk[i] = (char)(0x80 | ((i * 131 + (size_t)k) % 127));
        produce_hdr(p, k ? "hostile" : NULL, junk, big, NULL);
        (*bad)++;
        n++;
    }
    free(junk);
    bm_e2e_producer_close(p);
    return n;
}

static void test_fuzz_mixed(void **state)
{
    bm_e2e *e = *state;
    char pass[64], src[1100], dst[400];
    bm_e2e_init(e, "hard_fuzz", 4);
    size_t len = 0;
    char *so = bm_e2e_slurp(bm_e2e_build_path(e, "modules/battlepass.so", src, sizeof src), &len);
    assert_non_null(so);
    snprintf(dst, sizeof dst, "%s/battlepass.so", e->mods_dir);
    bm_e2e_write_file(dst, so, len);
    free(so);
    bm_e2e_boards b;
    bm_e2e_boards_create(e, &b);
    bm_e2e_campaign(e,
                    "{\"type\":\"battlepass\",\"name\":\"Season\",\"gameId\":\"" GAME "\","
                    "\"xpSources\":[{\"eventType\":\"ENEMY_KILL\",\"xpValue\":1}],"
                    "\"tiers\":[{\"tier\":1,\"xpRequired\":100,"
                    "\"premiumReward\":{\"type\":\"token\"}}]}",
                    pass, sizeof pass);
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    int64_t t0 = bm_e2e_now_ms();
    bm_e2e_expect x;
    memset(&x, 0, sizeof x);
    bm_e2e_stream s = {.seed = "777", .events = "20000", .rate = "0"};
    bm_e2e_stream_start(e, &s);
    long long bad = 0, valid = 0;
    long long mine = hostile_mix(e, pass, &bad, &valid);
    long long produced = bm_e2e_stream_finish(&s, &x) + mine;
    x.valid += valid;
    x.bad += bad;
    bm_e2e_wait_offsets(e, &g, produced, 120000);
    fprintf(stderr, "e2e: %lld messages (%lld of them hostile or commands) applied in %lld ms\n",
            produced, mine, (long long)(bm_e2e_now_ms() - t0));
    /* Wait for the relay to publish everything, then compare. */
    int64_t deadline = bm_e2e_now_ms() + 60000;
    while (bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE published_at IS NULL") > 0) {
        if (bm_e2e_now_ms() > deadline)
            bm_e2e_fail("outbox not drained: the relay stalled");
        bm_e2e_sleep_ms(200);
    }
    bm_e2e_boards_verify(e, &b, &x, produced);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL"), 0);
    assert_int_equal(bm_e2e_topic_end(e, BM_TOPIC_DLQ), x.bad);
    /* Exactly the signed purchases bought a pass. */
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM outbox o, regexp_split_to_table(o.payload, "
                               "E'\\n') AS l WHERE o.topic = 'ui.battlepass_updates' AND l LIKE "
                               "'%%\"type\":\"purchased\"%%' AND l LIKE '%%\"userId\":\"buyer-%%'"),
                     SIGNED);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM outbox o, regexp_split_to_table(o.payload, "
                                  "E'\\n') AS l WHERE l LIKE '%%\"userId\":\"mallory-%%' AND "
                                  "o.topic <> 'game.events.dlq'"),
                     0);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM outbox o, regexp_split_to_table(o.payload, "
                                  "E'\\n') AS l WHERE o.topic = 'game.events.dlq' AND l LIKE "
                                  "'%%\"reason\":\"unauthenticated_command\"%%'"),
                     FORGED);
    bm_e2e_expect_free(&x);
    bm_e2e_engine_stop(&g, 30000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fuzz_mixed, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
