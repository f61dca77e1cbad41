/*
 * example: a minimal BrightMatter campaign module, built out of tree.
 *
 * It serves campaigns of type "example": every "match_end" event adds
 * data.points (1 when absent) to the player's score. Everything it keeps
 * between events lives in the host's per-(campaign, user) state, so the
 * module is exactly-once, batched and hot-reloadable without any code of
 * its own for that. Copy this folder, rename, and change on_event.
 */
#include <brightmatter/module.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One per loaded generation; the host hands api and host to init. */
typedef struct example {
    const bm_host_api *api;
    bm_host *host;
} example;

/* One per campaign: what on_event needs without parsing config again. */
typedef struct example_campaign {
    char id[64];
} example_campaign;

static int example_init(const bm_host_api *api, bm_host *host, void **instance, char *err,
                        size_t errlen)
{
    /* Only call host functions this host has: the table grows by appending. */
    if (api->size < offsetof(bm_host_api, state_put) + sizeof api->state_put) {
        snprintf(err, errlen, "host API too old (size %u)", (unsigned)api->size);
        return BM_ERROR;
    }
    example *x = calloc(1, sizeof *x);
    if (x == NULL) {
        snprintf(err, errlen, "out of memory");
        return BM_ERROR;
    }
    x->api = api;
    x->host = host;
    *instance = x;
    return BM_OK;
}

static int example_campaign_add(void *instance, const bm_campaign *c, bm_routes *routes,
                                void **cctx, char *err, size_t errlen)
{
    example *x = instance;
    example_campaign *ec = calloc(1, sizeof *ec);
    if (ec == NULL) {
        snprintf(err, errlen, "out of memory");
        return BM_ERROR;
    }
    snprintf(ec->id, sizeof ec->id, "%s", c->id);
    /* Subscribe: the host only calls on_event for routed event types. */
    if (x->api->route(routes, "match_end") != 0) {
        snprintf(err, errlen, "route: cannot subscribe to match_end");
        free(ec);
        return BM_ERROR;
    }
    *cctx = ec;
    return BM_OK;
}

static void example_campaign_remove(void *instance, void *cctx)
{
    free(cctx);
}

static int example_on_event(void *instance, void *cctx, bm_batch *b, const bm_event *ev)
{
    example *x = instance;
    example_campaign *ec = cctx;
    double points = 1;
    x->api->event_number(ev, "points", &points);

    /* Read, change, put: the host writes the row once per batch. */
    bm_state *st = x->api->state_get(b, ec->id, x->api->event_user(ev));
    st->value += points;
    st->count += 1;
    st->updated_ms = x->api->event_time_ms(ev);
    if (st->first_ms == 0)
        st->first_ms = st->updated_ms;
    return x->api->state_put(b, st, NULL) == 0 ? BM_OK : BM_RETRY;
}

static void example_destroy(void *instance)
{
    free(instance);
}

static const bm_module example_module = {
    /* magic, ABI version, struct size and build signature, as compiled */
    BM_MODULE_HEADER,

    .name = "example",        /* unique among loaded modules */
    .version = "0.1.0",       /* shown by `bmctl module check` and `bmctl modules` */
    .kind = BM_KIND_CAMPAIGN, /* consumes game events */
    .serves = "example",      /* the campaign type it handles */
    .description = "adds data.points of match_end events to a score",

    .init = example_init,                       /* required */
    .campaign_add = example_campaign_add,       /* required for campaign modules */
    .campaign_remove = example_campaign_remove, /* required for campaign modules */
    .on_event = example_on_event,               /* required for campaign modules */
    .on_tick = NULL,                            /* no time-based work */
    .on_reward = NULL,                          /* reward modules only */
    .query = NULL,                              /* no custom queries */
    .drain = NULL,                              /* nothing in flight to finish on reload */
    .destroy = example_destroy,                 /* required */
    /* spare slots stay NULL */
};

/* The one exported symbol; everything else is hidden. */
BM_MODULE_EXPORT const bm_module *bm_module_entry(void);

const bm_module *bm_module_entry(void)
{
    return &example_module;
}
