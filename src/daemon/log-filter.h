/*
 * log-filter.h: what ferryd does to a log line before writing it.
 *
 * Owns: cutting long values and escaping what would break a line
 * (ferry_log_cut()), the per-peer rate limit with its "N messages
 * suppressed" reports (ferry_log_filter), and the peer a thread works for
 * (set by the dispatch around each call, so that what drivers log during a
 * call counts against the client that made it).  Must not: write anything
 * (ferryd.c does), or know the RPC layer: a peer is only a string.
 *
 * Why: a client can put anything in a URI, a name, a path or an error a
 * peer sends back, and can make as many calls as it likes; neither may
 * fill the disk with the log, nor forge a line of it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/** The longest run of non-blank bytes kept in a line (URIs, names, paths). */
#define FERRY_LOG_VALUE_MAX 256
/** The longest line kept, in bytes, before its marker. */
#define FERRY_LOG_LINE_MAX 2048
/** Lines a peer may cause at once... */
#define FERRY_LOG_PEER_BURST 100
/** ...and per second after that. */
#define FERRY_LOG_PEER_RATE 10

/**
 * ferry_log_cut:
 * @message: a log message (any bytes)
 * @value_max: the longest run of non-blank bytes kept
 * @line_max: the longest result kept before the final marker
 *
 * Makes @message one printable line: control characters and bytes that
 * are not UTF-8 are escaped ("\n", "\x1b"); a run of non-blank bytes longer
 * than @value_max keeps its first @value_max bytes and gets the marker
 * "...[+N bytes]"; a result longer than @line_max is cut there with the
 * marker "...[+N bytes cut]".  The markers count bytes of @message.
 *
 * Returns: (transfer full): the line.
 */
char *ferry_log_cut(const char *message, gsize value_max, gsize line_max);

typedef struct ferry_log_filter ferry_log_filter;

/**
 * ferry_log_filter_new:
 * @burst: lines a peer may cause at once
 * @per_second: lines per second a peer may cause after its burst
 *
 * Returns: (transfer full): a filter with no peers yet.  Thread-safe.
 */
ferry_log_filter *ferry_log_filter_new(guint burst, guint per_second);

/** ferry_log_filter_free: accepts NULL. */
void ferry_log_filter_free(ferry_log_filter *filter);

/**
 * ferry_log_filter_apply:
 * @filter: a filter
 * @peer: (nullable): who caused the line (e.g. "tcp 10.0.0.1"); NULL for
 *   the daemon's own lines, which are never suppressed
 * @message: the message
 * @now_us: the monotonic time, in microseconds
 * @ret_reports: (out) (transfer full) (nullable): lines to write before
 *   this one, each "PEER: N messages suppressed (...)": for @peer if its
 *   suppression just ended, and (at most once a second) for any other
 *   peer whose suppression ended without a line of its own since
 *
 * Counts the line against @peer's budget (a token bucket of @burst tokens
 * refilled at @per_second) and cuts it (ferry_log_cut() with
 * FERRY_LOG_VALUE_MAX and FERRY_LOG_LINE_MAX).  At most 1024 peers are
 * followed apart; more share one budget.
 *
 * Returns: (transfer full) (nullable): the line to write, or NULL if it
 *   is suppressed.
 */
char *ferry_log_filter_apply(ferry_log_filter *filter, const char *peer, const char *message,
                             gint64 now_us, GStrv *ret_reports);

/**
 * ferry_log_set_thread_peer:
 * @peer: (nullable): the peer the calling thread works for from now on;
 *   NULL when it works for nobody
 */
void ferry_log_set_thread_peer(const char *peer);

/**
 * ferry_log_get_thread_peer:
 *
 * Returns: (transfer none) (nullable): what ferry_log_set_thread_peer()
 *   last set in this thread.
 */
const char *ferry_log_get_thread_peer(void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_log_filter, ferry_log_filter_free)

G_END_DECLS
