/*
 * The master process (PostgreSQL's postmaster, nginx's master): it forks the
 * worker that runs the engine, waits for it, and restarts it with backoff
 * after a crash or a watchdog abort. It never loads a module, opens no
 * database or broker connection, and forwards SIGTERM/SIGINT/SIGHUP to the
 * worker. A stop request ends the worker within a bounded time (SIGKILL after
 * stop_timeout_ms).
 */
#ifndef BM_SUPERVISOR_H
#define BM_SUPERVISOR_H

/* Exit code of a worker that asks to be restarted (the watchdog uses it). */
#define BM_EXIT_RESTART 70

/* Environment the worker finds: restarts so far and why the last one happened. */
#define BM_SUPERVISOR_ENV_RESTARTS "BM_SUPERVISOR_RESTARTS"
#define BM_SUPERVISOR_ENV_REASON "BM_SUPERVISOR_RESTART_REASON"
#define BM_SUPERVISOR_ENV_ABORTS "BM_SUPERVISOR_WATCHDOG_ABORTS"

typedef struct bm_supervisor_opts {
    int backoff_min_ms;  /* first restart delay */
    int backoff_max_ms;  /* the delay doubles up to this */
    int stable_ms;       /* a worker that ran this long resets the delay */
    int stop_timeout_ms; /* SIGKILL the worker this long after SIGTERM */
} bm_supervisor_opts;

/* Runs in the worker process; its return value is the worker's exit code. */
typedef int (*bm_worker_fn)(void *ud);

/*
 * Forks worker(ud) and supervises it until a stop signal or a worker exit
 * that is not a crash (a code other than BM_EXIT_RESTART). Returns the exit
 * code the master should end with. Call with the stop and reload signals
 * not yet handled: it installs its own handlers (and resets them in the
 * worker before worker() runs).
 */
int bm_supervisor_run(const bm_supervisor_opts *o, bm_worker_fn worker, void *ud);

/* Restarts the master made before this worker (0 in the first one, or unsupervised). */
int bm_supervisor_restarts(void);
/* Of those restarts, the ones after a watchdog abort (a worker that exited BM_EXIT_RESTART). */
int bm_supervisor_watchdog_aborts(void);
/* Why this worker was started after a crash ("" when it is the first one). */
const char *bm_supervisor_restart_reason(void);

#endif
