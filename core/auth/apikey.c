/* API keys: random, shown once, stored as SHA-256; UUIDs and hashes for the gateway. */
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void bm_auth_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    hex(md, 32, out);
}

int bm_auth_uuid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char h[33];
    hex(b, 16, h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
    return 0;
}

int bm_auth_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

int bm_apikey_create(PGconn *c, const char *game, const char *studio_id, char key_out[80],
                     long long *id_out, char *err, size_t errlen)
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        snprintf(err, errlen, "no randomness available");
        return -1;
    }
    char h[65], digest[65];
    hex(raw, sizeof raw, h);
    snprintf(key_out, 80, BM_APIKEY_PREFIX "%s", h);
    bm_auth_sha256_hex(key_out, strlen(key_out), digest);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.12s", key_out);
    const char *p[4] = {game, digest, prefix, studio_id};
    /* One statement: the game must exist (and belong to the studio when scoped). */
    PGresult *r = PQexecParams(c,
                               "INSERT INTO api_keys (game_id, key_hash, key_prefix) "
                               "SELECT id, decode($2, 'hex'), $3 FROM games WHERE identifier = $1 "
                               "AND ($4::uuid IS NULL OR studio_id = $4::uuid) RETURNING id",
                               4, NULL, p, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
    } else if (PQntuples(r) == 0) {
        rc = 1;
    } else {
        *id_out = atoll(PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    if (rc != 0)
        memset(key_out, 0, 80);
    return rc;
}
