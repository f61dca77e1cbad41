/*
 * Signed webhook delivery shared by the in-tree reward modules (compiled into
 * each, never into the host). Standard Webhooks: headers webhook-id,
 * webhook-timestamp and webhook-signature ("v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>", one per secret, space-separated). libcurl with connect
 * and total timeouts, http(s) only, redirects not followed.
 */
#ifndef BM_WHSEND_H
#define BM_WHSEND_H

#include <stddef.h>

typedef struct bm_whsend bm_whsend;

/* A pool of libcurl handles (connections are reused per handle). NULL on failure. */
bm_whsend *bm_whsend_new(void);
void bm_whsend_free(bm_whsend *w);

/* Limits of one POST; zero fields take the defaults (5 s connect, 10 s total). */
typedef struct bm_whsend_req {
    const char *url;
    const char *msg_id; /* webhook-id: the grant's idempotency key */
    const char *body;   /* JSON */
    const char *const *secrets;
    int nsecrets;
    long connect_timeout_ms;
    long timeout_ms;
} bm_whsend_req;

/*
 * Signs and POSTs. BM_OK on 2xx; BM_RETRY on 408, 429, 5xx, timeouts and
 * connection errors (with "retryAfter" when the receiver sent Retry-After);
 * BM_ERROR on other answers, a non-http(s) URL or no secret. `result` gets a
 * JSON object: status, response (first 1 KiB), url, ms, and error when not OK.
 */
int bm_whsend_post(bm_whsend *w, const bm_whsend_req *q, char *result, size_t resultlen);

/* "v1,<base64>" for one secret ("whsec_<base64 key>"); 0 or -1 (bad secret). */
int bm_whsend_sign(const char *secret, const char *msg_id, long long ts, const char *body,
                   char *out, size_t outlen);

#endif
