/* Communities in PostgreSQL (bmctl and the gateway): see community_db.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "community/community_db.h"

int bm_cmdb_find(PGconn *c, const char *ref, char *id, size_t idlen, json_t **config)
{
    const char *v[1] = {ref};
    PGresult *r = PQexecParams(c,
                               "SELECT id::text, config::text FROM communities WHERE status = "
                               "'active' AND (referral_slug = $1 OR id::text = $1)",
                               1, NULL, v, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = PQntuples(r) == 1 ? 0 : 1;
        if (rc == 0) {
            snprintf(id, idlen, "%s", PQgetvalue(r, 0, 0));
            if (config)
                *config = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
        }
    }
    PQclear(r);
    return rc;
}

json_t *bm_cmdb_counts(PGconn *c, const char *id)
{
    const char *v[1] = {id};
    PGresult *r = PQexecParams(c,
                               "SELECT status, count(*) FROM community_members WHERE community_id"
                               " = $1::uuid GROUP BY status",
                               1, NULL, v, NULL, NULL, 0);
    json_t *o = json_pack("{s:i, s:i, s:i}", "active", 0, "pending", 0, "banned", 0);
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
        json_object_set_new(o, PQgetvalue(r, i, 0), json_integer(atoll(PQgetvalue(r, i, 1))));
    PQclear(r);
    return o;
}

json_t *bm_cmdb_referrals(PGconn *c, const char *id)
{
    const char *v[1] = {id};
    PGresult *r = PQexecParams(
        c,
        "SELECT j.referral_source, j.n, (SELECT count(*) FROM community_referral_clicks k WHERE "
        "k.community_id = $1::uuid AND k.referrer = j.referral_source) FROM (SELECT "
        "referral_source, count(*) AS n FROM community_members WHERE community_id = $1::uuid AND "
        "referral_source IS NOT NULL GROUP BY referral_source) j ORDER BY j.n DESC, "
        "j.referral_source LIMIT 20",
        1, NULL, v, NULL, NULL, 0);
    json_t *refs = json_array();
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
        json_array_append_new(refs, json_pack("{s:s, s:I, s:I}", "referrer", PQgetvalue(r, i, 0),
                                              "joins", (json_int_t)atoll(PQgetvalue(r, i, 1)),
                                              "clicks", (json_int_t)atoll(PQgetvalue(r, i, 2))));
    PQclear(r);
    return refs;
}

void bm_cmdb_outbox_line(json_t *lines, const char *key, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!s)
        return;
    size_t n = strlen(key) * 2 + strlen(s) + 4;
    char *l = malloc(n), *w = l;
    for (const char *p = key; l && *p; p++) {
        if (*p == '\t' || *p == '\n' || *p == '\r' || *p == '\\') {
            *w++ = '\\';
            *w++ = *p == '\t' ? 't' : *p == '\n' ? 'n' : *p == '\r' ? 'r' : '\\';
        } else {
            *w++ = *p;
        }
    }
    if (l) {
        snprintf(w, n - (size_t)(w - l), "\t%s", s);
        json_array_append_new(lines, json_string(l));
    }
    free(l);
    free(s);
}

int bm_cmdb_outbox_write(PGconn *c, json_t *topics, char *err, size_t errlen)
{
    const char *topic;
    json_t *lines;
    json_object_foreach(topics, topic, lines)
    {
        size_t n = json_array_size(lines), len = 0;
        for (size_t i = 0; i < n; i++)
            len += strlen(json_string_value(json_array_get(lines, i))) + 1;
        char *payload = calloc(len + 1, 1), cnt[16];
        if (!payload) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            strcat(payload, json_string_value(json_array_get(lines, i)));
            strcat(payload, "\n");
        }
        snprintf(cnt, sizeof cnt, "%zu", n);
        const char *v[3] = {topic, cnt, payload};
        PGresult *r = PQexecParams(
            c, "INSERT INTO outbox (topic, message_count, payload) VALUES ($1, $2::int, $3)", 3,
            NULL, v, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, errlen, "outbox: %s", PQerrorMessage(c));
        PQclear(r);
        free(payload);
        if (!ok)
            return -1;
    }
    return 0;
}

static int exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static const struct {
    const char *what, *sql, *status;
} k_ops[] = {
    {"approve",
     "UPDATE community_members SET status = 'active', updated_at = now() WHERE community_id = "
     "$1::uuid AND user_id = $2 AND status = 'pending' RETURNING user_id",
     "active"},
    {"ban",
     "UPDATE community_members SET status = 'banned', updated_at = now() WHERE community_id = "
     "$1::uuid AND user_id = $2 AND status <> 'banned' RETURNING user_id",
     "banned"},
    {"unban",
     "UPDATE community_members SET status = 'active', updated_at = now() WHERE community_id = "
     "$1::uuid AND user_id = $2 AND status = 'banned' RETURNING user_id",
     "active"},
    {"remove",
     "DELETE FROM community_members WHERE community_id = $1::uuid AND user_id = $2 RETURNING "
     "user_id",
     "removed"},
};

int bm_cmdb_moderate(PGconn *c, const char *what, const char *id, const char *user,
                     const char **status, char *err, size_t errlen)
{
    size_t k = 0, nops = sizeof k_ops / sizeof k_ops[0];
    while (k < nops && strcmp(k_ops[k].what, what) != 0)
        k++;
    if (k == nops)
        return 2;
    *status = k_ops[k].status;
    if (exec_ok(c, "BEGIN") != 0) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        return -1;
    }
    int rc = -1;
    const char *v[2] = {id, user};
    PGresult *r = PQexecParams(c, k_ops[k].sql, 2, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
    } else if (PQntuples(r) == 0) {
        snprintf(err, errlen, "%s: %s is not a member in a state this applies to", what, user);
        rc = 1;
    } else {
        rc = 0;
    }
    PQclear(r);
    if (rc == 0 && strcmp(what, "approve") == 0) {
        /* An approved member gets the starter reward now, once (same key as an open join). */
        r = PQexecParams(c,
                         "INSERT INTO reward_fulfillments (idempotency_key, community_id, user_id, "
                         "reward_type, reward_config) SELECT 'community:' || id::text || ':' || $2 "
                         "|| ':starter', id, $2, starter_reward ->> 'type', COALESCE("
                         "starter_reward -> 'config', '{}'::jsonb) FROM communities WHERE id = "
                         "$1::uuid AND starter_reward IS NOT NULL ON CONFLICT (idempotency_key) DO "
                         "NOTHING",
                         2, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "starter reward: %s", PQerrorMessage(c));
            rc = -1;
        }
        PQclear(r);
    }
    if (rc == 0) {
        json_t *topics = json_pack("{s:[], s:[], s:[]}", "config.communities", "community.events",
                                   "ui.community_updates");
        bm_cmdb_outbox_line(json_object_get(topics, "config.communities"), id,
                            json_pack("{s:s, s:s, s:s, s:s}", "type", "member", "communityId", id,
                                      "userId", user, "status", k_ops[k].status));
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "type", what, "communityId", id, "userId",
                               user, "status", k_ops[k].status);
        bm_cmdb_outbox_line(json_object_get(topics, "community.events"), id, json_incref(ev));
        bm_cmdb_outbox_line(json_object_get(topics, "ui.community_updates"), id, ev);
        if (bm_cmdb_outbox_write(c, topics, err, errlen) != 0 || exec_ok(c, "COMMIT") != 0)
            rc = -1;
        json_decref(topics);
        if (rc == 0)
            return 0;
    }
    if (rc == -1 && !err[0])
        snprintf(err, errlen, "%s", PQerrorMessage(c));
    exec_ok(c, "ROLLBACK");
    return rc;
}

int bm_cmdb_click(PGconn *c, const char *id, const char *referrer, const char *http_referer,
                  const char *ip_hash)
{
    const char *v[4] = {id, referrer, http_referer, ip_hash};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO community_referral_clicks (community_id, referrer, "
                               "http_referer, ip_hash) VALUES ($1::uuid, $2, $3, $4)",
                               4, NULL, v, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}
