/*
 * Hot reload while the real engine consumes a steady stream, in rounds:
 *  (a) leaderboard.so replaced by a fresh copy (new inode and mtime) and
 *      `bmctl reload`: a new generation serves the boards;
 *  (b) a module with a bad magic put in its place and `bmctl reload`: exit 1,
 *      the refusal names the magic, the previous generation keeps serving and
 *      events keep counting;
 *  (c) the good file back and SIGHUP: a new generation again.
 * At the end every board is exact (nothing lost or counted twice across the
 * reloads), the run dir holds only the live generation's copy, and SIGTERM
 * stops the engine cleanly, removing that copy too.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e_scenario.h"

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

/* Installs `from` as <modules>/leaderboard.so the way installers do: a hidden
 * temporary file renamed over the old one, so the engine never reads half a
 * file. mtime_shift_s moves the file's mtime into the past. */
static void install_module(bm_e2e *e, const char *from, int mtime_shift_s)
{
    char tmp[400], dst[400];
    snprintf(tmp, sizeof tmp, "%s/.leaderboard.so.tmp", e->mods_dir);
    snprintf(dst, sizeof dst, "%s/leaderboard.so", e->mods_dir);
    size_t len = 0;
    char *data = bm_e2e_slurp(from, &len);
    if (!data)
        bm_e2e_fail("cannot read %s", from);
    bm_e2e_write_file(tmp, data, len);
    free(data);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= mtime_shift_s;
    ts[1] = ts[0];
    if (utimensat(AT_FDCWD, tmp, ts, 0) != 0 || rename(tmp, dst) != 0)
        bm_e2e_fail("cannot install %s as %s", from, dst);
}

static int leaderboard_generation(bm_e2e *e)
{
    json_t *m = bm_e2e_modules(e);
    int gen = bm_e2e_module_generation(m, "leaderboard");
    json_decref(m);
    return gen;
}

/* Starts a rate-limited round and waits until the engine is consuming it. */
static void round_start(bm_e2e *e, bm_e2e_engine *g, bm_e2e_stream *s, long long base)
{
    bm_e2e_stream_start(e, s);
    bm_e2e_wait_offsets(e, g, base + 1, 60000);
}

static long long round_finish(bm_e2e *e, bm_e2e_engine *g, bm_e2e_stream *s, bm_e2e_expect *x,
                              long long produced)
{
    produced += bm_e2e_stream_finish(s, x);
    bm_e2e_wait_offsets(e, g, produced, 90000);
    return produced;
}

/* Only the live generation's copy is in <run_dir>/modules. */
static void expect_copies(bm_e2e *e, int live_gen)
{
    char dir[400], want[64];
    snprintf(dir, sizeof dir, "%s/modules", e->run_dir);
    snprintf(want, sizeof want, "leaderboard.g%d.so", live_gen);
    DIR *d = opendir(dir);
    if (!d)
        bm_e2e_fail("no %s", dir);
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (live_gen > 0 && strcmp(de->d_name, want) == 0) {
            found = 1;
            continue;
        }
        closedir(d);
        bm_e2e_fail("%s holds %s besides the live generation %d", dir, de->d_name, live_gen);
    }
    closedir(d);
    if (live_gen > 0 && !found)
        bm_e2e_fail("%s lacks the live copy %s", dir, want);
}

static void test_reload_under_load(void **state)
{
    bm_e2e *e = *state;
    bm_e2e_init(e, "reload", 6);
    bm_e2e_boards b;
    bm_e2e_expect x;
    memset(&x, 0, sizeof x);
    bm_e2e_boards_create(e, &b);
    char good[1100], bad[1100], *out = NULL;
    bm_e2e_build_path(e, "modules/leaderboard.so", good, sizeof good);
    bm_e2e_build_path(e, "tests/fixtures/fx_bad_magic.so", bad, sizeof bad);

    bm_e2e_engine g;
    bm_e2e_engine_start(e, &g);
    bm_e2e_stream r1 = {.seed = "101", .events = "8000", .user_prefix = "a"};
    bm_e2e_stream_start(e, &r1);
    long long produced = round_finish(e, &g, &r1, &x, 0);
    int gen0 = leaderboard_generation(e);
    assert_true(gen0 >= 1);
    expect_copies(e, gen0);

    /* (a) A new copy of the module, then `bmctl reload`, while a round flows. */
    bm_e2e_stream r2 = {.seed = "102", .events = "10000", .rate = "4000", .user_prefix = "b"};
    round_start(e, &g, &r2, produced);
    install_module(e, good, 86400);
    const char *reload[] = {"reload", NULL};
    int rc = bm_e2e_bmctl(e, &out, reload);
    fprintf(stderr, "e2e: bmctl reload (new copy): exit %d\n%s", rc, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "loaded leaderboard.so"));
    free(out);
    int gen1 = leaderboard_generation(e);
    assert_true(gen1 > gen0);
    produced = round_finish(e, &g, &r2, &x, produced);
    bm_e2e_boards_verify(e, &b, &x, produced);

    /* (b) A module with a bad magic in its place: refused, the old one serves. */
    bm_e2e_stream r3 = {.seed = "103", .events = "10000", .rate = "4000", .user_prefix = "c"};
    round_start(e, &g, &r3, produced);
    install_module(e, bad, 0);
    rc = bm_e2e_bmctl(e, &out, reload);
    fprintf(stderr, "e2e: bmctl reload (bad magic): exit %d\n%s", rc, out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "magic"));
    assert_non_null(strstr(out, "refused leaderboard.so"));
    free(out);
    json_t *m = bm_e2e_modules(e);
    assert_int_equal(bm_e2e_module_generation(m, "leaderboard"), gen1);
    assert_int_equal(json_array_size(json_object_get(m, "campaigns")), 4);
    json_decref(m);
    produced = round_finish(e, &g, &r3, &x, produced);
    /* Events kept counting with the refused file in the directory. */
    bm_e2e_boards_verify(e, &b, &x, produced);
    expect_copies(e, gen1);

    /* (c) The good file back, and SIGHUP. */
    bm_e2e_stream r4 = {.seed = "104", .events = "10000", .rate = "4000", .user_prefix = "d"};
    round_start(e, &g, &r4, produced);
    install_module(e, good, 3600);
    bm_e2e_engine_signal(&g, SIGHUP);
    int64_t deadline = bm_e2e_now_ms() + 30000;
    int gen2;
    while ((gen2 = leaderboard_generation(e)) <= gen1) {
        if (bm_e2e_now_ms() > deadline)
            bm_e2e_fail("SIGHUP did not load the good module again (generation %d)", gen2);
        bm_e2e_sleep_ms(100);
    }
    produced = round_finish(e, &g, &r4, &x, produced);

    bm_e2e_boards_verify(e, &b, &x, produced);
    m = bm_e2e_modules(e);
    assert_int_equal(bm_e2e_module_generation(m, "leaderboard"), gen2);
    json_decref(m);
    expect_copies(e, gen2);
    assert_true(bm_e2e_log_contains(&g, "refused"));

    bm_e2e_engine_stop(&g, 10000);
    expect_copies(e, 0);
    bm_e2e_expect_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reload_under_load, setup, teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
