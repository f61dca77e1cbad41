/*
 * reward_ledger: a complete reward module built out of tree against the
 * installed <brightmatter/module.h> only. It serves the reward type "ledger"
 * and delivers a reward by appending one line to a ledger file:
 *
 *     <idempotency key> TAB <user id> TAB <reward config JSON> NEWLINE
 *
 * The file is named by the environment variable BM_LEDGER_FILE, read once in
 * init (a module that needs settings reads them there and refuses to load
 * without them). It shows the three things every reward module must get right:
 *
 *  1. Idempotency: the host may hand the same reward over again (after a
 *     crash between the effect and the record), so the effect is keyed by
 *     r->idem_key and a key already in the ledger is reported delivered.
 *  2. Three-way result: BM_OK delivered, BM_RETRY a transient failure (the
 *     host retries on its schedule), BM_ERROR permanent (the reward fails
 *     with the message written to `result`).
 *  3. Threads: on_reward runs on several worker threads at once, so shared
 *     state is guarded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brightmatter/module.h>

typedef struct ledger {
    const bm_host_api *api;
    bm_host *host;
    char path[1024];
    pthread_mutex_t mu; /* one writer at a time: check-then-append must not interleave */
} ledger;

static int ledger_init(const bm_host_api *api, bm_host *host, void **instance, char *err,
                       size_t errlen)
{
    const char *path = getenv("BM_LEDGER_FILE");
    if (!path || !*path) {
        snprintf(err, errlen, "BM_LEDGER_FILE is not set: where should rewards be written?");
        return BM_ERROR;
    }
    ledger *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return BM_ERROR;
    }
    l->api = api;
    l->host = host;
    snprintf(l->path, sizeof l->path, "%s", path);
    pthread_mutex_init(&l->mu, NULL);
    *instance = l;
    api->log(host, BM_LOG_INFO, "writing rewards to %s", l->path);
    return BM_OK;
}

/* 1 if the ledger already has a line for key, 0 if not, -1 if it cannot be read. */
static int ledger_has(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char line[8192];
    size_t klen = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, key, klen) == 0 && line[klen] == '\t';
    fclose(f);
    return found;
}

static int ledger_on_reward(void *instance, const bm_reward *r, char *result, size_t resultlen)
{
    ledger *l = instance;
    if (strchr(r->idem_key, '\t') || strchr(r->idem_key, '\n') || strchr(r->user_id, '\t') ||
        strchr(r->user_id, '\n')) {
        snprintf(result, resultlen, "{\"error\":\"tab or newline in the key or user id\"}");
        return BM_ERROR;
    }
    pthread_mutex_lock(&l->mu);
    int rc = BM_OK;
    int has = ledger_has(l->path, r->idem_key);
    if (has < 0) {
        snprintf(result, resultlen, "{\"error\":\"cannot read the ledger: %s\"}", strerror(errno));
        rc = BM_RETRY;
    } else if (has) {
        snprintf(result, resultlen, "{\"ledger\":\"already recorded\"}");
    } else {
        FILE *f = fopen(l->path, "a");
        int ok = f && fprintf(f, "%s\t%s\t%s\n", r->idem_key, r->user_id,
                              r->config_json ? r->config_json : "{}") > 0;
        if (f && fclose(f) != 0)
            ok = 0;
        if (ok) {
            snprintf(result, resultlen, "{\"ledger\":\"recorded\"}");
        } else {
            snprintf(result, resultlen, "{\"error\":\"cannot append to the ledger: %s\"}",
                     strerror(errno));
            rc = BM_RETRY;
        }
    }
    pthread_mutex_unlock(&l->mu);
    l->api->metric_add(l->host, rc == BM_OK ? "recorded" : "retried", 1);
    return rc;
}

static void ledger_destroy(void *instance)
{
    ledger *l = instance;
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static const bm_module g_module = {
    BM_MODULE_HEADER,
    .name = "reward_ledger",
    .version = "1.0.0",
    .kind = BM_KIND_REWARD,
    .serves = "ledger", /* reward_fulfillments.reward_type this module delivers */
    .description = "appends each reward to the file named by BM_LEDGER_FILE",
    .init = ledger_init,           /* required */
    .on_reward = ledger_on_reward, /* required for reward modules */
    .destroy = ledger_destroy,     /* required */
};

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    return &g_module;
}
