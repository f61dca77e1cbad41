/*
 * The periodic campaign refresh (bm_camps_fetch + bm_camps_sync) against a
 * real PostgreSQL database: a campaign's document is read when the host does
 * not hold it at that version, and not again while its version is unchanged,
 * so no document size can stall a batch; a document over
 * campaigns.max_config_bytes is never read into the engine and reported once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "campaign/campaign.h"
#include "campaign/campaign_int.h"
#include "log/log.h"
#include "support/testdb.h"

#define DB "campaign_refresh"
#define SMALL "33333333-0000-0000-0000-000000000001"
#define BIG "33333333-0000-0000-0000-000000000002"

static const bm_camp_row *row_of(const bm_camp_row *rows, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].id, id) == 0)
            return &rows[i];
    fail_msg("campaign %s not fetched", id);
    return NULL;
}

static void test_refresh_reads_changed_documents_only(void **state)
{
    (void)state;
    char dsn[1024], err[512];
    bm_log_set_level(BM_LOG_LVL_ERROR);
    PGconn *c = bm_testdb_create(DB, dsn, sizeof dsn);
    bm_testdb_exec(c, "INSERT INTO games (name, identifier) VALUES ('G', 'g')");
    bm_testdb_exec(c, "INSERT INTO campaigns (id, game_id, type, name, config) SELECT '" SMALL
                      "', id, 'leaderboard', 'small', '{\"type\":\"leaderboard\"}' FROM games");
    bm_testdb_exec(c, "INSERT INTO campaigns (id, game_id, type, name, config) SELECT '" BIG
                      "', id, 'leaderboard', 'big', jsonb_build_object('type', 'leaderboard', "
                      "'pad', repeat('x', 400000)) FROM games");
    bm_config cfg;
    bm_config_defaults(&cfg);
    bm_camps cs;
    bm_camps_init(&cs);
    bm_camp_row *rows;
    size_t n;

    /* First refresh: the small document is read, the big one is not. */
    assert_int_equal(bm_camps_fetch(c, &cs, &cfg, &rows, &n, err, sizeof err), 0);
    assert_non_null(row_of(rows, n, SMALL)->config);
    assert_false(row_of(rows, n, SMALL)->oversize);
    assert_null(row_of(rows, n, BIG)->config);
    assert_true(row_of(rows, n, BIG)->oversize);
    bm_camps_sync(&cs, rows, n, NULL);
    bm_camp_rows_free(rows, n);
    assert_non_null(bm_camps_find(&cs, SMALL));
    assert_null(bm_camps_find(&cs, BIG));

    /* Unchanged: no document is read at all. */
    assert_int_equal(bm_camps_fetch(c, &cs, &cfg, &rows, &n, err, sizeof err), 0);
    assert_null(row_of(rows, n, SMALL)->config);
    assert_null(row_of(rows, n, BIG)->config);
    assert_false(row_of(rows, n, BIG)->oversize); /* reported once, now known */
    bm_camps_sync(&cs, rows, n, NULL);
    bm_camp_rows_free(rows, n);
    assert_non_null(bm_camps_find(&cs, SMALL)); /* still served from what it holds */
    assert_non_null(bm_camps_find(&cs, SMALL)->row.config);

    /* A new version is read again. */
    bm_testdb_exec(c, "UPDATE campaigns SET version = version + 1, "
                      "config = '{\"type\":\"leaderboard\",\"v\":2}' WHERE id = '" SMALL "'");
    assert_int_equal(bm_camps_fetch(c, &cs, &cfg, &rows, &n, err, sizeof err), 0);
    assert_non_null(strstr(row_of(rows, n, SMALL)->config, "\"v\": 2"));
    bm_camps_sync(&cs, rows, n, NULL);
    bm_camp_rows_free(rows, n);
    assert_non_null(strstr(bm_camps_find(&cs, SMALL)->row.config, "\"v\": 2"));

    bm_camps_free(&cs, NULL);
    bm_testdb_drop(c, DB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_reads_changed_documents_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
