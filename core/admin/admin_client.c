/* The client side of the admin socket: see admin.h. */
#include "admin/admin.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *bm_admin_call(const char *run_dir, const char *request, int timeout_ms, char *err,
                    size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int w = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/admin.sock", run_dir);
    if (w < 0 || (size_t)w >= sizeof sa.sun_path) {
        snprintf(err, errlen, "engine.run_dir too long for a unix socket path");
        return NULL;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(err, errlen, "no engine answering at %s: %s", sa.sun_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char line[4200];
    int n = snprintf(line, sizeof line, "%s\n", request);
    if (n < 0 || (size_t)n >= sizeof line || write(fd, line, (size_t)n) != n) {
        snprintf(err, errlen, "cannot send the request");
        close(fd);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    int ok = buf != NULL;
    if (!ok)
        snprintf(err, errlen, "out of memory");
    int64_t until = now_ms() + timeout_ms;
    while (ok) {
        int64_t left = until - now_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            snprintf(err, errlen, "engine did not answer within %d ms", timeout_ms);
            ok = 0;
            break;
        }
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                ok = 0;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + len, cap - len - 1);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    if (ok && len == 0) {
        snprintf(err, errlen, "the engine closed the socket without an answer");
        ok = 0;
    }
    if (!ok) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}
