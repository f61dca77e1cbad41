/*
 * Unit tests of the host's own data structures: the string builder, the
 * dedup window, the state cache and the campaign routing index (with a real
 * module loaded through the loader).
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

#include <jansson.h>

#include "campaign/campaign.h"
#include "campaign/campaign_int.h"
#include "event/arena.h"
#include "host/host.h"
#include "loader/loader.h"
#include "loader/loader_int.h"
#include "pipeline/dedup.h"
#include "state/state.h"
#include "util/buf.h"
#include "util/strset.h"

/* --- string builder ------------------------------------------------------------ */

static void test_buf_escapes(void **state)
{
    (void)state;
    bm_buf b = {0};
    /* A JSON string literal jansson reads back to the same bytes. */
    const char *nasty = "q\"b\\s\nl\tt\x01 é";
    bm_buf_json_str(&b, nasty);
    json_t *j = json_loads(bm_buf_cstr(&b), JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(j), nasty);
    json_decref(j);
    /* COPY text: no raw tab or newline survives, backslashes doubled. */
    bm_buf_reset(&b);
    bm_buf_copy_str(&b, "a\tb\nc\\d\re");
    assert_string_equal(bm_buf_cstr(&b), "a\\tb\\nc\\\\d\\re");
    /* Array element: quotes and backslashes escaped inside quotes. */
    bm_buf_reset(&b);
    bm_buf_array_elem(&b, "x\"y\\z");
    assert_string_equal(bm_buf_cstr(&b), "\"x\\\"y\\\\z\"");
    bm_buf_free(&b);
}

static void test_buf_numbers_and_growth(void **state)
{
    (void)state;
    bm_buf b = {0};
    bm_buf_i64(&b, INT64_MIN);
    bm_buf_puts(&b, " ");
    bm_buf_i64(&b, 0);
    bm_buf_puts(&b, " ");
    bm_buf_double(&b, 42.0);
    bm_buf_puts(&b, " ");
    bm_buf_double(&b, 0.1);
    bm_buf_puts(&b, " ");
    bm_buf_double(&b, 1.0 / 0.0); /* not a number PostgreSQL takes: written as 0 */
    assert_string_equal(bm_buf_cstr(&b), "-9223372036854775808 0 42 0.10000000000000001 0");
    /* printf past the 256-byte stack buffer, and many appends. */
    bm_buf_reset(&b);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    bm_buf_printf(&b, "<%s>", big);
    assert_int_equal(b.len, 1001);
    for (int i = 0; i < 100000; i++)
        bm_buf_append(&b, "ab", 2);
    assert_int_equal(b.len, 1001 + 200000);
    assert_false(b.oom);
    bm_buf_free(&b);
}

/* --- dedup window -------------------------------------------------------------- */

static void test_dedup_window(void **state)
{
    (void)state;
    bm_dedup d;
    bm_dedup_init(&d);
    /* The pair matters, not the concatenation. */
    assert_true(bm_dedup_hash("ab", "c") != bm_dedup_hash("a", "bc"));
    assert_true(bm_dedup_hash("g", "e") != 0);
    /* Stored in event_dedup: the value must never change. */
    assert_true(bm_dedup_hash("game", "event-1") == bm_dedup_hash("game", "event-1"));
    for (uint32_t i = 0; i < 50000; i++) {
        char id[32];
        snprintf(id, sizeof id, "e-%u", i);
        assert_int_equal(bm_dedup_add(&d, bm_dedup_hash("g", id), i < 25000 ? 1000 : 2000), 0);
    }
    assert_int_equal(d.count, 50000);
    assert_true(bm_dedup_contains(&d, bm_dedup_hash("g", "e-0")));
    assert_true(bm_dedup_contains(&d, bm_dedup_hash("g", "e-49999")));
    assert_false(bm_dedup_contains(&d, bm_dedup_hash("g", "e-50000")));
    assert_false(bm_dedup_contains(&d, bm_dedup_hash("other", "e-0")));
    /* Pruning forgets what was applied before the window only. */
    bm_dedup_prune(&d, 1500);
    assert_int_equal(d.count, 25000);
    assert_false(bm_dedup_contains(&d, bm_dedup_hash("g", "e-0")));
    assert_true(bm_dedup_contains(&d, bm_dedup_hash("g", "e-25000")));
    assert_true(bm_dedup_contains(&d, bm_dedup_hash("g", "e-49999")));
    bm_dedup_free(&d);
}

/* --- state cache ---------------------------------------------------------------- */

static int drop_part(const bm_state_entry *e, void *ud)
{
    return e->partition == *(int *)ud;
}

static void test_state_cache(void **state)
{
    (void)state;
    bm_state_cache c;
    bm_state_cache_init(&c);
    int created;
    bm_state_entry *a = bm_state_cache_get(&c, 1, "alice", 0, &created);
    assert_non_null(a);
    assert_true(created);
    assert_false(a->loaded);
    a->st.value = 7;
    assert_ptr_equal(bm_state_cache_get(&c, 1, "alice", 0, &created), a);
    assert_false(created);
    /* Same user in another campaign slot is another entry. */
    bm_state_entry *a2 = bm_state_cache_get(&c, 2, "alice", 0, &created);
    assert_true(created);
    assert_ptr_not_equal(a2, a);
    assert_null(bm_state_cache_find(&c, 3, "alice"));
    assert_int_equal(bm_state_entry_set_doc(a, "{\"k\":1}"), 0);
    assert_string_equal(a->st.doc, "{\"k\":1}");
    assert_int_equal(bm_state_entry_set_doc(a, NULL), 0);
    assert_null(a->st.doc);
    /* Growth keeps every entry findable. */
    for (int i = 0; i < 20000; i++) {
        char u[32];
        snprintf(u, sizeof u, "u%d", i);
        bm_state_entry *e = bm_state_cache_get(&c, 5, u, i % 4, &created);
        assert_non_null(e);
        e->st.count = i;
    }
    for (int i = 0; i < 20000; i += 997) {
        char u[32];
        snprintf(u, sizeof u, "u%d", i);
        bm_state_entry *e = bm_state_cache_find(&c, 5, u);
        assert_non_null(e);
        assert_int_equal(e->st.count, i);
    }
    assert_ptr_equal(bm_state_cache_find(&c, 1, "alice"), bm_state_cache_find(&c, 1, "alice"));
    assert_true(bm_state_cache_find(&c, 1, "alice")->st.value == 7);
    /* A revoked partition's entries go; the others stay. */
    int part = 1;
    bm_state_cache_drop(&c, drop_part, &part);
    assert_null(bm_state_cache_find(&c, 5, "u1"));
    assert_non_null(bm_state_cache_find(&c, 5, "u2"));
    assert_non_null(bm_state_cache_find(&c, 1, "alice"));
    bm_state_cache_drop(&c, NULL, NULL);
    assert_null(bm_state_cache_find(&c, 5, "u2"));
    assert_int_equal(c.count, 0);
    bm_state_cache_free(&c);
}

static void test_strset(void **state)
{
    (void)state;
    bm_strset s = {0};
    for (int i = 0; i < 5000; i++) {
        char k[32];
        snprintf(k, sizeof k, "key-%d", i);
        assert_int_equal(bm_strset_add(&s, k), 0);
        assert_int_equal(bm_strset_add(&s, k), 0);
    }
    assert_int_equal(s.count, 5000);
    assert_true(bm_strset_has(&s, "key-4999"));
    assert_false(bm_strset_has(&s, "key-5000"));
    bm_strset_clear(&s);
    assert_false(bm_strset_has(&s, "key-1"));
    bm_strset_free(&s);
}

/* --- decode arena and other threads' jansson ------------------------------------ */

typedef struct arena_worker {
    int stop;
    long made, in_arena;
} arena_worker;

/* Another thread building and freeing JSON while the arena is active elsewhere. */
static void *jansson_worker(void *arg)
{
    arena_worker *w = arg;
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        json_t *j =
            json_pack("{s:s, s:[i, i], s:{s:f}}", "user", "someone", "n", 1, 2, "o", "x", 1.5);
        char *text = json_dumps(j, JSON_COMPACT);
        if (bm_arena_owns(j) || bm_arena_owns(text))
            w->in_arena++;
        json_t *back = json_loads(text, 0, NULL);
        if (!json_equal(j, back))
            w->in_arena++;
        free(text);
        json_decref(back);
        json_decref(j);
        __atomic_add_fetch(&w->made, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_arena_with_other_threads(void **state)
{
    (void)state;
    bm_arena *a = bm_arena_new();
    assert_non_null(a);
    arena_worker w = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, jansson_worker, &w), 0);
    long owned = 0;
    int rounds = 0;
    /* At least 50 rounds, and on until the other thread has really run next to
     * them (a loaded machine may not schedule it during 50 quick rounds). */
    time_t deadline = time(NULL) + 60;
    for (;
         rounds < 50 || (__atomic_load_n(&w.made, __ATOMIC_RELAXED) < 100 && time(NULL) < deadline);
         rounds++) {
        json_t *keep[200];
        for (int i = 0; i < 200; i++) {
            bm_arena_begin(a);
            keep[i] = json_loads("{\"userId\":\"u\",\"data\":{\"points\":[1,2,3]}}", 0, NULL);
            bm_arena_end();
            owned += bm_arena_owns(keep[i]);
        }
        /* Outside begin/end this thread gets malloc too. */
        json_t *plain = json_object();
        assert_false(bm_arena_owns(plain));
        json_decref(plain);
        for (int i = 0; i < 200; i++)
            json_decref(keep[i]); /* arena frees are no-ops */
        bm_arena_reset(a);
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    print_message("arena values=%ld, other thread's values=%ld\n", owned, w.made);
    assert_int_equal(owned, (long)rounds * 200);
    assert_true(w.made > 0);
    assert_int_equal(w.in_arena, 0);
    bm_arena_destroy(a);
}

/* --- routing index ----------------------------------------------------------------- */

static bm_camps *g_camps;

static int t_adopt(void *ud, bm_modinst *mi, char *err, size_t errlen)
{
    (void)ud;
    return bm_camps_adopt(g_camps, mi, err, errlen);
}

static void t_release(void *ud, bm_modinst *mi)
{
    (void)ud;
    bm_camps_release(g_camps, mi);
}

static bm_camp_row row(int i, const char *game, const char *status)
{
    bm_camp_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "00000000-0000-0000-0000-%012d", i);
    snprintf(r.game, sizeof r.game, "%s", game);
    snprintf(r.type, sizeof r.type, "fixture_v2");
    snprintf(r.name, sizeof r.name, "c%d", i);
    snprintf(r.status, sizeof r.status, "%s", status);
    r.config = strdup("{}");
    r.version = 1;
    return r;
}

static size_t routed(const bm_camps *cs, const char *game, const char *type)
{
    size_t n;
    bm_camps_route(cs, game, type, &n);
    return n;
}

static void test_routing_index(void **state)
{
    (void)state;
    bm_camps cs;
    bm_camps_init(&cs);
    g_camps = &cs;
    char dir[] = "/tmp/bm-route-XXXXXX", err[512], path[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/fx_v2_a.so", BM_FIXTURE_DIR);
    bm_loader_host lh = {.api = bm_host_api_get(), .adopt = t_adopt, .release = t_release};
    bm_modinst *mi = NULL;
    assert_int_equal(bm_loader_open(path, dir, 1, &lh, NULL, 0, &mi, err, sizeof err), 0);
    bm_modinst *v[1] = {mi};
    bm_modset set = {.generation = 1, .n = 1, .mods = v};

    /* 300 campaigns over 3 games; the fixture routes "score" and "pretty". */
    bm_camp_row rows[300];
    for (int i = 0; i < 300; i++)
        rows[i] = row(i, i % 3 == 0 ? "g0" : i % 3 == 1 ? "g1" : "g2", "active");
    assert_int_equal(bm_camps_sync(&cs, rows, 300, &set), 300);
    assert_int_equal(routed(&cs, "g0", "score"), 100);
    assert_int_equal(routed(&cs, "g1", "pretty"), 100);
    assert_int_equal(routed(&cs, "g1", "other"), 0);
    assert_int_equal(routed(&cs, "g9", "score"), 0);
    /* Game and type are separate fields: ("g0s", "core") is not ("g0", "score"). */
    assert_int_equal(routed(&cs, "g0s", "core"), 0);
    size_t n;
    bm_camp *const *r = bm_camps_route(&cs, "g2", "score", &n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(r[i]->row.game, "g2");

    /* Paused campaigns leave the index; the rest keep their slots. */
    for (int i = 0; i < 300; i += 2)
        snprintf(rows[i].status, sizeof rows[i].status, "draft");
    assert_int_equal(bm_camps_sync(&cs, rows, 300, &set), 150);
    assert_int_equal(
        routed(&cs, "g0", "score") + routed(&cs, "g1", "score") + routed(&cs, "g2", "score"), 150);
    bm_camp *c1 = bm_camps_find(&cs, rows[1].id);
    assert_non_null(c1);
    assert_ptr_equal(bm_camps_at(&cs, c1->slot), c1);
    assert_null(bm_camps_find(&cs, rows[0].id));

    bm_camps_free(&cs, &set);
    bm_loader_close(mi, &lh);
    for (int i = 0; i < 300; i++)
        free(rows[i].config);
    rmdir(dir);
}

/* An out-of-band pin keeps a campaign's context through an update and a removal. */
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

static double metric(bm_modinst *mi, const char *name)
{
    json_t *m = bm_host_metrics_json(mi->host);
    double v = json_number_value(json_object_get(m, name));
    json_decref(m);
    return v;
}

static void test_campaign_pins(void **state)
{
    (void)state;
    bm_camps cs;
    bm_camps_init(&cs);
    g_camps = &cs;
    char dir[] = "/tmp/bm-pins-XXXXXX", err[512], path[600], *resp = NULL;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/fx_v2_a.so", BM_FIXTURE_DIR);
    bm_loader_host lh = {.api = bm_host_api_get(),
                         .host_new = t_host_new,
                         .host_free = t_host_free,
                         .adopt = t_adopt,
                         .release = t_release};
    bm_modinst *mi = NULL;
    assert_int_equal(bm_loader_open(path, dir, 1, &lh, NULL, 0, &mi, err, sizeof err), 0);
    bm_modinst *v[1] = {mi};
    bm_modset set = {.generation = 1, .n = 1, .mods = v};
    bm_camp_row rows[1] = {row(1, "g", "active")};
    assert_int_equal(bm_camps_sync(&cs, rows, 1, &set), 1);

    bm_modinst *pmi = NULL;
    void *cctx = NULL;
    bm_camp *pinned = bm_camps_pin(&cs, rows[0].id, &pmi, &cctx);
    assert_non_null(pinned);
    assert_ptr_equal(pmi, mi);
    assert_null(bm_camps_pin(&cs, "00000000-0000-0000-0000-999999999999", &pmi, &cctx));

    /* An update while pinned: a new record serves, the old context stays alive. */
    rows[0].version = 2;
    assert_int_equal(bm_camps_sync(&cs, rows, 1, &set), 1);
    bm_camp *now = bm_camps_find(&cs, rows[0].id);
    assert_ptr_not_equal(now, pinned);
    assert_ptr_equal(bm_camps_at(&cs, now->slot), now);
    assert_ptr_not_equal(now->cctx, cctx);
    assert_non_null(cs.zombies);
    assert_int_equal(metric(mi, "changed_updated"), 0); /* not removed yet */
    assert_int_equal(mi->m->query(mi->instance, cctx, "{}", &resp), BM_OK);
    free(resp);
    bm_camps_reap(&cs); /* still pinned: kept */
    assert_non_null(cs.zombies);
    bm_camps_unpin(pinned);
    bm_camps_reap(&cs);
    assert_null(cs.zombies);
    assert_int_equal(metric(mi, "changed_updated"), 1);

    /* Paused: removed, said so. */
    snprintf(rows[0].status, sizeof rows[0].status, "draft");
    assert_int_equal(bm_camps_sync(&cs, rows, 1, &set), 1);
    assert_null(bm_camps_find(&cs, rows[0].id));
    assert_int_equal(metric(mi, "changed_removed"), 1);

    bm_camps_free(&cs, &set);
    bm_loader_close(mi, &lh);
    free(rows[0].config);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_escapes),
        cmocka_unit_test(test_buf_numbers_and_growth),
        cmocka_unit_test(test_dedup_window),
        cmocka_unit_test(test_state_cache),
        cmocka_unit_test(test_strset),
        cmocka_unit_test(test_routing_index),
        cmocka_unit_test(test_arena_with_other_threads),
        cmocka_unit_test(test_campaign_pins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
