/*
 * tournament module: seats, ranks and prize amounts. Pure functions of the
 * configuration and the final standings, so every instance that finalises a
 * tournament computes the same table (README.md, "Prizes").
 */
#include <stdlib.h>
#include <string.h>

#include "tournament.h"

/* floor(total * bp / 10000) without overflow: total < 2^53, bp <= 10000. */
static int64_t share(int64_t total, int64_t bp)
{
    return (total / 10000) * bp + ((total % 10000) * bp) / 10000;
}

int tn_prize_ranks(const tn_cfg *cfg)
{
    int max = 0;
    for (size_t i = 0; i < cfg->nlines; i++)
        if (cfg->lines[i].bp > 0 && cfg->lines[i].to > max)
            max = cfg->lines[i].to;
    return max;
}

int64_t tn_prize_table(const tn_cfg *cfg, int64_t *out, int max)
{
    int64_t bp_all = 0, sum = 0;
    for (int r = 0; r < max; r++)
        out[r] = 0;
    for (size_t i = 0; i < cfg->nlines; i++) {
        const tn_prize_line *l = &cfg->lines[i];
        bp_all += l->bp * (l->to - l->from + 1);
        for (int r = l->from; r <= l->to && r <= max; r++) {
            out[r - 1] = share(cfg->total_minor, l->bp);
            sum += out[r - 1];
        }
    }
    /* The pool actually distributed is floor(total * sum of percentages); what
     * the per-rank floors leave of it goes to rank 1. */
    int64_t pool = share(cfg->total_minor, bp_all);
    if (max >= 1 && tn_prize_ranks(cfg) >= 1 && pool > sum) {
        out[0] += pool - sum;
        sum = pool;
    }
    return sum;
}

static int by_seat(const void *a, const void *b)
{
    const tn_entry *x = a, *y = b;
    if (x->seat_ms != y->seat_ms)
        return x->seat_ms < y->seat_ms ? -1 : 1;
    return strcmp(x->user, y->user);
}

static int by_rank(const void *a, const void *b)
{
    const tn_entry *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->reached_ms != y->reached_ms)
        return x->reached_ms < y->reached_ms ? -1 : 1;
    return strcmp(x->user, y->user);
}

int tn_rank(const tn_cfg *cfg, tn_entry *entries, size_t n, tn_result *out, size_t *refused)
{
    *refused = 0;
    if (cfg->max_participants > 0 && n > (size_t)cfg->max_participants) {
        qsort(entries, n, sizeof *entries, by_seat);
        *refused = n - (size_t)cfg->max_participants;
        n = (size_t)cfg->max_participants;
    }
    qsort(entries, n, sizeof *entries, by_rank);
    int pr = tn_prize_ranks(cfg);
    int64_t *table = calloc((size_t)pr + 1, sizeof *table);
    if (!table)
        return -1;
    tn_prize_table(cfg, table, pr);
    size_t i = 0;
    while (i < n) {
        /* A tie: the same score reached at the same event time. */
        size_t j = i + 1;
        while (j < n && entries[j].score == entries[i].score &&
               entries[j].reached_ms == entries[i].reached_ms)
            j++;
        int64_t pot = 0;
        for (size_t p = i; p < j; p++)
            pot += p < (size_t)pr ? table[p] : 0;
        int64_t k = (int64_t)(j - i), each = pot / k, extra = pot % k;
        for (size_t p = i; p < j; p++) {
            out[p] = (tn_result){.position = (int)p + 1,
                                 .rank = (int)i + 1,
                                 .user = entries[p].user,
                                 .score = entries[p].score,
                                 .prize = each + ((int64_t)(p - i) < extra ? 1 : 0),
                                 .reached_ms = entries[p].reached_ms,
                                 .team = entries[p].team};
        }
        i = j;
    }
    free(table);
    return (int)n;
}

void tn_split(int64_t prize, const tn_entry *members, size_t n, int by_score, int64_t *share)
{
    if (n == 0)
        return;
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += members[i].score > 0 ? members[i].score : 0;
    int64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        if (by_score && total > 0) {
            double s = members[i].score > 0 ? members[i].score : 0;
            /* floor in double is exact enough below 2^53; clamp against rounding up */
            int64_t v = (int64_t)((double)prize * (s / total));
            share[i] = v < 0 ? 0 : v;
        } else {
            share[i] = prize / (int64_t)n;
        }
        given += share[i];
    }
    if (given > prize) {
        /* rounding pushed past the prize: take it back from the last members */
        for (size_t i = n; i-- > 0 && given > prize;) {
            int64_t back = share[i] < given - prize ? share[i] : given - prize;
            share[i] -= back;
            given -= back;
        }
    }
    for (size_t i = 0; given < prize; i = (i + 1) % n) {
        share[i]++;
        given++;
    }
}
