/*
 * Pinned generations: a call into a module from another thread holds its
 * generation. A reload swaps in the new generation at once, the call in
 * flight completes on the old one (nothing is cut off, not even past the
 * drain deadline, which only marks it overdue), and the old generation is
 * destroyed and its copy removed when the last reference goes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "host/host.h"
#include "loader/loader.h"
#include "loader/loader_int.h"
#include "modules/loader/loader_util.h"

static bm_host *t_host_new(void *ud, const char *name)
{
    (void)ud;
    return bm_host_new(name, NULL);
}

static void t_host_free(void *ud, bm_host *h)
{
    (void)ud;
    bm_host_free(h);
}

typedef struct call {
    bm_modref *ref;
    int sleep_ms;
    char *response;
    int rc;
} call;

/* The out-of-band caller: a long query on the generation it pinned. */
static void *caller(void *arg)
{
    call *c = arg;
    char req[64];
    snprintf(req, sizeof req, "{\"sleepMs\":%d}", c->sleep_ms);
    const bm_module *m = bm_modref_module(c->ref);
    c->rc = m->query(bm_modref_instance(c->ref), NULL, req, &c->response);
    return NULL;
}

static int copy_exists(const char *dir, int gen)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/fx_v2.g%d.so", dir, gen);
    return access(p, F_OK) == 0;
}

static void test_reload_during_long_call(void **state)
{
    (void)state;
    char root[] = "/tmp/bm-pinned-XXXXXX", mods[512], copies[512], path[600], fx[600], err[512];
    assert_non_null(mkdtemp(root));
    snprintf(mods, sizeof mods, "%s/mods", root);
    snprintf(copies, sizeof copies, "%s/copies", root);
    assert_int_equal(mkdir(mods, 0755), 0);
    snprintf(path, sizeof path, "%s/fx_v2.so", mods);
    fixture_path(fx, sizeof fx, "fx_v2_a");
    assert_int_equal(install_file(fx, path), 0);

    bm_loader_host lh = {
        .api = bm_host_api_get(), .host_new = t_host_new, .host_free = t_host_free};
    bm_loader *l = bm_loader_new(mods, copies, &lh, 200, err, sizeof err);
    assert_non_null(l);
    bm_scan_result res;
    assert_int_equal(bm_loader_reload(l, &res), 0);
    assert_int_equal(res.loaded, 1);
    assert_null(bm_loader_acquire(l, BM_KIND_CAMPAIGN, "no_such_type"));

    /* A 1.5 s call on generation 1, from its own thread. */
    call c = {.ref = bm_loader_acquire(l, BM_KIND_CAMPAIGN, "fixture_v2"), .sleep_ms = 1500};
    assert_non_null(c.ref);
    assert_string_equal(bm_modref_module(c.ref)->version, "1.0.0");
    assert_int_equal(bm_modref_inst(c.ref)->generation, 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, caller, &c), 0);
    usleep(100 * 1000);

    /* Version 2 is installed and swapped in while the call runs. */
    fixture_path(fx, sizeof fx, "fx_v2_b");
    assert_int_equal(install_file(fx, path), 0);
    assert_int_equal(bm_loader_reload(l, &res), 0);
    assert_int_equal(res.loaded, 1);
    assert_int_equal(bm_loader_current(l)->generation, 2);
    bm_modref *r2 = bm_loader_acquire(l, BM_KIND_CAMPAIGN, "fixture_v2");
    assert_non_null(r2);
    assert_string_equal(bm_modref_module(r2)->version, "2.0.0");
    bm_loader_release(r2);

    /* Past the 200 ms drain deadline: still loaded, reported overdue, not cut off. */
    usleep(400 * 1000);
    bm_loader_collect(l);
    assert_int_equal(bm_loader_nretiring(l), 1);
    char *js = bm_loader_retiring_json(l);
    assert_non_null(strstr(js, "\"generation\":1"));
    assert_non_null(strstr(js, "\"refs\":1"));
    assert_non_null(strstr(js, "\"overdue\":true"));
    free(js);
    assert_true(copy_exists(copies, 1));

    /* The call completes on the generation it started on. */
    pthread_join(th, NULL);
    assert_int_equal(c.rc, BM_OK);
    assert_string_equal(c.response, "{\"version\":\"1.0.0\"}");
    free(c.response);

    /* Its release is the last reference: generation 1 is destroyed and closed. */
    bm_loader_release(c.ref);
    assert_int_equal(bm_loader_nretiring(l), 0);
    assert_false(copy_exists(copies, 1));
    assert_true(copy_exists(copies, 2));

    bm_loader_free(l);
    assert_false(copy_exists(copies, 2));
    remove_tree(root);
}

/* Many threads pin and release while the processing thread reloads. */
typedef struct churn {
    bm_loader *l;
    int stop;
    long calls, bad;
} churn;

static void *churner(void *arg)
{
    churn *ch = arg;
    while (!__atomic_load_n(&ch->stop, __ATOMIC_ACQUIRE)) {
        bm_modref *r = bm_loader_acquire(ch->l, BM_KIND_CAMPAIGN, "fixture_v2");
        if (!r)
            continue;
        char *resp = NULL;
        const bm_module *m = bm_modref_module(r);
        if (m->query(bm_modref_instance(r), NULL, "{}", &resp) != BM_OK || !resp ||
            !strstr(resp, m->version))
            __atomic_add_fetch(&ch->bad, 1, __ATOMIC_RELAXED);
        free(resp);
        bm_loader_release(r);
        __atomic_add_fetch(&ch->calls, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_reloads_under_concurrent_calls(void **state)
{
    (void)state;
    char root[] = "/tmp/bm-pinned-XXXXXX", mods[512], copies[512], path[600], fx[600], err[512];
    assert_non_null(mkdtemp(root));
    snprintf(mods, sizeof mods, "%s/mods", root);
    snprintf(copies, sizeof copies, "%s/copies", root);
    assert_int_equal(mkdir(mods, 0755), 0);
    snprintf(path, sizeof path, "%s/fx_v2.so", mods);
    fixture_path(fx, sizeof fx, "fx_v2_a");
    assert_int_equal(install_file(fx, path), 0);
    bm_loader_host lh = {
        .api = bm_host_api_get(), .host_new = t_host_new, .host_free = t_host_free};
    bm_loader *l = bm_loader_new(mods, copies, &lh, 5000, err, sizeof err);
    bm_scan_result res;
    assert_int_equal(bm_loader_reload(l, &res), 0);
    churn ch = {.l = l};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, churner, &ch), 0);
    for (int round = 0; round < 20; round++) {
        fixture_path(fx, sizeof fx, round % 2 ? "fx_v2_a" : "fx_v2_b");
        assert_int_equal(install_file(fx, path), 0);
        assert_int_equal(bm_loader_reload(l, &res), 0);
        usleep(10 * 1000);
        bm_loader_collect(l);
    }
    __atomic_store_n(&ch.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    bm_loader_collect(l);
    print_message("calls=%ld during 20 reloads\n", ch.calls);
    assert_true(ch.calls > 0);
    assert_int_equal(ch.bad, 0);
    assert_int_equal(bm_loader_nretiring(l), 0);
    /* Only the live generation's copy is left. */
    assert_int_equal(count_entries(copies, NULL, 0), 1);
    bm_loader_free(l);
    remove_tree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_during_long_call),
        cmocka_unit_test(test_reloads_under_concurrent_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
