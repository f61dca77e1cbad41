/* Progression scenario setup: modules, campaigns, engine settings, module installs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/progression/prog.h"

/* Writes `from` to dir/name through a hidden temporary and a rename, the way an
 * installer does, so the engine never sees half a file. */
static void install_file(const char *from, const char *dir, const char *name)
{
    char tmp[600], dst[600];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    size_t len = 0;
    char *data = bm_e2e_slurp(from, &len);
    if (!data)
        bm_e2e_fail("cannot read %s: %s", from, strerror(errno));
    bm_e2e_write_file(tmp, data, len);
    free(data);
    if (rename(tmp, dst) != 0)
        bm_e2e_fail("cannot install %s as %s: %s", from, dst, strerror(errno));
}

void prog_install_modules(bm_e2e *e)
{
    char src[1100];
    install_file(bm_e2e_build_path(e, "modules/quest.so", src, sizeof src), e->mods_dir,
                 "quest.so");
    install_file(bm_e2e_build_path(e, "modules/battlepass.so", src, sizeof src), e->mods_dir,
                 "battlepass.so");
}

void prog_install_quest(bm_e2e *e, const char *from)
{
    install_file(from, e->mods_dir, "quest.so");
}

/* xpRequired is what each tier costs on top of the previous one (the product's meaning). */
static void pass_json(char *buf, size_t len)
{
    size_t n = (size_t)snprintf(
        buf, len,
        "{\"type\":\"battlepass\",\"name\":\"Season of Blades\",\"gameId\":\"" PROG_GAME "\","
        "\"description\":\"XP from matches, kills and level-ups\",\"seasonTheme\":\"blades\","
        "\"entryRequirement\":{\"type\":\"free\",\"config\":{}},"
        "\"gating\":{\"requiredLevel\":2},\"maxTier\":%d,\"xpSources\":["
        "{\"eventType\":\"MATCH_END\",\"field\":\"score\",\"xpValue\":0.5,\"dailyLimit\":400},"
        "{\"eventType\":\"ENEMY_KILL\",\"xpValue\":4,\"dailyLimit\":100},"
        "{\"eventType\":\"LEVEL_UP\",\"xpValue\":50}],\"tiers\":[",
        PROG_TIERS);
    for (int t = 1; t <= PROG_TIERS && n < len; t++) {
        n += (size_t)snprintf(buf + n, len - n, "%s{\"tier\":%d,\"xpRequired\":%g",
                              t > 1 ? "," : "", t, prog_pass_need(t) - prog_pass_need(t - 1));
        char type[32], config[128];
        if (prog_pass_reward(t, 0, type, sizeof type, config, sizeof config) && n < len)
            n += (size_t)snprintf(buf + n, len - n,
                                  ",\"freeReward\":{\"type\":\"%s\",\"config\":%s}", type, config);
        if (prog_pass_reward(t, 1, type, sizeof type, config, sizeof config) && n < len)
            n += (size_t)snprintf(buf + n, len - n,
                                  ",\"premiumReward\":{\"type\":\"%s\",\"config\":%s}", type,
                                  config);
        if (n < len)
            n += (size_t)snprintf(buf + n, len - n, "}");
    }
    if (n + 3 > len)
        bm_e2e_fail("battle pass document too long");
    snprintf(buf + n, len - n, "]}");
}

void prog_campaigns_create(bm_e2e *e, prog_campaigns *c, int with_pass)
{
    memset(c, 0, sizeof *c);
    bm_e2e_campaign(e,
                    "{\"type\":\"quest\",\"name\":\"Sword duelist\",\"gameId\":\"" PROG_GAME "\","
                    "\"description\":\"Five sword kills and a ranked match\",\"ongoing\":true,"
                    "\"conditions\":["
                    "{\"type\":\"count\",\"eventType\":\"ENEMY_KILL\",\"target\":5,"
                    "\"filter\":{\"weapon\":\"sword\"},\"description\":\"5 sword kills\"},"
                    "{\"type\":\"count\",\"eventType\":\"MATCH_END\",\"target\":1,"
                    "\"filter\":{\"mode\":\"ranked\"},\"description\":\"a ranked match\"}],"
                    "\"reward\":{\"type\":\"in_game\",\"config\":{\"item\":\"duelist_chest\"}},"
                    "\"repeatable\":true,\"cooldownHours\":2}",
                    c->quest_a, sizeof c->quest_a);
    char doc[2048];
    snprintf(doc, sizeof doc,
             "{\"type\":\"quest\",\"name\":\"Ranked veteran\",\"gameId\":\"" PROG_GAME "\","
             "\"description\":\"After the duelist: 60 kills over 3 matches, and level up\","
             "\"conditions\":["
             "{\"type\":\"value\",\"eventType\":\"MATCH_END\",\"field\":\"stats.kills\","
             "\"aggregate\":\"sum\",\"operator\":\"gte\",\"target\":60},"
             "{\"type\":\"count\",\"eventType\":\"MATCH_END\",\"target\":3},"
             "{\"type\":\"exists\",\"eventType\":\"LEVEL_UP\"}],"
             "\"reward\":{\"type\":\"token\",\"config\":{\"amount\":100}},"
             "\"gating\":{\"requiredQuests\":[\"%s\"]},\"repeatable\":false}",
             c->quest_a);
    bm_e2e_campaign(e, doc, c->quest_b, sizeof c->quest_b);
    if (with_pass) {
        char pass[8192];
        pass_json(pass, sizeof pass);
        bm_e2e_campaign(e, pass, c->pass, sizeof c->pass);
    }
}

void prog_fast_restarts(bm_e2e *e)
{
    char bin[1100], *out = NULL;
    char *argv[] = {(char *)bm_e2e_build_path(e, "brightmatter", bin, sizeof bin), "config", NULL};
    int rc = bm_e2e_run(e, argv, &out, 10000);
    if (rc == 0 && out && strstr(out, "session_timeout_ms") != NULL)
        bm_e2e_setenv(e, "BM_KAFKA_SESSION_TIMEOUT_MS", "3000");
    free(out);
}

int prog_quest_generation(bm_e2e *e, char *version, size_t len)
{
    json_t *m = bm_e2e_modules(e);
    size_t i;
    json_t *mod;
    int gen = -1;
    json_array_foreach(json_object_get(m, "modules"), i, mod)
    {
        const char *name = json_string_value(json_object_get(mod, "name"));
        if (!name || strcmp(name, "quest") != 0)
            continue;
        gen = (int)json_integer_value(json_object_get(mod, "generation"));
        const char *v = json_string_value(json_object_get(mod, "version"));
        snprintf(version, len, "%s", v ? v : "");
    }
    json_decref(m);
    if (gen < 0)
        bm_e2e_fail("no quest module loaded");
    return gen;
}

void prog_assert_no_module_errors(bm_e2e *e, const prog_campaigns *c)
{
    json_t *m = bm_e2e_modules(e);
    const char *ids[3] = {c->quest_a, c->quest_b, c->pass};
    char bad[512] = "";
    for (int i = 0; i < 3 && !bad[0]; i++) {
        if (!ids[i][0])
            continue;
        json_t *camp = bm_e2e_modules_campaign(m, ids[i]);
        const char *module = json_string_value(json_object_get(camp, "module"));
        long long errors = json_integer_value(json_object_get(camp, "errors"));
        if (!camp)
            snprintf(bad, sizeof bad, "campaign %s is not loaded", ids[i]);
        else if (!module || !module[0])
            snprintf(bad, sizeof bad, "campaign %s is served by no module", ids[i]);
        else if (errors != 0)
            snprintf(bad, sizeof bad, "campaign %s counted %lld module errors", ids[i], errors);
    }
    json_decref(m);
    if (bad[0])
        bm_e2e_fail("%s", bad);
}
