/* Command signatures: see cmdauth.h. */
#include "cmdauth/cmdauth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kafka/kafka.h"

static const char *const g_types[] = {
#define BM_CMDAUTH_NAME(s) s,
    BM_CMDAUTH_TYPES(BM_CMDAUTH_NAME)
#undef BM_CMDAUTH_NAME
};

int bm_cmdauth_is_command(const char *t)
{
    if (!t)
        return 0;
    if (strncmp(t, BM_CMD_PREFIX, sizeof BM_CMD_PREFIX - 1) == 0)
        return 1;
    for (size_t i = 0; i < sizeof g_types / sizeof g_types[0]; i++)
        if (strcmp(t, g_types[i]) == 0)
            return 1;
    return 0;
}

static void default_path(const bm_config *cfg, char *out, size_t len)
{
    snprintf(out, len, "%s/command.key", cfg->run_dir);
}

/* 32 random bytes as 64 hex digits, written with O_EXCL at mode 0600. */
static int create_key(const char *path, char *err, size_t errlen)
{
    unsigned char raw[32];
    char hex[65];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        snprintf(err, errlen, "%s: no random bytes for a new key", path);
        return -1;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0; /* another process made it first: read that one */
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    hex[64] = '\n';
    int ok = fchmod(fd, 0600) == 0 && write(fd, hex, 65) == 65;
    OPENSSL_cleanse(hex, sizeof hex);
    if (close(fd) != 0 || !ok) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

static int read_key(const char *path, unsigned char *out, size_t *n, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "command key %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "command key %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen,
                 "command key %s: mode %04o lets group or others read it (chmod 600 it)", path,
                 (unsigned)(st.st_mode & 07777));
        close(fd);
        return -1;
    }
    ssize_t got = read(fd, out, BM_CMDAUTH_KEY_MAX);
    close(fd);
    while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r' || out[got - 1] == ' '))
        got--;
    if (got < 16) {
        snprintf(err, errlen, "command key %s: shorter than 16 bytes", path);
        return -1;
    }
    *n = (size_t)got;
    return 0;
}

int bm_cmdauth_load(bm_cmdauth *a, const bm_config *cfg, int create, char *err, size_t errlen)
{
    char path[1024];
    memset(a, 0, sizeof *a);
    if (cfg->command_key_file[0]) {
        snprintf(path, sizeof path, "%s", cfg->command_key_file);
    } else {
        default_path(cfg, path, sizeof path);
        if (create && access(path, F_OK) != 0 && create_key(path, err, errlen) != 0)
            return -1;
    }
    if (read_key(path, a->cur, &a->ncur, err, errlen) != 0)
        goto fail;
    if (cfg->command_key_previous_file[0] &&
        read_key(cfg->command_key_previous_file, a->prev, &a->nprev, err, errlen) != 0)
        goto fail;
    return 0;
fail:
    bm_cmdauth_clear(a);
    return -1;
}

static void mac(const unsigned char *key, size_t nkey, const void *msg, size_t len,
                unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)nkey, msg, len, out, &n);
}

void bm_cmdauth_sign(const bm_cmdauth *a, const void *msg, size_t len,
                     char out[BM_CMDAUTH_SIG_SIZE])
{
    unsigned char d[32];
    mac(a->cur, a->ncur, msg, len, d);
    memcpy(out, "v1=", 3);
    for (int i = 0; i < 32; i++)
        snprintf(out + 3 + 2 * i, 3, "%02x", d[i]);
}

static int matches(const unsigned char *key, size_t nkey, const void *msg, size_t len,
                   const char *sig)
{
    unsigned char d[32];
    char hex[65];
    mac(key, nkey, msg, len, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return CRYPTO_memcmp(hex, sig, 64) == 0;
}

int bm_cmdauth_verify(const bm_cmdauth *a, const void *msg, size_t len, const void *sig,
                      size_t siglen)
{
    const char *s = sig;
    if (!s || siglen != BM_CMDAUTH_SIG_SIZE - 1 || memcmp(s, "v1=", 3) != 0 || !a->ncur)
        return -1;
    if (matches(a->cur, a->ncur, msg, len, s + 3))
        return 0;
    if (a->nprev && matches(a->prev, a->nprev, msg, len, s + 3))
        return 0;
    return -1;
}

void bm_cmdauth_clear(bm_cmdauth *a)
{
    OPENSSL_cleanse(a, sizeof *a);
}
