/* tournament module: parsed campaign configuration and the ranking/prize math. */
#ifndef BM_TOURNAMENT_H
#define BM_TOURNAMENT_H

#include <stddef.h>
#include <stdint.h>

#include <brightmatter/module.h>

#include "period.h"

/* Command event types (TOURNAMENT_ENTRY / TOURNAMENT_JOIN), keyed by user on game.events. */
#define TN_CMD_ENTRY "bm.tournament.entry"
#define TN_CMD_JOIN "bm.tournament.join"

/* Bounds that keep configs and result tables small. */
#define TN_MAX_PRIZE_LINES 64
#define TN_MAX_PRIZE_RANK 10000
#define TN_MAX_COMMUNITIES 32
/* Largest prize pool in minor units that a double still counts exactly (2^53). */
#define TN_MAX_MINOR 9007199254740992LL

/* Recurring: runs kept per player until finalised (older copies are dropped,
 * counted as tournament_runs_dropped), and runs the tick looks back over. */
#define TN_KEEP_RUNS 8

/* State flag bits (bm_state.flags). */
#define TN_FLAG_ENTERED 1 /* entry fee paid (or joined with it) */
#define TN_FLAG_JOINED 2  /* TOURNAMENT_JOIN recorded */

enum tn_agg { TN_SUM = 0, TN_MAX = 1, TN_COUNT = 2 };

/* One line of prizePool.distribution: ranks [from, to] each get bp basis points. */
typedef struct tn_prize_line {
    int from, to;
    int64_t bp; /* hundredths of a percent, per rank */
} tn_prize_line;

typedef struct tn_cfg {
    char *id; /* campaign id (owned copy) */
    char *event_type;
    char *field; /* dotted path under data; NULL with count or a formula */
    enum tn_agg agg;
    bm_formula *formula; /* NULL = none */
    int64_t start_ms, end_ms;
    int64_t grace_ms;     /* events processed before end + grace still count */
    int max_participants; /* 0 = unlimited */
    int max_attempts;     /* 0 = unlimited */
    int join_required;
    double fee; /* 0 = no fee */
    int has_level;
    double min_level;
    char *communities[TN_MAX_COMMUNITIES];
    size_t ncommunities;
    /* prize pool */
    int64_t total_minor; /* totalValue in minor units */
    int decimals;        /* minor units per unit = 10^decimals */
    tn_prize_line lines[TN_MAX_PRIZE_LINES];
    size_t nlines;
    char *reward_type;
    char *reward_config; /* JSON object text */
    int by_community;    /* scoreBy "community": communities compete, members' scores add up */
    int split_by_score;  /* community prizes: 0 equal shares, 1 in proportion to scores */
    /* recurring (resetSchedule + duration): each run starts at a period start of
     * the calendar and lasts duration_ms; runs lie inside [start_ms, end_ms) */
    int recurring;
    bm_period sched;
    int64_t duration_ms;
    /* what this process has seen done (the claims in PostgreSQL are the truth) */
    int started_done;
    int final_done;
    int64_t started_run;             /* recurring: the last run announced */
    int64_t done_runs[TN_KEEP_RUNS]; /* recurring: runs seen finalised (0 = none) */
    int64_t seen_run[TN_KEEP_RUNS];  /* recurring: runs seen claimed elsewhere once... */
    int64_t seen_ms[TN_KEEP_RUNS];   /* ...and when (checked again 10 s later) */
} tn_cfg;

/* One player's standing in one run: the live state fields, or a past run's copy. */
typedef struct tn_slot {
    double value, aux;
    int64_t count, reached_ms, first_ms, updated_ms;
    int32_t flags;
    char team[72]; /* scoreBy community: the community scored for ("" = none yet) */
} tn_slot;

/* One player's final standing input. */
typedef struct tn_entry {
    const char *user;
    double score;
    int64_t reached_ms; /* when the score was reached: earlier ranks higher */
    int64_t seat_ms;    /* event time of the first counted score: seats go in this order */
    const char *team;   /* scoreBy community: the community the player scores for */
} tn_entry;

/* One row of the results table. */
typedef struct tn_result {
    int position;     /* 1..n, unique */
    int rank;         /* shared by tied players: the best position of the tie */
    const char *user; /* points into the entries */
    double score;
    int64_t prize; /* minor units; 0 = none */
    int64_t reached_ms;
    const char *team; /* the entry's team (scoreBy community) */
} tn_result;

/* Finalisation waits this long after endDate + grace, so that batches that
 * counted events just before the cut have committed before standings are read. */
#define TN_SETTLE_MS 3000
/* Most entrants a finalisation reads (seats need every entrant's seat time). */
#define TN_MAX_ENTRANTS 50000

/*
 * Ranks the committed standings and pays the prizes, exactly once across
 * processes (claim_once "finalise", or "finalise:<run>" for a run of a
 * recurring tournament, in the batch's transaction). `cancelled` records the
 * end without prizes. `run` is the run's start (recurring only). BM_OK,
 * BM_SKIP (already done elsewhere), BM_RETRY / BM_ERROR.
 */
int tn_finalise(const bm_host_api *api, bm_host *host, tn_cfg *cfg, bm_batch *b, int64_t now,
                int cancelled, int64_t run);

/* Emits the start of the tournament (or of the current run) once (claim_once "started"). */
void tn_announce_start(const bm_host_api *api, tn_cfg *cfg, bm_batch *b, int64_t now);

/* --- runs (tournament_period.c) --- */

/* The run event time t falls in: 0 with [*start, *end), -1 when t is in none
 * (outside the window, or between two runs of a recurring tournament). */
int tn_run_of(const tn_cfg *cfg, int64_t t, int64_t *start, int64_t *end);
/* The run an entry or join at time t is for: a one-off's window until its end;
 * for a recurring tournament, the run of t's period, or the next run once
 * that one has ended. 0, or -1 when there is none. */
int tn_run_for_command(const tn_cfg *cfg, int64_t t, int64_t *start, int64_t *end);
/* The run of period index idx: 0 with bounds, -1 when it is not inside the window. */
int tn_run_at(const tn_cfg *cfg, int64_t idx, int64_t *start, int64_t *end);
/* A run's name, the RFC 3339 UTC time of its start (recurring), "" for a one-off. */
void tn_run_name(const tn_cfg *cfg, int64_t run, char *buf, size_t len);
/* The player's standing in run `run` (recurring state keeps the live run in the
 * numeric fields, {"p": run start} in the document, and runs not yet finalised
 * under "h"). */
void tn_slot_get(const tn_cfg *cfg, const bm_state *st, int64_t run, tn_slot *s);
/* Writes the standing back (rolling the live run over when `run` is newer) and
 * calls state_put; BM_OK or BM_RETRY. */
int tn_slot_put(const bm_host_api *api, bm_host *host, const tn_cfg *cfg, bm_batch *b, bm_state *st,
                int64_t run, const tn_slot *s);

/* Parses and validates a tournament document; NULL with err naming the field. */
tn_cfg *tn_cfg_parse(const bm_host_api *api, bm_host *host, const bm_campaign *c, char *err,
                     size_t errlen);
void tn_cfg_free(const bm_host_api *api, tn_cfg *cfg);

/* Prize of each position 1..max (minor units, remainder to position 1) into
 * out[0..max-1]; returns the sum, never above total_minor. */
int64_t tn_prize_table(const tn_cfg *cfg, int64_t *out, int max);

/* Highest rank that carries a prize (0 = none). */
int tn_prize_ranks(const tn_cfg *cfg);

/*
 * Seats, ranks and prizes. Keeps the first max_participants entries by
 * (seat_ms, user), orders them by (score desc, reached_ms asc, user asc),
 * gives tied players (same score and reached_ms) the shared prize of the
 * positions they occupy. Sorts `entries` in place; out has room for n rows;
 * returns the number of result rows, or -1 out of memory. *refused gets the
 * number of players left without a seat.
 */
int tn_rank(const tn_cfg *cfg, tn_entry *entries, size_t n, tn_result *out, size_t *refused);

/*
 * Splits a community's prize among its n members (given in rank order:
 * score desc, reached asc, user asc) into share[]: equal shares, or in
 * proportion to their scores (equal when the scores sum to <= 0); the minor
 * units left by the floors go one each to the members in rank order. The
 * shares always sum to prize.
 */
void tn_split(int64_t prize, const tn_entry *members, size_t n, int by_score, int64_t *share);

#endif
