/* The host side of the module ABI: bm_host and the host-API table. */
#ifndef BM_HOST_H
#define BM_HOST_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include <brightmatter/module.h>

#include "lua/lua_sandbox.h"

#define BM_HOST_MAX_METRICS 32
#define BM_HOST_MAX_SETTINGS 16

struct bm_config;

/* One engine setting a module may read (host API `setting`). */
typedef struct bm_host_setting {
    char section[16];
    char key[32];
    char value[512];
} bm_host_setting;

typedef struct bm_host_metric {
    char name[64];
    double value;
} bm_host_metric;

/* One per loaded module instance: names the module in logs and metrics. */
struct bm_host {
    char module[64];
    bm_lua_limits lua;
    pthread_mutex_t lock; /* guards metrics: modules may count from any thread */
    bm_host_metric metrics[BM_HOST_MAX_METRICS];
    int nmetrics;
    bm_host_setting settings[BM_HOST_MAX_SETTINGS]; /* written before init, then read-only */
    int nsettings;
};

/* Creates a host for a module; lua limits are copied. */
bm_host *bm_host_new(const char *module, const bm_lua_limits *lua);
void bm_host_free(bm_host *h);

/* Copies the settings modules may read (the sections bm_host_readable names)
 * from the engine's configuration into h; before the module's init. */
void bm_host_use_config(bm_host *h, const struct bm_config *cfg);
/* 1 if modules may read settings of this section (no secrets in it). */
int bm_host_readable(const char *section);

/* The table handed to modules' init(). Static storage, filled once. */
const bm_host_api *bm_host_api_get(void);

/* The table's event accessors, for hosts that assemble their own table. */
const char *bm_hostapi_event_id(const bm_event *ev);
const char *bm_hostapi_event_game(const bm_event *ev);
const char *bm_hostapi_event_user(const bm_event *ev);
const char *bm_hostapi_event_type(const bm_event *ev);
int64_t bm_hostapi_event_time_ms(const bm_event *ev);
int bm_hostapi_event_number(const bm_event *ev, const char *path, double *out);
const char *bm_hostapi_event_string(const bm_event *ev, const char *path);
int bm_hostapi_event_matches(const bm_event *ev, const char *filter_json);
int bm_hostapi_event_has(const bm_event *ev, const char *path);

/* The counters a module added with metric_add, as a JSON object (caller owns it). */
json_t *bm_host_metrics_json(bm_host *h);

#endif
