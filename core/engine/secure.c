/*
 * Modes of the engine's own files, set explicitly so they never depend on the
 * umask it was started with: whoever can write the run dir or the admin
 * socket can reload modules, and whoever can write the modules directory can
 * run code inside the engine.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine_int.h"
#include "loader/loader.h"

/* The gid of security.admin_group, or -1 (unset) / -2 (unknown group). */
static gid_t admin_gid(const bm_config *cfg, int *bad)
{
    *bad = 0;
    if (!cfg->admin_group[0])
        return (gid_t)-1;
    struct group *g = getgrnam(cfg->admin_group);
    if (!g) {
        *bad = 1;
        return (gid_t)-1;
    }
    return g->gr_gid;
}

int bm_engine_secure_paths(const bm_config *cfg, const char *copy_dir, char *err, size_t errlen)
{
    int bad;
    gid_t gid = admin_gid(cfg, &bad);
    if (bad) {
        snprintf(err, errlen, "security.admin_group: no group named '%s'", cfg->admin_group);
        return -1;
    }
    if (chmod(cfg->run_dir, 0750) != 0 || chmod(copy_dir, 0700) != 0 ||
        (gid != (gid_t)-1 && chown(cfg->run_dir, (uid_t)-1, gid) != 0)) {
        snprintf(err, errlen, "engine.run_dir %s: cannot set its mode: %s", cfg->run_dir,
                 strerror(errno));
        return -1;
    }
    char why[1200];
    /* No modules, no consumption: events would be counted as applied while no
     * campaign counts them. */
    if (bm_loader_trusted(cfg->modules_dir, 1, why, sizeof why) != 0) {
        snprintf(err, errlen, "engine.modules_dir %s", why);
        return -1;
    }
    return 0;
}

int bm_engine_secure_socket(const bm_config *cfg, char *err, size_t errlen)
{
    char path[1100];
    int bad;
    gid_t gid = admin_gid(cfg, &bad);
    snprintf(path, sizeof path, "%s/admin.sock", cfg->run_dir);
    if (chmod(path, 0660) != 0 || (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0)) {
        snprintf(err, errlen, "admin socket %s: cannot set its mode: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
