/*
 * Progression end-to-end scenario: two quests (a repeatable one with a
 * cooldown and a filtered count, a one-shot one that requires the first and
 * has a value condition) and a battle pass (daily-limited XP sources,
 * explicit tiers, free and premium rewards), a deterministic stream of game
 * events and battle pass commands spanning a UTC midnight, an independent
 * oracle over the generated structs, and the comparison of everything the
 * engine wrote to PostgreSQL with it.
 *
 * The oracle is written from modules/quest/README.md and
 * modules/battlepass/README.md; it reads the C structs the stream was made
 * from, never the JSON the engine reads, and shares no code with the modules.
 */
#ifndef BM_E2E_PROG_H
#define BM_E2E_PROG_H

#include <stddef.h>
#include <stdint.h>

#include "e2e/common/e2e.h"

#define PROG_GAME "prog-game"
#define PROG_OTHER_GAME "other-game"
#define PROG_TIERS 8
#define PROG_HOUR_MS 3600000LL
#define PROG_DAY_MS (24 * PROG_HOUR_MS)

/* What a message is. PK_OTHER_GAME is a MATCH_END of another game (routed nowhere). */
enum { PK_MATCH, PK_KILL, PK_LEVEL_UP, PK_LOGIN, PK_OTHER_GAME, PK_PURCHASE, PK_CLAIM };
enum { PW_SWORD, PW_BOW, PW_RIFLE };

/* One message on game.events, as the generator decided it. */
typedef struct prog_event {
    uint8_t kind;
    uint8_t weapon;  /* PK_KILL */
    uint8_t ranked;  /* PK_MATCH, PK_OTHER_GAME: data.mode "ranked" or "casual" */
    uint8_t premium; /* PK_CLAIM */
    uint8_t bmctl;   /* produced by running bmctl (its own eventId and timestamp) */
    int16_t level;   /* data.level, -1 = absent */
    int16_t tier;    /* PK_CLAIM; 0 or > PROG_TIERS are invalid tiers */
    int32_t user;
    int32_t score;  /* PK_MATCH: data.score, -1 = absent */
    int32_t kills;  /* PK_MATCH: data.stats.kills, -1 = absent */
    int32_t dup_of; /* a re-send of message dup_of (same bytes), -1 = none */
    int64_t t;      /* event time, ms */
} prog_event;

typedef struct prog_campaigns {
    char quest_a[64]; /* repeatable, 2 h cooldown: 5 sword kills + 1 ranked match */
    char quest_b[64]; /* one-shot, requires quest_a: 60 kills over >= 3 matches, a level-up */
    char pass[64];    /* battle pass; empty when the scenario has none */
} prog_campaigns;

typedef struct prog_stream {
    prog_event *ev;
    size_t n, cap;
    int users;
    int with_pass;
    int64_t midnight;      /* the UTC midnight the stream's event times span */
    long long duplicates;  /* messages the engine must drop as already applied */
    uint8_t *purchase_out; /* per user: a purchase command went out */
} prog_stream;

/* --- setup (prog_setup.c) ----------------------------------------------------------- */

/* Copies quest.so and battlepass.so from the build into e's modules dir. */
void prog_install_modules(bm_e2e *e);
/* Creates the quests (and the battle pass when with_pass) with `bmctl campaign create`. */
void prog_campaigns_create(bm_e2e *e, prog_campaigns *c, int with_pass);
/* Lowers kafka.session_timeout_ms to 3 s when the engine offers the key, so a
 * restart after kill -9 does not wait out the dead member's 10 s session. */
void prog_fast_restarts(bm_e2e *e);
/* Installs `from` as <modules>/quest.so: a hidden temporary renamed over the old file. */
void prog_install_quest(bm_e2e *e, const char *from);
/* The version and generation of the loaded quest module (`bmctl modules --json`). */
int prog_quest_generation(bm_e2e *e, char *version, size_t len);

/* --- the stream (prog_stream.c) ------------------------------------------------------ */

/*
 * n messages from `users` players (activity differs per player), event times
 * over 12 h around a UTC midnight that lies 8 to 32 h in the past (inside the
 * engine's accepted bounds), some out of order, some re-sent, and with
 * with_pass purchase and claim commands (repeated claims, premium claims
 * before the purchase, invalid tiers, repeated purchases).
 */
void prog_stream_generate(prog_stream *s, uint64_t seed, int users, size_t n, int with_pass);
void prog_stream_free(prog_stream *s);
/* Appends a command that a `bmctl battlepass purchase|claim` run produced (now, after
 * every message before it for that user, which share its partition). */
void prog_stream_add_bmctl(prog_stream *s, int kind, int user, int tier, int premium);
void prog_user_id(int user, char *buf, size_t len);
/* Message i as the game SDK (or bmctl) writes it; returns its length. */
size_t prog_event_json(const prog_campaigns *c, const prog_stream *s, size_t i, char *buf,
                       size_t len);
/* Produces messages [from, to) with p, keyed by user (bmctl ones are skipped). */
void prog_stream_produce(rd_kafka_t *p, const prog_campaigns *c, const prog_stream *s, size_t from,
                         size_t to);

/* --- the oracle (prog_oracle.c) -------------------------------------------------------- */

typedef struct prog_quest_user {
    long long counted; /* events counted (event_count) */
    int completions;
    int64_t first_done, last_done;
    long long n[3]; /* matching events per condition, current attempt */
    double v[3];    /* value condition aggregate, current attempt */
    int met;        /* conditions met (current_value) */
} prog_quest_user;

typedef struct prog_pass_user {
    int touched; /* a row exists: XP, the purchase or a granted claim */
    int purchased;
    double xp;
    long long xp_events;
    uint8_t claimed[2][PROG_TIERS + 1]; /* [0] free, [1] premium */
    int ndays;
    int64_t day[64];
    double used[64][3];
    int level; /* the player's level: of the latest event by event time; -1 = none yet */
    int64_t level_t;
} prog_pass_user;

enum { PR_INVALID_TIER, PR_NOT_PURCHASED, PR_NOT_REACHED, PR_NO_REWARD, PR_ALREADY, PR_N };

typedef struct prog_oracle {
    int users;
    int with_pass;
    prog_quest_user *qa, *qb;
    prog_pass_user *bp;
    long long quest_grants, pass_grants;
    long long applied, duplicates;
    long long purchase_acks, purchase_repeats; /* battlepass.progress purchase messages */
    long long refused[PR_N];
} prog_oracle;

/* Applies the stream, message by message, as the READMEs say. */
void prog_oracle_run(prog_oracle *o, const prog_stream *s);
void prog_oracle_free(prog_oracle *o);
/* Tiers completed with xp (0 = none). */
int prog_pass_tier(double xp);
/* The tier the player is on, as the product numbers it: 1 at the start, at most PROG_TIERS. */
int prog_pass_current(double xp);
/* XP that reaches tier (1..PROG_TIERS). */
double prog_pass_need(int tier);
/* The reward of a tier on a track: 1 with its type and config JSON, 0 when there is none. */
int prog_pass_reward(int tier, int premium, char *type, size_t tlen, char *config, size_t clen);
/* Prints what the stream exercised (completions, tiers, refusals). */
void prog_oracle_summary(const prog_oracle *o);

/* --- the comparison (prog_verify.c) ----------------------------------------------------- */

/*
 * Every user_progress row of the campaigns, every reward_fulfillments row
 * (exactly the oracle's idempotency keys, one row each, with the configured
 * reward), the reward.events and quest.progress outbox counts, the refusal
 * messages by reason, and the consumer_offsets counters, against the oracle.
 */
void prog_verify(bm_e2e *e, const prog_campaigns *c, const prog_stream *s, const prog_oracle *o);
/* No campaign of the scenario counted a module error in this engine's life. */
void prog_assert_no_module_errors(bm_e2e *e, const prog_campaigns *c);

#endif
