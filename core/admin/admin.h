/*
 * The admin socket (<run_dir>/admin.sock) that bmctl talks to: one request
 * line, one JSON answer. The socket thread only queues the request; the
 * owner answers it from its own thread (the engine: at a batch boundary)
 * through the handler it registered, so a reload swaps generations exactly
 * between batches and a listing never races a swap.
 */
#ifndef BM_ADMIN_H
#define BM_ADMIN_H

#include <stddef.h>

typedef struct bm_admin bm_admin;

/* Answers one request line with malloc'd JSON text (NULL = out of memory). */
typedef char *(*bm_admin_handler)(void *ud, const char *request);

/* Listens on <run_dir>/admin.sock; NULL with err. */
bm_admin *bm_admin_start(const char *run_dir, bm_admin_handler handler, void *ud, char *err,
                         size_t errlen);
/* Requests starting with `prefix` (e.g. "query ") are answered by fn on the
 * socket thread itself, at once, not at the boundary: for calls that pin
 * what they use and must not wait for (or hold up) a batch. Set before
 * clients connect. */
void bm_admin_set_direct(bm_admin *a, const char *prefix, bm_admin_handler fn);

/* Answers the queued request, if any, on the calling thread. */
void bm_admin_serve(bm_admin *a);
void bm_admin_stop(bm_admin *a);

/* The client side (bmctl, the gateway's /v1/admin/modules): sends one request line to
 * <run_dir>/admin.sock and returns the malloc'd answer line, or NULL with err (no engine,
 * or no answer within timeout_ms). */
char *bm_admin_call(const char *run_dir, const char *request, int timeout_ms, char *err,
                    size_t errlen);

#endif
