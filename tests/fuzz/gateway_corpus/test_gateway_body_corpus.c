/*
 * The gateway body fuzz target, run in every build: each seed of
 * tests/fuzz/corpus_gateway, then 30000 deterministic mutations of them (byte
 * flips, truncations, insertions, splices). The target aborts when a parser
 * breaks its contract; the seeds' own outcomes are what a client is told.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gateway/gw_body.h"

#define MUTATIONS 30000
#define MAX_SEED 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char g_seed[64][MAX_SEED];
static size_t g_len[64], g_n;
static uint64_t g_rng = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x9E3779B97F4A7C15ULL;
}

static const char *seed_dir(char *buf, size_t cap)
{
    const char *src = getenv("BM_SOURCE_DIR");
    snprintf(buf, cap, "%s/tests/fuzz/corpus_gateway", src ? src : ".");
    return buf;
}

static size_t slurp(const char *name, unsigned char *out)
{
    char dir[1024], path[1400];
    snprintf(path, sizeof path, "%s/%s", seed_dir(dir, sizeof dir), name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t n = fread(out, 1, MAX_SEED, f);
    fclose(f);
    return n;
}

/* What a client is told for a seed read as an event body. */
static void test_seed_outcomes(void **state)
{
    (void)state;
    static unsigned char buf[MAX_SEED];
    bm_event_limits lim = {.max_bytes = 65536,
                           .now_ms = 1795428000000LL,
                           .past_ms = 30LL * 86400 * 1000,
                           .future_ms = 300LL * 1000};
    int status;
    char err[256], reason[128];
    size_t n = slurp("batch_mixed.json", buf);
    json_t *list = gw_body_events((char *)buf, n, 500, &status, err, sizeof err);
    assert_non_null(list);
    assert_int_equal(json_array_size(list), 4);
    gw_body_item it;
    /* 0: valid, gets an eventId; 1: another game's; 2: not an object; 3: no gameId. */
    assert_int_equal(
        gw_body_event(json_array_get(list, 0), "fuzz-game", &lim, &it, reason, sizeof reason), 0);
    assert_int_equal(strlen(it.eid), 36);
    free(it.text);
    gw_body_event(json_array_get(list, 1), "fuzz-game", &lim, &it, reason, sizeof reason);
    assert_true(it.foreign);
    free(it.text);
    assert_int_equal(
        gw_body_event(json_array_get(list, 2), "fuzz-game", &lim, &it, reason, sizeof reason), -1);
    assert_string_equal(reason, "not_an_object");
    assert_int_equal(
        gw_body_event(json_array_get(list, 3), "fuzz-game", &lim, &it, reason, sizeof reason), -1);
    assert_non_null(strstr(reason, "gameId"));
    free(it.text);
    json_decref(list);
    n = slurp("batch_empty.json", buf);
    assert_null(gw_body_events((char *)buf, n, 500, &status, err, sizeof err));
    assert_int_equal(status, 400);
    assert_string_equal(err, "field events: empty");
    n = slurp("one_event.json", buf);
    assert_null(gw_body_events((char *)buf, n, 0, &status, err, sizeof err));
    assert_int_equal(status, 413);
    n = slurp("admin_bad.json", buf);
    assert_null(gw_body_object((char *)buf, n, err, sizeof err)); /* duplicate key */
    n = slurp("admin_game.json", buf);
    json_t *b = gw_body_object((char *)buf, n, err, sizeof err);
    assert_non_null(b);
    assert_null(gw_body_string(b, "name", 5, 1, err, sizeof err));
    assert_non_null(strstr(err, "field name"));
    assert_string_equal(gw_body_string(b, "gameId", 200, 1, err, sizeof err), "space-raid");
    json_decref(b);
}

static void test_mutations(void **state)
{
    (void)state;
    char dir[1024];
    DIR *d = opendir(seed_dir(dir, sizeof dir));
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) && g_n < 64) {
        if (de->d_name[0] == '.')
            continue;
        g_len[g_n] = slurp(de->d_name, g_seed[g_n]);
        LLVMFuzzerTestOneInput(g_seed[g_n], g_len[g_n]);
        g_n++;
    }
    closedir(d);
    assert_true(g_n >= 5);
    static unsigned char buf[2 * MAX_SEED];
    for (int i = 0; i < MUTATIONS; i++) {
        size_t s = rnd() % g_n, n = g_len[s];
        memcpy(buf, g_seed[s], n);
        int edits = 1 + (int)(rnd() % 4);
        for (int e = 0; e < edits && n > 0; e++) {
            size_t at = rnd() % n;
            switch (rnd() % 4) {
            case 0: /* flip */
                buf[at] ^= (unsigned char)(1u << (rnd() % 8));
                break;
            case 1: /* truncate */
                n = at;
                break;
            case 2: /* insert a JSON-ish byte */
                if (n + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = (unsigned char)"{}[],:\"0\\ e-"[rnd() % 12];
                    n++;
                }
                break;
            default: { /* splice another seed's tail */
                size_t o = rnd() % g_n, from = g_len[o] ? rnd() % g_len[o] : 0;
                size_t add = g_len[o] - from;
                if (at + add <= sizeof buf) {
                    memcpy(buf + at, g_seed[o] + from, add);
                    n = at + add;
                }
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_outcomes),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
