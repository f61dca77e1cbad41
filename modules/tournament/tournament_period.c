/*
 * tournament module: runs. A one-off tournament has one run, its window. A
 * recurring one (resetSchedule + duration) has a run per period of the shared
 * calendar (modules/common/period.c): it starts at the period's start and
 * lasts `duration`; only runs that lie wholly inside [startDate, endDate)
 * count. Event time decides an event's run.
 *
 * A player's state holds the run the player last scored or entered in (the
 * live run): its numbers in the state fields, {"p": <run start ms>} in the
 * document. The first event of a later run moves the live run's numbers to
 * "h" (an object keyed by run start) so that its finalisation still finds
 * them, and starts the new run from zero: seats, attempts, entries and scores
 * are per run. A late event of an older run (inside its grace) counts for
 * that run's copy. Finalisation reads these states and never writes them;
 * each player keeps the copies of the TN_KEEP_RUNS latest runs.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tournament.h"

int tn_run_at(const tn_cfg *cfg, int64_t idx, int64_t *start, int64_t *end)
{
    int64_t ps, pe;
    bm_period_bounds(&cfg->sched, idx, &ps, &pe);
    *start = ps;
    *end = ps + cfg->duration_ms;
    return ps >= cfg->start_ms && *end <= cfg->end_ms ? 0 : -1;
}

int tn_run_of(const tn_cfg *cfg, int64_t t, int64_t *start, int64_t *end)
{
    if (!cfg->recurring) {
        *start = cfg->start_ms;
        *end = cfg->end_ms;
        return t >= cfg->start_ms && t < cfg->end_ms ? 0 : -1;
    }
    int64_t ps, pe;
    int64_t idx = bm_period_of(&cfg->sched, t, &ps, &pe);
    if (tn_run_at(cfg, idx, start, end) != 0)
        return -1;
    return t < *end ? 0 : -1;
}

int tn_run_for_command(const tn_cfg *cfg, int64_t t, int64_t *start, int64_t *end)
{
    if (!cfg->recurring) {
        *start = cfg->start_ms;
        *end = cfg->end_ms;
        return t < cfg->end_ms ? 0 : -1;
    }
    int64_t ps, pe;
    int64_t idx = bm_period_of(&cfg->sched, t, &ps, &pe);
    if (t >= ps + cfg->duration_ms)
        idx++;
    return tn_run_at(cfg, idx, start, end);
}

void tn_run_name(const tn_cfg *cfg, int64_t run, char *buf, size_t len)
{
    if (cfg->recurring)
        bm_period_name(run, buf, len);
    else if (len)
        buf[0] = '\0';
}

static void slot_from_live(const bm_state *st, json_t *doc, tn_slot *s)
{
    s->value = st->value;
    s->aux = st->aux;
    s->count = st->count;
    s->reached_ms = st->reached_ms;
    s->first_ms = st->first_ms;
    s->updated_ms = st->updated_ms;
    s->flags = st->flags;
    const char *c = json_string_value(json_object_get(doc, "c"));
    snprintf(s->team, sizeof s->team, "%s", c ? c : "");
}

static void slot_to_live(bm_state *st, const tn_slot *s)
{
    st->value = s->value;
    st->aux = s->aux;
    st->count = s->count;
    st->reached_ms = s->reached_ms;
    st->first_ms = s->first_ms;
    st->updated_ms = s->updated_ms;
    st->flags = s->flags;
}

/* [value, aux, count, reached, first, updated, flags, team] */
static json_t *slot_json(const tn_slot *s)
{
    return json_pack("[f, f, I, I, I, I, i, s]", s->value, s->aux, (json_int_t)s->count,
                     (json_int_t)s->reached_ms, (json_int_t)s->first_ms, (json_int_t)s->updated_ms,
                     (int)s->flags, s->team);
}

static void slot_of_json(json_t *a, tn_slot *s)
{
    memset(s, 0, sizeof *s);
    if (!json_is_array(a))
        return;
    s->value = json_number_value(json_array_get(a, 0));
    s->aux = json_number_value(json_array_get(a, 1));
    s->count = json_integer_value(json_array_get(a, 2));
    s->reached_ms = json_integer_value(json_array_get(a, 3));
    s->first_ms = json_integer_value(json_array_get(a, 4));
    s->updated_ms = json_integer_value(json_array_get(a, 5));
    s->flags = (int32_t)json_integer_value(json_array_get(a, 6));
    const char *t = json_string_value(json_array_get(a, 7));
    snprintf(s->team, sizeof s->team, "%s", t ? t : "");
}

static json_t *doc_of(const bm_state *st)
{
    json_t *d = st->doc ? json_loads(st->doc, 0, NULL) : NULL;
    if (!json_is_object(d)) {
        json_decref(d);
        d = json_object();
    }
    return d;
}

void tn_slot_get(const tn_cfg *cfg, const bm_state *st, int64_t run, tn_slot *s)
{
    memset(s, 0, sizeof *s);
    json_t *d = doc_of(st);
    json_t *p = json_object_get(d, "p");
    if (!cfg->recurring || (json_is_integer(p) && json_integer_value(p) == run)) {
        slot_from_live(st, d, s);
    } else if (json_is_integer(p) && json_integer_value(p) > run) {
        char k[32];
        snprintf(k, sizeof k, "%lld", (long long)run);
        slot_of_json(json_object_get(json_object_get(d, "h"), k), s);
    }
    json_decref(d);
}

/* Keeps the TN_KEEP_RUNS latest copies under "h". */
static void trim_runs(const bm_host_api *api, bm_host *host, json_t *h)
{
    while (json_object_size(h) > TN_KEEP_RUNS) {
        const char *oldest = NULL, *k;
        json_t *v;
        json_object_foreach(h, k, v)
        {
            if (!oldest || atoll(k) < atoll(oldest))
                oldest = k;
        }
        char key[32];
        snprintf(key, sizeof key, "%s", oldest);
        json_object_del(h, key);
        api->metric_add(host, "tournament_runs_dropped", 1);
    }
}

int tn_slot_put(const bm_host_api *api, bm_host *host, const tn_cfg *cfg, bm_batch *b, bm_state *st,
                int64_t run, const tn_slot *s)
{
    json_t *d = doc_of(st);
    int rc = BM_RETRY;
    if (cfg->recurring) {
        json_t *p = json_object_get(d, "p");
        json_t *h = json_object_get(d, "h");
        if (!json_is_object(h)) {
            h = json_object();
            json_object_set_new(d, "h", h);
        }
        char k[32];
        if (json_is_integer(p) && json_integer_value(p) > run) {
            snprintf(k, sizeof k, "%lld", (long long)run);
            json_object_set_new(h, k, slot_json(s));
        } else {
            if (json_is_integer(p) && json_integer_value(p) < run && (st->count > 0 || st->flags)) {
                tn_slot live;
                slot_from_live(st, d, &live);
                snprintf(k, sizeof k, "%lld", (long long)json_integer_value(p));
                json_object_set_new(h, k, slot_json(&live));
            }
            slot_to_live(st, s);
            json_object_set_new(d, "p", json_integer(run));
            json_object_set_new(d, "c", json_string(s->team));
        }
        trim_runs(api, host, h);
        if (json_object_size(h) == 0)
            json_object_del(d, "h");
    } else {
        slot_to_live(st, s);
        if (s->team[0])
            json_object_set_new(d, "c", json_string(s->team));
    }
    char *text = json_object_size(d) ? json_dumps(d, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if ((!text && json_object_size(d)) || (text && api->state_set_doc(b, st, text) != 0))
        goto out;
    if (api->state_put(b, st, NULL) != 0)
        goto out;
    rc = BM_OK;
out:
    free(text);
    json_decref(d);
    return rc;
}
