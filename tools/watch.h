/*
 * watch.h: what `ferry migrate` does while the migration call blocks its
 * main thread: the live progress line, fed by the job's events, and Ctrl-C.
 *
 * Owns: one thread with its own GMainContext, the event subscription on
 * the source connection, the SIGINT handling for the length of the
 * migration, and the writes to stderr meanwhile.  Must not: decide the
 * migration's outcome (the daemons do; the main thread reports it), or
 * write anything once stopped.
 */
#pragma once

#include <ferry/ferry.h>
#include <stdio.h>

/** cli_watch: a migration being watched; opaque. */
typedef struct cli_watch cli_watch;

/**
 * cli_watch_start:
 * @dom: the migrating domain, on the source connection (a reference is
 *   taken); the events are subscribed to on its connection
 * @out: where messages go (stderr)
 * @draw: whether to draw the progress line on @out (a terminal, no --json)
 *
 * Starts the watch thread and returns once it handles SIGINT and (if the
 * connection allows it) receives the domain's job events, so that the
 * migration may start.  The progress line says "preparing" until the first
 * job event, is redrawn on each FERRY_EVENT_JOB_PROGRESS and JOB_ENDED
 * event of @dom, and its elapsed time each second.
 *
 * The first Ctrl-C erases the line, says so on @out and asks @dom's host
 * to abort the job (ferry_domain_abort_job(), from a thread of its own);
 * if that fails, "ferry: cannot abort: ..." and the migration goes on.  The
 * second Ctrl-C exits the process at once with status 130, leaving the
 * migration to its daemons.
 *
 * Returns: (transfer full): the running watch; end it with cli_watch_stop().
 */
cli_watch *cli_watch_start(ferry_domain *dom, FILE *out, gboolean draw);

/**
 * cli_watch_stop:
 * @w: (transfer full): what cli_watch_start() returned
 * @ret_last: (out) (optional): the job information of the last event seen
 *   (zeroes if none came)
 *
 * Stops and joins the watch thread and the abort thread if one ran, erases
 * the line if one is drawn, puts SIGINT back to its default disposition,
 * and frees @w.  Nothing is written to @out after this returns.
 *
 * Returns: TRUE if a Ctrl-C asked for the migration to be aborted.
 */
gboolean cli_watch_stop(cli_watch *w, ferry_job_info *ret_last);
