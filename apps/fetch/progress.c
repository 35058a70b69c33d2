/* ahttp-fetch's progress meter: one line on stderr, redrawn at most every 200 ms, for bodies that
 * do not go to the terminal — as curl, shown only when stderr is a terminal and neither -s nor
 * -v was given. One transfer: its percentage and a bar when the length is known, bytes, speed,
 * and the time left; with -Z: transfers done of all, bytes of all and the speed. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fetch.h"

#define REDRAW_S 0.2
#define BAR_WIDTH 24

static double clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "812 B", "12.3 KiB", "1.5 GiB" */
static void human(char *buf, size_t size, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* "0:07", "1:02:03" */
static void clock_text(char *buf, size_t size, double s)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

void progress_init(progress *p, int on, size_t transfers)
{
    memset(p, 0, sizeof(*p));
    p->on = on;
    p->transfers = transfers;
    p->start = clock_s();
}

/* Write line over the last one (padding out what is left of a longer one). */
static void draw(progress *p, const char *line, int final)
{
    int len = (int)strlen(line);
    int pad = p->drawn > len ? p->drawn - len : 0;
    fprintf(stderr, "\r%s%*s%s", line, pad, "", final ? "\n" : "");
    p->drawn = final ? 0 : len;
}

static void redraw(progress *p, const xfer *x, double now, int final)
{
    char line[200], got[24], total[24], speed[24], left[48];
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->bytes / elapsed : 0;
    human(got, sizeof(got), (double)p->bytes);
    human(speed, sizeof(speed), rate);
    if (p->transfers > 1) {
        snprintf(line, sizeof(line), "[%zu/%zu done] %s  %s/s", p->finished, p->transfers, got,
                 speed);
    } else if (x && x->expected > 0) {
        double frac = (double)x->received / (double)x->expected;
        if (frac > 1)
            frac = 1;
        char bar[BAR_WIDTH + 1];
        int fill = (int)(frac * BAR_WIDTH);
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
        bar[BAR_WIDTH] = '\0';
        human(total, sizeof(total), (double)x->expected);
        clock_text(left, sizeof(left),
                   final || rate <= 0 ? elapsed
                                      : (double)(x->expected - (int64_t)x->received) / rate);
        snprintf(line, sizeof(line), "%5.1f%% [%s] %s / %s  %s/s  %s %s", frac * 100, bar, got,
                 total, speed, final ? "in" : "ETA", left);
    } else {
        clock_text(left, sizeof(left), elapsed);
        snprintf(line, sizeof(line), "%s  %s/s  %s", got, speed, left);
    }
    draw(p, line, final);
    p->last = now;
}

void progress_add(progress *p, xfer *x, size_t n)
{
    if (!p->on || x->tty)
        return;
    x->received += n;
    p->bytes += n;
    double now = clock_s();
    if (now - p->last >= REDRAW_S)
        redraw(p, x, now, 0);
}

void progress_end(progress *p, const xfer *x)
{
    if (!p->on)
        return;
    p->finished++;
    if (x->tty)
        return;
    if (p->transfers == 1 || p->finished == p->transfers)
        redraw(p, x, clock_s(), 1);
}
