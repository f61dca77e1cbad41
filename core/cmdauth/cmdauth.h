/*
 * Command authentication: command events (battle pass purchase and claim,
 * community and tournament joins) count only when the message carries a valid
 * signature made with the server-side command key. Anyone may produce to
 * game.events; only holders of the key (bmctl, the gateway) may produce
 * commands.
 *
 * Signature: HMAC-SHA256 over the exact message value bytes (the event JSON),
 * sent in the Kafka header BM_CMDAUTH_HEADER as "v1=<64 hex digits>".
 *
 * Keys: security.command_key_file (default <run_dir>/command.key, created by
 * the engine with 32 random bytes, mode 0600, when absent) and
 * security.command_key_previous_file (optional). Verification accepts either,
 * so a key is rotated by: previous := current, current := new key, restart
 * engines, then signers; drop previous once every signer uses the new key.
 */
#ifndef BM_CMDAUTH_H
#define BM_CMDAUTH_H

#include <stddef.h>

#include "config/config.h"

/* The Kafka header carrying the signature. */
#define BM_CMDAUTH_HEADER "bm-signature"

/* "v1=" + 64 hex digits + NUL */
#define BM_CMDAUTH_SIG_SIZE 68

/*
 * The command event types: the one list. A new command adds its eventType
 * here; every eventType under BM_CMD_PREFIX ("bm.") is a command too.
 */
#define BM_CMDAUTH_TYPES(X)                                                                        \
    X("bm.battlepass.purchase")                                                                    \
    X("bm.battlepass.claim")                                                                       \
    X("COMMUNITY_JOIN")                                                                            \
    X("TOURNAMENT_ENTRY")                                                                          \
    X("TOURNAMENT_JOIN")

#define BM_CMDAUTH_KEY_MAX 256

typedef struct bm_cmdauth {
    unsigned char cur[BM_CMDAUTH_KEY_MAX];
    size_t ncur;
    unsigned char prev[BM_CMDAUTH_KEY_MAX];
    size_t nprev; /* 0: no previous key */
} bm_cmdauth;

/* 1 if events of this type need a signature. */
int bm_cmdauth_is_command(const char *event_type);

/*
 * Reads the keys named by the config. With `create`, a missing default key
 * file (<run_dir>/command.key) is created. Key files must not be readable or
 * writable by group or others. 0, or -1 with err.
 */
int bm_cmdauth_load(bm_cmdauth *a, const bm_config *cfg, int create, char *err, size_t errlen);

/* Writes the header value for a message: "v1=<hex>". */
void bm_cmdauth_sign(const bm_cmdauth *a, const void *msg, size_t len,
                     char out[BM_CMDAUTH_SIG_SIZE]);

/* 0 if sig (header value, siglen bytes) is valid for msg under the current or
 * the previous key; -1 otherwise (missing, malformed or wrong). */
int bm_cmdauth_verify(const bm_cmdauth *a, const void *msg, size_t len, const void *sig,
                      size_t siglen);

/* Wipes the keys. */
void bm_cmdauth_clear(bm_cmdauth *a);

#endif
