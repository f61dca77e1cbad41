/*
 * The event decoder's fuzz target, run in every build (the libFuzzer binary
 * needs -DBM_FUZZ=ON and clang): the seed corpus, then 100000 deterministic
 * mutations of its valid events (byte flips, truncations, insertions,
 * deletions, splices). Nothing may crash or break the decoder's contract
 * (the target aborts if it does); every valid seed decodes, every invalid one
 * is refused with its reason; and mutations that keep the JSON valid
 * (whitespace between tokens) still decode to the same event.
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

#include "fuzz/fuzz_event_decode.h"

#define MUTATIONS 100000
#define MAX_SEED 4096

typedef struct input {
    char name[256];
    unsigned char *data;
    size_t len;
} input;

typedef struct corpus {
    input *v;
    size_t n;
} corpus;

/* Expected reason (prefix) of each invalid seed. */
static const struct {
    const char *file, *reason;
} k_bad[] = {
    {"bad_truncated.json", "invalid_json"},       {"bad_missing_user.json", "missing_field:userId"},
    {"bad_wrong_type.json", "wrong_type:userId"}, {"bad_duplicate_key.json", "invalid_json"},
    {"bad_timestamp.json", "bad_timestamp"},      {"bad_too_old.json", "timestamp_too_old"},
    {"bad_future.json", "timestamp_in_future"},   {"bad_not_object.json", "not_an_object"},
    {"bad_data_string.json", "wrong_type:data"},  {"bad_binary.bin", "invalid_json"},
};

static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1DULL;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static void load_corpus(corpus *c)
{
    const char *src = getenv("BM_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus_event", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s (BM_SOURCE_DIR)", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[1300];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        input in;
        memset(&in, 0, sizeof in);
        snprintf(in.name, sizeof in.name, "%s", de->d_name);
        in.data = malloc(MAX_SEED);
        in.len = in.data ? fread(in.data, 1, MAX_SEED, f) : 0;
        fclose(f);
        input *nv = realloc(c->v, (c->n + 1) * sizeof *nv);
        if (!nv || !in.data)
            fail_msg("out of memory");
        c->v = nv;
        c->v[c->n++] = in;
    }
    closedir(d);
}

static int is_valid_name(const char *name)
{
    return strncmp(name, "valid_", 6) == 0;
}

static int decode(const unsigned char *p, size_t n, bm_event *ev, char *reason, size_t rlen)
{
    bm_event_limits lim;
    fuzz_event_limits(&lim);
    return bm_event_decode(ev, (const char *)p, n, &lim, reason, rlen);
}

static void test_seed_corpus(void **state)
{
    corpus *c = *state;
    size_t valid = 0, bad = 0;
    for (size_t i = 0; i < c->n; i++) {
        input *in = &c->v[i];
        LLVMFuzzerTestOneInput(in->data, in->len);
        bm_event ev;
        char reason[128] = "";
        int rc = decode(in->data, in->len, &ev, reason, sizeof reason);
        if (is_valid_name(in->name)) {
            if (rc != 0)
                fail_msg("%s: refused (%s), want it decoded", in->name, reason);
            bm_event_clear(&ev);
            valid++;
            continue;
        }
        if (rc == 0)
            fail_msg("%s: decoded, want it refused", in->name);
        for (size_t k = 0; k < sizeof k_bad / sizeof k_bad[0]; k++)
            if (strcmp(k_bad[k].file, in->name) == 0 &&
                strncmp(reason, k_bad[k].reason, strlen(k_bad[k].reason)) != 0)
                fail_msg("%s: reason \"%s\", want \"%s\"", in->name, reason, k_bad[k].reason);
        bad++;
    }
    assert_true(valid >= 5);
    assert_int_equal(bad, sizeof k_bad / sizeof k_bad[0]);
}

/* The 64 KiB bound: exactly max_bytes decodes, one byte more is refused. */
static void test_size_bound(void **state)
{
    (void)state;
    const char *head = "{\"gameId\":\"g\",\"userId\":\"u\",\"eventType\":\"T\","
                       "\"timestamp\":\"2026-11-23T09:00:00Z\",\"data\":{\"pad\":\"";
    const char *tail = "\"}}";
    size_t n = 65536;
    unsigned char *buf = malloc(n + 2);
    assert_non_null(buf);
    size_t hl = strlen(head), tl = strlen(tail);
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t len = n + extra;
        memcpy(buf, head, hl);
        memset(buf + hl, 'x', len - hl - tl);
        memcpy(buf + len - tl, tail, tl);
        LLVMFuzzerTestOneInput(buf, len);
        bm_event ev;
        char reason[128] = "";
        int rc = decode(buf, len, &ev, reason, sizeof reason);
        if (extra == 0) {
            assert_int_equal(rc, 0);
            bm_event_clear(&ev);
        } else {
            assert_int_not_equal(rc, 0);
            assert_non_null(strstr(reason, "too_large"));
        }
    }
    free(buf);
}

static const char *const k_tokens[] = {
    "\"", "{",        "}",        "[",           "]",          ",",
    ":",  "\\",       "\\u0000",  "\\ud800",     "null",       "1e999",
    "-0", "\xc3\x28", "\xf0\x9f", "\"userId\":", "\"data\":{", "\"timestamp\":\"",
    "Z",  "+99:99",   ".",        "\x00",        "\xff"};

/* One random damaging edit of buf (len in/out, capacity MAX_SEED). */
static void mutate(unsigned char *buf, size_t *len, const corpus *c)
{
    size_t n = *len;
    switch (below(7)) {
    case 0: /* flip bits of a few bytes */
        for (int k = 0; k < 1 + (int)below(4) && n; k++)
            buf[below(n)] ^= (unsigned char)(1 + below(255));
        break;
    case 1: /* truncate */
        *len = below(n + 1);
        break;
    case 2: { /* insert random bytes */
        size_t at = below(n + 1), m = 1 + below(8);
        if (n + m > MAX_SEED)
            break;
        memmove(buf + at + m, buf + at, n - at);
        for (size_t k = 0; k < m; k++)
            buf[at + k] = (unsigned char)rnd();
        *len = n + m;
        break;
    }
    case 3: { /* insert a JSON-ish token */
        const char *t = k_tokens[below(sizeof k_tokens / sizeof k_tokens[0])];
        size_t at = below(n + 1), m = strlen(t) ? strlen(t) : 1;
        if (n + m > MAX_SEED)
            break;
        memmove(buf + at + m, buf + at, n - at);
        memcpy(buf + at, t, m);
        *len = n + m;
        break;
    }
    case 4: { /* delete a span */
        size_t at = below(n + 1), m = below(n - at + 1);
        memmove(buf + at, buf + at + m, n - at - m);
        *len = n - m;
        break;
    }
    case 5: { /* duplicate a span */
        size_t at = below(n + 1), m = below(n - at + 1);
        if (n + m > MAX_SEED)
            break;
        memmove(buf + at + m, buf + at, n - at);
        *len = n + m;
        break;
    }
    default: { /* splice: head of this one, tail of another input */
        const input *o = &c->v[below(c->n)];
        size_t cut = below(n + 1), from = below(o->len + 1);
        size_t m = o->len - from;
        if (cut + m > MAX_SEED)
            break;
        memcpy(buf + cut, o->data + from, m);
        *len = cut + m;
        break;
    }
    }
}

/* Inserts whitespace after a structural character outside strings; 0 if none. */
static int add_whitespace(unsigned char *buf, size_t *len)
{
    size_t spots[512], ns = 0;
    int in_str = 0;
    for (size_t i = 0; i < *len && ns < 512; i++) {
        unsigned char ch = buf[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[' || ch == ',' || ch == ':') {
            spots[ns++] = i + 1;
        }
    }
    if (!ns || *len + 1 > MAX_SEED)
        return 0;
    size_t at = spots[below(ns)];
    memmove(buf + at + 1, buf + at, *len - at);
    buf[at] = " \t\n\r"[below(4)];
    (*len)++;
    return 1;
}

static void test_mutations(void **state)
{
    corpus *c = *state;
    const input *valid[64] = {0};
    size_t nvalid = 0;
    for (size_t i = 0; i < c->n && nvalid < 64; i++)
        if (is_valid_name(c->v[i].name))
            valid[nvalid++] = &c->v[i];
    assert_true(nvalid > 0);
    unsigned char *buf = malloc(MAX_SEED);
    assert_non_null(buf);
    size_t decoded = 0, kept = 0;
    for (long i = 0; i < MUTATIONS; i++) {
        const input *seed = valid[below(nvalid)];
        size_t len = seed->len;
        memcpy(buf, seed->data, len);
        if (i % 10 == 0) {
            /* A change JSON does not see: the same event must come out. */
            int edits = 1 + (int)below(5);
            for (int k = 0; k < edits; k++)
                add_whitespace(buf, &len);
            bm_event a, b;
            char ra[128] = "", rb[128] = "";
            int rca = decode(seed->data, seed->len, &a, ra, sizeof ra);
            int rcb = decode(buf, len, &b, rb, sizeof rb);
            if (rca != 0 || rcb != 0)
                fail_msg("%s with whitespace added: refused (%s)", seed->name, rb);
            assert_string_equal(a.user_id, b.user_id);
            assert_string_equal(a.game_id, b.game_id);
            assert_string_equal(a.event_type, b.event_type);
            assert_true(a.time_ms == b.time_ms);
            assert_true(json_equal(a.root, b.root));
            bm_event_clear(&a);
            bm_event_clear(&b);
            kept++;
        } else {
            int edits = 1 + (int)below(3);
            for (int k = 0; k < edits; k++)
                mutate(buf, &len, c);
        }
        LLVMFuzzerTestOneInput(buf, len);
        bm_event ev;
        char reason[128];
        if (decode(buf, len, &ev, reason, sizeof reason) == 0) {
            decoded++;
            bm_event_clear(&ev);
        }
    }
    free(buf);
    fprintf(stderr, "decode corpus: %d mutations, %zu decoded, %zu kept their meaning\n", MUTATIONS,
            decoded, kept);
    assert_true(kept == MUTATIONS / 10);
}

static int setup(void **state)
{
    corpus *c = calloc(1, sizeof *c);
    *state = c;
    load_corpus(c);
    return 0;
}

static int teardown(void **state)
{
    corpus *c = *state;
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].data);
    free(c->v);
    free(c);
    return 0;
}

/* An invalid-JSON reason says what the parser said and where, not just an offset. */
static void test_invalid_json_reason_explains(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"{\"gameId\": \"g\",\n \"userId\": }", "(line 2, column"},
        {"{\"userId\":\"a\",\"userId\":\"b\"}", "duplicate object key"},
        {"{\"a\":1} trailing", "end of file expected"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bm_event ev;
        char reason[256] = "";
        assert_int_equal(decode((const unsigned char *)cases[i].text, strlen(cases[i].text), &ev,
                                reason, sizeof reason),
                         -1);
        if (strncmp(reason, "invalid_json:", 13) != 0 || !strstr(reason, cases[i].want))
            fail_msg("reason \"%s\" lacks \"%s\"", reason, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_invalid_json_reason_explains),
        cmocka_unit_test_setup_teardown(test_seed_corpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
