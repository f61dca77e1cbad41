/* The client's append-only on-disk queue (internal to libbrightmatter-client). */
#ifndef BM_CLIENT_QUEUE_H
#define BM_CLIENT_QUEUE_H

#include <stddef.h>

/* Not part of the library's interface. */
#pragma GCC visibility push(hidden)

typedef struct bmq {
    char dir[4096];
    int fd;
    int fsync;      /* bm_client_fsync */
    long long size; /* bytes of events.log */
    long long sent; /* offset of the first event not accepted yet */
    size_t pending; /* lines from sent to size */
} bmq;

/* Opens or creates dir/events.log and dir/events.sent; 0 or -1 with err. */
int bmq_open(bmq *q, const char *dir, int fsync_policy, char *err, size_t errlen);
void bmq_close(bmq *q);
/* Appends one line (without its newline); synced when the policy says every event. */
int bmq_append(bmq *q, const char *line, size_t len);
/* Syncs the log unless the policy is never. */
int bmq_sync(bmq *q);
/* Reads up to max lines from the first unsent one: *text (malloc'd, lines with newlines),
 * *len bytes, *n lines, *end the offset after them. */
int bmq_read(bmq *q, int max, char **text, size_t *len, int *n, long long *end);
/* Marks the n lines before end as sent. */
int bmq_ack(bmq *q, long long end, int n);

#pragma GCC visibility pop

#endif
