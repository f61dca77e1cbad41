/*
 * Test hook, not part of a module: built only with -DTEMPLATE_BREAK=<what>.
 * module.c is then compiled with its entry renamed to template_real_entry,
 * and this file exports bm_module_entry returning a copy of the real
 * descriptor with one header field wrong, so a test can prove the loader
 * refuses it naming that field.
 */
#include <brightmatter/module.h>

#include <string.h>

const bm_module *template_real_entry(void);

BM_MODULE_EXPORT const bm_module *bm_module_entry(void);

const bm_module *bm_module_entry(void)
{
    static bm_module broken;
    memcpy(&broken, template_real_entry(), sizeof broken);
#if defined(TEMPLATE_BREAK_MAGIC)
    broken.magic = 0x4241444d41474943ULL; /* "BADMAGIC" */
#elif defined(TEMPLATE_BREAK_ABI)
    broken.abi_version = BM_ABI_VERSION + 1;
#elif defined(TEMPLATE_BREAK_SIZE)
    broken.struct_size = (uint32_t)offsetof(bm_module, spare);
#else
#error "TEMPLATE_BREAK must be magic, abi or size"
#endif
    return &broken;
}
