/*
 * Hot reload under a steady event stream.
 *
 * The main thread plays the engine's processing thread: it dispatches
 * numbered events in batches to the module serving "fixture" and, only at a
 * batch boundary, rescans the modules directory, swaps the set and closes
 * what was retired. A second thread plays the operator: it installs v2, v1,
 * v2, ... of fx_counter over modules/fx_counter.so (temp file + rename), and
 * once a module with a bad magic, asking for a reload after each install.
 *
 * Every event must be handled exactly once, by the version that was loaded
 * when its batch ran, and only the live generation's copy may remain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <time.h>

#include "event/event.h"
#include "loader/loader.h"
#include "loader/loader_int.h"
#include "loader_util.h"

#define N_USERS 16
#define N_SLOTS 64
#define BATCH_EVENTS 250
#define MIN_EVENTS 100000
#define MAX_EVENTS 2000000
#define N_INSTALLS 24
#define BROKEN_AT 12 /* install number that is the bad-magic file */

struct bm_host {
    char name[64];
};
struct bm_batch {
    int events;
};

/* --- the in-test host: per-(campaign,user) counters and a seen-set ------- */

typedef struct slot {
    char key[96];
    bm_state st;
} slot;

static slot g_slots[N_SLOTS];
static unsigned char *g_seen;    /* times each event id was emitted */
static const char *g_expect;     /* version that must handle the current batch */
static uint64_t g_wrong_version; /* emits by a version other than the live one */
static uint64_t g_bad_emits;     /* malformed keys or topics */
static uint64_t g_by_version[2]; /* 1.0.0, 2.0.0 */
static int g_hosts_live;

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static bm_state *t_state_get(bm_batch *b, const char *campaign_id, const char *user_id)
{
    char key[96];
    snprintf(key, sizeof key, "%s|%s", campaign_id, user_id);
    for (uint32_t i = fnv1a(key) % N_SLOTS;; i = (i + 1) % N_SLOTS) {
        if (g_slots[i].key[0] == '\0')
            snprintf(g_slots[i].key, sizeof g_slots[i].key, "%s", key);
        if (strcmp(g_slots[i].key, key) == 0)
            return &g_slots[i].st;
    }
}

static int t_state_put(bm_batch *b, bm_state *st, const char *notify_topic)
{
    return 0;
}

static int t_emit(bm_batch *b, const char *topic, const char *key, const char *json, int flags)
{
    unsigned long n;
    if (strcmp(topic, "fixture.seen") != 0 || sscanf(key, "ev-%lu", &n) != 1 || n >= MAX_EVENTS) {
        g_bad_emits++;
        return -1;
    }
    g_seen[n]++;
    if (strstr(json, g_expect) == NULL)
        g_wrong_version++;
    g_by_version[strstr(json, "\"2.0.0\"") ? 1 : 0]++;
    b->events++;
    return 0;
}

static const char *t_event_id(const bm_event *ev)
{
    return ev->event_id;
}

static const char *t_event_user(const bm_event *ev)
{
    return ev->user_id;
}

static int t_route(bm_routes *r, const char *event_type)
{
    return strcmp(event_type, "fx") == 0 ? 0 : -1;
}

static bm_host *t_host_new(void *ud, const char *name)
{
    bm_host *h = calloc(1, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    g_hosts_live++;
    return h;
}

static void t_host_free(void *ud, bm_host *h)
{
    g_hosts_live--;
    free(h);
}

/* As the engine does: attach the one test campaign to every new instance. */
static int t_adopt(void *ud, bm_modinst *mi, char *err, size_t errlen)
{
    static const bm_campaign c = {.id = "c-hot", .game_id = "g", .type = "fixture", .name = "hot"};
    if (mi->m->kind != BM_KIND_CAMPAIGN)
        return 0;
    return mi->m->campaign_add(mi->instance, &c, NULL, &mi->engine_data, err, errlen) == BM_OK ? 0
                                                                                               : -1;
}

static void t_release(void *ud, bm_modinst *mi)
{
    if (mi->m->kind == BM_KIND_CAMPAIGN)
        mi->m->campaign_remove(mi->instance, mi->engine_data);
}

/* --- the operator thread ------------------------------------------------- */

typedef struct ctl {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int requested;         /* installs done */
    int acked;             /* installs the processing thread has rescanned */
    int broken;            /* the last install is the bad-magic module */
    const char *installed; /* version of the last good install */
    int done;
    int failed;
    char mods[300];
} ctl;

static void pause_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void *operator_main(void *arg)
{
    ctl *c = arg;
    char dst[400], src[1024];
    snprintf(dst, sizeof dst, "%s/fx_counter.so", c->mods);
    for (int i = 1; i <= N_INSTALLS; i++) {
        pause_ms(1 + i % 3);
        const char *fixture = i == BROKEN_AT ? "fx_bad_magic"
                              : i % 2        ? "fx_counter_v2"
                                             : "fx_counter_v1";
        fixture_path(src, sizeof src, fixture);
        if (install_file(src, dst) != 0) {
            c->failed = 1;
            break;
        }
        pthread_mutex_lock(&c->mu);
        c->broken = i == BROKEN_AT;
        if (!c->broken)
            c->installed = i % 2 ? "2.0.0" : "1.0.0";
        c->requested = i;
        /* Like SIGHUP: the reload happens at the processing thread's next boundary. */
        while (c->acked < i)
            pthread_cond_wait(&c->cv, &c->mu);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* --- the processing thread ----------------------------------------------- */

static void assert_only_live_copy(const char *copies, const bm_modinst *live)
{
    char last[256] = "";
    assert_int_equal(count_entries(copies, last, sizeof last), 1);
    const char *base = strrchr(live->copy_path, '/') + 1;
    assert_string_equal(last, base);
}

static void dispatch_batch(const bm_modset *set, uint64_t *next_id)
{
    bm_batch b = {0};
    char id[32], user[16];
    bm_modinst *mi = bm_modset_find_serves(set, BM_KIND_CAMPAIGN, "fixture");
    assert_non_null(mi);
    g_expect = mi->m->version;
    for (int i = 0; i < BATCH_EVENTS; i++) {
        uint64_t n = (*next_id)++;
        bm_event ev = {0};
        snprintf(id, sizeof id, "ev-%llu", (unsigned long long)n);
        snprintf(user, sizeof user, "u%d", (int)(n % N_USERS));
        ev.event_id = id;
        ev.game_id = "g";
        ev.user_id = user;
        ev.event_type = "fx";
        ev.partition = -1;
        assert_int_equal(mi->m->on_event(mi->instance, mi->engine_data, &b, &ev), BM_OK);
        mi->events++;
    }
    assert_int_equal(b.events, BATCH_EVENTS);
}

static void test_hot_reload_stream(void **state)
{
    char root[] = "/tmp/bm-test-hot.XXXXXX", copies[300], src[1024], dst[400];
    bm_host_api api = {.size = sizeof api, .version = BM_HOST_API_VERSION};
    bm_loader_host lh = {.api = &api,
                         .host_new = t_host_new,
                         .host_free = t_host_free,
                         .adopt = t_adopt,
                         .release = t_release};
    ctl c = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .installed = "1.0.0"};
    bm_scan_result res;
    pthread_t op;
    uint64_t next_id = 0;
    int reloads = 0, refusals = 0;

    api.event_id = t_event_id;
    api.event_user = t_event_user;
    api.route = t_route;
    api.state_get = t_state_get;
    api.state_put = t_state_put;
    api.emit = t_emit;
    g_seen = calloc(MAX_EVENTS, 1);
    assert_non_null(g_seen);

    assert_non_null(mkdtemp(root));
    snprintf(c.mods, sizeof c.mods, "%s/modules", root);
    snprintf(copies, sizeof copies, "%s/copies", root);
    assert_int_equal(mkdir(c.mods, 0755), 0);
    fixture_path(src, sizeof src, "fx_counter_v1");
    snprintf(dst, sizeof dst, "%s/fx_counter.so", c.mods);
    assert_int_equal(install_file(src, dst), 0);

    assert_int_equal(bm_loader_scan(c.mods, copies, NULL, &lh, &res), 0);
    bm_modset *set = res.set;
    assert_non_null(set);
    assert_int_equal(set->n, 1);
    assert_int_equal(set->generation, 1);
    bm_scan_result_clear(&res);

    assert_int_equal(pthread_create(&op, NULL, operator_main, &c), 0);
    for (;;) {
        /* The stream is bounded by the seen-set; past it, only reloads go on. */
        if (next_id + BATCH_EVENTS <= MAX_EVENTS)
            dispatch_batch(set, &next_id);
        else
            pause_ms(1);

        /* Batch boundary: the only place the set may change. */
        pthread_mutex_lock(&c.mu);
        int want = c.requested, broken = c.broken, done = c.done;
        const char *installed = c.installed;
        pthread_mutex_unlock(&c.mu);
        if (done && next_id >= MIN_EVENTS)
            break;
        if (want == reloads + refusals)
            continue;

        bm_modinst *before = set->mods[0];
        assert_int_equal(bm_loader_scan(c.mods, copies, set, &lh, &res), 0);
        if (broken) {
            /* Refused: no new set, the current generation keeps serving. */
            print_message("%s", res.report);
            assert_null(res.set);
            assert_int_equal(res.refused, 1);
            assert_int_equal(res.nretired, 0);
            assert_non_null(strstr(res.report, "refused fx_counter.so: magic: got 0x"));
            assert_non_null(strstr(res.report, "keeps serving"));
            refusals++;
        } else {
            assert_non_null(res.set);
            assert_int_equal(res.loaded, 1);
            assert_int_equal(res.set->generation, set->generation + 1);
            assert_int_equal(res.set->mods[0]->generation, res.set->generation);
            assert_string_equal(res.set->mods[0]->m->version, installed);
            assert_int_equal(res.nretired, 1);
            assert_ptr_equal(res.retired[0], before);
            bm_modset_free(set);
            set = res.set;
            for (size_t i = 0; i < res.nretired; i++)
                bm_loader_close(res.retired[i], &lh);
            reloads++;
        }
        bm_scan_result_clear(&res);
        assert_only_live_copy(copies, set->mods[0]);

        pthread_mutex_lock(&c.mu);
        c.acked = want;
        pthread_cond_broadcast(&c.cv);
        pthread_mutex_unlock(&c.mu);
    }
    pthread_join(op, NULL);
    assert_int_equal(c.failed, 0);

    print_message("events=%llu reloads=%d refusals=%d v1=%llu v2=%llu generation=%d\n",
                  (unsigned long long)next_id, reloads, refusals,
                  (unsigned long long)g_by_version[0], (unsigned long long)g_by_version[1],
                  set->generation);
    assert_int_equal(reloads, N_INSTALLS - 1);
    assert_int_equal(refusals, 1);
    assert_int_equal(set->generation, N_INSTALLS);
    assert_true(g_by_version[0] > 0 && g_by_version[1] > 0);
    assert_int_equal(g_wrong_version, 0);
    assert_int_equal(g_bad_emits, 0);

    /* Exactly once: every id once, and the counters add up to the stream. */
    for (uint64_t n = 0; n < next_id; n++)
        if (g_seen[n] != 1)
            fail_msg("event ev-%llu handled %d times", (unsigned long long)n, g_seen[n]);
    for (uint64_t n = next_id; n < MAX_EVENTS; n++)
        assert_int_equal(g_seen[n], 0);
    double total = 0;
    int64_t counted = 0;
    for (int i = 0; i < N_SLOTS; i++) {
        total += g_slots[i].st.value;
        counted += g_slots[i].st.count;
    }
    assert_true(total == (double)next_id);
    assert_int_equal(counted, (int64_t)next_id);

    assert_only_live_copy(copies, set->mods[0]);
    bm_loader_close(set->mods[0], &lh);
    bm_modset_free(set);
    assert_int_equal(count_entries(copies, NULL, 0), 0);
    assert_int_equal(g_hosts_live, 0);
    remove_tree(root);
    free(g_seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hot_reload_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
