/* Host-API functions reward modules call inside on_reward. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

const char *bm_rewards_api_saved(const bm_reward *r)
{
    bm_rw_item *it = bm_rw_item_of(r);
    return it ? it->saved : NULL;
}

const char *bm_rewards_api_wallet(const bm_reward *r)
{
    bm_rw_item *it = bm_rw_item_of(r);
    return it ? it->wallet : NULL;
}

/* Every write below is fenced like the record: this claim must still own the row. */
int bm_rewards_api_save(const bm_reward *r, const char *json)
{
    bm_rw_item *it = bm_rw_item_of(r);
    if (!it || !json)
        return -1;
    PGconn *pg = bm_rw_save_conn_lock(it->role);
    if (!pg)
        return -1;
    char id[24], att[16];
    snprintf(id, sizeof id, "%lld", (long long)r->fulfillment_id);
    snprintf(att, sizeof att, "%d", (int)r->attempt);
    const char *v[3] = {id, att, json};
    PGresult *res = PQexecParams(pg,
                                 "UPDATE reward_fulfillments SET fulfillment_data = "
                                 "COALESCE(fulfillment_data, '{}') || $3::jsonb, updated_at = "
                                 "now() WHERE id = $1 AND status = 'processing' AND attempts = $2",
                                 3, NULL, v, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    int rc = ok && strcmp(PQcmdTuples(res), "1") == 0 ? 0 : -1;
    PQclear(res);
    bm_rw_save_conn_unlock(it->role, !ok);
    return rc;
}

static int exec_cmd(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 0 : -1;
}

int64_t bm_rewards_api_nonce(const bm_reward *r, const char *account, int64_t chain_next)
{
    bm_rw_item *it = bm_rw_item_of(r);
    if (!it || !account || chain_next < 0)
        return -1;
    PGconn *pg = bm_rw_save_conn_lock(it->role);
    if (!pg)
        return -1;
    char id[24], att[16], next[24];
    snprintf(id, sizeof id, "%lld", (long long)r->fulfillment_id);
    snprintf(att, sizeof att, "%d", (int)r->attempt);
    snprintf(next, sizeof next, "%lld", (long long)chain_next);
    int64_t nonce = -1;
    int broken = 0;
    PGresult *res = NULL;
    if (exec_cmd(pg, "BEGIN") != 0)
        goto fail;
    const char *v1[3] = {id, att, account};
    res = PQexecParams(pg,
                       "SELECT fulfillment_data->>'nonce', fulfillment_data->>'nonceAccount' = $3 "
                       "FROM reward_fulfillments WHERE id = $1 AND status = 'processing' AND "
                       "attempts = $2 FOR UPDATE",
                       3, NULL, v1, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        goto fail; /* the lease was taken over */
    if (!PQgetisnull(res, 0, 0) && strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
        nonce = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        res = NULL;
        if (exec_cmd(pg, "COMMIT") != 0)
            goto fail;
        bm_rw_save_conn_unlock(it->role, 0);
        return nonce;
    }
    PQclear(res);
    const char *v2[2] = {account, next};
    res = PQexecParams(pg,
                       "INSERT INTO chain_nonces (account, next_nonce) VALUES ($1, $2::bigint + 1) "
                       "ON CONFLICT (account) DO UPDATE SET next_nonce = "
                       "GREATEST(chain_nonces.next_nonce, $2::bigint) + 1, updated_at = now() "
                       "RETURNING next_nonce - 1",
                       2, NULL, v2, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        goto fail;
    nonce = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)nonce);
    const char *v3[3] = {id, n, account};
    res =
        PQexecParams(pg,
                     "UPDATE reward_fulfillments SET fulfillment_data = COALESCE(fulfillment_data, "
                     "'{}') || jsonb_build_object('nonce', $2::bigint, 'nonceAccount', $3::text) "
                     "WHERE id = $1",
                     3, NULL, v3, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        goto fail;
    PQclear(res);
    res = NULL;
    if (exec_cmd(pg, "COMMIT") != 0)
        goto fail;
    bm_rw_save_conn_unlock(it->role, 0);
    return nonce;
fail:
    PQclear(res);
    broken = PQstatus(pg) != CONNECTION_OK;
    if (!broken)
        PQclear(PQexec(pg, "ROLLBACK"));
    bm_rw_save_conn_unlock(it->role, broken);
    return -1;
}
