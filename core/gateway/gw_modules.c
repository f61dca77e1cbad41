/*
 * The ops routes of the admin API: GET /v1/admin/modules is `bmctl modules`
 * and POST /v1/admin/modules/reload is `bmctl reload`, asked of the engine
 * through its admin socket (core/admin) exactly as bmctl asks, so a reload
 * swaps generations between batches and a listing never races a swap.
 * Modules serve every studio, so only an ID token with role "ops" may call
 * them; studio owners, community roles and players get 403.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "gateway/gw.h"
#include "log/log.h"

#define GW_ADMIN_CALL_MS 30000 /* as long as bmctl waits */

void gw_admin_modules(gw_req *r, const gw_principal *p, int reload)
{
    if (strcmp(p->role, "ops") != 0) {
        gw_error(r, 403, "forbidden",
                 "modules are shared by every studio: only role ops may %s them (role '%s')",
                 reload ? "reload" : "list", p->role);
        return;
    }
    char err[512];
    char *resp = bm_admin_call(r->g->cfg.run_dir, reload ? "reload" : "modules", GW_ADMIN_CALL_MS,
                               err, sizeof err);
    if (!resp) {
        gw_error(r, 503, "engine_unavailable", "the engine's admin socket: %s", err);
        return;
    }
    json_t *j = json_loads(resp, 0, NULL);
    free(resp);
    if (!json_is_object(j) || json_object_get(j, "error")) {
        const char *why = json_string_value(json_object_get(j, "error"));
        gw_error(r, 503, "engine_unavailable", "the engine answered: %s",
                 why ? why : "unreadable JSON");
        json_decref(j);
        return;
    }
    if (reload) {
        /* A refused file keeps the old generation serving: the reload did not take. */
        const char *rep = json_string_value(json_object_get(j, "lastReload"));
        int refused = rep && strstr(rep, "refused ") != NULL;
        json_object_set_new(j, "refused", json_boolean(refused));
        bm_info("gateway", "request_id=%s modules reloaded by sub=%s generation=%lld refused=%d",
                r->id, p->sub, (long long)json_integer_value(json_object_get(j, "generation")),
                refused);
    }
    gw_json(r, 200, j);
}
