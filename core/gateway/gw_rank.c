/*
 * Rank index (see gw_rank.h). Each indexed board is a treap ordered as the
 * engine ranks (score descending, then reached_at ascending, then user id in
 * byte order, which is PostgreSQL's order under the C collation), each node
 * carrying its subtree size, plus a hash of user -> node. Rank of a key, the
 * k-th entry, insert and erase are O(log n).
 *
 * Consistency: a board is registered as "loading" before its rows are read;
 * updates that arrive while it loads are queued and applied after the load,
 * so nothing committed is missed (an update published before registration
 * was committed before the read and is in it; one published after is
 * queued). Updates carry the full new value of an entry, so applying one
 * twice, or one older than the read, converges once the newer one follows.
 */
#include "gateway/gw_rank.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "gateway/gw.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "pg/pg.h"

#define RK_MAX_BOARDS 16

typedef struct rk_node {
    double score;
    int64_t reached; /* ms; INT64_MAX when none */
    struct rk_node *l, *r, *next_in_bucket;
    uint32_t prio, size;
    char user[];
} rk_node;

typedef struct rk_update {
    double score;
    int64_t reached;
    struct rk_update *next;
    char user[];
} rk_update;

enum { RK_FREE, RK_LOADING, RK_READY, RK_SMALL, RK_FAILED };

typedef struct rk_board {
    char id[40];
    int state;
    int64_t checked_us; /* when a small/failed verdict was made */
    int64_t used_us;
    pthread_rwlock_t lock;
    rk_node *root;
    rk_node **buckets;
    size_t nbuckets, n;
    rk_update *pending, **pending_tail;
    uint64_t rng;
} rk_board;

struct gw_ranks {
    bm_gateway *g;
    pthread_mutex_t lock; /* guards the board table (not the trees) */
    rk_board boards[RK_MAX_BOARDS];
    rd_kafka_t *consumer;
    pthread_t reader;
    atomic_int run;
};

/* --- the treap ---------------------------------------------------------------------- */

/* <0 when a ranks ahead of b, >0 when behind, 0 for the same entry. */
static int cmp(const rk_node *a, const rk_node *b)
{
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->reached != b->reached)
        return a->reached < b->reached ? -1 : 1;
    return strcmp(a->user, b->user);
}

static uint32_t sz(const rk_node *n)
{
    return n ? n->size : 0;
}

static void fix(rk_node *n)
{
    n->size = 1 + sz(n->l) + sz(n->r);
}

/* Splits t into the entries ahead of key (a) and the others (b). */
static void split(rk_node *t, const rk_node *key, rk_node **a, rk_node **b)
{
    if (!t) {
        *a = *b = NULL;
        return;
    }
    if (cmp(t, key) < 0) {
        split(t->r, key, &t->r, b);
        *a = t;
    } else {
        split(t->l, key, a, &t->l);
        *b = t;
    }
    fix(t);
}

static rk_node *merge(rk_node *a, rk_node *b)
{
    if (!a || !b)
        return a ? a : b;
    if (a->prio > b->prio) {
        a->r = merge(a->r, b);
        fix(a);
        return a;
    }
    b->l = merge(a, b->l);
    fix(b);
    return b;
}

static rk_node *insert(rk_node *t, rk_node *n)
{
    if (!t)
        return n;
    if (n->prio > t->prio) {
        split(t, n, &n->l, &n->r);
        fix(n);
        return n;
    }
    if (cmp(n, t) < 0)
        t->l = insert(t->l, n);
    else
        t->r = insert(t->r, n);
    fix(t);
    return t;
}

static rk_node *erase(rk_node *t, const rk_node *n)
{
    if (!t)
        return NULL;
    if (t == n)
        return merge(t->l, t->r);
    if (cmp(n, t) < 0)
        t->l = erase(t->l, n);
    else
        t->r = erase(t->r, n);
    fix(t);
    return t;
}

static uint64_t next_rand(rk_board *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

/* Number of entries ranked ahead of node n. */
static long long count_ahead(const rk_board *b, const rk_node *n)
{
    long long c = 0;
    const rk_node *t = b->root;
    while (t) {
        int d = t == n ? 0 : cmp(n, t);
        if (d == 0)
            return c + sz(t->l);
        if (d < 0) {
            t = t->l;
        } else {
            c += sz(t->l) + 1;
            t = t->r;
        }
    }
    return c;
}

static const rk_node *kth(const rk_board *b, long long k)
{
    const rk_node *t = b->root;
    while (t) {
        long long left = sz(t->l);
        if (k < left) {
            t = t->l;
        } else if (k == left) {
            return t;
        } else {
            k -= left + 1;
            t = t->r;
        }
    }
    return NULL;
}

/* --- user -> node ---------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static rk_node **bucket_of(rk_board *b, const char *user)
{
    return &b->buckets[hash_str(user) & (b->nbuckets - 1)];
}

static rk_node *find_user(rk_board *b, const char *user)
{
    if (!b->nbuckets)
        return NULL;
    for (rk_node *n = *bucket_of(b, user); n; n = n->next_in_bucket)
        if (strcmp(n->user, user) == 0)
            return n;
    return NULL;
}

static int grow_buckets(rk_board *b)
{
    size_t nb = b->nbuckets ? b->nbuckets * 2 : 1024;
    rk_node **v = calloc(nb, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < b->nbuckets; i++)
        for (rk_node *n = b->buckets[i], *next; n; n = next) {
            next = n->next_in_bucket;
            rk_node **slot = &v[hash_str(n->user) & (nb - 1)];
            n->next_in_bucket = *slot;
            *slot = n;
        }
    free(b->buckets);
    b->buckets = v;
    b->nbuckets = nb;
    return 0;
}

/* Sets user's entry to (score, reached), inserting it when new. */
static int board_set(rk_board *b, const char *user, double score, int64_t reached)
{
    rk_node *n = find_user(b, user);
    if (n) {
        if (n->score == score && n->reached == reached)
            return 0;
        b->root = erase(b->root, n);
        n->score = score;
        n->reached = reached;
        n->l = n->r = NULL;
        n->size = 1;
        b->root = insert(b->root, n);
        return 0;
    }
    if (b->n + 1 > b->nbuckets && grow_buckets(b) != 0)
        return -1;
    size_t len = strlen(user);
    n = malloc(sizeof *n + len + 1);
    if (!n)
        return -1;
    memset(n, 0, sizeof *n);
    memcpy(n->user, user, len + 1);
    n->score = score;
    n->reached = reached;
    n->prio = (uint32_t)next_rand(b);
    rk_node **slot = bucket_of(b, user);
    n->next_in_bucket = *slot;
    *slot = n;
    n->size = 1;
    b->root = insert(b->root, n);
    b->n++;
    return 0;
}

static void board_clear(rk_board *b)
{
    for (size_t i = 0; i < b->nbuckets; i++)
        for (rk_node *n = b->buckets[i], *next; n; n = next) {
            next = n->next_in_bucket;
            free(n);
        }
    free(b->buckets);
    for (rk_update *u = b->pending, *next; u; u = next) {
        next = u->next;
        free(u);
    }
    b->buckets = NULL;
    b->nbuckets = b->n = 0;
    b->root = NULL;
    b->pending = NULL;
    b->pending_tail = &b->pending;
}

/* --- building a board ---------------------------------------------------------------------- */

typedef struct build_job {
    gw_ranks *rk;
    rk_board *b;
    char id[40];
} build_job;

static int64_t parse_ms(const char *s)
{
    return *s ? strtoll(s, NULL, 10) : INT64_MAX;
}

/* Reads the board's rows in chunks (a cursor on a connection of its own). */
static int load_rows(gw_ranks *rk, build_job *j, PGconn *c, int *small)
{
    const char *p[1] = {j->id};
    char min[24];
    snprintf(min, sizeof min, "%d", rk->g->cfg.http_rank_min_entries);
    const char *pc[2] = {j->id, min};
    PGresult *r = PQexecParams(c,
                               "SELECT count(*) FROM (SELECT 1 FROM user_progress WHERE "
                               "campaign_id = $1::uuid LIMIT $2::int) x",
                               2, NULL, pc, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return -1;
    }
    *small = atoll(PQgetvalue(r, 0, 0)) < rk->g->cfg.http_rank_min_entries;
    PQclear(r);
    if (*small)
        return 0;
    r = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    PQclear(r);
    r = PQexecParams(c,
                     "DECLARE rk CURSOR FOR SELECT user_id, current_value, COALESCE(floor("
                     "extract(epoch FROM reached_at) * 1000 + 0.5)::bigint::text, '') FROM "
                     "user_progress WHERE campaign_id = $1::uuid",
                     1, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    while (ok) {
        r = PQexec(c, "FETCH 20000 FROM rk");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            ok = 0;
            PQclear(r);
            break;
        }
        int n = PQntuples(r);
        pthread_rwlock_wrlock(&j->b->lock);
        for (int i = 0; i < n && ok; i++)
            ok = board_set(j->b, PQgetvalue(r, i, 0), strtod(PQgetvalue(r, i, 1), NULL),
                           parse_ms(PQgetvalue(r, i, 2))) == 0;
        pthread_rwlock_unlock(&j->b->lock);
        PQclear(r);
        if (n == 0)
            break;
    }
    PQclear(PQexec(c, "COMMIT"));
    return ok ? 0 : -1;
}

static void *build(void *arg)
{
    build_job *j = arg;
    gw_ranks *rk = j->rk;
    char err[256];
    int64_t t0 = gw_now_us();
    int small = 0, rc = -1;
    PGconn *c = bm_pg_connect(rk->g->cfg.pg_dsn, err, sizeof err);
    if (c) {
        rc = load_rows(rk, j, c, &small);
        PQfinish(c);
    }
    pthread_rwlock_wrlock(&j->b->lock);
    if (rc == 0 && !small) {
        /* Updates that arrived while loading, in arrival order. */
        for (rk_update *u = j->b->pending; u && rc == 0; u = u->next)
            rc = board_set(j->b, u->user, u->score, u->reached);
    }
    size_t n = j->b->n;
    if (rc != 0 || small)
        board_clear(j->b);
    else {
        for (rk_update *u = j->b->pending, *next; u; u = next) {
            next = u->next;
            free(u);
        }
        j->b->pending = NULL;
        j->b->pending_tail = &j->b->pending;
    }
    j->b->state = rc != 0 ? RK_FAILED : small ? RK_SMALL : RK_READY;
    j->b->checked_us = gw_now_us();
    pthread_rwlock_unlock(&j->b->lock);
    if (rc != 0)
        bm_warn("gateway", "rank index for %s not built: %s", j->id, c ? "query failed" : err);
    else if (!small)
        bm_info("gateway", "rank index built board=%s entries=%zu ms=%lld", j->id, n,
                (long long)((gw_now_us() - t0) / 1000));
    free(j);
    return NULL;
}

/* The board's slot, started building when new; NULL when the table is busy. Under rk->lock. */
static rk_board *board_get(gw_ranks *rk, const char *id)
{
    int64_t now = gw_now_us();
    rk_board *victim = NULL;
    for (int i = 0; i < RK_MAX_BOARDS && !victim; i++) {
        rk_board *b = &rk->boards[i];
        if (b->state == RK_FREE || strcmp(b->id, id) != 0)
            continue;
        b->used_us = now;
        /* A small or failed board is looked at again after a minute. */
        if ((b->state != RK_SMALL && b->state != RK_FAILED) || now - b->checked_us < 60 * 1000000LL)
            return b;
        victim = b;
    }
    /* A free slot, else the least recently used one that is not loading. */
    for (int i = 0; i < RK_MAX_BOARDS && !victim; i++)
        if (rk->boards[i].state == RK_FREE)
            victim = &rk->boards[i];
    for (int i = 0; i < RK_MAX_BOARDS && !victim; i++) {
        rk_board *b = &rk->boards[i];
        if (b->state != RK_LOADING && (!victim || b->used_us < victim->used_us))
            victim = b;
    }
    if (!victim)
        return NULL;
    build_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    pthread_rwlock_wrlock(&victim->lock);
    board_clear(victim);
    snprintf(victim->id, sizeof victim->id, "%s", id);
    victim->state = RK_LOADING;
    victim->used_us = now;
    victim->rng = (uint64_t)now | 1;
    pthread_rwlock_unlock(&victim->lock);
    j->rk = rk;
    j->b = victim;
    snprintf(j->id, sizeof j->id, "%s", id);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, build, j) != 0) {
        victim->state = RK_FAILED;
        victim->checked_us = now;
        free(j);
    }
    pthread_attr_destroy(&attr);
    return victim;
}

/* Read-locks the ready board with this id, or NULL. */
static rk_board *board_ready(gw_ranks *rk, const char *id)
{
    if (!rk || !bm_auth_is_uuid(id))
        return NULL;
    pthread_mutex_lock(&rk->lock);
    rk_board *b = board_get(rk, id);
    if (b)
        pthread_rwlock_rdlock(&b->lock);
    pthread_mutex_unlock(&rk->lock);
    if (b && (b->state != RK_READY || strcmp(b->id, id) != 0)) {
        pthread_rwlock_unlock(&b->lock);
        return NULL;
    }
    return b;
}

static json_t *entry(const rk_node *n, long long rank)
{
    return json_pack("{s:I, s:s, s:f}", "rank", (json_int_t)rank, "userId", n->user, "score",
                     n->score);
}

int gw_rank_user(gw_ranks *rk, const char *board, const char *user, long long *rank, double *score)
{
    rk_board *b = board_ready(rk, board);
    if (!b)
        return -1;
    rk_node *n = find_user(b, user);
    if (n) {
        *rank = count_ahead(b, n) + 1;
        *score = n->score;
    }
    pthread_rwlock_unlock(&b->lock);
    return n != NULL;
}

static int range_locked(rk_board *b, long long first, long long n, json_t *arr)
{
    int added = 0;
    for (long long k = first < 0 ? 0 : first; k < first + n; k++) {
        const rk_node *e = kth(b, k);
        if (!e)
            break;
        json_array_append_new(arr, entry(e, k + 1));
        added++;
    }
    return added;
}

int gw_rank_range(gw_ranks *rk, const char *board, long long first, long long n, json_t *arr)
{
    rk_board *b = board_ready(rk, board);
    if (!b)
        return -1;
    int added = range_locked(b, first, n, arr);
    pthread_rwlock_unlock(&b->lock);
    return added;
}

int gw_rank_around(gw_ranks *rk, const char *board, const char *user, long long window, json_t *arr)
{
    rk_board *b = board_ready(rk, board);
    if (!b)
        return -1;
    rk_node *n = find_user(b, user);
    int added = 0;
    if (n) {
        long long r0 = count_ahead(b, n);
        long long first = r0 - window / 2;
        if (first < 0)
            first = 0;
        added = range_locked(b, first, window, arr);
    }
    pthread_rwlock_unlock(&b->lock);
    return added;
}

/* --- following leaderboard.updates -------------------------------------------------------- */

static void apply(gw_ranks *rk, const char *buf, size_t len)
{
    json_t *j = json_loadb(buf, len, 0, NULL);
    const char *camp = json_string_value(json_object_get(j, "campaignId"));
    const char *user = json_string_value(json_object_get(j, "userId"));
    json_t *val = json_object_get(j, "value");
    const char *reached = json_string_value(json_object_get(j, "reachedAt"));
    int64_t ms = INT64_MAX;
    if (!camp || !user || !json_is_number(val) ||
        (reached && bm_rfc3339_parse(reached, &ms) != 0)) {
        json_decref(j);
        return;
    }
    if (ms == 0)
        ms = INT64_MAX;
    pthread_mutex_lock(&rk->lock);
    rk_board *b = NULL;
    for (int i = 0; i < RK_MAX_BOARDS && !b; i++)
        if ((rk->boards[i].state == RK_READY || rk->boards[i].state == RK_LOADING) &&
            strcmp(rk->boards[i].id, camp) == 0)
            b = &rk->boards[i];
    if (b)
        pthread_rwlock_wrlock(&b->lock);
    pthread_mutex_unlock(&rk->lock);
    if (!b) {
        json_decref(j);
        return;
    }
    double score = json_number_value(val);
    if (b->state == RK_READY) {
        if (board_set(b, user, score, ms) != 0)
            b->state = RK_FAILED; /* out of memory: answer from SQL until rebuilt */
    } else if (b->state == RK_LOADING) {
        size_t ul = strlen(user);
        rk_update *u = malloc(sizeof *u + ul + 1);
        if (u) {
            u->score = score;
            u->reached = ms;
            u->next = NULL;
            memcpy(u->user, user, ul + 1);
            *b->pending_tail = u;
            b->pending_tail = &u->next;
        }
    }
    pthread_rwlock_unlock(&b->lock);
    json_decref(j);
}

static void *reader(void *arg)
{
    gw_ranks *rk = arg;
    while (atomic_load(&rk->run)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk->consumer, 100);
        if (!m)
            continue;
        if (!m->err)
            apply(rk, m->payload, m->len);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

gw_ranks *gw_ranks_start(bm_gateway *g, char *err, size_t errlen)
{
    gw_ranks *rk = calloc(1, sizeof *rk);
    if (!rk) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rk->g = g;
    pthread_mutex_init(&rk->lock, NULL);
    for (int i = 0; i < RK_MAX_BOARDS; i++) {
        pthread_rwlock_init(&rk->boards[i].lock, NULL);
        rk->boards[i].pending_tail = &rk->boards[i].pending;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", g->bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "group.id", "brightmatter-gateway-ranks-unused", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    rk->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!rk->consumer) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    /* conf is now owned by the consumer. Start at the current end, resolved now: every
     * board is read from PostgreSQL after this point, so nothing before it is needed. */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk->consumer, BM_TOPIC_LEADERBOARD_UPDATES, NULL);
    if (!t || rd_kafka_metadata(rk->consumer, 0, t, &md, 10000) || md->topic_cnt != 1 ||
        md->topics[0].err) {
        snprintf(err, errlen, "rank index: no metadata for %s", BM_TOPIC_LEADERBOARD_UPDATES);
        if (md)
            rd_kafka_metadata_destroy(md);
        if (t)
            rd_kafka_topic_destroy(t);
        goto fail;
    }
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk->consumer, BM_TOPIC_LEADERBOARD_UPDATES, p, &lo,
                                             &hi, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_topic_partition_list_destroy(l);
            snprintf(err, errlen, "rank index: no offsets for %s", BM_TOPIC_LEADERBOARD_UPDATES);
            goto fail;
        }
        rd_kafka_topic_partition_list_add(l, BM_TOPIC_LEADERBOARD_UPDATES, p)->offset = hi;
    }
    rd_kafka_assign(rk->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    atomic_store(&rk->run, 1);
    if (pthread_create(&rk->reader, NULL, reader, rk) != 0) {
        atomic_store(&rk->run, 0);
        snprintf(err, errlen, "rank index: cannot start its thread");
        goto fail;
    }
    return rk;
fail:
    gw_ranks_stop(rk);
    return NULL;
}

void gw_ranks_stop(gw_ranks *rk)
{
    if (!rk)
        return;
    if (atomic_exchange(&rk->run, 0))
        pthread_join(rk->reader, NULL);
    bm_kafka_consumer_end(rk->consumer, 2000);
    /* A build still running holds its board: wait for it (it ends within one query). */
    for (int i = 0; i < RK_MAX_BOARDS; i++) {
        rk_board *b = &rk->boards[i];
        for (int w = 0; w < 600; w++) {
            pthread_rwlock_rdlock(&b->lock);
            int loading = b->state == RK_LOADING;
            pthread_rwlock_unlock(&b->lock);
            if (!loading)
                break;
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        pthread_rwlock_wrlock(&b->lock);
        board_clear(b);
        pthread_rwlock_unlock(&b->lock);
        pthread_rwlock_destroy(&b->lock);
    }
    pthread_mutex_destroy(&rk->lock);
    free(rk);
}
