/*
 * Campaign lifecycle, community membership and multi-line JSON through one
 * engine with the fx_v2 fixture:
 *  - an update, a removal (status draft), a cancel (bmctl campaign disable)
 *    and a window that closes: campaign_changed tells UPDATED, REMOVED and
 *    ENDED apart; on_campaign_end runs once per ended campaign with the right
 *    reason, and the host marks those campaigns ended;
 *  - a user who joins a community while a batch is being built: every answer
 *    in that batch is the same (not a member), the next batch sees the join;
 *  - a module emitting pretty-printed JSON: the message reaches the topic
 *    intact, one message, and invalid JSON is refused at emit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/hostv2/hostv2.h"
#include "kafka/kafka.h"
#include "event/event.h"
#include "util/clock.h"

/* Polls until module_results(camp, kind, key) exists; returns doc->>field as a number. */
static long long result_field(bm_e2e *e, const char *camp, const char *kind, const char *key,
                              const char *field)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM module_results WHERE campaign_id = '%s' AND kind = '%s' AND "
             "key = '%s'",
             camp, kind, key);
    hv2_wait_ll(e, 1, 30000, sql);
    return bm_e2e_ll(e,
                     "SELECT (doc->>'%s')::bigint FROM module_results WHERE campaign_id = '%s' "
                     "AND kind = '%s' AND key = '%s'",
                     field, camp, kind, key);
}

static void wait_metric(bm_e2e *e, const char *name, double want)
{
    double v = 0;
    for (int i = 0; i < 300 && (v = hv2_metric(e, name)) < want; i++)
        bm_e2e_sleep_ms(100);
    if (v != want)
        bm_e2e_fail("metric %s: want %g, got %g", name, want, v);
}

static void test_update_remove_end(void **state)
{
    bm_e2e *e = *state;
    hv2_init(e, "lifecycle", 2);
    bm_e2e_setenv(e, "BM_ENGINE_CAMPAIGN_END_GRACE_S", "0");
    char upd[64], rem[64], can[64], win[64], extra[256], end[40];
    hv2_campaign(e, "", upd, sizeof upd);
    hv2_campaign(e, "", rem, sizeof rem);
    hv2_campaign(e, "", can, sizeof can);
    bm_rfc3339_format(bm_now_ms() + 8000, end, sizeof end);
    snprintf(extra, sizeof extra, "\"endDate\":\"%s\"", end);
    hv2_campaign(e, extra, win, sizeof win);
    bm_e2e_engine g;
    hv2_engine(e, &g, "processor,relay", "one");

    /* Update: same id, a new name. */
    char json[512], path[400], want[128], *out = NULL;
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"type\":\"fixture_v2\",\"name\":\"renamed\",\"gameId\":\"" HV2_GAME
             "\"}",
             upd);
    snprintf(path, sizeof path, "%s/update.json", e->dir);
    bm_e2e_write_file(path, json, strlen(json));
    const char *cargs[] = {"campaign", "create", path, NULL};
    snprintf(want, sizeof want, "updated campaign %s", upd);
    if (bm_e2e_bmctl(e, &out, cargs) != 0 || !out || !strstr(out, want))
        bm_e2e_fail("bmctl campaign create (update): %s", out ? out : "");
    free(out);
    out = NULL;
    wait_metric(e, "changed_updated", 1);

    /* Removal (back to draft), then a cancel whose announcement makes the engine
     * read both. */
    bm_e2e_ll(e,
              "WITH u AS (UPDATE campaigns SET status = 'draft', version = version + 1 "
              "WHERE id = '%s' RETURNING 1) SELECT count(*) FROM u",
              rem);
    const char *args[] = {"campaign", "disable", can, NULL};
    assert_int_equal(bm_e2e_bmctl(e, &out, args), 0);
    free(out);
    wait_metric(e, "changed_removed", 1);

    /* The cancel ends the campaign once, with its reason; the window closes next. */
    assert_int_equal(result_field(e, can, "end", "reason", "reason"), BM_END_CANCELLED);
    assert_int_equal(result_field(e, win, "end", "reason", "reason"), BM_END_WINDOW);
    wait_metric(e, "changed_ended", 2);
    assert_int_equal(bm_e2e_ll(e,
                               "SELECT count(*) FROM campaigns WHERE ended_at IS NOT NULL AND "
                               "((id = '%s' AND end_reason = 'cancelled' AND status = 'cancelled') "
                               "OR (id = '%s' AND end_reason = 'window' AND status = 'completed'))",
                               can, win),
                     2);
    /* Removed and updated campaigns did not end; nothing ended twice. */
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM campaigns WHERE ended_at IS NOT NULL"), 2);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM work_claims WHERE module = '@host'"), 2);
    assert_int_equal(bm_e2e_outbox_count(e, "ui.campaign_updates"), 2);
    bm_e2e_sleep_ms(2500); /* more ticks: still two */
    assert_int_equal(bm_e2e_outbox_count(e, "ui.campaign_updates"), 2);
    assert_int_equal(hv2_metric(e, "changed_updated"), 1);
    assert_int_equal(hv2_metric(e, "changed_removed"), 1);
    bm_e2e_engine_stop(&g, 30000);
}

static void test_community_join_mid_batch(void **state)
{
    bm_e2e *e = *state;
    hv2_init(e, "community", 1);
    /* Long batches: what is produced within 3 s of the first event is one batch. */
    bm_e2e_setenv(e, "BM_PIPELINE_BATCH_LINGER_MS", "3000");
    char comm[64], camp[64], extra[128];
    PGresult *r = PQexec(e->db, "INSERT INTO communities (name, referral_slug, redirect_url, "
                                "member_metadata) VALUES ('c', 'c', 'https://x', '{}') "
                                "RETURNING id::text");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(comm, sizeof comm, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    bm_e2e_ll(e,
              "WITH i AS (INSERT INTO community_members (community_id, user_id, user_metadata) "
              "VALUES ('%s', 'member', '{}') RETURNING 1) SELECT count(*) FROM i",
              comm);
    snprintf(extra, sizeof extra, "\"community\":\"%s\"", comm);
    hv2_campaign(e, extra, camp, sizeof camp);
    bm_e2e_engine g;
    hv2_engine(e, &g, "processor", "one");

    hv2_event(e, "score", "member", "m1");
    hv2_event(e, "score", "joiner", "j1");
    bm_e2e_wait_offsets(e, &g, 2, 60000);
    assert_int_equal(result_field(e, camp, "member", "m1", "member"), 1);
    assert_int_equal(result_field(e, camp, "member", "j1", "member"), 0);

    /* A batch opens with j2; the user joins (row + config.communities); j3 lands
     * in the same batch. */
    hv2_event(e, "score", "joiner", "j2");
    bm_e2e_sleep_ms(300);
    bm_e2e_ll(e,
              "WITH i AS (INSERT INTO community_members (community_id, user_id, user_metadata) "
              "VALUES ('%s', 'joiner', '{}') RETURNING 1) SELECT count(*) FROM i",
              comm);
    char err[256], msg[128];
    rd_kafka_t *p = bm_kafka_producer_new(e->bootstrap, err, sizeof err);
    if (!p)
        bm_e2e_fail("producer: %s", err);
    snprintf(msg, sizeof msg, "{\"communityId\":\"%s\",\"userId\":\"joiner\"}", comm);
    if (bm_kafka_produce_sync(p, "config.communities", comm, msg, strlen(msg), err, sizeof err))
        bm_e2e_fail("config.communities: %s", err);
    rd_kafka_destroy(p);
    hv2_event(e, "score", "joiner", "j3");
    bm_e2e_wait_offsets(e, &g, 4, 60000);
    assert_int_equal(result_field(e, camp, "member", "j2", "member"), 0);
    assert_int_equal(result_field(e, camp, "member", "j3", "member"), 0);

    /* The next batch sees the join. */
    hv2_event(e, "score", "joiner", "j4");
    bm_e2e_wait_offsets(e, &g, 5, 60000);
    assert_int_equal(result_field(e, camp, "member", "j4", "member"), 1);
    assert_int_equal(result_field(e, camp, "member", "m1", "member"), 1);
    bm_e2e_engine_stop(&g, 30000);
}

/* Every message of a topic, as the relay published it. */
static int consume_all(bm_e2e *e, const char *topic, char **vals, int max)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", e->bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "hv2-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(3);
    for (int p = 0; p < 3; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0, eofs = 0;
    int64_t end = bm_e2e_now_ms() + 20000;
    while (eofs < 3 && bm_e2e_now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!m->err && n < max)
            vals[n++] = strndup(m->payload, m->len);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

static void test_pretty_json_through_outbox(void **state)
{
    bm_e2e *e = *state;
    hv2_init(e, "pretty", 1);
    char camp[64];
    hv2_campaign(e, "", camp, sizeof camp);
    bm_e2e_engine g;
    hv2_engine(e, &g, "processor,relay", "one");
    hv2_event(e, "pretty", "u1", "p1");
    bm_e2e_wait_offsets(e, &g, 1, 60000);
    /* emit answered BM_OK for the pretty document and BM_ERROR for the broken one. */
    assert_int_equal(result_field(e, camp, "emit", "p1", "prettyRc"), BM_OK);
    assert_int_equal(result_field(e, camp, "emit", "p1", "invalidRc"), BM_ERROR);
    hv2_wait_ll(e, 1, 30000,
                "SELECT count(*) FROM outbox WHERE topic = 'ui.quest_updates' AND "
                "published_at IS NOT NULL");
    char *vals[8];
    int n = consume_all(e, "ui.quest_updates", vals, 8);
    assert_int_equal(n, 1);
    json_error_t jerr;
    json_t *j = json_loads(vals[0], 0, &jerr);
    if (!j)
        bm_e2e_fail("published message is not JSON: %s (%s)", vals[0], jerr.text);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "line one\nline\ttwo");
    assert_int_equal(json_array_size(json_object_get(j, "n")), 2);
    json_decref(j);
    free(vals[0]);
    bm_e2e_engine_stop(&g, 30000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_update_remove_end, bm_e2e_setup, bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_community_join_mid_batch, bm_e2e_setup,
                                        bm_e2e_teardown),
        cmocka_unit_test_setup_teardown(test_pretty_json_through_outbox, bm_e2e_setup,
                                        bm_e2e_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
