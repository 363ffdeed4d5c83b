/*
 * clockshim.c - LD_PRELOAD library of the reliability suite that steps the
 * wall clock: CLOCK_REALTIME (and _COARSE), gettimeofday and time return the
 * real time plus an offset in milliseconds read from the file named by
 * $TL_CLOCK_OFFSET_FILE (re-read at most every 20 ms; missing file = 0).
 * Monotonic clocks are untouched. faults.py writes the file to step the
 * clock backwards under a running tlogd (no faketime on this system).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*cg_fn)(clockid_t, struct timespec *);

static cg_fn real_cg(void)
{
    static cg_fn fn;
    if (!fn)
        fn = (cg_fn)dlsym(RTLD_NEXT, "clock_gettime");
    return fn;
}

static long long offset_ms(void)
{
    static long long cached;
    static long long next_read_ns;
    struct timespec m;
    if (real_cg()(CLOCK_MONOTONIC, &m) != 0)
        return cached;
    long long now = (long long)m.tv_sec * 1000000000LL + m.tv_nsec;
    if (now < next_read_ns)
        return cached;
    next_read_ns = now + 20000000LL;
    const char *path = getenv("TL_CLOCK_OFFSET_FILE");
    if (!path)
        return cached = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cached = 0;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return cached;
    buf[n] = 0;
    cached = strtoll(buf, NULL, 10);
    return cached;
}

static void shift(struct timespec *ts)
{
    long long off = offset_ms();
    long long ns = (long long)ts->tv_nsec + (off % 1000) * 1000000LL;
    ts->tv_sec += (time_t)(off / 1000);
    while (ns < 0) {
        ns += 1000000000LL;
        ts->tv_sec--;
    }
    while (ns >= 1000000000LL) {
        ns -= 1000000000LL;
        ts->tv_sec++;
    }
    ts->tv_nsec = (long)ns;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = real_cg()(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        shift(ts);
    return rc;
}

/* glibc declares tv nonnull, yet callers may pass NULL: keep the check. */
#pragma GCC diagnostic ignored "-Wnonnull-compare"
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    if (tv) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return 0;
}

time_t time(time_t *t)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (t)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
