#include "e2e/hostv2/hostv2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "event/event.h"
#include "util/clock.h"

void hv2_init(bm_e2e *e, const char *name, int partitions)
{
    bm_e2e_init(e, name, partitions);
    char src[1100], dst[400];
    snprintf(dst, sizeof dst, "%s/fx_v2.so", e->mods_dir);
    size_t len = 0;
    char *data =
        bm_e2e_slurp(bm_e2e_build_path(e, "tests/fixtures/fx_v2_a.so", src, sizeof src), &len);
    if (!data)
        bm_e2e_fail("cannot read %s", src);
    bm_e2e_write_file(dst, data, len);
    free(data);
    bm_e2e_setenv(e, "BM_KAFKA_SESSION_TIMEOUT_MS", "3000");
    bm_e2e_setenv(e, "BM_PIPELINE_BATCH_LINGER_MS", "20");
}

void hv2_engine(bm_e2e *e, bm_e2e_engine *g, const char *roles, const char *tag)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/run-%s", e->dir, tag);
    mkdir(dir, 0755);
    bm_e2e_setenv(e, "BM_ENGINE_RUN_DIR", dir);
    bm_e2e_setenv(e, "BM_ENGINE_ROLES", roles);
    bm_e2e_engine_start(e, g);
    bm_e2e_wait_log(g, "msg=\"started roles=", 30000);
}

void hv2_campaign(bm_e2e *e, const char *extra, char *id, size_t idlen)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"type\":\"fixture_v2\",\"name\":\"hv2\",\"gameId\":\"" HV2_GAME "\"%s%s}",
             extra[0] ? "," : "", extra);
    bm_e2e_campaign(e, json, id, idlen);
}

void hv2_event(bm_e2e *e, const char *type, const char *user, const char *id)
{
    char ts[40], json[512];
    bm_rfc3339_format(bm_now_ms(), ts, sizeof ts);
    snprintf(json, sizeof json,
             "{\"eventId\":\"%s\",\"gameId\":\"" HV2_GAME "\",\"userId\":\"%s\","
             "\"eventType\":\"%s\",\"data\":{},\"timestamp\":\"%s\"}",
             id, user, type, ts);
    rd_kafka_t *p = bm_e2e_producer(e);
    bm_e2e_produce(p, user, json, strlen(json));
    bm_e2e_producer_close(p);
}

long long hv2_wait_ll(bm_e2e *e, long long want, int timeout_ms, const char *sql)
{
    int64_t end = bm_e2e_now_ms() + timeout_ms;
    long long v;
    while ((v = bm_e2e_ll(e, "%s", sql)) < want) {
        if (bm_e2e_now_ms() > end)
            bm_e2e_fail("waited %d ms for %lld (got %lld): %s", timeout_ms, want, v, sql);
        bm_e2e_sleep_ms(100);
    }
    return v;
}

double hv2_metric(bm_e2e *e, const char *name)
{
    json_t *m = bm_e2e_modules(e);
    double v = 0;
    size_t i;
    json_t *mod;
    json_array_foreach(json_object_get(m, "modules"), i, mod)
    {
        if (strcmp(json_string_value(json_object_get(mod, "name")), "fx_v2") == 0)
            v = json_number_value(json_object_get(json_object_get(mod, "metrics"), name));
    }
    json_decref(m);
    return v;
}

char *hv2_result(bm_e2e *e, const char *camp, const char *kind, const char *key)
{
    const char *v[3] = {camp, kind, key};
    PGresult *r = PQexecParams(e->db,
                               "SELECT doc::text FROM module_results WHERE campaign_id = $1::uuid "
                               "AND kind = $2 AND key = $3",
                               3, NULL, v, NULL, NULL, 0);
    char *s = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        s = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return s;
}
