/* Per-(user, type) counters and the writer of the expect file (format in main.c). */
#include "expect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per (type, user) cell: count, then sum, max, min, last for each field. */
#define CELL_WIDTH(nf) (1 + 4 * (size_t)(nf))

struct bm_lg_expect {
    uint32_t users;
    uint64_t valid;
    int nfields[BM_LG_NTYPES];
    int64_t *cells[BM_LG_NTYPES];
};

bm_lg_expect *bm_lg_expect_new(uint32_t users)
{
    bm_lg_expect *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->users = users;
    for (int t = 0; t < BM_LG_NTYPES; t++) {
        int nf = 0;
        while (bm_lg_type_fields[t][nf])
            nf++;
        x->nfields[t] = nf;
        x->cells[t] = calloc((size_t)users * CELL_WIDTH(nf), sizeof(int64_t));
        if (!x->cells[t]) {
            bm_lg_expect_free(x);
            return NULL;
        }
    }
    return x;
}

void bm_lg_expect_free(bm_lg_expect *x)
{
    if (!x)
        return;
    for (int t = 0; t < BM_LG_NTYPES; t++)
        free(x->cells[t]);
    free(x);
}

void bm_lg_expect_add(bm_lg_expect *x, const bm_lg_event *ev)
{
    int nf = x->nfields[ev->type];
    int64_t *c = x->cells[ev->type] + (size_t)ev->user * CELL_WIDTH(nf);
    int first = c[0] == 0;
    c[0]++;
    for (int f = 0; f < nf; f++) {
        int64_t v = ev->v[f], *s = c + 1 + 4 * f;
        s[0] += v;
        if (first || v > s[1])
            s[1] = v;
        if (first || v < s[2])
            s[2] = v;
        s[3] = v;
    }
    x->valid++;
}

/* User names in one block, sorted bytewise so `LC_ALL=C sort` agrees. */
typedef struct user_names {
    char *text;
    size_t *off;
    uint32_t *order;
} user_names;

static const char *sort_text;
static const size_t *sort_off;

static int by_name(const void *a, const void *b)
{
    uint32_t ua = *(const uint32_t *)a, ub = *(const uint32_t *)b;
    return strcmp(sort_text + sort_off[ua], sort_text + sort_off[ub]);
}

static int names_build(user_names *n, const bm_lg_gen *g, uint32_t users)
{
    n->off = malloc(sizeof(size_t) * users);
    n->order = malloc(sizeof(uint32_t) * users);
    n->text = malloc((size_t)users * 48);
    if (!n->off || !n->order || !n->text)
        return -1;
    size_t pos = 0;
    for (uint32_t u = 0; u < users; u++) {
        n->off[u] = pos;
        pos += bm_lg_gen_user(g, u, n->text + pos, 48) + 1;
        n->order[u] = u;
    }
    sort_text = n->text;
    sort_off = n->off;
    qsort(n->order, users, sizeof(uint32_t), by_name);
    return 0;
}

static void names_free(user_names *n)
{
    free(n->text);
    free(n->off);
    free(n->order);
}

int bm_lg_expect_write(const bm_lg_expect *x, const bm_lg_gen *g, const char *header, uint64_t bad,
                       uint64_t dups, const char *path, char *err, size_t errlen)
{
    user_names names = {0};
    FILE *fp = NULL;
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    if (names_build(&names, g, x->users) < 0) {
        snprintf(err, errlen, "out of memory sorting %u users", x->users);
        goto fail;
    }
    fp = fopen(tmp, "w");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    fprintf(fp, "%s\n", header);
    for (uint32_t k = 0; k < x->users; k++) {
        uint32_t u = names.order[k];
        const char *name = names.text + names.off[u];
        const char *game = bm_lg_gen_game(g, u);
        for (int t = 0; t < BM_LG_NTYPES; t++) {
            int nf = x->nfields[t];
            const int64_t *c = x->cells[t] + (size_t)u * CELL_WIDTH(nf);
            if (c[0] == 0)
                continue;
            fprintf(fp, "%s\t%s\t%s\t%lld", name, game, bm_lg_type_names[t], (long long)c[0]);
            for (int f = 0; f < nf; f++) {
                const int64_t *s = c + 1 + 4 * f;
                fprintf(fp, "\t%s=%lld,%lld,%lld,%lld", bm_lg_type_fields[t][f], (long long)s[0],
                        (long long)s[1], (long long)s[2], (long long)s[3]);
            }
            fputc('\n', fp);
        }
    }
    fprintf(fp, "#total_valid\t%llu\n#total_bad\t%llu\n#total_duplicates\t%llu\n",
            (unsigned long long)x->valid, (unsigned long long)bad, (unsigned long long)dups);
    if (ferror(fp) | fclose(fp)) {
        fp = NULL;
        snprintf(err, errlen, "%s: write failed", tmp);
        goto fail;
    }
    fp = NULL;
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
        goto fail;
    }
    names_free(&names);
    return 0;

fail:
    if (fp)
        fclose(fp);
    remove(tmp);
    names_free(&names);
    return -1;
}
