/*
 * bmctl community: create, update, list, show communities; check a referral
 * slug; moderate members (approve, ban, unban, remove). Every change is one
 * PostgreSQL transaction that also writes its messages to the outbox:
 * config.communities (keyed by community id: engines refresh their
 * membership caches), community.events and ui.community_updates. The relay
 * publishes them after the commit, so a change and its announcement happen
 * together or not at all.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmctl/bmctl.h"
#include "bmctl/ctl_util.h"
#include "community/community.h"
#include "community/community_db.h"
#include "event/command_tn.h"
#include "kafka/kafka.h"
#include "pg/pg.h"

static void cm_usage(FILE *out)
{
    fprintf(out, "usage: bmctl community create FILE.json\n"
                 "       bmctl community update ID FILE.json\n"
                 "       bmctl community list [--json]\n"
                 "       bmctl community show ID|SLUG [--json]\n"
                 "       bmctl community slug-check SLUG\n"
                 "       bmctl community approve|ban|unban|remove ID|SLUG USER\n"
                 "       bmctl community join ID|SLUG USER METADATA_JSON [REF [INVITE]]\n"
                 "       bmctl community admin ID|SLUG FIREBASE_UID\n"
                 "  FILE.json is a CommunityConfig (name, description, referralSlug, redirectUrl,\n"
                 "  isOpen, memberMetadata, starterReward, moderationSettings); refusals name the\n"
                 "  field. slug-check exits 0 when the slug is free, 1 when taken or invalid.\n"
                 "  join queues a COMMUNITY_JOIN command (game.events, keyed by user); the engine\n"
                 "  applies it in order with the user's events. admin names an account (role\n"
                 "  community_admin) that manages this community through the admin API.\n");
}

static int exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static json_t *read_doc(const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
    return doc;
}

/* create (id == NULL) or update: validate, write, announce, in one transaction. */
static int save(PGconn *c, const char *id, const char *path)
{
    char err[1024] = "", newid[64] = "";
    json_t *doc = read_doc(path, err, sizeof err), *canon = NULL;
    json_t *topics = json_object();
    int rc = 1, began = 0;
    if (!doc || bm_community_validate(doc, &canon, err, sizeof err) != 0)
        goto done;
    if (id && json_object_get(canon, "id") &&
        strcmp(json_string_value(json_object_get(canon, "id")), id) != 0) {
        snprintf(err, sizeof err, "id: the document names another community");
        goto done;
    }
    json_object_del(canon, "id");
    const char *studio = json_string_value(json_object_get(canon, "studioId"));
    char *cfg = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
    char *meta = json_dumps(json_object_get(canon, "memberMetadata"), JSON_COMPACT);
    json_t *sr = json_object_get(canon, "starterReward");
    char *reward = sr ? json_dumps(sr, JSON_COMPACT) : NULL;
    const char *slug = json_string_value(json_object_get(canon, "referralSlug"));
    const char *v[9] = {json_string_value(json_object_get(canon, "name")),
                        json_string_value(json_object_get(canon, "description")),
                        slug,
                        json_string_value(json_object_get(canon, "redirectUrl")),
                        json_is_true(json_object_get(canon, "isOpen")) ? "true" : "false",
                        meta,
                        reward,
                        cfg,
                        id ? id : studio};
    began = exec_ok(c, "BEGIN") == 0;
    PGresult *r =
        id ? PQexecParams(c,
                          "UPDATE communities SET name = $1, description = $2, referral_slug = $3,"
                          " redirect_url = $4, is_open = $5::boolean, member_metadata = $6::jsonb,"
                          " starter_reward = $7::jsonb, config = $8::jsonb, version = version + 1,"
                          " updated_at = now() WHERE id::text = $9 AND status = 'active'"
                          " RETURNING id::text, version",
                          9, NULL, v, NULL, NULL, 0)
           : PQexecParams(c,
                          "INSERT INTO communities (name, description, referral_slug, redirect_url,"
                          " is_open, member_metadata, starter_reward, config, studio_id)"
                          " VALUES ($1, $2, $3, $4, $5::boolean, $6::jsonb, $7::jsonb, $8::jsonb,"
                          " $9::uuid) RETURNING id::text, version",
                          9, NULL, v, NULL, NULL, 0);
    free(cfg), free(meta), free(reward);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23505") == 0)
            snprintf(err, sizeof err, "referralSlug: '%s' is taken", slug);
        else if (PQresultStatus(r) == PGRES_TUPLES_OK)
            snprintf(err, sizeof err, "no such community: %s", id);
        else
            snprintf(err, sizeof err, "%s", PQerrorMessage(c));
        PQclear(r);
        goto done;
    }
    snprintf(newid, sizeof newid, "%s", PQgetvalue(r, 0, 0));
    long long version = atoll(PQgetvalue(r, 0, 1));
    PQclear(r);
    json_t *cfgmsg = json_pack("{s:s, s:s, s:I, s:O}", "type", id ? "updated" : "created", "id",
                               newid, "version", (json_int_t)version, "config", canon);
    json_t *evmsg =
        json_pack("{s:s, s:s, s:s}", "type", id ? "community_updated" : "community_created",
                  "communityId", newid, "slug", slug);
    json_object_set_new(topics, "config.communities", json_array());
    json_object_set_new(topics, "community.events", json_array());
    json_object_set_new(topics, "ui.community_updates", json_array());
    bm_cmdb_outbox_line(json_object_get(topics, "config.communities"), newid, cfgmsg);
    bm_cmdb_outbox_line(json_object_get(topics, "community.events"), newid, json_incref(evmsg));
    bm_cmdb_outbox_line(json_object_get(topics, "ui.community_updates"), newid, evmsg);
    if (bm_cmdb_outbox_write(c, topics, err, sizeof err) != 0 || exec_ok(c, "COMMIT") != 0)
        goto done;
    began = 0;
    printf("%s community %s (%s)\n", id ? "updated" : "created", newid, slug);
    rc = 0;
done:
    if (began)
        exec_ok(c, "ROLLBACK");
    if (rc != 0)
        fprintf(stderr, "community: %s\n", err[0] ? err : PQerrorMessage(c));
    json_decref(doc);
    json_decref(canon);
    json_decref(topics);
    return rc;
}

static int slug_check(PGconn *c, const char *slug)
{
    char err[256];
    if (bm_community_slug_check(slug, err, sizeof err) != 0) {
        printf("invalid: %s\n", err);
        return 1;
    }
    char id[64];
    int f = bm_cmdb_find(c, slug, id, sizeof id, NULL);
    if (f < 0) {
        fprintf(stderr, "community: %s", PQerrorMessage(c));
        return 2;
    }
    printf("%s\n", f == 0 ? "taken" : "available");
    return f == 0 ? 1 : 0;
}

static int list(PGconn *c, int as_json)
{
    PGresult *r = PQexec(c, "SELECT id::text, referral_slug, name, is_open FROM communities "
                            "WHERE status = 'active' ORDER BY created_at, id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "community: %s", PQerrorMessage(c));
        PQclear(r);
        return 1;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:s, s:b, s:o}", "id", PQgetvalue(r, i, 0),
                                        "slug", PQgetvalue(r, i, 1), "name", PQgetvalue(r, i, 2),
                                        "isOpen", PQgetvalue(r, i, 3)[0] == 't', "members",
                                        bm_cmdb_counts(c, PQgetvalue(r, i, 0))));
    PQclear(r);
    if (as_json) {
        ctl_print_json(arr);
        return 0;
    }
    size_t i;
    json_t *o;
    printf("%-36s  %-24s %-6s %8s %8s %8s  %s\n", "id", "slug", "open", "active", "pending",
           "banned", "name");
    json_array_foreach(arr, i, o)
    {
        json_t *m = json_object_get(o, "members");
        printf("%-36s  %-24s %-6s %8lld %8lld %8lld  %s\n",
               json_string_value(json_object_get(o, "id")),
               json_string_value(json_object_get(o, "slug")),
               json_is_true(json_object_get(o, "isOpen")) ? "yes" : "no",
               (long long)json_integer_value(json_object_get(m, "active")),
               (long long)json_integer_value(json_object_get(m, "pending")),
               (long long)json_integer_value(json_object_get(m, "banned")),
               json_string_value(json_object_get(o, "name")));
    }
    json_decref(arr);
    return 0;
}

static int show(PGconn *c, const char *ref, int as_json)
{
    char id[64];
    json_t *cfg = NULL;
    int f = bm_cmdb_find(c, ref, id, sizeof id, &cfg);
    if (f != 0) {
        fprintf(stderr, "community: %s\n", f > 0 ? "no such community" : PQerrorMessage(c));
        return 1;
    }
    json_t *refs = bm_cmdb_referrals(c, id);
    json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "id", id, "config", cfg ? cfg : json_object(),
                          "members", bm_cmdb_counts(c, id), "referrals", refs);
    if (as_json) {
        ctl_print_json(o);
        return 0;
    }
    json_t *m = json_object_get(o, "members");
    json_t *conf = json_object_get(o, "config");
    printf("community %s (%s)\n  %s\n  redirect  %s\n  open      %s\n", id,
           json_string_value(json_object_get(conf, "referralSlug")),
           json_string_value(json_object_get(conf, "name")),
           json_string_value(json_object_get(conf, "redirectUrl")),
           json_is_true(json_object_get(conf, "isOpen")) ? "yes" : "no");
    printf("  members   %lld active, %lld pending, %lld banned\n",
           (long long)json_integer_value(json_object_get(m, "active")),
           (long long)json_integer_value(json_object_get(m, "pending")),
           (long long)json_integer_value(json_object_get(m, "banned")));
    size_t i;
    json_t *x;
    json_array_foreach(refs, i, x)
    {
        printf("  referrer  %-24s %lld joins, %lld clicks\n",
               json_string_value(json_object_get(x, "referrer")),
               (long long)json_integer_value(json_object_get(x, "joins")),
               (long long)json_integer_value(json_object_get(x, "clicks")));
    }
    json_decref(o);
    return 0;
}

/* approve: pending -> active; ban: -> banned; unban: banned -> active; remove: row deleted. */
static int moderate(PGconn *c, const char *what, const char *ref, const char *user)
{
    char id[64], err[512] = "";
    int f = bm_cmdb_find(c, ref, id, sizeof id, NULL);
    if (f != 0) {
        fprintf(stderr, "community: %s\n", f > 0 ? "no such community" : PQerrorMessage(c));
        return 1;
    }
    const char *status = "";
    if (bm_cmdb_moderate(c, what, id, user, &status, err, sizeof err) != 0) {
        fprintf(stderr, "community: %s\n", err);
        return 1;
    }
    printf("%s: %s in %s is now %s\n", what, user, id, status);
    return 0;
}

/* Names a community_admin account of a community (the admin API scopes it to these). */
static int admin_add(PGconn *c, const char *ref, const char *uid)
{
    char id[64];
    int f = bm_cmdb_find(c, ref, id, sizeof id, NULL);
    if (f != 0) {
        fprintf(stderr, "community: %s\n", f > 0 ? "no such community" : PQerrorMessage(c));
        return 1;
    }
    const char *v[2] = {id, uid};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO community_admins (community_id, firebase_uid) VALUES "
                               "($1::uuid, $2) ON CONFLICT DO NOTHING",
                               2, NULL, v, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        fprintf(stderr, "community: %s", PQerrorMessage(c));
        return 1;
    }
    printf("%s administers %s\n", uid, id);
    return 0;
}

/* Produces a COMMUNITY_JOIN command to game.events keyed by user. */
static int join(bm_ctl *ctl, const char *community, const char *user, const char *meta_text,
                const char *ref, const char *invite)
{
    char err[1024] = "";
    json_error_t jerr;
    json_t *meta = json_loads(meta_text, 0, &jerr);
    if (!json_is_object(meta)) {
        fprintf(stderr, "community: METADATA_JSON must be a JSON object (%s)\n", jerr.text);
        json_decref(meta);
        return 2;
    }
    json_t *ev =
        bm_command_community_join(community, user, meta, ref, invite, ctl_now_ms(), "bmctl");
    json_decref(meta);
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    int rc = 1;
    if (text && ctl_produce_command(ctl, user, text, err, sizeof err) == 0) {
        printf("queued join of %s to %s\n", user, community);
        rc = 0;
    } else {
        fprintf(stderr, "community: %s\n", err[0] ? err : "out of memory");
    }
    free(text);
    return rc;
}

int bm_cmd_community(bm_ctl *ctl, int argc, char **argv)
{
    ctl_args a;
    char err[1024] = "";
    if (ctl_args_parse(argc, argv, 1, &a, err, sizeof err) != 0 || a.premium) {
        fprintf(stderr, "community: %s\n", err[0] ? err : "--premium is not a community flag");
        cm_usage(stderr);
        return 2;
    }
    if (a.help) {
        cm_usage(stdout);
        return 0;
    }
    const char *sub = a.npos > 0 ? a.pos[0] : "";
    int mod = strcmp(sub, "approve") == 0 || strcmp(sub, "ban") == 0 || strcmp(sub, "unban") == 0 ||
              strcmp(sub, "remove") == 0;
    int ok = (strcmp(sub, "create") == 0 && a.npos == 2) ||
             (strcmp(sub, "update") == 0 && a.npos == 3) ||
             (strcmp(sub, "list") == 0 && a.npos == 1) ||
             (strcmp(sub, "show") == 0 && a.npos == 2) ||
             (strcmp(sub, "slug-check") == 0 && a.npos == 2) || (mod && a.npos == 3) ||
             (strcmp(sub, "admin") == 0 && a.npos == 3) ||
             (strcmp(sub, "join") == 0 && a.npos >= 4 && a.npos <= 6);
    if (!ok) {
        cm_usage(stderr);
        return 2;
    }
    if (strcmp(sub, "join") == 0)
        return join(ctl, a.pos[1], a.pos[2], a.pos[3], a.npos > 4 ? a.pos[4] : NULL,
                    a.npos > 5 ? a.pos[5] : NULL);
    PGconn *c = bm_pg_connect(ctl->cfg.pg_dsn, err, sizeof err);
    if (!c) {
        fprintf(stderr, "community: %s\n", err);
        return 1;
    }
    int rc;
    if (strcmp(sub, "create") == 0)
        rc = save(c, NULL, a.pos[1]);
    else if (strcmp(sub, "update") == 0)
        rc = save(c, a.pos[1], a.pos[2]);
    else if (strcmp(sub, "list") == 0)
        rc = list(c, a.json);
    else if (strcmp(sub, "show") == 0)
        rc = show(c, a.pos[1], a.json);
    else if (strcmp(sub, "slug-check") == 0)
        rc = slug_check(c, a.pos[1]);
    else if (strcmp(sub, "admin") == 0)
        rc = admin_add(c, a.pos[1], a.pos[2]);
    else
        rc = moderate(c, sub, a.pos[1], a.pos[2]);
    PQfinish(c);
    return rc;
}
