/* Turning a dispatched batch into a commit job (processing thread). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/batch_internal.h"
#include "pipeline/job.h"

/* One bm_stage line per state written in the batch. */
static void states_text(bm_batch *b, bm_job *j)
{
    bm_buf *line = &j->states;
    for (size_t i = 0; i < b->ndirty; i++) {
        bm_state_entry *s = b->dirty[i];
        bm_camp *c = bm_camps_at(b->e->camps, s->camp_slot);
        if (!c)
            continue; /* the campaign was removed mid-batch: nothing to keep */
        bm_buf_puts(line, bm_camp_id(c));
        bm_buf_append(line, "\t", 1);
        bm_buf_copy_str(line, s->user);
        bm_buf_append(line, "\t", 1);
        bm_buf_double(line, s->st.value);
        bm_buf_append(line, "\t", 1);
        bm_buf_double(line, s->st.aux);
        bm_buf_append(line, "\t", 1);
        bm_buf_i64(line, s->st.count);
        bm_buf_append(line, "\t", 1);
        if (s->st.doc)
            bm_buf_copy_str(line, s->st.doc);
        else
            bm_buf_puts(line, "\\N");
        const int64_t tail[6] = {s->st.completed, s->st.completed_ms, s->st.reached_ms,
                                 s->st.first_ms,  s->st.updated_ms,   s->st.flags};
        for (int k = 0; k < 6; k++) {
            bm_buf_append(line, "\t", 1);
            bm_buf_i64(line, tail[k]);
        }
        bm_buf_append(line, "\n", 1);
        j->nstates++;
    }
    if (line->oom)
        j->failed = 1;
}

/* Moves the batch's outbox rows and grants into the job (the batch keeps nothing). */
static void take_outbox(bm_batch *b, bm_job *j)
{
    for (size_t i = 0; i < b->nout; i++) {
        bm_outtopic *t = &b->out[i];
        if (!t->count)
            continue;
        if (j->nout == j->capout) {
            size_t ncap = j->capout ? j->capout * 2 : 8;
            bm_job_topic *nv = realloc(j->out, ncap * sizeof *nv);
            if (!nv) {
                j->failed = 1;
                return;
            }
            j->out = nv;
            j->capout = ncap;
        }
        bm_job_topic *jt = &j->out[j->nout++];
        memcpy(jt->topic, t->topic, sizeof jt->topic);
        jt->lines = t->lines;
        jt->count = t->count;
        memset(&t->lines, 0, sizeof t->lines);
        t->count = 0;
    }
    if (b->ngrants) {
        j->grants = calloc(b->ngrants, sizeof *j->grants);
        if (!j->grants) {
            j->failed = 1;
            return;
        }
        for (size_t i = 0; i < b->ngrants; i++) {
            bm_grant *g = &b->grants[i];
            j->grants[i] = (bm_job_grant){g->campaign, g->user, g->idem, g->json, {0}};
            memcpy(j->grants[i].type, g->type, sizeof g->type);
            memset(g, 0, sizeof *g);
        }
        j->ngrants = b->ngrants;
        b->ngrants = 0;
    }
    /* Claims, results and ends: the arrays move, the batch starts empty. */
    j->claims = b->claims;
    j->nclaims = b->nclaims;
    b->claims = NULL;
    b->nclaims = b->capclaims = 0;
    j->results = b->results;
    j->nresults = b->nresults;
    b->results = NULL;
    b->nresults = b->capresults = 0;
    j->members = b->members;
    j->nmembers = b->nmembers;
    b->members = NULL;
    b->nmembers = b->capmembers = 0;
    if (b->nends) {
        j->ends = malloc(b->nends * sizeof *j->ends);
        if (!j->ends) {
            j->failed = 1;
            return;
        }
        memcpy(j->ends, b->ends, b->nends * sizeof *j->ends);
        j->nends = b->nends;
        b->nends = 0;
    }
}

static void take_parts(bm_pipeline *e, bm_job *j)
{
    int n = 0;
    for (int p = 0; p < e->npart_seen; p++)
        n += e->parts[p].in_batch;
    j->parts = calloc((size_t)n + 1, sizeof *j->parts);
    j->dedup = calloc((size_t)n + 1, sizeof *j->dedup);
    if (!j->parts || !j->dedup) {
        j->failed = 1;
        return;
    }
    for (int p = 0; p < e->npart_seen; p++) {
        bm_part *pt = &e->parts[p];
        if (!pt->in_batch)
            continue;
        j->parts[j->nparts++] = (bm_job_part){p,
                                              pt->expected,
                                              pt->batch_next,
                                              pt->applied,
                                              pt->rejected,
                                              pt->duplicate,
                                              pt->forwarded};
        if (pt->nnew) {
            bm_job_dedup *d = &j->dedup[j->ndedup];
            d->hashes = malloc(pt->nnew * sizeof *d->hashes);
            if (!d->hashes) {
                j->failed = 1;
                return;
            }
            memcpy(d->hashes, pt->new_hashes, pt->nnew * sizeof *d->hashes);
            d->partition = p;
            d->first_offset = pt->expected;
            d->n = pt->nnew;
            j->ndedup++;
        }
    }
}

bm_job *bm_batch_to_job(bm_batch *b)
{
    bm_pipeline *e = b->e;
    bm_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    snprintf(j->group, sizeof j->group, "%s", e->cfg.group_id);
    snprintf(j->topic, sizeof j->topic, "%s", e->cfg.events_topic);
    j->failed = b->failed;
    j->async_commit = strcmp(e->cfg.pg_synchronous_commit, "off") == 0;
    states_text(b, j);
    bm_levels_take(&e->levels, j->levels, &j->nlevels);
    take_outbox(b, j);
    take_parts(e, j);
    return j;
}
