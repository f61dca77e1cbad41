/*
 * The WebSocket connections: libmicrohttpd answers the handshake (101) and
 * hands over the socket; from then on one thread owns every connection, its
 * libwslay context, its subscriptions and the channel table, driven by epoll.
 * The consumer thread (ws_feed.c) queues messages for it and wakes it through
 * an eventfd, so channels and connections are never locked.
 *
 * Limits: the send queue of a connection is bounded in bytes (a client that
 * falls further behind is closed with 1008), connections are capped overall
 * and per address, a connection that has not authenticated within 10 s is
 * closed, and a quiet one is pinged and closed when it stays silent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway/gw.h"
#include "log/log.h"
#include "util/buf.h"
#include "gateway/gw_ws_int.h"

#define WS_PROTOCOL "brightmatter.v1"
#define WS_AUTH_PREFIX "bm.auth."
#define WS_AUTH_TIMEOUT_US (10 * 1000000LL)
#define WS_CLOSE_GRACE_US (2 * 1000000LL)
#define WS_MAX_IN_MSG 16384
#define WS_MQ_MAX 200000

struct ws_chan {
    ws_chan *next;
    char *key, *name;
    uint64_t seq;
    ws_conn **subs;
    int nsubs, cap;
};

struct ws_conn {
    bm_ws *ws;
    ws_conn *prev, *next;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    wslay_event_context_ptr ctx;
    char ip[48];
    ws_principal p;
    int authed;
    char *extra;
    size_t extra_len, extra_off;
    int64_t last_rx_us, auth_deadline_us, close_deadline_us;
    int pinged, out_armed, dirty, refuse; /* refuse: close 1013 right after the handover */
    ws_conn *dirty_next;
    ws_chan **subs;
    int nsubs;
};

int64_t ws_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ws_msg_free(ws_msg *m)
{
    if (!m)
        return;
    free(m->key);
    free(m->channel);
    free(m->payload);
    free(m);
}

int bm_ws_route(const char *url)
{
    return strcmp(url, "/v1/ws") == 0 || strcmp(url, "/v1/ws/") == 0;
}

/* --- per-address counts (under ws->lock) -------------------------------------------- */

static ws_ipslot *ip_slot(bm_ws *ws, const char *ip, int create)
{
    uint32_t h = 2166136261u;
    for (const char *s = ip; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    ws_ipslot *free_slot = NULL;
    for (int i = 0; i < WS_IP_SLOTS; i++) {
        ws_ipslot *s = &ws->ips[(h + (uint32_t)i) % WS_IP_SLOTS];
        if (s->n > 0 && strcmp(s->ip, ip) == 0)
            return s;
        if (s->n == 0 && !free_slot)
            free_slot = s;
        if (s->n == 0 && !s->ip[0])
            break; /* never used: the probe ends here */
    }
    if (create && free_slot)
        snprintf(free_slot->ip, sizeof free_slot->ip, "%s", ip);
    return create ? free_slot : NULL;
}

static int ip_count(bm_ws *ws, const char *ip)
{
    ws_ipslot *s = ip_slot(ws, ip, 0);
    return s ? s->n : 0;
}

/* --- channels (connection thread) ------------------------------------------------------ */

static uint32_t chan_hash(const char *key)
{
    uint32_t h = 2166136261u;
    for (const char *s = key; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % WS_CHAN_BUCKETS;
}

static ws_chan *chan_find(bm_ws *ws, const char *key)
{
    for (ws_chan *c = ws->chans[chan_hash(key)]; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

static ws_chan *chan_get(bm_ws *ws, const char *key, const char *name)
{
    ws_chan *c = chan_find(ws, key);
    if (c)
        return c;
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->key = strdup(key);
    c->name = strdup(name);
    if (!c->key || !c->name) {
        free(c->key);
        free(c->name);
        free(c);
        return NULL;
    }
    uint32_t h = chan_hash(key);
    c->next = ws->chans[h];
    ws->chans[h] = c;
    return c;
}

static void chan_drop_sub(bm_ws *ws, ws_chan *c, ws_conn *cn)
{
    for (int i = 0; i < c->nsubs; i++)
        if (c->subs[i] == cn) {
            c->subs[i] = c->subs[--c->nsubs];
            break;
        }
    if (c->nsubs)
        return;
    ws_chan **pp = &ws->chans[chan_hash(c->key)];
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    free(c->subs);
    free(c->key);
    free(c->name);
    free(c);
}

/* --- sending ------------------------------------------------------------------------------ */

static void mark_dirty(ws_conn *cn, ws_conn **dirty)
{
    if (cn->dirty)
        return;
    cn->dirty = 1;
    cn->dirty_next = *dirty;
    *dirty = cn;
}

static void close_with(ws_conn *cn, uint16_t code, const char *reason)
{
    if (cn->close_deadline_us)
        return;
    wslay_event_queue_close(cn->ctx, code, (const uint8_t *)reason, strlen(reason));
    cn->close_deadline_us = ws_now_us() + WS_CLOSE_GRACE_US;
}

/* Queues one text frame; a client whose backlog would pass the cap is closed (1008).
 * One message alone may be larger than the cap: only a backlog counts. */
static int queue_text(ws_conn *cn, const char *s, size_t n)
{
    if (cn->close_deadline_us)
        return -1;
    size_t queued = wslay_event_get_queued_msg_length(cn->ctx);
    if (queued && queued + n > (size_t)cn->ws->cfg->ws_send_queue_bytes) {
        atomic_fetch_add(&cn->ws->m_slow_closed, 1);
        close_with(cn, 1008, "send queue full: client too slow");
        return -1;
    }
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)s, n};
    return wslay_event_queue_msg(cn->ctx, &m) == 0 ? 0 : -1;
}

static void reply(ws_conn *cn, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s)
        queue_text(cn, s, strlen(s));
    free(s);
}

static void reply_error(ws_conn *cn, const char *code, const char *msg, const char *channel,
                        json_t *id)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "type", "error", "error", code, "message", msg);
    if (channel)
        json_object_set_new(j, "channel", json_string(channel));
    if (id)
        json_object_set(j, "id", id);
    reply(cn, j);
}

static void arm(ws_conn *cn, int out)
{
    if (cn->out_armed == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = cn};
    epoll_ctl(cn->ws->epfd, EPOLL_CTL_MOD, cn->fd, &ev);
    cn->out_armed = out;
}

static void conn_free(ws_conn *cn)
{
    bm_ws *ws = cn->ws;
    for (int i = 0; i < cn->nsubs; i++)
        chan_drop_sub(ws, cn->subs[i], cn);
    free(cn->subs);
    if (cn->prev)
        cn->prev->next = cn->next;
    else if (ws->conns == cn)
        ws->conns = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    epoll_ctl(ws->epfd, EPOLL_CTL_DEL, cn->fd, NULL);
    if (cn->ctx)
        wslay_event_context_free(cn->ctx);
    /* libmicrohttpd owns the socket: it closes it. */
    MHD_upgrade_action(cn->urh, MHD_UPGRADE_ACTION_CLOSE);
    pthread_mutex_lock(&ws->lock);
    ws->nconns--;
    ws_ipslot *s = ip_slot(ws, cn->ip, 0);
    if (s)
        s->n--;
    pthread_mutex_unlock(&ws->lock);
    atomic_fetch_sub(&ws->m_open, 1);
    free(cn->extra);
    free(cn);
}

/* Sends what is queued; frees the connection when it is finished. Returns 0 while it lives. */
static int pump(ws_conn *cn)
{
    if (wslay_event_send(cn->ctx) != 0 ||
        (!wslay_event_want_read(cn->ctx) && !wslay_event_want_write(cn->ctx))) {
        conn_free(cn);
        return -1;
    }
    arm(cn, wslay_event_want_write(cn->ctx));
    return 0;
}

/* --- libwslay callbacks ---------------------------------------------------------------- */

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    ws_conn *cn = ud;
    if (cn->extra_off < cn->extra_len) {
        size_t n = cn->extra_len - cn->extra_off;
        n = n < len ? n : len;
        memcpy(buf, cn->extra + cn->extra_off, n);
        cn->extra_off += n;
        return (ssize_t)n;
    }
    ssize_t r;
    while ((r = recv(cn->fd, buf, len, 0)) < 0 && errno == EINTR)
        ;
    if (r > 0) {
        cn->last_rx_us = ws_now_us();
        cn->pinged = 0;
        return r;
    }
    wslay_event_set_error(ctx, r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    ws_conn *cn = ud;
    ssize_t r;
    int more = (flags & WSLAY_MSG_MORE) ? MSG_MORE : 0;
    while ((r = send(cn->fd, data, len, MSG_NOSIGNAL | more)) < 0 && errno == EINTR)
        ;
    if (r >= 0)
        return r;
    wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void do_subscribe(ws_conn *cn, const char *channel, json_t *id)
{
    bm_ws *ws = cn->ws;
    char key[400], why[200];
    const char *code;
    for (int i = 0; i < cn->nsubs; i++)
        if (strcmp(cn->subs[i]->name, channel) == 0) {
            reply(cn, json_pack("{s:s, s:s, s:I, s:O*}", "type", "subscribed", "channel", channel,
                                "seq", (json_int_t)cn->subs[i]->seq, "id", id));
            return;
        }
    if (cn->nsubs >= ws->cfg->ws_max_subscriptions) {
        snprintf(why, sizeof why, "at most %d channels per connection",
                 ws->cfg->ws_max_subscriptions);
        reply_error(cn, "too_many_subscriptions", why, channel, id);
        return;
    }
    if (ws_channel_key(ws, &cn->p, channel, key, sizeof key, &code, why, sizeof why) != 0) {
        reply_error(cn, code, why, channel, id);
        return;
    }
    ws_chan *c = chan_get(ws, key, channel);
    ws_chan **subs = c ? realloc(cn->subs, (size_t)(cn->nsubs + 1) * sizeof *subs) : NULL;
    if (subs)
        cn->subs = subs;
    if (c && subs && c->nsubs == c->cap) {
        int cap = c->cap ? c->cap * 2 : 4;
        ws_conn **s = realloc(c->subs, (size_t)cap * sizeof *s);
        if (s) {
            c->subs = s;
            c->cap = cap;
        }
    }
    if (!c || !subs || c->nsubs == c->cap) {
        if (c && !c->nsubs)
            chan_drop_sub(ws, c, cn);
        reply_error(cn, "unavailable", "out of memory", channel, id);
        return;
    }
    c->subs[c->nsubs++] = cn;
    cn->subs[cn->nsubs++] = c;
    reply(cn, json_pack("{s:s, s:s, s:I, s:O*}", "type", "subscribed", "channel", channel, "seq",
                        (json_int_t)c->seq, "id", id));
}

static void do_unsubscribe(ws_conn *cn, const char *channel, json_t *id)
{
    for (int i = 0; i < cn->nsubs; i++)
        if (strcmp(cn->subs[i]->name, channel) == 0) {
            ws_chan *c = cn->subs[i];
            cn->subs[i] = cn->subs[--cn->nsubs];
            chan_drop_sub(cn->ws, c, cn);
            break;
        }
    reply(cn, json_pack("{s:s, s:s, s:O*}", "type", "unsubscribed", "channel", channel, "id", id));
}

static void do_auth(ws_conn *cn, const char *token, json_t *id)
{
    char why[200];
    if (cn->authed) {
        reply_error(cn, "already_authenticated", "this connection is already authenticated", NULL,
                    id);
        return;
    }
    int rc = ws_auth(cn->ws, token, &cn->p, why, sizeof why);
    if (rc != 0) {
        reply_error(cn, rc == -2 ? "unavailable" : "unauthorized",
                    rc == -2 ? "database unavailable, retry later" : why, NULL, id);
        close_with(cn, 1008, "authentication failed");
        return;
    }
    cn->authed = 1;
    reply(cn, json_pack("{s:s, s:s, s:s?, s:O*}", "type", "authenticated", "as",
                        cn->p.is_key ? "game" : "player", "userId",
                        cn->p.is_key ? NULL : cn->p.user, "id", id));
}

static void on_text(ws_conn *cn, const uint8_t *data, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)data, len, 0, &e);
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *id = json_object_get(j, "id");
    if (!type) {
        reply_error(cn, "bad_message", "expected a JSON object with a \"type\"", NULL, NULL);
    } else if (strcmp(type, "ping") == 0) {
        reply(cn, json_pack("{s:s, s:O*}", "type", "pong", "id", id));
    } else if (strcmp(type, "auth") == 0) {
        do_auth(cn, json_string_value(json_object_get(j, "token")), id);
    } else if (!cn->authed) {
        reply_error(cn, "unauthorized", "authenticate first: {\"type\":\"auth\",\"token\":...}",
                    NULL, id);
    } else if (strcmp(type, "subscribe") == 0 || strcmp(type, "unsubscribe") == 0) {
        json_t *list = json_object_get(j, "channels"), *one = json_object_get(j, "channel");
        size_t n = json_is_array(list) ? json_array_size(list) : 0;
        if (!json_is_string(one) && !n)
            reply_error(cn, "bad_message", "\"channel\" or \"channels\" is required", NULL, id);
        for (size_t i = 0; i < n + (json_is_string(one) ? 1 : 0); i++) {
            const char *ch = json_string_value(i < n ? json_array_get(list, i) : one);
            if (!ch)
                reply_error(cn, "bad_message", "channel names are strings", NULL, id);
            else if (type[0] == 's')
                do_subscribe(cn, ch, id);
            else
                do_unsubscribe(cn, ch, id);
        }
    } else {
        reply_error(cn, "bad_message", "unknown message type", NULL, id);
    }
    json_decref(j);
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *ud)
{
    ws_conn *cn = ud;
    if (cn->close_deadline_us)
        return;
    if (a->opcode == WSLAY_TEXT_FRAME)
        on_text(cn, a->msg, a->msg_length);
    else if (a->opcode == WSLAY_BINARY_FRAME)
        reply_error(cn, "bad_message", "messages are JSON text frames", NULL, NULL);
}

static const struct wslay_event_callbacks g_callbacks = {on_recv, on_send, NULL,  NULL,
                                                         NULL,    NULL,    on_msg};

/* --- the connection thread -------------------------------------------------------------- */

static void adopt(bm_ws *ws, ws_conn *cn)
{
    int fl = fcntl(cn->fd, F_GETFL);
    fcntl(cn->fd, F_SETFL, fl | O_NONBLOCK);
    if (wslay_event_context_server_init(&cn->ctx, &g_callbacks, cn) != 0) {
        cn->ctx = NULL;
        conn_free(cn);
        return;
    }
    wslay_event_config_set_max_recv_msg_length(cn->ctx, WS_MAX_IN_MSG);
    cn->next = ws->conns;
    if (ws->conns)
        ws->conns->prev = cn;
    ws->conns = cn;
    cn->last_rx_us = ws_now_us();
    cn->auth_deadline_us = cn->last_rx_us + WS_AUTH_TIMEOUT_US;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cn};
    epoll_ctl(ws->epfd, EPOLL_CTL_ADD, cn->fd, &ev);
    if (cn->refuse)
        close_with(cn, 1013, "too many connections, try again later");
    if (cn->extra_len && wslay_event_recv(cn->ctx) != 0) {
        conn_free(cn);
        return;
    }
    pump(cn);
}

/* Delivers one message to the channel's subscribers. */
static void deliver(bm_ws *ws, ws_msg *m, bm_buf *b, ws_conn **dirty)
{
    ws_chan *c = chan_find(ws, m->key);
    if (!c)
        return;
    c->seq++;
    bm_buf_reset(b);
    bm_buf_puts(b, "{\"type\":\"");
    bm_buf_puts(b, m->type);
    bm_buf_puts(b, "\",\"channel\":");
    bm_buf_json_str(b, c->name);
    bm_buf_printf(b, ",\"seq\":%llu,\"ts\":%lld,\"payload\":", (unsigned long long)c->seq,
                  (long long)m->ts_ms);
    bm_buf_puts(b, m->payload);
    bm_buf_puts(b, "}");
    if (b->oom)
        return;
    for (int i = 0; i < c->nsubs; i++) {
        ws_conn *cn = c->subs[i];
        if (queue_text(cn, b->p, b->len) == 0)
            atomic_fetch_add(&ws->m_sent, 1);
        mark_dirty(cn, dirty);
    }
}

static void tick(bm_ws *ws)
{
    int64_t now = ws_now_us(), ping = (int64_t)ws->cfg->ws_ping_interval_s * 1000000;
    ws_conn *next;
    for (ws_conn *cn = ws->conns; cn; cn = next) {
        next = cn->next;
        if (cn->close_deadline_us && now > cn->close_deadline_us) {
            conn_free(cn);
            continue;
        }
        if (!cn->authed && now > cn->auth_deadline_us)
            close_with(cn, 1008, "not authenticated within 10 s");
        else if (now - cn->last_rx_us > 2 * ping)
            close_with(cn, 1001, "no answer to ping");
        else if (now - cn->last_rx_us > ping && !cn->pinged) {
            struct wslay_event_msg pm = {WSLAY_PING, (const uint8_t *)"", 0};
            wslay_event_queue_msg(cn->ctx, &pm);
            cn->pinged = 1;
        }
        pump(cn);
    }
}

static void *io_main(void *arg)
{
    bm_ws *ws = arg;
    struct epoll_event evs[256];
    bm_buf b = {0};
    int64_t last_tick = ws_now_us();
    int64_t stop_at = 0;
    for (;;) {
        int n = epoll_wait(ws->epfd, evs, 256, 200);
        ws_conn *dirty = NULL;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                if (read(ws->evfd, &v, sizeof v) < 0)
                    continue;
                continue;
            }
            ws_conn *cn = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (wslay_event_recv(cn->ctx) != 0) {
                    conn_free(cn);
                    continue;
                }
            }
            mark_dirty(cn, &dirty);
        }
        /* New connections and messages from the other threads. */
        pthread_mutex_lock(&ws->lock);
        ws_conn *in = ws->incoming;
        ws->incoming = NULL;
        ws_msg *mq = ws->mq_head;
        ws->mq_head = NULL;
        ws->mq_tail = &ws->mq_head;
        ws->mq_len = 0;
        int stopping = ws->stopping;
        pthread_mutex_unlock(&ws->lock);
        while (in) {
            ws_conn *next = in->next;
            in->next = NULL;
            adopt(ws, in);
            in = next;
        }
        while (mq) {
            ws_msg *next = mq->next;
            deliver(ws, mq, &b, &dirty);
            ws_msg_free(mq);
            mq = next;
        }
        while (dirty) {
            ws_conn *cn = dirty;
            dirty = cn->dirty_next;
            cn->dirty = 0;
            pump(cn);
        }
        int64_t now = ws_now_us();
        if (stopping && !stop_at) {
            stop_at = now + WS_CLOSE_GRACE_US;
            for (ws_conn *cn = ws->conns, *next; cn; cn = next) {
                next = cn->next;
                close_with(cn, 1001, "server shutting down");
                pump(cn);
            }
        }
        if (now - last_tick > 1000000 || stopping) {
            last_tick = now;
            tick(ws);
        }
        if (stop_at && (!ws->conns || now > stop_at))
            break;
    }
    while (ws->conns)
        conn_free(ws->conns);
    bm_buf_free(&b);
    return NULL;
}

void ws_publish(bm_ws *ws, ws_msg *m)
{
    pthread_mutex_lock(&ws->lock);
    if (ws->mq_len >= WS_MQ_MAX || ws->stopping) {
        pthread_mutex_unlock(&ws->lock);
        atomic_fetch_add(&ws->m_msgs_dropped, 1);
        ws_msg_free(m);
        return;
    }
    int wake = ws->mq_len == 0;
    m->next = NULL;
    *ws->mq_tail = m;
    ws->mq_tail = &m->next;
    ws->mq_len++;
    pthread_mutex_unlock(&ws->lock);
    atomic_fetch_add(&ws->m_msgs_in, 1);
    if (wake) {
        uint64_t one = 1;
        if (write(ws->evfd, &one, sizeof one) < 0)
            return;
    }
}

/* --- the handshake (libmicrohttpd threads) ----------------------------------------------- */

static void on_upgraded(void *cls, struct MHD_Connection *connection, void *con_cls,
                        const char *extra_in, size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    ws_conn *cn = cls;
    bm_ws *ws = cn->ws;
    cn->fd = sock;
    cn->urh = urh;
    if (extra_in_size && (cn->extra = malloc(extra_in_size))) {
        memcpy(cn->extra, extra_in, extra_in_size);
        cn->extra_len = extra_in_size;
    }
    pthread_mutex_lock(&ws->lock);
    ws_ipslot *s = ip_slot(ws, cn->ip, 1);
    if (ws->stopping) {
        pthread_mutex_unlock(&ws->lock);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        free(cn->extra);
        free(cn);
        return;
    }
    if (!s || s->n >= ws->cfg->ws_max_per_ip || ws->nconns >= ws->cfg->ws_max_connections)
        cn->refuse = 1; /* lost a race with another handshake: 1013 after the handover */
    if (s)
        s->n++;
    else
        snprintf(cn->ip, sizeof cn->ip, "?");
    ws->nconns++;
    atomic_fetch_add(&ws->m_open, 1);
    cn->next = ws->incoming;
    ws->incoming = cn;
    pthread_mutex_unlock(&ws->lock);
    atomic_fetch_add(&ws->m_accepted, 1);
    uint64_t one = 1;
    if (write(ws->evfd, &one, sizeof one) < 0)
        return;
}

static int has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *e = p + strcspn(p, ", \t");
        if ((size_t)(e - p) == n && strncasecmp(p, token, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/* The bm.auth.<credential> value offered as a subprotocol, copied into out. */
static int protocol_credential(const char *list, char *out, size_t cap)
{
    size_t k = strlen(WS_AUTH_PREFIX);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *e = p + strcspn(p, ", \t");
        if ((size_t)(e - p) > k && strncmp(p, WS_AUTH_PREFIX, k) == 0 &&
            (size_t)(e - p - k) < cap) {
            memcpy(out, p + k, (size_t)(e - p - k));
            out[e - p - k] = '\0';
            return 1;
        }
        p = e;
    }
    return 0;
}

static void client_ip(gw_req *r, char *ip, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(ip, cap, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
                  (socklen_t)cap);
}

int bm_ws_request(bm_ws *ws, gw_req *r)
{
    r->route = GW_R_OTHER;
    if (strcmp(r->method, "GET") != 0) {
        gw_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: GET)", r->method);
        return 0;
    }
    const char *up = gw_header(r, MHD_HTTP_HEADER_UPGRADE);
    const char *co = gw_header(r, MHD_HTTP_HEADER_CONNECTION);
    const char *ver = gw_header(r, "Sec-WebSocket-Version");
    const char *key = gw_header(r, "Sec-WebSocket-Key");
    const char *protos = gw_header(r, "Sec-WebSocket-Protocol");
    if (!up || !has_token(up, "websocket") || !co || !has_token(co, "upgrade") || !key ||
        strlen(key) != 24) {
        gw_error(r, 400, "not_websocket",
                 "GET /v1/ws is a WebSocket endpoint (Upgrade: websocket, Sec-WebSocket-Key)");
        return 0;
    }
    if (!ver || strcmp(ver, "13") != 0) {
        gw_error(r, 426, "upgrade_required", "Sec-WebSocket-Version 13 is required");
        return 0;
    }
    char cred[4096];
    int has_cred = protocol_credential(protos, cred, sizeof cred);
    if (protos && !has_token(protos, WS_PROTOCOL)) {
        gw_error(r, 400, "bad_protocol", "offer the subprotocol %s", WS_PROTOCOL);
        return 0;
    }
    char ip[48];
    client_ip(r, ip, sizeof ip);
    pthread_mutex_lock(&ws->lock);
    int total = ws->nconns, mine = ip_count(ws, ip), stopping = ws->stopping;
    pthread_mutex_unlock(&ws->lock);
    if (stopping || total >= ws->cfg->ws_max_connections) {
        atomic_fetch_add(&ws->m_refused, 1);
        snprintf(r->retry_after, sizeof r->retry_after, "%d", 5);
        gw_error(r, 503, "too_many_connections", "this gateway has %d WebSocket connections",
                 total);
        return 0;
    }
    if (mine >= ws->cfg->ws_max_per_ip) {
        atomic_fetch_add(&ws->m_refused, 1);
        snprintf(r->retry_after, sizeof r->retry_after, "%d", 5);
        gw_error(r, 429, "too_many_connections", "at most %d WebSocket connections per address",
                 ws->cfg->ws_max_per_ip);
        return 0;
    }
    ws_conn *cn = calloc(1, sizeof *cn);
    if (!cn) {
        gw_error(r, 503, "unavailable", "out of memory");
        return 0;
    }
    cn->ws = ws;
    snprintf(cn->ip, sizeof cn->ip, "%s", ip);
    if (has_cred) {
        char why[200];
        int rc = ws_auth(ws, cred, &cn->p, why, sizeof why);
        if (rc != 0) {
            free(cn);
            if (rc == -2)
                gw_error(r, 503, "unavailable", "database unavailable, retry later");
            else
                gw_error(r, 401, "unauthorized", "%s", why);
            return 0;
        }
        cn->authed = 1;
    }
    /* Sec-WebSocket-Accept = base64(SHA-1(key + the RFC 6455 GUID)). */
    char buf[128];
    unsigned char sha[SHA_DIGEST_LENGTH];
    snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    SHA1((const unsigned char *)buf, strlen(buf), sha);
    char accept[64];
    EVP_EncodeBlock((unsigned char *)accept, sha, SHA_DIGEST_LENGTH);
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, cn);
    if (!resp) {
        free(cn);
        return -1;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    if (protos)
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", WS_PROTOCOL);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    enum MHD_Result rc = MHD_queue_response(r->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    if (rc != MHD_YES) {
        free(cn);
        return -1;
    }
    r->status = 101;
    return 1;
}

/* --- lifecycle ------------------------------------------------------------------------------ */

bm_ws *bm_ws_start(struct bm_gateway *g, char *err, size_t errlen)
{
    bm_ws *ws = calloc(1, sizeof *ws);
    if (!ws) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ws->g = g;
    ws->cfg = &g->cfg;
    ws->epfd = ws->evfd = -1;
    ws->mq_tail = &ws->mq_head;
    pthread_mutex_init(&ws->lock, NULL);
    pthread_mutex_init(&ws->camp_lock, NULL);
    ws->epfd = epoll_create1(EPOLL_CLOEXEC);
    ws->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ws->epfd < 0 || ws->evfd < 0 || epoll_ctl(ws->epfd, EPOLL_CTL_ADD, ws->evfd, &ev) != 0) {
        snprintf(err, errlen, "websocket: epoll/eventfd: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&ws->io, NULL, io_main, ws) != 0) {
        snprintf(err, errlen, "websocket: cannot start its thread");
        goto fail;
    }
    ws->io_started = 1;
    if (ws_feed_start(ws, err, errlen) != 0)
        goto fail;
    return ws;
fail:
    bm_ws_stop(ws);
    bm_ws_free(ws);
    return NULL;
}

void bm_ws_stop(bm_ws *ws)
{
    if (!ws)
        return;
    ws_feed_stop(ws);
    pthread_mutex_lock(&ws->lock);
    ws->stopping = 1;
    pthread_mutex_unlock(&ws->lock);
    if (ws->io_started) {
        int open = atomic_load(&ws->m_open);
        int64_t t0 = ws_now_us();
        uint64_t one = 1;
        if (write(ws->evfd, &one, sizeof one) < 0)
            bm_warn("ws", "wake: %s", strerror(errno));
        pthread_join(ws->io, NULL);
        ws->io_started = 0;
        bm_info("ws", "closed connections=%d in_ms=%lld", open,
                (long long)((ws_now_us() - t0) / 1000));
    }
}

void bm_ws_free(bm_ws *ws)
{
    if (!ws)
        return;
    for (ws_conn *cn = ws->incoming, *next; cn; cn = next) {
        next = cn->next;
        MHD_upgrade_action(cn->urh, MHD_UPGRADE_ACTION_CLOSE);
        free(cn->extra);
        free(cn);
    }
    for (ws_msg *m = ws->mq_head, *next; m; m = next) {
        next = m->next;
        ws_msg_free(m);
    }
    if (ws->epfd >= 0)
        close(ws->epfd);
    if (ws->evfd >= 0)
        close(ws->evfd);
    pthread_mutex_destroy(&ws->lock);
    pthread_mutex_destroy(&ws->camp_lock);
    free(ws);
}

void bm_ws_metrics(bm_ws *ws, void *out)
{
    if (!ws)
        return;
    bm_buf *o = out;
    bm_buf_printf(o,
                  "# HELP brightmatter_ws_connections open WebSocket connections\n"
                  "# TYPE brightmatter_ws_connections gauge\nbrightmatter_ws_connections %d\n",
                  atomic_load(&ws->m_open));
    const struct {
        const char *name, *help;
        uint64_t v;
    } c[] = {
        {"brightmatter_ws_accepted_total", "WebSocket handshakes completed",
         atomic_load(&ws->m_accepted)},
        {"brightmatter_ws_refused_total", "WebSocket handshakes refused by the caps",
         atomic_load(&ws->m_refused)},
        {"brightmatter_ws_updates_total", "updates read from the ui.* topics",
         atomic_load(&ws->m_msgs_in)},
        {"brightmatter_ws_frames_sent_total", "update frames queued to clients",
         atomic_load(&ws->m_sent)},
        {"brightmatter_ws_slow_closed_total", "clients closed (1008) for a full send queue",
         atomic_load(&ws->m_slow_closed)},
        {"brightmatter_ws_updates_dropped_total", "updates dropped before delivery (overload)",
         atomic_load(&ws->m_msgs_dropped)},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        bm_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", c[i].name, c[i].help,
                      c[i].name, c[i].name, (unsigned long long)c[i].v);
}
