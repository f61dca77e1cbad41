/*
 * Communities in PostgreSQL, shared by bmctl and the gateway's admin API:
 * finding a community, member counts, referral counts, moderation (approve,
 * ban, unban, remove) and referral clicks. A moderation is one transaction
 * that also writes its announcements to the outbox (config.communities keyed
 * by community id, community.events, ui.community_updates), so a change and
 * its announcement happen together or not at all.
 */
#ifndef BM_COMMUNITY_DB_H
#define BM_COMMUNITY_DB_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

/* An active community by id or slug: 0 (id set, *config a new reference when config is not
 * NULL), 1 when there is none, -1 on a database error. */
int bm_cmdb_find(PGconn *c, const char *ref, char *id, size_t idlen, json_t **config);

/* {"active": n, "pending": n, "banned": n} of a community. New reference. */
json_t *bm_cmdb_counts(PGconn *c, const char *id);

/* The top 20 referrers by joins: [{"referrer", "joins", "clicks"}]. New reference. */
json_t *bm_cmdb_referrals(PGconn *c, const char *id);

/* Appends one "key<TAB>json" line (the relay's outbox format) to lines; consumes msg. */
void bm_cmdb_outbox_line(json_t *lines, const char *key, json_t *msg);
/* Inserts one outbox row per topic of {topic: [lines]}; 0, or -1 with err. */
int bm_cmdb_outbox_write(PGconn *c, json_t *topics, char *err, size_t errlen);

/*
 * Moderates user in community id: what is approve (pending -> active, and the
 * starter reward granted once), ban (-> banned), unban (banned -> active) or
 * remove (the membership deleted). *status gets the new status ("removed").
 * 0 done, 1 when the user is not a member in a state this applies to, 2 for
 * an unknown `what`, -1 with err on a database error.
 */
int bm_cmdb_moderate(PGconn *c, const char *what, const char *id, const char *user,
                     const char **status, char *err, size_t errlen);

/* Records a referral link click (referrer, HTTP Referer and IP hash may be NULL); 0 or -1. */
int bm_cmdb_click(PGconn *c, const char *id, const char *referrer, const char *http_referer,
                  const char *ip_hash);

#endif
