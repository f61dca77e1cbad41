/* bmctl modules / reload: talk to a running engine over its admin socket. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "bmctl/bmctl.h"

char *bm_ctl_admin_call(const bm_ctl *ctl, const char *request)
{
    char err[512];
    char *resp = bm_admin_call(ctl->cfg.run_dir, request, 30000, err, sizeof err);
    if (!resp)
        fprintf(stderr, "bmctl: %s\n", err);
    return resp;
}

static void print_modules(json_t *root)
{
    printf("generation %lld\n", (long long)json_integer_value(json_object_get(root, "generation")));
    printf("%-16s %-10s %-9s %-12s %4s %10s %8s %8s %5s\n", "MODULE", "VERSION", "KIND", "SERVES",
           "GEN", "EVENTS", "ERRORS", "SKIPPED", "CAMPS");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(root, "modules"), i, m)
    {
        printf("%-16s %-10s %-9s %-12s %4lld %10lld %8lld %8lld %5lld\n",
               json_string_value(json_object_get(m, "name")),
               json_string_value(json_object_get(m, "version")),
               json_string_value(json_object_get(m, "kind")),
               json_string_value(json_object_get(m, "serves")),
               (long long)json_integer_value(json_object_get(m, "generation")),
               (long long)json_integer_value(json_object_get(m, "events")),
               (long long)json_integer_value(json_object_get(m, "errors")),
               (long long)json_integer_value(json_object_get(m, "skipped")),
               (long long)json_integer_value(json_object_get(m, "campaigns")));
    }
    /* Generations replaced by a reload but still held by a call or draining. */
    json_array_foreach(json_object_get(root, "retiring"), i, m)
    {
        printf("retiring %s generation %lld: %lld reference(s), retired %lld ms ago%s\n",
               json_string_value(json_object_get(m, "name")),
               (long long)json_integer_value(json_object_get(m, "generation")),
               (long long)json_integer_value(json_object_get(m, "refs")),
               (long long)json_integer_value(json_object_get(m, "retiredMs")),
               json_is_true(json_object_get(m, "overdue")) ? " (past engine.drain_deadline_ms)"
                                                           : "");
    }
    bm_ctl_print_containment(root);
}

/* The engine's view of its campaigns: a campaign whose module is not loaded is
 * suspended, and the events of its game seen meanwhile are counted. */
static void print_campaigns(json_t *root)
{
    printf("%-36s %-12s %-12s %-9s %10s %10s\n", "CAMPAIGN", "TYPE", "MODULE", "STATUS", "EVENTS",
           "SUSPENDED");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "campaigns"), i, c)
    {
        const char *mod = json_string_value(json_object_get(c, "module"));
        printf("%-36s %-12s %-12s %-9s %10lld %10lld\n",
               json_string_value(json_object_get(c, "id")),
               json_string_value(json_object_get(c, "type")), mod && *mod ? mod : "-",
               json_string_value(json_object_get(c, "status")),
               (long long)json_integer_value(json_object_get(c, "events")),
               (long long)json_integer_value(json_object_get(c, "suspendedEvents")));
    }
}

static int run(bm_ctl *ctl, int argc, char **argv, const char *request)
{
    int as_json = argc > 1 && strcmp(argv[1], "--json") == 0;
    char *resp = bm_ctl_admin_call(ctl, request);
    if (!resp)
        return 1;
    json_t *root = json_loads(resp, 0, NULL);
    if (!root) {
        fprintf(stderr, "bmctl: unreadable answer from the engine\n");
        free(resp);
        return 1;
    }
    int rc = 0;
    if (as_json) {
        fputs(resp, stdout);
    } else {
        if (strcmp(request, "reload") == 0) {
            const char *rep = json_string_value(json_object_get(root, "lastReload"));
            printf("%s", rep && *rep ? rep : "nothing changed\n");
            if (rep && *rep && rep[strlen(rep) - 1] != '\n')
                printf("\n");
        }
        if (strcmp(argv[0], "campaigns") == 0)
            print_campaigns(root);
        else
            print_modules(root);
    }
    /* A reload that refused a file is a failure for scripts, even though the
     * old generation keeps serving. */
    const char *rep = json_string_value(json_object_get(root, "lastReload"));
    if (strcmp(request, "reload") == 0 && rep && strstr(rep, "refused "))
        rc = 1;
    json_decref(root);
    free(resp);
    return rc;
}

int bm_cmd_modules(bm_ctl *ctl, int argc, char **argv)
{
    return run(ctl, argc, argv, "modules");
}

int bm_cmd_campaigns(bm_ctl *ctl, int argc, char **argv)
{
    return run(ctl, argc, argv, "modules");
}

int bm_cmd_reload(bm_ctl *ctl, int argc, char **argv)
{
    return run(ctl, argc, argv, "reload");
}

int bm_cmd_query(bm_ctl *ctl, int argc, char **argv)
{
    if (argc < 2 || argc > 3 || strchr(argv[1], ' ') || (argc == 3 && strchr(argv[2], '\n'))) {
        fprintf(stderr, "usage: bmctl query CAMPAIGN [JSON]\n");
        return 2;
    }
    char req[4096];
    int n = snprintf(req, sizeof req, "query %s %s", argv[1], argc == 3 ? argv[2] : "{}");
    if (n < 0 || (size_t)n >= sizeof req) {
        fprintf(stderr, "bmctl: query too long\n");
        return 2;
    }
    char *resp = bm_ctl_admin_call(ctl, req);
    if (!resp)
        return 1;
    json_t *root = json_loads(resp, 0, NULL);
    int rc = root && !json_object_get(root, "error") ? 0 : 1;
    printf("%s\n", resp);
    json_decref(root);
    free(resp);
    return rc;
}
