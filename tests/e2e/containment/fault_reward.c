/*
 * Test hook: the reward template (sdk/reward-template/reward.c, its entry
 * compiled as reward_real_entry) whose on_reward never returns for a reward
 * whose config mentions "hang", and crashes (SIGSEGV) on one that mentions
 * "crash"; every other reward goes to the real ledger.
 */
#include <brightmatter/module.h>

#include <stdint.h>
#include <string.h>
#include <unistd.h>

const bm_module *reward_real_entry(void);

static bm_module g_mod;
static int (*g_real)(void *instance, const bm_reward *r, char *result, size_t resultlen);

/* 0; 16 bytes past it is an unmapped address: a real SIGSEGV (see fault_hook.c). */
static volatile uintptr_t g_nowhere;

static int fault_on_reward(void *instance, const bm_reward *r, char *result, size_t resultlen)
{
    if (r->config_json && strstr(r->config_json, "crash"))
        *(volatile int *)(g_nowhere + 16) = 1;
    if (r->config_json && strstr(r->config_json, "hang"))
        for (;;) /* never returns: the author blocked the reward worker */
            sleep(1);
    return g_real(instance, r, result, resultlen);
}

BM_MODULE_EXPORT const bm_module *bm_module_entry(void);

const bm_module *bm_module_entry(void)
{
    g_mod = *reward_real_entry();
    g_real = g_mod.on_reward;
    g_mod.version = "2.0.0-reward-hang";
    g_mod.on_reward = fault_on_reward;
    return &g_mod;
}
