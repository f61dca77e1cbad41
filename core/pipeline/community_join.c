/*
 * COMMUNITY_JOIN: a `bm.community.join` command on game.events, keyed by the
 * user, applied in the exactly-once batch in order with the user's events.
 * data: communityId or slug, metadata {...}, inviteCode?, ref? (referrer).
 *
 * The decision reads the community and the user's row from PostgreSQL (joins
 * are rare next to game events) plus the joins earlier in this batch; the
 * member row and the starter reward are written by the batch's transaction
 * (bm_job_write_members), with the messages: community.joins,
 * community.events, ui.community_updates, and config.communities so that every
 * engine's membership cache forgets the user. An active join counts for the
 * gated campaigns of the events after it in the same batch.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "community/community.h"
#include "event/event.h"
#include "log/log.h"
#include "pipeline/batch_internal.h"

void bm_job_member_free(bm_job_member *m)
{
    free(m->community), free(m->user), free(m->metadata), free(m->status);
    free(m->referral), free(m->invite), free(m->reward);
    memset(m, 0, sizeof *m);
}

int bm_job_write_members(bm_job *j, PGconn *pg)
{
    for (size_t i = 0; i < j->nmembers; i++) {
        const bm_job_member *m = &j->members[i];
        const char *v[6] = {m->community, m->user, m->metadata, m->referral, m->status, m->invite};
        PGresult *r = PQexecParams(
            pg,
            "INSERT INTO community_members (community_id, user_id, user_metadata, "
            "referral_source, status, invite_code) VALUES ($1::uuid, $2, $3::jsonb, $4, $5, $6) "
            "ON CONFLICT (community_id, user_id) DO NOTHING RETURNING id",
            6, NULL, v, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK, inserted = ok && PQntuples(r) == 1;
        PQclear(r);
        if (ok && inserted && m->reward && strcmp(m->status, "active") == 0) {
            const char *w[3] = {m->community, m->user, m->reward};
            r = PQexecParams(pg,
                             "INSERT INTO reward_fulfillments (idempotency_key, community_id, "
                             "user_id, reward_type, reward_config) VALUES ('community:' || $1 || "
                             "':' || $2 || ':starter', $1::uuid, $2, $3::jsonb ->> 'type', "
                             "COALESCE($3::jsonb -> 'config', '{}'::jsonb)) "
                             "ON CONFLICT (idempotency_key) DO NOTHING",
                             3, NULL, w, NULL, NULL, 0);
            ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
        }
        if (!ok) {
            snprintf(j->err, sizeof j->err, "community join: %s", PQerrorMessage(pg));
            return -1;
        }
    }
    return 0;
}

static void out_json(bm_batch *b, const char *topic, const char *key, json_t *msg)
{
    char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (s)
        bm_batch_out(b, topic, key, s, strlen(s));
    free(s);
    json_decref(msg);
}

static void refuse(bm_batch *b, const char *community, const bm_event *ev, const char *reason,
                   const char *message)
{
    json_t *m = json_pack("{s:s, s:s, s:s, s:s}", "type", "join_refused", "communityId", community,
                          "userId", ev->user_id, "reason", reason);
    if (message)
        json_object_set_new(m, "message", json_string(message));
    out_json(b, "community.events", community, json_incref(m));
    out_json(b, "ui.community_updates", ev->user_id, m);
    bm_info("community", "join refused community=%s user=%s reason=%s%s%s", community, ev->user_id,
            reason, message ? " detail=" : "", message ? message : "");
}

/* The community by id or slug: 0 found, 1 none, -1 database error. */
static int load_community(PGconn *pg, const char *ref, char *id, size_t idlen, json_t **config,
                          long long *members)
{
    const char *v[1] = {ref};
    PGresult *r = PQexecParams(pg,
                               "SELECT c.id::text, c.config::text, (SELECT count(*) FROM "
                               "community_members m WHERE m.community_id = c.id AND m.status <> "
                               "'banned') FROM communities c WHERE c.status = 'active' AND "
                               "(c.referral_slug = $1 OR c.id::text = $1)",
                               1, NULL, v, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = PQntuples(r) == 1 ? 0 : 1;
        if (rc == 0) {
            snprintf(id, idlen, "%s", PQgetvalue(r, 0, 0));
            *config = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
            *members = atoll(PQgetvalue(r, 0, 2));
        }
    }
    PQclear(r);
    return rc;
}

/* The user's status in the community ("" when not a member); -1 on error. */
static int member_status(PGconn *pg, const char *community, const char *user, char *out, size_t len)
{
    const char *v[2] = {community, user};
    PGresult *r = PQexecParams(pg,
                               "SELECT status FROM community_members WHERE community_id = $1::uuid "
                               "AND user_id = $2",
                               2, NULL, v, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    snprintf(out, len, "%s", rc == 0 && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return rc;
}

static int invite_ok(json_t *config, const char *code)
{
    json_t *codes = json_object_get(json_object_get(config, "moderationSettings"), "inviteCodes");
    size_t i;
    json_t *c;
    json_array_foreach(codes, i, c)
    {
        if (code && strcmp(json_string_value(c), code) == 0)
            return 1;
    }
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void bm_community_join_apply(bm_batch *b, const bm_event *ev)
{
    json_t *data = ev->data;
    const char *ref = json_string_value(json_object_get(data, "communityId"));
    if (!ref)
        ref = json_string_value(json_object_get(data, "slug"));
    char id[64] = "", status[16] = "", err[320];
    json_t *config = NULL, *norm = NULL;
    long long members = 0;
    if (!ref) {
        refuse(b, "", ev, "invalid", "data.communityId or data.slug is required");
        return;
    }
    int f = load_community(b->e->pg, ref, id, sizeof id, &config, &members);
    if (f != 0) {
        if (f < 0)
            b->failed = 1; /* database trouble: the batch is read again */
        else
            refuse(b, ref, ev, "unknown_community", NULL);
        goto done;
    }
    /* Earlier joins of this batch count as rows already there. */
    for (size_t i = 0; i < b->nmembers; i++)
        if (strcmp(b->members[i].community, id) == 0) {
            members++;
            if (strcmp(b->members[i].user, ev->user_id) == 0)
                snprintf(status, sizeof status, "%s", b->members[i].status);
        }
    if (!status[0] && member_status(b->e->pg, id, ev->user_id, status, sizeof status) != 0) {
        b->failed = 1;
        goto done;
    }
    json_t *mod = json_object_get(config, "moderationSettings");
    const char *invite = json_string_value(json_object_get(data, "inviteCode"));
    json_t *max = json_object_get(mod, "maxMembers");
    if (strcmp(status, "banned") == 0) {
        refuse(b, id, ev, "banned", NULL);
    } else if (status[0]) {
        /* already a member (active or pending): a retried join changes nothing */
    } else if (!json_is_true(json_object_get(config, "isOpen"))) {
        refuse(b, id, ev, "closed", NULL);
    } else if (json_is_true(json_object_get(mod, "requireInvite")) && !invite_ok(config, invite)) {
        refuse(b, id, ev, invite ? "invalid_invite" : "invite_required", NULL);
    } else if (json_is_integer(max) && members >= json_integer_value(max)) {
        refuse(b, id, ev, "full", NULL);
    } else if (bm_community_member_check(config, json_object_get(data, "metadata"), &norm, err,
                                         sizeof err) != 0) {
        refuse(b, id, ev, "invalid_metadata", err);
    } else if (bm_batch_grow((void **)&b->members, &b->capmembers, b->nmembers,
                             sizeof *b->members) != 0) {
        b->failed = 1;
    } else {
        int active = !json_is_false(json_object_get(mod, "autoApprove"));
        const char *st = active ? "active" : "pending";
        const char *referrer = json_string_value(json_object_get(data, "ref"));
        json_t *reward = json_object_get(config, "starterReward");
        bm_job_member *m = &b->members[b->nmembers];
        memset(m, 0, sizeof *m);
        m->community = strdup(id);
        m->user = strdup(ev->user_id);
        m->metadata = json_dumps(norm, JSON_COMPACT);
        m->status = strdup(st);
        m->referral = dup_or_null(referrer);
        m->invite = dup_or_null(invite);
        m->reward = reward ? json_dumps(reward, JSON_COMPACT) : NULL;
        if (!m->community || !m->user || !m->metadata || !m->status || (referrer && !m->referral) ||
            (invite && !m->invite) || (reward && !m->reward)) {
            bm_job_member_free(m);
            b->failed = 1;
            goto done;
        }
        b->nmembers++;
        if (active)
            bm_members_note(b->e, id, ev->user_id);
        char ts[40];
        bm_rfc3339_format(ev->time_ms, ts, sizeof ts);
        json_t *j = json_pack(
            "{s:s, s:s, s:s, s:s, s:s*, s:s}", "type", active ? "joined" : "pending", "communityId",
            id, "userId", ev->user_id, "status", st, "referralSource", referrer, "timestamp", ts);
        out_json(b, "community.joins", id, json_incref(j));
        out_json(b, "community.events", id, json_incref(j));
        out_json(b, "ui.community_updates", id, j);
        out_json(b, "config.communities", id,
                 json_pack("{s:s, s:s, s:s, s:s}", "type", "member", "communityId", id, "userId",
                           ev->user_id, "status", st));
    }
done:
    json_decref(config);
    json_decref(norm);
}
