/* Loading a campaign and one player's progress row (bmctl and the gateway). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress/progress.h"

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

int bm_pv_campaign_load(PGconn *c, const char *id, bm_pv_campaign *out, char *err, size_t errlen)
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
        bm_pv_campaign_clear(out);
    return rc;
}

void bm_pv_campaign_clear(bm_pv_campaign *cc)
{
    json_decref(cc->config);
    cc->config = NULL;
}

static int64_t col_ms(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? 0 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

int bm_pv_progress_load(PGconn *c, const char *campaign, const char *user, bm_pv_progress *out,
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

void bm_pv_progress_clear(bm_pv_progress *p)
{
    json_decref(p->doc);
    p->doc = NULL;
}
