/* Command line of bm-loadgen: options, their defaults and the --help text. */
#ifndef BM_LG_ARGS_H
#define BM_LG_ARGS_H

#include <stddef.h>

#include "gen.h"
#include "produce.h"

#define BM_LG_MAX_PROPS 64

/* Everything the command line sets; kc.props points into props. */
typedef struct bm_lg_options {
    bm_lg_params gp;
    bm_lg_kconf kc;
    const char *bootstrap_file;
    const char *expect;
    const char *start_text;
    double rate, dup_fraction, bad_fraction;
    int quiet, dry_run;
    const char *props[BM_LG_MAX_PROPS];
} bm_lg_options;

/* The --help text. */
extern const char bm_lg_usage[];

/* Fills *o from argv. Returns 0, 1 when --help was asked, or -1 with err. */
int bm_lg_args_parse(bm_lg_options *o, int argc, char **argv, char *err, size_t errlen);

/* The expect file's header line: the options that shape the stream. */
void bm_lg_args_header(const bm_lg_options *o, char *buf, size_t cap);

#endif
