/*
 * GET /v1/ws end to end: a Node.js client (the `ws` package) against the
 * engine with the gateway role. ws_e2e.mjs checks the handshake refusals, key
 * and player-token auth, channel permissions, live and coalesced leaderboard
 * updates with per-channel seq, caps and the 1008 close of a slow client; this
 * file builds the world (a second game's board, a player token) and stops the
 * engine at the end so the client sees the 1001 close of a clean shutdown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/gateway/gw_jwt.h"
#include "e2e/live/live_node.h"

#define PROJECT "bm-live-test"

static void test_ws(void **state)
{
    gw_world *w = *state;
    live_require_node();
    EVP_PKEY *k1 = gw_rsa_new();
    char certs[400];
    snprintf(certs, sizeof certs, "/tmp/bm-live-certs-%d.json", (int)getpid());
    char *pem = gw_rsa_pem(k1);
    json_t *m = json_pack("{s:s}", "k1", pem);
    char *text = json_dumps(m, 0);
    bm_e2e_write_file(certs, text, strlen(text));
    free(text);
    json_decref(m);
    free(pem);
    const char *env[] = {"BM_AUTH_FIREBASE_PROJECT",
                         PROJECT,
                         "BM_AUTH_CERTS_FILE",
                         certs,
                         "BM_WS_MAX_PER_IP",
                         "12",
                         "BM_WS_SEND_QUEUE_BYTES",
                         "16384",
                         "BM_HTTP_RATE_PER_S",
                         "1000000",
                         "BM_HTTP_RATE_BURST",
                         "1000000",
                         NULL};
    gw_world_start(w, "live_ws", env);
    unlink(certs);
    /* Another game of the same studio, with its own board. */
    char line[256], other[64];
    const char *g[] = {"game",  "create",       "--studio", "uid-a", "--name",
                       "Other", "--identifier", "gw-other", NULL};
    gw_bmctl_line(w, line, sizeof line, g);
    bm_e2e_campaign(&w->e,
                    "{\"type\":\"leaderboard\",\"name\":\"other\",\"gameId\":\"gw-other\","
                    "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":\"score\","
                    "\"aggregation\":\"sum\"}}",
                    other, sizeof other);
    /* More boards on the same events: a client that stops reading falls behind fast. */
    char extra[12 * 40] = "", id[64];
    for (int i = 0; i < 10; i++) {
        bm_e2e_campaign(&w->e,
                        "{\"type\":\"leaderboard\",\"name\":\"extra\",\"gameId\":\"gw-game\","
                        "\"scoringMetadata\":{\"eventType\":\"MATCH_END\",\"dataField\":"
                        "\"score\",\"aggregation\":\"sum\"}}",
                        id, sizeof id);
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "%s%s", i ? "," : "", id);
    }
    setenv("BM_EXTRA_BOARDS", extra, 1);
    /* A player token: Firebase-shaped, role player, sub p1, gameId gw-game. */
    char claims[1200];
    gw_claims(claims, sizeof claims, PROJECT, PROJECT, "p1", "player", -5, 3600);
    claims[strlen(claims) - 1] = '\0';
    strncat(claims, ",\"gameId\":\"gw-game\"}", sizeof claims - strlen(claims) - 1);
    char *tok = gw_jwt_rs256(k1, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims);
    setenv("BM_TOKEN_P1", tok, 1);
    free(tok);
    /* A Firebase uid that is not the game's user id: its userId claim names the player. */
    gw_claims(claims, sizeof claims, PROJECT, PROJECT, "firebase-uid-9", "player", -5, 3600);
    claims[strlen(claims) - 1] = '\0';
    strncat(claims, ",\"gameId\":\"gw-game\",\"userId\":\"p1\"}",
            sizeof claims - strlen(claims) - 1);
    tok = gw_jwt_rs256(k1, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims);
    setenv("BM_TOKEN_MAPPED", tok, 1);
    setenv("BM_BOARD_OTHER", other, 1);
    setenv("BM_MAX_PER_IP", "12", 1);
    free(tok);
    EVP_PKEY_free(k1);

    char log[600];
    pid_t pid = live_node_start(w, "ws_e2e.mjs", log, sizeof log);
    live_wait_output(pid, log, "READY_FOR_SHUTDOWN", 150000);
    long ms = bm_e2e_engine_stop(&w->g, 30000);
    live_node_finish(pid, log, 30000);
    /* Closing the WebSocket connections does not hold the shutdown up (2 s grace at most;
     * the bound leaves room for a busy machine). */
    assert_true(ms < 20000);
    assert_true(bm_e2e_log_contains(&w->g, "module=ws msg=\"closed"));
    assert_true(bm_e2e_log_contains(&w->g, "module=gateway"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ws, gw_world_setup, gw_world_teardown),
    };
    return bm_e2e_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
