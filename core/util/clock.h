/* Clocks: wall time for timestamps, monotonic time for deadlines. */
#ifndef BM_CLOCK_H
#define BM_CLOCK_H

#include <stdint.h>

/* Wall-clock now, ms since the epoch. */
int64_t bm_now_ms(void);
/* Monotonic now, ms (for deadlines and intervals). */
int64_t bm_mono_ms(void);

#endif
