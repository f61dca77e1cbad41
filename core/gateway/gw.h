/* Gateway internals shared by its files (not included outside core/gateway). */
#ifndef BM_GW_H
#define BM_GW_H

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "auth/auth.h"
#include "cmdauth/cmdauth.h"
#include "config/config.h"
#include "stats/stats.h"
#include "gateway/gateway.h"
#include "util/buf.h"

/* Routes, for metrics labels. */
enum {
    GW_R_OTHER,
    GW_R_HEALTHZ,
    GW_R_READYZ,
    GW_R_METRICS,
    GW_R_EVENTS,
    GW_R_BOARD,
    GW_R_BOARD_USER,
    GW_R_QUEST,
    GW_R_GAME_QUESTS,
    GW_R_BATTLEPASS,
    GW_R_BP_COMMAND,
    GW_R_CAMPAIGNS,
    GW_R_ADMIN,
    GW_R_COMMUNITY_JOIN,
    GW_R_REFERRAL,
    GW_R_TOURNAMENT,
    GW_R_TOURNAMENT_USER,
    GW_R_BOARD_HISTORY,
    GW_R_COMMUNITY,
    GW_NROUTES
};
#define GW_NBUCKETS 14     /* latency histogram: 0.25 ms .. 2 s, then +Inf */
#define GW_RETRY_AFTER_S 2 /* Retry-After of a 503 (database, broker or engine away) */

/* A read/write PostgreSQL pool: a connection is lent to one request at a time. */
typedef struct gw_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    PGconn **conns;
    int *busy;
    int n;
    char dsn[1024];
} gw_pool;

/* What one API key may do (looked up by the SHA-256 of the key). */
typedef struct gw_key {
    long long id;
    char game_uuid[40];
    char game[260]; /* games.identifier */
    char studio[40];
    double rate, burst;
} gw_key;

typedef struct gw_keyslot gw_keyslot;

typedef struct gw_metrics {
    _Atomic uint64_t req[GW_NROUTES][6]; /* by status class 1xx..5xx (index 1..5) */
    _Atomic uint64_t hist[GW_NROUTES][GW_NBUCKETS + 1];
    _Atomic uint64_t sum_us[GW_NROUTES];
    _Atomic uint64_t rate_limited, events_accepted, events_invalid, produce_timeouts;
} gw_metrics;

struct bm_gateway {
    bm_config cfg;
    char bootstrap[512];
    bm_stats *stats;          /* the process counters (role environment) */
    struct bm_loader *loader; /* module generations (role environment) */
    /* module counters as /metrics lines, rebuilt by the role's step on the processing thread */
    pthread_mutex_t mods_lock;
    bm_buf mods_text;
    int64_t mods_at_us;
    struct MHD_Daemon *d;
    int port;
    gw_pool pool;
    rd_kafka_t *producer;
    bm_cmdauth cmdkeys; /* signs the command events the API produces (claims, purchases) */
    pthread_t poller;
    atomic_int run;
    /* API keys: cache and token buckets */
    pthread_mutex_t keys_lock;
    gw_keyslot *keys;
    size_t nkeys;
    /* Firebase certificates, swapped on reload */
    pthread_mutex_t jwks_lock;
    bm_jwks *jwks;
    gw_metrics m;
    struct gw_ranks *ranks; /* gw_rank.h */
    struct bm_ws *ws;       /* gw_ws.h: GET /v1/ws */
    /* leaderboard campaigns recently asked for (gw_query.c), trusted for key_cache_ms */
    pthread_mutex_t boards_lock;
    struct gw_boardinfo *boards;
};

/* One request as the handlers see it. */
typedef struct gw_req {
    bm_gateway *g;
    struct MHD_Connection *conn;
    const char *method, *url;
    char id[80];
    int route;
    int64_t t0_us;
    bm_buf body;
    int too_large;
    /* the answer */
    int status;
    bm_buf out;
    char etag[48];
    char retry_after[16];
    char location[2048]; /* a redirect's target (gw_community.c) */
    const char *content_type;
} gw_req;

/* --- replies (gateway.c) --------------------------------------------------------- */
/* Sets an error answer {"error","message","requestId"}; 5xx also logs and writes error_logs. */
void gw_error(gw_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets a JSON answer (consumes the reference). */
void gw_json(gw_req *r, int status, json_t *body);
/* A request header, or NULL. */
const char *gw_header(gw_req *r, const char *name);
/* A query argument, or NULL. */
const char *gw_arg(gw_req *r, const char *name);
int64_t gw_now_us(void);

/* --- CORS (gw_cors.c) ----------------------------------------------------------------- */
/* 1 when r is a preflight of the game API (answered 204); 0 otherwise. */
int gw_cors_preflight(gw_req *r);
/* Adds the Access-Control-* headers of the game API to a response. */
void gw_cors_headers(gw_req *r, struct MHD_Response *resp);

/* --- pool (gw_pool.c) ---------------------------------------------------------------- */
int gw_pool_init(gw_pool *p, const char *dsn, int n, char *err, size_t errlen);
/* Borrows a connection (waits up to wait_ms); NULL when none is free or the database is down. */
PGconn *gw_pool_get(gw_pool *p, int wait_ms);
/* Returns it; a broken connection is reset. */
void gw_pool_put(gw_pool *p, PGconn *c);
void gw_pool_free(gw_pool *p);

/* --- keys (gw_keys.c) ---------------------------------------------------------------- */
/* Resolves "Authorization: Bearer <key>"; 0 ok, else sets the 401/503 answer and returns -1. */
int gw_key_auth(gw_req *r, gw_key *out);
/* Takes n tokens from the key's bucket; 0 ok, else sets 429 with Retry-After and returns -1. */
int gw_key_take(gw_req *r, const gw_key *k, double n);
void gw_keys_free(bm_gateway *g);

/* --- ingestion (gw_ingest.c) ----------------------------------------------------------- */
int gw_producer_start(bm_gateway *g, char *err, size_t errlen);
void gw_producer_stop(bm_gateway *g);
/* Produces n messages keyed by keys[i] to topic and waits for every acknowledgement;
 * 0, or -1 (timeout or broker error) with err. */
int gw_produce_acked(bm_gateway *g, const char *topic, char **vals, const char **keys, size_t n,
                     const char *const *sigs, char *err, size_t errlen);
void gw_events_post(gw_req *r);
void gw_bp_command(gw_req *r, const char *campaign, const char *user, const char *what);

/* --- queries (gw_query.c) -------------------------------------------------------------- */
/* Who reads the query API: a game (API key), a studio (studio_owner ID token) or a player
 * (player ID token, gw_player.c). */
typedef struct gw_reader {
    char game_uuid[40];
    char studio[40];
    int player; /* a player token (gw_player.c): its own user data of its game only */
    char user[257];
    char game[260];
} gw_reader;
/* 0, or -1 with the 401/403/503 answer set. */
int gw_reader_auth(gw_req *r, gw_reader *rd);
/* Routes GET /v1/... (not admin) by path segments. */
void gw_query(gw_req *r, char **seg, int nseg);

/* --- admin (gw_admin.c) ---------------------------------------------------------------- */
/* A person signed in with a Firebase ID token. studio is set for studio_owner only. */
typedef struct gw_principal {
    char sub[129];
    char role[64];
    char studio[40];
    /* role "player" (gw_player.c): its user id, its game (identifier and games.id) */
    char user[257];
    char game[260];
    char game_uuid[40];
} gw_principal;
/* Verifies the Bearer ID token; 0, or -1 with the 401/403/503 answer set. */
int gw_jwt_auth(gw_req *r, gw_principal *p);
void gw_admin(gw_req *r, char **seg, int nseg);

/* --- ops routes of the admin API (gw_modules.c) ----------------------------------------- */
/* GET /v1/admin/modules (reload 0) and POST /v1/admin/modules/reload (reload 1), role ops. */
void gw_admin_modules(gw_req *r, const gw_principal *p, int reload);

/* --- the player role (gw_player.c) ------------------------------------------------------- */
/* Fills p->user and p->game* from a verified player token's claims; 0, or -1 with the
 * 403/503 answer set. */
int gw_player_resolve(gw_req *r, const bm_jwt_claims *cl, gw_principal *p);
/* 1 with 403 set when the request carries a valid player ID token (a route players may not
 * use); 0 otherwise, nothing set. */
int gw_player_refused(gw_req *r);

/* --- communities (gw_community.c) ------------------------------------------------------ */
/* POST /v1/communities/{slug}/join */
void gw_community_join(gw_req *r, const char *slug);
/* GET /v1/communities/{slug}: name, member count, a player's membership (gw_community_read.c) */
void gw_community_show(gw_req *r, const char *slug);
/* GET /c/{slug}: the referral link */
void gw_referral(gw_req *r, const char *slug);
/* /v1/admin/communities/...: seg[0] is "communities" */
void gw_admin_communities(gw_req *r, char **seg, int nseg);

/* --- tournaments (gw_tournament.c) ----------------------------------------------------- */
/* GET /v1/tournaments/{id} and /v1/tournaments/{id}/users/{userId}: seg after "tournaments" */
void gw_tournament(gw_req *r, char **seg, int nseg);

/* --- leaderboard history (gw_lbhistory.c) ---------------------------------------------- */
/* GET /v1/leaderboards/{id}/history[?period=START]: closed periods, or one period ranked */
void gw_board_history(gw_req *r, const gw_reader *rd, const char *id);

/* --- metrics and health (gw_metrics.c) ------------------------------------------------ */
void gw_metrics_record(bm_gateway *g, int route, int status, int64_t us);
/* Processing thread (role step): rebuilds the module counter lines every 2 s. */
void gw_metrics_modules(bm_gateway *g);
void gw_metrics_text(gw_req *r);
void gw_readyz(gw_req *r);

#endif
