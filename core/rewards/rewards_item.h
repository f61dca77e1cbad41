/* One claimed reward as the rewards role carries it (internal to core/rewards). */
#ifndef BM_REWARDS_ITEM_H
#define BM_REWARDS_ITEM_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <brightmatter/module.h>

#define BM_RW_MAGIC 0x52574954454d3031ULL /* "RWITEM01" */
#define BM_RW_MAX_SECRETS 4
#define BM_RW_RESULT 4096

enum { BM_RW_RELEASED = 100 }; /* not attempted: handed back unchanged */

typedef struct bm_rw_item {
    uint64_t magic; /* BM_RW_MAGIC: the host-API functions check it */
    bm_reward pub;  /* what the module sees */
    char *webhook_url;
    const char *saved;  /* fulfillment_data at claim, NULL if none */
    const char *wallet; /* community membership wallet, NULL if none */
    struct bm_rewards *role;
    const char *secrets[BM_RW_MAX_SECRETS];
    int nsecrets;
    char endpoint[256]; /* scheme://host:port the delivery goes to (concurrency cap) */
    int64_t created_ms; /* grant time */
    int64_t claimed_ms;
    int rc; /* BM_OK, BM_RETRY, BM_ERROR or BM_RW_RELEASED */
    char result[BM_RW_RESULT];
    char *strs; /* one allocation holding every string above */
    size_t strs_len;
    struct bm_rw_item *next;
} bm_rw_item;

/* The item a module's bm_reward belongs to, or NULL when it is not the host's. */
bm_rw_item *bm_rw_item_of(const bm_reward *r);

/* The role's connection for writes during a delivery, locked; NULL when the
 * database cannot be reached. Unlock with bm_rw_save_conn_unlock. */
PGconn *bm_rw_save_conn_lock(struct bm_rewards *role);
void bm_rw_save_conn_unlock(struct bm_rewards *role, int broken);

#endif
