/*
 * The client's on-disk queue: events.log holds one event (compact JSON) per
 * line and is only ever appended to; events.sent holds the byte offset of the
 * first event not yet accepted, replaced atomically (write, fsync, rename).
 * Once everything is sent the log is truncated. A torn last line (a crash in
 * the middle of a write) is cut off when the queue is opened.
 */
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdirs(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST)
                return -1;
            *s = '/';
        }
    return mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int write_sent(bmq *q, long long off)
{
    char tmp[4200], dst[4200], text[32];
    snprintf(tmp, sizeof tmp, "%s/events.sent.tmp", q->dir);
    snprintf(dst, sizeof dst, "%s/events.sent", q->dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int n = snprintf(text, sizeof text, "%lld\n", off);
    int ok = write(fd, text, (size_t)n) == n && (q->fsync == 2 || fsync(fd) == 0);
    close(fd);
    if (!ok || rename(tmp, dst) != 0)
        return -1;
    return 0;
}

int bmq_open(bmq *q, const char *dir, int fsync_policy, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    q->fd = -1;
    q->fsync = fsync_policy;
    snprintf(q->dir, sizeof q->dir, "%s", dir);
    if (mkdirs(dir) != 0) {
        snprintf(err, errlen, "queue directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/events.log", dir);
    q->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (q->fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(q->fd, &st) != 0)
        goto io;
    long long size = st.st_size;
    /* Cut a torn last line. */
    long long good = size;
    char c;
    while (good > 0 && (pread(q->fd, &c, 1, good - 1) != 1 || c != '\n'))
        good--;
    if (good != size && ftruncate(q->fd, good) != 0)
        goto io;
    q->size = good;
    snprintf(path, sizeof path, "%s/events.sent", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%lld", &q->sent) != 1)
            q->sent = 0;
        fclose(f);
    }
    if (q->sent < 0 || q->sent > q->size)
        q->sent = 0;
    /* Count the lines still to send (and make sure sent is at a line start). */
    if (q->sent > 0 && (pread(q->fd, &c, 1, q->sent - 1) != 1 || c != '\n'))
        q->sent = 0;
    char buf[65536];
    for (long long off = q->sent; off < q->size;) {
        ssize_t r = pread(q->fd, buf, sizeof buf, off);
        if (r <= 0)
            goto io;
        for (ssize_t i = 0; i < r; i++)
            q->pending += buf[i] == '\n';
        off += r;
    }
    return 0;
io:
    snprintf(err, errlen, "queue %s: %s", dir, strerror(errno));
    bmq_close(q);
    return -1;
}

void bmq_close(bmq *q)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
}

int bmq_append(bmq *q, const char *line, size_t len)
{
    char *rec = malloc(len + 1);
    if (!rec)
        return -1;
    memcpy(rec, line, len);
    rec[len] = '\n';
    /* One write() with O_APPEND: the line lands whole or (crash) is cut at open. */
    ssize_t w = write(q->fd, rec, len + 1);
    free(rec);
    if (w != (ssize_t)(len + 1)) {
        if (w > 0 && ftruncate(q->fd, q->size) != 0)
            return -1;
        return -1;
    }
    q->size += (long long)len + 1;
    q->pending++;
    if (q->fsync == 0 && fdatasync(q->fd) != 0)
        return -1;
    return 0;
}

int bmq_sync(bmq *q)
{
    return q->fsync == 2 ? 0 : fdatasync(q->fd);
}

int bmq_read(bmq *q, int max, char **text, size_t *len, int *n, long long *end)
{
    size_t cap = 65536, used = 0, cut = 0;
    int lines = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    long long off = q->sent;
    while (off < q->size && lines < max) {
        if (used == cap) {
            char *b = realloc(buf, cap * 2);
            if (!b)
                goto fail;
            buf = b;
            cap *= 2;
        }
        size_t want = cap - used;
        if ((long long)want > q->size - off)
            want = (size_t)(q->size - off);
        ssize_t r = pread(q->fd, buf + used, want, off);
        if (r <= 0)
            goto fail;
        /* Whole lines only, at most max of them. */
        for (size_t i = used; i < used + (size_t)r && lines < max; i++)
            if (buf[i] == '\n') {
                lines++;
                cut = i + 1;
            }
        used += (size_t)r;
        off += r;
    }
    *text = buf;
    *len = cut;
    *n = lines;
    *end = q->sent + (long long)cut;
    return 0;
fail:
    free(buf);
    return -1;
}

int bmq_ack(bmq *q, long long end, int n)
{
    if (end < q->sent || end > q->size)
        return -1;
    q->sent = end;
    q->pending -= n;
    if (q->sent == q->size) {
        /* Everything is sent: start the files over. */
        if (write_sent(q, 0) != 0)
            return -1;
        if (ftruncate(q->fd, 0) != 0)
            return -1;
        q->sent = q->size = 0;
        q->pending = 0;
        return 0;
    }
    return write_sent(q, q->sent);
}
