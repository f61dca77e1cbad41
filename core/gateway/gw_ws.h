/*
 * Live updates on the gateway port: GET /v1/ws upgrades to RFC 6455 (frames by
 * libwslay over libmicrohttpd's upgrade). A client authenticates with a game
 * API key or a player token, subscribes to campaign:<id> and user:<id>
 * channels, and receives the engine's ui.* updates (read by one consumer per
 * gateway from every partition) with a per-channel sequence number.
 */
#ifndef BM_GW_WS_H
#define BM_GW_WS_H

#include <stddef.h>

typedef struct bm_ws bm_ws;
struct bm_gateway;
struct gw_req;

/* Starts the connection thread and the ui.* consumer; NULL with err. */
bm_ws *bm_ws_start(struct bm_gateway *g, char *err, size_t errlen);
/* 1 when url is the WebSocket route (/v1/ws). */
int bm_ws_route(const char *url);
/* Answers a request on /v1/ws: 1 when the 101 upgrade was queued, 0 when an
 * error answer was set on r (the caller sends it), -1 when libmicrohttpd failed. */
int bm_ws_request(bm_ws *ws, struct gw_req *r);
/* Closes every connection (1001, going away) and stops both threads; call
 * before the HTTP daemon stops. Safe on NULL and twice. */
void bm_ws_stop(bm_ws *ws);
/* Frees what bm_ws_stop left (after the HTTP daemon stopped). */
void bm_ws_free(bm_ws *ws);
/* Appends the ws_* lines of /metrics to buf (a bm_buf *). */
void bm_ws_metrics(bm_ws *ws, void *buf);

#endif
