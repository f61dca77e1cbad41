/*
 * Hostile and slow clients: a bounded random-body test over the event body,
 * the admin JSON and the claim body (no crash, no 5xx, every answer a
 * well-formed error or an acceptance), and many connections that send a byte
 * at a time or nothing at all while normal clients are served promptly.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/gateway/gw_http.h"
#include "e2e/gateway/gw_jwt.h"

#define PROJECT "bm-robust"

static const char *const k_seeds[] = {
    "{\"gameId\":\"gw-game\",\"userId\":\"u1\",\"eventType\":\"MATCH_END\",\"timestamp\":"
    "\"2026-11-28T10:00:00Z\",\"data\":{\"score\":5}}",
    "{\"events\":[{\"gameId\":\"gw-game\",\"userId\":\"u2\",\"eventType\":\"X\",\"timestamp\":"
    "\"2026-11-28T10:00:00.5+01:00\"}]}",
    "{\"name\":\"n\",\"gameId\":\"g\",\"webhookUrl\":\"http://x\"}",
    "{\"tier\":3,\"premium\":true}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "{\"events\":[1,\"a\",null,{},[],{\"gameId\":{}}]}",
    "{\"gameId\":\"gw-game\",\"userId\":\"\\u0000\\ud800\",\"eventType\":\"A\",\"timestamp\":"
    "\"9999-99-99T99:99:99Z\",\"data\":{\"x\":1e999999}}",
};

static void mutate(bm_e2e_rng *rng, char *buf, size_t *len, size_t cap)
{
    int ops = (int)bm_e2e_rng_range(rng, 1, 8);
    static const char tokens[] = "{}[]\":,0123456789.eE+-\\nulltrufas \t\x01\xff";
    for (int i = 0; i < ops; i++) {
        size_t pos = *len ? (size_t)bm_e2e_rng_range(rng, 0, (long)*len - 1) : 0;
        switch (bm_e2e_rng_range(rng, 0, 3)) {
        case 0: /* replace a byte */
            if (*len)
                buf[pos] = (char)(bm_e2e_rng_next(rng) & 1 ? tokens[bm_e2e_rng_next(rng) % 38]
                                                           : (char)bm_e2e_rng_next(rng));
            break;
        case 1: /* insert a token */
            if (*len + 1 < cap) {
                memmove(buf + pos + 1, buf + pos, *len - pos);
                buf[pos] = tokens[bm_e2e_rng_next(rng) % 38];
                (*len)++;
            }
            break;
        case 2: /* delete a run */
            if (*len) {
                size_t n = (size_t)bm_e2e_rng_range(rng, 1, 8);
                if (pos + n > *len)
                    n = *len - pos;
                memmove(buf + pos, buf + pos + n, *len - pos - n);
                *len -= n;
            }
            break;
        default: /* duplicate a slice */
            if (*len && *len * 2 < cap) {
                size_t n = (size_t)bm_e2e_rng_range(rng, 1, (long)(*len - pos));
                memmove(buf + pos + n, buf + pos, *len - pos);
                *len += n;
            }
            break;
        }
    }
}

static void test_random_bodies(void **state)
{
    gw_world *w = *state;
    char certs[200];
    snprintf(certs, sizeof certs, "/tmp/bm-robust-certs-%d.json", (int)getpid());
    EVP_PKEY *k = gw_rsa_new();
    char *pem = gw_rsa_pem(k);
    json_t *m = json_pack("{s:s}", "k1", pem);
    char *text = json_dumps(m, 0);
    bm_e2e_write_file(certs, text, strlen(text));
    free(text);
    json_decref(m);
    free(pem);
    const char *env[] = {"BM_AUTH_FIREBASE_PROJECT", PROJECT, "BM_AUTH_CERTS_FILE", certs, NULL};
    gw_world_start(w, "gw_robust", env);
    char c[1024];
    gw_claims(c, sizeof c, PROJECT, PROJECT, "uid-a", "studio_owner", -5, 3600);
    char *tok = gw_jwt_rs256(k, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", c);
    char auth_key[200], auth_tok[3000];
    snprintf(auth_key, sizeof auth_key, "Authorization: Bearer %s", w->key);
    snprintf(auth_tok, sizeof auth_tok, "Authorization: Bearer %s", tok);
    const char *hk[] = {auth_key, "Content-Type: application/json", NULL};
    const char *ht[] = {auth_tok, "Content-Type: application/json", NULL};
    char claim[200];
    snprintf(claim, sizeof claim, "/v1/battlepasses/%s/users/u1/claim", w->board);
    bm_e2e_rng rng;
    bm_e2e_rng_seed(&rng, 20261128);
    char buf[16384];
    int n2xx = 0, n4xx = 0;
    for (int i = 0; i < 600; i++) {
        const char *seed = k_seeds[i % (sizeof k_seeds / sizeof k_seeds[0])];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        if (i % 10 != 0)
            mutate(&rng, buf, &len, sizeof buf);
        const char *path = i % 3 == 0 ? "/v1/admin/games" : i % 3 == 1 ? "/v1/events" : claim;
        gw_resp r;
        gw_req(w, &r, "POST", path, i % 3 == 0 ? ht : hk, buf, len);
        if (r.status >= 500 || r.status < 200)
            bm_e2e_fail("body %d to %s: %ld %s", i, path, r.status, r.body);
        if (r.status >= 400 && !json_is_string(json_object_get(r.json, "error")))
            bm_e2e_fail("body %d: %ld without a JSON error: %s", i, r.status, r.body);
        n2xx += r.status < 300;
        n4xx += r.status >= 400;
        gw_resp_free(&r);
    }
    fprintf(stderr, "random bodies: %d accepted, %d refused\n", n2xx, n4xx);
    assert_true(n2xx > 0 && n4xx > 0);
    gw_resp r;
    gw_req(w, &r, "GET", "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    gw_resp_free(&r);
    free(tok);
    EVP_PKEY_free(k);
    unlink(certs);
    gw_world_stop(w);
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        bm_e2e_fail("connect to the gateway failed");
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void test_slow_clients(void **state)
{
    gw_world *w = *state;
    const char *env[] = {"BM_HTTP_THREADS", "2", NULL};
    gw_world_start(w, "gw_slow", env);
    enum { NSLOW = 64, NIDLE = 64 };
    int slow[NSLOW], idle[NIDLE];
    for (int i = 0; i < NSLOW; i++)
        slow[i] = dial(w->port);
    for (int i = 0; i < NIDLE; i++)
        idle[i] = dial(w->port);
    const char req[] = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100000\r\n\r\n{\"events\":[";
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", w->key);
    const char *h[] = {auth, NULL};
    char path[200];
    snprintf(path, sizeof path, "/v1/leaderboards/%s", w->board);
    int64_t worst = 0;
    size_t sent = 0;
    for (int round = 0; round < 40; round++) {
        /* Every slow client sends its next byte (a byte per 100 ms each). */
        for (int i = 0; i < NSLOW; i++)
            if (send(slow[i], req + (sent % (sizeof req - 1)), 1, MSG_NOSIGNAL) < 0)
                bm_e2e_fail("slow client %d was disconnected early", i);
        sent++;
        int64_t t0 = bm_e2e_now_ms();
        gw_resp r;
        gw_req(w, &r, "GET", path, h, NULL, 0);
        int64_t dt = bm_e2e_now_ms() - t0;
        assert_int_equal(r.status, 200);
        gw_resp_free(&r);
        if (dt > worst)
            worst = dt;
        bm_e2e_sleep_ms(100);
    }
    fprintf(stderr, "slow clients: %d trickling, %d idle; worst normal request %lld ms\n", NSLOW,
            NIDLE, (long long)worst);
    assert_true(worst < 1000);
    for (int i = 0; i < NSLOW; i++)
        close(slow[i]);
    for (int i = 0; i < NIDLE; i++)
        close(idle[i]);
    gw_world_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_bodies, gw_world_setup, gw_world_teardown),
        cmocka_unit_test_setup_teardown(test_slow_clients, gw_world_setup, gw_world_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
