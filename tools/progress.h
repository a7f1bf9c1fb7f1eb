/*
 * progress.h: the formatting of migration numbers for people: the live
 * progress line of `ferry migrate`, durations and sizes.
 *
 * Owns: pure functions from numbers to text.  Must not: talk to a host or
 * write anywhere (tools/watch.c draws the line; the tests call these
 * functions directly).
 */
#pragma once

#include <ferry/ferry.h>

/**
 * cli_progress_format:
 * @info: a job's progress, as a FERRY_EVENT_JOB_* event carried it
 * @rate_bps: the transfer rate to show, bytes per second (0: unknown)
 * @width: the terminal's width in columns; the line is shorter than that
 *
 * The totals are those of disk and memory together (a storage migration
 * copies the disks first); when there are disks, how far they are is
 * shown after what is left.  The time elapsed follows the phase when
 * @info has it.  Two states replace the figures:
 *  - a memory copy that does not converge (two passes or more, and the
 *    guest dirties memory faster than the link carries it: the bandwidth
 *    limit if any, else the measured rate) says "dirty rate X > link Y
 *    MiB/s: not converging" instead of the rate and the ETA;
 *  - an "in-doubt" job says "in doubt: asking the destination whether it
 *    runs the guest" instead of the bar.
 * When the line does not fit, the elapsed time goes first, then
 * everything but the warning.
 *
 * Returns: (transfer full): the progress line for @info, without "\r" or
 *   newline, e.g. "perform [#######     ]  58%  37.2 MiB sent, 27.0 MiB
 *   left  31.8 MiB/s  ETA 1 s", with disks "perform [##        ]  20%
 *   20.0 MiB sent, 80.0 MiB left (disks 60%)  8.0 MiB/s  ETA 10 s", with
 *   the time "perform  12.4 s [##    ]  20% ...".
 */
char *cli_progress_format(const ferry_job_info *info, double rate_bps, guint width);

/**
 * cli_progress_format_waiting:
 * @elapsed_ms: how long the migration has run
 * @width: the terminal's width in columns
 *
 * The line before the job said anything (Begin, Prepare, and the wait for
 * the first progress event).
 *
 * Returns: (transfer full): e.g. "preparing  0.8 s".
 */
char *cli_progress_format_waiting(gint64 elapsed_ms, guint width);

/**
 * cli_progress_not_converging:
 * @info: a job's progress
 * @rate_bps: the measured transfer rate, bytes per second (0: unknown),
 *   used when @info gives neither a bandwidth limit nor a rate
 *
 * Returns: TRUE when the memory copy does not converge: two passes or
 *   more, and @info's dirty rate above the link's (the bandwidth limit
 *   when set, else the transfer rate).
 */
gboolean cli_progress_not_converging(const ferry_job_info *info, double rate_bps);

/**
 * cli_format_ms:
 * @ms: a duration in milliseconds; 0 or less means unknown
 *
 * Returns: (transfer full): "84 ms" below a second, "1.84 s" from one
 *   second on, "unknown" for @ms <= 0 (a zero is never shown as a
 *   measurement).
 */
char *cli_format_ms(gint64 ms);

/**
 * cli_format_mib:
 * @bytes: a size
 *
 * Returns: (transfer full): @bytes in MiB with one decimal, "70.3 MiB".
 */
char *cli_format_mib(guint64 bytes);
