/*
 * Helpers of the live-update and SDK tests: a Node.js script (WebSocket
 * client, headless browser driver) run against the test's engine, with the
 * web SDK's pinned npm packages (sdk/web/install) on its module path.
 */
#ifndef BM_TEST_LIVE_NODE_H
#define BM_TEST_LIVE_NODE_H

#include <stddef.h>
#include <sys/types.h>

#include "e2e/gateway/gw_http.h"

/* Starts `node <source>/tests/e2e/live/<script>` with BM_URL, BM_KEY, BM_BOARD and
 * BM_NODE_MODULES set (plus the caller's environment); output goes to log. */
pid_t live_node_start(gw_world *w, const char *script, char *log, size_t cap);
/* Waits until the log contains needle; fails the test (printing the log) on timeout
 * or when the script exits first. */
void live_wait_output(pid_t pid, const char *log, const char *needle, int timeout_ms);
/* Waits for the script to exit 0; on failure prints its log and fails the test. */
void live_node_finish(pid_t pid, const char *log, int timeout_ms);
/* Skips nothing: fails with a clear message when node or the npm packages are missing. */
void live_require_node(void);

#endif
