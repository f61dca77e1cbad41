/* Signed webhook delivery (see whsend.h). */
#include "whsend.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <brightmatter/module.h>

#define RESPONSE_MAX 1024
#define POOL_MAX 256

struct bm_whsend {
    pthread_mutex_t mu;
    CURL *free_handles[POOL_MAX];
    int nfree;
};

bm_whsend *bm_whsend_new(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    bm_whsend *w = calloc(1, sizeof *w);
    if (!w) {
        curl_global_cleanup();
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    return w;
}

void bm_whsend_free(bm_whsend *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nfree; i++)
        curl_easy_cleanup(w->free_handles[i]);
    pthread_mutex_destroy(&w->mu);
    free(w);
    curl_global_cleanup();
}

static CURL *handle_take(bm_whsend *w)
{
    CURL *c = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->nfree)
        c = w->free_handles[--w->nfree];
    pthread_mutex_unlock(&w->mu);
    if (c)
        curl_easy_reset(c); /* keeps the connection cache */
    else
        c = curl_easy_init();
    return c;
}

static void handle_give(bm_whsend *w, CURL *c)
{
    pthread_mutex_lock(&w->mu);
    if (w->nfree < POOL_MAX) {
        w->free_handles[w->nfree++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    if (c)
        curl_easy_cleanup(c);
}

int bm_whsend_sign(const char *secret, const char *msg_id, long long ts, const char *body,
                   char *out, size_t outlen)
{
    if (strncmp(secret, "whsec_", 6) != 0)
        return -1;
    const char *b64 = secret + 6;
    size_t blen = strlen(b64);
    if (blen == 0 || blen % 4 != 0 || blen > 256)
        return -1;
    unsigned char key[200];
    int klen = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)blen);
    if (klen < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    for (size_t i = blen; i > 0 && b64[i - 1] == '='; i--)
        klen--;
    char head[512];
    int hn = snprintf(head, sizeof head, "%s.%lld.", msg_id, ts);
    if (hn < 0 || (size_t)hn >= sizeof head)
        return -1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = ctx && EVP_MAC_init(ctx, key, (size_t)klen, params) &&
             EVP_MAC_update(ctx, (const unsigned char *)head, (size_t)hn) &&
             EVP_MAC_update(ctx, (const unsigned char *)body, strlen(body)) &&
             EVP_MAC_final(ctx, mac, &outl, sizeof mac);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    if (!ok)
        return -1;
    maclen = (unsigned int)outl;
    if (outlen < 3 + 4 * ((maclen + 2) / 3) + 1)
        return -1;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
    return 0;
}

typedef struct resp {
    char body[RESPONSE_MAX + 1];
    size_t len;
    long retry_after; /* seconds, -1 when none */
} resp;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t total = size * n;
    size_t room = RESPONSE_MAX - r->len;
    size_t take = total < room ? total : room;
    /* Stored as JSON text: keep printable ASCII, mark everything else. */
    for (size_t i = 0; i < take; i++) {
        unsigned char ch = (unsigned char)p[i];
        r->body[r->len + i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    r->len += take;
    r->body[r->len] = '\0';
    return total; /* the rest is read and dropped: the stored response is truncated */
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t total = size * n;
    if (total > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[128];
        size_t vl = total - 12 < sizeof v - 1 ? total - 12 : sizeof v - 1;
        memcpy(v, p + 12, vl);
        v[vl] = '\0';
        char *s = v;
        while (*s == ' ' || *s == '\t')
            s++;
        s[strcspn(s, "\r\n")] = '\0';
        char *end = NULL;
        long secs = strtol(s, &end, 10);
        if (end != s && *end == '\0' && secs >= 0) {
            r->retry_after = secs;
        } else {
            time_t when = curl_getdate(s, NULL);
            if (when > 0)
                r->retry_after = when > time(NULL) ? (long)(when - time(NULL)) : 0;
        }
    }
    return total;
}

static int finish(char *result, size_t resultlen, int rc, long status, const char *url,
                  const resp *r, long ms, const char *error)
{
    json_t *o = json_pack("{s:i, s:s, s:I}", "status", (int)status, "url", url ? url : "", "ms",
                          (json_int_t)ms);
    if (r && r->len)
        json_object_set_new(o, "response", json_stringn(r->body, r->len));
    if (error)
        json_object_set_new(o, "error", json_string(error));
    if (r && r->retry_after >= 0 && rc == BM_RETRY)
        json_object_set_new(o, "retryAfter", json_integer(r->retry_after));
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (s && strlen(s) < resultlen) {
        snprintf(result, resultlen, "%s", s);
    } else {
        json_t *e = json_pack("{s:i, s:s}", "status", (int)status, "error",
                              error ? error : "result too long");
        char *t = json_dumps(e, JSON_COMPACT);
        snprintf(result, resultlen, "%s", t ? t : "{}");
        free(t);
        json_decref(e);
    }
    free(s);
    return rc;
}

int bm_whsend_post(bm_whsend *w, const bm_whsend_req *q, char *result, size_t resultlen)
{
    const char *url = q->url;
    if (!url || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)) {
        char e[600];
        snprintf(e, sizeof e, "bad URL '%.500s': only http:// and https:// are delivered to",
                 url ? url : "");
        return finish(result, resultlen, BM_ERROR, 0, url, NULL, 0, e);
    }
    if (q->nsecrets < 1)
        return finish(result, resultlen, BM_ERROR, 0, url, NULL, 0,
                      "the game has no webhook signing secret");
    long long ts = (long long)time(NULL);
    char sigs[1200] = "";
    size_t sl = 0;
    for (int i = 0; i < q->nsecrets && i < 4; i++) {
        char one[128];
        if (bm_whsend_sign(q->secrets[i], q->msg_id, ts, q->body, one, sizeof one) != 0)
            return finish(result, resultlen, BM_ERROR, 0, url, NULL, 0,
                          "a webhook signing secret of the game is malformed");
        sl += (size_t)snprintf(sigs + sl, sizeof sigs - sl, "%s%s", sl ? " " : "", one);
    }
    CURL *c = handle_take(w);
    if (!c)
        return finish(result, resultlen, BM_RETRY, 0, url, NULL, 0, "curl_easy_init failed");
    char h_id[600], h_ts[64], h_sig[1300];
    snprintf(h_id, sizeof h_id, "webhook-id: %.500s", q->msg_id);
    snprintf(h_ts, sizeof h_ts, "webhook-timestamp: %lld", ts);
    snprintf(h_sig, sizeof h_sig, "webhook-signature: %s", sigs);
    struct curl_slist *hs = NULL;
    hs = curl_slist_append(hs, "Content-Type: application/json");
    hs = curl_slist_append(hs, "User-Agent: BrightMatter-Rewards/1");
    hs = curl_slist_append(hs, "Expect:");
    hs = curl_slist_append(hs, h_id);
    hs = curl_slist_append(hs, h_ts);
    hs = curl_slist_append(hs, h_sig);
    resp r;
    memset(&r, 0, sizeof r);
    r.retry_after = -1;
    long cto = q->connect_timeout_ms > 0 ? q->connect_timeout_ms : 5000;
    long tto = q->timeout_ms > 0 ? q->timeout_ms : 10000;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, cto);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tto);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(q->body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CURLcode cc = curl_easy_perform(c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hs);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    handle_give(w, c);
    if (cc != CURLE_OK) {
        char e[400];
        snprintf(e, sizeof e, "%s", curl_easy_strerror(cc));
        int permanent = cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT;
        if (permanent) {
            char e2[1000];
            snprintf(e2, sizeof e2, "bad URL '%.500s': %.400s", url, e);
            return finish(result, resultlen, BM_ERROR, 0, url, &r, ms, e2);
        }
        return finish(result, resultlen, BM_RETRY, status, url, &r, ms, e);
    }
    if (status >= 200 && status < 300)
        return finish(result, resultlen, BM_OK, status, url, &r, ms, NULL);
    char e[64];
    snprintf(e, sizeof e, "HTTP %ld", status);
    if (status == 408 || status == 429 || status >= 500)
        return finish(result, resultlen, BM_RETRY, status, url, &r, ms, e);
    if (status >= 300 && status < 400)
        snprintf(e, sizeof e, "HTTP %ld (redirects are not followed)", status);
    return finish(result, resultlen, BM_ERROR, status, url, &r, ms, e);
}
