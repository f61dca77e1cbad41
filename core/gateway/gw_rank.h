/*
 * The rank index: an in-memory order-statistic tree per large leaderboard,
 * so a player's rank, the players around them and any page of the board
 * answer in microseconds instead of a count over the index. Built from
 * user_progress once, then fed by leaderboard.updates (written to the outbox
 * in the same transaction as the state, published by the relay), so it
 * follows the committed state with the relay's delay. Boards smaller than
 * http.rank_index_min_entries are answered by PostgreSQL directly.
 */
#ifndef BM_GW_RANK_H
#define BM_GW_RANK_H

#include <jansson.h>

struct bm_gateway;
typedef struct gw_ranks gw_ranks;

/* Starts the leaderboard.updates reader; NULL with err. */
gw_ranks *gw_ranks_start(struct bm_gateway *g, char *err, size_t errlen);
void gw_ranks_stop(gw_ranks *rk);

/* Rank and score of user: 1 found, 0 not on the board, -1 board not indexed (use SQL;
 * an index build may have been started for it). */
int gw_rank_user(gw_ranks *rk, const char *board, const char *user, long long *rank, double *score);
/* Appends entries [first, first + n) (0-based rank order) to arr: number appended, or -1
 * when the board is not indexed. */
int gw_rank_range(gw_ranks *rk, const char *board, long long first, long long n, json_t *arr);
/* Entries around user (window in all, the player included): as gw_rank_range; 0 when the
 * user is not on the board. */
int gw_rank_around(gw_ranks *rk, const char *board, const char *user, long long window,
                   json_t *arr);

#endif
