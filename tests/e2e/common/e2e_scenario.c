/* The standard scenario: boards, stream, and the final comparison. */
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

#define GAME "demo-game"

void bm_e2e_boards_create(bm_e2e *e, bm_e2e_boards *b)
{
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"score sum\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"sum\"}}",
                    b->sum_id, sizeof b->sum_id);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"best score\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"max\"}}",
                    b->max_id, sizeof b->max_id);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"kills\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"ENEMY_KILL\",\"aggregation\":\"count\"}}",
                    b->count_id, sizeof b->count_id);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"formula\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\"},"
                    "\"customFormula\":\"data.kills * 100 + data.score\"}",
                    b->lua_id, sizeof b->lua_id);
}

void bm_e2e_stream_start(bm_e2e *e, bm_e2e_stream *s)
{
    /* A start on a whole hour an hour ago: the same bytes for a given seed within
     * the hour, and every timestamp inside the engine's past/future bounds. */
    char start[32];
    snprintf(start, sizeof start, "%lld", ((long long)time(NULL) / 3600 - 1) * 3600 * 1000);
    snprintf(s->expect_path, sizeof s->expect_path, "%s/expect-%s.tsv", e->dir, s->seed);
    snprintf(s->out_path, sizeof s->out_path, "%s/loadgen-%s.out", e->dir, s->seed);
    const char *args[] = {"--events",
                          s->events,
                          "--users",
                          "2000",
                          "--seed",
                          s->seed,
                          "--start",
                          start,
                          "--dup-fraction",
                          "0.02",
                          "--bad-fraction",
                          "0.01",
                          "--rate",
                          s->rate ? s->rate : "0",
                          "--user-prefix",
                          s->user_prefix ? s->user_prefix : "u",
                          "--expect",
                          s->expect_path,
                          NULL};
    s->pid = bm_e2e_loadgen_start(e, args, s->out_path);
}

long long bm_e2e_stream_finish(bm_e2e_stream *s, bm_e2e_expect *x)
{
    s->produced = bm_e2e_loadgen_wait(s->pid, s->out_path, 300000);
    bm_e2e_expect one;
    memset(&one, 0, sizeof one);
    bm_e2e_expect_load(&one, s->expect_path);
    assert_int_equal(one.valid + one.bad + one.dups, s->produced);
    assert_true(one.bad > 0);
    assert_true(one.dups > 0);
    bm_e2e_expect_free(&one);
    bm_e2e_expect_load(x, s->expect_path);
    return s->produced;
}

static double formula_value(const bm_e2e_row *r, const void *ud)
{
    (void)ud;
    return bm_e2e_value_sum(r, "kills") * 100 + bm_e2e_value_sum(r, "score");
}

void bm_e2e_boards_verify(bm_e2e *e, const bm_e2e_boards *b, const bm_e2e_expect *x,
                          long long produced)
{
    /* The mock broker silently drops old data past ~5 MiB a partition. */
    assert_int_equal(bm_e2e_topic_end(e, BM_TOPIC_EVENTS), produced);
    bm_e2e_assert_counters(e, produced, x->valid, x->bad, x->dups);
    size_t users = bm_e2e_assert_board(e, b->sum_id, x, "MATCH_END", bm_e2e_value_sum, "score");
    bm_e2e_assert_board(e, b->max_id, x, "MATCH_END", bm_e2e_value_max, "score");
    bm_e2e_assert_board(e, b->count_id, x, "ENEMY_KILL", bm_e2e_value_count, NULL);
    bm_e2e_assert_board(e, b->lua_id, x, "MATCH_END", formula_value, NULL);
    assert_true(users > 100);
    /* Each malformed message went to the DLQ exactly once, through the outbox,
     * and each DLQ record says why. */
    assert_int_equal(bm_e2e_outbox_count(e, BM_TOPIC_DLQ), x->bad);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM outbox o, regexp_split_to_table(o.payload, "
                               "E'\\n') AS l WHERE o.topic = '%s' AND l LIKE "
                               "'%%\"reason\":\"_%%'",
                               BM_TOPIC_DLQ),
                     x->bad);
}
