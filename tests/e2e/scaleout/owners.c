#include "e2e/scaleout/owners.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t so_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "ts=2026-11-28T17:40:01.123Z" -> wall ms, or -1. */
static int64_t line_ms(const char *line)
{
    struct tm tm;
    int ms = 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(line, "ts=%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static so_span *open_span(so_owners *o, int proc, int part)
{
    for (int i = o->n - 1; i >= 0; i--)
        if (o->spans[i].proc == proc && o->spans[i].part == part && o->spans[i].to == INT64_MAX)
            return &o->spans[i];
    return NULL;
}

void so_owners_add_log(so_owners *o, int proc, const char *log_path, int64_t ended)
{
    FILE *f = fopen(log_path, "r");
    if (!f)
        bm_e2e_fail("cannot read %s", log_path);
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        const char *m = strstr(line, "msg=\"partition=");
        if (!m || !strstr(line, "module=pipeline"))
            continue;
        int part = atoi(m + strlen("msg=\"partition="));
        int64_t t = line_ms(line);
        if (t < 0)
            continue;
        so_span *s = open_span(o, proc, part);
        if (strstr(m, " assigned")) {
            if (!s && o->n < SO_MAX_SPANS)
                o->spans[o->n++] = (so_span){proc, part, t, INT64_MAX};
        } else if ((strstr(m, " revoked") || strstr(m, " lost") || strstr(m, " given up")) && s) {
            s->to = t;
        }
    }
    fclose(f);
    if (ended)
        for (int i = 0; i < o->n; i++)
            if (o->spans[i].proc == proc && o->spans[i].to == INT64_MAX)
                o->spans[i].to = ended;
}

long long so_unowned_ms(const so_owners *o, int parts, int64_t from, int64_t to)
{
    long long total = 0;
    for (int p = 0; p < parts; p++)
        for (int64_t t = from; t < to; t += 10) {
            int owned = 0;
            for (int i = 0; i < o->n && !owned; i++)
                owned = o->spans[i].part == p && o->spans[i].from <= t && t < o->spans[i].to;
            if (!owned)
                total += 10;
        }
    return total;
}

int so_revocations(const so_owners *o, int proc, int64_t from, int64_t to)
{
    int n = 0;
    for (int i = 0; i < o->n; i++)
        n += o->spans[i].proc == proc && o->spans[i].to >= from && o->spans[i].to < to;
    return n;
}
