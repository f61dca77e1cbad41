/*
 * `bmctl community ...` against a real PostgreSQL database: a community is
 * created only when valid (the refusal names the field), slugs are unique and
 * checked, moderation moves members between states, and every change writes
 * its config.communities / community.events / ui.community_updates messages
 * to the outbox in the same transaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log/log.h"
#include "support/testdb.h"

#define DB "bmctl_community"

static char g_dsn[1024], g_dir[] = "/tmp/bmctl-community-XXXXXX";
static PGconn *g_db;

static int run_bmctl(const char *args, char *out, size_t outlen, char *errout, size_t errlen)
{
    char cmd[2048], errfile[600];
    snprintf(errfile, sizeof errfile, "%s/stderr", g_dir);
    snprintf(cmd, sizeof cmd, "'%s/bmctl' %s 2>'%s'", getenv("BM_BUILD_DIR"), args, errfile);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    FILE *e = fopen(errfile, "r");
    n = e ? fread(errout, 1, errlen - 1, e) : 0;
    errout[n] = '\0';
    if (e)
        fclose(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *write_doc(const char *name, const char *json)
{
    static char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    return path;
}

static long long q(const char *sql)
{
    return bm_testdb_query_ll(g_db, sql);
}

static int setup(void **state)
{
    (void)state;
    bm_log_set_level(BM_LOG_LVL_WARN);
    g_db = bm_testdb_create(DB, g_dsn, sizeof g_dsn);
    assert_non_null(mkdtemp(g_dir));
    setenv("BM_POSTGRES_DSN", g_dsn, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    PQfinish(g_db);
    bm_testdb_drop(NULL, DB);
    return 0;
}

#define GUILD                                                                                      \
    "{\"name\":\"Iron Guild\",\"description\":\"PvP\",\"referralSlug\":\"iron-guild\","            \
    "\"redirectUrl\":\"https://example.com/iron\",\"memberMetadata\":{\"type\":\"wallet\"},"       \
    "\"starterReward\":{\"type\":\"in_game\",\"config\":{\"item\":\"badge\"}},"                    \
    "\"moderationSettings\":{\"autoApprove\":false,\"maxMembers\":100}}"

static void test_create_and_slugs(void **unused)
{
    (void)unused;
    char out[8192], err[2048], args[1024];
    snprintf(args, sizeof args, "community create '%s'", write_doc("guild.json", GUILD));
    assert_int_equal(run_bmctl(args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "created community "));
    assert_int_equal(q("SELECT count(*) FROM communities WHERE referral_slug = 'iron-guild' AND "
                       "config->'moderationSettings'->>'autoApprove' = 'false' AND "
                       "member_metadata->>'type' = 'wallet'"),
                     1);
    /* One message per topic, written with the change. */
    assert_int_equal(q("SELECT count(*) FROM outbox WHERE topic IN ('config.communities', "
                       "'community.events', 'ui.community_updates') AND payload LIKE "
                       "'%community_created%' OR (topic = 'config.communities' AND payload LIKE "
                       "'%\"type\":\"created\"%')"),
                     3);
    /* The same slug again: refused, nothing written. */
    assert_int_equal(run_bmctl(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "referralSlug: 'iron-guild' is taken"));
    assert_int_equal(q("SELECT count(*) FROM communities"), 1);
    assert_int_equal(q("SELECT count(*) FROM outbox"), 3);
    /* Invalid documents name the field. */
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"name\":\"X\",\"referralSlug\":\"x-y\",\"redirectUrl\":\"javascript:alert(1)\","
         "\"memberMetadata\":{\"type\":\"email\"}}",
         "redirectUrl"},
        {"{\"name\":\"X\",\"referralSlug\":\"login\",\"redirectUrl\":\"https://x.io\","
         "\"memberMetadata\":{\"type\":\"email\"}}",
         "referralSlug: 'login' is reserved"},
        {"{\"name\":\"X\",\"referralSlug\":\"x-y\",\"redirectUrl\":\"https://x.io\","
         "\"memberMetadata\":{\"type\":\"custom\",\"requiredFields\":[\"c\"],"
         "\"validation\":{\"pattern\":\"(a)\\\\1\"}}}",
         "memberMetadata.validation.pattern"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(args, sizeof args, "community create '%s'", write_doc("bad.json", bad[i].json));
        assert_int_equal(run_bmctl(args, out, sizeof out, err, sizeof err), 1);
        if (!strstr(err, bad[i].field))
            fail_msg("case %zu: '%s' does not name %s", i, err, bad[i].field);
    }
    assert_int_equal(q("SELECT count(*) FROM communities"), 1);
    assert_int_equal(run_bmctl("community slug-check iron-guild", out, sizeof out, err, sizeof err),
                     1);
    assert_string_equal(out, "taken\n");
    assert_int_equal(run_bmctl("community slug-check new-guild", out, sizeof out, err, sizeof err),
                     0);
    assert_string_equal(out, "available\n");
    assert_int_equal(run_bmctl("community slug-check Bad_Slug", out, sizeof out, err, sizeof err),
                     1);
    assert_non_null(strstr(out, "invalid"));
    /* Update: a new version, announced. */
    PGresult *r = PQexec(g_db, "SELECT id::text FROM communities");
    char id[64];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    snprintf(args, sizeof args, "community update %s '%s'", id,
             write_doc("guild2.json", "{\"name\":\"Iron Guild II\",\"referralSlug\":"
                                      "\"iron-guild\",\"redirectUrl\":\"https://example.com/"
                                      "iron\",\"memberMetadata\":{\"type\":\"wallet\"},"
                                      "\"starterReward\":{\"type\":\"in_game\"}}"));
    assert_int_equal(run_bmctl(args, out, sizeof out, err, sizeof err), 0);
    assert_int_equal(
        q("SELECT count(*) FROM communities WHERE version = 2 AND name = 'Iron Guild II'"), 1);
    assert_int_equal(q("SELECT count(*) FROM outbox WHERE topic = 'config.communities' AND "
                       "payload LIKE '%\"type\":\"updated\"%'"),
                     1);
}

static void test_moderation(void **unused)
{
    (void)unused;
    char out[8192], err[2048];
    bm_testdb_exec(g_db, "INSERT INTO community_members (community_id, user_id, user_metadata, "
                         "status, referral_source) SELECT id, u, '{}', s, r FROM communities, "
                         "(VALUES ('p1', 'pending', 'alice'), ('a1', 'active', 'alice'), "
                         "('a2', 'active', 'bob')) AS m(u, s, r)");
    long long before = q("SELECT count(*) FROM outbox");
    assert_int_equal(run_bmctl("community approve iron-guild p1", out, sizeof out, err, sizeof err),
                     0);
    assert_int_equal(q("SELECT count(*) FROM community_members WHERE user_id = 'p1' AND status = "
                       "'active'"),
                     1);
    /* Approved: the starter reward, once. */
    assert_int_equal(q("SELECT count(*) FROM reward_fulfillments WHERE user_id = 'p1' AND "
                       "idempotency_key LIKE 'community:%:p1:starter' AND reward_type = 'in_game'"),
                     1);
    /* Approving an active member is refused and writes nothing. */
    assert_int_equal(run_bmctl("community approve iron-guild a1", out, sizeof out, err, sizeof err),
                     1);
    assert_non_null(strstr(err, "not a member in a state this applies to"));
    assert_int_equal(run_bmctl("community ban iron-guild a1", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(q("SELECT count(*) FROM community_members WHERE user_id = 'a1' AND status = "
                       "'banned'"),
                     1);
    /* The engines' membership caches forget exactly that user. */
    assert_int_equal(q("SELECT count(*) FROM outbox WHERE topic = 'config.communities' AND payload "
                       "LIKE '%\"userId\":\"a1\"%' AND payload LIKE '%\"status\":\"banned\"%'"),
                     1);
    assert_int_equal(run_bmctl("community unban iron-guild a1", out, sizeof out, err, sizeof err),
                     0);
    assert_int_equal(run_bmctl("community remove iron-guild a2", out, sizeof out, err, sizeof err),
                     0);
    assert_int_equal(q("SELECT count(*) FROM community_members WHERE user_id = 'a2'"), 0);
    assert_int_equal(run_bmctl("community ban nowhere a1", out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "no such community"));
    /* Four changes, three topics each. */
    assert_int_equal(q("SELECT count(*) FROM outbox") - before, 12);
    assert_int_equal(
        run_bmctl("community show iron-guild --json", out, sizeof out, err, sizeof err), 0);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    json_t *m = json_object_get(o, "members");
    assert_int_equal(json_integer_value(json_object_get(m, "active")), 2);
    json_t *refs = json_object_get(o, "referrals");
    assert_string_equal(json_string_value(json_object_get(json_array_get(refs, 0), "referrer")),
                        "alice");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(refs, 0), "joins")), 2);
    json_decref(o);
    assert_int_equal(run_bmctl("community list", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "iron-guild"));
    /* A community admin account, named twice: one row; an unknown community is refused. */
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            run_bmctl("community admin iron-guild uid-mod", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(q("SELECT count(*) FROM community_admins a JOIN communities c ON c.id = "
                       "a.community_id WHERE c.referral_slug = 'iron-guild' AND a.firebase_uid = "
                       "'uid-mod'"),
                     1);
    assert_int_equal(run_bmctl("community admin nowhere uid-mod", out, sizeof out, err, sizeof err),
                     1);
    assert_non_null(strstr(err, "no such community"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_slugs),
        cmocka_unit_test(test_moderation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
