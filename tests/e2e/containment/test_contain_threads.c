/*
 * Containment beyond the processing thread, as an operator sees it: a reward
 * module whose on_reward never returns has that reward retried, then failed,
 * with a reason naming the module, while every other reward is delivered; a
 * module whose query never returns is answered 504 within watchdog.query_ms
 * while other queries and events are served; /metrics counts both, and the
 * worker restarts; with kafka.brokers=embedded the broker keeps the events a
 * killed worker had not consumed, and each counts exactly once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "containment.h"
#include "e2e/rewards/rw_test.h"
#include "util/buf.h"

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

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    bm_buf_append(ud, p, size * n);
    return size * n;
}

/* GET /metrics; the value of the sample `name` (with its labels, if any), or -1 when
 * the gateway does not show it. */
static long long metric(bm_e2e *e, const char *name)
{
    char path[600], url[128];
    snprintf(path, sizeof path, "%s/http.port", e->run_dir);
    char *port = bm_e2e_slurp(path, NULL);
    if (!port)
        bm_e2e_fail("no %s: is the gateway role running?", path);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", atoi(port));
    free(port);
    bm_buf body = {0};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200)
        bm_e2e_fail("GET %s: %s, status %ld", url, curl_easy_strerror(rc), status);
    bm_buf_append(&body, "", 1);
    long long v = -1;
    size_t len = strlen(name);
    for (const char *l = body.p; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, name, len) == 0 && l[len] == ' ') {
            v = atoll(l + len + 1);
            break;
        }
    if (!strstr(body.p, "# TYPE brightmatter_worker_restarts_total counter"))
        bm_e2e_fail("/metrics has no TYPE line for the containment counters");
    bm_buf_free(&body);
    return v;
}

/* The pid of the newest worker the master logged. */
static pid_t worker_pid(const bm_e2e_engine *g)
{
    char *log = bm_e2e_slurp(g->log, NULL);
    const char *p = log, *last = NULL;
    while (p && (p = strstr(p, "worker pid=")) != NULL)
        last = p++;
    pid_t pid = last ? (pid_t)atoi(last + strlen("worker pid=")) : 0;
    free(log);
    if (pid <= 0)
        bm_e2e_fail("the master logged no worker pid");
    return pid;
}

/* Waits until bmctl modules lists campaign `id` as served. */
static void wait_served(bm_e2e *e, const char *id)
{
    for (int i = 0; i < 300; i++) {
        json_t *m = bm_e2e_modules(e);
        int served = bm_e2e_modules_campaign(m, id) != NULL;
        json_decref(m);
        if (served)
            return;
        bm_e2e_sleep_ms(100);
    }
    bm_e2e_fail("campaign %s never served", id);
}

/* --- a hanging or crashing on_reward ----------------------------------------------- */

/* The reward world with the faulty ledger module as reward_ledger.so; its ledger
 * file's path into ledger. */
static void reward_world(bm_e2e *e, const char *name, char *ledger, size_t cap)
{
    char secret[128], src[600], dst[600];
    rw_setup(e, name, "ct-rw-game", secret, sizeof secret);
    snprintf(src, sizeof src, "%s/reward_hang.so", BM_CONTAINMENT_MODS);
    snprintf(dst, sizeof dst, "%s/reward_ledger.so", e->mods_dir);
    size_t len = 0;
    char *data = bm_e2e_slurp(src, &len);
    if (!data)
        bm_e2e_fail("cannot read %s", src);
    bm_e2e_write_file(dst, data, len);
    free(data);
    snprintf(ledger, cap, "%s/ledger.tsv", e->dir);
    bm_e2e_setenv(e, "BM_LEDGER_FILE", ledger);
    bm_e2e_setenv(e, "BM_ENGINE_ROLES", "relay,rewards,gateway");
    bm_e2e_setenv(e, "BM_ENGINE_SUPERVISE", "1");
}

/* Lines in the ledger file: rewards the module delivered. */
static int ledger_lines(const char *ledger)
{
    char *lines = bm_e2e_slurp(ledger, NULL);
    int n = 0;
    for (const char *p = lines; p && (p = strchr(p, '\n')) != NULL; p++)
        n++;
    free(lines);
    return n;
}

static void test_reward_hang_is_retried(void **state)
{
    bm_e2e *e = *state;
    char ledger[600];
    reward_world(e, "ct_rwhang", ledger, sizeof ledger);
    bm_e2e_setenv(e, "BM_WATCHDOG_REWARD_MS", "1000");
    /* A retry after 100 ms, then the schedule is past give_up_after: failed. */
    bm_e2e_setenv(e, "BM_REWARDS_GIVE_UP_AFTER", "250ms");
    /* The hanging reward first, then twenty that must flow past it. */
    rw_grant(e, "hang-", 1, "ledger", "{\"hang\": true}");
    rw_grant(e, "ok-", 20, "ledger", "{\"gold\": 5}");

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    rw_wait_status(e, &g, "completed", 20, 60000);
    rw_wait_status(e, &g, "failed", 1, 60000);

    char *st = rw_text(e, "SELECT status || ' ' || attempts || ' ' || error_message FROM "
                          "reward_fulfillments WHERE idempotency_key = 'hang-1'");
    fprintf(stderr, "containment: hanging reward: %s\n", st);
    assert_non_null(strstr(st, "failed 2 "));
    assert_non_null(strstr(st, "module reward_ledger"));
    assert_non_null(strstr(st, "watchdog.reward_ms=1000"));
    free(st);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments WHERE "
                                  "idempotency_key LIKE 'ok-%%' AND status = 'completed'"),
                     20);
    assert_int_equal(ledger_lines(ledger), 20); /* every other reward delivered, once */

    assert_true(bm_e2e_log_contains(&g, "module=reward_ledger campaign=" RW_CAMPAIGN
                                        " callback=on_reward generation=1 file="));
    assert_true(bm_e2e_log_contains(&g, "ran past its deadline of 1000 ms"));
    assert_int_equal(metric(e, "brightmatter_watchdog_call_timeouts_total{callback=\"on_reward\"}"),
                     2);
    assert_int_equal(metric(e, "brightmatter_watchdog_calls_stuck"), 2);
    assert_int_equal(metric(e, "brightmatter_worker_restarts_total"), 0);
    json_t *m = bm_e2e_modules(e);
    json_t *ct = json_object_get(m, "containment");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(ct, "callTimeouts"), "on_reward")), 2);
    json_decref(m);
    assert_int_equal(bm_e2e_log_count(&g, "died:"), 0);
    bm_e2e_engine_stop(&g, 20000);
}

/* A crash in on_reward: one restart; that reward is pending again at once with the
 * reason, the module's file is quarantined (no crash loop), the others were delivered. */
static void test_reward_crash_is_retried(void **state)
{
    bm_e2e *e = *state;
    char ledger[600];
    reward_world(e, "ct_rwcrash", ledger, sizeof ledger);
    bm_e2e_setenv(e, "BM_ENGINE_PROBATION_S", "1");
    rw_grant(e, "ok-", 20, "ledger", "{\"gold\": 5}");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    rw_wait_status(e, &g, "completed", 20, 60000);
    /* Every module proven (idle ones after ten times probation_s), so the crash
     * quarantines the one file it happened in and nothing else. */
    for (int i = 0; i < 600 && bm_e2e_log_count(&g, " proven; kept as the last good") < 4; i++)
        bm_e2e_sleep_ms(100);
    assert_int_equal(bm_e2e_log_count(&g, " proven; kept as the last good"), 4);

    rw_grant(e, "crash-", 1, "ledger", "{\"crash\": true}");
    bm_e2e_wait_log(&g, "died: signal 11", 60000);
    for (int i = 0; i < 600 && bm_e2e_log_count(&g, "started roles=") < 2; i++)
        bm_e2e_sleep_ms(100);
    assert_int_equal(bm_e2e_log_count(&g, "started roles="), 2);
    char *st = NULL;
    for (int i = 0; i < 600; i++) {
        free(st);
        st = rw_text(e, "SELECT status || ' ' || COALESCE(error_message, '') FROM "
                        "reward_fulfillments WHERE idempotency_key = 'crash-1'");
        if (strstr(st, "took the worker down in on_reward"))
            break;
        bm_e2e_sleep_ms(100);
    }
    fprintf(stderr, "containment: crashing reward: %s\n", st);
    assert_non_null(strstr(st, "pending module reward_ledger ("));
    assert_non_null(strstr(st, "in on_reward: crashed with signal 11 (SIGSEGV)"));
    free(st);
    assert_true(bm_e2e_log_contains(&g, "crashed with signal 11 (SIGSEGV) module=reward_ledger "
                                        "campaign=" RW_CAMPAIGN " callback=on_reward"));
    assert_true(bm_e2e_log_contains(&g, "level=error module=loader msg=\"quarantined file="));
    assert_int_equal(ledger_lines(ledger), 20);
    bm_e2e_sleep_ms(2000); /* no crash loop: the quarantined file is not called again */
    assert_int_equal(bm_e2e_log_count(&g, "died:"), 1);
    assert_int_equal(metric(e, "brightmatter_worker_restarts_total"), 1);
    assert_int_equal(metric(e, "brightmatter_quarantined_generations"), 1);
    assert_int_equal(metric(e, "brightmatter_watchdog_aborts_total"), 0);
    bm_e2e_engine_stop(&g, 20000);
}

/* More abandoned calls still running than watchdog.max_stuck: the worker restarts
 * (a watchdog abort), the module's file is quarantined, and the reward it was on
 * is pending again with the reason. */
static void test_reward_hangs_past_max_stuck(void **state)
{
    bm_e2e *e = *state;
    char ledger[600];
    reward_world(e, "ct_rwstuck", ledger, sizeof ledger);
    bm_e2e_setenv(e, "BM_ENGINE_PROBATION_S", "1");
    bm_e2e_setenv(e, "BM_WATCHDOG_REWARD_MS", "500");
    bm_e2e_setenv(e, "BM_WATCHDOG_MAX_STUCK", "1");
    rw_grant(e, "ok-", 5, "ledger", "{\"gold\": 5}");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    rw_wait_status(e, &g, "completed", 5, 60000);
    for (int i = 0; i < 600 && bm_e2e_log_count(&g, " proven; kept as the last good") < 4; i++)
        bm_e2e_sleep_ms(100);
    assert_int_equal(bm_e2e_log_count(&g, " proven; kept as the last good"), 4);
    assert_int_equal(metric(e, "brightmatter_watchdog_aborts_total"), 0);

    /* First try: abandoned (1 stuck); the retry makes 2, past the cap. */
    rw_grant(e, "hang-", 1, "ledger", "{\"hang\": true}");
    bm_e2e_wait_log(&g, "died: exit 70", 60000);
    for (int i = 0; i < 600 && bm_e2e_log_count(&g, "started roles=") < 2; i++)
        bm_e2e_sleep_ms(100);
    assert_int_equal(bm_e2e_log_count(&g, "started roles="), 2);
    assert_true(bm_e2e_log_contains(&g, "calls stuck past their deadline (max_stuck=1); the "
                                        "worker restarts and quarantines module=reward_ledger"));
    char *st = NULL;
    for (int i = 0; i < 600; i++) {
        free(st);
        st = rw_text(e, "SELECT status || ' ' || COALESCE(error_message, '') FROM "
                        "reward_fulfillments WHERE idempotency_key = 'hang-1'");
        if (strstr(st, "took the worker down"))
            break;
        bm_e2e_sleep_ms(100);
    }
    fprintf(stderr, "containment: reward past max_stuck: %s\n", st);
    assert_non_null(strstr(st, "pending module reward_ledger ("));
    assert_non_null(strstr(st, "2 calls stuck past their deadline (max_stuck=1)"));
    free(st);
    assert_int_equal(metric(e, "brightmatter_watchdog_aborts_total"), 1);
    assert_int_equal(metric(e, "brightmatter_worker_restarts_total"), 1);
    assert_int_equal(metric(e, "brightmatter_quarantined_generations"), 1);
    assert_int_equal(bm_e2e_log_count(&g, "died:"), 1);
    bm_e2e_engine_stop(&g, 20000);
}

/* --- a hanging query ------------------------------------------------------------------ */

static void test_query_hang_answers_504(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "ct_query", 3);
    bm_e2e_setenv(e, "BM_ENGINE_SUPERVISE", "1");
    bm_e2e_setenv(e, "BM_WATCHDOG_QUERY_MS", "1000");
    char ex[64], board[64];
    ct_install(e, "tpl_good");
    ct_campaigns(e, ex, board, sizeof ex);
    ct_install(e, "tpl_query_hang");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    bm_e2e_wait_log(&g, "module=gateway msg=\"listening", 30000);
    assert_int_equal(metric(e, "brightmatter_watchdog_call_timeouts_total{callback=\"query\"}"), 0);

    /* The hanging query in the background, a normal one right behind it. */
    char bin[1100], out[600];
    bm_e2e_build_path(e, "bmctl", bin, sizeof bin);
    snprintf(out, sizeof out, "%s/hang-query.out", e->dir);
    char *argv[] = {bin, "query", ex, "{\"q\":\"hang\"}", NULL};
    int64_t t0 = bm_e2e_now_ms();
    pid_t hung = bm_e2e_spawn(e, argv, out);
    bm_e2e_sleep_ms(200);
    char *answer = NULL;
    const char *args[] = {"query", ex, "{\"q\":\"score\"}", NULL};
    assert_int_equal(bm_e2e_bmctl(e, &answer, args), 0);
    assert_non_null(strstr(answer, "\"answer\":42"));
    free(answer);
    assert_int_equal(bm_e2e_wait_exit(hung, 60000, "bmctl query"), 1);
    long long ms = (long long)(bm_e2e_now_ms() - t0);
    char *text = bm_e2e_slurp(out, NULL);
    fprintf(stderr, "containment: hanging query answered after %lld ms: %s", ms, text);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"status\":504"));
    assert_non_null(strstr(text, "\"module\":\"example\""));
    free(text);

    char want[200];
    snprintf(want, sizeof want, "module=example campaign=%s callback=query generation=1 file=", ex);
    assert_true(bm_e2e_log_contains(&g, want));
    assert_true(bm_e2e_log_contains(&g, "ran past its deadline of 1000 ms"));
    assert_int_equal(metric(e, "brightmatter_watchdog_call_timeouts_total{callback=\"query\"}"), 1);
    assert_int_equal(metric(e, "brightmatter_watchdog_calls_stuck"), 1);
    char *status = NULL;
    const char *sargs[] = {"status", NULL};
    bm_e2e_bmctl(e, &status, sargs);
    assert_non_null(strstr(status, "CALL TIMEOUTS query 1, on_reward 0 since start; 1 calls"));
    free(status);

    /* Events still flow, the admin socket still answers. */
    long long total = ct_produce(e, 100, 3);
    ct_wait_total(e, &g, board, total, 60000);
    json_t *m = bm_e2e_modules(e);
    assert_non_null(json_object_get(m, "containment"));
    json_decref(m);
    assert_int_equal(bm_e2e_log_count(&g, "died:"), 0);
    bm_e2e_engine_stop(&g, 20000);
}

/* --- the embedded broker across a worker kill -------------------------------------- */

static void test_embedded_broker_survives_worker_kill(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "ct_embedded", 3);
    bm_e2e_setenv(e, "BM_KAFKA_BROKERS", "embedded");
    bm_e2e_setenv(e, "BM_ENGINE_SUPERVISE", "1");
    bm_e2e_setenv(e, "BM_ENGINE_STOP_TIMEOUT_MS", "5000");
    bm_e2e_setenv(e, "BM_ENGINE_PROBATION_S", "1");
    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_wait_log(&g, "started roles=", 30000);
    /* Producers reach the engine's own broker, as bmctl does, through <run_dir>/bootstrap. */
    char path[600];
    snprintf(path, sizeof path, "%s/bootstrap", e->run_dir);
    char *boot = bm_e2e_slurp(path, NULL);
    if (!boot)
        bm_e2e_fail("no %s", path);
    boot[strcspn(boot, "\n")] = '\0';
    snprintf(e->bootstrap, sizeof e->bootstrap, "%s", boot);
    free(boot);

    char board[64];
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"board\",\"gameId\":\"" CT_GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"match_end\",\"dataField\":\"points\","
                    "\"aggregation\":\"sum\"}}",
                    board, sizeof board);
    wait_served(e, board);
    long long want = ct_produce(e, 200, 1);
    ct_wait_total(e, &g, board, want, 60000);
    /* Proven first: a worker that dies with a module on probation blames the module,
     * and this test is about the broker. */
    bm_e2e_wait_log(&g, "module=leaderboard generation=1", 30000);
    for (int i = 0; i < 300 && !bm_e2e_log_contains(&g, " proven; kept as the last good"); i++)
        bm_e2e_sleep_ms(100);
    assert_true(bm_e2e_log_contains(&g, " proven; kept as the last good"));

    /* Events the worker cannot read: produced while it is stopped, then it is killed. */
    pid_t w = worker_pid(&g);
    assert_int_equal(kill(w, SIGSTOP), 0);
    want += ct_produce(e, 300, 2);
    assert_int_equal(kill(w, SIGKILL), 0);
    bm_e2e_wait_log(&g, "died: signal 9", 30000);
    for (int i = 0; i < 600 && bm_e2e_log_count(&g, "started roles=") < 2; i++)
        bm_e2e_sleep_ms(100);
    assert_int_equal(bm_e2e_log_count(&g, "started roles="), 2);
    ct_wait_total(e, &g, board, want, 60000);
    bm_e2e_wait_offsets(e, &g, 500, 60000);
    bm_e2e_sleep_ms(1000); /* nothing more may arrive: each event counted exactly once */
    assert_int_equal(ct_total(e, board), want);
    assert_int_equal(bm_e2e_offsets_sum(e), 500);
    assert_int_equal(bm_e2e_log_count(&g, "embedded broker process pid="), 1);

    assert_int_equal(metric(e, "brightmatter_worker_restarts_total"), 1);
    assert_int_equal(metric(e, "brightmatter_watchdog_aborts_total"), 0);
    bm_e2e_engine_stop(&g, 20000);
    /* The broker process ended with the master. */
    assert_int_equal(access(path, F_OK), -1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest all[] = {
        cmocka_unit_test_setup_teardown(test_reward_hang_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reward_crash_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reward_hangs_past_max_stuck, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_hang_answers_504, setup, teardown),
        cmocka_unit_test_setup_teardown(test_embedded_broker_survives_worker_kill, setup, teardown),
    };
    struct CMUnitTest tests[sizeof all / sizeof all[0]];
    size_t n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (argc < 2 || strstr(all[i].name, argv[1]))
            tests[n++] = all[i];
    return bm_e2e_exit(_cmocka_run_group_tests("contain_threads", tests, n, NULL, NULL));
}
