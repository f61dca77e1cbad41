/* Host-API functions reward modules call inside on_reward. */
#include <stddef.h>

#include "rewards/rewards.h"
#include "rewards/rewards_item.h"

bm_rw_item *bm_rw_item_of(const bm_reward *r)
{
    if (!r)
        return NULL;
    bm_rw_item *it = (bm_rw_item *)((char *)r - offsetof(bm_rw_item, pub));
    return it->magic == BM_RW_MAGIC ? it : NULL;
}

const char *bm_rewards_api_webhook_url(const bm_reward *r)
{
    bm_rw_item *it = bm_rw_item_of(r);
    return it && it->webhook_url && *it->webhook_url ? it->webhook_url : NULL;
}

int bm_rewards_api_secrets(const bm_reward *r, const char **out, int max)
{
    bm_rw_item *it = bm_rw_item_of(r);
    if (!it)
        return 0;
    int n = 0;
    for (; n < it->nsecrets && n < max; n++)
        out[n] = it->secrets[n];
    return n;
}
