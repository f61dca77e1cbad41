/*
 * bmctl module check --smoke: runs a module for real, in a child process, under
 * the watchdog's deadlines: init, adoption of a sample campaign, sample events,
 * campaign_remove, destroy. A crash, an abort, a hang or an error is reported
 * with the callback that did it. The child gets the engine's host API with
 * state, outbox and rewards kept in memory (nothing touches a database or a
 * broker), so what is exercised is the module's own code.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bmctl/bmctl.h"
#include "campaign/campaign.h"
#include "event/event.h"
#include "host/host.h"
#include "loader/loader.h"
#include "log/log.h"
#include "supervisor/supervisor.h"
#include "util/clock.h"
#include "watchdog/watchdog.h"

/* --- the in-memory host side --------------------------------------------------- */

typedef struct smoke_state {
    char key[192];
    bm_state st;
    char *doc;
    struct smoke_state *next;
} smoke_state;

static smoke_state *g_states;
static long g_puts, g_emits, g_grants;

static bm_state *smoke_state_get(bm_batch *b, const char *campaign_id, const char *user_id)
{
    (void)b;
    char key[192];
    snprintf(key, sizeof key, "%s\x1f%s", campaign_id ? campaign_id : "", user_id ? user_id : "");
    for (smoke_state *s = g_states; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return &s->st;
    smoke_state *s = calloc(1, sizeof *s);
    if (!s)
        abort(); /* bmctl's own memory: nothing to blame on the module */
    snprintf(s->key, sizeof s->key, "%s", key);
    s->next = g_states;
    g_states = s;
    return &s->st;
}

static int smoke_set_doc(bm_batch *b, bm_state *st, const char *json)
{
    (void)b;
    smoke_state *s = (smoke_state *)((char *)st - offsetof(smoke_state, st));
    json_t *j = json ? json_loads(json, 0, NULL) : NULL;
    if (!j)
        return BM_ERROR;
    json_decref(j);
    free(s->doc);
    s->doc = strdup(json);
    st->doc = s->doc;
    return BM_OK;
}

static int smoke_put(bm_batch *b, bm_state *st, const char *topic)
{
    (void)b;
    (void)st;
    (void)topic;
    g_puts++;
    return BM_OK;
}

static int smoke_emit(bm_batch *b, const char *topic, const char *key, const char *json, int fl)
{
    (void)b;
    (void)key;
    (void)fl;
    if (!topic || !*topic || !json)
        return BM_ERROR;
    g_emits++;
    return BM_OK;
}

static int smoke_grant(bm_batch *b, const char *c, const char *u, const char *idem, const char *r)
{
    (void)b;
    if (!c || !u || !idem || !*idem || !r)
        return BM_ERROR;
    g_grants++;
    return BM_OK;
}

static int smoke_member(bm_batch *b, const char *community, const char *user)
{
    (void)b;
    (void)community;
    (void)user;
    return 0;
}

static int smoke_claim(bm_batch *b, const char *work_key)
{
    (void)b;
    (void)work_key;
    return 1;
}

static int smoke_top(bm_batch *b, const char *c, int limit, bm_standing *out)
{
    (void)b;
    (void)c;
    (void)limit;
    (void)out;
    return 0;
}

static int smoke_rank(bm_batch *b, const char *c, const char *u, bm_standing *out)
{
    (void)b;
    (void)c;
    (void)u;
    (void)out;
    return 0;
}

static int smoke_result(bm_batch *b, const char *c, const char *kind, const char *key,
                        const char *doc)
{
    (void)b;
    (void)c;
    (void)kind;
    (void)key;
    json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
    json_decref(j);
    return j ? BM_OK : BM_ERROR;
}

static bm_lua_limits g_lua;

static bm_host *smoke_host_new(void *ud, const char *name)
{
    (void)ud;
    return bm_host_new(name, &g_lua);
}

static void smoke_host_free(void *ud, bm_host *h)
{
    (void)ud;
    bm_host_free(h);
}

/* --- the child ------------------------------------------------------------------ */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static int routed(const bm_routes *r, const char *type)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->types[i], type) == 0)
            return 1;
    return 0;
}

/* Runs the module; exit 0 when every step passed, 1 with the reason on stdout. */
static int child(const bm_ctl *ctl, const char *so, const char *camp_path, const char *ev_path,
                 const char *dir)
{
    char err[1024], rec[1100], copies[1100];
    snprintf(rec, sizeof rec, "%s/crash.rec", dir);
    snprintf(copies, sizeof copies, "%s/copies", dir);
    const bm_config *c = &ctl->cfg;
    const int deadlines[BM_WD_NKINDS] = {c->wd_init_ms,     c->wd_campaign_ms, c->wd_campaign_ms,
                                         c->wd_campaign_ms, c->wd_event_ms,    c->wd_tick_ms,
                                         c->wd_other_ms,    c->wd_other_ms,    c->wd_other_ms};
    if (bm_watchdog_start(rec, deadlines, err, sizeof err) != 0) {
        printf("smoke: %s\n", err);
        return 1;
    }
    g_lua = (bm_lua_limits){.instructions = c->lua_instruction_limit,
                            .memory_kb = c->lua_memory_limit_kb,
                            .pattern_max_len = c->lua_pattern_max_len};
    static bm_host_api api;
    api = *bm_host_api_get();
    api.state_get = smoke_state_get;
    api.state_set_doc = smoke_set_doc;
    api.state_put = smoke_put;
    api.emit = smoke_emit;
    api.reward_grant = smoke_grant;
    api.community_member = smoke_member;
    api.claim_once = smoke_claim;
    api.standings_top = smoke_top;
    api.standings_rank = smoke_rank;
    api.result_put = smoke_result;
    bm_loader_host lh = {.api = &api, .host_new = smoke_host_new, .host_free = smoke_host_free};

    bm_modinst *mi = NULL;
    if (bm_loader_open(so, copies, 1, &lh, NULL, 0, &mi, err, sizeof err) != 0) {
        printf("smoke: refused: %s\n", err);
        return 1;
    }
    const bm_module *mod = bm_modinst_module(mi);
    printf("smoke: init ok (%s %s)\n", bm_modinst_name(mi), mod->version);
    fflush(stdout);
    if (mod->kind != BM_KIND_CAMPAIGN) {
        bm_loader_close(mi, &lh);
        printf("smoke: destroy ok (reward module: no campaign or events to run)\n");
        return 0;
    }

    /* The sample campaign: the given file, or the smallest one of the module's type. */
    char *text = camp_path ? slurp(camp_path) : NULL;
    if (camp_path && !text) {
        printf("smoke: cannot read %s\n", camp_path);
        return 1;
    }
    if (!text) {
        json_t *d = json_pack("{s:s, s:s, s:s}", "type", mod->serves, "name", "smoke", "gameId",
                              "smoke-game");
        text = json_dumps(d, JSON_COMPACT);
        json_decref(d);
    }
    json_t *cj = json_loads(text, 0, NULL);
    if (!cj) {
        printf("smoke: %s: not JSON\n", camp_path ? camp_path : "sample campaign");
        return 1;
    }
    bm_camp_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.id, sizeof row.id, "00000000-0000-4000-8000-00000000500e");
    const char *game = json_string_value(json_object_get(cj, "gameId"));
    const char *type = json_string_value(json_object_get(cj, "type"));
    const char *name = json_string_value(json_object_get(cj, "name"));
    snprintf(row.game, sizeof row.game, "%s", game ? game : "smoke-game");
    snprintf(row.type, sizeof row.type, "%s", type ? type : mod->serves);
    snprintf(row.name, sizeof row.name, "%s", name ? name : "smoke");
    snprintf(row.status, sizeof row.status, "active");
    row.config = text;
    row.version = 1;
    json_decref(cj);
    if (bm_camp_window(text, &row.start_ms, &row.end_ms, err, sizeof err) != 0) {
        printf("smoke: campaign: %s\n", err);
        return 1;
    }
    bm_campaign camp;
    bm_camp_view(&camp, &row);
    bm_routes routes = {0};
    void *cctx = NULL;
    err[0] = '\0';
    int rc = bm_modinst_call_campaign_add(mi, &camp, &routes, &cctx, err, sizeof err);
    if (rc != BM_OK) {
        printf("smoke: campaign_add refused the sample campaign: %s\n", err[0] ? err : "no reason");
        return 1;
    }
    printf("smoke: campaign_add ok (%zu event types routed)\n", routes.n);
    fflush(stdout);

    /* The sample events: the given JSONL, or three per routed type. */
    char *evs = ev_path ? slurp(ev_path) : NULL;
    if (ev_path && !evs) {
        printf("smoke: cannot read %s\n", ev_path);
        return 1;
    }
    if (!evs) {
        size_t cap = 256 + routes.n * 3 * 256;
        evs = calloc(1, cap);
        char ts[40];
        bm_rfc3339_format(bm_now_ms(), ts, sizeof ts);
        for (size_t t = 0; evs && t < routes.n; t++)
            for (int u = 1; u <= 3; u++)
                snprintf(evs + strlen(evs), cap - strlen(evs),
                         "{\"gameId\":\"%s\",\"userId\":\"smoke-%d\",\"eventType\":\"%s\","
                         "\"data\":{\"points\":%d},\"timestamp\":\"%s\"}\n",
                         row.game, u, routes.types[t], u, ts);
    }
    bm_event_limits lim = {.max_bytes = (size_t)c->max_event_bytes,
                           .now_ms = bm_now_ms(),
                           .past_ms = (int64_t)c->past_bound_s * 1000,
                           .future_ms = (int64_t)c->future_bound_s * 1000};
    long n = 0, ok = 0, skipped = 0, errors = 0, ignored = 0, bad = 0;
    for (char *line = evs, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (!*line)
            continue;
        bm_event ev;
        char reason[128];
        memset(&ev, 0, sizeof ev);
        if (bm_event_decode(&ev, line, strlen(line), &lim, reason, sizeof reason) != 0) {
            bad++;
            printf("smoke: event line refused by the decoder: %s\n", reason);
            continue;
        }
        if (strcmp(ev.game_id, row.game) != 0 || !routed(&routes, ev.event_type)) {
            ignored++;
            bm_event_clear(&ev);
            continue;
        }
        n++;
        rc = bm_modinst_call_event(mi, cctx, NULL, &ev, row.id);
        bm_event_clear(&ev);
        if (rc == BM_OK)
            ok++;
        else if (rc == BM_SKIP)
            skipped++;
        else
            errors++;
    }
    free(evs);
    printf("smoke: on_event ok: %ld events (%ld ok, %ld skipped, %ld errors), %ld not routed, "
           "%ld refused by the decoder; %ld state writes, %ld messages, %ld rewards\n",
           n, ok, skipped, errors, ignored, bad, g_puts, g_emits, g_grants);
    fflush(stdout);
    bm_modinst_call_campaign_remove(mi, cctx, 0, row.id);
    bm_routes_clear(&routes);
    bm_loader_close(mi, &lh); /* drain and destroy, under the watchdog */
    free(text);
    printf("smoke: destroy ok\n");
    return errors > 0 || bad > 0 ? 1 : 0;
}

/* --- the parent -------------------------------------------------------------------- */

int bm_ctl_module_smoke(const bm_ctl *ctl, const char *so, const char *camp_path,
                        const char *ev_path)
{
    char dir[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/bm-smoke.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bmctl: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bmctl: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        bm_log_set_level(BM_LOG_LVL_ERROR);
        int code = child(ctl, so, camp_path, ev_path, dir);
        fflush(stdout);
        _exit(code);
    }
    /* The watchdog ends a hung child; this bound only covers a child stopped
     * where no watchdog runs. */
    const bm_config *c = &ctl->cfg;
    int64_t limit = (int64_t)c->wd_init_ms + 3 * c->wd_campaign_ms + 2 * c->wd_other_ms + 60000;
    int64_t until = bm_mono_ms() + limit;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (bm_mono_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec nap = {0, 20 * 1000000L};
        nanosleep(&nap, NULL);
    }
    char rec[1100], copies[1100];
    snprintf(rec, sizeof rec, "%s/crash.rec", dir);
    bm_crash_record cr;
    int have = bm_watchdog_take_record(rec, &cr) == 0;
    int rc = 0;
    if (WIFSIGNALED(status)) {
        if (have)
            printf("smoke FAILED: %s: %s in %s%s%s\n", so, cr.reason, cr.callback,
                   cr.campaign[0] ? " of the sample campaign " : "", cr.campaign);
        else
            printf("smoke FAILED: %s: killed by signal %d (%s) outside a module callback\n", so,
                   WTERMSIG(status), strsignal(WTERMSIG(status)));
        rc = 1;
    } else if (WEXITSTATUS(status) == BM_EXIT_RESTART && have) {
        printf("smoke FAILED: %s: hang: %s (%s)\n", so, cr.callback, cr.reason);
        rc = 1;
    } else if (WEXITSTATUS(status) != 0) {
        printf("smoke FAILED: %s: see the step above\n", so);
        rc = 1;
    } else {
        printf("smoke ok: %s\n", so);
    }
    /* The child's per-generation copy, if it died before removing it. */
    snprintf(copies, sizeof copies, "%s/copies", dir);
    DIR *d = opendir(copies);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", copies, de->d_name);
        if (de->d_name[0] != '.')
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(copies);
    unlink(rec);
    rmdir(dir);
    return rc;
}
