/*
 * The rewards role: a dispatcher thread (claims), a recorder thread (writes
 * outcomes) and a bounded pool of delivery workers. See rewards.h for the
 * shape.
 *
 * Lifetimes: an item is claimed by the dispatcher, queued, taken by one
 * worker, put on the done list, recorded by the recorder and freed. Between
 * claim and record it is "in flight"; the dispatcher claims only while fewer
 * than 4 x workers are in flight, so memory and the time a claim waits in the
 * queue stay bounded (well inside the lease).
 *
 * Modules: a worker pins the instance serving the item's type for the length
 * of one on_reward call (bm_loader_acquire / bm_loader_release). A reload
 * swaps the generation the next acquire sees and the loader closes a retired
 * instance only after its last reference is released, so a delivery in
 * progress finishes on the instance it started on and none is started on a
 * closed one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "pg/pg.h"
#include "rewards/rewards.h"
#include "rewards/rewards_item.h"
#include "rewards/rewards_sql.h"
#include "watchdog/wd_call.h"

#define MAX_ENDPOINTS 1024
#define LAT_BUCKETS 32
#define MAX_TYPES 64

typedef struct endpoint {
    char key[256];
    int running;
} endpoint;

struct bm_rewards {
    bm_config cfg;
    bm_backoff backoff;
    char owner[96];
    pthread_t dispatcher;
    pthread_t *workers;
    int nworkers;

    pthread_mutex_t mu;                       /* guards the queue, done list, endpoints, flags */
    pthread_cond_t work_cv, done_cv, room_cv; /* room_cv: in-flight went down */
    pthread_t recorder;
    int recorder_exit;
    bm_rw_item *queue_head, *queue_tail;
    bm_rw_item *done;
    int inflight;
    int stopping; /* dispatcher: claim nothing more */
    int workers_exit;
    endpoint endpoints[MAX_ENDPOINTS];
    int nendpoints;

    bm_loader *loader;
    char types[1024]; /* PostgreSQL array literal of the served reward types (dispatcher) */
    char served[MAX_TYPES][64];
    int nserved;

    pthread_mutex_t save_mu; /* guards save_pg: writes modules make during a delivery */
    PGconn *save_pg;

    _Atomic uint64_t claimed, delivered, retried, failed, released, stale, db_errors;
    _Atomic uint64_t timeouts; /* on_reward calls abandoned past watchdog.reward_ms */
    _Atomic long long waiting_no_module;
    _Atomic uint64_t lat_hist[LAT_BUCKETS]; /* grant -> delivered, log2 ms buckets */
};

/* --- which reward types are served ---------------------------------------------- */

/* Adds t to the candidate list unless it is there already. */
static void add_type(char (*list)[64], int *n, const char *t)
{
    if (*n >= MAX_TYPES || strlen(t) >= 64 || strchr(t, '"') || strchr(t, '\\'))
        return;
    for (int i = 0; i < *n; i++)
        if (strcmp(list[i], t) == 0)
            return;
    snprintf(list[(*n)++], 64, "%s", t);
}

/* The reward types a loaded module serves, among those served before and
 * those of due rows, as an array literal for the claim. */
static void refresh_types(bm_rewards *r, PGconn *pg)
{
    char cand[MAX_TYPES][64];
    int ncand = 0;
    for (int i = 0; i < r->nserved; i++)
        add_type(cand, &ncand, r->served[i]);
    PGresult *res = PQexec(pg, "SELECT DISTINCT reward_type FROM reward_fulfillments WHERE "
                               "status IN ('pending', 'processing') AND next_attempt_at <= now() "
                               "LIMIT 64");
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        for (int i = 0; i < PQntuples(res); i++)
            add_type(cand, &ncand, PQgetvalue(res, i, 0));
    PQclear(res);
    r->nserved = 0;
    char types[sizeof r->types];
    size_t n = (size_t)snprintf(types, sizeof types, "{");
    for (int i = 0; i < ncand; i++) {
        bm_modref *ref = bm_loader_acquire(r->loader, BM_KIND_REWARD, cand[i]);
        if (!ref)
            continue;
        bm_loader_release(ref);
        if (n + strlen(cand[i]) + 4 >= sizeof types)
            break;
        snprintf(r->served[r->nserved++], 64, "%s", cand[i]);
        n += (size_t)snprintf(types + n, sizeof types - n, "%s\"%s\"", n > 1 ? "," : "", cand[i]);
    }
    snprintf(types + n, sizeof types - n, "}");
    memcpy(r->types, types, sizeof types);
}

/* --- writes during a delivery (reward_save, reward_nonce) ---------------------- */

PGconn *bm_rw_save_conn_lock(bm_rewards *r)
{
    if (!r)
        return NULL;
    pthread_mutex_lock(&r->save_mu);
    if (!r->save_pg) {
        char err[512];
        r->save_pg = bm_pg_connect(r->cfg.pg_dsn, err, sizeof err);
        if (!r->save_pg) {
            bm_error("rewards", "database for module writes: %s", err);
            pthread_mutex_unlock(&r->save_mu);
            return NULL;
        }
    }
    return r->save_pg;
}

void bm_rw_save_conn_unlock(bm_rewards *r, int broken)
{
    if (broken && r->save_pg) {
        PQfinish(r->save_pg);
        r->save_pg = NULL;
    }
    pthread_mutex_unlock(&r->save_mu);
}

/* --- workers ------------------------------------------------------------------- */

static endpoint *endpoint_get(bm_rewards *r, const char *key)
{
    for (int i = 0; i < r->nendpoints; i++)
        if (strcmp(r->endpoints[i].key, key) == 0)
            return &r->endpoints[i];
    /* Reuse an idle slot before growing. */
    for (int i = 0; i < r->nendpoints; i++)
        if (r->endpoints[i].running == 0) {
            snprintf(r->endpoints[i].key, sizeof r->endpoints[i].key, "%s", key);
            return &r->endpoints[i];
        }
    if (r->nendpoints == MAX_ENDPOINTS)
        return NULL;
    endpoint *ep = &r->endpoints[r->nendpoints++];
    snprintf(ep->key, sizeof ep->key, "%s", key);
    ep->running = 0;
    return ep;
}

/* First queued item whose endpoint is under its cap, unlinked; NULL if none (mu held). */
static bm_rw_item *take_runnable(bm_rewards *r, endpoint **out)
{
    bm_rw_item *prev = NULL;
    for (bm_rw_item *it = r->queue_head; it; prev = it, it = it->next) {
        endpoint *ep = endpoint_get(r, it->endpoint);
        if (!ep || ep->running >= r->cfg.rewards_per_endpoint)
            continue;
        if (prev)
            prev->next = it->next;
        else
            r->queue_head = it->next;
        if (r->queue_tail == it)
            r->queue_tail = prev;
        it->next = NULL;
        ep->running++;
        *out = ep;
        return it;
    }
    return NULL;
}

/* One on_reward call, as the watchdog's helper thread makes it. */
typedef struct reward_call {
    const bm_module *m;
    bm_modref *ref;
    bm_rw_item *it;
} reward_call;

static void reward_call_run(void *arg)
{
    reward_call *c = arg;
    c->it->rc = c->m->on_reward(bm_modref_instance(c->ref), &c->it->pub, c->it->result,
                                sizeof c->it->result);
}

/* An abandoned call returned at last: what it held goes. */
static void reward_call_release(void *arg)
{
    reward_call *c = arg;
    bm_loader_release(c->ref);
    bm_rw_item_free(c->it);
    free(c);
}

/*
 * Calls on_reward under watchdog.reward_ms. When it overruns, the module keeps
 * the item it was given (and its pin) on the abandoned thread, and the item
 * returned is a copy carrying a retry with the reason; *ref is then NULL.
 */
static bm_rw_item *deliver(bm_rewards *r, bm_wd_caller *wc, const bm_module *m, bm_modref **ref,
                           bm_rw_item *it)
{
    it->result[0] = '\0';
    reward_call *c = malloc(sizeof *c);
    bm_rw_item *copy = bm_rw_item_clone(it);
    if (!c || !copy) {
        free(c);
        bm_rw_item_free(copy);
        it->rc = BM_RETRY;
        snprintf(it->result, sizeof it->result, "out of memory before calling module %s", m->name);
        return it;
    }
    *c = (reward_call){.m = m, .ref = *ref, .it = it};
    /* Copied now: once the call is abandoned, the pin (and so the instance) is its thread's. */
    const bm_modinst *mi = bm_modref_inst(*ref);
    char file[1024], name[64];
    snprintf(file, sizeof file, "%s", bm_modinst_file(mi));
    snprintf(name, sizeof name, "%s", m->name);
    bm_wd_site site;
    bm_wd_site_set(&site, BM_WD_REWARD, m->name, bm_modinst_generation(mi), file,
                   it->pub.campaign_id);
    snprintf(site.subject, sizeof site.subject, "fulfillment=%lld",
             (long long)it->pub.fulfillment_id);
    int rc =
        bm_wd_caller_run(wc, &site, r->cfg.wd_reward_ms, reward_call_run, reward_call_release, c);
    if (rc == 1) {
        /* Abandoned: c, it and the pin now belong to the module's thread. */
        *ref = NULL;
        atomic_fetch_add(&r->timeouts, 1);
        copy->rc = BM_RETRY;
        snprintf(copy->result, sizeof copy->result,
                 "module %s (%s) did not return from on_reward within watchdog.reward_ms=%d ms; "
                 "the call was abandoned",
                 name, file, r->cfg.wd_reward_ms);
        bm_warn("rewards", "fulfillment=%lld type=%s: %s", (long long)copy->pub.fulfillment_id,
                copy->pub.reward_type, copy->result);
        return copy;
    }
    bm_rw_item_free(copy);
    free(c);
    if (rc < 0) {
        it->rc = BM_RETRY;
        snprintf(it->result, sizeof it->result, "no thread to call module %s", m->name);
    }
    return it;
}

static void *worker_main(void *arg)
{
    bm_rewards *r = arg;
    bm_wd_caller *wc = bm_wd_caller_new();
    pthread_mutex_lock(&r->mu);
    while (!r->workers_exit) {
        endpoint *ep = NULL;
        bm_rw_item *it = take_runnable(r, &ep);
        if (!it) {
            pthread_cond_wait(&r->work_cv, &r->mu);
            continue;
        }
        pthread_mutex_unlock(&r->mu);
        bm_modref *ref = bm_loader_acquire(r->loader, BM_KIND_REWARD, it->pub.reward_type);
        const bm_module *m = ref ? bm_modref_module(ref) : NULL;
        if (!m || !m->on_reward || !wc) {
            /* The module went away after the claim: hand the row back untouched. */
            it->rc = BM_RW_RELEASED;
        } else {
            it = deliver(r, wc, m, &ref, it);
            if (it->rc != BM_OK && it->rc != BM_RETRY && it->rc != BM_ERROR) {
                snprintf(it->result, sizeof it->result,
                         "module %s returned %d from on_reward (not BM_OK/BM_RETRY/BM_ERROR)",
                         m->name, it->rc);
                it->rc = BM_ERROR;
            }
        }
        if (ref)
            bm_loader_release(ref);
        pthread_mutex_lock(&r->mu);
        ep->running--;
        it->next = r->done;
        r->done = it;
        pthread_cond_signal(&r->done_cv);
        pthread_cond_broadcast(&r->work_cv); /* a capped endpoint may have room now */
    }
    pthread_mutex_unlock(&r->mu);
    bm_wd_caller_free(wc);
    return NULL;
}

/* --- dispatcher ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void free_list(bm_rw_item *it)
{
    while (it) {
        bm_rw_item *nx = it->next;
        bm_rw_item_free(it);
        it = nx;
    }
}

/* Records the done list; keeps it for the next round when the database fails. */
static void record_done(bm_rewards *r, PGconn **pg, bm_rw_item **pending)
{
    pthread_mutex_lock(&r->mu);
    bm_rw_item *got = r->done;
    r->done = NULL;
    pthread_mutex_unlock(&r->mu);
    /* Append to what an earlier failed round left. */
    bm_rw_item **tail = pending;
    while (*tail)
        tail = &(*tail)->next;
    *tail = got;
    if (!*pending || !*pg)
        return;
    int n = 0;
    for (bm_rw_item *it = *pending; it; it = it->next)
        n++;
    bm_rw_tally t;
    char err[512];
    if (bm_rw_record(*pg, *pending, &r->backoff, &t, err, sizeof err) != 0) {
        atomic_fetch_add(&r->db_errors, 1);
        bm_error("rewards", "recording %d outcomes failed (kept, retried): %s", n, err);
        if (PQstatus(*pg) != CONNECTION_OK || bm_pg_conn_lost(*pg)) {
            PQfinish(*pg);
            *pg = NULL;
        }
        return;
    }
    atomic_fetch_add(&r->delivered, (uint64_t)t.delivered);
    atomic_fetch_add(&r->retried, (uint64_t)t.retried);
    atomic_fetch_add(&r->failed, (uint64_t)t.failed);
    atomic_fetch_add(&r->released, (uint64_t)t.released);
    atomic_fetch_add(&r->stale, (uint64_t)t.stale);
    for (int i = 0; i < t.nlatency; i++) {
        int b = 0;
        for (int64_t v = t.latency_ms[i]; v > 0 && b < LAT_BUCKETS - 1; v >>= 1)
            b++;
        atomic_fetch_add(&r->lat_hist[b], 1);
    }
    free_list(*pending);
    *pending = NULL;
    pthread_mutex_lock(&r->mu);
    r->inflight -= n;
    pthread_cond_signal(&r->room_cv);
    pthread_mutex_unlock(&r->mu);
}

static void enqueue(bm_rewards *r, bm_rw_item *list)
{
    pthread_mutex_lock(&r->mu);
    while (list) {
        bm_rw_item *nx = list->next;
        list->next = NULL;
        if (r->queue_tail)
            r->queue_tail->next = list;
        else
            r->queue_head = list;
        r->queue_tail = list;
        r->inflight++;
        list = nx;
    }
    pthread_cond_broadcast(&r->work_cv);
    pthread_mutex_unlock(&r->mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Recorder: waits for finished deliveries (or ms). */
static void wait_done(bm_rewards *r, int ms)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&r->mu);
    if (!r->done)
        pthread_cond_timedwait(&r->done_cv, &r->mu, &ts);
    pthread_mutex_unlock(&r->mu);
}

/* Dispatcher: waits until recorded outcomes make room (or ms). */
static void wait_room(bm_rewards *r, int ms)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&r->mu);
    if (!r->stopping)
        pthread_cond_timedwait(&r->room_cv, &r->mu, &ts);
    pthread_mutex_unlock(&r->mu);
}

static PGconn *connect_retry(bm_rewards *r, int64_t *last_connect)
{
    if (now_ms() - *last_connect <= 1000)
        return NULL;
    char err[512];
    *last_connect = now_ms();
    PGconn *pg = bm_pg_connect(r->cfg.pg_dsn, err, sizeof err);
    if (!pg)
        bm_error("rewards", "database: %s", err);
    return pg;
}

/* Records outcomes on its own connection, so recording and claiming overlap. */
static void *recorder_main(void *arg)
{
    bm_rewards *r = arg;
    PGconn *pg = NULL;
    bm_rw_item *pending = NULL;
    int64_t last_connect = 0, exit_at = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int exiting = r->recorder_exit, left = r->done != NULL;
        pthread_mutex_unlock(&r->mu);
        if (!pg)
            pg = connect_retry(r, &last_connect);
        record_done(r, &pg, &pending);
        if (exiting) {
            if (!exit_at)
                exit_at = now_ms();
            /* Without a database for 10 s, give up recording: the leases bring the rows back. */
            if ((!pending && !left) || now_ms() - exit_at > 10000)
                break;
        }
        wait_done(r, exiting ? 100 : r->cfg.rewards_poll_ms);
    }
    free_list(pending);
    if (pg)
        PQfinish(pg);
    return NULL;
}

/*
 * The last worker crashed inside on_reward (the crash handler wrote which
 * reward): that reward goes back to pending at once, its error naming the
 * module, instead of waiting out its lease. The crashed generation is
 * quarantined by then, so the retry runs on the last good copy, or waits
 * until a fixed module is installed.
 */
static void recover_crashed(PGconn *pg)
{
    bm_crash_subject cs;
    long long id = 0;
    if (bm_watchdog_take_subject(&cs) != 0 || sscanf(cs.subject, "fulfillment=%lld", &id) != 1)
        return;
    char ids[32], why[1500];
    snprintf(ids, sizeof ids, "%lld", id);
    snprintf(why, sizeof why,
             "module %s (%s) took the worker down in on_reward: %s; the worker restarted and "
             "quarantined that file",
             cs.module, cs.file, cs.reason);
    const char *p[2] = {ids, why};
    PGresult *res = PQexecParams(pg,
                                 "UPDATE reward_fulfillments SET status = 'pending', "
                                 "next_attempt_at = now(), error_message = $2, updated_at = now() "
                                 "WHERE id = $1 AND status = 'processing'",
                                 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        bm_error("rewards", "fulfillment=%s: cannot record the crash: %s", ids, PQerrorMessage(pg));
    else
        bm_error("rewards", "fulfillment=%s back to pending: %s", ids, why);
    PQclear(res);
}

static void *dispatcher_main(void *arg)
{
    bm_rewards *r = arg;
    PGconn *pg = NULL;
    int64_t last_count = 0, last_connect = 0, stop_at = 0, last_types = 0;
    int crash_checked = 0;
    const int max_inflight = r->nworkers * 4;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int stopping = r->stopping, inflight = r->inflight;
        if (stopping) {
            /* Claimed but not started: hand back. */
            bm_rw_item *q = r->queue_head;
            r->queue_head = r->queue_tail = NULL;
            while (q) {
                bm_rw_item *nx = q->next;
                q->rc = BM_RW_RELEASED;
                q->next = r->done;
                r->done = q;
                q = nx;
            }
            pthread_cond_signal(&r->done_cv);
        }
        pthread_mutex_unlock(&r->mu);
        if (stopping) {
            if (!stop_at)
                stop_at = now_ms();
            /* Everything recorded, or 10 s more than the deliveries allow. */
            if (inflight == 0 || now_ms() - stop_at > 10000 + 30000)
                break;
            struct timespec ts;
            deadline_in(&ts, 100);
            pthread_mutex_lock(&r->mu);
            if (r->inflight > 0)
                pthread_cond_timedwait(&r->room_cv, &r->mu, &ts);
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        if (!pg)
            pg = connect_retry(r, &last_connect);
        if (pg && !crash_checked) {
            recover_crashed(pg);
            crash_checked = 1;
        }
        int claimed = 0;
        if (pg && now_ms() - last_types >= 1000) {
            refresh_types(r, pg);
            last_types = now_ms();
        }
        const char *types = r->types;
        if (pg && strcmp(types, "{}") != 0 && inflight < max_inflight) {
            bm_rw_item *list = NULL;
            char err[512];
            int want = max_inflight - inflight;
            claimed = bm_rw_claim(pg, types, want > 500 ? 500 : want, r->cfg.rewards_lease_s,
                                  r->owner, &list, err, sizeof err);
            if (claimed < 0) {
                atomic_fetch_add(&r->db_errors, 1);
                bm_error("rewards", "claim failed: %s", err);
                if (bm_pg_conn_lost(pg)) {
                    PQfinish(pg);
                    pg = NULL;
                }
                claimed = 0;
            } else if (claimed > 0) {
                atomic_fetch_add(&r->claimed, (uint64_t)claimed);
                for (bm_rw_item *it = list; it; it = it->next)
                    it->role = r;
                enqueue(r, list);
            }
        }
        if (pg && now_ms() - last_count > 5000) {
            long long w = bm_rw_count_unserved(pg, types);
            if (w >= 0 && w != atomic_load(&r->waiting_no_module) && w > 0)
                bm_warn("rewards",
                        "waiting=%lld rewards due whose reward_type no loaded module "
                        "serves (they wait, nothing fails)",
                        w);
            if (w >= 0)
                atomic_store(&r->waiting_no_module, w);
            last_count = now_ms();
        }
        if (claimed == 0)
            wait_room(r, r->cfg.rewards_poll_ms);
    }
    if (pg)
        PQfinish(pg);
    return NULL;
}

/* --- lifecycle --------------------------------------------------------------------- */

bm_rewards *bm_rewards_start(const bm_config *cfg, bm_loader *loader, char *err, size_t errlen)
{
    bm_rewards *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "rewards: out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    r->loader = loader;
    snprintf(r->types, sizeof r->types, "{}");
    if (bm_backoff_parse(&r->backoff, cfg, err, errlen) != 0) {
        free(r);
        return NULL;
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(r->owner, sizeof r->owner, "%s:%d", host, (int)getpid());
    srand((unsigned)(now_ms() ^ getpid()));
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->save_mu, NULL);
    pthread_cond_init(&r->work_cv, NULL);
    pthread_cond_init(&r->done_cv, NULL);
    pthread_cond_init(&r->room_cv, NULL);
    r->workers = calloc((size_t)cfg->rewards_workers, sizeof *r->workers);
    if (!r->workers)
        goto fail;
    for (; r->nworkers < cfg->rewards_workers; r->nworkers++)
        if (pthread_create(&r->workers[r->nworkers], NULL, worker_main, r) != 0)
            goto fail;
    if (pthread_create(&r->recorder, NULL, recorder_main, r) != 0)
        goto fail;
    if (pthread_create(&r->dispatcher, NULL, dispatcher_main, r) != 0) {
        pthread_mutex_lock(&r->mu);
        r->recorder_exit = 1;
        pthread_cond_signal(&r->done_cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->recorder, NULL);
        goto fail;
    }
    bm_info("rewards", "started workers=%d per_endpoint=%d lease_s=%d", r->nworkers,
            cfg->rewards_per_endpoint, cfg->rewards_lease_s);
    return r;
fail:
    snprintf(err, errlen, "rewards: cannot start threads: %s", strerror(errno));
    pthread_mutex_lock(&r->mu);
    r->workers_exit = 1;
    pthread_cond_broadcast(&r->work_cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->nworkers; i++)
        pthread_join(r->workers[i], NULL);
    free(r->workers);
    free(r);
    return NULL;
}

void bm_rewards_stop(bm_rewards *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_broadcast(&r->room_cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->dispatcher, NULL);
    pthread_mutex_lock(&r->mu);
    r->recorder_exit = 1;
    pthread_cond_signal(&r->done_cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->recorder, NULL);
    pthread_mutex_lock(&r->mu);
    r->workers_exit = 1;
    pthread_cond_broadcast(&r->work_cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->nworkers; i++)
        pthread_join(r->workers[i], NULL);
    free_list(r->queue_head);
    free_list(r->done);
    free(r->workers);
    r->workers = NULL;
    if (bm_wd_stuck() > 0) {
        /* A module still stuck in on_reward may call the host API (r) when it returns:
         * the role stays allocated until the process ends. */
        bm_warn("rewards", "stopped with %d module calls still stuck; leaving them be",
                bm_wd_stuck());
        return;
    }
    pthread_mutex_destroy(&r->mu);
    if (r->save_pg)
        PQfinish(r->save_pg);
    pthread_mutex_destroy(&r->save_mu);
    pthread_cond_destroy(&r->work_cv);
    pthread_cond_destroy(&r->done_cv);
    pthread_cond_destroy(&r->room_cv);
    bm_info("rewards", "stopped delivered=%llu retried=%llu failed=%llu",
            (unsigned long long)atomic_load(&r->delivered),
            (unsigned long long)atomic_load(&r->retried),
            (unsigned long long)atomic_load(&r->failed));
    free(r);
}

static double lat_pct(bm_rewards *r, double pct)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < LAT_BUCKETS; i++)
        total += atomic_load(&r->lat_hist[i]);
    if (!total)
        return 0;
    for (int i = 0; i < LAT_BUCKETS; i++) {
        seen += atomic_load(&r->lat_hist[i]);
        if ((double)seen >= (double)total * pct / 100.0)
            return i ? (double)(1ULL << i) : 1.0;
    }
    return 0;
}

json_t *bm_rewards_stats_json(bm_rewards *r)
{
    if (!r)
        return json_object();
    pthread_mutex_lock(&r->mu);
    int inflight = r->inflight;
    pthread_mutex_unlock(&r->mu);
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "claimed",
        (json_int_t)atomic_load(&r->claimed), "delivered", (json_int_t)atomic_load(&r->delivered),
        "retried", (json_int_t)atomic_load(&r->retried), "failed",
        (json_int_t)atomic_load(&r->failed), "released", (json_int_t)atomic_load(&r->released),
        "staleLease", (json_int_t)atomic_load(&r->stale), "dbErrors",
        (json_int_t)atomic_load(&r->db_errors), "waitingNoModule",
        (json_int_t)atomic_load(&r->waiting_no_module), "inflight", inflight);
    json_object_set_new(o, "callTimeouts", json_integer((json_int_t)atomic_load(&r->timeouts)));
    json_object_set_new(o, "grantToDeliveredP50Ms", json_real(lat_pct(r, 50)));
    json_object_set_new(o, "grantToDeliveredP99Ms", json_real(lat_pct(r, 99)));
    return o;
}

/* --- the role ---------------------------------------------------------------------- */

static int role_start(const bm_role_env *env, void **state, char *err, size_t errlen)
{
    bm_rewards *r = bm_rewards_start(env->cfg, env->loader, err, errlen);
    *state = r;
    return r ? 0 : -1;
}

static void role_stop(void *state)
{
    bm_rewards_stop(state);
}

const bm_role_ops bm_rewards_role = {
    .name = "rewards",
    .start = role_start,
    .stop = role_stop,
};
