/* The exactly-once scenario: boards, stream, and the final comparison. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scenario.h"

#define GAME "demo-game"

void scenario_campaigns(bm_e2e *e, scenario *s)
{
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"score sum\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"sum\"}}",
                    s->sum_id, sizeof s->sum_id);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"best score\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"max\"}}",
                    s->max_id, sizeof s->max_id);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"kills\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"ENEMY_KILL\",\"aggregation\":\"count\"}}",
                    s->count_id, sizeof s->count_id);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"formula\",\"gameId\":\"" GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\"},"
                    "\"customFormula\":\"data.kills * 100 + data.score\"}",
                    s->lua_id, sizeof s->lua_id);
}

void scenario_produce(bm_e2e *e, scenario *s, const char *seed, const char *events)
{
    /* A start on a whole hour an hour ago: the same bytes for a given seed within
     * the hour, and every timestamp inside the engine's past/future bounds. */
    char start[32];
    time_t t = time(NULL);
    snprintf(start, sizeof start, "%lld", ((long long)t / 3600 - 1) * 3600 * 1000);
    snprintf(s->expect_path, sizeof s->expect_path, "%s/expect-%s.tsv", e->dir, seed);
    const char *args[] = {"--events",        events, "--users",  "2000",          "--seed",
                          seed,              "--start", start,   "--dup-fraction", "0.02",
                          "--bad-fraction", "0.01",  "--expect", s->expect_path,  NULL};
    s->produced = bm_e2e_loadgen(e, args);
    bm_e2e_expect_load(&s->x, s->expect_path);
    assert_int_equal(s->x.valid + s->x.bad + s->x.dups, s->produced);
    assert_true(s->x.bad > 0);
    assert_true(s->x.dups > 0);
    /* The mock broker silently drops old data past ~5 MiB a partition. */
    assert_int_equal(bm_e2e_topic_end(e, BM_TOPIC_EVENTS), s->produced);
}

static double formula_value(const bm_e2e_row *r, const void *ud)
{
    (void)ud;
    return bm_e2e_value_sum(r, "kills") * 100 + bm_e2e_value_sum(r, "score");
}

void scenario_verify(bm_e2e *e, scenario *s)
{
    bm_e2e_assert_counters(e, s->produced, s->x.valid, s->x.bad, s->x.dups);
    size_t users = bm_e2e_assert_board(e, s->sum_id, &s->x, "MATCH_END", bm_e2e_value_sum, "score");
    bm_e2e_assert_board(e, s->max_id, &s->x, "MATCH_END", bm_e2e_value_max, "score");
    bm_e2e_assert_board(e, s->count_id, &s->x, "ENEMY_KILL", bm_e2e_value_count, NULL);
    bm_e2e_assert_board(e, s->lua_id, &s->x, "MATCH_END", formula_value, NULL);
    assert_true(users > 100);
    /* Each malformed message went to the DLQ exactly once, through the outbox. */
    assert_int_equal(bm_e2e_outbox_count(e, BM_TOPIC_DLQ), s->x.bad);
    /* Each DLQ record says why. */
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM outbox o, regexp_split_to_table(o.payload, "
                               "E'\\n') AS l WHERE o.topic = '%s' AND l <> '' AND l LIKE "
                               "'%%\"reason\":\"_%%'",
                               BM_TOPIC_DLQ),
                     s->x.bad);
}

void scenario_free(scenario *s)
{
    bm_e2e_expect_free(&s->x);
}
