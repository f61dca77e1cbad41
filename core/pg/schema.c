/*
 * The schema this binary was built with: the highest NNN of sql/NNN_*.sql at
 * build time (BM_SCHEMA_VERSION). A database migrated further than that was
 * prepared by a newer release whose tables this binary does not know: it is
 * refused at startup rather than written to.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pg/pg.h"

int bm_pg_check_schema(PGconn *c, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        snprintf(err, errlen, "schema_migrations: %s(run bmctl migrate first)", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (v > BM_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "the database is at schema version %ld, newer than this binary's %d: run the "
                 "release that migrated it",
                 v, BM_SCHEMA_VERSION);
        return -1;
    }
    return 0;
}
