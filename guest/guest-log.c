/*
 * guest-log.c: reading the bundled test guest's serial log on the host.
 *
 * Owns: the host-side grammar of the guest's serial lines (kept in step with
 * guest/kernel.c) and waiting for them.  Must not touch QEMU or log anything:
 * results go to the caller.
 */
#include "ferry-config.h"

#include <gio/gio.h>
#include <string.h>

#include <ferry/ferry.h>

#include "guest/guest-log.h"

#define BOOT_PREFIX "ferry-guest boot "
#define HB_PREFIX "hb "
#define ERROR_PREFIX "ERROR"
#define DISK_ERROR_PREFIX "DISKERROR"
/* Re-read this often even without a file monitor event (safety net). */
#define WAIT_POLL_MS 500
/* Coalesce change events of a file being written line by line. */
#define WAIT_RATE_LIMIT_MS 20

static void
log_init(ferry_guest_log *log)
{
    memset(log, 0, sizeof(*log));
    log->hb_consecutive = TRUE;
}

void
ferry_guest_log_clear(ferry_guest_log *log)
{
    if (!log)
        return;
    g_free(log->first_error);
    g_free(log->first_disk_error);
    log_init(log);
}

/*
 * parse_field: @tok must be "@key=<unsigned decimal>".
 */
static gboolean
parse_field(const char *tok, const char *key, guint64 *ret)
{
    size_t klen = strlen(key);

    if (strncmp(tok, key, klen) != 0 || tok[klen] != '=')
        return FALSE;
    return g_ascii_string_to_unsigned(tok + klen + 1, 10, 0, G_MAXUINT64, ret, NULL);
}

/*
 * parse_extra_field: one key=value field after errors=.  The disk counters
 * go to @disk (dwritten, dverified, derrors, in that order) and must be
 * numbers; other keys only need a name.
 */
static gboolean
parse_extra_field(const char *tok, guint64 disk[3])
{
    static const char *const disk_keys[] = { "dwritten", "dverified", "derrors" };
    const char *eq = strchr(tok, '=');
    g_autofree char *key = NULL;

    if (!eq || eq == tok)
        return FALSE;
    key = g_strndup(tok, eq - tok);
    for (guint i = 0; i < G_N_ELEMENTS(disk_keys); i++) {
        if (g_str_equal(key, disk_keys[i]))
            return g_ascii_string_to_unsigned(eq + 1, 10, 0, G_MAXUINT64, &disk[i], NULL);
    }
    return TRUE;
}

/*
 * parse_heartbeat: "hb <n> pass=<p> dirtied=<d> errors=<e>" and optional
 * key=value fields, among them dwritten=, dverified= and derrors=.
 */
static gboolean
parse_heartbeat(const char *source, guint lineno, const char *line,
                ferry_guest_log *log, GError **error)
{
    g_auto(GStrv) tok = g_strsplit(line, " ", -1);
    guint n_tok = g_strv_length(tok);
    guint64 n, pass, dirtied, errors;
    guint64 disk[3] = { 0, 0, 0 };
    gboolean ok;

    ok = n_tok >= 5 &&
        g_ascii_string_to_unsigned(tok[1], 10, 1, G_MAXINT64, &n, NULL) &&
        parse_field(tok[2], "pass", &pass) &&
        parse_field(tok[3], "dirtied", &dirtied) &&
        parse_field(tok[4], "errors", &errors);
    for (guint i = 5; ok && i < n_tok; i++)
        ok = parse_extra_field(tok[i], disk);
    if (!ok) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: line %u: '%s' is not a valid heartbeat line "
                    "(expected 'hb N pass=N dirtied=N errors=N', then "
                    "optional key=value fields such as dwritten=N)",
                    source, lineno, line);
        return FALSE;
    }

    if (log->n_hb == 0) {
        log->first_hb = (gint64)n;
    } else {
        if ((gint64)n != log->last_hb + 1)
            log->hb_consecutive = FALSE;
        if (n == 1 && log->last_hb > 1)
            log->hb_restarts++;
    }
    log->last_hb = (gint64)n;
    log->n_hb++;
    log->errors_reported = MAX(log->errors_reported, errors);
    log->max_pass = MAX(log->max_pass, pass);
    log->disk_written = MAX(log->disk_written, disk[0]);
    log->disk_verified = MAX(log->disk_verified, disk[1]);
    log->disk_errors = MAX(log->disk_errors, disk[2]);
    return TRUE;
}

static gboolean
parse_line(const char *source, guint lineno, const char *line,
           ferry_guest_log *log, GError **error)
{
    if (g_str_has_prefix(line, BOOT_PREFIX)) {
        log->booted = TRUE;
    } else if (g_str_has_prefix(line, HB_PREFIX)) {
        return parse_heartbeat(source, lineno, line, log, error);
    } else if (g_str_has_prefix(line, ERROR_PREFIX)) {
        log->n_error_lines++;
        if (!log->first_error)
            log->first_error = g_strdup(line);
    } else if (g_str_has_prefix(line, DISK_ERROR_PREFIX)) {
        log->n_disk_error_lines++;
        if (!log->first_disk_error)
            log->first_disk_error = g_strdup(line);
    }
    return TRUE;
}

/*
 * parse_text: parses the complete lines of @text[0..@len); @source names the
 * log in error messages.
 */
static gboolean
parse_text(const char *source, const char *text, gsize len,
           ferry_guest_log *out, GError **error)
{
    g_auto(ferry_guest_log) parsed = { 0 };
    const char *p = text;
    const char *end = text + len;
    guint lineno = 0;

    log_init(&parsed);
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        gsize llen;
        g_autofree char *line = NULL;

        if (!nl)
            break;             /* incomplete last line: still being written */
        lineno++;
        llen = nl - p;
        if (llen > 0 && p[llen - 1] == '\r')
            llen--;
        line = g_strndup(p, llen);
        if (!parse_line(source, lineno, line, &parsed, error))
            return FALSE;
        p = nl + 1;
    }
    *out = parsed;
    log_init(&parsed);
    return TRUE;
}

gboolean
ferry_guest_log_parse(const char *text, ferry_guest_log *out, GError **error)
{
    g_return_val_if_fail(text != NULL, FALSE);
    g_return_val_if_fail(out != NULL, FALSE);

    return parse_text("guest serial log", text, strlen(text), out, error);
}

/*
 * read_and_parse: like ferry_guest_log_parse_file(), but a missing file
 * counts as empty when @missing_ok.
 */
static gboolean
read_and_parse(const char *path, gboolean missing_ok, ferry_guest_log *out, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *text = NULL;
    g_autofree char *source = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &text, &len, &local)) {
        if (!(missing_ok && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                        "guest serial log '%s': %s", path, local->message);
            return FALSE;
        }
    }
    source = g_strdup_printf("guest serial log '%s'", path);
    return parse_text(source, text ? text : "", len, out, error);
}

gboolean
ferry_guest_log_parse_file(const char *path, ferry_guest_log *out, GError **error)
{
    g_return_val_if_fail(path != NULL, FALSE);
    g_return_val_if_fail(out != NULL, FALSE);

    return read_and_parse(path, FALSE, out, error);
}

typedef struct {
    gboolean changed;
    gboolean timed_out;
} wait_state;

static void
wait_on_file_changed(GFileMonitor *monitor, GFile *file, GFile *other,
                     GFileMonitorEvent event, gpointer data)
{
    wait_state *st = data;

    st->changed = TRUE;
}

static gboolean
wait_on_poll(gpointer data)
{
    wait_state *st = data;

    st->changed = TRUE;
    return G_SOURCE_CONTINUE;
}

static gboolean
wait_on_timeout(gpointer data)
{
    wait_state *st = data;

    st->timed_out = TRUE;
    st->changed = TRUE;        /* one last look before giving up */
    return G_SOURCE_REMOVE;
}

static gboolean
wait_reached(const ferry_guest_log *log, gint64 min_hb)
{
    return min_hb <= 0 ? log->booted : log->last_hb >= min_hb;
}

static void
wait_set_timeout_error(const char *path, gint64 min_hb, guint timeout_ms,
                       const ferry_guest_log *log, GError **error)
{
    g_autofree char *seen = NULL;

    if (log->n_hb > 0)
        seen = g_strdup_printf("last heartbeat seen: %" G_GINT64_FORMAT, log->last_hb);
    else
        seen = g_strdup_printf("no heartbeat seen, boot line %s",
                               log->booted ? "seen" : "not seen");
    if (min_hb <= 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                    "guest serial log '%s': boot line not seen within %u ms (%s)",
                    path, timeout_ms, seen);
    } else {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                    "guest serial log '%s': heartbeat %" G_GINT64_FORMAT
                    " not seen within %u ms (%s)",
                    path, min_hb, timeout_ms, seen);
    }
}

/*
 * wait_loop: iterates @ctx until the log at @path reaches @min_hb, the
 * timeout fires or reading fails.  @log holds the latest summary.
 */
static gboolean
wait_loop(GMainContext *ctx, wait_state *st, const char *path, gint64 min_hb,
          guint timeout_ms, ferry_guest_log *log, GError **error)
{
    for (;;) {
        if (st->changed) {
            st->changed = FALSE;
            ferry_guest_log_clear(log);
            if (!read_and_parse(path, TRUE, log, error))
                return FALSE;
            if (wait_reached(log, min_hb))
                return TRUE;
        }
        if (st->timed_out) {
            wait_set_timeout_error(path, min_hb, timeout_ms, log, error);
            return FALSE;
        }
        g_main_context_iteration(ctx, TRUE);
    }
}

gboolean
ferry_guest_log_wait(const char *path, gint64 min_hb, guint timeout_ms,
                     ferry_guest_log *out, GError **error)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(GFile) file = NULL;
    g_autoptr(GFileMonitor) monitor = NULL;
    g_autoptr(GSource) timeout = NULL;
    g_autoptr(GSource) poll = NULL;
    g_auto(ferry_guest_log) latest = { 0 };
    wait_state st = { .changed = TRUE, .timed_out = FALSE };
    gboolean ok;

    g_return_val_if_fail(path != NULL, FALSE);
    g_return_val_if_fail(out != NULL, FALSE);

    log_init(&latest);
    g_main_context_push_thread_default(ctx);

    /* The monitor reports to the thread-default context at creation. */
    file = g_file_new_for_path(path);
    monitor = g_file_monitor_file(file, G_FILE_MONITOR_NONE, NULL, NULL);
    if (monitor) {
        g_file_monitor_set_rate_limit(monitor, WAIT_RATE_LIMIT_MS);
        g_signal_connect(monitor, "changed", G_CALLBACK(wait_on_file_changed), &st);
    }
    timeout = g_timeout_source_new(timeout_ms);
    g_source_set_callback(timeout, wait_on_timeout, &st, NULL);
    g_source_attach(timeout, ctx);
    poll = g_timeout_source_new(WAIT_POLL_MS);
    g_source_set_callback(poll, wait_on_poll, &st, NULL);
    g_source_attach(poll, ctx);

    ok = wait_loop(ctx, &st, path, min_hb, timeout_ms, &latest, error);

    if (monitor) {
        g_signal_handlers_disconnect_by_data(monitor, &st);
        g_file_monitor_cancel(monitor);
    }
    g_source_destroy(timeout);
    g_source_destroy(poll);
    g_main_context_pop_thread_default(ctx);

    if (!ok)
        return FALSE;
    *out = latest;
    log_init(&latest);
    return TRUE;
}
