#include "service/service.h"

#include <stdint.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log/log.h"
#include "util/clock.h"

static int64_t g_last_ping_ms;

void bm_service_ready(const char *status)
{
    int rc = sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%lu", status, (unsigned long)getpid());
    if (rc > 0)
        bm_info("engine", "service manager notified: ready");
}

void bm_service_stopping(void)
{
    (void)sd_notify(0, "STOPPING=1\nSTATUS=stopping: committing the current batch");
}

void bm_service_watchdog(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    int64_t now = bm_mono_ms();
    if (now - g_last_ping_ms < (int64_t)(usec / 2000))
        return;
    g_last_ping_ms = now;
    (void)sd_notify(0, "WATCHDOG=1");
}
