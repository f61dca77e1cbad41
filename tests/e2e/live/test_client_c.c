/*
 * libbrightmatter-client against the engine: events tracked from several
 * threads reach the board once each; with the engine down they wait in the
 * on-disk queue (across a close and reopen, with a torn last line cut off) and
 * go through once it is back; a flush whose acknowledgement never reached the
 * disk is sent again with the same eventIds and counted once; the example
 * program runs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <brightmatter/client.h>

#include "e2e/live/live_node.h"

#define THREADS 4
#define PER_THREAD 100

static bm_client *open_client(gw_world *w, const char *sub, int batch)
{
    char url[64], dir[600], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", w->port);
    snprintf(dir, sizeof dir, "%s/%s", w->e.dir, sub);
    bm_client_options o = {.base_url = url,
                           .api_key = w->key,
                           .game_id = "gw-game",
                           .queue_dir = dir,
                           .fsync = BM_CLIENT_FSYNC_EVERY,
                           .batch_size = batch,
                           .timeout_ms = 3000,
                           .max_retries = 2};
    bm_client *c = bm_client_open(&o, err, sizeof err);
    if (!c)
        bm_e2e_fail("bm_client_open: %s", err);
    return c;
}

static void track(bm_client *c, const char *user, int score)
{
    char data[64], err[256], id[37];
    snprintf(data, sizeof data, "{\"score\":%d}", score);
    if (bm_client_track(c, user, "MATCH_END", data, id, err, sizeof err) != 0)
        bm_e2e_fail("track: %s", err);
    assert_int_equal(strlen(id), 36);
}

typedef struct worker {
    bm_client *c;
    int k;
} worker;

static void *tracker(void *arg)
{
    worker *wk = arg;
    char user[16];
    snprintf(user, sizeof user, "t%d", wk->k);
    for (int i = 0; i < PER_THREAD; i++)
        track(wk->c, user, 1);
    return NULL;
}

static void *flusher(void *arg)
{
    char err[256];
    for (int i = 0; i < 20; i++) {
        bm_client_flush(arg, err, sizeof err);
        bm_e2e_sleep_ms(5);
    }
    return NULL;
}

static double score_of(gw_world *w, bm_client *c, const char *user)
{
    bm_board_entry e;
    char err[256];
    int rc = bm_client_rank(c, w->board, user, &e, err, sizeof err);
    if (rc < 0)
        bm_e2e_fail("rank %s: %s", user, err);
    return rc == 0 ? e.score : -1;
}

static void wait_score(gw_world *w, bm_client *c, const char *user, double want)
{
    for (int i = 0; i < 150; i++) {
        if (score_of(w, c, user) == want)
            return;
        bm_e2e_sleep_ms(100);
    }
    bm_e2e_fail("%s never reached %g (now %g)", user, want, score_of(w, c, user));
}

static void copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *d = bm_e2e_slurp(from, &len);
    if (!d)
        bm_e2e_fail("cannot read %s", from);
    bm_e2e_write_file(to, d, len);
    free(d);
}

static void restart_engine(gw_world *w)
{
    bm_e2e_engine_start(&w->e, &w->g);
    bm_e2e_wait_log(&w->g, "module=gateway msg=\"listening", 30000);
    char path[600];
    snprintf(path, sizeof path, "%s/http.port", w->e.run_dir);
    char *port = bm_e2e_slurp(path, NULL);
    w->port = port ? atoi(port) : 0;
    free(port);
    assert_true(w->port > 0);
}

static void test_client(void **state)
{
    gw_world *w = *state;
    gw_world_start(w, "live_client", NULL);
    char err[256];

    /* Threads track while another flushes. */
    bm_client *c = open_client(w, "q1", 7);
    for (int i = 1; i <= 20; i++)
        track(c, (const char *[]){"c1", "c2", "c3", "c4"}[i % 4], i);
    assert_int_equal(bm_client_pending(c), 20);
    pthread_t th[THREADS + 1];
    worker wk[THREADS];
    for (int k = 0; k < THREADS; k++) {
        wk[k] = (worker){c, k};
        pthread_create(&th[k], NULL, tracker, &wk[k]);
    }
    pthread_create(&th[THREADS], NULL, flusher, c);
    for (int k = 0; k <= THREADS; k++)
        pthread_join(th[k], NULL);
    if (bm_client_flush(c, err, sizeof err) != 0)
        bm_e2e_fail("flush: %s", err);
    assert_int_equal(bm_client_pending(c), 0);
    bm_client_stats st;
    bm_client_get_stats(c, &st);
    assert_int_equal(st.sent, 20 + THREADS * PER_THREAD);
    assert_int_equal(st.rejected, 0);
    for (int k = 0; k < THREADS; k++) {
        char user[16];
        snprintf(user, sizeof user, "t%d", k);
        wait_score(w, c, user, PER_THREAD);
    }
    /* c1 got scores 4, 8, 12, 16, 20. */
    wait_score(w, c, "c1", 60);
    bm_board b;
    if (bm_client_board(c, w->board, 3, &b, err, sizeof err) != 0)
        bm_e2e_fail("board: %s", err);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.entries[0].rank, 1);
    assert_true(b.entries[0].score >= b.entries[1].score);
    assert_string_equal(b.name, "gw board");
    bm_board_free(&b);
    char *json = NULL;
    assert_int_equal(
        bm_client_quest(c, "00000000-0000-4000-8000-000000000000", "c1", &json, err, sizeof err),
        404);
    assert_non_null(json);
    bm_client_free(json);
    bm_client_close(c);

    /* The engine is down: events wait on disk, across a close and a torn write. */
    gw_world_stop(w);
    c = open_client(w, "q2", 4);
    for (int i = 0; i < 10; i++)
        track(c, "d1", 1);
    assert_int_equal(bm_client_flush(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "/v1/events"));
    assert_int_equal(bm_client_pending(c), 10);
    bm_client_close(c);
    char log[700], sent[700], keep_log[700];
    snprintf(log, sizeof log, "%s/q2/events.log", w->e.dir);
    snprintf(sent, sizeof sent, "%s/q2/events.sent", w->e.dir);
    FILE *f = fopen(log, "a");
    assert_non_null(f);
    fputs("{\"eventId\":\"torn", f); /* a crash in the middle of a write */
    fclose(f);
    restart_engine(w);
    c = open_client(w, "q2", 4);
    assert_int_equal(bm_client_pending(c), 10);

    /* A flush whose acknowledgement is lost (the files put back): sent again, counted once. */
    snprintf(keep_log, sizeof keep_log, "%s/q2-events.log", w->e.dir);
    copy_file(log, keep_log);
    if (bm_client_flush(c, err, sizeof err) != 0)
        bm_e2e_fail("flush after restart: %s", err);
    assert_int_equal(bm_client_pending(c), 0);
    bm_client_close(c);
    copy_file(keep_log, log);
    bm_e2e_write_file(sent, "0\n", 2);
    c = open_client(w, "q2", 4);
    assert_int_equal(bm_client_pending(c), 10);
    if (bm_client_flush(c, err, sizeof err) != 0)
        bm_e2e_fail("second flush: %s", err);
    wait_score(w, c, "d1", 10);
    gw_wait_drained(w);
    bm_e2e_sleep_ms(500);
    assert_true(score_of(w, c, "d1") == 10);
    assert_true(bm_e2e_ll(&w->e, "SELECT sum(events_duplicate) FROM consumer_offsets") >= 10);
    bm_client_close(c);

    /* The example program. */
    char exe[1100], url[64];
    bm_e2e_build_path(&w->e, "sdk/c/bm-client-example", exe, sizeof exe);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", w->port);
    char qdir[700];
    snprintf(qdir, sizeof qdir, "%s/example-queue", w->e.dir);
    bm_e2e_setenv(&w->e, "BM_QUEUE_DIR", qdir);
    char *out = NULL;
    char *argv[] = {exe, url, w->key, "gw-game", "ex1", w->board, NULL};
    int rc = bm_e2e_run(&w->e, argv, &out, 30000);
    if (rc != 0 || !strstr(out, "sent; 0 queued") || !strstr(out, "gw board"))
        bm_e2e_fail("example exited %d:\n%s", rc, out ? out : "");
    free(out);
    gw_world_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client, gw_world_setup, gw_world_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
