/*
 * Firebase ID tokens verified offline: RS256 only, the key chosen by the
 * header's kid from a file of certificates, then the claims Firebase
 * documents. Anything else (alg none, HS256 with any secret, an unknown kid)
 * is refused before a signature is even looked at.
 */
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

typedef struct jwk {
    char kid[128];
    EVP_PKEY *key;
} jwk;

struct bm_jwks {
    jwk *v;
    size_t n;
};

unsigned char *bm_b64url_decode(const char *s, size_t n, size_t *len)
{
    /* To standard base64 with padding, then OpenSSL's decoder. */
    size_t padded = (n + 3) / 4 * 4;
    char *t = malloc(padded + 1);
    unsigned char *out = malloc(padded / 4 * 3 + 1);
    if (!t || !out || n % 4 == 1)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/' || c == '=')
            goto fail; /* base64url only */
        t[i] = c;
    }
    for (size_t i = n; i < padded; i++)
        t[i] = '=';
    t[padded] = '\0';
    int m = padded ? EVP_DecodeBlock(out, (const unsigned char *)t, (int)padded) : 0;
    if (m < 0)
        goto fail;
    m -= (int)(padded - n); /* EVP_DecodeBlock counts the padding as zero bytes */
    free(t);
    out[m] = '\0';
    *len = (size_t)m;
    return out;
fail:
    free(t);
    free(out);
    return NULL;
}

static EVP_PKEY *pem_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    if (!b)
        return NULL;
    EVP_PKEY *k = NULL;
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (x) {
        k = X509_get_pubkey(x);
        X509_free(x);
    } else {
        (void)BIO_reset(b);
        k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    }
    BIO_free(b);
    return k;
}

static BIGNUM *b64_bn(const char *s)
{
    size_t n = 0;
    unsigned char *raw = s ? bm_b64url_decode(s, strlen(s), &n) : NULL;
    BIGNUM *bn = raw && n ? BN_bin2bn(raw, (int)n, NULL) : NULL;
    free(raw);
    return bn;
}

static EVP_PKEY *jwk_rsa(json_t *j)
{
    BIGNUM *n = b64_bn(json_string_value(json_object_get(j, "n")));
    BIGNUM *e = b64_bn(json_string_value(json_object_get(j, "e")));
    EVP_PKEY *k = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (n && e && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) == 1)
        (void)EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    return k;
}

static int add_key(bm_jwks *k, const char *kid, EVP_PKEY *key, char *err, size_t errlen)
{
    if (!key) {
        snprintf(err, errlen, "kid %s: not a PEM certificate, public key or RSA JWK", kid);
        return -1;
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        snprintf(err, errlen, "kid %s: not an RSA key", kid);
        return -1;
    }
    jwk *v = realloc(k->v, (k->n + 1) * sizeof *v);
    if (!v) {
        EVP_PKEY_free(key);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    k->v = v;
    snprintf(v[k->n].kid, sizeof v[k->n].kid, "%s", kid);
    v[k->n++].key = key;
    return 0;
}

bm_jwks *bm_jwks_load(const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    bm_jwks *k = calloc(1, sizeof *k);
    if (!k || !root || !json_is_object(root)) {
        snprintf(err, errlen, "%s: %s", path, root ? "not a JSON object" : je.text);
        goto fail;
    }
    json_t *keys = json_object_get(root, "keys");
    if (json_is_array(keys)) {
        size_t i;
        json_t *j;
        json_array_foreach(keys, i, j)
        {
            const char *kid = json_string_value(json_object_get(j, "kid"));
            const char *kty = json_string_value(json_object_get(j, "kty"));
            if (!kid || !kty || strcmp(kty, "RSA") != 0) {
                snprintf(err, errlen, "%s: keys[%zu]: needs kid and kty RSA", path, i);
                goto fail;
            }
            if (add_key(k, kid, jwk_rsa(j), err, errlen) != 0)
                goto fail;
        }
    } else {
        const char *kid;
        json_t *pem;
        json_object_foreach(root, kid, pem)
        {
            if (!json_is_string(pem)) {
                snprintf(err, errlen, "%s: %s: not a PEM string", path, kid);
                goto fail;
            }
            if (add_key(k, kid, pem_key(json_string_value(pem)), err, errlen) != 0)
                goto fail;
        }
    }
    json_decref(root);
    return k;
fail:
    json_decref(root);
    bm_jwks_free(k);
    return NULL;
}

void bm_jwks_free(bm_jwks *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        EVP_PKEY_free(k->v[i].key);
    free(k->v);
    free(k);
}

size_t bm_jwks_count(const bm_jwks *k)
{
    return k ? k->n : 0;
}

static json_t *b64_json(const char *s, size_t n)
{
    size_t len;
    unsigned char *raw = bm_b64url_decode(s, n, &len);
    json_t *j = raw ? json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int num_claim(json_t *p, const char *name, int64_t *out)
{
    json_t *v = json_object_get(p, name);
    if (!json_is_number(v))
        return -1;
    *out = (int64_t)json_number_value(v);
    return 0;
}

int bm_jwt_verify(const bm_jwks *keys, const char *token, const char *project, int64_t now_s,
                  int skew_s, bm_jwt_claims *claims, char *reason, size_t reasonlen)
{
    memset(claims, 0, sizeof *claims);
    json_t *hdr = NULL, *pl = NULL;
    unsigned char *sig = NULL;
    EVP_MD_CTX *md = NULL;
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.')) {
        snprintf(reason, reasonlen, "malformed token");
        goto fail;
    }
    if (!(hdr = b64_json(token, (size_t)(d1 - token)))) {
        snprintf(reason, reasonlen, "malformed header");
        goto fail;
    }
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg || strcmp(alg, "RS256") != 0) {
        snprintf(reason, reasonlen, "alg %s refused: only RS256", alg ? alg : "(missing)");
        goto fail;
    }
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    EVP_PKEY *key = NULL;
    for (size_t i = 0; kid && keys && i < keys->n; i++)
        if (strcmp(keys->v[i].kid, kid) == 0)
            key = keys->v[i].key;
    if (!key) {
        snprintf(reason, reasonlen, "unknown kid");
        goto fail;
    }
    size_t siglen;
    sig = bm_b64url_decode(d2 + 1, strlen(d2 + 1), &siglen);
    md = EVP_MD_CTX_new();
    if (!sig || !md || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)token, (size_t)(d2 - token)) !=
            1) {
        snprintf(reason, reasonlen, "bad signature");
        goto fail;
    }
    if (!(pl = b64_json(d1 + 1, (size_t)(d2 - d1 - 1)))) {
        snprintf(reason, reasonlen, "malformed payload");
        goto fail;
    }
    char iss[300];
    snprintf(iss, sizeof iss, "https://securetoken.google.com/%s", project);
    const char *v = json_string_value(json_object_get(pl, "iss"));
    if (!v || strcmp(v, iss) != 0) {
        snprintf(reason, reasonlen, "wrong iss");
        goto fail;
    }
    v = json_string_value(json_object_get(pl, "aud"));
    if (!v || !project[0] || strcmp(v, project) != 0) {
        snprintf(reason, reasonlen, "wrong aud");
        goto fail;
    }
    int64_t exp, iat, auth_time;
    if (num_claim(pl, "exp", &exp) || num_claim(pl, "iat", &iat) ||
        num_claim(pl, "auth_time", &auth_time)) {
        snprintf(reason, reasonlen, "exp, iat and auth_time are required");
        goto fail;
    }
    if (exp <= now_s - skew_s) {
        snprintf(reason, reasonlen, "expired");
        goto fail;
    }
    if (iat > now_s + skew_s || auth_time > now_s + skew_s) {
        snprintf(reason, reasonlen, "issued in the future");
        goto fail;
    }
    v = json_string_value(json_object_get(pl, "sub"));
    if (!v || !*v || strlen(v) >= sizeof claims->sub) {
        snprintf(reason, reasonlen, "sub missing");
        goto fail;
    }
    snprintf(claims->sub, sizeof claims->sub, "%s", v);
    v = json_string_value(json_object_get(pl, "role"));
    snprintf(claims->role, sizeof claims->role, "%s", v ? v : "");
    v = json_string_value(json_object_get(pl, "email"));
    snprintf(claims->email, sizeof claims->email, "%s", v ? v : "");
    claims->payload = pl;
    json_decref(hdr);
    free(sig);
    EVP_MD_CTX_free(md);
    return 0;
fail:
    json_decref(hdr);
    json_decref(pl);
    free(sig);
    EVP_MD_CTX_free(md);
    return -1;
}

void bm_jwt_claims_clear(bm_jwt_claims *c)
{
    json_decref(c->payload);
    memset(c, 0, sizeof *c);
}
