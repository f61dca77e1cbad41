/*
 * Command signatures: what bmctl and the gateway sign, the processor accepts;
 * a changed byte, another key, a missing or malformed header do not pass; the
 * previous key still passes during a rotation; key files readable by others
 * are refused; the default key is created private.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmdauth/cmdauth.h"

static char g_dir[] = "/tmp/bm-cmdauth-XXXXXX";

static void write_key(const char *name, const char *text, mode_t mode, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static const char EV[] = "{\"eventId\":\"cmd:purchase:p:u1\",\"gameId\":\"g\",\"userId\":\"u1\","
                         "\"eventType\":\"bm.battlepass.purchase\",\"data\":{}}";

static void test_sign_verify_and_rotation(void **state)
{
    (void)state;
    bm_config cfg;
    bm_cmdauth a, b;
    char err[512], sig[BM_CMDAUTH_SIG_SIZE], sig2[BM_CMDAUTH_SIG_SIZE];
    bm_config_defaults(&cfg);
    write_key("old.key", "old-key-0123456789abcdef\n", 0600, cfg.command_key_file,
              sizeof cfg.command_key_file);
    assert_int_equal(bm_cmdauth_load(&a, &cfg, 0, err, sizeof err), 0);
    bm_cmdauth_sign(&a, EV, strlen(EV), sig);
    assert_int_equal(strlen(sig), BM_CMDAUTH_SIG_SIZE - 1);
    assert_int_equal(bm_cmdauth_verify(&a, EV, strlen(EV), sig, strlen(sig)), 0);

    /* One changed byte, a truncated or missing signature: refused. */
    char ev2[sizeof EV];
    memcpy(ev2, EV, sizeof EV);
    ev2[40] ^= 1;
    assert_int_equal(bm_cmdauth_verify(&a, ev2, strlen(ev2), sig, strlen(sig)), -1);
    assert_int_equal(bm_cmdauth_verify(&a, EV, strlen(EV), sig, strlen(sig) - 1), -1);
    assert_int_equal(bm_cmdauth_verify(&a, EV, strlen(EV), NULL, 0), -1);
    assert_int_equal(bm_cmdauth_verify(&a, EV, strlen(EV), "v1=", 3), -1);

    /* Rotation: the new key signs; an engine with new+previous accepts both. */
    snprintf(cfg.command_key_previous_file, sizeof cfg.command_key_previous_file, "%s",
             cfg.command_key_file);
    write_key("new.key", "new-key-fedcba9876543210\n", 0600, cfg.command_key_file,
              sizeof cfg.command_key_file);
    assert_int_equal(bm_cmdauth_load(&b, &cfg, 0, err, sizeof err), 0);
    bm_cmdauth_sign(&b, EV, strlen(EV), sig2);
    assert_string_not_equal(sig, sig2);
    assert_int_equal(bm_cmdauth_verify(&b, EV, strlen(EV), sig2, strlen(sig2)), 0);
    assert_int_equal(bm_cmdauth_verify(&b, EV, strlen(EV), sig, strlen(sig)), 0);
    /* The old engine does not know the new key. */
    assert_int_equal(bm_cmdauth_verify(&a, EV, strlen(EV), sig2, strlen(sig2)), -1);
    /* Rotation finished: the old signature no longer passes. */
    cfg.command_key_previous_file[0] = '\0';
    bm_cmdauth_clear(&b);
    assert_int_equal(bm_cmdauth_load(&b, &cfg, 0, err, sizeof err), 0);
    assert_int_equal(bm_cmdauth_verify(&b, EV, strlen(EV), sig, strlen(sig)), -1);
    bm_cmdauth_clear(&a);
    bm_cmdauth_clear(&b);
    unlink(cfg.command_key_file);
    snprintf(cfg.command_key_file, sizeof cfg.command_key_file, "%s/old.key", g_dir);
    unlink(cfg.command_key_file);
}

static void test_key_files(void **state)
{
    (void)state;
    bm_config cfg;
    bm_cmdauth a;
    char err[512], path[1100];
    bm_config_defaults(&cfg);
    write_key("open.key", "open-key-0123456789abcdef\n", 0644, cfg.command_key_file,
              sizeof cfg.command_key_file);
    assert_int_equal(bm_cmdauth_load(&a, &cfg, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "lets group or others read it"));
    unlink(cfg.command_key_file);
    write_key("short.key", "short\n", 0600, cfg.command_key_file, sizeof cfg.command_key_file);
    assert_int_equal(bm_cmdauth_load(&a, &cfg, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "shorter than 16 bytes"));
    unlink(cfg.command_key_file);

    /* Default: <run_dir>/command.key, created by the engine (create=1) only. */
    cfg.command_key_file[0] = '\0';
    snprintf(cfg.run_dir, sizeof cfg.run_dir, "%s", g_dir);
    assert_int_equal(bm_cmdauth_load(&a, &cfg, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "command.key"));
    mode_t old = umask(0);
    assert_int_equal(bm_cmdauth_load(&a, &cfg, 1, err, sizeof err), 0);
    umask(old);
    snprintf(path, sizeof path, "%s/command.key", g_dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(a.ncur, 64);
    /* A second process reads the same key. */
    bm_cmdauth b;
    assert_int_equal(bm_cmdauth_load(&b, &cfg, 0, err, sizeof err), 0);
    assert_memory_equal(a.cur, b.cur, 64);
    bm_cmdauth_clear(&a);
    bm_cmdauth_clear(&b);
    unlink(path);
}

static void test_command_types(void **state)
{
    (void)state;
    assert_true(bm_cmdauth_is_command("bm.battlepass.purchase"));
    assert_true(bm_cmdauth_is_command("bm.battlepass.claim"));
    assert_true(bm_cmdauth_is_command("bm.anything.new"));
    assert_true(bm_cmdauth_is_command("COMMUNITY_JOIN"));
    assert_true(bm_cmdauth_is_command("TOURNAMENT_ENTRY"));
    assert_true(bm_cmdauth_is_command("TOURNAMENT_JOIN"));
    assert_false(bm_cmdauth_is_command("MATCH_END"));
    assert_false(bm_cmdauth_is_command("community_join"));
}

int main(void)
{
    assert_non_null(mkdtemp(g_dir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify_and_rotation),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_command_types),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
