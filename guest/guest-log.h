/*
 * guest-log.h: reading the bundled test guest's serial log on the host.
 *
 * Owns: parsing the lines the guest prints (see guest/kernel.c) into a
 * summary tests can assert on, and waiting for a heartbeat to appear.
 * Must not start, stop or talk to QEMU: callers own the VM.
 *
 * Include as #include "guest/guest-log.h" with ferry_guest_log_dep (its
 * include path is the source root).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * ferry_guest_log:
 * @booted: a "ferry-guest boot" line was seen
 * @last_hb: number of the last heartbeat line (0 if none)
 * @first_hb: number of the first heartbeat line (0 if none)
 * @n_hb: number of heartbeat lines
 * @hb_consecutive: every heartbeat is the previous one + 1 (TRUE if < 2)
 * @hb_restarts: times the heartbeat went back to 1 after being > 1, i.e.
 *   the guest was restarted rather than migrated
 * @errors_reported: the largest errors= value of any heartbeat
 * @n_error_lines: number of lines starting with "ERROR"
 * @first_error: (nullable): the first such line, without its newline
 * @max_pass: the largest pass= value of any heartbeat
 * @disk_written: the largest dwritten= value of any heartbeat (disk sectors
 *   written; 0 if the guest runs without disk=1)
 * @disk_verified: the largest dverified= value of any heartbeat
 * @disk_errors: the largest derrors= value of any heartbeat
 * @n_disk_error_lines: number of lines starting with "DISKERROR"
 * @first_disk_error: (nullable): the first such line, without its newline
 *
 * Summary of a guest serial log.  Free its contents with
 * ferry_guest_log_clear(), or declare it g_auto(ferry_guest_log) = { 0 }.
 */
typedef struct {
    gboolean booted;
    gint64 last_hb;
    gint64 first_hb;
    guint n_hb;
    gboolean hb_consecutive;
    gint64 hb_restarts;
    guint64 errors_reported;
    guint n_error_lines;
    char *first_error;
    guint64 max_pass;
    guint64 disk_written;
    guint64 disk_verified;
    guint64 disk_errors;
    guint n_disk_error_lines;
    char *first_disk_error;
} ferry_guest_log;

/**
 * ferry_guest_log_parse:
 * @text: the log (NUL-terminated); an incomplete last line is ignored
 * @out: (out caller-allocates): the summary, written only on success; what
 *   it held before is overwritten, not freed
 * @error: return location for an error (FERRY_ERROR_INVALID_ARG naming the
 *   line for a malformed heartbeat line)
 *
 * Parses a guest serial log.  Lines other than the boot line, heartbeats,
 * ERROR and DISKERROR lines are ignored.  A heartbeat may carry key=value
 * fields after errors=: dwritten=, dverified= and derrors= must be unsigned
 * decimal numbers, other keys are ignored (a later guest may add some).
 *
 * Returns: TRUE on success.
 */
gboolean ferry_guest_log_parse(const char *text, ferry_guest_log *out, GError **error);

/**
 * ferry_guest_log_parse_file:
 * @path: the serial log file
 * @out: (out caller-allocates): as for ferry_guest_log_parse()
 * @error: return location for an error (FERRY_ERROR_SYSTEM if the file
 *   cannot be read, or as for ferry_guest_log_parse())
 *
 * Reads @path and parses it.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_guest_log_parse_file(const char *path, ferry_guest_log *out, GError **error);

/**
 * ferry_guest_log_clear:
 * @log: (nullable): a summary
 *
 * Frees what @log holds and resets it to the empty summary.
 */
void ferry_guest_log_clear(ferry_guest_log *log);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ferry_guest_log, ferry_guest_log_clear)

/**
 * ferry_guest_log_wait:
 * @path: the serial log file; it need not exist yet
 * @min_hb: heartbeat number to wait for; 0 waits for the boot line instead
 * @timeout_ms: how long to wait at most
 * @out: (out caller-allocates): the summary when the wait ended, written
 *   only on success; what it held before is overwritten, not freed
 * @error: return location for an error (FERRY_ERROR_TIMEOUT naming @path and
 *   the last heartbeat seen, or as for ferry_guest_log_parse())
 *
 * Waits until the log at @path shows heartbeat @min_hb or later (or, for 0,
 * the boot line).  Watches the file with a GFileMonitor and re-reads it on
 * change, with a slow periodic re-read as a safety net, iterating a private
 * GMainContext: sources of the caller's context are not dispatched meanwhile.
 *
 * Returns: TRUE once the condition holds.
 */
gboolean ferry_guest_log_wait(const char *path, gint64 min_hb, guint timeout_ms,
                              ferry_guest_log *out, GError **error);

G_END_DECLS
