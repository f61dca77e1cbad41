#include "e2e/gateway/gw_jwt.h"

#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "e2e/common/e2e.h"

EVP_PKEY *gw_rsa_new(void)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    if (!k)
        bm_e2e_fail("EVP_RSA_gen failed");
    return k;
}

char *gw_rsa_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || PEM_write_bio_PUBKEY(b, k) != 1)
        bm_e2e_fail("PEM_write_bio_PUBKEY failed");
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = strndup(p, (size_t)n);
    BIO_free(b);
    return out;
}

char *gw_b64url(const void *data, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        bm_e2e_fail("out of memory");
    int m = EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    while (m > 0 && out[m - 1] == '=')
        m--;
    out[m] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static char *bn_b64(EVP_PKEY *k, const char *name)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(k, name, &bn) != 1)
        bm_e2e_fail("EVP_PKEY_get_bn_param %s", name);
    unsigned char buf[600];
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    return gw_b64url(buf, (size_t)n);
}

char *gw_rsa_jwk(EVP_PKEY *k, const char *kid)
{
    char *n = bn_b64(k, OSSL_PKEY_PARAM_RSA_N), *e = bn_b64(k, OSSL_PKEY_PARAM_RSA_E);
    char *out = malloc(strlen(n) + strlen(e) + strlen(kid) + 100);
    sprintf(out, "{\"kid\":\"%s\",\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\"}",
            kid, n, e);
    free(n);
    free(e);
    return out;
}

static char *signing_input(const char *h, const char *p)
{
    char *hb = gw_b64url(h, strlen(h)), *pb = gw_b64url(p, strlen(p));
    char *s = malloc(strlen(hb) + strlen(pb) + 2);
    sprintf(s, "%s.%s", hb, pb);
    free(hb);
    free(pb);
    return s;
}

static char *join(char *input, const unsigned char *sig, size_t n)
{
    char *sb = gw_b64url(sig, n);
    char *t = malloc(strlen(input) + strlen(sb) + 2);
    sprintf(t, "%s.%s", input, sb);
    free(sb);
    free(input);
    return t;
}

char *gw_jwt_rs256(EVP_PKEY *key, const char *header_json, const char *payload_json)
{
    char *in = signing_input(header_json, payload_json);
    unsigned char sig[512];
    size_t n = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &n, (unsigned char *)in, strlen(in)) != 1)
        bm_e2e_fail("RS256 signing failed");
    EVP_MD_CTX_free(md);
    return join(in, sig, n);
}

char *gw_jwt_hs256(const void *secret, size_t len, const char *header_json,
                   const char *payload_json)
{
    char *in = signing_input(header_json, payload_json);
    unsigned char sig[64];
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), secret, (int)len, (unsigned char *)in, strlen(in), sig, &n))
        bm_e2e_fail("HMAC failed");
    return join(in, sig, n);
}

char *gw_jwt_none(const char *header_json, const char *payload_json)
{
    char *in = signing_input(header_json, payload_json);
    char *t = malloc(strlen(in) + 2);
    sprintf(t, "%s.", in);
    free(in);
    return t;
}

void gw_claims(char *buf, size_t cap, const char *project, const char *aud, const char *sub,
               const char *role, long iat_off, long exp_off)
{
    long now = (long)time(NULL);
    snprintf(buf, cap,
             "{\"iss\":\"https://securetoken.google.com/%s\",\"aud\":\"%s\",\"sub\":\"%s\","
             "\"role\":\"%s\",\"iat\":%ld,\"auth_time\":%ld,\"exp\":%ld}",
             project, aud, sub, role, now + iat_off, now + iat_off, now + exp_off);
}
