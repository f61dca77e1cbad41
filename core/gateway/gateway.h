/*
 * The gateway role: one HTTP port (libmicrohttpd, epoll, a thread pool) for
 * event ingestion (POST /v1/events with a game's API key), the query API,
 * the admin API (Firebase ID tokens), /metrics, /healthz and /readyz.
 * Sees the engine only through its role environment (configuration, bootstrap
 * servers, counters) and talks to the rest through the broker and PostgreSQL.
 */
#ifndef BM_GATEWAY_H
#define BM_GATEWAY_H

#include <stddef.h>

#include "role/role.h"

typedef struct bm_gateway bm_gateway;

/* engine.roles = gateway */
extern const bm_role_ops bm_gateway_role;

/* Binds http.listen, writes <run_dir>/http.port, starts serving; NULL with err. */
bm_gateway *bm_gateway_start(const bm_role_env *env, char *err, size_t errlen);
/* The bound TCP port. */
int bm_gateway_port(const bm_gateway *g);
/* Re-reads auth.certs_file (SIGHUP); keeps the old set when the new file is bad. */
void bm_gateway_reload(bm_gateway *g);
/* Stops accepting, finishes the requests in flight, frees everything. */
void bm_gateway_stop(bm_gateway *g);

#endif
