/* bmctl module check: runs the loader's offline ABI checks on module files. */
#include "bmctl/bmctl.h"
#include "loader/loader.h"
#include "log/log.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static void module_usage(FILE *out)
{
    fprintf(out, "usage: bmctl module check FILE.so [FILE.so ...]\n"
                 "       bmctl module check --smoke FILE.so [CAMPAIGN.json [EVENTS.jsonl]]\n"
                 "  Checks each file the way the engine's loader does before loading it\n"
                 "  (entry symbol, magic, ABI version, struct size, build signature,\n"
                 "  identity, callbacks, spare slots, a name another file of\n"
                 "  engine.modules_dir already has), without running its init.\n"
                 "  --smoke runs the module in a child process under the watchdog's\n"
                 "  deadlines: init, the sample campaign (default: the smallest one of its\n"
                 "  type), the sample events (default: three per routed type), destroy;\n"
                 "  a crash, an abort, a hang or an error is reported with its callback.\n"
                 "  Exit 0 if every file passes, 1 if any is refused.\n");
}

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Another file of modules_dir with the same module name: the loader would refuse
 * the second one. The same file name is a replacement, not a duplicate. */
static int duplicate_in_dir(const bm_ctl *ctl, const char *path, const char *name, char *err,
                            size_t errlen)
{
    DIR *d = opendir(ctl->cfg.modules_dir);
    struct dirent *de;
    int dup = 0;
    while (d && !dup && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= 3 || strcmp(de->d_name + len - 3, ".so") != 0 ||
            strcmp(de->d_name, base_of(path)) == 0)
            continue;
        char other[1400];
        bm_module_info oi;
        char oerr[512];
        snprintf(other, sizeof other, "%s/%s", ctl->cfg.modules_dir, de->d_name);
        if (bm_loader_check(other, &oi, oerr, sizeof oerr) == 0 && strcmp(oi.name, name) == 0) {
            snprintf(err, errlen, "name: '%s' already present in %.900s", name, other);
            dup = 1;
        }
    }
    if (d)
        closedir(d);
    return dup;
}

static const char *kind_name(uint32_t kind)
{
    return kind == BM_KIND_CAMPAIGN ? "campaign" : kind == BM_KIND_REWARD ? "reward" : "unknown";
}

/* 0 if accepted (identity on stdout), 1 if refused (reason on stderr). */
static int module_check_one(const bm_ctl *ctl, const char *path)
{
    bm_module_info info;
    char err[1024] = "";
    /* The refusal is printed below in the command's own format; the loader's
     * log line would only repeat it. */
    int level = bm_log_level();
    bm_log_set_level(BM_LOG_LVL_ERROR + 1);
    int rc = bm_loader_check(path, &info, err, sizeof err);
    if (rc == 0 && duplicate_in_dir(ctl, path, info.name, err, sizeof err))
        rc = -1;
    bm_log_set_level(level);
    if (rc != 0) {
        fprintf(stderr, "refused %s: %s\n", path, err);
        return 1;
    }
    printf("file: %s\n"
           "name: %s\n"
           "version: %s\n"
           "kind: %s\n"
           "serves: %s\n"
           "abi_version: %u\n",
           path, info.name, info.version, kind_name(info.kind), info.serves,
           (unsigned)info.abi_version);
    return 0;
}

int bm_cmd_module(bm_ctl *ctl, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        module_usage(stdout);
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "check") != 0) {
        module_usage(stderr);
        return 2;
    }
    if (strcmp(argv[2], "--smoke") == 0) {
        if (argc < 4 || argc > 6) {
            module_usage(stderr);
            return 2;
        }
        if (module_check_one(ctl, argv[3]) != 0)
            return 1;
        printf("\n");
        fflush(stdout);
        return bm_ctl_module_smoke(ctl, argv[3], argc > 4 ? argv[4] : NULL,
                                   argc > 5 ? argv[5] : NULL);
    }
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        if (i > 2)
            printf("\n");
        if (module_check_one(ctl, argv[i]) != 0)
            rc = 1;
    }
    fflush(stdout);
    return rc;
}
