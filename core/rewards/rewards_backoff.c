/* The retry schedule of the rewards role: config parsing and the delay rule. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewards/rewards.h"

int bm_duration_parse(const char *s, int64_t *ms)
{
    while (isspace((unsigned char)*s))
        s++;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    int64_t unit = 1000;
    if (strncmp(end, "ms", 2) == 0) {
        unit = 1;
        end += 2;
    } else if (*end == 's' || *end == 'm' || *end == 'h' || *end == 'd') {
        unit = *end == 's' ? 1000 : *end == 'm' ? 60000 : *end == 'h' ? 3600000 : 86400000;
        end++;
    }
    while (isspace((unsigned char)*end))
        end++;
    if (*end || v > INT64_MAX / unit)
        return -1;
    *ms = (int64_t)v * unit;
    return 0;
}

int bm_backoff_parse(bm_backoff *b, const bm_config *cfg, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    char list[sizeof cfg->rewards_backoff];
    snprintf(list, sizeof list, "%s", cfg->rewards_backoff);
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (b->nsteps == BM_REWARDS_MAX_STEPS) {
            snprintf(err, errlen, "rewards.backoff: more than %d steps", BM_REWARDS_MAX_STEPS);
            return -1;
        }
        if (bm_duration_parse(t, &b->step_ms[b->nsteps]) != 0) {
            snprintf(err, errlen, "rewards.backoff: '%s' is not a duration (5s, 2m, 1h...)", t);
            return -1;
        }
        b->nsteps++;
    }
    if (bm_duration_parse(cfg->rewards_backoff_repeat, &b->repeat_ms) != 0 || b->repeat_ms <= 0) {
        snprintf(err, errlen, "rewards.backoff_repeat: '%s' is not a positive duration",
                 cfg->rewards_backoff_repeat);
        return -1;
    }
    if (bm_duration_parse(cfg->rewards_give_up, &b->give_up_ms) != 0) {
        snprintf(err, errlen, "rewards.give_up_after: '%s' is not a duration",
                 cfg->rewards_give_up);
        return -1;
    }
    b->jitter_pct = cfg->rewards_jitter_pct;
    return 0;
}

int64_t bm_backoff_delay(const bm_backoff *b, int attempts, double rnd)
{
    int64_t d = attempts >= 1 && attempts <= b->nsteps ? b->step_ms[attempts - 1] : b->repeat_ms;
    /* Jitter spreads retries of rewards that failed together (an endpoint that was down). */
    double j = ((rnd * 2.0) - 1.0) * (double)b->jitter_pct / 100.0;
    int64_t out = d + (int64_t)((double)d * j);
    return out < 0 ? 0 : out;
}

int bm_backoff_exhausted(const bm_backoff *b, int attempts)
{
    int64_t total = 0;
    for (int i = 1; i <= attempts; i++) {
        total += i <= b->nsteps ? b->step_ms[i - 1] : b->repeat_ms;
        if (total > b->give_up_ms)
            return 1;
    }
    return 0;
}
