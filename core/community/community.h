/*
 * Communities: the CommunityConfig document (validated and put in canonical
 * form), referral slugs, and the metadata a member gives when joining.
 * Pure functions: storage lives in bmctl / the gateway / the batch.
 */
#ifndef BM_COMMUNITY_H
#define BM_COMMUNITY_H

#include <jansson.h>
#include <stddef.h>

/* Longest member metadata value and validation pattern accepted. */
#define BM_COMMUNITY_MAX_VALUE 256
#define BM_COMMUNITY_MAX_PATTERN 200

/*
 * Checks a referral slug: ^[a-z0-9](?:[a-z0-9-]{1,46}[a-z0-9])$ and not a
 * reserved word. 0, or -1 with err ("referralSlug: ...").
 */
int bm_community_slug_check(const char *slug, char *err, size_t errlen);

/*
 * Validates a CommunityConfig document and returns its canonical form (every
 * default filled in, unknown keys refused) as a new reference in *out.
 * 0, or -1 with err naming the field.
 */
int bm_community_validate(json_t *doc, json_t **out, char *err, size_t errlen);

/*
 * Validates the metadata a member gives against the canonical config's
 * memberMetadata; *out gets the normalised metadata (a wallet in lower case,
 * an email's domain in lower case). 0, or -1 with err naming the field
 * ("metadata.address: ...").
 */
int bm_community_member_check(json_t *config, json_t *metadata, json_t **out, char *err,
                              size_t errlen);

/* 1 for 0x + 40 hex digits that are all lower case, all upper case, or EIP-55 checksummed. */
int bm_community_wallet_ok(const char *s);

#endif
