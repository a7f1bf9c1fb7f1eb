/*
 * wait-heartbeat.c: test helper: waits until the bundled guest's serial log
 * shows heartbeat MIN_HB (inotify through GFileMonitor, not polling), then
 * prints what the log says as one line of key=value pairs:
 *
 *   last_hb=N first_hb=N n_hb=N consecutive=0|1 restarts=N errors=N booted=0|1
 *
 * Usage: wait-heartbeat LOG MIN_HB TIMEOUT_MS     (MIN_HB 0: just parse)
 * Exit 0 when reached, 1 with a message on stderr otherwise.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <stdio.h>

#include "guest/guest-log.h"

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    ferry_guest_log log = { 0 };
    gint64 min_hb;
    guint64 timeout;
    gboolean ok;

    if (argc != 4 || !g_ascii_string_to_signed(argv[2], 10, 0, G_MAXINT64, &min_hb, NULL) ||
        !g_ascii_string_to_unsigned(argv[3], 10, 1, G_MAXUINT, &timeout, NULL)) {
        fprintf(stderr, "usage: wait-heartbeat LOG MIN_HB TIMEOUT_MS\n");
        return 2;
    }
    if (min_hb > 0)
        ok = ferry_guest_log_wait(argv[1], min_hb, (guint)timeout, &log, &error);
    else
        ok = ferry_guest_log_parse_file(argv[1], &log, &error);
    if (!ok) {
        fprintf(stderr, "wait-heartbeat: %s\n", error->message);
        ferry_guest_log_clear(&log);
        return 1;
    }
    printf("last_hb=%" G_GINT64_FORMAT " first_hb=%" G_GINT64_FORMAT " n_hb=%u consecutive=%d "
           "restarts=%" G_GINT64_FORMAT " errors=%" G_GUINT64_FORMAT " error_lines=%u booted=%d "
           "dwritten=%" G_GUINT64_FORMAT " dverified=%" G_GUINT64_FORMAT " derrors=%"
           G_GUINT64_FORMAT " disk_error_lines=%u\n",
           log.last_hb, log.first_hb, log.n_hb, log.hb_consecutive ? 1 : 0, log.hb_restarts,
           log.errors_reported, log.n_error_lines, log.booted ? 1 : 0, log.disk_written,
           log.disk_verified, log.disk_errors, log.n_disk_error_lines);
    ferry_guest_log_clear(&log);
    return 0;
}
