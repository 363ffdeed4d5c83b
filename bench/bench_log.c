/*
 * bench_log.c - the sequencer without HTTP: N entries of 256 random bytes
 * submitted by T threads through tl_log_add into a LevelDB log with durable
 * group commits; reports entries/s (integrated, committed and acknowledged),
 * peak RSS, bytes written to disk per entry (/proc/self/io write_bytes, which
 * includes LevelDB's compactions) and the size of the database, then the
 * start-up time (open + recovery checks) of the resulting log, measured in a
 * fresh process.
 *
 *   bench_log [--entries N] [--threads T] [--batch-max B] [--interval MS]
 *             [--pool P] [--dir DIR] [--keep]
 * Defaults: N = 10^7, T = 4, B = 4096, 25 ms, DIR = a new folder in $TMPDIR.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/dec.h"
#include "log/log.h"

static uint64_t N = 10000000, T = 4;
static size_t batch_max = 4096;
static size_t pool_max; /* 0: the log's default */
static unsigned interval = 25;
static tl_log *LOG;
static volatile uint64_t acked, failed;
static pthread_mutex_t adder_mu = PTHREAD_MUTEX_INITIALIZER;
static double adder_cpu; /* CPU seconds of the adder threads (hash, pre-check, queue) */

static void on_add(void *ctx, int err, uint64_t index, const tl_hash *leaf)
{
    (void)ctx;
    (void)index;
    (void)leaf;
    if (err != TL_OK)
        __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&acked, 1, __ATOMIC_RELAXED);
}

static void *adder(void *arg)
{
    uint64_t t = (uint64_t)(uintptr_t)arg, x = 0x9e3779b97f4a7c15ULL * (t + 1);
    uint64_t from = N * t / T, to = N * (t + 1) / T;
    uint64_t e[32]; /* 256 bytes */
    pthread_setname_np(pthread_self(), "bench-adder");
    for (uint64_t i = from; i < to; i++) {
        for (int k = 0; k < 32; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            e[k] = x;
        }
        e[0] = i; /* distinct */
        while (tl_log_add(LOG, e, sizeof(e), on_add, NULL) == TL_ERR_BUSY)
            usleep(2000); /* the pool holds >= 60 ms of work: a 2 ms nap cannot starve it */
    }
    {
        struct rusage ru;
        getrusage(RUSAGE_THREAD, &ru);
        pthread_mutex_lock(&adder_mu);
        adder_cpu += (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        pthread_mutex_unlock(&adder_mu);
    }
    return NULL;
}

static long rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static unsigned long long proc_io(const char *field)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[256];
    unsigned long long v = 0;
    size_t fl = strlen(field);
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = strtoull(line + fl + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Resident anonymous / file-backed memory now, KiB (/proc/self/status). */
static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    size_t fl = strlen(field);
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = strtol(line + fl + 1, NULL, 10);
    fclose(f);
    return v;
}

static long peak_anon, peak_file;
static void sample_rss(void)
{
    long a = status_kib("RssAnon"), f = status_kib("RssFile");
    if (a > peak_anon)
        peak_anon = a;
    if (f > peak_file)
        peak_file = f;
}

/* CPU seconds per thread name (/proc/self/task/<tid>/stat), to see which
 * stage is the bottleneck: adders (hash + dedup pre-check), tl-sequencer,
 * tl-committer (the LevelDB write), bench_log (LevelDB's compaction thread
 * and main). */
static void print_thread_cpu(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    char names[32][32];
    double cpu[32];
    int n = 0;
    long hz = sysconf(_SC_CLK_TCK);
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        char path[300], buf[1024], *p;
        FILE *f;
        unsigned long ut = 0, st = 0;
        int i;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (!fgets(buf, sizeof(buf), f)) {
            fclose(f);
            continue;
        }
        fclose(f);
        p = strrchr(buf, ')');
        if (!p ||
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
            continue;
        {
            char *o = strchr(buf, '('), nm[32];
            size_t l = o ? (size_t)(p - o - 1) : 0;
            if (l >= sizeof(nm))
                l = sizeof(nm) - 1;
            memcpy(nm, o ? o + 1 : "", l);
            nm[l] = 0;
            for (i = 0; i < n; i++)
                if (!strcmp(names[i], nm))
                    break;
            if (i == n && n < 32) {
                snprintf(names[n], sizeof(names[n]), "%s", nm);
                cpu[n++] = 0;
            }
            if (i < 32)
                cpu[i] += (double)(ut + st) / (double)hz;
        }
    }
    closedir(d);
    printf("CPU seconds by thread: adders %.1f", adder_cpu);
    for (int i = 0; i < n; i++)
        printf(" %s %.1f", names[i], cpu[i]);
    {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("; process total %.1f (user %.1f, sys %.1f)\n",
               (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                   ru.ru_stime.tv_usec / 1e6,
               (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    }
}

static uint64_t du_bytes(const char *dir)
{
    char cmd[4300], out[64] = "0";
    FILE *p;
    snprintf(cmd, sizeof(cmd), "du -sb '%s' | cut -f1", dir);
    p = popen(cmd, "r");
    if (p) {
        if (!fgets(out, sizeof(out), p))
            out[0] = 0;
        pclose(p);
    }
    uint64_t n = 0;
    out[strcspn(out, "\n")] = 0;
    tl_dec_parse_range(out, 0, UINT64_MAX, &n); /* 0 when du said nothing */
    return n;
}

/* --open-only DIR: measured start-up in a fresh process. */
static int open_only(const char *dir)
{
    tl_log_config cfg;
    tl_log *log = NULL;
    tl_log_stats st;
    char err[512];
    double t0 = tl_mono_s(), t1;
    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    if (tl_log_open(&cfg, &log, err, sizeof(err)) != TL_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    t1 = tl_mono_s();
    tl_log_get_stats(log, &st);
    tl_log_close(log);
    printf("startup: open+recovery of a %llu-entry log: %.3f s, peak RSS %.1f MiB\n",
           (unsigned long long)st.signed_size, t1 - t0, (double)rss_kib() / 1024.0);
    return 0;
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    char parent[4096], dir[4200], err[512], self[4096], *vkey = NULL;
    int keep = 0, rc;
    pthread_t *th;
    tl_log_config cfg;
    tl_log_stats st;
    double t0, t1;
    unsigned long long w0, w1;
    ssize_t sl;

    tl_log_process_setup(); /* as tlogd does */

    parent[0] = 0;
    for (int i = 1; i < argc; i++) {
        uint64_t n = 0;
        int num = i + 1 < argc && tl_dec_parse_range(argv[i + 1], 0, UINT32_MAX, &n) == TL_OK;
        if (!strcmp(argv[i], "--open-only") && i + 1 < argc)
            return open_only(argv[i + 1]);
        else if (!strcmp(argv[i], "--entries") && num) {
            N = n;
            i++;
        } else if (!strcmp(argv[i], "--threads") && num) {
            T = n;
            i++;
        } else if (!strcmp(argv[i], "--batch-max") && num) {
            batch_max = n;
            i++;
        } else if (!strcmp(argv[i], "--interval") && num) {
            interval = (unsigned)n;
            i++;
        } else if (!strcmp(argv[i], "--pool") && num) {
            pool_max = n;
            i++;
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            snprintf(parent, sizeof(parent), "%s", argv[++i]);
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else {
            fprintf(stderr, "usage: bench_log [--entries N] [--threads T] [--batch-max B] "
                            "[--interval MS] [--pool P] [--dir DIR] [--keep]\n");
            return 2;
        }
    }
    if (T < 1 || N < T) {
        fprintf(stderr, "bench_log: need 1 <= threads <= entries\n");
        return 2;
    }
    if (!parent[0]) {
        snprintf(parent, sizeof(parent), "%s/tlog-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(parent)) {
            perror("mkdtemp");
            return 1;
        }
    }
    snprintf(dir, sizeof(dir), "%s/log", parent);
    if (tl_log_create(dir, "bench.example/log", NULL, &vkey, err, sizeof(err)) != TL_OK) {
        fprintf(stderr, "create: %s\n", err);
        return 1;
    }
    free(vkey);
    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    cfg.batch_max = batch_max;
    cfg.pool_max = pool_max;
    cfg.batch_interval_ms = interval;
    cfg.publish_on_sign = 1;
    if (tl_log_open(&cfg, &LOG, err, sizeof(err)) != TL_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    printf("bench_log: %llu entries x 256 B, %llu threads, batch-max %zu, interval %u ms, "
           "LevelDB in %s\n",
           (unsigned long long)N, (unsigned long long)T, batch_max, interval, dir);
    fflush(stdout);
    th = calloc(T, sizeof(*th));
    w0 = proc_io("write_bytes");
    t0 = tl_mono_s();
    for (uint64_t t = 0; t < T; t++)
        pthread_create(&th[t], NULL, adder, (void *)(uintptr_t)t);
    {
        uint64_t last = 0;
        double tl = t0;
        while (__atomic_load_n(&acked, __ATOMIC_RELAXED) < N) {
            usleep(100000);
            sample_rss();
            if (tl_mono_s() - tl >= 10) {
                uint64_t a = __atomic_load_n(&acked, __ATOMIC_RELAXED);
                printf("  %6.0f s: %llu acknowledged (%.0f/s recent), RSS peak %.1f MiB\n",
                       tl_mono_s() - t0, (unsigned long long)a,
                       (double)(a - last) / (tl_mono_s() - tl), (double)rss_kib() / 1024.0);
                fflush(stdout);
                last = a;
                tl = tl_mono_s();
            }
        }
    }
    t1 = tl_mono_s();
    print_thread_cpu();
    for (uint64_t t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    tl_log_get_stats(LOG, &st);
    tl_log_close(LOG);
    w1 = proc_io("write_bytes");
    printf("throughput: %.0f entries/s (%llu entries in %.2f s, %llu batches, %llu failed)\n",
           (double)N / (t1 - t0), (unsigned long long)N, t1 - t0, (unsigned long long)st.batches,
           (unsigned long long)failed);
    printf("commit time: %.2f s total, %.2f ms per batch on average\n", st.commit_seconds_total,
           1000.0 * st.commit_seconds_total / (double)st.batches);
    printf("dedup lookups: %llu read the store, %llu answered by the dedup filter\n",
           (unsigned long long)st.dedup_store_reads, (unsigned long long)st.dedup_filter_skips);
    printf("peak RSS: %.1f MiB (getrusage; sampled every 0.1 s: anonymous %.1f MiB, "
           "file-backed %.1f MiB - LevelDB mmaps its table files)\n",
           (double)rss_kib() / 1024.0, (double)peak_anon / 1024.0, (double)peak_file / 1024.0);
    printf("disk: %.0f bytes written per entry (incl. LevelDB log and compactions), "
           "database %.0f bytes per entry\n",
           (double)(w1 - w0) / (double)N, (double)du_bytes(dir) / (double)N);
    fflush(stdout);
    free(th);
    sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl > 0) {
        pid_t pid;
        self[sl] = 0;
        pid = fork();
        if (pid == 0) {
            execl(self, self, "--open-only", dir, (char *)NULL);
            _exit(99);
        }
        waitpid(pid, &rc, 0);
    }
    if (!keep) {
        char cmd[4300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", parent);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", parent);
    }
    return failed ? 1 : 0;
}
