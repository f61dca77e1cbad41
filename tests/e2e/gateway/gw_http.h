/*
 * Helpers of the gateway tests: an engine with the gateway role on a
 * kernel-chosen port, a studio/game/key made with bmctl, and HTTP requests
 * through libcurl (one handle per request, nothing faked).
 */
#ifndef BM_TEST_GW_HTTP_H
#define BM_TEST_GW_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "e2e/common/e2e.h"

typedef struct gw_world {
    bm_e2e e;
    bm_e2e_engine g;
    int port;
    char key[128];     /* API key of game gw-game */
    char board[64];    /* a sum leaderboard of MATCH_END.score on gw-game */
    char camps[4][64]; /* ids of the "GW_CAMPAIGN" entries of env, in order */
    int ncamps;
} gw_world;

/* Temp world, engine started (extra KEY=VALUE env pairs before start), studio "studio-a"
 * (firebase uid uid-a) owning game gw-game with one key and one leaderboard. Two pseudo
 * keys in env: "GW_MODULE" copies build/modules/<value> into the modules dir, and
 * "GW_CAMPAIGN" creates the campaign of that JSON text (id in camps[]). */
void gw_world_start(gw_world *w, const char *name, const char *const *env);
/* Stops the engine (exit status 0 asserted); bm_e2e_cleanup(&w->e) frees the rest. */
void gw_world_stop(gw_world *w);
/* cmocka setup/teardown: a zeroed world in *state; its cleanup and free. */
int gw_world_setup(void **state);
int gw_world_teardown(void **state);

typedef struct gw_resp {
    long status;
    char *body;   /* NUL-terminated, malloc'd */
    json_t *json; /* parsed body, or NULL */
    char request_id[96];
    char etag[64];
    char retry_after[16];
    char content_type[96];
    char location[1024];
} gw_resp;

/* method, path (with query), extra headers (NULL-terminated, may be NULL), body (may be NULL). */
void gw_req(const gw_world *w, gw_resp *r, const char *method, const char *path,
            const char *const *headers, const void *body, size_t len);
void gw_resp_free(gw_resp *r);
/* Asserts an error answer: status, {"error": code, "message", "requestId" = X-Request-Id}. */
void gw_assert_error(const gw_resp *r, long status, const char *code);

/* Runs bmctl with args (NULL-terminated); asserts exit 0; returns the first line of stdout. */
void gw_bmctl_line(gw_world *w, char *out, size_t cap, const char *const *args);
/* An event JSON text with the current time. */
void gw_event(char *buf, size_t cap, const char *game, const char *user, const char *eid,
              long score);
/* Sum of next_offset of the engine's group minus produced: polls until the engine applied
 * (or dropped) every message on game.events. */
void gw_wait_drained(gw_world *w);

#endif
