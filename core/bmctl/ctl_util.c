/* Helpers shared by bmctl's quest and battlepass commands. */
#include "bmctl/ctl_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int ctl_args_parse(int argc, char **argv, int first, ctl_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    for (int i = first; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(s, "--premium") == 0) {
            a->premium = 1;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            a->help = 1;
        } else if (s[0] == '-' && s[1] == '-') {
            snprintf(err, errlen, "unknown option '%s'", s);
            return -1;
        } else if (a->npos < (int)(sizeof a->pos / sizeof a->pos[0])) {
            a->pos[a->npos++] = s;
        } else {
            snprintf(err, errlen, "too many arguments");
            return -1;
        }
    }
    return 0;
}

void ctl_time_format(int64_t ms, char *buf, size_t len)
{
    if (ms == 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)(ms - (int64_t)s * 1000));
}

int64_t ctl_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void ctl_print_json(json_t *v)
{
    char *s =
        v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(v);
}
