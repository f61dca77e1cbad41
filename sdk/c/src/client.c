/*
 * libbrightmatter-client: tracking into the on-disk queue (queue.c), sending
 * in batches over libcurl with retries that keep the eventIds, and the query
 * calls. Two locks: `lock` guards the queue (track, acknowledge: short), and
 * `send_lock` makes one flush at a time (the HTTP round trips), so tracking is
 * never blocked by a slow gateway.
 */
#include <brightmatter/client.h>

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "queue.h"

struct bm_client {
    char *base_url, *api_key, *game_id;
    int batch_size, timeout_ms, max_retries, auto_flush_ms;
    pthread_mutex_t lock, send_lock;
    bmq q;
    bm_client_stats stats;
    pthread_t flusher;
    int flusher_started, stop;
    pthread_cond_t wake;
};

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;

static void curl_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int make_uuid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

/* --- HTTP ----------------------------------------------------------------------------------- */

typedef struct sink {
    char *p;
    size_t n;
} sink;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t add = size * nmemb;
    char *p = realloc(s->p, s->n + add + 1);
    if (!p)
        return 0;
    memcpy(p + s->n, ptr, add);
    s->p = p;
    s->n += add;
    p[s->n] = '\0';
    return add;
}

/* One request; returns the HTTP status, or -1 (no answer) with err. body_out may be NULL. */
static long http(bm_client *c, const char *method, const char *path, const char *body, size_t blen,
                 char **body_out, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    if (!h) {
        seterr(err, errlen, "curl_easy_init failed");
        return -1;
    }
    size_t ulen = strlen(c->base_url) + strlen(path) + 1;
    char *url = malloc(ulen);
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->api_key);
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "User-Agent: libbrightmatter-client/0.1");
    sink s = {0};
    long status = -1;
    if (!url || !hd) {
        seterr(err, errlen, "out of memory");
        goto out;
    }
    snprintf(url, ulen, "%s%s", c->base_url, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        seterr(err, errlen, "%s %s: %s", method, url, curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (body_out) {
        *body_out = s.p ? s.p : strdup("");
        s.p = NULL;
    }
out:
    free(s.p);
    free(url);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return status;
}

/* --- tracking and sending ------------------------------------------------------------------- */

int bm_client_track(bm_client *c, const char *user_id, const char *event_type,
                    const char *data_json, char event_id[37], char *err, size_t errlen)
{
    if (!user_id || !*user_id || !event_type || !*event_type) {
        seterr(err, errlen, "user_id and event_type are required");
        return -1;
    }
    json_error_t je;
    json_t *data = data_json ? json_loads(data_json, 0, &je) : json_object();
    if (!json_is_object(data)) {
        json_decref(data);
        seterr(err, errlen, "data is not a JSON object: %s", data_json ? je.text : "");
        return -1;
    }
    char id[37], ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof ts - k, ".%03ldZ", now.tv_nsec / 1000000);
    if (make_uuid(id) != 0) {
        json_decref(data);
        seterr(err, errlen, "no random bytes for the event id");
        return -1;
    }
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "eventId", id, "gameId",
                           c->game_id, "userId", user_id, "eventType", event_type, "data", data,
                           "timestamp", ts, "source", "c-sdk");
    char *line = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!line) {
        seterr(err, errlen, "cannot encode the event (user_id and event_type must be UTF-8)");
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    int rc = bmq_append(&c->q, line, strlen(line));
    pthread_mutex_unlock(&c->lock);
    free(line);
    if (rc != 0) {
        seterr(err, errlen, "queue write failed: %s", strerror(errno));
        return -1;
    }
    if (event_id)
        memcpy(event_id, id, 37);
    return 0;
}

size_t bm_client_pending(bm_client *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->q.pending;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void bm_client_get_stats(bm_client *c, bm_client_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->lock);
}

/* Sends one batch: 1 sent (or dropped as invalid), 0 nothing queued, -1 failed. */
static int send_batch(bm_client *c, int *size, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int n = 0;
    long long end = 0;
    pthread_mutex_lock(&c->lock);
    int rc = bmq_sync(&c->q) == 0 ? bmq_read(&c->q, *size, &text, &len, &n, &end) : -1;
    pthread_mutex_unlock(&c->lock);
    if (rc != 0) {
        seterr(err, errlen, "queue read failed: %s", strerror(errno));
        return -1;
    }
    if (n == 0) {
        free(text);
        return 0;
    }
    /* {"events":[line,line,...]}: the lines are the events as they were queued. */
    char *body = malloc(len + 32);
    if (!body) {
        free(text);
        seterr(err, errlen, "out of memory");
        return -1;
    }
    size_t b = (size_t)snprintf(body, 32, "{\"events\":[");
    for (size_t i = 0; i < len; i++)
        body[b++] = text[i] == '\n' ? (i + 1 == len ? ']' : ',') : text[i];
    body[b++] = '}';
    free(text);
    char *answer = NULL;
    long st = http(c, "POST", "/v1/events?partial=1", body, b, &answer, err, errlen);
    free(body);
    int rejected = 0;
    if (st == 202 || st == 400) {
        json_t *j = answer ? json_loads(answer, 0, NULL) : NULL;
        json_t *bad = json_object_get(j, "events");
        rejected = json_is_array(bad) ? (int)json_array_size(bad) : st == 400 ? n : 0;
        json_decref(j);
    }
    free(answer);
    if (st == 202 || st == 400) {
        pthread_mutex_lock(&c->lock);
        rc = bmq_ack(&c->q, end, n);
        c->stats.sent += (unsigned long long)(n - rejected);
        c->stats.rejected += (unsigned long long)rejected;
        pthread_mutex_unlock(&c->lock);
        if (rc != 0) {
            seterr(err, errlen, "queue acknowledgement failed: %s", strerror(errno));
            return -1;
        }
        return 1;
    }
    if (st == 413 && *size > 1) {
        *size = *size / 2;
        return 1;
    }
    if (st > 0)
        seterr(err, errlen, "POST /v1/events answered HTTP %ld", st);
    return -1;
}

int bm_client_flush(bm_client *c, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->send_lock);
    int size = c->batch_size, tries = 0, rc = 0;
    for (;;) {
        int r = send_batch(c, &size, err, errlen);
        if (r == 0)
            break;
        if (r > 0) {
            tries = 0;
            continue;
        }
        if (++tries >= c->max_retries) {
            rc = -1;
            break;
        }
        pthread_mutex_lock(&c->lock);
        c->stats.retries++;
        pthread_mutex_unlock(&c->lock);
        /* 200 ms, 400 ms, 800 ms, ... at most 5 s, with jitter. */
        long ms = 200L << (tries - 1 < 5 ? tries - 1 : 5);
        ms = ms > 5000 ? 5000 : ms;
        unsigned short j = 0;
        if (getrandom(&j, sizeof j, 0) == (ssize_t)sizeof j)
            ms = ms / 2 + (long)(j % (unsigned)(ms / 2 + 1));
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_unlock(&c->send_lock);
    return rc;
}

static void *flusher_main(void *arg)
{
    bm_client *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += c->auto_flush_ms / 1000;
        t.tv_nsec += (long)(c->auto_flush_ms % 1000) * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->wake, &c->lock, &t);
        if (c->stop || !c->q.pending)
            continue;
        pthread_mutex_unlock(&c->lock);
        char err[256];
        bm_client_flush(c, err, sizeof err);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* --- lifecycle ---------------------------------------------------------------------------- */

bm_client *bm_client_open(const bm_client_options *o, char *err, size_t errlen)
{
    if (!o || !o->base_url || !o->api_key || !o->game_id || !o->queue_dir) {
        seterr(err, errlen, "base_url, api_key, game_id and queue_dir are required");
        return NULL;
    }
    pthread_once(&g_curl_once, curl_once);
    bm_client *c = calloc(1, sizeof *c);
    if (!c) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    c->q.fd = -1;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->send_lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    c->base_url = strdup(o->base_url);
    c->api_key = strdup(o->api_key);
    c->game_id = strdup(o->game_id);
    if (!c->base_url || !c->api_key || !c->game_id) {
        seterr(err, errlen, "out of memory");
        goto fail;
    }
    size_t n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    c->batch_size = o->batch_size > 0 ? o->batch_size : 100;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    c->max_retries = o->max_retries > 0 ? o->max_retries : 4;
    c->auto_flush_ms = o->auto_flush_ms > 0 ? o->auto_flush_ms : 0;
    int pol = (int)o->fsync;
    if (pol < 0 || pol > 2) {
        seterr(err, errlen, "fsync policy %d: use BM_CLIENT_FSYNC_EVERY, _FLUSH or _NEVER", pol);
        goto fail;
    }
    if (bmq_open(&c->q, o->queue_dir, pol, err, errlen) != 0)
        goto fail;
    if (c->auto_flush_ms) {
        if (pthread_create(&c->flusher, NULL, flusher_main, c) != 0) {
            seterr(err, errlen, "cannot start the flush thread");
            goto fail;
        }
        c->flusher_started = 1;
    }
    return c;
fail:
    bm_client_close(c);
    return NULL;
}

void bm_client_close(bm_client *c)
{
    if (!c)
        return;
    if (c->flusher_started) {
        pthread_mutex_lock(&c->lock);
        c->stop = 1;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->flusher, NULL);
    }
    if (c->q.fd >= 0 && c->base_url && c->q.pending) {
        char err[256];
        c->max_retries = 1;
        bm_client_flush(c, err, sizeof err);
    }
    bmq_close(&c->q);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->send_lock);
    pthread_cond_destroy(&c->wake);
    free(c->base_url);
    free(c->api_key);
    free(c->game_id);
    free(c);
}

/* --- queries ---------------------------------------------------------------------------------- */

void bm_client_free(void *p)
{
    free(p);
}

/* Percent-encodes a path segment. */
static void seg(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", ch);
    }
    out[n] = '\0';
}

int bm_client_get(bm_client *c, const char *path, char **json, char *err, size_t errlen)
{
    *json = NULL;
    long st = http(c, "GET", path, NULL, 0, json, err, errlen);
    return (int)st;
}

static int progress(bm_client *c, const char *kind, const char *id, const char *user, char **json,
                    char *err, size_t errlen)
{
    char a[256], b[800], path[1200];
    seg(a, sizeof a, id);
    seg(b, sizeof b, user);
    snprintf(path, sizeof path, "/v1/%s/%s/users/%s", kind, a, b);
    return bm_client_get(c, path, json, err, errlen);
}

int bm_client_quest(bm_client *c, const char *quest_id, const char *user_id, char **json, char *err,
                    size_t errlen)
{
    return progress(c, "quests", quest_id, user_id, json, err, errlen);
}

int bm_client_pass(bm_client *c, const char *pass_id, const char *user_id, char **json, char *err,
                   size_t errlen)
{
    return progress(c, "battlepasses", pass_id, user_id, json, err, errlen);
}

static json_t *get_json(bm_client *c, const char *path, long *status, char *err, size_t errlen)
{
    char *text = NULL;
    *status = bm_client_get(c, path, &text, err, errlen);
    json_t *j = *status == 200 && text ? json_loads(text, 0, NULL) : NULL;
    if (*status > 0 && *status != 200 && *status != 404)
        seterr(err, errlen, "GET %s answered HTTP %ld: %.200s", path, *status, text ? text : "");
    else if (*status == 200 && !j)
        seterr(err, errlen, "GET %s: the answer is not JSON", path);
    free(text);
    return j;
}

static void entry_from(bm_board_entry *e, json_t *o)
{
    memset(e, 0, sizeof *e);
    e->rank = (long long)json_integer_value(json_object_get(o, "rank"));
    snprintf(e->user_id, sizeof e->user_id, "%s",
             json_string_value(json_object_get(o, "userId"))
                 ? json_string_value(json_object_get(o, "userId"))
                 : "");
    e->score = json_number_value(json_object_get(o, "score"));
}

int bm_client_board(bm_client *c, const char *campaign_id, int limit, bm_board *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    char id[256], path[400];
    seg(id, sizeof id, campaign_id);
    snprintf(path, sizeof path, "/v1/leaderboards/%s?limit=%d", id, limit > 0 ? limit : 10);
    long st;
    json_t *j = get_json(c, path, &st, err, errlen);
    if (!j) {
        if (st == 404)
            seterr(err, errlen, "no such leaderboard %s", campaign_id);
        return -1;
    }
    json_t *arr = json_object_get(j, "entries");
    size_t n = json_array_size(arr);
    out->entries = n ? calloc(n, sizeof *out->entries) : NULL;
    if (n && !out->entries) {
        json_decref(j);
        seterr(err, errlen, "out of memory");
        return -1;
    }
    snprintf(out->name, sizeof out->name, "%s",
             json_string_value(json_object_get(j, "name"))
                 ? json_string_value(json_object_get(j, "name"))
                 : "");
    for (size_t i = 0; i < n; i++)
        entry_from(&out->entries[i], json_array_get(arr, i));
    out->n = n;
    json_decref(j);
    return 0;
}

void bm_board_free(bm_board *b)
{
    if (!b)
        return;
    free(b->entries);
    b->entries = NULL;
    b->n = 0;
}

int bm_client_rank(bm_client *c, const char *campaign_id, const char *user_id, bm_board_entry *out,
                   char *err, size_t errlen)
{
    char id[256], user[800], path[1200];
    seg(id, sizeof id, campaign_id);
    seg(user, sizeof user, user_id);
    snprintf(path, sizeof path, "/v1/leaderboards/%s/users/%s", id, user);
    long st;
    json_t *j = get_json(c, path, &st, err, errlen);
    if (!j)
        return st == 404 ? 1 : -1;
    entry_from(out, j);
    json_decref(j);
    return 0;
}
