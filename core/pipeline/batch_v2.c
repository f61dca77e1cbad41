/*
 * Host API version 2, the batch side: once-only claims, committed standings,
 * module-owned result rows and campaign ends. Everything a batch writes here
 * goes into its one transaction (job.c).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pipeline/batch_internal.h"

#define TS_MS(col) "COALESCE((extract(epoch FROM " col ") * 1000)::bigint, 0)"
#define HOST_CLAIMS "@host" /* not a valid module name: never clashes with one */

static void claim_free(bm_job_claim *c)
{
    free(c->module);
    free(c->campaign);
    free(c->key);
}

static void result_free(bm_job_result *r)
{
    free(r->campaign);
    free(r->kind);
    free(r->key);
    free(r->doc);
}

void bm_batch_reset_v2(bm_batch *b)
{
    for (size_t i = 0; i < b->nclaims; i++)
        claim_free(&b->claims[i]);
    b->nclaims = 0;
    for (size_t i = 0; i < b->nresults; i++)
        result_free(&b->results[i]);
    b->nresults = 0;
    for (size_t i = 0; i < b->nmembers; i++)
        bm_job_member_free(&b->members[i]);
    b->nmembers = 0;
    b->nends = 0;
    b->cur_mi = NULL;
}

/* "module\x1fcampaign\x1fkey": the identity of a claim in memory. */
static char *claim_id(const char *module, const char *campaign, const char *key)
{
    size_t n = strlen(module) + strlen(campaign) + strlen(key) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s\x1f%s\x1f%s", module, campaign, key);
    return s;
}

/* 1 claimed by this batch, 0 taken already, -1 error. */
static int claim_as(bm_batch *b, const char *module, const char *campaign, const char *key)
{
    bm_pipeline *p = b->e;
    for (size_t i = 0; i < b->nclaims; i++)
        if (strcmp(b->claims[i].key, key) == 0 && strcmp(b->claims[i].module, module) == 0 &&
            strcmp(b->claims[i].campaign, campaign) == 0)
            return 0;
    char *id = claim_id(module, campaign, key);
    if (!id)
        return -1;
    int taken = bm_strset_has(&p->claimed, id) || bm_strset_has(&p->inflight, id);
    if (!taken) {
        const char *v[3] = {module, campaign, key};
        PGresult *r = PQexecParams(p->pg,
                                   "SELECT 1 FROM work_claims WHERE module = $1 AND "
                                   "campaign_id = $2 AND work_key = $3",
                                   3, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            bm_error("pipeline", "claim %s/%s: %s", module, key, PQerrorMessage(p->pg));
            PQclear(r);
            free(id);
            return -1;
        }
        taken = PQntuples(r) > 0;
        PQclear(r);
        if (taken && bm_strset_add(&p->claimed, id) != 0)
            b->failed = 1;
    }
    free(id);
    if (taken)
        return 0;
    if (bm_batch_grow((void **)&b->claims, &b->capclaims, b->nclaims, sizeof *b->claims) != 0)
        goto oom;
    bm_job_claim c = {strdup(module), strdup(campaign), strdup(key)};
    if (!c.module || !c.campaign || !c.key) {
        claim_free(&c);
        goto oom;
    }
    b->claims[b->nclaims++] = c;
    return 1;
oom:
    b->failed = 1;
    return -1;
}

int bm_batch_claim_once(bm_batch *b, const char *work_key)
{
    if (!work_key || !*work_key || !b->cur_mi)
        return -1;
    return claim_as(b, bm_modinst_name(b->cur_mi), b->cur_camp ? bm_camp_id(b->cur_camp) : "",
                    work_key);
}

int bm_batch_end_campaign(bm_batch *b, const char *campaign_id, const char *reason)
{
    int rc = claim_as(b, HOST_CLAIMS, campaign_id, "end");
    if (rc != 1)
        return rc;
    if (bm_batch_grow((void **)&b->ends, &b->capends, b->nends, sizeof *b->ends) != 0) {
        b->failed = 1;
        return -1;
    }
    bm_job_end *e = &b->ends[b->nends++];
    snprintf(e->campaign, sizeof e->campaign, "%s", campaign_id);
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    return 1;
}

/* --- committed standings ------------------------------------------------------- */

static void fill_standing(PGresult *r, int row, bm_standing *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->user_id, sizeof out->user_id, "%s", PQgetvalue(r, row, 0));
    out->value = strtod(PQgetvalue(r, row, 1), NULL);
    out->reached_ms = strtoll(PQgetvalue(r, row, 2), NULL, 10);
    out->rank = strtoll(PQgetvalue(r, row, 3), NULL, 10);
}

int bm_batch_standings_top(bm_batch *b, const char *campaign_id, int limit, bm_standing *out)
{
    if (!campaign_id || limit < 0 || (limit > 0 && !out))
        return -1;
    if (limit == 0)
        return 0;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[2] = {campaign_id, lim};
    /* clang-format off */
    PGresult *r = PQexecParams(b->e->pg,
        "SELECT user_id, current_value, " TS_MS("reached_at") ", "
        "       row_number() OVER (ORDER BY current_value DESC, reached_at ASC, user_id ASC) "
        "FROM user_progress WHERE campaign_id = $1::uuid "
        "ORDER BY current_value DESC, reached_at ASC, user_id ASC LIMIT $2::int",
        2, NULL, v, NULL, NULL, 0);
    /* clang-format on */
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        bm_warn("pipeline", "standings of campaign=%s: %s", campaign_id, PQerrorMessage(b->e->pg));
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        fill_standing(r, i, &out[i]);
    PQclear(r);
    return n;
}

int bm_batch_standings_rank(bm_batch *b, const char *campaign_id, const char *user_id,
                            bm_standing *out)
{
    if (!campaign_id || !user_id || !out)
        return -1;
    const char *v[2] = {campaign_id, user_id};
    /* A missing reached_at sorts last, as in the index order of the top query. */
    /* clang-format off */
    PGresult *r = PQexecParams(b->e->pg,
        "SELECT p.user_id, p.current_value, " TS_MS("p.reached_at") ", "
        "       1 + (SELECT count(*) FROM user_progress q "
        "            WHERE q.campaign_id = p.campaign_id AND "
        "                  (-q.current_value, COALESCE(q.reached_at, 'infinity'), q.user_id) < "
        "                  (-p.current_value, COALESCE(p.reached_at, 'infinity'), p.user_id)) "
        "FROM user_progress p WHERE p.campaign_id = $1::uuid AND p.user_id = $2",
        2, NULL, v, NULL, NULL, 0);
    /* clang-format on */
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        bm_warn("pipeline", "rank in campaign=%s: %s", campaign_id, PQerrorMessage(b->e->pg));
        PQclear(r);
        return -1;
    }
    int found = PQntuples(r) == 1;
    if (found)
        fill_standing(r, 0, out);
    PQclear(r);
    return found;
}

/* --- module-owned results -------------------------------------------------------- */

int bm_batch_result_put(bm_batch *b, const char *campaign_id, const char *kind, const char *key,
                        const char *doc_json)
{
    if (!campaign_id || !kind || !*kind || !key || !doc_json)
        return BM_ERROR;
    if (!bm_camps_find(b->e->camps, campaign_id))
        return BM_ERROR;
    json_error_t jerr;
    json_t *doc = json_loads(doc_json, JSON_DECODE_ANY, &jerr);
    if (!doc) {
        bm_warn("pipeline", "campaign=%s result %s/%s refused: invalid JSON: %s", campaign_id, kind,
                key, jerr.text);
        return BM_ERROR;
    }
    char *compact = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    if (!compact)
        goto oom;
    /* The last write of a key in a batch wins, as in the table. */
    for (size_t i = 0; i < b->nresults; i++) {
        bm_job_result *r = &b->results[i];
        if (strcmp(r->campaign, campaign_id) == 0 && strcmp(r->kind, kind) == 0 &&
            strcmp(r->key, key) == 0) {
            free(r->doc);
            r->doc = compact;
            return BM_OK;
        }
    }
    if (bm_batch_grow((void **)&b->results, &b->capresults, b->nresults, sizeof *b->results) != 0) {
        free(compact);
        goto oom;
    }
    bm_job_result r = {strdup(campaign_id), strdup(kind), strdup(key), compact};
    if (!r.campaign || !r.kind || !r.key) {
        result_free(&r);
        goto oom;
    }
    b->results[b->nresults++] = r;
    return BM_OK;
oom:
    b->failed = 1;
    return BM_ERROR;
}

int bm_batch_community_member(bm_batch *b, const char *community_id, const char *user_id)
{
    if (!community_id || !user_id)
        return -1;
    return bm_members_check(b->e, community_id, user_id);
}
