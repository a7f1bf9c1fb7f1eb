/*
 * test-log-filter.c: what ferryd does to a log line before writing it:
 * long values and lines cut with markers that say how much, control
 * characters and bad UTF-8 escaped, and the per-peer rate limit with its
 * "N messages suppressed" line.  Time is passed in, so no test sleeps.
 */
#include "ferry-config.h"

#include <string.h>

#include "daemon/log-filter.h"

static void
test_cut_short_unchanged(void)
{
    g_autofree char *line = ferry_log_cut("client 3 (unix, pid 7, uid 0): opened 'qemu:///system'",
                                          FERRY_LOG_VALUE_MAX, FERRY_LOG_LINE_MAX);

    g_assert_cmpstr(line, ==, "client 3 (unix, pid 7, uid 0): opened 'qemu:///system'");
}

/* A 1 MB URI inside a message keeps its head and says how much went. */
static void
test_cut_long_value(void)
{
    gsize n = 1024 * 1024;
    g_autofree char *uri = g_strnfill(n, 'A');
    g_autofree char *message = NULL;
    g_autofree char *line = NULL;
    g_autofree char *marker = NULL;

    memcpy(uri, "qemu+tcp://", strlen("qemu+tcp://"));
    message = g_strdup_printf("URI '%s' has unknown parameter 'x'", uri);
    line = ferry_log_cut(message, FERRY_LOG_VALUE_MAX, FERRY_LOG_LINE_MAX);
    /* The run is "'qemu+tcp://AAA...'": its quotes count. */
    marker = g_strdup_printf("...[+%" G_GSIZE_FORMAT " bytes] has unknown parameter 'x'",
                             n + 2 - FERRY_LOG_VALUE_MAX);
    g_assert_true(g_str_has_prefix(line, "URI 'qemu+tcp://AAAA"));
    g_assert_true(g_str_has_suffix(line, marker));
    g_assert_cmpuint(strlen(line), ==, strlen("URI ") + FERRY_LOG_VALUE_MAX + strlen(marker));
}

/* A long message of short words is cut at the line limit. */
static void
test_cut_long_line(void)
{
    g_autoptr(GString) message = g_string_new(NULL);
    g_autofree char *line = NULL;
    g_autofree char *marker = NULL;

    while (message->len < 100000)
        g_string_append(message, "peer said: no ");
    line = ferry_log_cut(message->str, FERRY_LOG_VALUE_MAX, FERRY_LOG_LINE_MAX);
    g_assert_cmpuint(strlen(line), <, FERRY_LOG_LINE_MAX + 32);
    marker = g_strdup_printf("...[+%" G_GSIZE_FORMAT " bytes cut]",
                             message->len - FERRY_LOG_LINE_MAX);
    g_assert_true(g_str_has_suffix(line, marker));
    g_assert_true(g_str_has_prefix(line, "peer said: no peer said"));
}

/* One message is one line: a newline from a peer cannot forge another;
 * terminal escapes and bytes that are not UTF-8 are shown, not sent. */
static void
test_cut_escapes(void)
{
    g_autofree char *line = ferry_log_cut("bad\n2026-01-01 00:00:00.000 1 warning ferryd: fake"
                                          "\r\t\x1b[31mred \xff\xfe end \xc3\xa9\xc2\x9b",
                                          FERRY_LOG_VALUE_MAX, FERRY_LOG_LINE_MAX);

    g_assert_cmpstr(line, ==, "bad\\n2026-01-01 00:00:00.000 1 warning ferryd: fake"
                              "\\r\\t\\u001b[31mred \\xff\\xfe end \xc3\xa9\\u009b");
    g_assert_true(g_utf8_validate(line, -1, NULL));
}

/* A run of two-byte characters is cut between characters, never inside one. */
static void
test_cut_utf8_boundary(void)
{
    g_autoptr(GString) message = g_string_new("name ");
    g_autofree char *line = NULL;

    for (int i = 0; i < 300; i++)
        g_string_append(message, "\xc3\xa9");
    g_string_append_c(message, 'x');
    line = ferry_log_cut(message->str, 11, FERRY_LOG_LINE_MAX);
    g_assert_true(g_utf8_validate(line, -1, NULL));
    /* Six characters make 12 bytes, the first run at or past 11. */
    g_assert_cmpstr(line, ==, "name \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...[+589 bytes]");
}

/* Applies @message for @peer at @now_s seconds; returns the line (or NULL
 * if suppressed) and the reports, joined by '|', in @ret_reports. */
static char *
apply(ferry_log_filter *filter, const char *peer, double now_s, char **ret_reports)
{
    g_auto(GStrv) reports = NULL;
    char *line = ferry_log_filter_apply(filter, peer, "a line", (gint64)(now_s * G_USEC_PER_SEC),
                                        &reports);

    *ret_reports = reports ? g_strjoinv("|", reports) : NULL;
    return line;
}

/* A burst passes; past it a peer's lines are dropped and counted; once its
 * budget refills, its next line comes after one report of the count. */
static void
test_rate_limit(void)
{
    g_autoptr(ferry_log_filter) filter = ferry_log_filter_new(3, 2);
    g_autofree char *report = NULL;
    g_autofree char *line = NULL;

    for (int i = 0; i < 3; i++) {
        g_autofree char *ok = apply(filter, "tcp 10.0.0.9", 0.0, &report);

        g_assert_cmpstr(ok, ==, "a line");
        g_assert_null(report);
    }
    for (int i = 0; i < 5; i++) {
        g_autofree char *dropped = apply(filter, "tcp 10.0.0.9", 0.1, &report);

        g_assert_null(dropped);
        g_assert_null(report);
    }
    /* The daemon's own lines and another peer's are not held back. */
    line = apply(filter, NULL, 0.2, &report);
    g_assert_cmpstr(line, ==, "a line");
    g_clear_pointer(&line, g_free);
    line = apply(filter, "unix uid 0", 0.2, &report);
    g_assert_cmpstr(line, ==, "a line");
    g_assert_null(report);
    g_clear_pointer(&line, g_free);

    /* 0.4 s later at 2 a second: one token. */
    line = apply(filter, "tcp 10.0.0.9", 0.6, &report);
    g_assert_cmpstr(line, ==, "a line");
    g_assert_cmpstr(report, ==, "tcp 10.0.0.9: 5 messages suppressed (more than 2 a second "
                                "from this peer)");
    g_clear_pointer(&line, g_free);
    g_clear_pointer(&report, g_free);
    /* Said once: the next suppression starts counting again. */
    line = apply(filter, "tcp 10.0.0.9", 0.6, &report);
    g_assert_null(line);
    g_assert_null(report);
}

/* A peer that stops while suppressed is reported at someone else's line,
 * once its budget has refilled. */
static void
test_rate_limit_reported_by_sweep(void)
{
    g_autoptr(ferry_log_filter) filter = ferry_log_filter_new(1, 1);
    g_autofree char *report = NULL;
    g_autofree char *line = NULL;

    line = apply(filter, "tls 10.0.0.7", 10.0, &report);
    g_assert_nonnull(line);
    g_clear_pointer(&line, g_free);
    for (int i = 0; i < 40; i++) {
        line = apply(filter, "tls 10.0.0.7", 10.0, &report);
        g_assert_null(line);
        g_assert_null(report);
    }
    line = apply(filter, NULL, 10.5, &report);
    g_assert_nonnull(line);
    g_assert_null(report);
    g_clear_pointer(&line, g_free);
    line = apply(filter, NULL, 12.0, &report);
    g_assert_cmpstr(report, ==, "tls 10.0.0.7: 40 messages suppressed (more than 1 a second "
                                "from this peer)");
    g_clear_pointer(&report, g_free);
    g_clear_pointer(&line, g_free);
    line = apply(filter, NULL, 14.0, &report);
    g_assert_null(report);
}

/* Past 1024 peers, new ones share one budget: a flood from many addresses
 * is limited as one. */
static void
test_rate_limit_many_peers(void)
{
    g_autoptr(ferry_log_filter) filter = ferry_log_filter_new(2, 1);
    g_autofree char *report = NULL;
    guint passed = 0;

    for (guint i = 0; i < 1024 + 50; i++) {
        g_autofree char *peer = g_strdup_printf("tcp 10.%u.%u.1", i / 256, i % 256);
        g_autofree char *line = apply(filter, peer, 1.0, &report);

        if (i >= 1024 && line)
            passed++;
    }
    g_assert_cmpuint(passed, ==, 2);
}

static gpointer
peer_in_thread(gpointer data)
{
    const char *seen;

    g_assert_null(ferry_log_get_thread_peer());
    ferry_log_set_thread_peer("tcp 10.0.0.3");
    seen = ferry_log_get_thread_peer();
    g_assert_cmpstr(seen, ==, "tcp 10.0.0.3");
    return NULL;
}

/* The peer is the calling thread's own. */
static void
test_thread_peer(void)
{
    GThread *thread;

    ferry_log_set_thread_peer("unix uid 1000");
    thread = g_thread_new("peer", peer_in_thread, NULL);
    g_thread_join(thread);
    g_assert_cmpstr(ferry_log_get_thread_peer(), ==, "unix uid 1000");
    ferry_log_set_thread_peer(NULL);
    g_assert_null(ferry_log_get_thread_peer());
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/log-filter/cut/short-unchanged", test_cut_short_unchanged);
    g_test_add_func("/log-filter/cut/long-value", test_cut_long_value);
    g_test_add_func("/log-filter/cut/long-line", test_cut_long_line);
    g_test_add_func("/log-filter/cut/escapes", test_cut_escapes);
    g_test_add_func("/log-filter/cut/utf8-boundary", test_cut_utf8_boundary);
    g_test_add_func("/log-filter/rate/limit", test_rate_limit);
    g_test_add_func("/log-filter/rate/reported-by-sweep", test_rate_limit_reported_by_sweep);
    g_test_add_func("/log-filter/rate/many-peers", test_rate_limit_many_peers);
    g_test_add_func("/log-filter/thread-peer", test_thread_peer);
    return g_test_run();
}
