/* WebSocket internals shared by the gw_ws*.c files. */
#ifndef BM_GW_WS_INT_H
#define BM_GW_WS_INT_H

#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "config/config.h"
#include "gateway/gw_ws.h"

struct bm_gateway;

/* Who a connection speaks for: a game (API key) or one player of a game. */
typedef struct ws_principal {
    int is_key;
    char game_uuid[40];
    char user[256]; /* the player (sub of the token); "" for a key */
} ws_principal;

/* One update for one channel, from the consumer to the connection thread. */
typedef struct ws_msg {
    struct ws_msg *next;
    char *key;     /* internal channel key (user channels are per game) */
    char *channel; /* the name clients subscribed to */
    const char *type;
    char *payload; /* JSON text */
    int64_t ts_ms; /* when the engine published it (broker timestamp) */
} ws_msg;

typedef struct ws_chan ws_chan;
typedef struct ws_conn ws_conn;

#define WS_CHAN_BUCKETS 16384
#define WS_IP_SLOTS 4096
#define WS_CAMP_SLOTS 4096

typedef struct ws_ipslot {
    char ip[48];
    int n;
} ws_ipslot;

typedef struct ws_camp {
    char id[40];
    char game[40];
    char type[16];
    int found;
    int64_t expires_us;
} ws_camp;

struct bm_ws {
    struct bm_gateway *g;
    const bm_config *cfg;
    int epfd, evfd;
    pthread_t io;
    int io_started;
    atomic_int run;
    /* lock: handed-over connections, the message queue, address counts */
    pthread_mutex_t lock;
    ws_conn *incoming;
    ws_msg *mq_head, **mq_tail;
    size_t mq_len;
    int stopping;
    int nconns;
    ws_ipslot ips[WS_IP_SLOTS];
    /* connection thread only */
    ws_conn *conns;
    ws_chan *chans[WS_CHAN_BUCKETS];
    /* campaign -> game, type (both threads) */
    pthread_mutex_t camp_lock;
    ws_camp camps[WS_CAMP_SLOTS];
    /* the ui.* consumer */
    rd_kafka_t *consumer;
    pthread_t feed;
    int feed_started;
    atomic_int feed_run;
    /* counters for /metrics */
    _Atomic uint64_t m_accepted, m_refused, m_sent, m_slow_closed, m_msgs_in, m_msgs_dropped;
    atomic_int m_open;
};

/* --- gw_ws_auth.c ------------------------------------------------------------------------ */
/* Resolves a game API key or a player token (Firebase ID token with role "player" and a
 * gameId claim naming the game). 0 ok; -1 refused with a reason; -2 database unavailable. */
int ws_auth(bm_ws *ws, const char *credential, ws_principal *p, char *err, size_t errlen);
/* The game and type of a campaign (cached): 1 found, 0 no such campaign, -1 database down. */
int ws_campaign(bm_ws *ws, const char *id, char game[40], char type[16]);
/* Checks p may read channel and writes its internal key: 0, or -1 with code and reason. */
int ws_channel_key(bm_ws *ws, const ws_principal *p, const char *channel, char *key, size_t cap,
                   const char **code, char *err, size_t errlen);

/* --- gw_ws_feed.c ------------------------------------------------------------------------ */
int ws_feed_start(bm_ws *ws, char *err, size_t errlen);
void ws_feed_stop(bm_ws *ws);

/* --- gw_ws.c -------------------------------------------------------------------------------- */
/* Hands a message to the connection thread (takes ownership of m and its strings). */
void ws_publish(bm_ws *ws, ws_msg *m);
void ws_msg_free(ws_msg *m);
int64_t ws_now_us(void);

#endif
