/* Campaign documents naming communities: every one must exist (bmctl and the admin API). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "campdoc/campdoc.h"

/* Checks one list of community ids at `path`; 0, or -1 with err naming the entry. */
static int check_list(PGconn *pg, json_t *list, const char *path, char *err, size_t errlen)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *id = json_string_value(v);
        if (!id)
            continue; /* the module names wrong types */
        const char *p[1] = {id};
        PGresult *r = PQexecParams(pg,
                                   "SELECT 1 FROM communities WHERE id::text = $1 AND status = "
                                   "'active'",
                                   1, NULL, p, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK, found = ok && PQntuples(r) == 1;
        PQclear(r);
        if (!ok) {
            snprintf(err, errlen, "%s: %s", path, PQerrorMessage(pg));
            return -1;
        }
        if (!found) {
            snprintf(err, errlen, "%s[%zu]: no community '%.64s'", path, i, id);
            return -1;
        }
    }
    return 0;
}

int bm_campdoc_communities_exist(PGconn *pg, json_t *root, char *err, size_t errlen)
{
    return check_list(pg, json_object_get(json_object_get(root, "gating"), "communities"),
                      "gating.communities", err, errlen) ||
                   check_list(
                       pg,
                       json_object_get(json_object_get(root, "entryRequirements"), "communities"),
                       "entryRequirements.communities", err, errlen) ||
                   check_list(
                       pg,
                       json_object_get(
                           json_object_get(json_object_get(root, "entryRequirement"), "config"),
                           "communities"),
                       "entryRequirement.config.communities", err, errlen)
               ? -1
               : 0;
}
