/*
 * The independent count: bm-loadgen's expect file (or events the test built
 * itself), and the comparison of every user's board entry with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/common/e2e.h"

static bm_e2e_row *find_row(bm_e2e_expect *x, const char *user, const char *type)
{
    for (size_t i = x->n; i > 0; i--)
        if (strcmp(x->rows[i - 1].user, user) == 0 && strcmp(x->rows[i - 1].type, type) == 0)
            return &x->rows[i - 1];
    return NULL;
}

static bm_e2e_row *get_row(bm_e2e_expect *x, const char *user, const char *game, const char *type)
{
    bm_e2e_row *r = find_row(x, user, type);
    if (r)
        return r;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 1024;
        bm_e2e_row *nv = realloc(x->rows, cap * sizeof *nv);
        if (!nv)
            bm_e2e_fail("out of memory");
        x->rows = nv;
        x->cap = cap;
    }
    r = &x->rows[x->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->user, sizeof r->user, "%s", user);
    snprintf(r->game, sizeof r->game, "%s", game);
    snprintf(r->type, sizeof r->type, "%s", type);
    return r;
}

/* Folds one more (count, sum, max, min, last) of a field into a row. */
static void merge_field(bm_e2e_row *r, const char *name, long long sum, long long max,
                        long long min, long long last, int first_time)
{
    bm_e2e_field *f = (bm_e2e_field *)bm_e2e_row_field(r, name);
    if (!f) {
        if (r->nfields >= 4)
            bm_e2e_fail("more than 4 numeric fields for %s", r->type);
        f = &r->f[r->nfields++];
        snprintf(f->name, sizeof f->name, "%s", name);
        first_time = 1;
    }
    if (first_time) {
        f->sum = sum;
        f->max = max;
        f->min = min;
    } else {
        f->sum += sum;
        f->max = max > f->max ? max : f->max;
        f->min = min < f->min ? min : f->min;
    }
    f->last = last;
}

void bm_e2e_expect_load(bm_e2e_expect *x, const char *path)
{
    char *text = bm_e2e_slurp(path, NULL);
    if (!text)
        bm_e2e_fail("cannot read expect file %s", path);
    char *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (line[0] == '#') {
            long long v;
            if (sscanf(line, "#total_valid\t%lld", &v) == 1)
                x->valid += v;
            else if (sscanf(line, "#total_bad\t%lld", &v) == 1)
                x->bad += v;
            else if (sscanf(line, "#total_duplicates\t%lld", &v) == 1)
                x->dups += v;
            continue;
        }
        char *cols[8];
        int nc = 0;
        char *s2 = NULL;
        for (char *c = strtok_r(line, "\t", &s2); c && nc < 8; c = strtok_r(NULL, "\t", &s2))
            cols[nc++] = c;
        if (nc < 4)
            bm_e2e_fail("%s:%d: fewer than 4 columns", path, lineno);
        bm_e2e_row *r = get_row(x, cols[0], cols[1], cols[2]);
        int first = r->count == 0;
        r->count += strtoll(cols[3], NULL, 10);
        for (int i = 4; i < nc; i++) {
            char name[32];
            long long sum, max, min, last;
            if (sscanf(cols[i], "%31[^=]=%lld,%lld,%lld,%lld", name, &sum, &max, &min, &last) != 5)
                bm_e2e_fail("%s:%d: bad field column '%s'", path, lineno, cols[i]);
            merge_field(r, name, sum, max, min, last, first);
        }
    }
    free(text);
}

void bm_e2e_expect_add(bm_e2e_expect *x, const char *user, const char *game, const char *type,
                       const char *const *names, const long long *values, int n)
{
    bm_e2e_row *r = get_row(x, user, game, type);
    int first = r->count == 0;
    r->count++;
    for (int i = 0; i < n; i++)
        merge_field(r, names[i], values[i], values[i], values[i], values[i], first);
    x->valid++;
}

void bm_e2e_expect_free(bm_e2e_expect *x)
{
    free(x->rows);
    memset(x, 0, sizeof *x);
}

const bm_e2e_field *bm_e2e_row_field(const bm_e2e_row *r, const char *name)
{
    for (int i = 0; i < r->nfields; i++)
        if (strcmp(r->f[i].name, name) == 0)
            return &r->f[i];
    return NULL;
}

double bm_e2e_value_sum(const bm_e2e_row *r, const void *field)
{
    const bm_e2e_field *f = bm_e2e_row_field(r, field);
    if (!f)
        bm_e2e_fail("expect row %s/%s has no field %s", r->user, r->type, (const char *)field);
    return (double)f->sum;
}

double bm_e2e_value_max(const bm_e2e_row *r, const void *field)
{
    const bm_e2e_field *f = bm_e2e_row_field(r, field);
    if (!f)
        bm_e2e_fail("expect row %s/%s has no field %s", r->user, r->type, (const char *)field);
    return (double)f->max;
}

double bm_e2e_value_count(const bm_e2e_row *r, const void *unused)
{
    (void)unused;
    return (double)r->count;
}

typedef struct board_entry {
    const char *user;
    double value;
    long long count;
    int seen;
} board_entry;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const board_entry *)a)->user, ((const board_entry *)b)->user);
}

size_t bm_e2e_assert_board(bm_e2e *e, const char *camp, const bm_e2e_expect *x, const char *type,
                           bm_e2e_value_fn fn, const void *ud)
{
    const char *p[1] = {camp};
    if (PQstatus(e->db) != CONNECTION_OK)
        PQreset(e->db);
    PGresult *r = PQexecParams(e->db,
                               "SELECT user_id, current_value, event_count FROM user_progress "
                               "WHERE campaign_id = $1::uuid",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        bm_e2e_fail("board %s: %s", camp, PQerrorMessage(e->db));
    size_t n = (size_t)PQntuples(r);
    board_entry *v = calloc(n + 1, sizeof *v);
    if (!v)
        bm_e2e_fail("out of memory");
    for (size_t i = 0; i < n; i++) {
        v[i].user = PQgetvalue(r, (int)i, 0);
        v[i].value = strtod(PQgetvalue(r, (int)i, 1), NULL);
        v[i].count = strtoll(PQgetvalue(r, (int)i, 2), NULL, 10);
    }
    qsort(v, n, sizeof *v, cmp_entry);
    size_t compared = 0, bad = 0;
    for (size_t i = 0; i < x->n; i++) {
        const bm_e2e_row *row = &x->rows[i];
        if (strcmp(row->type, type) != 0)
            continue;
        compared++;
        board_entry key = {.user = row->user};
        board_entry *got = bsearch(&key, v, n, sizeof *v, cmp_entry);
        double want = fn(row, ud);
        if (!got) {
            if (bad++ < 5)
                fprintf(stderr, "board %s: user %s missing (want %.17g over %lld events)\n", camp,
                        row->user, want, row->count);
            continue;
        }
        got->seen = 1;
        if (got->value != want || got->count != row->count) {
            if (bad++ < 5)
                fprintf(stderr,
                        "board %s: user %s has %.17g over %lld events, want %.17g over %lld\n",
                        camp, row->user, got->value, got->count, want, row->count);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!v[i].seen && bad++ < 5)
            fprintf(stderr, "board %s: user %s has an entry (%.17g) but no %s event\n", camp,
                    v[i].user, v[i].value, type);
    free(v);
    PQclear(r);
    if (bad)
        bm_e2e_fail("board %s (%s): %zu of %zu entries differ from the independent count", camp,
                    type, bad, compared);
    if (compared == 0)
        bm_e2e_fail("board %s: no %s events in the independent count", camp, type);
    return compared;
}
