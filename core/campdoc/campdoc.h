/*
 * Campaign documents: what `bmctl campaign create|disable` and the admin API
 * write. A document is checked field by field, then by the module that serves
 * its type (loaded from the modules directory into a temporary copy, exactly
 * as the engine loads it), then upserted.
 */
#ifndef BM_CAMPDOC_H
#define BM_CAMPDOC_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

/*
 * Validates a campaign document ({"type", "name", "gameId", config..., "id"?}) with
 * the module of its type from modules_dir and upserts it. studio_id NULL: any game
 * (registered on first use); else only that studio's games and campaigns. Returns 0
 * (id_out, version_out set), 1 invalid (err names the field), 2 no such game or
 * campaign in the studio, -1 database error (err).
 */
int bm_campdoc_save(PGconn *pg, const char *modules_dir, json_t *root, const char *studio_id,
                    char id_out[64], long long *version_out, char *err, size_t errlen);
/* Cancels a campaign (in studio_id's games when not NULL): 0, 2 not found, -1 with err. */
int bm_campdoc_disable(PGconn *pg, const char *id, const char *studio_id, char *err, size_t errlen);

#endif
