/*
 * progress.c: the live progress line of `ferry migrate`.
 *
 * Owns: a polling thread that asks the source for the domain's job info
 * and redraws one terminal line, and the formatting of sizes and times for
 * people.  Must not: write after cli_progress_stop() returns, or touch
 * anything of the migration but its job info (the main thread is blocked in
 * the migrate call meanwhile; the library's connections are thread-safe).
 */
#include "ferry-config.h"

#include "progress.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define POLL_INTERVAL_US (200 * G_TIME_SPAN_MILLISECOND)
#define BAR_MAX 30
#define BAR_MIN 8
#define MIB (1024.0 * 1024.0)

struct cli_progress {
    ferry_domain *dom;
    FILE *out;
    GThread *thread;
    GMutex lock;          /* guards stopping, drawn and every write to out */
    GCond cond;
    gboolean stopping;
    gboolean drawn;
};

char *
cli_format_ms(gint64 ms)
{
    if (ms <= 0)
        return g_strdup("unknown");
    if (ms < 1000)
        return g_strdup_printf("%" G_GINT64_FORMAT " ms", ms);
    return g_strdup_printf("%.2f s", ms / 1000.0);
}

char *
cli_format_mib(guint64 bytes)
{
    return g_strdup_printf("%.1f MiB", bytes / MIB);
}

static char *
format_eta(guint64 left, double rate_bps)
{
    guint64 s;

    if (rate_bps <= 0)
        return g_strdup("--");
    s = (guint64)(left / rate_bps + 0.5);
    if (s < 60)
        return g_strdup_printf("%" G_GUINT64_FORMAT " s", s);
    return g_strdup_printf("%" G_GUINT64_FORMAT ":%02u", s / 60, (guint)(s % 60));
}

char *
cli_progress_format(const ferry_job_info *info, double rate_bps, guint width)
{
    g_autofree char *phase = g_strndup(info->phase, sizeof(info->phase));
    guint64 total = info->mem_total + info->disk_total;
    guint64 sent = info->mem_processed + info->disk_processed;
    guint64 left = MIN(info->mem_remaining + info->disk_remaining, total);
    g_autofree char *sent_s = cli_format_mib(sent);
    g_autofree char *left_s = cli_format_mib(left);
    g_autofree char *eta = format_eta(left, rate_bps);
    g_autofree char *rate_s = NULL;
    g_autofree char *disks = NULL;
    g_autofree char *tail = NULL;
    GString *line;
    guint pct;
    gssize room;

    /* The phase comes from the daemon: show it only if it is plain text. */
    for (char *p = phase; *p; p++) {
        if (!g_ascii_isgraph(*p))
            *p = '?';
    }
    line = g_string_new(*phase ? phase : "migrating");
    if (total == 0) {
        /* Nothing to copy measured yet (Begin, Prepare): time only. */
        g_string_append_printf(line, "  %.1f s", info->elapsed_ms / 1000.0);
    } else {
        /* QEMU resends dirtied pages, so "sent" may exceed the total; what
         * is left is what measures the way to the end. */
        pct = (guint)((total - left) * 100 / total);
        rate_s = rate_bps > 0 ? g_strdup_printf("%.1f", rate_bps / MIB) : g_strdup("--");
        /* Disks and memory make one bar; how far the disks are is told apart. */
        if (info->disk_total > 0) {
            guint64 disk_left = MIN(info->disk_remaining, info->disk_total);

            disks = g_strdup_printf(" (disks %u%%)", (guint)((info->disk_total - disk_left) *
                                                            100 / info->disk_total));
        }
        tail = g_strdup_printf("%3u%%  %s sent, %s left%s  %s MiB/s  ETA %s", pct, sent_s,
                               left_s, disks ? disks : "", rate_s, eta);
        /* "phase [bar] tail", the bar taking what the terminal leaves. */
        room = (gssize)width - 1 - (gssize)line->len - 4 - (gssize)strlen(tail);
        if (room >= BAR_MIN) {
            guint bar = (guint)MIN(room, BAR_MAX);
            guint full = (guint)((total - left) * bar / total);

            g_string_append(line, " [");
            for (guint i = 0; i < bar; i++)
                g_string_append_c(line, i < full ? '#' : '.');
            g_string_append_c(line, ']');
        }
        g_string_append_printf(line, " %s", tail);
    }
    if (width > 0 && line->len >= width)
        g_string_truncate(line, width - 1);
    return g_string_free(line, FALSE);
}

static guint
terminal_width(FILE *out)
{
    struct winsize ws;

    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static gpointer
progress_thread(gpointer data)
{
    cli_progress *p = data;
    guint64 last_sent = 0;
    gint64 last_us = 0;
    double rate = 0;

    g_mutex_lock(&p->lock);
    while (!p->stopping) {
        ferry_job_info info = { 0 };
        g_autofree char *line = NULL;
        gint64 now;
        gboolean ok;

        g_mutex_unlock(&p->lock);
        ok = ferry_domain_get_job_info(p->dom, &info, NULL);
        now = g_get_monotonic_time();
        /* Until the job is active the info may still be the last job's. */
        ok = ok && info.type == FERRY_JOB_INFO_ACTIVE;
        if (ok) {
            guint64 sent = info.mem_processed + info.disk_processed;

            if (info.rate_bps > 0) {
                rate = (double)info.rate_bps;
            } else if (last_sent && now > last_us && sent >= last_sent) {
                /* The driver gave no rate: measure it between two polls
                 * that both saw data moving, smoothed a little. */
                double r = (sent - last_sent) * 1e6 / (double)(now - last_us);

                rate = rate > 0 ? 0.5 * rate + 0.5 * r : r;
            }
            last_sent = sent;
            last_us = now;
            line = cli_progress_format(&info, rate, terminal_width(p->out));
        }
        g_mutex_lock(&p->lock);
        if (line && !p->stopping) {
            fprintf(p->out, "\r%s\033[K", line);
            fflush(p->out);
            p->drawn = TRUE;
        }
        while (!p->stopping) {
            if (!g_cond_wait_until(&p->cond, &p->lock, now + POLL_INTERVAL_US))
                break;
        }
    }
    g_mutex_unlock(&p->lock);
    return NULL;
}

cli_progress *
cli_progress_start(ferry_domain *dom, FILE *out)
{
    cli_progress *p = g_new0(cli_progress, 1);

    p->dom = ferry_domain_ref(dom);
    p->out = out;
    g_mutex_init(&p->lock);
    g_cond_init(&p->cond);
    p->thread = g_thread_new("ferry-progress", progress_thread, p);
    return p;
}

void
cli_progress_stop(cli_progress *p)
{
    if (!p)
        return;
    g_mutex_lock(&p->lock);
    p->stopping = TRUE;
    g_cond_signal(&p->cond);
    g_mutex_unlock(&p->lock);
    g_thread_join(p->thread);
    if (p->drawn) {
        fputs("\r\033[K", p->out);
        fflush(p->out);
    }
    ferry_domain_unref(p->dom);
    g_mutex_clear(&p->lock);
    g_cond_clear(&p->cond);
    g_free(p);
}
