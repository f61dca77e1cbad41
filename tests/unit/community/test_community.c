/* CommunityConfig validation, referral slugs and member metadata checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "community/community.h"

#define BASE                                                                                       \
    "\"name\":\"Guild\",\"referralSlug\":\"iron-guild\",\"redirectUrl\":\"https://example.com/g\""

static int validate(const char *text, json_t **out, char *err, size_t errlen)
{
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    int rc = bm_community_validate(doc, out, err, errlen);
    json_decref(doc);
    return rc;
}

static void test_slugs(void **unused)
{
    (void)unused;
    char err[256];
    static const char *const good[] = {"abc", "iron-guild",
                                       "a1b", "x-y-z",
                                       "0-9", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv"};
    static const char *const bad[] = {"ab",
                                      "-abc",
                                      "abc-",
                                      "Abc",
                                      "a_b",
                                      "a b",
                                      "",
                                      "a.bc",
                                      "abc/",
                                      "é-ab",
                                      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvw"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (bm_community_slug_check(good[i], err, sizeof err) != 0)
            fail_msg("'%s' refused: %s", good[i], err);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(bm_community_slug_check(bad[i], err, sizeof err), -1);
    assert_int_equal(bm_community_slug_check("admin", err, sizeof err), -1);
    assert_non_null(strstr(err, "reserved"));
    assert_int_equal(bm_community_slug_check("tournaments", err, sizeof err), -1);
}

static void test_config_defaults(void **unused)
{
    (void)unused;
    char err[256];
    json_t *c = NULL;
    assert_int_equal(
        validate("{" BASE ",\"memberMetadata\":{\"type\":\"wallet\"}}", &c, err, sizeof err), 0);
    assert_true(json_is_true(json_object_get(c, "isOpen")));
    json_t *mod = json_object_get(c, "moderationSettings");
    assert_true(json_is_true(json_object_get(mod, "autoApprove")));
    assert_true(json_is_false(json_object_get(mod, "requireInvite")));
    assert_string_equal(
        json_string_value(json_array_get(
            json_object_get(json_object_get(c, "memberMetadata"), "requiredFields"), 0)),
        "address");
    json_decref(c);
}

static void test_config_refusals(void **unused)
{
    (void)unused;
    static const struct {
        const char *json, *field;
    } cases[] = {
        {"{\"referralSlug\":\"abc\",\"redirectUrl\":\"https://x.io\",\"memberMetadata\":{\"type\":"
         "\"email\"}}",
         "name:"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"email\"},\"colour\":1}", "colour: unknown key"},
        {"{\"name\":\"G\",\"referralSlug\":\"api\",\"redirectUrl\":\"https://x.io\","
         "\"memberMetadata\":{\"type\":\"email\"}}",
         "referralSlug:"},
        {"{\"name\":\"G\",\"referralSlug\":\"abc\",\"redirectUrl\":\"javascript:alert(1)\","
         "\"memberMetadata\":{\"type\":\"email\"}}",
         "redirectUrl:"},
        {"{\"name\":\"G\",\"referralSlug\":\"abc\",\"redirectUrl\":\"ftp://x.io/\","
         "\"memberMetadata\":{\"type\":\"email\"}}",
         "redirectUrl:"},
        {"{\"name\":\"G\",\"referralSlug\":\"abc\",\"redirectUrl\":\"https://x.io/a b\","
         "\"memberMetadata\":{\"type\":\"email\"}}",
         "redirectUrl:"},
        {"{\"name\":\"G\",\"referralSlug\":\"abc\",\"redirectUrl\":\"//evil.io\","
         "\"memberMetadata\":{\"type\":\"email\"}}",
         "redirectUrl:"},
        {"{" BASE "}", "memberMetadata:"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"phone\"}}", "memberMetadata.type"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"custom\"}}", "memberMetadata.requiredFields"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"custom\",\"requiredFields\":[\"a b\"]}}",
         "memberMetadata.requiredFields[0]"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"custom\",\"requiredFields\":[\"x\"],"
         "\"validation\":{\"pattern\":\"(a)\\\\1\"}}}",
         "back-references"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"custom\",\"requiredFields\":[\"x\"],"
         "\"validation\":{\"pattern\":\"(a\"}}}",
         "memberMetadata.validation.pattern"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"email\",\"validation\":{\"minLength\":9,"
         "\"maxLength\":3}}}",
         "memberMetadata.validation.maxLength"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"email\"},\"starterReward\":{\"type\":\"cash\"}}",
         "starterReward.type"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"email\"},\"moderationSettings\":"
         "{\"requireInvite\":true}}",
         "moderationSettings.inviteCodes"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"email\"},\"moderationSettings\":"
         "{\"maxMembers\":0}}",
         "moderationSettings.maxMembers"},
        {"{" BASE ",\"memberMetadata\":{\"type\":\"email\"},\"isOpen\":\"yes\"}", "isOpen"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[256] = "";
        json_t *c = NULL;
        if (validate(cases[i].json, &c, err, sizeof err) == 0)
            fail_msg("case %zu accepted", i);
        assert_null(c);
        if (!strstr(err, cases[i].field))
            fail_msg("case %zu: '%s' does not name '%s'", i, err, cases[i].field);
    }
}

static json_t *community(const char *metadata)
{
    char text[1024], err[256];
    json_t *c = NULL;
    snprintf(text, sizeof text, "{" BASE ",\"memberMetadata\":%s}", metadata);
    if (validate(text, &c, err, sizeof err) != 0)
        fail_msg("%s", err);
    return c;
}

static int member(json_t *c, const char *metadata, json_t **norm, char *err, size_t errlen)
{
    json_t *m = json_loads(metadata, 0, NULL);
    assert_non_null(m);
    int rc = bm_community_member_check(c, m, norm, err, errlen);
    json_decref(m);
    return rc;
}

static void test_wallets(void **unused)
{
    (void)unused;
    /* EIP-55's own examples, then the same addresses with one letter's case flipped. */
    static const char *const ok[] = {
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886e0f7030069857d2e4169ee7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D"};
    static const char *const bad[] = {"0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                                      "0xFB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                                      "0x52908400098527886e0f7030069857d2e4169ee",
                                      "52908400098527886e0f7030069857d2e4169ee7",
                                      "0x52908400098527886e0f7030069857d2e4169eg7",
                                      "0x52908400098527886e0f7030069857d2e4169ee77"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!bm_community_wallet_ok(ok[i]))
            fail_msg("%s refused", ok[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (bm_community_wallet_ok(bad[i]))
            fail_msg("%s accepted", bad[i]);
    json_t *c = community("{\"type\":\"wallet\"}"), *norm = NULL;
    char err[256];
    assert_int_equal(member(c, "{\"address\":\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"}",
                            &norm, err, sizeof err),
                     0);
    assert_string_equal(json_string_value(json_object_get(norm, "address")),
                        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
    json_decref(norm);
    assert_int_equal(member(c, "{\"address\":\"0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"}",
                            &norm, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "metadata.address"));
    assert_int_equal(member(c, "{}", &norm, err, sizeof err), -1);
    assert_non_null(strstr(err, "metadata.address: required"));
    assert_int_equal(member(c,
                            "{\"address\":\"0x52908400098527886e0f7030069857d2e4169ee7\","
                            "\"extra\":\"x\"}",
                            &norm, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "metadata.extra"));
    json_decref(c);
}

static void test_emails_and_names(void **unused)
{
    (void)unused;
    char err[256];
    json_t *norm = NULL;
    json_t *c = community("{\"type\":\"email\",\"requiredFields\":[\"email\",\"nick\"]}");
    static const char *const ok[] = {"a@b.co", "first.last+tag@Example.COM",
                                     "x_y@mail.example.org"};
    static const char *const bad[] = {"a@b",      "@b.co",   "a@@b.co", "a..b@c.io",
                                      ".a@c.io",  "a@-c.io", "a@c-.io", "a@c.i",
                                      "a b@c.io", "a@c.123", "a@.c.io"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char m[300];
        snprintf(m, sizeof m, "{\"email\":\"%s\",\"nick\":\"n\"}", ok[i]);
        if (member(c, m, &norm, err, sizeof err) != 0)
            fail_msg("%s refused: %s", ok[i], err);
        json_decref(norm);
    }
    assert_int_equal(
        member(c, "{\"email\":\"A.B@EXAMPLE.com\",\"nick\":\"n\"}", &norm, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(norm, "email")), "A.B@example.com");
    json_decref(norm);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char m[300];
        snprintf(m, sizeof m, "{\"email\":\"%s\",\"nick\":\"n\"}", bad[i]);
        if (member(c, m, &norm, err, sizeof err) == 0)
            fail_msg("%s accepted", bad[i]);
        assert_non_null(strstr(err, "metadata.email"));
    }
    assert_int_equal(member(c, "{\"email\":\"a@b.co\"}", &norm, err, sizeof err), -1);
    assert_non_null(strstr(err, "metadata.nick: required"));
    json_decref(c);

    c = community("{\"type\":\"discord\"}");
    assert_int_equal(member(c, "{\"discord\":\"iron.wolf_7\"}", &norm, err, sizeof err), 0);
    json_decref(norm);
    assert_int_equal(member(c, "{\"discord\":\"Old Name#1234\"}", &norm, err, sizeof err), 0);
    json_decref(norm);
    assert_int_equal(member(c, "{\"discord\":\"Upper\"}", &norm, err, sizeof err), -1);
    assert_int_equal(member(c, "{\"discord\":\"a..b\"}", &norm, err, sizeof err), -1);
    json_decref(c);
}

static void test_patterns_are_bounded(void **unused)
{
    (void)unused;
    char err[256], m[600];
    json_t *norm = NULL;
    json_t *c = community("{\"type\":\"custom\",\"requiredFields\":[\"code\"],\"validation\":"
                          "{\"pattern\":\"(a+)+b\",\"minLength\":2,\"maxLength\":256}}");
    assert_int_equal(member(c, "{\"code\":\"aaab\"}", &norm, err, sizeof err), 0);
    json_decref(norm);
    /* The classic catastrophic input for a backtracking matcher: must answer at once. */
    char value[257];
    memset(value, 'a', 255);
    value[255] = 'c';
    value[256] = '\0';
    snprintf(m, sizeof m, "{\"code\":\"%s\"}", value);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(member(c, m, &norm, err, sizeof err), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 200);
    assert_non_null(strstr(err, "pattern"));
    assert_int_equal(member(c, "{\"code\":\"b\"}", &norm, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 2"));
    /* Anchored: a match inside the value is not enough. */
    assert_int_equal(member(c, "{\"code\":\"xaab\"}", &norm, err, sizeof err), -1);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slugs),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_refusals),
        cmocka_unit_test(test_wallets),
        cmocka_unit_test(test_emails_and_names),
        cmocka_unit_test(test_patterns_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
