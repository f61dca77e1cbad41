/*
 * The quest module of modules/quest/, built unchanged, under another version
 * string: what a studio ships when it rebuilds the module. The CMake target
 * compiles modules/quest/quest.c with bm_module_entry renamed to
 * bm_quest_entry_base; the entry here hands out the same descriptor with
 * version BM_QUEST_TEST_VERSION, so the loader sees a different module
 * version while the code that counts is the very same.
 */
#include <brightmatter/module.h>

const bm_module *bm_quest_entry_base(void);

static bm_module g_module;

BM_MODULE_EXPORT const bm_module *bm_module_entry(void)
{
    /* The loader calls this once per load of this copy, from one thread. */
    if (!g_module.name) {
        g_module = *bm_quest_entry_base();
        g_module.version = BM_QUEST_TEST_VERSION;
    }
    return &g_module;
}
