/* Telling the service manager (systemd, Type=notify) how the process is doing.
 * Every call is a no-op when the process was not started by it. */
#ifndef BM_SERVICE_H
#define BM_SERVICE_H

/* READY=1 once every role runs; STATUS carries a short text. */
void bm_service_ready(const char *status);
/* STOPPING=1 when shutdown starts (the current batch still commits). */
void bm_service_stopping(void);
/* WATCHDOG=1 at half the manager's WatchdogSec at most; call once per loop turn:
 * a loop stuck longer than WatchdogSec gets the process restarted. */
void bm_service_watchdog(void);

#endif
