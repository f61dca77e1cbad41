/* Bulk state loads: one query for every (campaign, user) a batch touches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "pipeline/batch_internal.h"

#define TS_TO_MS(col) "COALESCE((extract(epoch FROM " col ") * 1000)::bigint, 0)"

static void set_err(PGconn *pg, const char *what, char *err, size_t errlen)
{
    const char *m = PQerrorMessage(pg);
    snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(m, "\n"), m);
}

int bm_batch_load_states(bm_pipeline *e, bm_state_entry **v, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    bm_buf camps = {0}, users = {0};
    bm_buf_puts(&camps, "{");
    bm_buf_puts(&users, "{");
    for (size_t i = 0; i < n; i++) {
        bm_camp *c = bm_camps_at(e->camps, v[i]->camp_slot);
        if (i) {
            bm_buf_puts(&camps, ",");
            bm_buf_puts(&users, ",");
        }
        /* A campaign removed meanwhile still needs a valid uuid: it simply matches nothing. */
        bm_buf_puts(&camps, c ? bm_camp_id(c) : "00000000-0000-0000-0000-000000000000");
        bm_buf_array_elem(&users, v[i]->user);
    }
    bm_buf_puts(&camps, "}");
    bm_buf_puts(&users, "}");
    int rc = -1;
    if (camps.oom || users.oom) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    const char *params[2] = {bm_buf_cstr(&camps), bm_buf_cstr(&users)};
    /* clang-format off */
    PGresult *r = PQexecParams(e->pg,
        "SELECT k.i, p.current_value, p.aux_value, p.event_count, p.progress_data::text, "
        "       p.completed, " TS_TO_MS("p.completed_at") ", " TS_TO_MS("p.reached_at") ", "
        "       " TS_TO_MS("p.first_event_at") ", " TS_TO_MS("p.last_event_at") ", p.flags "
        "FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS k(c, u, i) "
        "JOIN user_progress p ON p.campaign_id = k.c AND p.user_id = k.u",
        2, NULL, params, NULL, NULL, 0);
    /* clang-format on */
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(e->pg, "load states", err, errlen);
        PQclear(r);
        goto out;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        long idx = strtol(PQgetvalue(r, row, 0), NULL, 10) - 1;
        if (idx < 0 || (size_t)idx >= n)
            continue;
        bm_state_entry *s = v[idx];
        s->st.value = strtod(PQgetvalue(r, row, 1), NULL);
        s->st.aux = strtod(PQgetvalue(r, row, 2), NULL);
        s->st.count = strtoll(PQgetvalue(r, row, 3), NULL, 10);
        if (!PQgetisnull(r, row, 4) && bm_state_entry_set_doc(s, PQgetvalue(r, row, 4)) != 0) {
            snprintf(err, errlen, "out of memory");
            PQclear(r);
            goto out;
        }
        s->st.completed = (int32_t)strtol(PQgetvalue(r, row, 5), NULL, 10);
        s->st.completed_ms = strtoll(PQgetvalue(r, row, 6), NULL, 10);
        s->st.reached_ms = strtoll(PQgetvalue(r, row, 7), NULL, 10);
        s->st.first_ms = strtoll(PQgetvalue(r, row, 8), NULL, 10);
        s->st.updated_ms = strtoll(PQgetvalue(r, row, 9), NULL, 10);
        s->st.flags = (int32_t)strtol(PQgetvalue(r, row, 10), NULL, 10);
    }
    PQclear(r);
    for (size_t i = 0; i < n; i++)
        v[i]->loaded = 1;
    rc = 0;
out:
    bm_buf_free(&camps);
    bm_buf_free(&users);
    return rc;
}
