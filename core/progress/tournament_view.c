/*
 * The tournament view (bmctl tournament show and GET /v1/tournaments/{id}):
 * seats, ranks and prizes computed by the module's own ranking
 * (modules/tournament/tournament_prize.c, linked into the host), so the
 * provisional table shown while a tournament runs is the one its
 * finalisation will pay; once paid, the stored results.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign.h"
#include "host/host.h"
#include "progress/progress.h"
#include "tournament.h"
#include "util/rfc3339.h"

typedef struct tn_rows {
    tn_entry *e;
    char (*user)[256];
    char (*team)[72];
    size_t n;
} tn_rows;

/* Entrants with a counted score; `run` (the run's start in ms, as text) picks a
 * recurring tournament's run: the live state of players in it, or their copy of it. */
static int load_entrants(PGconn *c, const char *id, const char *run, tn_rows *rows, char *err,
                         size_t errlen)
{
    const char *p[2] = {id, run};
    PGresult *r =
        run ? PQexecParams(c,
                           "SELECT user_id, current_value, "
                           "COALESCE((extract(epoch FROM reached_at) * 1000)::bigint, 0), "
                           "COALESCE((extract(epoch FROM first_event_at) * 1000)::bigint, 0), "
                           "COALESCE(progress_data->>'c', '') "
                           "FROM user_progress WHERE campaign_id = $1::uuid AND event_count > 0 "
                           "AND progress_data->>'p' = $2 "
                           "UNION ALL SELECT user_id, (h->>0)::float8, (h->>3)::bigint, "
                           "(h->>4)::bigint, COALESCE(h->>7, '') FROM (SELECT user_id, "
                           "progress_data->'h'->$2 AS h FROM user_progress WHERE campaign_id = "
                           "$1::uuid) s WHERE jsonb_typeof(h) = 'array' AND (h->>2)::bigint > 0",
                           2, NULL, p, NULL, NULL, 0)
            : PQexecParams(c,
                           "SELECT user_id, current_value, "
                           "COALESCE((extract(epoch FROM reached_at) * 1000)::bigint, 0), "
                           "COALESCE((extract(epoch FROM first_event_at) * 1000)::bigint, 0), "
                           "COALESCE(progress_data->>'c', '') "
                           "FROM user_progress WHERE campaign_id = $1::uuid AND event_count > 0",
                           1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading standings: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    rows->e = calloc(n + 1, sizeof *rows->e);
    rows->user = calloc(n + 1, sizeof *rows->user);
    rows->team = calloc(n + 1, sizeof *rows->team);
    if (!rows->e || !rows->user || !rows->team) {
        PQclear(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(rows->user[i], sizeof rows->user[i], "%s", PQgetvalue(r, (int)i, 0));
        snprintf(rows->team[i], sizeof rows->team[i], "%s", PQgetvalue(r, (int)i, 4));
        rows->e[i] = (tn_entry){rows->user[i], strtod(PQgetvalue(r, (int)i, 1), NULL),
                                atoll(PQgetvalue(r, (int)i, 2)), atoll(PQgetvalue(r, (int)i, 3)),
                                rows->team[i][0] ? rows->team[i] : NULL};
    }
    rows->n = n;
    PQclear(r);
    return 0;
}

/* The stored results once paid: [{position, rank, userId, score, prize}]; NULL on error. */
static json_t *load_results(PGconn *c, const char *id, const char *period, char *err, size_t errlen)
{
    const char *p[2] = {id, period};
    PGresult *r = PQexecParams(c,
                               "SELECT rank, COALESCE(tied_rank, rank), user_id, score, "
                               "COALESCE(prize::text, 'null') FROM tournament_results WHERE "
                               "campaign_id = $1::uuid AND period = $2 ORDER BY rank",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading results: %s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *prize = json_loads(PQgetvalue(r, i, 4), JSON_DECODE_ANY, NULL);
        json_t *row =
            json_pack("{s:i, s:i, s:s, s:f, s:o}", "position", atoi(PQgetvalue(r, i, 0)), "rank",
                      atoi(PQgetvalue(r, i, 1)), "userId", PQgetvalue(r, i, 2), "score",
                      strtod(PQgetvalue(r, i, 3), NULL), "prize", prize ? prize : json_null());
        json_array_append_new(arr, row);
    }
    PQclear(r);
    return arr;
}

/* "paid" / "cancelled" once finalised (the summary row "final", or "final:<period>"
 * for a run), else ""; -1 on error. */
static int final_status(PGconn *c, const char *id, const char *period, char *buf, size_t len)
{
    char key[64];
    snprintf(key, sizeof key, "final%s%s", *period ? ":" : "", period);
    const char *p[2] = {id, key};
    PGresult *r = PQexecParams(c,
                               "SELECT doc->>'status' FROM module_results WHERE campaign_id = "
                               "$1::uuid AND kind = 'tournament' AND key = $2",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return -1;
    }
    snprintf(buf, len, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return 0;
}

static const char *status_of(int64_t start, int64_t end, int64_t now, const char *final)
{
    if (*final)
        return final;
    if (now < start)
        return "scheduled";
    return now < end ? "running" : "ended";
}

/*
 * The run to show: the one named by `period` (RFC 3339 start; 1 when it names
 * no run), else the run now falls in, else the latest run that started, else
 * the first one.
 */
static int pick_run(const tn_cfg *cfg, const char *period, int64_t now, int64_t *run,
                    int64_t *run_end)
{
    int64_t ps, pe;
    if (period) {
        int64_t t;
        if (bm_rfc3339_parse(period, &t) != 0 || tn_run_of(cfg, t, run, run_end) != 0 || *run != t)
            return 1;
        return 0;
    }
    int64_t t = now < cfg->start_ms ? cfg->start_ms : now >= cfg->end_ms ? cfg->end_ms - 1 : now;
    int64_t idx = bm_period_of(&cfg->sched, t, &ps, &pe);
    for (int64_t k = idx; k > idx - 400; k--)
        if (tn_run_at(cfg, k, run, run_end) == 0 && *run <= t)
            return 0;
    for (int64_t k = idx + 1; k < idx + 400; k++)
        if (tn_run_at(cfg, k, run, run_end) == 0)
            return 0;
    return 1;
}

/* The finalised runs of a recurring tournament, newest first (at most 100): [{period, status}]. */
static json_t *load_periods(PGconn *c, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = PQexecParams(c,
                               "SELECT substr(key, 7), doc->>'status' FROM module_results WHERE "
                               "campaign_id = $1::uuid AND kind = 'tournament' AND key LIKE "
                               "'final:%' ORDER BY key DESC LIMIT 100",
                               1, NULL, p, NULL, NULL, 0);
    json_t *arr = json_array();
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "period", PQgetvalue(r, i, 0), "status",
                                             PQgetvalue(r, i, 1)));
    PQclear(r);
    return arr;
}

json_t *bm_pv_tournament(PGconn *c, const bm_pv_campaign *cc, int64_t now_ms, const char *period,
                         int *bad_period, char *err, size_t errlen)
{
    *bad_period = 0;
    char *cfg_text = json_dumps(cc->config, JSON_COMPACT);
    bm_campaign camp = {.id = cc->id, .config_json = cfg_text, .name = cc->name};
    bm_host *host = bm_host_new("tournament", NULL);
    tn_cfg *cfg = NULL;
    tn_rows rows = {0};
    tn_result *res = NULL;
    json_t *out = NULL, *stored = NULL;
    snprintf(err, errlen, "out of memory");
    if (!cfg_text || !host ||
        bm_camp_window(cfg_text, &camp.start_ms, &camp.end_ms, err, errlen) != 0 ||
        !(cfg = tn_cfg_parse(bm_host_api_get(), host, &camp, err, errlen)))
        goto done;
    int64_t run = cfg->start_ms, run_end = cfg->end_ms;
    char rn[40] = "", run_ms[32];
    if (period && !cfg->recurring) {
        *bad_period = 1;
        snprintf(err, errlen, "period: this tournament does not recur");
        goto done;
    }
    if (cfg->recurring) {
        if (pick_run(cfg, period, now_ms, &run, &run_end) != 0) {
            *bad_period = 1;
            snprintf(err, errlen, "period: '%s' is not the start of a run of this tournament",
                     period ? period : "");
            goto done;
        }
        tn_run_name(cfg, run, rn, sizeof rn);
    }
    snprintf(run_ms, sizeof run_ms, "%lld", (long long)run);
    if (load_entrants(c, cc->id, cfg->recurring ? run_ms : NULL, &rows, err, errlen) != 0 ||
        !(stored = load_results(c, cc->id, rn, err, errlen)))
        goto done;
    res = calloc(rows.n + 1, sizeof *res);
    size_t refused = 0;
    int n = res ? tn_rank(cfg, rows.e, rows.n, res, &refused) : -1;
    if (n < 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    char fin[32];
    if (final_status(c, cc->id, rn, fin, sizeof fin) != 0) {
        snprintf(err, errlen, "reading the final status: %s", PQerrorMessage(c));
        goto done;
    }
    json_t *standings = json_array();
    for (int i = 0; i < n; i++) {
        /* scoreBy community: prizes go to communities, shown once paid (results) */
        json_t *row = json_pack("{s:i, s:i, s:s, s:f, s:I}", "position", res[i].position, "rank",
                                res[i].rank, "userId", res[i].user, "score", res[i].score, "prize",
                                (json_int_t)(cfg->by_community ? 0 : res[i].prize));
        if (res[i].team)
            json_object_set_new(row, "community", json_string(res[i].team));
        json_array_append_new(standings, row);
    }
    out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:o, s:O}", "id", cc->id,
                    "name", cc->name, "status", status_of(run, run_end, now_ms, fin), "startMs",
                    (json_int_t)run, "endMs", (json_int_t)run_end, "graceSeconds",
                    (json_int_t)(cfg->grace_ms / 1000), "seated", (json_int_t)n, "refused",
                    (json_int_t)refused, "totalMinor", (json_int_t)cfg->total_minor, "decimals",
                    cfg->decimals, "standings", standings, "results", stored);
    if (out && cfg->recurring) {
        json_object_set_new(out, "period", json_string(rn));
        json_object_set_new(out, "seriesStartMs", json_integer(cfg->start_ms));
        json_object_set_new(out, "seriesEndMs", json_integer(cfg->end_ms));
        json_object_set_new(out, "periods", load_periods(c, cc->id));
    }
    if (out && cfg->max_participants > 0)
        json_object_set_new(out, "maxParticipants", json_integer(cfg->max_participants));
    if (!out)
        snprintf(err, errlen, "out of memory");
done:
    json_decref(stored);
    free(res);
    free(rows.e);
    free(rows.user);
    free(rows.team);
    tn_cfg_free(bm_host_api_get(), cfg);
    bm_host_free(host);
    free(cfg_text);
    return out;
}
