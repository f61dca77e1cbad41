/*
 * BrightMatter module ABI.
 *
 * The only header a module includes. A module is a shared object that exports
 * exactly one symbol, bm_module_entry(), returning a pointer to a static
 * bm_module. The host checks the fixed header (magic, ABI version, struct
 * size, build signature) before it reads anything else, then the identity,
 * then that every spare slot is NULL, and refuses the module naming the field
 * that differs.
 *
 * Modules never open their own database or broker connections on the event
 * path: all state goes through the host-API table handed to init(). That is
 * what makes a module exactly-once, batched and hot-reloadable without any
 * effort of its own.
 *
 * Compatibility rules:
 *  - bm_module only grows by taking a spare slot (the ABI version is bumped
 *    and struct_size stays the same) or, for a breaking change, by a new
 *    BM_ABI_VERSION.
 *  - ABI version 2 took three spare slots: on_campaign_tick, campaign_changed
 *    and on_campaign_end. Version-1 modules are still accepted with their old
 *    meaning: version 1 required every spare slot to be NULL, so for them the
 *    three new callbacks read as "not provided" (no per-campaign ticks, no end
 *    callback, campaign_remove without the reason). The host still marks their
 *    campaigns ended. A version-1 module with one of those slots set is refused
 *    naming the slot ("spare[0]: must be NULL for abi_version 1").
 *  - bm_host_api only grows by appending fields; it starts with its own size
 *    so a module can test `api->size > offsetof(bm_host_api, field)` before
 *    calling a newer function.
 */
#ifndef BRIGHTMATTER_MODULE_H
#define BRIGHTMATTER_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "BMMODULE" in ASCII: the first eight bytes of every module struct. */
#define BM_MODULE_MAGIC 0x424d4d4f44554c45ULL

/* Bumped on any change a compiled module could not survive. */
#define BM_ABI_VERSION 2u
/* Oldest ABI version the host still loads (see the compatibility rules). */
#define BM_ABI_MIN_VERSION 1u

/* Version of the host-API table this header describes. */
#define BM_HOST_API_VERSION 4u

/* Number of reserved callback slots at the end of bm_module (8 in ABI 1). */
#define BM_MODULE_SPARE_SLOTS 5

/*
 * Build signature: the sizes that must agree between host and module for the
 * structs below to mean the same thing on both sides. One byte each:
 * pointer, time_t, long, size_t, double, byte order (1 = little endian).
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BM_SIG_LITTLE_ENDIAN 1ULL
#else
#define BM_SIG_LITTLE_ENDIAN 0ULL
#endif
#define BM_BUILD_SIGNATURE                                                                         \
    ((uint64_t)sizeof(void *) | ((uint64_t)sizeof(time_t) << 8) | ((uint64_t)sizeof(long) << 16) | \
     ((uint64_t)sizeof(size_t) << 24) | ((uint64_t)sizeof(double) << 32) |                         \
     (BM_SIG_LITTLE_ENDIAN << 40))

/* Exported from the module with default visibility; everything else hidden. */
#if defined(__GNUC__)
#define BM_MODULE_EXPORT __attribute__((visibility("default")))
#else
#define BM_MODULE_EXPORT
#endif

/* Return codes shared by every callback. */
enum {
    BM_OK = 0,     /* done */
    BM_SKIP = 1,   /* nothing to do for this input (not an error) */
    BM_RETRY = -1, /* transient failure: the host retries later */
    BM_ERROR = -2  /* permanent failure for this input: counted and logged */
};

/* What a module serves. */
enum {
    BM_KIND_CAMPAIGN = 1, /* consumes game events for one campaign type */
    BM_KIND_REWARD = 2    /* delivers rewards of one reward type */
};

/* Log levels for bm_host_api.log. */
enum { BM_LOG_DEBUG = 0, BM_LOG_INFO = 1, BM_LOG_WARN = 2, BM_LOG_ERROR = 3 };

/* Flags for bm_host_api.emit. */
enum {
    BM_EMIT_COALESCE = 1 /* keep only the last message per (topic, key) per batch */
};

/* campaign_changed: why a campaign context is about to be removed. */
enum {
    BM_CAMPAIGN_UPDATED = 1, /* a new version follows at once with campaign_add */
    BM_CAMPAIGN_REMOVED = 2, /* deleted, paused (status draft), or its type lost its module */
    BM_CAMPAIGN_ENDED = 3,   /* ended (on_campaign_end ran in some process first) */
    BM_CAMPAIGN_RETIRED = 4  /* this module generation is retired; the next one re-adds it */
};

/* on_campaign_end: how a campaign ended. */
enum {
    BM_END_COMPLETED = 1, /* status set to completed */
    BM_END_CANCELLED = 2, /* status set to cancelled */
    BM_END_WINDOW = 3     /* its window closed (end date + engine.campaign_end_grace_s) */
};

/* One row of a campaign's committed standings (standings_top, standings_rank). */
typedef struct bm_standing {
    char user_id[256];
    double value;       /* bm_state.value */
    int64_t reached_ms; /* earlier wins ties */
    int64_t rank;       /* 1-based: value descending, reached_ms, then user_id ascending */
} bm_standing;

/* Opaque host objects; modules only pass them back to the host. */
typedef struct bm_host bm_host;       /* the host, one per module generation */
typedef struct bm_batch bm_batch;     /* the batch being processed */
typedef struct bm_event bm_event;     /* one decoded game event, read-only */
typedef struct bm_routes bm_routes;   /* route table a campaign subscribes in */
typedef struct bm_formula bm_formula; /* a compiled, sandboxed Lua formula */

/* A campaign as the host hands it to a module. Strings live until remove. */
typedef struct bm_campaign {
    const char *id;          /* campaign id (UUID text) */
    const char *game_id;     /* game the campaign listens to */
    const char *type;        /* "leaderboard", "quest", ... (= module serves) */
    const char *name;        /* display name */
    const char *config_json; /* the campaign's config document (JSON text) */
    int64_t start_ms;        /* window start, event time, ms since epoch; 0 = open */
    int64_t end_ms;          /* window end (exclusive); 0 = open */
    int64_t version;         /* bumped on every update of the campaign */
} bm_campaign;

/*
 * Per-(campaign, user) state kept by the host. A module reads and edits the
 * numeric fields in place, sets the document with state_set_doc, then calls
 * state_put; the host writes every touched row once per batch.
 */
typedef struct bm_state {
    double value;         /* score / XP / main counter (sorted on) */
    double aux;           /* second number (e.g. sum for an average) */
    int64_t count;        /* events counted */
    int64_t reached_ms;   /* event time value last changed: earlier wins ties */
    int64_t first_ms;     /* event time of the first counted event */
    int64_t updated_ms;   /* event time of the last counted event */
    int64_t completed_ms; /* event time of completion; 0 = not completed */
    int32_t completed;    /* completion flag (completions for repeatables) */
    int32_t flags;        /* module-defined bits */
    const char *doc;      /* small JSON progress document, NULL = none */
} bm_state;

/* A reward handed to a reward module (kind BM_KIND_REWARD). */
typedef struct bm_reward {
    int64_t fulfillment_id;  /* reward_fulfillments.id */
    const char *idem_key;    /* idempotency key: send it with every external effect */
    const char *campaign_id; /* campaign that granted it */
    const char *user_id;     /* recipient */
    const char *game_id;     /* game of the campaign */
    const char *reward_type; /* "webhook", "in_game", "token", "nft" */
    const char *config_json; /* reward config document */
    int32_t attempt;         /* 1 on the first try */
    int32_t reserved;        /* 0 */
} bm_reward;

/*
 * The host-API table, passed to init(). `size` is sizeof(bm_host_api) as the
 * host compiled it; fields are only ever appended.
 */
typedef struct bm_host_api {
    uint32_t size;    /* sizeof(bm_host_api) in the host */
    uint32_t version; /* BM_HOST_API_VERSION of the host */

    /* Logs one logfmt line with module=<name>; fmt is printf-style. */
    void (*log)(bm_host *h, int level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    /* Event accessors. Strings live until on_event returns. */
    const char *(*event_id)(const bm_event *ev);   /* eventId or NULL */
    const char *(*event_game)(const bm_event *ev); /* gameId */
    const char *(*event_user)(const bm_event *ev); /* userId */
    const char *(*event_type)(const bm_event *ev); /* eventType */
    int64_t (*event_time_ms)(const bm_event *ev);  /* timestamp, ms since epoch */
    /* Number at a dotted path under "data" ("stats.kills"); 0 if found, -1 if not.
     * A string that is entirely a finite decimal number ("3", "-2.5") counts as
     * that number; formula results follow the same rule. */
    int (*event_number)(const bm_event *ev, const char *path, double *out);
    /* String at a dotted path under "data", or NULL. */
    const char *(*event_string)(const bm_event *ev, const char *path);
    /* Nonzero if every key of the JSON object `filter_json` equals the value at
     * that dotted path under "data" (numbers compare numerically). */
    int (*event_matches)(const bm_event *ev, const char *filter_json);

    /* Subscribes a campaign to an event type (call from campaign_add). */
    int (*route)(bm_routes *r, const char *event_type);

    /* State of (campaign, user) in this batch; never NULL (zeroed when new). */
    bm_state *(*state_get)(bm_batch *b, const char *campaign_id, const char *user_id);
    /* Replaces the progress document (copied). */
    int (*state_set_doc)(bm_batch *b, bm_state *st, const char *json);
    /* Marks the state written; if notify_topic is set, one message per
     * (campaign, user) per batch goes to that topic with the new state. */
    int (*state_put)(bm_batch *b, bm_state *st, const char *notify_topic);

    /* Queues an outbox message written in the batch's transaction. */
    int (*emit)(bm_batch *b, const char *topic, const char *key, const char *json, int flags);
    /* Grants a reward: a pending reward_fulfillments row, once per idem_key. */
    int (*reward_grant)(bm_batch *b, const char *campaign_id, const char *user_id,
                        const char *idem_key, const char *reward_json);

    /* Compiles a sandboxed Lua formula; NULL and err filled on failure. */
    bm_formula *(*formula_compile)(bm_host *h, const char *name, const char *source, char *err,
                                   size_t errlen);
    /* Evaluates a formula on an event: BM_OK with *out set, BM_SKIP when the
     * formula returned nil, BM_ERROR when it failed or overran (counted). */
    int (*formula_eval)(bm_formula *f, const bm_event *ev, double *out);
    /* Frees a compiled formula. */
    void (*formula_free)(bm_formula *f);

    /* 1 if the user is an active member of the community, 0 if not, -1 on a
     * database error. Answered from a bulk preload of the batch's users, kept
     * current from config.communities; stable within one batch. */
    int (*community_member)(bm_batch *b, const char *community_id, const char *user_id);

    /* Adds to a counter exported on /metrics as bm_module_<name>. */
    void (*metric_add)(bm_host *h, const char *name, double delta);

    /* Wall-clock now, ms since epoch (event time comes from event_time_ms). */
    int64_t (*now_ms)(bm_host *h);

    /* --- host API version 2 (test api->size before calling) --- */

    /* Claims a named piece of work ("finalise", "period 2026-11") for the
     * calling module and campaign: 1 if this batch claims it, 0 if it was
     * claimed already (committed by any process, or earlier in this batch),
     * -1 on error. A claim commits with the batch or not at all, exactly once
     * across processes and crashes: do the work only when it returns 1, in
     * the same batch. */
    int (*claim_once)(bm_batch *b, const char *work_key);

    /* Committed standings of a campaign (what earlier batches committed; not
     * this batch's own writes). Fills up to `limit` rows of out in rank order;
     * returns the number filled, or -1 on error. */
    int (*standings_top)(bm_batch *b, const char *campaign_id, int limit, bm_standing *out);
    /* The committed standing of one user: 1 with *out filled, 0 if the user
     * has no state, -1 on error. */
    int (*standings_rank)(bm_batch *b, const char *campaign_id, const char *user_id,
                          bm_standing *out);

    /* Writes a module-owned result row (module_results: campaign, kind, key ->
     * JSON document) in the batch transaction; the last write of a key wins.
     * BM_OK, or BM_ERROR when doc_json is not valid JSON or the campaign is
     * unknown. */
    int (*result_put)(bm_batch *b, const char *campaign_id, const char *kind, const char *key,
                      const char *doc_json);

    /* --- progression (host API version 2, appended after result_put) --- */

    /* The player's level, kept by the host per (game, player): the `level` (a
     * number under "data") of the latest, by event time, of the player's events
     * applied so far, this one included; LEVEL_UP events are ordinary events.
     * Persisted with the batch. 0 with *out set, -1 when no event of the player
     * has carried a level yet. */
    int (*player_level)(bm_batch *b, const bm_event *ev, double *out);

    /* Calls fn for every player that has state in the campaign (committed or
     * in this batch), with that state as state_get returns it; fn edits it and
     * calls state_put as on_event would. Stops early when fn returns nonzero.
     * For time-driven decisions (on_tick). 0, or -1 when the host cannot list. */
    int (*state_each)(bm_batch *b, const char *campaign_id,
                      int (*fn)(void *ud, const char *user_id, bm_state *st), void *ud);

    /* 1 if "data" has a value other than null at the dotted path, whatever its
     * type (number, string, boolean, object, array); 0 if not. */
    int (*event_has)(const bm_event *ev, const char *path);
    /* --- host API version 3: for reward modules, inside on_reward (any thread) --- */

    /* The webhook_url of the reward's game, or NULL when the game has none. */
    const char *(*reward_webhook_url)(const bm_reward *r);
    /* The game's webhook signing secrets ("whsec_<base64>"), newest first:
     * fills out[0..max) and returns how many (2 while a rotation's grace
     * period runs, 1 otherwise, 0 when the game has none). Strings live
     * until on_reward returns. */
    int (*reward_secrets)(const bm_reward *r, const char **out, int max);
    /* What reward_save stored in earlier attempts (a JSON object), or NULL. */
    const char *(*reward_saved)(const bm_reward *r);
    /* Merges a JSON object into the reward's stored data now, before an
     * external effect (a signed transaction before its broadcast). 0, or -1
     * when it could not be stored (do not go on with the effect then). */
    int (*reward_save)(const bm_reward *r, const char *json);
    /* The reward's nonce for sending `account`: the one stored with the reward
     * if it has one, else the next of the engine's counter for the account
     * (at least `chain_next`), stored with the reward in the same transaction.
     * -1 when it could not be stored. */
    int64_t (*reward_nonce)(const bm_reward *r, const char *account, int64_t chain_next);
    /* The `wallet` of the user's active community membership metadata, or NULL. */
    const char *(*reward_wallet)(const bm_reward *r);

    /* --- host API version 4 (a host of version 3 or older has no `setting`:
     * test api->size first, and read your own defaults when it is missing) --- */

    /* The engine's configuration value of section.key as text, as the engine
     * loaded it (file, then BM_<SECTION>_<KEY> environment), "" when unset;
     * integers in decimal. Only sections without secrets are answered: today
     * "chain". Any other section (postgres, security, ...) or an unknown key
     * gives NULL. The string lives as long as the module instance; any thread. */
    const char *(*setting)(bm_host *h, const char *section, const char *key);
} bm_host_api;

/* The module descriptor. Fill it with designated initializers. */
typedef struct bm_module {
    /* --- fixed checks: the loader reads these first, in this order --- */
    uint64_t magic;       /* BM_MODULE_MAGIC */
    uint32_t abi_version; /* BM_ABI_VERSION */
    uint32_t struct_size; /* sizeof(bm_module) as compiled */
    uint64_t signature;   /* BM_BUILD_SIGNATURE */

    /* --- identity --- */
    const char *name;        /* unique module name, e.g. "leaderboard" */
    const char *version;     /* module version string, e.g. "1.2.0" */
    uint32_t kind;           /* BM_KIND_CAMPAIGN or BM_KIND_REWARD */
    uint32_t flags;          /* reserved, 0 */
    const char *serves;      /* campaign type or reward type it handles */
    const char *description; /* one line for `bmctl modules` */

    /* --- callbacks --- */

    /* Required. Creates the module instance. `api` and `host` stay valid
     * until destroy. Return BM_OK, or BM_ERROR with err filled. */
    int (*init)(const bm_host_api *api, bm_host *host, void **instance, char *err, size_t errlen);

    /* Campaign modules: validates and adopts a campaign; subscribes it to
     * event types with api->route. *cctx is passed back to on_event. Also the
     * validator of `bmctl campaign create`: errors name the config field. */
    int (*campaign_add)(void *instance, const bm_campaign *c, bm_routes *routes, void **cctx,
                        char *err, size_t errlen);

    /* Campaign modules: drops a campaign (also before re-adding an updated one). */
    void (*campaign_remove)(void *instance, void *cctx);

    /* Campaign modules: applies one event to one campaign. BM_OK / BM_SKIP
     * change nothing for the engine; BM_ERROR is counted for the campaign. */
    int (*on_event)(void *instance, void *cctx, bm_batch *b, const bm_event *ev);

    /* Optional: called about once a second in a batch of its own (writes
     * commit like an event's), once per instance. See on_campaign_tick for
     * the per-campaign form. */
    int (*on_tick)(void *instance, bm_batch *b, int64_t now_ms);

    /* Reward modules: delivers one reward. BM_OK delivered, BM_RETRY try
     * again later, BM_ERROR failed for good (err is stored). Called from the
     * reward role's threads, the generation pinned for the call. */
    int (*on_reward)(void *instance, const bm_reward *r, char *result, size_t resultlen);

    /* Optional: answers a JSON query; *response is malloc'd, the host frees it.
     * Called from other threads (the gateway) while on_event runs: the host
     * keeps the instance and cctx alive for the call (pinned across reloads
     * and campaign updates), the module keeps what it reads consistent. */
    int (*query)(void *instance, void *cctx, const char *request_json, char **response);

    /* Optional: called on the retiring generation until it returns BM_OK. */
    int (*drain)(void *instance);

    /* Required. Frees the instance. */
    void (*destroy)(void *instance);

    /* --- ABI version 2 (were spare[0..2] in version 1) --- */

    /* Optional: called about once a second for each campaign of the module,
     * with its context, in a batch (after on_tick). Every processor ticks:
     * work that must happen once goes behind api->claim_once. */
    int (*on_campaign_tick)(void *instance, void *cctx, bm_batch *b, int64_t now_ms);

    /* Optional: called right before campaign_remove with the reason
     * (BM_CAMPAIGN_UPDATED, _REMOVED, _ENDED, _RETIRED). */
    void (*campaign_changed)(void *instance, void *cctx, int change);

    /* Optional: the campaign ended (BM_END_*). Called exactly once across all
     * processes, in a batch whose transaction also marks the campaign ended:
     * the place for final standings, results and end-of-campaign rewards. */
    int (*on_campaign_end)(void *instance, void *cctx, bm_batch *b, int reason, int64_t now_ms);

    /* Must all be NULL; later ABI versions give them meaning. */
    void *spare[BM_MODULE_SPARE_SLOTS];
} bm_module;

/* Type of the one exported symbol. */
typedef const bm_module *(*bm_module_entry_fn)(void);

/* Name of the one exported symbol. */
#define BM_MODULE_ENTRY_SYMBOL "bm_module_entry"

/* Fills the fixed header; use first in a module's designated initializer. */
#define BM_MODULE_HEADER                                                                           \
    .magic = BM_MODULE_MAGIC, .abi_version = BM_ABI_VERSION,                                       \
    .struct_size = (uint32_t)sizeof(bm_module), .signature = BM_BUILD_SIGNATURE

#ifdef __cplusplus
}
#endif

#endif /* BRIGHTMATTER_MODULE_H */
