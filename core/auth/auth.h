/*
 * Credentials the gateway accepts: per-game API keys (only their SHA-256 is
 * stored) and Firebase ID tokens (RS256 JWTs verified offline against a
 * configured file of certificates). OpenSSL does the hashing, base64 and RSA.
 */
#ifndef BM_AUTH_H
#define BM_AUTH_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define BM_APIKEY_PREFIX "bmk_"
#define BM_APIKEY_LEN 68 /* "bmk_" + 64 hex digits */

/* Lower-case hex SHA-256 of s (65 bytes with the NUL). */
void bm_auth_sha256_hex(const void *data, size_t len, char out[65]);

/* A random RFC 4122 version 4 UUID (37 bytes with the NUL); 0 or -1. */
int bm_auth_uuid(char out[37]);

/* 1 when s is a UUID in canonical text form (8-4-4-4-12 hex). */
int bm_auth_is_uuid(const char *s);

/*
 * Creates an API key for the game with this identifier (studio_id, when not
 * NULL, must own the game): writes the key (shown once) to key_out and its
 * id to *id_out. Returns 0, 1 when there is no such game, -1 with err.
 */
int bm_apikey_create(PGconn *c, const char *game, const char *studio_id, char key_out[80],
                     long long *id_out, char *err, size_t errlen);

/* A set of verification keys by kid, loaded from a file. */
typedef struct bm_jwks bm_jwks;

/*
 * Loads `path`: either a JSON object {"<kid>": "<PEM certificate or public
 * key>", ...} (the format Google publishes for Firebase) or a JWKS document
 * {"keys": [{"kid", "kty": "RSA", "n", "e"}, ...]}. NULL with err.
 */
bm_jwks *bm_jwks_load(const char *path, char *err, size_t errlen);
void bm_jwks_free(bm_jwks *k);
size_t bm_jwks_count(const bm_jwks *k);

/* What a verified Firebase ID token says. */
typedef struct bm_jwt_claims {
    char sub[129];
    char role[64]; /* "role" claim, "" when absent */
    char email[256];
    json_t *payload; /* the whole payload (owned; bm_jwt_claims_clear) */
} bm_jwt_claims;

/*
 * Verifies a Firebase ID token: header alg RS256 with a kid present in keys,
 * the signature over header.payload, iss = https://securetoken.google.com/<project>,
 * aud = <project>, exp > now - skew, iat and auth_time <= now + skew, sub a
 * non-empty string. 0 with claims filled, or -1 with a short reason.
 */
int bm_jwt_verify(const bm_jwks *keys, const char *token, const char *project, int64_t now_s,
                  int skew_s, bm_jwt_claims *claims, char *reason, size_t reasonlen);
void bm_jwt_claims_clear(bm_jwt_claims *c);

/* base64url without padding, decoded; malloc'd with a NUL after *len bytes, or NULL. */
unsigned char *bm_b64url_decode(const char *s, size_t n, size_t *len);

#endif
