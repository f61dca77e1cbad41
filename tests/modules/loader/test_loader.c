/*
 * Loader checks: every real module and good fixture passes, every faulty
 * fixture is refused naming the field that differs, init/adopt failures and
 * duplicate names are refused without leaving a copy behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <glob.h>

#include "loader/loader.h"
#include "loader/loader_int.h"
#include "loader_util.h"

/* The host object handed to init: counts lifetimes so leaks show up. */
struct bm_host {
    char name[64];
};

typedef struct test_host {
    int hosts_live;
    int adopted;
    int released;
    int refuse_adopt;
} test_host;

static int t_route(bm_routes *r, const char *event_type)
{
    return 0;
}

static bm_host *t_host_new(void *ud, const char *name)
{
    test_host *th = ud;
    bm_host *h = calloc(1, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    th->hosts_live++;
    return h;
}

static void t_host_free(void *ud, bm_host *h)
{
    test_host *th = ud;
    th->hosts_live--;
    free(h);
}

static int t_adopt(void *ud, bm_modinst *mi, char *err, size_t errlen)
{
    test_host *th = ud;
    if (th->refuse_adopt) {
        snprintf(err, errlen, "campaign c1: config.metric missing");
        return -1;
    }
    th->adopted++;
    return 0;
}

static void t_release(void *ud, bm_modinst *mi)
{
    test_host *th = ud;
    th->released++;
}

static bm_host_api g_api;

static void make_host(bm_loader_host *lh, test_host *th)
{
    memset(&g_api, 0, sizeof g_api);
    g_api.size = sizeof g_api;
    g_api.version = BM_HOST_API_VERSION;
    g_api.route = t_route;
    memset(th, 0, sizeof *th);
    lh->api = &g_api;
    lh->host_new = t_host_new;
    lh->host_free = t_host_free;
    lh->adopt = t_adopt;
    lh->release = t_release;
    lh->ud = th;
}

/* A private temp dir (TMPDIR too, so bm_loader_check's scratch dir lands in it). */
typedef struct tdir {
    char root[256];
    char copies[300];
    char mods[300];
    char scratch[300];
} tdir;

static int setup(void **state)
{
    tdir *t = calloc(1, sizeof *t);
    snprintf(t->root, sizeof t->root, "/tmp/bm-test-loader.XXXXXX");
    if (mkdtemp(t->root) == NULL) {
        free(t);
        return -1;
    }
    snprintf(t->copies, sizeof t->copies, "%s/copies", t->root);
    snprintf(t->mods, sizeof t->mods, "%s/modules", t->root);
    snprintf(t->scratch, sizeof t->scratch, "%s/tmp", t->root);
    mkdir(t->mods, 0755);
    mkdir(t->scratch, 0755);
    setenv("TMPDIR", t->scratch, 1);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tdir *t = *state;
    remove_tree(t->root);
    free(t);
    return 0;
}

static void expect_accepted(const char *path, bm_module_info *info)
{
    char err[1024] = "";
    int rc = bm_loader_check(path, info, err, sizeof err);
    if (rc != 0)
        print_error("refused %s: %s\n", path, err);
    assert_int_equal(rc, 0);
    assert_true(info->name[0] != '\0');
    assert_true(info->version[0] != '\0');
    assert_true(info->serves[0] != '\0');
    assert_true(info->abi_version >= BM_ABI_MIN_VERSION && info->abi_version <= BM_ABI_VERSION);
    assert_true(info->kind == BM_KIND_CAMPAIGN || info->kind == BM_KIND_REWARD);
}

static void test_real_modules_accepted(void **state)
{
    tdir *t = *state;
    const char *build = getenv("BM_BUILD_DIR");
    char pattern[1024];
    glob_t g;
    bm_module_info info;

    snprintf(pattern, sizeof pattern, "%s/modules/*.so", build && *build ? build : BM_BUILD_DIR);
    int grc = glob(pattern, 0, NULL, &g);
    size_t found = grc == 0 ? g.gl_pathc : 0, accepted = 0;
    for (size_t i = 0; i < found; i++) {
        char err[1024] = "";
        if (bm_loader_check(g.gl_pathv[i], &info, err, sizeof err) == 0)
            accepted++;
        else
            print_error("refused %s: %s\n", g.gl_pathv[i], err);
    }
    if (grc == 0)
        globfree(&g);
    assert_int_equal(accepted, found);
    print_message("real modules checked: %zu\n", found);
    /* The scratch copies are gone. */
    assert_int_equal(count_entries(t->scratch, NULL, 0), 0);
}

static void test_good_fixtures_accepted(void **state)
{
    tdir *t = *state;
    char p[1024];
    bm_module_info info;

    fixture_path(p, sizeof p, "fx_counter_v1");
    expect_accepted(p, &info);
    assert_string_equal(info.name, "fx_counter");
    assert_string_equal(info.version, "1.0.0");
    assert_string_equal(info.serves, "fixture");
    assert_int_equal(info.kind, BM_KIND_CAMPAIGN);

    fixture_path(p, sizeof p, "fx_counter_v2");
    expect_accepted(p, &info);
    assert_string_equal(info.version, "2.0.0");

    fixture_path(p, sizeof p, "fx_reward");
    expect_accepted(p, &info);
    assert_string_equal(info.name, "fx_reward");
    assert_int_equal(info.kind, BM_KIND_REWARD);

    /* A module built against the version-1 header loads with its old meaning. */
    fixture_path(p, sizeof p, "fx_abi1");
    expect_accepted(p, &info);
    assert_int_equal(info.abi_version, 1);

    /* Checking twice works: the check never reuses an open handle. */
    fixture_path(p, sizeof p, "fx_counter_v1");
    expect_accepted(p, &info);
    assert_int_equal(count_entries(t->scratch, NULL, 0), 0);
}

static void expect_refused(const char *fixture, const char *prefix, const char *detail)
{
    char p[1024], err[1024] = "";
    bm_module_info info;
    fixture_path(p, sizeof p, fixture);
    assert_int_equal(bm_loader_check(p, &info, err, sizeof err), -1);
    print_message("%s: %s\n", fixture, err);
    /* The field comes first, so scripts can split on the first colon. */
    assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
    if (detail)
        assert_non_null(strstr(err, detail));
}

static void test_faulty_fixtures_refused(void **state)
{
    tdir *t = *state;
    char want[128];

    expect_refused("fx_bad_magic", "magic: ", "got 0x4e4f544d4f44554c, want 0x424d4d4f44554c45");
    snprintf(want, sizeof want, "got %u, want %u..%u", BM_ABI_VERSION + 1, BM_ABI_MIN_VERSION,
             BM_ABI_VERSION);
    expect_refused("fx_bad_abi", "abi_version: ", want);
    snprintf(want, sizeof want, "got %zu, want %zu",
             sizeof(bm_module) - sizeof(void *) * BM_MODULE_SPARE_SLOTS, sizeof(bm_module));
    expect_refused("fx_bad_size", "struct_size: ", want);
    expect_refused("fx_bad_sig", "signature: ", "got ptr=4 time_t=8");
    expect_refused("fx_bad_sig",
                   "signature: ", "want ptr=8 time_t=8 long=8 size_t=8 double=8 le=1");
    expect_refused("fx_no_entry", "entry: ", "symbol bm_module_entry not found");
    expect_refused("fx_bad_spare", "spare[3]: ", "must be NULL");
    /* ABI 1 is still loaded with its old meaning, but the slots version 2 named
     * were spare then and must be NULL. */
    expect_refused("fx_abi1_tick", "spare[0]: ", "must be NULL for abi_version 1");
    assert_int_equal(count_entries(t->scratch, NULL, 0), 0);
}

static void test_unreadable_files_refused(void **state)
{
    tdir *t = *state;
    char p[600], err[1024] = "";
    bm_module_info info;

    snprintf(p, sizeof p, "%s/missing.so", t->mods);
    assert_int_equal(bm_loader_check(p, &info, err, sizeof err), -1);
    assert_true(strncmp(err, "file: ", 6) == 0);

    /* Not an ELF object at all: dlopen says why. */
    snprintf(p, sizeof p, "%s/text.so", t->mods);
    FILE *f = fopen(p, "w");
    fputs("not a shared object\n", f);
    fclose(f);
    assert_int_equal(bm_loader_check(p, &info, err, sizeof err), -1);
    assert_true(strncmp(err, "dlopen: ", 8) == 0);
    assert_int_equal(count_entries(t->scratch, NULL, 0), 0);
}

static void test_open_close_lifecycle(void **state)
{
    tdir *t = *state;
    bm_loader_host lh;
    test_host th;
    bm_modinst *mi = NULL;
    char p[1024], err[1024] = "", copy[1024];

    make_host(&lh, &th);
    fixture_path(p, sizeof p, "fx_counter_v1");
    assert_int_equal(bm_loader_open(p, t->copies, 7, &lh, NULL, 0, &mi, err, sizeof err), 0);
    assert_non_null(mi);
    assert_string_equal(mi->name, "fx_counter");
    assert_int_equal(mi->generation, 7);
    assert_string_equal(mi->src_path, p);
    snprintf(copy, sizeof copy, "%s/fx_counter_v1.g7.so", t->copies);
    assert_string_equal(mi->copy_path, copy);
    assert_int_equal(access(copy, F_OK), 0);
    assert_non_null(mi->host);
    assert_string_equal(mi->host->name, "fx_counter");
    assert_int_equal(th.adopted, 1);

    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(mi->ino == st.st_ino && mi->size == st.st_size);

    /* The fixture's drain answers BM_RETRY once: close must keep asking. */
    bm_loader_close(mi, &lh);
    assert_int_equal(th.released, 1);
    assert_int_equal(th.hosts_live, 0);
    assert_int_equal(count_entries(t->copies, NULL, 0), 0);
}

static void test_init_failure_refused(void **state)
{
    tdir *t = *state;
    bm_loader_host lh;
    test_host th;
    bm_modinst *mi = NULL;
    char p[1024], err[1024] = "";
    bm_module_info info;

    make_host(&lh, &th);
    fixture_path(p, sizeof p, "fx_bad_init");
    /* The offline check does not run init, so it passes. */
    assert_int_equal(bm_loader_check(p, &info, err, sizeof err), 0);
    assert_int_equal(bm_loader_open(p, t->copies, 1, &lh, NULL, 0, &mi, err, sizeof err), -1);
    assert_null(mi);
    assert_string_equal(err, "init: fixture refuses to start");
    assert_int_equal(th.adopted, 0);
    assert_int_equal(th.hosts_live, 0);
    assert_int_equal(count_entries(t->copies, NULL, 0), 0);
}

static void test_adopt_failure_refused(void **state)
{
    tdir *t = *state;
    bm_loader_host lh;
    test_host th;
    bm_modinst *mi = NULL;
    char p[1024], err[1024] = "";

    make_host(&lh, &th);
    th.refuse_adopt = 1;
    fixture_path(p, sizeof p, "fx_counter_v1");
    assert_int_equal(bm_loader_open(p, t->copies, 1, &lh, NULL, 0, &mi, err, sizeof err), -1);
    assert_null(mi);
    assert_string_equal(err, "adopt: campaign c1: config.metric missing");
    assert_int_equal(th.hosts_live, 0);
    assert_int_equal(count_entries(t->copies, NULL, 0), 0);
}

static void test_duplicate_name_refused(void **state)
{
    tdir *t = *state;
    bm_loader_host lh;
    test_host th;
    bm_modinst *a = NULL, *b = NULL;
    char p[1024], err[1024] = "";

    make_host(&lh, &th);
    fixture_path(p, sizeof p, "fx_counter_v1");
    assert_int_equal(bm_loader_open(p, t->copies, 1, &lh, NULL, 0, &a, err, sizeof err), 0);
    const char *taken[] = {"fx_reward", a->name};
    fixture_path(p, sizeof p, "fx_dup");
    assert_int_equal(bm_loader_open(p, t->copies, 1, &lh, taken, 2, &b, err, sizeof err), -1);
    assert_null(b);
    assert_string_equal(err, "name: 'fx_counter' already loaded");
    assert_int_equal(th.hosts_live, 1);
    assert_int_equal(count_entries(t->copies, NULL, 0), 1);
    bm_loader_close(a, &lh);
    assert_int_equal(th.hosts_live, 0);
    assert_int_equal(count_entries(t->copies, NULL, 0), 0);
}

static void install_fixture(tdir *t, const char *fixture, const char *as)
{
    char src[1024], dst[600];
    fixture_path(src, sizeof src, fixture);
    snprintf(dst, sizeof dst, "%s/%s", t->mods, as);
    assert_int_equal(install_file(src, dst), 0);
}

static void close_set(bm_modset *s, const bm_loader_host *lh)
{
    for (size_t i = 0; s && i < s->n; i++)
        bm_loader_close(s->mods[i], lh);
    bm_modset_free(s);
}

static void test_scan_generations(void **state)
{
    tdir *t = *state;
    bm_loader_host lh;
    test_host th;
    bm_scan_result res;
    char dup_src[700];

    make_host(&lh, &th);
    install_fixture(t, "fx_counter_v1", "fx_counter.so");
    install_fixture(t, "fx_reward", "fx_reward.so");
    install_fixture(t, "fx_bad_magic", "broken.so");

    /* First scan: generation 1 with both good modules, the broken one refused. */
    assert_int_equal(bm_loader_scan(t->mods, t->copies, NULL, &lh, &res), 0);
    print_message("%s", res.report);
    bm_modset *s1 = res.set;
    assert_non_null(s1);
    assert_int_equal(s1->generation, 1);
    assert_int_equal(s1->n, 2);
    assert_string_equal(s1->mods[0]->name, "fx_counter");
    assert_string_equal(s1->mods[1]->name, "fx_reward");
    assert_int_equal(res.loaded, 2);
    assert_int_equal(res.refused, 1);
    assert_non_null(strstr(res.report, "refused broken.so: magic: got 0x"));
    assert_non_null(strstr(res.report, "loaded fx_counter.so: fx_counter 1.0.0 generation 1\n"));
    assert_int_equal(res.nretired, 0);
    assert_ptr_equal(bm_modset_find_serves(s1, BM_KIND_REWARD, "fixture_reward"), s1->mods[1]);
    assert_null(bm_modset_find_serves(s1, BM_KIND_CAMPAIGN, "fixture_reward"));
    bm_scan_result_clear(&res);

    /* Nothing changed (the broken file is refused again): no new set. */
    assert_int_equal(bm_loader_scan(t->mods, t->copies, s1, &lh, &res), 0);
    assert_null(res.set);
    assert_int_equal(res.kept, 2);
    assert_int_equal(res.refused, 1);
    assert_int_equal(res.nretired, 0);
    assert_non_null(strstr(res.report, "kept fx_counter.so: fx_counter 1.0.0 generation 1\n"));
    bm_scan_result_clear(&res);

    /* A second file claiming fx_counter is refused even though it sorts first and
     * fx_counter.so is being replaced; the changed fx_counter.so replaces itself. */
    char broken[700];
    snprintf(broken, sizeof broken, "%s/broken.so", t->mods);
    unlink(broken);
    install_fixture(t, "fx_dup", "a_dup.so");
    install_fixture(t, "fx_counter_v2", "fx_counter.so");
    assert_int_equal(bm_loader_scan(t->mods, t->copies, s1, &lh, &res), 0);
    print_message("%s", res.report);
    bm_modset *s2 = res.set;
    assert_non_null(s2);
    assert_int_equal(s2->generation, 2);
    assert_int_equal(s2->n, 2);
    assert_string_equal(s2->mods[0]->m->version, "2.0.0");
    assert_int_equal(s2->mods[0]->generation, 2);
    assert_ptr_equal(s2->mods[1], s1->mods[1]);
    snprintf(dup_src, sizeof dup_src,
             "refused a_dup.so: name: 'fx_counter' already loaded from %s/fx_counter.so\n",
             t->mods);
    assert_non_null(strstr(res.report, dup_src));
    assert_non_null(strstr(res.report, "loaded fx_counter.so: fx_counter 2.0.0 generation 2 "
                                       "(replaces generation 1)\n"));
    assert_int_equal(res.nretired, 1);
    assert_ptr_equal(res.retired[0], s1->mods[0]);
    /* Both generations are live until the caller swaps and closes. */
    assert_int_equal(count_entries(t->copies, NULL, 0), 3);
    bm_loader_close(res.retired[0], &lh);
    bm_scan_result_clear(&res);
    bm_modset_free(s1);
    assert_int_equal(count_entries(t->copies, NULL, 0), 2);

    /* Removing a file retires its instance. */
    char rew[700], dup[700];
    snprintf(rew, sizeof rew, "%s/fx_reward.so", t->mods);
    snprintf(dup, sizeof dup, "%s/a_dup.so", t->mods);
    unlink(rew);
    unlink(dup);
    assert_int_equal(bm_loader_scan(t->mods, t->copies, s2, &lh, &res), 0);
    bm_modset *s3 = res.set;
    assert_non_null(s3);
    assert_int_equal(s3->generation, 3);
    assert_int_equal(s3->n, 1);
    assert_int_equal(res.removed, 1);
    assert_non_null(strstr(res.report, "removed fx_reward.so: fx_reward generation 1\n"));
    assert_int_equal(res.nretired, 1);
    bm_loader_close(res.retired[0], &lh);
    bm_scan_result_clear(&res);
    bm_modset_free(s2);

    close_set(s3, &lh);
    assert_int_equal(th.hosts_live, 0);
    assert_int_equal(th.adopted, th.released);
    assert_int_equal(count_entries(t->copies, NULL, 0), 0);
}

static void test_scan_unreadable_dir(void **state)
{
    tdir *t = *state;
    bm_loader_host lh;
    test_host th;
    bm_scan_result res;
    char p[600];

    make_host(&lh, &th);
    snprintf(p, sizeof p, "%s/nowhere", t->root);
    assert_int_equal(bm_loader_scan(p, t->copies, NULL, &lh, &res), -1);
    assert_null(res.set);
    assert_non_null(strstr(res.report, "nowhere"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_real_modules_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_good_fixtures_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faulty_fixtures_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_files_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_close_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_failure_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopt_failure_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_name_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_generations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_unreadable_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
