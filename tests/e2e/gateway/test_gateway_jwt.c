/*
 * Firebase ID token verification (core/auth) with keys made at test time:
 * valid, expired, not yet valid, wrong aud, wrong iss, unknown kid, alg none,
 * HS256 signed with the public key's PEM as the secret (key confusion),
 * tampered payload, wrong signer, missing sub; certificates as a PEM map and
 * as a JWKS document.
 */
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

#include "auth/auth.h"
#include "e2e/common/e2e.h"
#include "e2e/gateway/gw_jwt.h"

#define PROJECT "bm-test-project"
#define HDR "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}"

static EVP_PKEY *g_key, *g_other;
static bm_jwks *g_pem, *g_jwks;

static bm_jwks *load(const char *text)
{
    char path[] = "/tmp/bm-jwt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    bm_e2e_write_file(path, text, strlen(text));
    char err[256];
    bm_jwks *k = bm_jwks_load(path, err, sizeof err);
    unlink(path);
    if (!k)
        bm_e2e_fail("bm_jwks_load: %s", err);
    return k;
}

static int group_setup(void **state)
{
    g_key = gw_rsa_new();
    g_other = gw_rsa_new();
    char *pem = gw_rsa_pem(g_key);
    json_t *m = json_pack("{s:s}", "k1", pem);
    char *text = json_dumps(m, 0);
    g_pem = load(text);
    free(text);
    json_decref(m);
    free(pem);
    char *jwk = gw_rsa_jwk(g_key, "k1");
    char doc[4096];
    snprintf(doc, sizeof doc, "{\"keys\":[%s]}", jwk);
    free(jwk);
    g_jwks = load(doc);
    return 0;
}

static int group_teardown(void **state)
{
    bm_jwks_free(g_pem);
    bm_jwks_free(g_jwks);
    EVP_PKEY_free(g_key);
    EVP_PKEY_free(g_other);
    return 0;
}

/* 0 when accepted; else -1 and the reason must contain `why`. */
static int verify(const bm_jwks *k, const char *token, const char *why)
{
    bm_jwt_claims c;
    char reason[128] = "";
    int rc = bm_jwt_verify(k, token, PROJECT, (int64_t)time(NULL), 60, &c, reason, sizeof reason);
    if (rc == 0) {
        assert_string_equal(c.sub, "user-1");
        assert_string_equal(c.role, "studio_owner");
        bm_jwt_claims_clear(&c);
    } else if (why && !strstr(reason, why)) {
        bm_e2e_fail("refused for '%s', expected '%s'", reason, why);
    }
    return rc;
}

static void check(const char *hdr, const char *claims, EVP_PKEY *signer, int expect_ok,
                  const char *why)
{
    char *t = gw_jwt_rs256(signer, hdr, claims);
    assert_int_equal(verify(g_pem, t, why), expect_ok ? 0 : -1);
    assert_int_equal(verify(g_jwks, t, why), expect_ok ? 0 : -1);
    free(t);
}

static void test_matrix(void **state)
{
    char c[1024];
    gw_claims(c, sizeof c, PROJECT, PROJECT, "user-1", "studio_owner", -10, 3600);
    check(HDR, c, g_key, 1, NULL);
    gw_claims(c, sizeof c, PROJECT, PROJECT, "user-1", "studio_owner", -7200, -3600);
    check(HDR, c, g_key, 0, "expired");
    gw_claims(c, sizeof c, PROJECT, PROJECT, "user-1", "studio_owner", 3600, 7200);
    check(HDR, c, g_key, 0, "future");
    gw_claims(c, sizeof c, PROJECT, "another-project", "user-1", "studio_owner", -10, 3600);
    check(HDR, c, g_key, 0, "aud");
    gw_claims(c, sizeof c, "another-project", PROJECT, "user-1", "studio_owner", -10, 3600);
    check(HDR, c, g_key, 0, "iss");
    gw_claims(c, sizeof c, PROJECT, PROJECT, "", "studio_owner", -10, 3600);
    check(HDR, c, g_key, 0, "sub");
    gw_claims(c, sizeof c, PROJECT, PROJECT, "user-1", "studio_owner", -10, 3600);
    check("{\"alg\":\"RS256\",\"kid\":\"k9\"}", c, g_key, 0, "kid");
    check("{\"alg\":\"RS256\"}", c, g_key, 0, "kid");
    check(HDR, c, g_other, 0, "signature");
    check("{\"alg\":\"RS512\",\"kid\":\"k1\"}", c, g_key, 0, "alg");

    /* alg none, with and without a signature part. */
    char *t = gw_jwt_none("{\"alg\":\"none\",\"kid\":\"k1\"}", c);
    assert_int_equal(verify(g_pem, t, "alg"), -1);
    free(t);
    t = gw_jwt_none("{\"alg\":\"none\"}", c);
    assert_int_equal(verify(g_pem, t, "alg"), -1);
    free(t);
    /* HS256 with the public key's PEM as the HMAC secret (key confusion). */
    char *pem = gw_rsa_pem(g_key);
    t = gw_jwt_hs256(pem, strlen(pem), "{\"alg\":\"HS256\",\"kid\":\"k1\"}", c);
    assert_int_equal(verify(g_pem, t, "alg"), -1);
    free(t);
    free(pem);
    /* Tampered payload: a valid token whose payload is swapped for another role. */
    t = gw_jwt_rs256(g_key, HDR, c);
    char evil[1024];
    gw_claims(evil, sizeof evil, PROJECT, PROJECT, "user-2", "community_admin", -10, 3600);
    char *pb = gw_b64url(evil, strlen(evil));
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    char forged[4096];
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(d1 - t), t, pb, d2);
    assert_int_equal(verify(g_pem, forged, "signature"), -1);
    /* A flipped bit of the signature. */
    t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(g_pem, t, "signature"), -1);
    free(pb);
    free(t);
    /* Garbage. */
    assert_int_equal(verify(g_pem, "not-a-token", "malformed"), -1);
    assert_int_equal(verify(g_pem, "a.b.c.d", "malformed"), -1);
    assert_int_equal(verify(g_pem, "..", NULL), -1);
}

static void test_bad_cert_files(void **state)
{
    char path[] = "/tmp/bm-jwt-XXXXXX", err[256];
    int fd = mkstemp(path);
    close(fd);
    const char *bad[] = {"[1,2]", "{\"k1\": 5}", "{\"k1\": \"-----BEGIN nothing\"}",
                         "{\"keys\":[{\"kid\":\"a\",\"kty\":\"EC\"}]}", "{"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bm_e2e_write_file(path, bad[i], strlen(bad[i]));
        bm_jwks *k = bm_jwks_load(path, err, sizeof err);
        if (k)
            bm_e2e_fail("accepted a bad certificate file: %s", bad[i]);
        assert_true(err[0] != '\0');
    }
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_bad_cert_files),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
