/*
 * Community membership for api->community_member. The first question in a
 * batch loads, in one query, the memberships of every user of the batch not
 * known yet; answers come from memory after that. A message on
 * config.communities (compacted, keyed by community) says membership
 * changed: {"userId": ...} forgets that user, anything else forgets
 * everyone. Messages are applied at the start of a step, never in the middle
 * of a batch, so one batch always sees one consistent membership.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kafka/kafka.h"
#include "log/log.h"
#include "pipeline/pipeline_int.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/hash.h"

#define NBUCKETS 4096
#define MAX_USERS 1000000      /* beyond this the cache starts over */
#define FORGET_ALL_MS (300000) /* and at least this often, in case a message was lost */

typedef struct member_entry {
    struct member_entry *next;
    char *user;
    char **comms; /* active memberships */
    size_t n;
} member_entry;

typedef struct bm_members {
    member_entry *buckets[NBUCKETS];
    size_t users;
    int64_t forgot_at_ms;
} bm_members;

static void entry_free(member_entry *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->comms[i]);
    free(m->comms);
    free(m->user);
    free(m);
}

static void forget_all(bm_members *ms)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        while (ms->buckets[i]) {
            member_entry *m = ms->buckets[i];
            ms->buckets[i] = m->next;
            entry_free(m);
        }
    }
    ms->users = 0;
    ms->forgot_at_ms = bm_mono_ms();
}

static member_entry **slot_of(bm_members *ms, const char *user)
{
    member_entry **p = &ms->buckets[bm_hash_mix(bm_hash_str(BM_HASH_SEED, user)) % NBUCKETS];
    while (*p && strcmp((*p)->user, user) != 0)
        p = &(*p)->next;
    return p;
}

static void forget_user(bm_members *ms, const char *user)
{
    member_entry **p = slot_of(ms, user);
    if (*p) {
        member_entry *m = *p;
        *p = m->next;
        entry_free(m);
        ms->users--;
    }
}

/* The entry of a user, created empty when absent; NULL on OOM. */
static member_entry *entry_get(bm_members *ms, const char *user, int *created)
{
    member_entry **p = slot_of(ms, user);
    member_entry *found = *p;
    *created = 0;
    if (found)
        return found;
    member_entry *m = calloc(1, sizeof *m);
    if (!m || !(m->user = strdup(user))) {
        free(m);
        return NULL;
    }
    *p = m;
    ms->users++;
    *created = 1;
    return m;
}

int bm_members_start(bm_pipeline *e, char *err, size_t errlen)
{
    e->members = calloc(1, sizeof *e->members);
    if (!e->members) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->members->forgot_at_ms = bm_mono_ms();
    char sock[16];
    snprintf(sock, sizeof sock, "%d", e->cfg.socket_timeout_ms);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", e->bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", sock, err, errlen) ||
        rd_kafka_conf_set(conf, "group.id", "brightmatter-communities-unused", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, errlen) ||
        bm_kafka_conf_props(conf, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    e->communities = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!e->communities) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* conf is now owned by the consumer. PostgreSQL is the truth, the topic only
     * says which users to look up again; read from the beginning (as
     * config.campaigns, engine.c): old messages only forget an empty cache. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(3);
    for (size_t i = 0; i < bm_ntopics; i++)
        if (strcmp(bm_topics[i].name, "config.communities") == 0)
            for (int p = 0; p < bm_topics[i].partitions; p++)
                rd_kafka_topic_partition_list_add(l, "config.communities", p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(e->communities, l);
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
}

void bm_members_poll(bm_pipeline *e)
{
    bm_members *ms = e->members;
    if (!ms)
        return;
    if (bm_mono_ms() - ms->forgot_at_ms > FORGET_ALL_MS || ms->users > MAX_USERS)
        forget_all(ms);
    rd_kafka_message_t *m;
    while (e->communities && (m = rd_kafka_consumer_poll(e->communities, 0))) {
        if (!m->err) {
            json_t *j = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
            const char *user = json_string_value(json_object_get(j, "userId"));
            if (user)
                forget_user(ms, user);
            else
                forget_all(ms);
            json_decref(j);
        }
        rd_kafka_message_destroy(m);
    }
}

void bm_members_stop(bm_pipeline *e)
{
    if (e->communities) {
        bm_kafka_consumer_end(e->communities, 2000);
        e->communities = NULL;
    }
    if (e->members) {
        forget_all(e->members);
        free(e->members);
        e->members = NULL;
    }
}

static int add_comm(member_entry *m, const char *community)
{
    char **nv = realloc(m->comms, (m->n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    m->comms = nv;
    if (!(m->comms[m->n] = strdup(community)))
        return -1;
    m->n++;
    return 0;
}

/* One query for `user` and every user of the batch not known yet. */
static int preload(bm_pipeline *e, const char *user)
{
    bm_members *ms = e->members;
    const char **users = NULL;
    size_t n = bm_pipeline_batch_users(e, &users);
    bm_buf arr = {0};
    bm_buf_puts(&arr, "{");
    bm_buf_array_elem(&arr, user);
    int created;
    member_entry *me = entry_get(ms, user, &created);
    for (size_t i = 0; i < n; i++) {
        if (*slot_of(ms, users[i]))
            continue;
        member_entry *m = entry_get(ms, users[i], &created);
        if (!m)
            break;
        bm_buf_puts(&arr, ",");
        bm_buf_array_elem(&arr, users[i]);
    }
    bm_buf_puts(&arr, "}");
    int rc = -1;
    if (!me || arr.oom)
        goto out;
    const char *v[1] = {bm_buf_cstr(&arr)};
    PGresult *r = PQexecParams(e->pg,
                               "SELECT m.user_id, m.community_id::text FROM community_members m "
                               "WHERE m.user_id = ANY($1::text[]) AND m.status = 'active'",
                               1, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        bm_error("pipeline", "community membership: %s", PQerrorMessage(e->pg));
        PQclear(r);
        goto out;
    }
    rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        member_entry *m = *slot_of(ms, PQgetvalue(r, i, 0));
        if (m && add_comm(m, PQgetvalue(r, i, 1)) != 0)
            rc = -1;
    }
    PQclear(r);
out:
    if (rc != 0)
        forget_all(ms); /* never keep a half-loaded answer */
    bm_buf_free(&arr);
    free(users);
    return rc;
}

int bm_members_note(bm_pipeline *e, const char *community_id, const char *user_id)
{
    if (!e->members || bm_members_check(e, community_id, user_id) != 0)
        return -1; /* unknown answer, or already a member */
    int created;
    member_entry *m = entry_get(e->members, user_id, &created);
    return m ? add_comm(m, community_id) : -1;
}

int bm_members_check(bm_pipeline *e, const char *community_id, const char *user_id)
{
    if (!e->members)
        return -1;
    member_entry *m = *slot_of(e->members, user_id);
    if (!m) {
        if (preload(e, user_id) != 0)
            return -1;
        m = *slot_of(e->members, user_id);
        if (!m)
            return -1;
    }
    for (size_t i = 0; i < m->n; i++)
        if (strcasecmp(m->comms[i], community_id) == 0)
            return 1;
    return 0;
}
