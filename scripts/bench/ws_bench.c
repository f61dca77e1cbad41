/*
 * bm-bench-ws: the WebSocket load client of scripts/bench/ws. One thread and
 * epoll drive N connections (libwslay client contexts), each subscribed to
 * user:<prefix><i> and campaign:<board i % B>. Once every connection is
 * subscribed it prints READY on stderr; from the first update it measures for
 * S seconds: updates received and their age on arrival (wall clock - ts, the
 * broker timestamp the gateway forwards), by channel kind. One JSON line on
 * stdout.
 *
 *   bm-bench-ws PORT KEY BOARDS(comma) N SECONDS PREFIX
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define MAX_MS 120000

typedef struct conn {
    int fd, idx, open, subscribed, requested;
    char hs[4096];
    size_t hslen;
    char *extra;
    size_t extra_len, extra_off;
    wslay_event_context_ptr ctx;
} conn;

static int g_ep, g_subscribed, g_failed, g_closed, g_measuring;
static long long g_t0, g_msgs, g_user_n, g_camp_n;
static unsigned *g_hist_user, *g_hist_camp;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    conn *c = ud;
    if (c->extra_off < c->extra_len) {
        size_t n = c->extra_len - c->extra_off < len ? c->extra_len - c->extra_off : len;
        memcpy(buf, c->extra + c->extra_off, n);
        c->extra_off += n;
        return (ssize_t)n;
    }
    ssize_t r = recv(c->fd, buf, len, 0);
    if (r > 0)
        return r;
    wslay_event_set_error(ctx, r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    conn *c = ud;
    ssize_t r = send(c->fd, data, len, MSG_NOSIGNAL);
    if (r >= 0)
        return r;
    wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static int on_mask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)rand();
    return 0;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *ud)
{
    conn *c = ud;
    if (a->opcode != WSLAY_TEXT_FRAME)
        return;
    json_t *j = json_loadb((const char *)a->msg, a->msg_length, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *chan = json_string_value(json_object_get(j, "channel"));
    json_t *ts = json_object_get(j, "ts");
    if (type && strcmp(type, "subscribed") == 0) {
        if (++c->subscribed == 2)
            g_subscribed++;
    } else if (type && strcmp(type, "error") == 0) {
        g_failed++;
    } else if (json_is_integer(ts) && chan) {
        long long now = now_ms();
        if (!g_measuring) {
            g_measuring = 1;
            g_t0 = now;
        }
        long long age = now - json_integer_value(ts);
        age = age < 0 ? 0 : age >= MAX_MS ? MAX_MS - 1 : age;
        g_msgs++;
        if (strncmp(chan, "user:", 5) == 0) {
            g_hist_user[age]++;
            g_user_n++;
        } else {
            g_hist_camp[age]++;
            g_camp_n++;
        }
    }
    json_decref(j);
}

static const struct wslay_event_callbacks g_cb = {on_recv, on_send, on_mask, NULL,
                                                  NULL,    NULL,    on_msg};

static long long pct(const unsigned *h, long long n, double p)
{
    if (!n)
        return -1;
    long long want = (long long)(p * (double)n), cum = 0;
    for (int i = 0; i < MAX_MS; i++) {
        cum += h[i];
        if (cum > want)
            return i;
    }
    return MAX_MS;
}

static void arm(conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN |
                                       (c->ctx && wslay_event_want_write(c->ctx) ? EPOLLOUT : 0),
                             .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void drop(conn *c)
{
    if (c->fd < 0)
        return;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    g_closed++;
}

/* The 101 answer: "HTTP/1.1 101" then headers up to the blank line. */
static void handshake(conn *c, const char *boards[], int nboards, const char *prefix)
{
    ssize_t r = recv(c->fd, c->hs + c->hslen, sizeof c->hs - 1 - c->hslen, 0);
    if (r <= 0) {
        if (r < 0 && errno == EAGAIN)
            return;
        drop(c);
        return;
    }
    c->hslen += (size_t)r;
    c->hs[c->hslen] = '\0';
    char *end = strstr(c->hs, "\r\n\r\n");
    if (!end)
        return;
    if (strncmp(c->hs, "HTTP/1.1 101", 12) != 0) {
        g_failed++;
        drop(c);
        return;
    }
    end += 4;
    c->extra_len = c->hslen - (size_t)(end - c->hs);
    if (c->extra_len) {
        c->extra = malloc(c->extra_len);
        memcpy(c->extra, end, c->extra_len);
    }
    wslay_event_context_client_init(&c->ctx, &g_cb, c);
    c->open = 1;
    char sub[512];
    int n = snprintf(sub, sizeof sub,
                     "{\"type\":\"subscribe\",\"channels\":[\"user:%s%d\",\"campaign:%s\"]}",
                     prefix, c->idx, boards[c->idx % nboards]);
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)sub, (size_t)n};
    wslay_event_queue_msg(c->ctx, &m);
    if (c->extra_len)
        wslay_event_recv(c->ctx);
    wslay_event_send(c->ctx);
    arm(c);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s PORT KEY BOARDS N SECONDS PREFIX\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[4]), seconds = atoi(argv[5]);
    const char *key = argv[2], *prefix = argv[6];
    char *bl = strdup(argv[3]);
    const char *boards[256];
    int nboards = 0;
    for (char *s = NULL, *t = strtok_r(bl, ",", &s); t && nboards < 256;
         t = strtok_r(NULL, ",", &s))
        boards[nboards++] = t;
    g_hist_user = calloc(MAX_MS, sizeof *g_hist_user);
    g_hist_camp = calloc(MAX_MS, sizeof *g_hist_camp);
    conn *cs = calloc((size_t)n, sizeof *cs);
    if (!nboards || !cs || !g_hist_user || !g_hist_camp)
        return 2;
    g_ep = epoll_create1(0);
    char req[1024];
    int reqlen = snprintf(req, sizeof req,
                          "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: brightmatter.v1, bm.auth.%s\r\n\r\n",
                          port, key);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct epoll_event evs[512];
    int started = 0, ready = 0;
    long long deadline = 0, give_up = now_ms() + 300000;
    for (;;) {
        /* Open connections in steps so the listen backlog is not flooded. */
        while (started < n && started - (g_subscribed + g_failed + g_closed) < 256) {
            conn *c = &cs[started];
            c->idx = started++;
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
                g_failed++;
                close(c->fd);
                c->fd = -1;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev);
        }
        int k = epoll_wait(g_ep, evs, 512, 100);
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (!c->requested) {
                if (send(c->fd, req, (size_t)reqlen, MSG_NOSIGNAL) != reqlen) {
                    g_failed++;
                    drop(c);
                    continue;
                }
                c->requested = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            if (!c->open) {
                handshake(c, boards, nboards, prefix);
                continue;
            }
            if ((evs[i].events & EPOLLIN) && wslay_event_recv(c->ctx) != 0) {
                drop(c);
                continue;
            }
            if (wslay_event_send(c->ctx) != 0) {
                drop(c);
                continue;
            }
            arm(c);
        }
        long long now = now_ms();
        if (!ready && g_subscribed + g_failed + g_closed >= n) {
            ready = 1;
            fprintf(stderr, "READY %d subscribed, %d failed, %d closed\n", g_subscribed, g_failed,
                    g_closed);
        }
        if (g_measuring && !deadline)
            deadline = g_t0 + (long long)seconds * 1000;
        if ((deadline && now >= deadline) || (!g_measuring && now > give_up))
            break;
    }
    double secs = g_measuring ? (double)(now_ms() - g_t0) / 1000.0 : 0;
    unsigned *all = calloc(MAX_MS, sizeof *all);
    for (int i = 0; all && i < MAX_MS; i++)
        all[i] = g_hist_user[i] + g_hist_camp[i];
    printf("{\"clients\":%d,\"connected\":%d,\"failed\":%d,\"closed_during_run\":%d,"
           "\"seconds\":%.1f,\"messages\":%lld,\"messages_per_s\":%.0f,\"latency_ms\":{"
           "\"p50\":%lld,\"p99\":%lld,\"user_p99\":%lld,\"campaign_p99\":%lld,"
           "\"user_messages\":%lld,\"campaign_messages\":%lld}}\n",
           n, g_subscribed, g_failed, g_closed, secs, g_msgs, secs > 0 ? (double)g_msgs / secs : 0,
           pct(all, g_msgs, 0.5), pct(all, g_msgs, 0.99), pct(g_hist_user, g_user_n, 0.99),
           pct(g_hist_camp, g_camp_n, 0.99), g_user_n, g_camp_n);
    return 0;
}
