/*
 * progress.h: the live progress line of `ferry migrate` and the formatting
 * of migration numbers for people.
 *
 * Owns: one line on a terminal, redrawn in place from a thread that polls
 * a domain's job info.  Must not: decide anything about the migration
 * itself, or write anything once stopped.
 */
#pragma once

#include <ferry/ferry.h>
#include <stdio.h>

/** cli_progress: a progress line being drawn; opaque. */
typedef struct cli_progress cli_progress;

/**
 * cli_progress_start:
 * @dom: the domain whose job to poll (on the source connection); a
 *   reference is taken
 * @out: the terminal to draw on (stderr)
 *
 * Starts a thread that calls ferry_domain_get_job_info() about five times
 * a second and redraws one line on @out with "\r": phase, a bar, percent,
 * MiB sent and left, rate and ETA, disks and memory counted together.  A
 * failed poll keeps the last line.
 *
 * Returns: (transfer full): the running progress line.
 */
cli_progress *cli_progress_start(ferry_domain *dom, FILE *out);

/**
 * cli_progress_stop:
 * @p: (nullable): what cli_progress_start() returned
 *
 * Stops and joins the thread, erases the line if one was drawn, and frees
 * @p.  Nothing is written to @out after this returns.
 */
void cli_progress_stop(cli_progress *p);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(cli_progress, cli_progress_stop)

/**
 * cli_progress_format:
 * @info: a job's progress
 * @rate_bps: the transfer rate to show, bytes per second (0: unknown)
 * @width: the terminal's width in columns; the line is shorter than that
 *
 * The totals are those of disk and memory together (a storage migration
 * copies the disks first); when there are disks, how far they are is
 * shown after what is left.
 *
 * Returns: (transfer full): the progress line for @info, without "\r" or
 *   newline, e.g. "perform [#######     ]  58%  37.2 MiB sent, 27.0 MiB
 *   left  31.8 MiB/s  ETA 1 s", or with disks "perform [##        ]  20%
 *   20.0 MiB sent, 80.0 MiB left (disks 60%)  8.0 MiB/s  ETA 10 s".
 */
char *cli_progress_format(const ferry_job_info *info, double rate_bps, guint width);

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
