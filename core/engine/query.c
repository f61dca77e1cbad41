/*
 * "query <campaign id> <json>" on the admin socket: the campaign module's
 * query() under watchdog.query_ms (core/watchdog/wd_call.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "watchdog/wd_call.h"

/* One query() call, as the watchdog's helper thread makes it. */
typedef struct query_call {
    const bm_module *m;
    bm_modref *ref;
    void *cctx;
    char *request;
    char *resp;
    int rc;
} query_call;

static void query_call_run(void *arg)
{
    query_call *q = arg;
    q->rc = q->m->query(bm_modref_instance(q->ref), q->cctx, q->request, &q->resp);
}

static void query_call_free(void *arg)
{
    query_call *q = arg;
    bm_loader_release(q->ref);
    free(q->resp);
    free(q->request);
    free(q);
}

/* Calls query() under watchdog.query_ms; NULL when it overran (the call is
 * abandoned with its pin) or could not be made, with *status 504 or 503. */
static query_call *guarded_query(bm_engine *e, const char *id, bm_modref *ref, void *cctx,
                                 const char *request, int *status)
{
    const bm_module *m = bm_modref_module(ref);
    query_call *q = calloc(1, sizeof *q);
    bm_wd_caller *wc = bm_wd_caller_new();
    if (q)
        q->request = strdup(request);
    if (!q || !q->request || !wc) {
        if (q)
            free(q->request);
        free(q);
        bm_wd_caller_free(wc);
        bm_loader_release(ref);
        *status = 503;
        return NULL;
    }
    q->m = m;
    q->ref = ref;
    q->cctx = cctx;
    bm_wd_site site;
    bm_wd_site_set(&site, BM_WD_QUERY, m->name, bm_modinst_generation(bm_modref_inst(ref)),
                   bm_modinst_file(bm_modref_inst(ref)), id);
    int rc = bm_wd_caller_run(wc, &site, e->cfg.wd_query_ms, query_call_run, query_call_free, q);
    bm_wd_caller_free(wc);
    if (rc == 0)
        return q;
    if (rc < 0)
        query_call_free(q);
    *status = rc > 0 ? 504 : 503;
    return NULL;
}

/* "query <campaign id> <json>": the campaign module's query(), with the
 * generation and the campaign context pinned for the call (a reload or an
 * update meanwhile never cuts it off), on a helper thread under
 * watchdog.query_ms, so a module that never answers cannot hold the admin
 * socket: the client gets a 504 answer and the next request is served. */
char *bm_engine_admin_query(void *ud, const char *req)
{
    bm_engine *e = ud;
    char id[64] = "";
    const char *p = req + strlen("query ");
    size_t n = strcspn(p, " ");
    json_t *out = NULL;
    if (n == 0 || n >= sizeof id) {
        out = json_pack("{s:s}", "error", "usage: query CAMPAIGN JSON");
    } else {
        memcpy(id, p, n);
        const char *request = p[n] ? p + n + 1 : "{}";
        void *cctx = NULL;
        bm_modref *r = bm_loader_acquire_campaign(e->loader, id, &cctx);
        const bm_module *m = r ? bm_modref_module(r) : NULL;
        if (!r) {
            out = json_pack("{s:s}", "error", "no module serves this campaign");
        } else if (!m->query) {
            out = json_pack("{s:s}", "error", "the campaign's module answers no queries");
        } else {
            char name[64];
            snprintf(name, sizeof name, "%s", m->name);
            int gen = bm_modinst_generation(bm_modref_inst(r)), status = 0;
            query_call *qc = guarded_query(e, id, r, cctx, request, &status);
            r = NULL; /* the call owns the pin now */
            if (!qc) {
                out = json_pack("{s:s, s:s, s:i, s:i}", "error",
                                status == 504 ? "the module did not answer within "
                                                "watchdog.query_ms; the call was abandoned"
                                              : "the query could not be started",
                                "module", name, "status", status, "timeoutMs", e->cfg.wd_query_ms);
            } else {
                json_t *answer = qc->resp ? json_loads(qc->resp, JSON_DECODE_ANY, NULL) : NULL;
                out = json_pack("{s:s, s:s, s:i, s:i}", "campaignId", id, "module", name,
                                "generation", gen, "rc", qc->rc);
                if (answer)
                    json_object_set_new(out, "response", answer);
                else if (qc->resp)
                    json_object_set_new(out, "responseText", json_string(qc->resp));
                query_call_free(qc);
            }
        }
        bm_loader_release(r);
    }
    char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    return s;
}
