#include "e2e/live/live_node.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int find_node(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/node", d);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}

static void modules_dir(char *out, size_t cap)
{
    const char *src = getenv("BM_SOURCE_DIR");
    snprintf(out, cap, "%s/sdk/web/node_modules", src ? src : ".");
}

void live_require_node(void)
{
    char node[1024], mods[1024], probe[1100];
    if (find_node(node, sizeof node) != 0)
        bm_e2e_fail("node is not installed (scripts/lib/common.sh installs nodejs)");
    modules_dir(mods, sizeof mods);
    snprintf(probe, sizeof probe, "%s/ws/package.json", mods);
    if (access(probe, R_OK) != 0)
        bm_e2e_fail("%s is missing: run sdk/web/install (scripts/test does)", probe);
}

pid_t live_node_start(gw_world *w, const char *script, char *log, size_t cap)
{
    live_require_node();
    char node[1024], mods[1024], path[1024], url[64];
    find_node(node, sizeof node);
    modules_dir(mods, sizeof mods);
    snprintf(path, sizeof path, "%s/tests/e2e/live/%s", getenv("BM_SOURCE_DIR"), script);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", w->port);
    setenv("BM_URL", url, 1);
    setenv("BM_KEY", w->key, 1);
    setenv("BM_BOARD", w->board, 1);
    setenv("BM_NODE_MODULES", mods, 1);
    snprintf(log, cap, "%s/%s.log", w->e.dir, script);
    char *argv[] = {node, path, NULL};
    return bm_e2e_spawn(&w->e, argv, log);
}

static void dump(const char *log)
{
    char *text = bm_e2e_slurp(log, NULL);
    fprintf(stderr, "---- %s ----\n%s\n----\n", log, text ? text : "(empty)");
    free(text);
}

void live_wait_output(pid_t pid, const char *log, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        char *text = bm_e2e_slurp(log, NULL);
        int found = text && strstr(text, needle);
        free(text);
        if (found)
            return;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            dump(log);
            bm_e2e_fail("%s ended before printing %s", log, needle);
        }
        bm_e2e_sleep_ms(100);
    }
    dump(log);
    bm_e2e_fail("%s: no %s within %d ms", log, needle, timeout_ms);
}

void live_node_finish(pid_t pid, const char *log, int timeout_ms)
{
    int rc = bm_e2e_wait_exit(pid, timeout_ms, log);
    if (rc != 0) {
        dump(log);
        bm_e2e_fail("%s exited with %d", log, rc);
    }
    char *text = bm_e2e_slurp(log, NULL);
    fprintf(stderr, "%s", text ? text : "");
    free(text);
}
