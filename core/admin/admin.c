/* The admin socket: see admin.h. */
#include "admin/admin.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log/log.h"

struct bm_admin {
    bm_admin_handler handler;
    void *ud;
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    pthread_t thread;
    atomic_int run;
    pthread_mutex_t lock;
    pthread_cond_t done;
    char request[64]; /* pending request, "" if none */
    char direct_prefix[32];
    bm_admin_handler direct; /* answered on the socket thread */
    char *response;          /* set by the processing thread */
};

/* Processing thread: answers the pending request, if any. */
void bm_admin_serve(bm_admin *a)
{
    pthread_mutex_lock(&a->lock);
    if (!a->request[0] || a->response) {
        pthread_mutex_unlock(&a->lock);
        return;
    }
    char req[64];
    snprintf(req, sizeof req, "%s", a->request);
    pthread_mutex_unlock(&a->lock);

    char *out = a->handler(a->ud, req);
    pthread_mutex_lock(&a->lock);
    a->response = out ? out : strdup("{\"error\":\"out of memory\"}");
    pthread_cond_signal(&a->done);
    pthread_mutex_unlock(&a->lock);
}

/* Writes one answer line; NULL answers that the request was not understood. */
static void reply(int cfd, const char *resp)
{
    if (!resp)
        resp = "{\"error\":\"request too long or out of memory\"}";
    size_t len = strlen(resp), off = 0;
    while (off < len) {
        ssize_t w = write(cfd, resp + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (write(cfd, "\n", 1) < 0)
        bm_debug("admin", "client went away");
}

static void handle(bm_admin *a, int cfd)
{
    char line[4096] = {0};
    struct pollfd pfd = {cfd, POLLIN, 0};
    if (poll(&pfd, 1, 2000) <= 0)
        return;
    ssize_t n = read(cfd, line, sizeof line - 1);
    if (n <= 0)
        return;
    line[strcspn(line, "\r\n")] = '\0';
    if (a->direct && strncmp(line, a->direct_prefix, strlen(a->direct_prefix)) == 0) {
        char *resp = a->direct(a->ud, line);
        reply(cfd, resp);
        free(resp);
        return;
    }
    size_t len = strlen(line);
    if (len >= sizeof a->request) {
        reply(cfd, NULL);
        return;
    }
    pthread_mutex_lock(&a->lock);
    memcpy(a->request, line, len + 1);
    /* The processing thread picks it up at the next batch boundary. */
    while (!a->response && atomic_load(&a->run))
        pthread_cond_wait(&a->done, &a->lock);
    char *resp = a->response;
    a->response = NULL;
    a->request[0] = '\0';
    pthread_mutex_unlock(&a->lock);
    if (resp) {
        reply(cfd, resp);
        free(resp);
    }
}

void bm_admin_set_direct(bm_admin *a, const char *prefix, bm_admin_handler fn)
{
    snprintf(a->direct_prefix, sizeof a->direct_prefix, "%s", prefix);
    a->direct = fn;
}

static void *admin_main(void *arg)
{
    bm_admin *a = arg;
    while (atomic_load(&a->run)) {
        struct pollfd pfd = {a->fd, POLLIN, 0};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        int cfd = accept(a->fd, NULL, NULL);
        if (cfd < 0)
            continue;
        handle(a, cfd);
        close(cfd);
    }
    return NULL;
}

bm_admin *bm_admin_start(const char *run_dir, bm_admin_handler handler, void *ud, char *err,
                         size_t errlen)
{
    bm_admin *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->handler = handler;
    a->ud = ud;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int w = snprintf(a->path, sizeof a->path, "%s/admin.sock", run_dir);
    if (w < 0 || (size_t)w >= sizeof a->path) {
        snprintf(err, errlen, "engine.run_dir too long for a unix socket path");
        free(a);
        return NULL;
    }
    memcpy(sa.sun_path, a->path, strlen(a->path) + 1);
    a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(a->path);
    if (a->fd < 0 || bind(a->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(a->fd, 8) != 0) {
        snprintf(err, errlen, "admin socket %s: %s", a->path, strerror(errno));
        if (a->fd >= 0)
            close(a->fd);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->done, NULL);
    atomic_store(&a->run, 1);
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        snprintf(err, errlen, "admin: cannot start its thread");
        close(a->fd);
        free(a);
        return NULL;
    }
    bm_info("admin", "listening socket=%s", a->path);
    return a;
}

void bm_admin_stop(bm_admin *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    atomic_store(&a->run, 0);
    pthread_cond_broadcast(&a->done);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    close(a->fd);
    unlink(a->path);
    free(a->response);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->done);
    free(a);
}
