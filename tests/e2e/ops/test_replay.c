/*
 * bmctl campaign replay: a leaderboard's formula changes mid-stream; the
 * replay recounts the stored events with the new formula while live events
 * keep arriving, in two engines of one group. The board must equal an
 * independent count of the stream with the new formula (and the same count
 * over game_events in SQL): every event counted once, none missed at a
 * partition's cut-over. The previous standings are kept until dropped.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e.h"
#include "util/rfc3339.h"

#define NUSERS 40
#define PER_USER 5

typedef struct oracle {
    long long value[NUSERS]; /* with the new formula: 2 * score + 1 */
    long long count[NUSERS];
    long long produced;
} oracle;

typedef struct phase {
    bm_e2e *e;
    oracle *o;
    int n;
    int pause_ms;      /* between users: spreads the phase over time */
    volatile int stop; /* live phase: one more round, then stop */
} phase;

static int score_of(int user, int j, int n)
{
    return (user * 7 + j * 13 + n * 5) % 50 + 1;
}

static void produce_round(phase *ph, rd_kafka_t *p, int round)
{
    char buf[512], ts[40], user[16];
    for (int i = 0; i < NUSERS; i++) {
        snprintf(user, sizeof user, "r%02d", i);
        for (int j = round * PER_USER; j < (round + 1) * PER_USER; j++) {
            int s = score_of(i, j, ph->n);
            bm_rfc3339_format((int64_t)time(NULL) * 1000 - 60000, ts, sizeof ts);
            int len = snprintf(buf, sizeof buf,
                               "{\"eventId\":\"rp-%d-%s-%d\",\"gameId\":\"demo-game\",\"userId\":"
                               "\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\","
                               "\"data\":{\"score\":%d}}",
                               ph->n, user, j, user, ts, s);
            bm_e2e_produce(p, user, buf, (size_t)len);
            ph->o->value[i] += 2 * s + 1;
            ph->o->count[i]++;
            ph->o->produced++;
        }
        if (ph->pause_ms)
            bm_e2e_sleep_ms(ph->pause_ms);
    }
}

/* One round of PER_USER events per user; a live phase (pause_ms > 0) goes on
 * in rounds until told to stop, and then does one more. */
static void *produce(void *arg)
{
    phase *ph = arg;
    rd_kafka_t *p = bm_e2e_producer(ph->e);
    int round = 0;
    do {
        int last = ph->stop;
        produce_round(ph, p, round++);
        if (last)
            break;
    } while (ph->pause_ms);
    bm_e2e_producer_close(p);
    return NULL;
}

static void campaign_file(bm_e2e *e, const char *id, const char *formula, char *out, size_t len)
{
    char json[1024], path[400];
    snprintf(json, sizeof json,
             "{%s%s%s\"type\":\"leaderboard\",\"name\":\"replayed\",\"gameId\":\"demo-game\","
             "\"scoringMetadata\":{\"eventType\":\"MATCH_END\"},\"customFormula\":\"%s\"}",
             id ? "\"id\":\"" : "", id ? id : "", id ? "\"," : "", formula);
    snprintf(path, sizeof path, "%s/replayed-%s.json", e->dir, id ? "update" : "create");
    bm_e2e_write_file(path, json, strlen(json));
    snprintf(out, len, "%s", path);
}

/* Users whose board row differs from the oracle (value or count). */
static long long mismatches(bm_e2e *e, const char *camp, const oracle *o)
{
    long long bad = 0;
    for (int i = 0; i < NUSERS; i++) {
        long long v = bm_e2e_ll(e,
                                "SELECT COALESCE((SELECT current_value::bigint * 1000000 + "
                                "event_count FROM user_progress WHERE campaign_id = '%s' AND "
                                "user_id = 'r%02d'), -1)",
                                camp, i);
        if (v != o->value[i] * 1000000 + o->count[i])
            bad++;
    }
    return bad;
}

static void test_replay_after_formula_change(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "replay", 4);
    oracle o;
    memset(&o, 0, sizeof o);
    char path[400], id[64], *out = NULL;
    campaign_file(e, NULL, "data.score", path, sizeof path);
    const char *create[] = {"campaign", "create", path, NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, create), 0);
    const char *p = strstr(out, "created campaign ");
    assert_non_null(p);
    snprintf(id, sizeof id, "%.36s", p + strlen("created campaign "));
    free(out);

    bm_e2e_engine g[2];
    bm_e2e_engine_start(e, &g[0]);
    bm_e2e_engine_start(e, &g[1]);
    phase ph0 = {e, &o, 0, 0, 0};
    produce(&ph0);
    bm_e2e_wait_offsets(e, NULL, o.produced, 120000);
    /* Every event applied and stored; the old formula counted the score once. */
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM game_events"), o.produced);
    assert_int_equal(
        bm_e2e_ll(
            e, "SELECT sum(current_value)::bigint FROM user_progress WHERE campaign_id = '%s'", id),
        bm_e2e_ll(e, "SELECT sum((payload->'data'->>'score')::int) FROM game_events"));

    /* The studio fixes the formula; events keep coming (some counted live with
     * the old one until the engines pick the new version up). */
    campaign_file(e, id, "data.score * 2 + 1", path, sizeof path);
    const char *update[] = {"campaign", "create", path, NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, update), 0);
    free(out);
    phase ph1 = {e, &o, 1, 0, 0};
    produce(&ph1);
    bm_e2e_wait_offsets(e, NULL, o.produced, 120000);
    assert_true(mismatches(e, id, &o) > 0); /* the board is not the new formula's yet */

    /* The replay, while a third phase streams in before, during and after it. */
    phase ph2 = {e, &o, 2, 20, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, produce, &ph2), 0);
    bm_e2e_sleep_ms(300);
    const char *replay[] = {"campaign", "replay", id, "--wait", "120", NULL};
    int rc = bm_e2e_bmctl(e, &out, replay);
    if (rc != 0)
        fprintf(stderr, "%s\n", out ? out : "");
    assert_int_equal(rc, 0);
    json_t *res = json_loads(strstr(out, "{"), JSON_DISABLE_EOF_CHECK, NULL);
    free(out);
    assert_non_null(res);
    assert_string_equal(json_string_value(json_object_get(res, "status")), "done");
    assert_int_equal(json_array_size(json_object_get(res, "partitions")), 4);
    assert_int_equal(json_integer_value(json_object_get(res, "players")), NUSERS);
    long long replay_id = strtoll(json_string_value(json_object_get(res, "replay")), NULL, 10);
    long long recounted = json_integer_value(json_object_get(res, "events"));
    json_decref(res);
    ph2.stop = 1;
    pthread_join(t, NULL);
    bm_e2e_wait_offsets(e, NULL, o.produced, 120000);
    /* Every stored event before a cut-over was recounted; the rest counted live. */
    assert_int_equal(recounted,
                     bm_e2e_ll(e,
                               "SELECT count(*) FROM game_events g JOIN module_results m ON "
                               "m.kind = 'replay' AND m.key = '%lld:' || g.kafka_partition AND "
                               "m.campaign_id = '%s' WHERE g.kafka_offset < "
                               "(m.doc->>'cutoverOffset')::bigint",
                               replay_id, id));
    assert_true(recounted >= 2 * NUSERS * PER_USER);
    /* Live events came after every partition's cut-over. */
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(DISTINCT g.kafka_partition) FROM game_events g JOIN "
                               "module_results m ON m.kind = 'replay' AND m.key = '%lld:' || "
                               "g.kafka_partition AND m.campaign_id = '%s' WHERE g.kafka_offset >= "
                               "(m.doc->>'cutoverOffset')::bigint",
                               replay_id, id),
                     4);

    /* The board settles on the new formula over the whole stream: exactly. */
    int64_t deadline = bm_e2e_now_ms() + 120000;
    long long bad;
    while ((bad = mismatches(e, id, &o)) != 0 && bm_e2e_now_ms() < deadline)
        bm_e2e_sleep_ms(200);
    assert_int_equal(bad, 0);
    /* The same count, independently, over the stored events. */
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM game_events"), o.produced);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM (SELECT user_id, sum(2 * (payload->'data'->>"
                               "'score')::int + 1) AS v, count(*) AS n FROM game_events GROUP BY "
                               "user_id) s JOIN user_progress p ON p.user_id = s.user_id AND "
                               "p.campaign_id = '%s' AND p.current_value = s.v AND "
                               "p.event_count = s.n",
                               id),
                     NUSERS);

    /* The previous standings are kept, one per player, until dropped. */
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM module_results WHERE campaign_id = '%s' AND "
                               "kind = 'replay_previous'",
                               id),
                     NUSERS);
    char rid[32];
    snprintf(rid, sizeof rid, "%lld", replay_id);
    const char *drop[] = {"campaign", "replay-drop", rid, NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, drop), 0);
    free(out);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM module_results WHERE campaign_id = '%s' AND "
                               "kind = 'replay_previous'",
                               id),
                     0);
    assert_true(bm_e2e_ll(e, "SELECT count(*) FROM campaign_replays WHERE done_at IS NOT NULL") ==
                1);
    bm_e2e_engine_stop(&g[0], 30000);
    bm_e2e_engine_stop(&g[1], 30000);
}

/* Bad input: an unknown campaign and a malformed time are refused, nothing requested. */
static void test_replay_refusals(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "replaybad", 2);
    char *out = NULL;
    const char *unknown[] = {"campaign", "replay", "00000000-0000-0000-0000-000000000000",
                             "--wait",   "1",      NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, unknown), 1);
    assert_non_null(strstr(out, "not found or not active"));
    free(out);
    const char *badts[] = {"campaign", "replay",    "00000000-0000-0000-0000-000000000000",
                           "--from",   "yesterday", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, badts), 2);
    assert_non_null(strstr(out, "not an RFC 3339 time"));
    free(out);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM campaign_replays"), 0);
    const char *drop[] = {"campaign", "replay-drop", "42", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, drop), 1);
    assert_non_null(strstr(out, "replay 42 not found"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_after_formula_change, bm_e2e_setup,
                                        bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_replay_refusals, bm_e2e_setup, bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
