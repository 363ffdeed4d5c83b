/*
 * clock.h - the monotonic clock (CLOCK_MONOTONIC), for durations and
 * deadlines, in the two units the code uses.
 */
#ifndef TL_COMMON_CLOCK_H
#define TL_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Seconds, with nanosecond resolution. */
static inline double tl_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whole milliseconds. */
static inline uint64_t tl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
