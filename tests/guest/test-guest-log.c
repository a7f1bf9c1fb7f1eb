/*
 * test-guest-log.c: tests of the host-side guest serial log parser.
 *
 * Owns: the data-driven parser cases (tests/guest/data/<case>.log against
 * <case>.out, or <case>.err for a log that must be refused) and the tests of
 * ferry_guest_log_wait().  Must not start QEMU (test-guest-boot.c does).
 *
 * FERRY_TEST_REGENERATE=1 rewrites the expected files; review those diffs.
 */
#include "ferry-config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include <ferry/ferry.h>

#include "guest/guest-log.h"

static char *
render(const ferry_guest_log *log)
{
    return g_strdup_printf("booted=%s\n"
                           "first_hb=%" G_GINT64_FORMAT "\n"
                           "last_hb=%" G_GINT64_FORMAT "\n"
                           "n_hb=%u\n"
                           "hb_consecutive=%s\n"
                           "hb_restarts=%" G_GINT64_FORMAT "\n"
                           "errors_reported=%" G_GUINT64_FORMAT "\n"
                           "n_error_lines=%u\n"
                           "first_error=%s\n"
                           "max_pass=%" G_GUINT64_FORMAT "\n"
                           "disk_written=%" G_GUINT64_FORMAT "\n"
                           "disk_verified=%" G_GUINT64_FORMAT "\n"
                           "disk_errors=%" G_GUINT64_FORMAT "\n"
                           "n_disk_error_lines=%u\n"
                           "first_disk_error=%s\n",
                           log->booted ? "true" : "false",
                           log->first_hb, log->last_hb, log->n_hb,
                           log->hb_consecutive ? "true" : "false",
                           log->hb_restarts, log->errors_reported,
                           log->n_error_lines,
                           log->first_error ? log->first_error : "",
                           log->max_pass,
                           log->disk_written, log->disk_verified, log->disk_errors,
                           log->n_disk_error_lines,
                           log->first_disk_error ? log->first_disk_error : "");
}

static gboolean
regenerate(void)
{
    return g_strcmp0(g_getenv("FERRY_TEST_REGENERATE"), "1") == 0;
}

/* Compares @actual with the file @expected_path, or rewrites it. */
static void
check_golden(const char *expected_path, const char *actual)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *expected = NULL;

    if (regenerate()) {
        g_assert_true(g_file_set_contents(expected_path, actual, -1, &err));
        g_assert_no_error(err);
        return;
    }
    if (!g_file_get_contents(expected_path, &expected, NULL, &err))
        g_test_fail_printf("no expected result for this case: %s", err->message);
    else
        g_assert_cmpstr(actual, ==, expected);
}

static void
test_parse_case(gconstpointer data)
{
    const char *log_path = data;
    g_autofree char *base = g_strndup(log_path, strlen(log_path) - strlen(".log"));
    g_autofree char *out_path = g_strconcat(base, ".out", NULL);
    g_autofree char *err_path = g_strconcat(base, ".err", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    g_auto(ferry_guest_log) log = { 0 };
    gboolean expect_error = g_file_test(err_path, G_FILE_TEST_EXISTS);

    g_assert_true(g_file_get_contents(log_path, &text, NULL, &err));
    g_assert_no_error(err);

    if (ferry_guest_log_parse(text, &log, &err)) {
        g_autofree char *actual = render(&log);

        g_assert_no_error(err);
        if (expect_error && !regenerate())
            g_test_fail_printf("'%s' parsed but %s expects an error", log_path, err_path);
        else
            check_golden(out_path, actual);
    } else {
        g_autofree char *actual = g_strdup_printf("%s\n", err->message);

        g_assert_error(err, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        check_golden(err_path, actual);
    }
}

static void
test_parse_file_matches_text(void)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "guest", "data", "errors.log", NULL);
    g_autofree char *text = NULL;
    g_autofree char *from_text = NULL;
    g_autofree char *from_file = NULL;
    g_autoptr(GError) err = NULL;
    g_auto(ferry_guest_log) a = { 0 };
    g_auto(ferry_guest_log) b = { 0 };

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_true(ferry_guest_log_parse(text, &a, &err));
    g_assert_no_error(err);
    g_assert_true(ferry_guest_log_parse_file(path, &b, &err));
    g_assert_no_error(err);
    from_text = render(&a);
    from_file = render(&b);
    g_assert_cmpstr(from_text, ==, from_file);
    g_assert_cmpuint(b.n_error_lines, ==, 2);
}

static void
test_parse_file_missing(void)
{
    g_autoptr(GError) err = NULL;
    ferry_guest_log log = { .n_hb = 42 };

    g_assert_false(ferry_guest_log_parse_file("/nonexistent/ferry/serial.log", &log, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_SYSTEM);
    g_assert_nonnull(strstr(err->message, "'/nonexistent/ferry/serial.log'"));
    g_assert_cmpuint(log.n_hb, ==, 42);    /* untouched on failure */
}

static void
test_malformed_names_line(void)
{
    g_autoptr(GError) err = NULL;
    ferry_guest_log log = { .n_hb = 7 };

    g_assert_false(ferry_guest_log_parse("hb 1 pass=0 dirtied=0 errors=0\nhb 2 pass=x\n", &log, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(err->message, "line 2"));
    g_assert_nonnull(strstr(err->message, "'hb 2 pass=x'"));
    g_assert_cmpuint(log.n_hb, ==, 7);
}

/* ---- ferry_guest_log_wait ------------------------------------------------ */

typedef struct {
    char *dir;
    char *path;
} wait_fixture;

static void
wait_setup(wait_fixture *fx, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    fx->dir = g_dir_make_tmp("ferry-guest-log-XXXXXX", &err);
    g_assert_no_error(err);
    fx->path = g_build_filename(fx->dir, "serial.log", NULL);
}

static void
wait_teardown(wait_fixture *fx, gconstpointer data)
{
    g_unlink(fx->path);
    g_rmdir(fx->dir);
    g_free(fx->path);
    g_free(fx->dir);
}

static void
append(const char *path, const char *text)
{
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GFileOutputStream) out = NULL;
    g_autoptr(GError) err = NULL;

    out = g_file_append_to(file, G_FILE_CREATE_NONE, NULL, &err);
    g_assert_no_error(err);
    g_assert_true(g_output_stream_write_all(G_OUTPUT_STREAM(out), text, strlen(text),
                                            NULL, NULL, &err));
    g_assert_no_error(err);
    g_assert_true(g_output_stream_close(G_OUTPUT_STREAM(out), NULL, &err));
    g_assert_no_error(err);
}

/*
 * A fake guest in a thread: appends lines one by one, as the serial port
 * would, while the test thread waits.  The pause between lines stands for
 * the guest's heartbeat interval; nothing synchronises on it.
 */
typedef struct {
    const char *path;
    const char *const *lines;
} writer_args;

static gpointer
writer_thread(gpointer data)
{
    writer_args *args = data;

    for (guint i = 0; args->lines[i]; i++) {
        g_usleep(20 * G_TIME_SPAN_MILLISECOND);
        append(args->path, args->lines[i]);
    }
    return NULL;
}

static void
test_wait_already_there(wait_fixture *fx, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_auto(ferry_guest_log) log = { 0 };

    append(fx->path, "ferry-guest boot mem=16 rate=1000 hb=100\n"
                     "hb 1 pass=1 dirtied=100 errors=0\n"
                     "hb 2 pass=2 dirtied=200 errors=0\n");
    g_assert_true(ferry_guest_log_wait(fx->path, 2, 5000, &log, &err));
    g_assert_no_error(err);
    g_assert_cmpint(log.last_hb, ==, 2);
    g_assert_true(log.booted);
}

static void
test_wait_boot_line(wait_fixture *fx, gconstpointer data)
{
    static const char *const lines[] = {
        "ferry-guest boot mem=16 ", "rate=1000 hb=100\n", NULL,
    };
    writer_args args = { fx->path, lines };
    g_autoptr(GError) err = NULL;
    g_auto(ferry_guest_log) log = { 0 };
    GThread *writer;

    /* The file does not exist yet: the guest has not started. */
    writer = g_thread_new("fake-guest", writer_thread, &args);
    g_assert_true(ferry_guest_log_wait(fx->path, 0, 10000, &log, &err));
    g_assert_no_error(err);
    g_assert_true(log.booted);
    g_assert_cmpuint(log.n_hb, ==, 0);
    g_thread_join(writer);
}

static void
test_wait_grows(wait_fixture *fx, gconstpointer data)
{
    static const char *const lines[] = {
        "ferry-guest boot mem=16 rate=1000 hb=100\n",
        "hb 1 pass=1 dirtied=100 errors=0\n",
        "hb 2 pass=2 dirtied=200 errors=0\n",
        "hb 3 pass=3 ", "dirtied=300 errors=0\n",     /* a line in two writes */
        "hb 4 pass=4 dirtied=400 errors=0\n",
        "hb 5 pass=5 dirtied=500 errors=0\n",
        NULL,
    };
    writer_args args = { fx->path, lines };
    g_autoptr(GError) err = NULL;
    g_auto(ferry_guest_log) log = { 0 };
    GThread *writer;
    gint64 start = g_get_monotonic_time();

    writer = g_thread_new("fake-guest", writer_thread, &args);
    g_assert_true(ferry_guest_log_wait(fx->path, 5, 10000, &log, &err));
    g_assert_no_error(err);
    g_assert_cmpint(log.last_hb, ==, 5);
    g_assert_cmpuint(log.n_hb, ==, 5);
    g_assert_true(log.hb_consecutive);
    g_assert_cmpuint(log.max_pass, ==, 5);
    g_test_message("waited %" G_GINT64_FORMAT " ms for 7 writes 20 ms apart",
                   (g_get_monotonic_time() - start) / 1000);
    g_thread_join(writer);
}

static void
test_wait_timeout(wait_fixture *fx, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    ferry_guest_log log = { .n_hb = 99 };
    gint64 start = g_get_monotonic_time();
    gint64 elapsed_ms;

    /* hb 3 is incomplete: it must not count. */
    append(fx->path, "ferry-guest boot mem=16 rate=1000 hb=100\n"
                     "hb 1 pass=1 dirtied=100 errors=0\n"
                     "hb 2 pass=2 dirtied=200 errors=0\n"
                     "hb 3 pass=3 dirtied=300");
    g_assert_false(ferry_guest_log_wait(fx->path, 3, 300, &log, &err));
    elapsed_ms = (g_get_monotonic_time() - start) / 1000;
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(err->message, fx->path));
    g_assert_nonnull(strstr(err->message, "last heartbeat seen: 2"));
    g_assert_cmpint(elapsed_ms, >=, 300);
    g_assert_cmpint(elapsed_ms, <, 5000);
    g_assert_cmpuint(log.n_hb, ==, 99);    /* untouched on failure */
}

static void
test_wait_timeout_no_file(wait_fixture *fx, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    ferry_guest_log log = { 0 };

    g_assert_false(ferry_guest_log_wait(fx->path, 0, 100, &log, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(err->message, "boot line not seen"));
    g_assert_nonnull(strstr(err->message, "no heartbeat seen"));
}

static void
test_wait_malformed(wait_fixture *fx, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    ferry_guest_log log = { 0 };

    append(fx->path, "hb 1 pass=1 dirtied=100 errors=0\nhb garbage\n");
    g_assert_false(ferry_guest_log_wait(fx->path, 5, 5000, &log, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(err->message, "line 2"));
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static void
add_parse_cases(void)
{
    g_autofree char *dir_path = g_test_build_filename(G_TEST_DIST, "guest", "data", NULL);
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    const char *name;

    dir = g_dir_open(dir_path, 0, &err);
    g_assert_no_error(err);
    while ((name = g_dir_read_name(dir))) {
        if (g_str_has_suffix(name, ".log"))
            g_ptr_array_add(names, g_strdup(name));
    }
    g_assert_cmpuint(names->len, >, 0);
    g_ptr_array_sort(names, compare_names);
    for (guint i = 0; i < names->len; i++) {
        const char *file = g_ptr_array_index(names, i);
        g_autofree char *test_name = g_strdup_printf("/guest-log/parse/%.*s",
                                                     (int)(strlen(file) - 4), file);

        /* The path lives as long as the test program. */
        g_test_add_data_func_full(test_name, g_build_filename(dir_path, file, NULL),
                                  test_parse_case, g_free);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    add_parse_cases();
    g_test_add_func("/guest-log/parse-file/matches-text", test_parse_file_matches_text);
    g_test_add_func("/guest-log/parse-file/missing", test_parse_file_missing);
    g_test_add_func("/guest-log/parse/malformed-names-line", test_malformed_names_line);
    g_test_add("/guest-log/wait/already-there", wait_fixture, NULL,
               wait_setup, test_wait_already_there, wait_teardown);
    g_test_add("/guest-log/wait/boot-line", wait_fixture, NULL,
               wait_setup, test_wait_boot_line, wait_teardown);
    g_test_add("/guest-log/wait/grows", wait_fixture, NULL,
               wait_setup, test_wait_grows, wait_teardown);
    g_test_add("/guest-log/wait/timeout", wait_fixture, NULL,
               wait_setup, test_wait_timeout, wait_teardown);
    g_test_add("/guest-log/wait/timeout-no-file", wait_fixture, NULL,
               wait_setup, test_wait_timeout_no_file, wait_teardown);
    g_test_add("/guest-log/wait/malformed", wait_fixture, NULL,
               wait_setup, test_wait_malformed, wait_teardown);

    return g_test_run();
}
