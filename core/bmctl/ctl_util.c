/* Helpers shared by bmctl's quest and battlepass commands. */
#include "bmctl/ctl_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int ctl_args_parse(int argc, char **argv, int first, ctl_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    for (int i = first; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(s, "--premium") == 0) {
            a->premium = 1;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            a->help = 1;
        } else if (s[0] == '-' && s[1] == '-') {
            snprintf(err, errlen, "unknown option '%s'", s);
            return -1;
        } else if (a->npos < (int)(sizeof a->pos / sizeof a->pos[0])) {
            a->pos[a->npos++] = s;
        } else {
            snprintf(err, errlen, "too many arguments");
            return -1;
        }
    }
    return 0;
}

/* Campaign ids are UUIDs; checking first turns a typo into "not found" instead of a cast error. */
static int is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

static void copy_field(char *dst, size_t len, const PGresult *r, int col)
{
    snprintf(dst, len, "%s", PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

int ctl_campaign_load(PGconn *c, const char *id, ctl_campaign *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!is_uuid(id))
        return 1;
    const char *sql = "SELECT c.id::text, c.type, c.name, g.identifier, c.status, c.config::text,"
                      " c.gating::text FROM campaigns c JOIN games g ON g.id = c.game_id"
                      " WHERE c.id = $1::uuid";
    const char *params[1] = {id};
    PGresult *r = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading campaign: %s", PQerrorMessage(c));
        err[strcspn(err, "\n")] = '\0';
        goto done;
    }
    if (PQntuples(r) == 0) {
        rc = 1;
        goto done;
    }
    copy_field(out->id, sizeof out->id, r, 0);
    copy_field(out->type, sizeof out->type, r, 1);
    copy_field(out->name, sizeof out->name, r, 2);
    copy_field(out->game, sizeof out->game, r, 3);
    copy_field(out->status, sizeof out->status, r, 4);
    out->config = json_loads(PQgetvalue(r, 0, 5), 0, NULL);
    if (!json_is_object(out->config)) {
        snprintf(err, errlen, "campaign %s: config is not a JSON object", id);
        goto done;
    }
    /* Gating may live in its own column; the modules read it from the config. */
    json_t *gating = PQgetisnull(r, 0, 6) ? NULL : json_loads(PQgetvalue(r, 0, 6), 0, NULL);
    if (!json_object_get(out->config, "gating") && json_object_size(gating) > 0)
        json_object_set(out->config, "gating", gating);
    json_decref(gating);
    rc = 0;
done:
    PQclear(r);
    if (rc != 0)
        ctl_campaign_clear(out);
    return rc;
}

void ctl_campaign_clear(ctl_campaign *cc)
{
    json_decref(cc->config);
    cc->config = NULL;
}

static int64_t col_ms(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? 0 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

int ctl_progress_load(PGconn *c, const char *campaign, const char *user, ctl_progress *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *sql = "SELECT current_value, aux_value, event_count, completed, flags,"
                      " (extract(epoch FROM completed_at) * 1000)::bigint,"
                      " (extract(epoch FROM first_event_at) * 1000)::bigint,"
                      " (extract(epoch FROM last_event_at) * 1000)::bigint, progress_data::text"
                      " FROM user_progress WHERE campaign_id = $1::uuid AND user_id = $2";
    const char *params[2] = {campaign, user};
    PGresult *r = PQexecParams(c, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading user_progress: %s", PQerrorMessage(c));
        err[strcspn(err, "\n")] = '\0';
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 1) {
        out->found = 1;
        out->value = strtod(PQgetvalue(r, 0, 0), NULL);
        out->aux = strtod(PQgetvalue(r, 0, 1), NULL);
        out->count = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        out->completed = atoi(PQgetvalue(r, 0, 3));
        out->flags = atoi(PQgetvalue(r, 0, 4));
        out->completed_ms = col_ms(r, 5);
        out->first_ms = col_ms(r, 6);
        out->last_ms = col_ms(r, 7);
        if (!PQgetisnull(r, 0, 8))
            out->doc = json_loads(PQgetvalue(r, 0, 8), 0, NULL);
    }
    PQclear(r);
    return 0;
}

void ctl_progress_clear(ctl_progress *p)
{
    json_decref(p->doc);
    p->doc = NULL;
}

void ctl_time_format(int64_t ms, char *buf, size_t len)
{
    if (ms == 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)(ms - (int64_t)s * 1000));
}

int64_t ctl_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void ctl_print_json(json_t *v)
{
    char *s =
        v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(v);
}
