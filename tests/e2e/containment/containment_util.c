/* Helpers of the containment tests. */
#include "containment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

void ct_install(bm_e2e *e, const char *fixture)
{
    char src[600], tmp[600], dst[600];
    snprintf(src, sizeof src, "%s/%s.so", BM_CONTAINMENT_MODS, fixture);
    snprintf(tmp, sizeof tmp, "%s/.example.so.tmp", e->mods_dir);
    snprintf(dst, sizeof dst, "%s/example.so", e->mods_dir);
    size_t len = 0;
    char *data = bm_e2e_slurp(src, &len);
    if (!data)
        bm_e2e_fail("cannot read %s", src);
    bm_e2e_write_file(tmp, data, len);
    free(data);
    if (rename(tmp, dst) != 0)
        bm_e2e_fail("cannot install %s", dst);
}

void ct_campaigns(bm_e2e *e, char *example_id, char *board_id, size_t idlen)
{
    bm_e2e_campaign(e, "{\"type\":\"tournament\",\"name\":\"points\",\"gameId\":\"" CT_GAME "\"}",
                    example_id, idlen);
    bm_e2e_campaign(e,
                    "{\"type\":\"leaderboard\",\"name\":\"board\",\"gameId\":\"" CT_GAME "\","
                    "\"scoringMetadata\":{\"eventType\":\"match_end\",\"dataField\":\"points\","
                    "\"aggregation\":\"sum\"}}",
                    board_id, idlen);
}

void ct_now(char *ts, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

long long ct_produce(bm_e2e *e, int n, int seed)
{
    rd_kafka_t *p = bm_e2e_producer(e);
    char ts[40], user[32], ev[300];
    ct_now(ts, sizeof ts);
    long long sum = 0;
    for (int i = 0; i < n; i++) {
        int points = 1 + (i + seed) % 7;
        snprintf(user, sizeof user, "u%d", (i * 7 + seed) % 20);
        int len = snprintf(ev, sizeof ev,
                           "{\"gameId\":\"" CT_GAME "\",\"userId\":\"%s\",\"eventType\":"
                           "\"match_end\",\"data\":{\"points\":%d},\"timestamp\":\"%s\"}",
                           user, points, ts);
        bm_e2e_produce(p, user, ev, (size_t)len);
        sum += points;
    }
    bm_e2e_producer_close(p);
    return sum;
}

long long ct_total(bm_e2e *e, const char *campaign)
{
    return bm_e2e_ll(e,
                     "SELECT COALESCE(sum(current_value), 0)::bigint FROM user_progress "
                     "WHERE campaign_id = '%s'",
                     campaign);
}

json_t *ct_modules(bm_e2e *e, json_t **ct)
{
    json_t *m = bm_e2e_modules(e);
    *ct = json_object_get(m, "containment");
    if (!*ct)
        bm_e2e_fail("bmctl modules --json has no containment object");
    return m;
}

const char *ct_refused(json_t *modules, const char *id)
{
    json_t *c = bm_e2e_modules_campaign(modules, id);
    const char *r = json_string_value(json_object_get(c, "refused"));
    return r ? r : "";
}

const char *ct_module_version(json_t *modules, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(modules, "modules"), i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        if (n && strcmp(n, name) == 0)
            return json_string_value(json_object_get(m, "version"));
    }
    return "";
}

void ct_wait_total(bm_e2e *e, bm_e2e_engine *g, const char *campaign, long long want,
                   int timeout_ms)
{
    int64_t until = bm_e2e_now_ms() + timeout_ms;
    long long got = -1;
    while (bm_e2e_now_ms() < until) {
        got = ct_total(e, campaign);
        if (got == want)
            return;
        if (g && !bm_e2e_engine_alive(g)) {
            bm_e2e_log_tail(g, 40);
            bm_e2e_fail("engine died while waiting for campaign %s to reach %lld", campaign, want);
        }
        bm_e2e_sleep_ms(100);
    }
    if (g)
        bm_e2e_log_tail(g, 40);
    bm_e2e_fail("campaign %s total %lld, want %lld after %d ms", campaign, got, want, timeout_ms);
}
