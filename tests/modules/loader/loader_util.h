/* Small file helpers shared by the loader tests. */
#ifndef BM_TEST_LOADER_UTIL_H
#define BM_TEST_LOADER_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Path of a fixture module built by tests/modules/fixtures. */
static inline void fixture_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s.so", BM_FIXTURE_DIR, name);
}

/* Copies src to dst through a temporary name and rename(), so dst gets a new identity. */
static inline int install_file(const char *src, const char *dst)
{
    char tmp[1200], buf[65536];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    int in = open(src, O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    ssize_t n;
    int rc = -1;
    if (in < 0 || out < 0)
        goto done;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            goto done;
    rc = n == 0 ? 0 : -1;
done:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        rc = -1;
    if (rc == 0)
        rc = rename(tmp, dst);
    else
        unlink(tmp);
    return rc;
}

/* Number of entries in dir (not . and ..); the last one's name in last if given. */
static inline int count_entries(const char *dir, char *last, size_t lastlen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        if (last)
            snprintf(last, lastlen, "%s", de->d_name);
    }
    closedir(d);
    return n;
}

/* Removes every entry of dir, then dir itself. */
static inline void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[1200];
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= sizeof p)
            continue;
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

#endif
