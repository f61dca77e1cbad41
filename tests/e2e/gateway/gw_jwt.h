/* Test-time signing keys and tokens (OpenSSL), for the gateway's ID token checks. */
#ifndef BM_TEST_GW_JWT_H
#define BM_TEST_GW_JWT_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh 2048-bit RSA key; fails the test on error. */
EVP_PKEY *gw_rsa_new(void);
/* Its public key as PEM (SubjectPublicKeyInfo); malloc'd. */
char *gw_rsa_pem(EVP_PKEY *k);
/* Its public key as a JWKS entry {"kid","kty","n","e"} text; malloc'd. */
char *gw_rsa_jwk(EVP_PKEY *k, const char *kid);

/* base64url without padding; malloc'd. */
char *gw_b64url(const void *data, size_t n);

/* header.payload signed with RS256 (key) or HS256 (hmac_secret) or unsigned (alg "none"). */
char *gw_jwt_rs256(EVP_PKEY *key, const char *header_json, const char *payload_json);
char *gw_jwt_hs256(const void *secret, size_t len, const char *header_json,
                   const char *payload_json);
char *gw_jwt_none(const char *header_json, const char *payload_json);

/* A Firebase-shaped payload for project, sub, role, with times relative to now. */
void gw_claims(char *buf, size_t cap, const char *project, const char *aud, const char *sub,
               const char *role, long iat_off, long exp_off);

#endif
