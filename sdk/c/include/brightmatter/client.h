/*
 * libbrightmatter-client: send game events to a BrightMatter gateway and read
 * boards and progress, from C, C++ or any engine that can call C.
 *
 * Events are appended to an on-disk queue (an append-only file) when tracked,
 * each with a UUID eventId made here, and sent in batches by bm_client_flush
 * (or a background thread). A send that fails is retried with the same ids,
 * so an event is counted once even when an answer was lost. Every function
 * is thread-safe. Errors: 0 / -1 with a message in err (errlen bytes).
 */
#ifndef BRIGHTMATTER_CLIENT_H
#define BRIGHTMATTER_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bm_client bm_client;

/* When the queue file is synced to disk. */
typedef enum bm_client_fsync {
    BM_CLIENT_FSYNC_EVERY = 0, /* after every tracked event (default): survives power loss */
    BM_CLIENT_FSYNC_FLUSH = 1, /* before each send: a crash may lose events tracked since */
    BM_CLIENT_FSYNC_NEVER = 2  /* left to the OS: survives a process crash only */
} bm_client_fsync;

typedef struct bm_client_options {
    const char *base_url;  /* "https://api.example.com" (required) */
    const char *api_key;   /* the game's API key, bmk_... (required) */
    const char *game_id;   /* the game's identifier (required) */
    const char *queue_dir; /* where the queue files live (required; created if missing) */
    bm_client_fsync fsync; /* default BM_CLIENT_FSYNC_EVERY */
    int batch_size;        /* events per POST, default 100 */
    int timeout_ms;        /* per HTTP request, default 10000 */
    int max_retries;       /* tries of one batch in a flush before giving up, default 4 */
    int auto_flush_ms; /* > 0: a background thread flushes this often; 0: only bm_client_flush */
} bm_client_options;

/* Opens (or reopens) the queue in options->queue_dir: events queued before are kept. */
bm_client *bm_client_open(const bm_client_options *options, char *err, size_t errlen);
/* Sends what it can within one flush, stops the background thread, frees. Queued events stay. */
void bm_client_close(bm_client *c);

/* Queues one event: data_json is a JSON object text (NULL = {}); event_id (37 bytes, may be
 * NULL) receives the event's id. The event is on disk (per the fsync policy) on return. */
int bm_client_track(bm_client *c, const char *user_id, const char *event_type,
                    const char *data_json, char event_id[37], char *err, size_t errlen);
/* Sends every queued event now, in batches, retrying with backoff. 0 when the queue is empty;
 * -1 (events kept) when the gateway stayed unreachable or refused the key. */
int bm_client_flush(bm_client *c, char *err, size_t errlen);
/* Events waiting to be sent. */
size_t bm_client_pending(bm_client *c);

typedef struct bm_client_stats {
    unsigned long long sent;     /* accepted by the gateway */
    unsigned long long rejected; /* refused as invalid (dropped from the queue) */
    unsigned long long retries;  /* failed sends that were tried again */
} bm_client_stats;
void bm_client_get_stats(bm_client *c, bm_client_stats *out);

/* --- queries -------------------------------------------------------------------------------- */

typedef struct bm_board_entry {
    long long rank;
    char user_id[256];
    double score;
} bm_board_entry;

typedef struct bm_board {
    char name[256];
    size_t n;
    bm_board_entry *entries; /* n entries, best first */
} bm_board;

/* The top `limit` of a leaderboard (or tournament). Free with bm_board_free. */
int bm_client_board(bm_client *c, const char *campaign_id, int limit, bm_board *out, char *err,
                    size_t errlen);
void bm_board_free(bm_board *b);
/* One player's rank and score: 0, 1 when the player has no score, -1 with err. */
int bm_client_rank(bm_client *c, const char *campaign_id, const char *user_id, bm_board_entry *out,
                   char *err, size_t errlen);
/* Any GET of the query API as a JSON string (quests, battle passes, campaigns, ...), e.g.
 * "/v1/quests/<id>/users/<user>"; *json is malloc'd (free with bm_client_free).
 * Returns the HTTP status (200, 404, ...) or -1 with err when there was no answer. */
int bm_client_get(bm_client *c, const char *path, char **json, char *err, size_t errlen);
/* A quest's progress for a player, as JSON (the gateway's view). Same returns as get. */
int bm_client_quest(bm_client *c, const char *quest_id, const char *user_id, char **json, char *err,
                    size_t errlen);
/* A battle pass's progress for a player, as JSON. Same returns as get. */
int bm_client_pass(bm_client *c, const char *pass_id, const char *user_id, char **json, char *err,
                   size_t errlen);
void bm_client_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
