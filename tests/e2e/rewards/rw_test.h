/* Helpers of the reward-delivery end-to-end tests (tests/e2e/rewards). */
#ifndef BM_RW_TEST_H
#define BM_RW_TEST_H

#include <stddef.h>
#include <sys/types.h>

#include "e2e/common/e2e.h"

#define RW_CAMPAIGN "11111111-2222-3333-4444-555555555555"

/* One line of the receiver's log. */
typedef struct rw_hit {
    char id[128];
    char outcome[16];
    int sig;      /* signature verified */
    int nsig;     /* signatures in the header */
    int inflight; /* requests open at its arrival, itself included */
    long long at; /* arrival, ms since the epoch */
} rw_hit;

typedef struct rw_recv {
    pid_t pid;
    int port;
    char log[400];
} rw_recv;

/* bm_e2e_init plus the reward modules in the modules dir, a game `game` (its
 * signing secret into secret) and a campaign RW_CAMPAIGN of it; the engine
 * runs the relay and rewards roles with a fast retry schedule. */
void rw_setup(bm_e2e *e, const char *name, const char *game, char *secret, size_t cap);
/* Copies build/modules/<file> into the test's modules dir (a new file each time). */
void rw_install_module(bm_e2e *e, const char *file);
/* Starts the test receiver (receiver.js) with these secrets (comma-separated). */
void rw_recv_start(bm_e2e *e, rw_recv *r, const char *secrets, const char *fail_rate,
                   const char *delay_ms);
/* Reads the receiver log; *n gets the count; caller frees. */
rw_hit *rw_recv_hits(const rw_recv *r, size_t *n);
/* Inserts `n` grants keyed <prefix><i> of `type` with `config_json`. */
void rw_grant(bm_e2e *e, const char *prefix, int n, const char *type, const char *config_json);
/* Polls until the count of rows with `status` reaches want; fails after timeout_ms. */
void rw_wait_status(bm_e2e *e, bm_e2e_engine *g, const char *status, long long want,
                    int timeout_ms);
/* One text value from a query (printf-style), malloc'd. */
char *rw_text(bm_e2e *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
