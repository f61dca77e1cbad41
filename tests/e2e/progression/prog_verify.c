/* What the engine wrote to PostgreSQL, compared with the oracle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/progression/prog.h"

#define SHOW 8 /* mismatches printed before failing */

typedef struct prow {
    char user[32];
    double value, aux;
    long long count, completed_ms;
    int completed, flags;
    json_t *doc;
    int seen;
} prow;

typedef struct prows {
    prow *v;
    size_t n;
} prows;

static int cmp_prow(const void *a, const void *b)
{
    return strcmp(((const prow *)a)->user, ((const prow *)b)->user);
}

static PGresult *query(bm_e2e *e, const char *sql, int nparams, const char *const *params)
{
    if (PQstatus(e->db) != CONNECTION_OK)
        PQreset(e->db);
    PGresult *r = PQexecParams(e->db, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(e->db));
        PQclear(r);
        bm_e2e_fail("%s: %s", sql, msg);
    }
    return r;
}

static void rows_load(bm_e2e *e, const char *camp, prows *out)
{
    const char *p[1] = {camp};
    PGresult *r = query(e,
                        "SELECT user_id, current_value, aux_value, event_count, completed, flags, "
                        "progress_data::text, COALESCE((extract(epoch FROM completed_at) * "
                        "1000)::bigint, 0) FROM user_progress WHERE campaign_id = $1::uuid",
                        1, p);
    out->n = (size_t)PQntuples(r);
    out->v = calloc(out->n + 1, sizeof *out->v);
    if (!out->v)
        bm_e2e_fail("out of memory");
    for (int i = 0; i < (int)out->n; i++) {
        prow *w = &out->v[i];
        snprintf(w->user, sizeof w->user, "%s", PQgetvalue(r, i, 0));
        w->value = strtod(PQgetvalue(r, i, 1), NULL);
        w->aux = strtod(PQgetvalue(r, i, 2), NULL);
        w->count = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        w->completed = atoi(PQgetvalue(r, i, 4));
        w->flags = atoi(PQgetvalue(r, i, 5));
        w->doc = PQgetisnull(r, i, 6) ? NULL : json_loads(PQgetvalue(r, i, 6), 0, NULL);
        w->completed_ms = strtoll(PQgetvalue(r, i, 7), NULL, 10);
    }
    PQclear(r);
    qsort(out->v, out->n, sizeof *out->v, cmp_prow);
}

static void rows_free(prows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        json_decref(rs->v[i].doc);
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

static prow *rows_find(prows *rs, int user)
{
    prow key = {0};
    prog_user_id(user, key.user, sizeof key.user);
    prow *w = bsearch(&key, rs->v, rs->n, sizeof *rs->v, cmp_prow);
    if (w)
        w->seen = 1;
    return w;
}

/* Number of rows nobody expected (the first ones printed). */
static size_t rows_unseen(const prows *rs, const char *what)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (!rs->v[i].seen && n++ < SHOW)
            fprintf(stderr, "%s: unexpected row for %s\n", what, rs->v[i].user);
    return n;
}

/* The progress document: c[i][0] is condition i's count in this attempt, c[i][1] the
 * value condition's aggregate; fc the first completion's event time. */
static int quest_doc_equal(json_t *doc, const prog_quest_user *o, int nconds, int value_cond)
{
    json_t *c = json_object_get(doc, "c");
    if (json_array_size(c) != (size_t)nconds)
        return 0;
    for (int i = 0; i < nconds; i++) {
        json_t *ci = json_array_get(c, (size_t)i);
        if (json_integer_value(json_array_get(ci, 0)) != o->n[i])
            return 0;
        if (i == value_cond && o->n[i] && json_number_value(json_array_get(ci, 1)) != o->v[i])
            return 0;
    }
    json_int_t fc = json_integer_value(json_object_get(doc, "fc"));
    return o->completions ? fc == o->first_done : fc == 0;
}

static size_t verify_quest(bm_e2e *e, const char *camp, const char *name, const prog_quest_user *q,
                           int users, int nconds, int value_cond)
{
    prows rs;
    rows_load(e, camp, &rs);
    size_t bad = 0;
    for (int u = 0; u < users; u++) {
        prow *w = rows_find(&rs, u);
        const prog_quest_user *o = &q[u];
        if (!o->counted) {
            if (w && bad++ < SHOW)
                fprintf(stderr, "quest %s: player-%04d has a row, expected none\n", name, u);
            continue;
        }
        if (!w) {
            if (bad++ < SHOW)
                fprintf(stderr, "quest %s: player-%04d has no row (expected %d completions)\n",
                        name, u, o->completions);
            continue;
        }
        int ok = w->completed == o->completions && w->count == o->counted && w->value == o->met &&
                 w->completed_ms == (o->completions ? o->last_done : 0) &&
                 quest_doc_equal(w->doc, o, nconds, value_cond);
        if (!ok && bad++ < SHOW) {
            char *doc = w->doc ? json_dumps(w->doc, JSON_COMPACT) : NULL;
            fprintf(stderr,
                    "quest %s: player-%04d completed %d (last at %lld) events %lld met %g doc %s; "
                    "expected %d (%lld) %lld %d, first completion %lld\n",
                    name, u, w->completed, w->completed_ms, w->count, w->value, doc ? doc : "null",
                    o->completions, (long long)o->last_done, o->counted, o->met,
                    (long long)o->first_done);
            free(doc);
        }
    }
    bad += rows_unseen(&rs, name);
    rows_free(&rs);
    return bad;
}

/* The claimed tiers of one track in the progress document equal the oracle's. */
static int claims_equal(json_t *doc, const char *key, const uint8_t *claimed)
{
    json_t *a = json_object_get(doc, key);
    size_t want = 0;
    for (int t = 1; t <= PROG_TIERS; t++) {
        want += claimed[t];
        int found = 0;
        size_t i;
        json_t *x;
        json_array_foreach(a, i, x)
        {
            found |= json_integer_value(x) == t;
        }
        if (found != claimed[t])
            return 0;
    }
    return json_array_size(a) == want;
}

static size_t verify_pass(bm_e2e *e, const char *camp, const prog_oracle *o)
{
    prows rs;
    rows_load(e, camp, &rs);
    size_t bad = 0;
    for (int u = 0; u < o->users; u++) {
        prow *w = rows_find(&rs, u);
        const prog_pass_user *p = &o->bp[u];
        if (!p->touched) {
            if (w && bad++ < SHOW)
                fprintf(stderr, "pass: player-%04d has a row, expected none\n", u);
            continue;
        }
        int tier = prog_pass_tier(p->xp);
        if (!w) {
            if (bad++ < SHOW)
                fprintf(stderr, "pass: player-%04d has no row (expected %.17g XP)\n", u, p->xp);
            continue;
        }
        int current = prog_pass_current(p->xp);
        int ok = w->value == p->xp && (int)w->aux == current && w->count == p->xp_events &&
                 (w->flags & 1) == p->purchased && w->doc &&
                 json_integer_value(json_object_get(w->doc, "t")) == current &&
                 json_integer_value(json_object_get(w->doc, "tc")) == tier &&
                 claims_equal(w->doc, "cf", p->claimed[0]) &&
                 claims_equal(w->doc, "cp", p->claimed[1]);
        if (!ok && bad++ < SHOW) {
            char *doc = w->doc ? json_dumps(w->doc, JSON_COMPACT) : NULL;
            fprintf(stderr,
                    "pass: player-%04d xp %.17g tier %g events %lld flags %d doc %s; expected xp "
                    "%.17g tier %d events %lld purchased %d\n",
                    u, w->value, w->aux, w->count, w->flags, doc ? doc : "null", p->xp, current,
                    p->xp_events, p->purchased);
            free(doc);
        }
    }
    bad += rows_unseen(&rs, "pass");
    rows_free(&rs);
    return bad;
}

typedef struct grant {
    char key[160];
    char camp[64];
    char user[32];
    char type[16];
    json_t *config;
} grant;

typedef struct grants {
    grant *v;
    size_t n, cap;
} grants;

static grant *grants_push(grants *g)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        grant *nv = realloc(g->v, cap * sizeof *nv);
        if (!nv)
            bm_e2e_fail("out of memory");
        g->v = nv;
        g->cap = cap;
    }
    grant *x = &g->v[g->n++];
    memset(x, 0, sizeof *x);
    return x;
}

/* Key "<prefix>:<campaign>:<user>:<suffix>", as the READMEs define it. */
static void expect_grant(grants *g, const char *prefix, const char *camp, int user,
                         const char *suffix, const char *type, const char *config)
{
    grant *x = grants_push(g);
    char uid[32];
    prog_user_id(user, uid, sizeof uid);
    snprintf(x->key, sizeof x->key, "%s:%s:%s:%s", prefix, camp, uid, suffix);
    snprintf(x->camp, sizeof x->camp, "%s", camp);
    snprintf(x->user, sizeof x->user, "%s", uid);
    snprintf(x->type, sizeof x->type, "%s", type);
    x->config = json_loads(config, 0, NULL);
}

static void grants_free(grants *g)
{
    for (size_t i = 0; i < g->n; i++)
        json_decref(g->v[i].config);
    free(g->v);
    memset(g, 0, sizeof *g);
}

static int cmp_grant(const void *a, const void *b)
{
    return strcmp(((const grant *)a)->key, ((const grant *)b)->key);
}

static void expected_grants(const prog_campaigns *c, const prog_oracle *o, grants *g)
{
    char n[16], type[32], config[128];
    for (int u = 0; u < o->users; u++) {
        for (int k = 1; k <= o->qa[u].completions; k++) {
            snprintf(n, sizeof n, "%d", k);
            expect_grant(g, "quest", c->quest_a, u, n, "in_game", "{\"item\":\"duelist_chest\"}");
        }
        if (o->qb[u].completions)
            expect_grant(g, "quest", c->quest_b, u, "1", "token", "{\"amount\":100}");
        for (int prem = 0; c->pass[0] && prem < 2; prem++)
            for (int t = 1; t <= PROG_TIERS; t++) {
                if (!o->bp[u].claimed[prem][t])
                    continue;
                prog_pass_reward(t, prem, type, sizeof type, config, sizeof config);
                snprintf(n, sizeof n, "%d:%s", t, prem ? "premium" : "free");
                expect_grant(g, "bp", c->pass, u, n, type, config);
            }
    }
    qsort(g->v, g->n, sizeof *g->v, cmp_grant);
}

/* reward_fulfillments holds exactly the oracle's grants: one row per key, nothing else. */
static size_t verify_grants(bm_e2e *e, const prog_campaigns *c, const prog_oracle *o)
{
    grants want = {0}, got = {0};
    expected_grants(c, o, &want);
    PGresult *r = query(e,
                        "SELECT idempotency_key, campaign_id::text, user_id, reward_type, "
                        "reward_config::text FROM reward_fulfillments",
                        0, NULL);
    for (int i = 0; i < PQntuples(r); i++) {
        grant *x = grants_push(&got);
        snprintf(x->key, sizeof x->key, "%s", PQgetvalue(r, i, 0));
        snprintf(x->camp, sizeof x->camp, "%s", PQgetvalue(r, i, 1));
        snprintf(x->user, sizeof x->user, "%s", PQgetvalue(r, i, 2));
        snprintf(x->type, sizeof x->type, "%s", PQgetvalue(r, i, 3));
        x->config = json_loads(PQgetvalue(r, i, 4), 0, NULL);
    }
    PQclear(r);
    qsort(got.v, got.n, sizeof *got.v, cmp_grant);
    size_t bad = 0, i = 0, j = 0;
    while (i < want.n || j < got.n) {
        int d = i == want.n ? 1 : j == got.n ? -1 : strcmp(want.v[i].key, got.v[j].key);
        if (d < 0) {
            if (bad++ < SHOW)
                fprintf(stderr, "grants: missing %s\n", want.v[i].key);
            i++;
        } else if (d > 0) {
            if (bad++ < SHOW)
                fprintf(stderr, "grants: unexpected %s\n", got.v[j].key);
            j++;
        } else {
            const grant *w = &want.v[i++], *x = &got.v[j++];
            /* One row per key: the unique index says so, the scan checks it anyway. */
            int dup = j < got.n && strcmp(got.v[j].key, x->key) == 0;
            if ((dup || strcmp(w->camp, x->camp) || strcmp(w->user, x->user) ||
                 strcmp(w->type, x->type) || !json_equal(w->config, x->config)) &&
                bad++ < SHOW)
                fprintf(stderr, "grants: %s differs (campaign %s user %s type %s%s)\n", x->key,
                        x->camp, x->user, x->type, dup ? ", twice" : "");
        }
    }
    long long total = (long long)want.n;
    assert_int_equal(total, o->quest_grants + o->pass_grants);
    grants_free(&want);
    grants_free(&got);
    return bad;
}

/* player_levels: the level of each player's latest event (by event time) that carried one. */
static size_t verify_levels(bm_e2e *e, const prog_oracle *o)
{
    PGresult *r = query(e,
                        "SELECT user_id, level, level_at_ms FROM player_levels WHERE game_id = "
                        "'" PROG_GAME "' ORDER BY user_id",
                        0, NULL);
    size_t bad = 0, want = 0;
    for (int u = 0; u < o->users; u++)
        want += o->bp[u].level >= 0;
    if ((size_t)PQntuples(r) != want && bad++ < 5)
        fprintf(stderr, "levels: %d rows, expected %zu\n", PQntuples(r), want);
    for (int i = 0; i < PQntuples(r); i++) {
        int u = -1;
        sscanf(PQgetvalue(r, i, 0), "player-%d", &u);
        if (u < 0 || u >= o->users) {
            bad++;
            continue;
        }
        double level = strtod(PQgetvalue(r, i, 1), NULL);
        long long at = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        if ((level != o->bp[u].level || at != o->bp[u].level_t) && bad++ < 5)
            fprintf(stderr, "levels: player-%04d level %g at %lld, expected %d at %lld\n", u, level,
                    at, o->bp[u].level, (long long)o->bp[u].level_t);
    }
    PQclear(r);
    return bad;
}

static long long refusals(bm_e2e *e, const char *reason)
{
    return bm_e2e_ll(e,
                     "SELECT count(*) FROM outbox o, regexp_split_to_table(o.payload, E'\\n') AS l "
                     "WHERE o.topic = 'ui.battlepass_updates' AND l LIKE "
                     "'%%\"type\":\"claim_refused\"%%\"reason\":\"%s\"%%'",
                     reason);
}

void prog_verify(bm_e2e *e, const prog_campaigns *c, const prog_stream *s, const prog_oracle *o)
{
    /* The whole stream is in the topic (the mock cluster drops old data silently). */
    long long produced = bm_e2e_topic_end(e, BM_TOPIC_EVENTS);
    assert_int_equal(produced, (long long)s->n);
    assert_int_equal(o->duplicates, s->duplicates);
    bm_e2e_assert_counters(e, produced, o->applied, 0, o->duplicates);

    size_t bad = verify_quest(e, c->quest_a, "A", o->qa, o->users, 2, -1);
    bad += verify_quest(e, c->quest_b, "B", o->qb, o->users, 3, 0);
    if (c->pass[0])
        bad += verify_pass(e, c->pass, o);
    bad += verify_grants(e, c, o);
    bad += verify_levels(e, o);
    if (bad)
        bm_e2e_fail("%zu differences from the independent count (first ones above)", bad);

    /* The same, as plain SQL: one row per idempotency key, as many rows as grants. */
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM (SELECT idempotency_key FROM "
                                  "reward_fulfillments GROUP BY 1 HAVING count(*) <> 1) d"),
                     0);
    assert_int_equal(bm_e2e_ll(e, "SELECT count(*) FROM reward_fulfillments"),
                     o->quest_grants + o->pass_grants);
    /* Each grant was announced once, each completion once. */
    assert_int_equal(bm_e2e_outbox_count(e, "reward.events"), o->quest_grants + o->pass_grants);
    long long completions = 0;
    for (int u = 0; u < o->users; u++)
        completions += o->qa[u].completions + o->qb[u].completions;
    assert_int_equal(bm_e2e_outbox_count(e, "quest.progress"), completions);
    if (c->pass[0]) {
        static const char *const reasons[PR_N] = {
            "invalid_tier", "not_purchased", "tier_not_reached", "no_reward", "already_claimed"};
        long long acks =
            bm_e2e_ll(e, "SELECT count(*) FROM outbox o, regexp_split_to_table("
                         "o.payload, E'\\n') AS l WHERE o.topic = "
                         "'battlepass.progress' AND l LIKE '%%\"type\":\"purchase\"%%'");
        long long repeats = bm_e2e_ll(e, "SELECT count(*) FROM outbox o, regexp_split_to_table("
                                         "o.payload, E'\\n') AS l WHERE o.topic = "
                                         "'battlepass.progress' AND l LIKE "
                                         "'%%\"type\":\"purchase\"%%' AND l LIKE "
                                         "'%%\"repeated\":true%%'");
        if (acks != o->purchase_acks || repeats != o->purchase_repeats)
            bm_e2e_fail("%lld purchases acknowledged (%lld repeated), expected %lld (%lld)", acks,
                        repeats, o->purchase_acks, o->purchase_repeats);
        for (int k = 0; k < PR_N; k++) {
            long long n = refusals(e, reasons[k]);
            if (n != o->refused[k])
                bm_e2e_fail("%lld claims refused as %s, expected %lld", n, reasons[k],
                            o->refused[k]);
        }
    }
}
