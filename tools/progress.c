/*
 * progress.c: the live progress line of `ferry migrate` and the formatting
 * of sizes and times for people.
 *
 * Owns: turning a job's numbers into text.  Must not: talk to a host or
 * write anywhere; tools/watch.c draws the line from the job's events.
 */
#include "ferry-config.h"

#include "progress.h"

#include <string.h>

#define BAR_MAX 30
#define BAR_MIN 8
#define MIB (1024.0 * 1024.0)

#define IN_DOUBT_TEXT "in doubt: asking the destination whether it runs the guest"

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

/* A string of the job's fixed-size fields, shown only if it is plain text:
 * it comes from the daemon. */
static char *
plain_text(const char *field, gsize size)
{
    char *s = g_strndup(field, size);

    for (char *p = s; *p; p++) {
        if (!g_ascii_isgraph(*p))
            *p = '?';
    }
    return s;
}

/* A pass leaving this share of the one before, or more, is not converging. */
#define CONVERGE_RATIO 0.9

/* What the link carries: the bandwidth limit when there is one (the copy
 * cannot go faster), else the transfer's own rate, else the one measured
 * by the caller. */
static double
link_bps(const ferry_job_info *info, double rate_bps)
{
    if (info->bandwidth_bps > 0)
        return (double)info->bandwidth_bps;
    if (info->rate_bps > 0)
        return (double)info->rate_bps;
    return rate_bps;
}

gboolean
cli_progress_not_converging(const ferry_job_info *info, double rate_bps)
{
    double link = link_bps(info, rate_bps);

    /* The first pass copies everything once: its dirty rate says nothing
     * yet about whether the later, shorter passes catch up.  Then each pass
     * leaves about dirty/link of the one before: at 90 % or more the passes
     * barely shrink (and QEMU's dirty rate, counted once per page, cannot
     * exceed the working set over the pass time, so a guest rewriting its
     * pages faster than the link shows up just under it). */
    return info->passes >= 2 && link > 0 &&
           (double)info->dirty_rate_bps >= CONVERGE_RATIO * link;
}

/* "PHASE[  ELAPSED][ [BAR]] TAIL": the bar takes the room the terminal
 * leaves, between BAR_MIN and BAR_MAX columns, filled @done of @total. */
static GString *
compose(const char *phase, const char *elapsed, const char *tail, guint64 done, guint64 total,
        guint width)
{
    GString *line = g_string_new(phase);
    gssize room;

    if (elapsed)
        g_string_append_printf(line, "  %s", elapsed);
    if (total > 0 && tail) {
        room = (gssize)width - 1 - (gssize)line->len - 4 - (gssize)strlen(tail);
        if (room >= BAR_MIN) {
            guint bar = (guint)MIN(room, BAR_MAX);
            guint full = (guint)(done * bar / total);

            g_string_append(line, " [");
            for (guint i = 0; i < bar; i++)
                g_string_append_c(line, i < full ? '#' : '.');
            g_string_append_c(line, ']');
        }
    }
    if (tail)
        g_string_append_printf(line, " %s", tail);
    return line;
}

char *
cli_progress_format(const ferry_job_info *info, double rate_bps, guint width)
{
    g_autofree char *phase = plain_text(info->phase, sizeof(info->phase));
    g_autofree char *state = g_strndup(info->state, sizeof(info->state));
    guint64 total = info->mem_total + info->disk_total;
    guint64 left = MIN(info->mem_remaining + info->disk_remaining, total);
    g_autofree char *state_text = plain_text(info->state, sizeof(info->state));
    /* An ended job has no phase any more; its state says how it ended. */
    const char *name = *phase ? phase : *state_text ? state_text : "migrating";
    g_autofree char *postcopy = plain_text(info->postcopy, sizeof(info->postcopy));
    g_autofree char *postcopy_name = NULL;
    g_autofree char *elapsed = NULL;
    g_autofree char *tail = NULL;
    g_autofree char *warning = NULL;
    GString *line;

    /* Post-copy changes what the numbers mean: say so first. */
    if (*postcopy) {
        postcopy_name = g_strdup_printf("post-copy %s", postcopy);
        name = postcopy_name;
    }
    if (info->elapsed_ms > 0)
        elapsed = g_strdup_printf("%.1f s", info->elapsed_ms / 1000.0);
    if (strcmp(state, "in-doubt") == 0) {
        /* The figures no longer matter: the guest is paused until the
         * destination says whether it runs it. */
        line = compose(name, elapsed, " " IN_DOUBT_TEXT, 0, 0, width);
    } else if (total == 0) {
        /* Nothing to copy measured yet (Begin, Prepare): time only. */
        g_autofree char *secs = g_strdup_printf("%.1f s", info->elapsed_ms / 1000.0);

        line = compose(name, secs, NULL, 0, 0, width);
    } else {
        /* QEMU resends dirtied pages, so "sent" may exceed the total; what
         * is left is what measures the way to the end. */
        guint pct = (guint)((total - left) * 100 / total);
        g_autofree char *left_s = cli_format_mib(left);

        if (cli_progress_not_converging(info, rate_bps)) {
            /* No ETA to promise: the copy falls behind the guest. */
            double dirty = info->dirty_rate_bps / MIB;
            double link = link_bps(info, rate_bps) / MIB;
            /* One decimal, unless it would print "2.0 > 2.0". */
            int digits = (gint64)(dirty * 10 + 0.5) == (gint64)(link * 10 + 0.5) ? 2 : 1;

            warning = g_strdup_printf("dirty rate %.*f %s link %.*f MiB/s: not converging",
                                      digits, dirty,
                                      info->dirty_rate_bps > link_bps(info, rate_bps) ? ">"
                                                                                     : "~",
                                      digits, link);
            tail = g_strdup_printf("%3u%%  %s left  %s", pct, left_s, warning);
        } else {
            g_autofree char *sent_s = cli_format_mib(info->mem_processed +
                                                     info->disk_processed);
            g_autofree char *eta = format_eta(left, rate_bps);
            g_autofree char *rate_s = rate_bps > 0 ? g_strdup_printf("%.1f", rate_bps / MIB)
                                                   : g_strdup("--");
            g_autofree char *disks = NULL;

            /* Disks and memory make one bar; how far the disks are is told
             * apart. */
            if (info->disk_total > 0) {
                guint64 disk_left = MIN(info->disk_remaining, info->disk_total);

                disks = g_strdup_printf(" (disks %u%%)",
                                        (guint)((info->disk_total - disk_left) * 100 /
                                                info->disk_total));
            }
            tail = g_strdup_printf("%3u%%  %s sent, %s left%s  %s MiB/s  ETA %s", pct, sent_s,
                                   left_s, disks ? disks : "", rate_s, eta);
        }
        if (info->throttle_percent) {
            /* auto-converge slows the guest down: worth seeing. */
            char *with = g_strdup_printf("%s  throttle %u%%", tail, info->throttle_percent);

            g_free(tail);
            tail = with;
        }
        line = compose(name, elapsed, tail, total - left, total, width);
        /* Too long for the terminal: the time goes first, then all but the
         * warning, which is what the user must see. */
        if (width > 0 && line->len >= width && elapsed) {
            g_string_free(line, TRUE);
            line = compose(name, NULL, tail, total - left, total, width);
        }
        if (width > 0 && line->len >= width && warning) {
            g_autofree char *alone = g_strdup_printf(" %s", warning);

            g_string_free(line, TRUE);
            line = compose(name, NULL, alone, 0, 0, width);
        }
    }
    if (width > 0 && line->len >= width)
        g_string_truncate(line, width - 1);
    return g_string_free(line, FALSE);
}

char *
cli_progress_format_waiting(gint64 elapsed_ms, guint width)
{
    GString *line = g_string_new(NULL);

    g_string_printf(line, "preparing  %.1f s", MAX(elapsed_ms, 0) / 1000.0);
    if (width > 0 && line->len >= width)
        g_string_truncate(line, width - 1);
    return g_string_free(line, FALSE);
}
