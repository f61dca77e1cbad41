/*
 * The hostile streams: every kind of malformed message the engine must send
 * to the DLQ with its reason, mixed into valid events it must count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "event/event.h"
#include "hostile.h"

#include <openssl/sha.h>
#include "util/buf.h"

#define USERS 150
#define VALID 6000
#define DUPS 120
#define MAXMSG (96 * 1024)

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static void user_name(int u, char *buf, size_t cap)
{
    /* Some ids outside ASCII: legal, and they must count like any other. */
    snprintf(buf, cap, u % 10 == 0 ? "h\xc3\xa9-%d" : "h%d", u);
}

static void now_ts(int64_t offset_ms, char *buf, size_t cap)
{
    bm_rfc3339_format((int64_t)time(NULL) * 1000 + offset_ms, buf, cap);
}

/* A valid event's JSON; fills *type and the numeric fields for the count. */
typedef struct valid_ev {
    char json[512];
    char user[32];
    const char *type;
    const char *names[2];
    long long values[2];
    int n;
} valid_ev;

static void make_valid(bm_e2e_rng *r, long long i, valid_ev *v)
{
    user_name((int)bm_e2e_rng_range(r, 0, USERS - 1), v->user, sizeof v->user);
    char ts[40];
    now_ts(-bm_e2e_rng_range(r, 0, 3600000), ts, sizeof ts);
    if (bm_e2e_rng_range(r, 0, 1) == 0) {
        long long score = bm_e2e_rng_range(r, 0, 5000), kills = bm_e2e_rng_range(r, 0, 30);
        v->type = "MATCH_END";
        v->names[0] = "kills";
        v->names[1] = "score";
        v->values[0] = kills;
        v->values[1] = score;
        v->n = 2;
        snprintf(v->json, sizeof v->json,
                 "{\"eventId\":\"hv-%lld\",\"gameId\":\"" HOSTILE_GAME "\",\"userId\":\"%s\","
                 "\"eventType\":\"MATCH_END\",\"data\":{\"score\":%lld,\"kills\":%lld,"
                 "\"mode\":\"ranked\"},\"timestamp\":\"%s\",\"extra\":{\"ignored\":[1,2]}}",
                 i, v->user, score, kills, ts);
    } else {
        long long level = bm_e2e_rng_range(r, 1, 60);
        v->type = "ENEMY_KILL";
        v->names[0] = "level";
        v->values[0] = level;
        v->n = 1;
        snprintf(v->json, sizeof v->json,
                 "{\"eventId\":\"hv-%lld\",\"gameId\":\"" HOSTILE_GAME "\",\"userId\":\"%s\","
                 "\"eventType\":\"ENEMY_KILL\",\"data\":{\"level\":%lld},\"timestamp\":\"%s\","
                 "\"source\":null}",
                 i, v->user, level, ts);
    }
}

/* One malformed message of kind k into b; returns the reason prefix it must get. */
static const char *make_bad(bm_e2e_rng *r, int k, long long j, bm_buf *b)
{
    char ts[40], user[32];
    now_ts(0, ts, sizeof ts);
    user_name((int)bm_e2e_rng_range(r, 0, USERS - 1), user, sizeof user);
    /* The well-formed fields every variant starts from. */
#define HEAD "{\"eventId\":\"hb-%lld\","
#define GAMEF "\"gameId\":\"" HOSTILE_GAME "\","
    switch (k) {
    case 0: { /* random bytes, first one not ASCII */
        long n = bm_e2e_rng_range(r, 1, 300);
        for (long i = 0; i < n; i++) {
            unsigned char c = (unsigned char)bm_e2e_rng_next(r);
            if (i == 0)
                c |= 0x80;
            bm_buf_append(b, &c, 1);
        }
        return "invalid_json";
    }
    case 1: { /* a valid event cut short */
        valid_ev v;
        make_valid(r, j, &v);
        size_t len = strlen(v.json);
        bm_buf_append(b, v.json, (size_t)bm_e2e_rng_range(r, 1, (long)len - 1));
        return "invalid_json";
    }
    case 2:
        bm_buf_printf(
            b, HEAD GAMEF "\"userId\":%lld,\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\"}", j, j,
            ts);
        return "wrong_type:userId";
    case 3:
        bm_buf_printf(b,
                      HEAD "\"gameId\":[\"x\"],\"userId\":\"%s\",\"eventType\":\"MATCH_END\","
                           "\"timestamp\":\"%s\"}",
                      j, user, ts);
        return "wrong_type:gameId";
    case 4:
        bm_buf_printf(b,
                      HEAD GAMEF "\"userId\":\"%s\",\"eventType\":{\"t\":1},\"timestamp\":\"%s\"}",
                      j, user, ts);
        return "wrong_type:eventType";
    case 5:
        bm_buf_printf(b,
                      HEAD GAMEF
                      "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"data\":\"score=5\","
                      "\"timestamp\":\"%s\"}",
                      j, user, ts);
        return "wrong_type:data";
    case 6:
        bm_buf_printf(
            b, HEAD GAMEF "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":%lld}", j,
            user, (long long)time(NULL));
        return "wrong_type:timestamp";
    case 7:
        bm_buf_printf(b,
                      "{\"eventId\":%lld," GAMEF "\"userId\":\"%s\",\"eventType\":\"MATCH_END\","
                      "\"timestamp\":\"%s\"}",
                      j, user, ts);
        return "wrong_type:eventId";
    case 8:
        bm_buf_printf(b, HEAD "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\"}",
                      j, user, ts);
        return "missing_field:gameId";
    case 9:
        bm_buf_printf(b, HEAD GAMEF "\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\"}", j, ts);
        return "missing_field:userId";
    case 10:
        bm_buf_printf(b, HEAD GAMEF "\"userId\":\"%s\",\"timestamp\":\"%s\"}", j, user, ts);
        return "missing_field:eventType";
    case 11:
        bm_buf_printf(b, HEAD GAMEF "\"userId\":\"%s\",\"eventType\":\"MATCH_END\"}", j, user);
        return "missing_field:timestamp";
    case 12:
        bm_buf_printf(
            b, HEAD GAMEF "\"userId\":\"\",\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\"}", j,
            ts);
        return "bad_length:userId";
    case 13: { /* over 64 KiB: a real event with a large pad */
        bm_buf_printf(b,
                      HEAD GAMEF
                      "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\","
                      "\"data\":{\"score\":1,\"pad\":\"",
                      j, user, ts);
        long n = bm_e2e_rng_range(r, 65536, 80000);
        for (long i = 0; i < n; i++)
            bm_buf_append(b, "x", 1);
        bm_buf_puts(b, "\"}}");
        return "too_large";
    }
    case 14:
        now_ts(-40LL * 86400 * 1000, ts, sizeof ts);
        bm_buf_printf(
            b, HEAD GAMEF "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\"}", j,
            user, ts);
        return "timestamp_too_old";
    case 15:
        now_ts(86400LL * 1000, ts, sizeof ts);
        bm_buf_printf(
            b, HEAD GAMEF "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\"}", j,
            user, ts);
        return "timestamp_in_future";
    case 16:
        bm_buf_printf(b,
                      HEAD GAMEF "\"userId\":\"%s\",\"eventType\":\"MATCH_END\","
                                 "\"timestamp\":\"2026-02-30T10:00:00Z\"}",
                      j, user);
        return "bad_timestamp";
    case 17: /* two userIds: a filter must never see one and the scorer the other */
        bm_buf_printf(b,
                      HEAD GAMEF "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"userId\":\"h1\","
                                 "\"timestamp\":\"%s\"}",
                      j, user, ts);
        return "invalid_json";
    case 18:
        bm_buf_puts(b, j % 2 ? "[1,2,3]" : "[{\"userId\":\"h1\"}]");
        return "not_an_object";
    case 19: {
        static const char *const scalars[] = {"\"str\"", "42", "null", "true", ""};
        bm_buf_puts(b, scalars[j % 5]);
        return "invalid_json";
    }
    case 20: /* trailing bytes after a complete object */
        bm_buf_printf(b,
                      HEAD GAMEF
                      "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"timestamp\":\"%s\"}"
                      "}{",
                      j, user, ts);
        return "invalid_json";
    case 21: /* nesting deeper than any parser should follow */
        bm_buf_printf(b, HEAD GAMEF "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"data\":", j,
                      user);
        for (int i = 0; i < 5000; i++)
            bm_buf_puts(b, "{\"a\":");
        bm_buf_puts(b, "1");
        for (int i = 0; i < 5000; i++)
            bm_buf_puts(b, "}");
        bm_buf_printf(b, ",\"timestamp\":\"%s\"}", ts);
        return "invalid_json";
    case 22: /* not UTF-8 inside a string */
        bm_buf_printf(b,
                      HEAD GAMEF "\"userId\":\"%s\xff\xfe\",\"eventType\":\"MATCH_END\","
                                 "\"timestamp\":\"%s\"}",
                      j, user, ts);
        return "invalid_json";
    case 23: /* an escaped NUL in the user id */
        bm_buf_printf(b,
                      HEAD GAMEF "\"userId\":\"h1\\u0000admin\",\"eventType\":\"MATCH_END\","
                                 "\"timestamp\":\"%s\"}",
                      j, ts);
        return "invalid_json";
    case 24: /* a number no double holds */
        bm_buf_printf(b,
                      HEAD GAMEF
                      "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"data\":{\"score\":"
                      "1e99999},\"timestamp\":\"%s\"}",
                      j, user, ts);
        return "invalid_json";
    default:
        bm_buf_printf(b,
                      HEAD GAMEF "\"userId\":\"%s\",\"eventType\":\"MATCH_END\",\"data\":null,"
                                 "\"timestamp\":\"%s\"}",
                      j, user, ts);
        return "wrong_type:data";
    }
#undef HEAD
#undef GAMEF
}
#define BAD_KINDS 26

static void remember(hostile_stream *hs, const void *p, size_t n, const char *reason)
{
    if (hs->nbad == hs->capbad) {
        size_t cap = hs->capbad ? hs->capbad * 2 : 256;
        hostile_msg *nv = realloc(hs->bad, cap * sizeof *nv);
        if (!nv)
            bm_e2e_fail("out of memory");
        hs->bad = nv;
        hs->capbad = cap;
    }
    hostile_msg *m = &hs->bad[hs->nbad++];
    memset(m, 0, sizeof *m);
    m->hash = fnv(p, n);
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(p, n, d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(m->sha + 2 * i, 3, "%02x", d[i]);
    m->len = n;
    snprintf(m->reason, sizeof m->reason, "%s", reason);
}

void hostile_stream_produce(bm_e2e *e, hostile_stream *hs, bm_e2e_expect *x, uint64_t seed)
{
    memset(hs, 0, sizeof *hs);
    bm_e2e_rng r;
    bm_e2e_rng_seed(&r, seed);
    rd_kafka_t *p = bm_e2e_producer(e);
    /* Sent valid events, kept for re-sending byte-identical duplicates. */
    valid_ev *sent = calloc(VALID, sizeof *sent);
    if (!sent)
        bm_e2e_fail("out of memory");
    long long nvalid = 0, ndup = 0, nbad = 0, total_bad = BAD_KINDS * 40;
    bm_buf b = {0};
    while (nvalid < VALID || ndup < DUPS || nbad < total_bad) {
        long pick = bm_e2e_rng_range(&r, 0, 99);
        if (pick < 70 && nvalid < VALID) {
            valid_ev *v = &sent[nvalid];
            make_valid(&r, nvalid, v);
            bm_e2e_produce(p, v->user, v->json, strlen(v->json));
            bm_e2e_expect_add(x, v->user, HOSTILE_GAME, v->type, v->names, v->values, v->n);
            nvalid++;
        } else if (pick < 75 && ndup < DUPS && nvalid > 0) {
            valid_ev *v = &sent[bm_e2e_rng_range(&r, 0, (long)nvalid - 1)];
            bm_e2e_produce(p, v->user, v->json, strlen(v->json));
            x->dups++;
            ndup++;
        } else if (pick >= 75 && nbad < total_bad) {
            bm_buf_reset(&b);
            const char *reason = make_bad(&r, (int)(nbad % BAD_KINDS), nbad, &b);
            char key[32];
            user_name((int)bm_e2e_rng_range(&r, 0, USERS - 1), key, sizeof key);
            /* Some without a key, one with no value at all. */
            const char *k = nbad % 17 == 0 ? NULL : key;
            if (nbad == 5)
                bm_e2e_produce(p, k, NULL, 0);
            else
                bm_e2e_produce(p, k, b.p ? b.p : "", b.len);
            remember(hs, nbad == 5 ? "" : (b.p ? b.p : ""), nbad == 5 ? 0 : b.len,
                     nbad == 5 ? "invalid_json" : reason);
            x->bad++;
            nbad++;
        }
    }
    if (b.oom)
        bm_e2e_fail("out of memory");
    bm_buf_free(&b);
    free(sent);
    bm_e2e_producer_close(p);
    hs->produced = nvalid + ndup + nbad;
}

void hostile_stream_free(hostile_stream *hs)
{
    free(hs->bad);
    memset(hs, 0, sizeof *hs);
}

static int unhex(const char *h, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i += 2) {
        unsigned v = 0;
        if (sscanf(h + i, "%2x", &v) != 1)
            return -1;
        out[i / 2] = (unsigned char)v;
    }
    return 0;
}

/* Matches one DLQ record with a malformed message produced, by its bytes. */
static void check_record(hostile_stream *hs, const char *json, size_t *matched)
{
    json_error_t jerr;
    /* The original may hold NUL bytes (kept as \u0000). */
    json_t *j = json_loads(json, JSON_ALLOW_NUL, &jerr);
    if (!j)
        bm_e2e_fail("DLQ record is not JSON (%s): %.200s", jerr.text, json);
    const char *reason = json_string_value(json_object_get(j, "reason"));
    json_t *orig = json_object_get(j, "original");
    const char *hex = json_string_value(json_object_get(j, "originalHex"));
    if (!reason || !*reason || !json_is_integer(json_object_get(j, "partition")) ||
        !json_is_integer(json_object_get(j, "offset")) || (!json_is_string(orig) && !hex))
        bm_e2e_fail("DLQ record lacks reason, partition, offset or original: %.300s", json);
    unsigned char *bytes;
    size_t n;
    if (json_is_string(orig)) {
        n = json_string_length(orig);
        bytes = malloc(n + 1);
        if (bytes)
            memcpy(bytes, json_string_value(orig), n);
    } else {
        n = strlen(hex) / 2;
        bytes = malloc(n + 1);
        if (bytes && unhex(hex, n * 2, bytes) != 0)
            bm_e2e_fail("originalHex is not hex");
    }
    if (!bytes)
        bm_e2e_fail("out of memory");
    uint64_t h = fnv(bytes, n);
    free(bytes);
    /* The record names the whole original by length and SHA-256 and keeps at most
     * security.dlq_original_max_bytes (4096) of it, so it always fits the broker. */
    const char *sha = json_string_value(json_object_get(j, "originalSha256"));
    json_int_t full = json_integer_value(json_object_get(j, "originalLength"));
    int cut = json_is_true(json_object_get(j, "originalTruncated"));
    if (!sha || strlen(sha) != 64 || n > 4096 || (cut ? (size_t)full <= n : (size_t)full != n))
        bm_e2e_fail("DLQ record: bad originalLength/originalSha256/originalTruncated or more "
                    "than 4096 bytes kept: %.300s",
                    json);
    for (size_t i = 0; i < hs->nbad; i++) {
        hostile_msg *m = &hs->bad[i];
        if (m->matched || strcmp(m->sha, sha) != 0 || m->len != (size_t)full ||
            (!cut && m->hash != h))
            continue;
        if (strncmp(reason, m->reason, strlen(m->reason)) != 0)
            continue; /* an identical message of another kind may follow */
        m->matched = 1;
        (*matched)++;
        json_decref(j);
        return;
    }
    bm_e2e_fail("DLQ record with reason \"%s\" matches no malformed message produced (or the "
                "reason is wrong): %.300s",
                reason, json);
}

void hostile_check_dlq(bm_e2e *e, hostile_stream *hs)
{
    PGresult *r = PQexec(e->db, "SELECT payload FROM outbox WHERE topic = 'game.events.dlq'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        bm_e2e_fail("outbox: %s", PQerrorMessage(e->db));
    size_t matched = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        char *payload = strdup(PQgetvalue(r, row, 0));
        char *save = NULL;
        for (char *line = strtok_r(payload, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            char *tab = strchr(line, '\t');
            if (!tab)
                bm_e2e_fail("outbox line without a key: %.200s", line);
            check_record(hs, tab + 1, &matched);
        }
        free(payload);
    }
    PQclear(r);
    for (size_t i = 0; i < hs->nbad; i++)
        if (!hs->bad[i].matched)
            bm_e2e_fail("malformed message %zu (%zu bytes, want reason %s) is not in the DLQ", i,
                        hs->bad[i].len, hs->bad[i].reason);
    assert_int_equal(matched, hs->nbad);
}

long long hostile_levelups(bm_e2e *e, bm_e2e_expect *x, bm_e2e_expect *even, long long *n,
                           long long *odd)
{
    bm_e2e_rng r;
    bm_e2e_rng_seed(&r, 99);
    rd_kafka_t *p = bm_e2e_producer(e);
    const char *lname[] = {"level"}, *ename[] = {"even"};
    char json[512], user[32], ts[40];
    *n = *odd = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(user, sizeof user, "p%d", (int)bm_e2e_rng_range(&r, 0, 99));
        long long level = bm_e2e_rng_range(&r, 1, 60);
        now_ts(-bm_e2e_rng_range(&r, 0, 600000), ts, sizeof ts);
        snprintf(json, sizeof json,
                 "{\"eventId\":\"lv-%d\",\"gameId\":\"" HOSTILE_GAME "\",\"userId\":\"%s\","
                 "\"eventType\":\"LEVEL_UP\",\"data\":{\"level\":%lld},\"timestamp\":\"%s\"}",
                 i, user, level, ts);
        bm_e2e_produce(p, user, json, strlen(json));
        bm_e2e_expect_add(x, user, HOSTILE_GAME, "LEVEL_UP", lname, &level, 1);
        if (level % 2 == 0)
            bm_e2e_expect_add(even, user, HOSTILE_GAME, "LEVEL_UP", ename, &level, 1);
        else
            (*odd)++;
        (*n)++;
    }
    bm_e2e_producer_close(p);
    return *n;
}
