/*
 * progress.c - progress of long work on stderr: a one-line bar redrawn in
 * place on a terminal (entries done, rate, time left), plain lines every few
 * seconds otherwise, nothing with --quiet. Never writes to stdout.
 */
#include "client/client.h"

#include <stdio.h>
#include <unistd.h>

#include "common/clock.h"

#define BAR 24

static void fmt_eta(double s, char *buf, size_t cap)
{
    if (s < 0 || s > 1e7) {
        snprintf(buf, cap, "?");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%lu:%02lu:%02lu", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, cap, "%lu:%02lu", t / 60, t % 60);
}

static void draw(tl_progress *p, uint64_t done, int final)
{
    double el = tl_mono_s() - p->start;
    double rate = el > 0 ? (double)done / el : 0;
    double left = rate > 0 ? (double)(p->total - (done < p->total ? done : p->total)) / rate : -1;
    char eta[32];
    fmt_eta(left, eta, sizeof(eta));
    unsigned pct = p->total ? (unsigned)((double)done * 100.0 / (double)p->total) : 100;
    if (p->mode == 1) {
        char bar[BAR + 1];
        unsigned fill = pct * BAR / 100;
        for (unsigned i = 0; i < BAR; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR] = 0;
        fprintf(stderr, "\r[%s] %3u%% %llu/%llu entries %.0f/s ETA %s\033[K%s", bar, pct,
                (unsigned long long)done, (unsigned long long)p->total, rate, eta,
                final ? "\n" : "");
    } else {
        if (final)
            fprintf(stderr, "tlog: %llu/%llu entries verified (%u%%), %.0f entries/s, %.1f s\n",
                    (unsigned long long)done, (unsigned long long)p->total, pct, rate, el);
        else
            fprintf(stderr, "tlog: %llu/%llu entries verified (%u%%), %.0f entries/s, ETA %s\n",
                    (unsigned long long)done, (unsigned long long)p->total, pct, rate, eta);
    }
    fflush(stderr);
}

void tl_progress_start(tl_progress *p, int quiet, uint64_t total)
{
    p->mode = quiet ? 0 : (isatty(2) ? 1 : 2);
    p->total = total;
    p->start = p->last = tl_mono_s();
}

void tl_progress_update(tl_progress *p, uint64_t done)
{
    if (p->mode == 0)
        return;
    double now = tl_mono_s();
    if (now - p->last < (p->mode == 1 ? 0.1 : 5.0))
        return;
    p->last = now;
    draw(p, done, 0);
}

void tl_progress_end(tl_progress *p, uint64_t done)
{
    if (p->mode == 1 || (p->mode == 2 && tl_mono_s() - p->start >= 5.0))
        draw(p, done, 1);
}
