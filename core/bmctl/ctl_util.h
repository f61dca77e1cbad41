/* Helpers shared by bmctl's campaign-progress commands (quest, battlepass). */
#ifndef BM_CTL_UTIL_H
#define BM_CTL_UTIL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Positional arguments and the flags these commands know. */
typedef struct ctl_args {
    const char *pos[8];
    int npos;
    int json;    /* --json */
    int premium; /* --premium */
    int help;    /* -h / --help */
} ctl_args;

/* Splits argv[first..] into flags and positionals. -1 with err on an unknown flag. */
int ctl_args_parse(int argc, char **argv, int first, ctl_args *a, char *err, size_t errlen);

/* Campaign and progress loading moved to progress/progress.h (shared with the gateway). */
#include "progress/progress.h"

/* Formats ms since the epoch as RFC 3339 UTC ("-" for 0). */
void ctl_time_format(int64_t ms, char *buf, size_t len);

/* Wall-clock now in ms. */
int64_t ctl_now_ms(void);

/* Prints a JSON value on stdout, indented, with a newline; consumes the reference. */
void ctl_print_json(json_t *v);

#endif
