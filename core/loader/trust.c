/*
 * Trusted places, like sshd's StrictModes: code is loaded only from a
 * directory and files owned by root or by the engine's own user and writable
 * by nobody else. Otherwise another local user could drop a .so whose
 * constructor runs inside the engine with the engine's rights.
 */
#include "loader/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bm_loader_trusted(const char *path, int want_dir, char *why, size_t whylen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%s: not a %s", path, want_dir ? "directory" : "regular file");
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(why, whylen,
                 "%s: untrusted: owned by uid %u, neither root nor the engine's user (uid %u)",
                 path, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, whylen, "%s: untrusted: mode %04o lets %s write it (chmod go-w)", path,
                 (unsigned)(st.st_mode & 07777), (st.st_mode & S_IWOTH) ? "everyone" : "its group");
        return -1;
    }
    if (want_dir && access(path, R_OK | X_OK) != 0) {
        snprintf(why, whylen, "%s: not readable: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
