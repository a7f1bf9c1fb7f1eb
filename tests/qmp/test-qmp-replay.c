/*
 * test-qmp-replay.c: the QMP client against the fake monitor replaying
 * transcripts from tests/qmp/data (recorded from QEMU or hand-written).
 *
 * Owns: the client's behaviour without QEMU -- replies, events, errors,
 * the close, timeouts, protocol errors, fd passing, cancellation and both
 * paths of the sync calls.  Must not: need QEMU (test-qmp-qemu.c does).
 */
#include "ferry-config.h"

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <ferry/ferry.h>

#include "qmp-test-util.h"
#include "qmp/qmp-fake.h"
#include "qmp/qmp.h"
#include "util/json-util.h"

#define MONITOR_NAME "domain 'replay'"

typedef struct {
    char *dir;
    char *socket_path;
    ferry_qmp_fake *fake;
    qmp_test_monitor *mon;
} replay;

static void
replay_start_fake(replay *r, const char *transcript)
{
    g_autofree char *path = qmp_test_data_path(transcript);
    g_autoptr(GError) err = NULL;

    r->fake = ferry_qmp_fake_new(path, r->socket_path, &err);
    g_assert_no_error(err);
}

/* A fake playing @transcript, and an unconnected monitor on @context. */
static void
replay_init(replay *r, const char *transcript, GMainContext *context)
{
    g_autoptr(GError) err = NULL;

    r->dir = g_dir_make_tmp("ferry-qmp-XXXXXX", &err);
    g_assert_no_error(err);
    r->socket_path = g_build_filename(r->dir, "monitor.sock", NULL);
    if (transcript)
        replay_start_fake(r, transcript);
    r->mon = qmp_test_monitor_new(context, MONITOR_NAME);
}

static void
replay_init_connected(replay *r, const char *transcript)
{
    g_autoptr(GError) err = NULL;

    replay_init(r, transcript, NULL);
    g_assert_true(ferry_qmp_connect_sync(r->mon->qmp, r->socket_path, 5000, &err));
    g_assert_no_error(err);
    g_assert_true(ferry_qmp_is_open(r->mon->qmp));
}

/* Drops the monitor and, with @check, asserts the fake saw the transcript through. */
static void
replay_end(replay *r, gboolean check)
{
    g_autoptr(GError) err = NULL;

    g_clear_pointer(&r->mon, qmp_test_monitor_free);
    if (r->fake && check) {
        gboolean ok = ferry_qmp_fake_finish(r->fake, &err);

        g_assert_no_error(err);
        g_assert_true(ok);
    }
    g_clear_pointer(&r->fake, ferry_qmp_fake_free);
    g_assert_cmpint(g_rmdir(r->dir), ==, 0);
    g_free(r->socket_path);
    g_free(r->dir);
}

static json_object *
args_new(const char *key, const char *value)
{
    json_object *args = json_object_new_object();

    json_object_object_add(args, key, json_object_new_string(value));
    return args;
}

static void
assert_status(json_object *reply, const char *status, gboolean running)
{
    json_object *member = NULL;

    g_assert_nonnull(reply);
    g_assert_cmpstr(qmp_test_get_string(reply, "status"), ==, status);
    g_assert_true(json_object_object_get_ex(reply, "running", &member));
    g_assert_cmpint(json_object_get_boolean(member), ==, running);
}

static void
assert_error_mentions(const GError *err, int code, const char *const *parts)
{
    g_assert_error(err, FERRY_ERROR, code);
    for (guint i = 0; parts[i]; i++) {
        if (!strstr(err->message, parts[i]))
            g_error("error '%s' does not mention '%s'", err->message, parts[i]);
    }
}

/* ---- recorded conversations -------------------------------------------- */

static void
test_connect(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) status = NULL;
    g_autoptr(json_object) version = NULL;
    g_autoptr(json_object) after = NULL;
    json_object *qemu = NULL, *major = NULL;

    replay_init(&r, "connect.qmp", NULL);
    g_assert_null(ferry_qmp_get_version(r.mon->qmp));
    g_assert_false(ferry_qmp_is_open(r.mon->qmp));
    g_assert_true(qmp_test_connect(r.mon, r.socket_path, 5000, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(ferry_qmp_get_version(r.mon->qmp), ==, "7.2.22");
    g_assert_true(ferry_qmp_is_open(r.mon->qmp));

    status = ferry_qmp_command_sync(r.mon->qmp, "query-status", NULL, &err);
    g_assert_no_error(err);
    assert_status(status, "prelaunch", FALSE);

    version = ferry_qmp_command_sync(r.mon->qmp, "query-version", NULL, &err);
    g_assert_no_error(err);
    g_assert_true(json_object_object_get_ex(version, "qemu", &qemu));
    g_assert_true(json_object_object_get_ex(qemu, "major", &major));
    g_assert_cmpint(json_object_get_int(major), ==, 7);

    ferry_qmp_close(r.mon->qmp);
    ferry_qmp_close(r.mon->qmp);
    g_assert_false(ferry_qmp_is_open(r.mon->qmp));
    after = ferry_qmp_command_sync(r.mon->qmp, "query-status", NULL, &err);
    g_assert_null(after);
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    /* the close handler is not called after ferry_qmp_close() */
    g_assert_cmpuint(r.mon->closes, ==, 0);
    replay_end(&r, TRUE);
}

static void
test_run_stop(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) cont = NULL;
    g_autoptr(json_object) running = NULL;
    g_autoptr(json_object) stop = NULL;
    g_autoptr(json_object) paused = NULL;
    const qmp_test_event *resume, *stopped;

    replay_init_connected(&r, "run-stop.qmp");
    cont = qmp_test_command(r.mon, "cont", NULL, -1, &err);
    g_assert_no_error(err);
    g_assert_true(json_object_is_type(cont, json_type_object));
    g_assert_cmpint(json_object_object_length(cont), ==, 0);
    /* QEMU sends RESUME before the reply to cont */
    g_assert_cmpuint(r.mon->events->len, ==, 1);
    resume = qmp_test_wait_event(r.mon, "RESUME", 0);
    g_assert_nonnull(resume);
    g_assert_null(resume->data);
    g_assert_cmpint(resume->timestamp_us, >, (gint64)1600000000 * G_USEC_PER_SEC);

    running = qmp_test_command(r.mon, "query-status", NULL, -1, &err);
    g_assert_no_error(err);
    assert_status(running, "running", TRUE);

    stop = qmp_test_command(r.mon, "stop", NULL, -1, &err);
    g_assert_no_error(err);
    stopped = qmp_test_wait_event(r.mon, "STOP", 0);
    g_assert_nonnull(stopped);
    g_assert_cmpint(stopped->timestamp_us, >, resume->timestamp_us);

    paused = qmp_test_command(r.mon, "query-status", NULL, -1, &err);
    g_assert_no_error(err);
    assert_status(paused, "paused", FALSE);
    g_assert_cmpuint(r.mon->events->len, ==, 2);
    replay_end(&r, TRUE);
}

static void
test_error(void)
{
    replay r = { 0 };
    g_autoptr(GError) err1 = NULL;
    g_autoptr(GError) err2 = NULL;
    g_autoptr(GError) err3 = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) bogus = json_object_new_object();
    g_autoptr(json_object) nofd = args_new("fdname", "nofd");
    g_autoptr(json_object) status = NULL;
    const char *const not_found[] = { MONITOR_NAME, "'no-such-command'",
                                      "The command no-such-command has not been found",
                                      "CommandNotFound", NULL };
    const char *const bad_arg[] = { "'query-status'", "Parameter 'bogus' is unexpected",
                                    "GenericError", NULL };
    const char *const no_fd[] = { "'getfd'", "No file descriptor supplied via SCM_RIGHTS", NULL };

    replay_init_connected(&r, "error.qmp");
    g_assert_null(ferry_qmp_command_sync(r.mon->qmp, "no-such-command", NULL, &err1));
    assert_error_mentions(err1, FERRY_ERROR_QMP, not_found);

    json_object_object_add(bogus, "bogus", json_object_new_int(1));
    g_assert_null(qmp_test_command(r.mon, "query-status", bogus, -1, &err2));
    assert_error_mentions(err2, FERRY_ERROR_QMP, bad_arg);

    g_assert_null(ferry_qmp_command_sync(r.mon->qmp, "getfd", nofd, &err3));
    assert_error_mentions(err3, FERRY_ERROR_QMP, no_fd);

    /* an error reply leaves the connection usable */
    status = ferry_qmp_command_sync(r.mon->qmp, "query-status", NULL, &err);
    g_assert_no_error(err);
    assert_status(status, "prelaunch", FALSE);
    replay_end(&r, TRUE);
}

static void
test_quit(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) quit = NULL;
    g_autoptr(json_object) after = NULL;
    const qmp_test_event *shutdown;

    replay_init_connected(&r, "quit.qmp");
    quit = qmp_test_command(r.mon, "quit", NULL, -1, &err);
    g_assert_no_error(err);
    shutdown = qmp_test_wait_event(r.mon, "SHUTDOWN", 5000);
    g_assert_nonnull(shutdown);
    g_assert_cmpstr(qmp_test_get_string(shutdown->data, "reason"), ==, "host-qmp-quit");

    g_assert_cmpuint(qmp_test_wait_closed(r.mon, 5000), ==, 1);
    g_assert_error(r.mon->close_reason, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_nonnull(strstr(r.mon->close_reason->message, MONITOR_NAME));
    g_assert_nonnull(strstr(r.mon->close_reason->message, "end of file"));
    g_assert_false(ferry_qmp_is_open(r.mon->qmp));

    after = qmp_test_command(r.mon, "query-status", NULL, -1, &err);
    g_assert_null(after);
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_cmpuint(r.mon->closes, ==, 1);
    replay_end(&r, TRUE);
}

/* ---- the connection failing --------------------------------------------- */

static void
test_eof_pending(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    const char *const parts[] = { MONITOR_NAME, "'query-status'", "end of file", NULL };

    replay_init_connected(&r, "eof-pending.qmp");
    g_assert_null(qmp_test_command(r.mon, "query-status", NULL, -1, &err));
    assert_error_mentions(err, FERRY_ERROR_CONNECTION_CLOSED, parts);
    g_assert_cmpuint(qmp_test_wait_closed(r.mon, 5000), ==, 1);
    g_assert_error(r.mon->close_reason, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    replay_end(&r, TRUE);
}

static void
test_timeout(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) name = NULL;
    const char *const parts[] = { MONITOR_NAME, "'query-status'", "200 ms", NULL };
    gint64 start;

    replay_init_connected(&r, "timeout.qmp");
    ferry_qmp_set_timeout(r.mon->qmp, 200);
    start = g_get_monotonic_time();
    g_assert_null(ferry_qmp_command_sync(r.mon->qmp, "query-status", NULL, &err));
    assert_error_mentions(err, FERRY_ERROR_TIMEOUT, parts);
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 200 * 1000);
    g_clear_error(&err);

    /* the late reply is dropped; the next command gets its own */
    ferry_qmp_set_timeout(r.mon->qmp, 5000);
    name = ferry_qmp_command_sync(r.mon->qmp, "query-name", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(json_object_object_length(name), ==, 0);
    g_assert_true(ferry_qmp_is_open(r.mon->qmp));
    replay_end(&r, TRUE);
}

/* A command that fails because the peer broke the protocol: close reason @what. */
static void
check_protocol_error(const char *transcript, const char *what)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    const char *const parts[] = { MONITOR_NAME, "QMP protocol error", what, NULL };

    replay_init_connected(&r, transcript);
    g_assert_null(qmp_test_command(r.mon, "query-status", NULL, -1, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_cmpuint(qmp_test_wait_closed(r.mon, 5000), ==, 1);
    assert_error_mentions(r.mon->close_reason, FERRY_ERROR_QMP, parts);
    g_assert_false(ferry_qmp_is_open(r.mon->qmp));
    replay_end(&r, TRUE);
}

static void
test_malformed(void)
{
    check_protocol_error("malformed.qmp", "not valid JSON: 'this is not JSON'");
}

static void
test_not_object(void)
{
    check_protocol_error("not-object.qmp", "not a JSON object: '[1, 2, 3]'");
}

static void
test_long_line(void)
{
    g_autofree char *quoted = g_strnfill(80, 'x');
    g_autofree char *what = g_strdup_printf("longer than 16 MiB: '%s...'", quoted);

    check_protocol_error("long-line.qmp", what);
}

static void
test_unknown_id(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) status = NULL;

    replay_init_connected(&r, "unknown-id.qmp");
    status = ferry_qmp_command_sync(r.mon->qmp, "query-status", NULL, &err);
    g_assert_no_error(err);
    assert_status(status, "paused", FALSE);
    g_assert_true(ferry_qmp_is_open(r.mon->qmp));
    replay_end(&r, TRUE);
}

/* ---- connecting --------------------------------------------------------- */

static void
check_connect_fails(const char *transcript, guint timeout_ms, int code,
                    const char *const *parts)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;

    replay_init(&r, transcript, NULL);
    ferry_qmp_set_timeout(r.mon->qmp, timeout_ms);
    g_assert_false(qmp_test_connect(r.mon, r.socket_path, 5000, &err));
    assert_error_mentions(err, code, parts);
    g_assert_false(ferry_qmp_is_open(r.mon->qmp));
    g_assert_cmpuint(r.mon->closes, ==, 0);
    replay_end(&r, TRUE);
}

static void
test_bad_greeting(void)
{
    const char *const parts[] = { MONITOR_NAME, "greeting", "'{\"return\": {}}'", NULL };

    check_connect_fails("bad-greeting.qmp", 5000, FERRY_ERROR_QMP, parts);
}

static void
test_no_greeting(void)
{
    const char *const parts[] = { MONITOR_NAME, "no QMP greeting", "200 ms", NULL };

    check_connect_fails("no-greeting.qmp", 200, FERRY_ERROR_TIMEOUT, parts);
}

static void
test_caps_error(void)
{
    const char *const parts[] = { "'qmp_capabilities'", "Capabilities negotiation", NULL };

    check_connect_fails("caps-error.qmp", 5000, FERRY_ERROR_QMP, parts);
}

static gboolean
start_fake_late(gpointer data)
{
    replay *r = data;

    replay_start_fake(r, "minimal.qmp");
    return G_SOURCE_REMOVE;
}

static void
test_connect_retry(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(GSource) later = g_timeout_source_new(300);

    /* QEMU creates its socket some time after it starts */
    replay_init(&r, NULL, NULL);
    g_source_set_callback(later, start_fake_late, &r, NULL);
    g_source_attach(later, NULL);
    g_assert_true(qmp_test_connect(r.mon, r.socket_path, 5000, &err));
    g_assert_no_error(err);
    g_assert_nonnull(r.fake);
    g_assert_true(ferry_qmp_is_open(r.mon->qmp));
    replay_end(&r, TRUE);
}

static void
test_connect_timeout(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(qmp_test_monitor) once = qmp_test_monitor_new(NULL, MONITOR_NAME);
    const char *const parts[] = { MONITOR_NAME, "within 300 ms", "monitor.sock", NULL };
    gint64 start;

    replay_init(&r, NULL, NULL);
    start = g_get_monotonic_time();
    g_assert_false(ferry_qmp_connect_sync(r.mon->qmp, r.socket_path, 300, &err));
    assert_error_mentions(err, FERRY_ERROR_TIMEOUT, parts);
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 300 * 1000);
    g_clear_error(&err);

    /* no time to retry: one attempt, FERRY_ERROR_NO_CONNECT */
    g_assert_false(qmp_test_connect(once, r.socket_path, 0, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_NO_CONNECT);
    g_clear_error(&err);

    /* a monitor connects once */
    g_assert_false(ferry_qmp_connect_sync(r.mon->qmp, r.socket_path, 0, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    replay_end(&r, FALSE);
}

static void
test_connect_cancel(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    g_autoptr(GAsyncResult) result = NULL;

    replay_init(&r, NULL, NULL);
    ferry_qmp_connect_async(r.mon->qmp, r.socket_path, 60000, cancel, qmp_test_store_result,
                            &result);
    g_cancellable_cancel(cancel);
    qmp_test_wait_result(NULL, &result);
    g_assert_false(ferry_qmp_connect_finish(r.mon->qmp, result, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED);
    replay_end(&r, FALSE);
}

/* ---- fd passing, events, cancellation ----------------------------------- */

static void
test_fd(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) getfd = args_new("fdname", "migfd");
    g_autoptr(json_object) got = NULL;
    g_autoptr(json_object) closed = NULL;
    int fds[2];

    replay_init_connected(&r, "fd.qmp");
    g_assert_cmpint(pipe(fds), ==, 0);
    got = ferry_qmp_command_sync_fd(r.mon->qmp, "getfd", getfd, fds[1], &err);
    g_assert_no_error(err);
    g_assert_nonnull(got);
    g_assert_cmpuint(ferry_qmp_fake_get_fds_received(r.fake), ==, 1);
    /* the caller keeps its own fd */
    g_assert_cmpint(write(fds[1], "x", 1), ==, 1);
    closed = ferry_qmp_command_sync(r.mon->qmp, "closefd", getfd, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(ferry_qmp_fake_get_fds_received(r.fake), ==, 1);
    close(fds[0]);
    close(fds[1]);
    replay_end(&r, TRUE);
}

/* The RESUME handler runs a sync command while cont's reply is unread. */
static void
query_on_resume(qmp_test_monitor *mon, const char *event)
{
    g_autoptr(json_object) status = NULL;
    g_autoptr(GError) err = NULL;
    guint *queried = mon->hook_data;

    if (strcmp(event, "RESUME") != 0)
        return;
    status = ferry_qmp_command_sync(mon->qmp, "query-status", NULL, &err);
    g_assert_no_error(err);
    assert_status(status, "running", TRUE);
    (*queried)++;
}

static void
test_events(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) cont = NULL;
    json_object *len = NULL;
    const qmp_test_event *resume, *ready;
    guint queried = 0;

    replay_init(&r, "events.qmp", NULL);
    r.mon->hook = query_on_resume;
    r.mon->hook_data = &queried;
    g_assert_true(ferry_qmp_connect_sync(r.mon->qmp, r.socket_path, 5000, &err));
    g_assert_no_error(err);
    cont = qmp_test_command(r.mon, "cont", NULL, -1, &err);
    g_assert_no_error(err);
    g_assert_cmpint(json_object_object_length(cont), ==, 0);
    g_assert_cmpuint(queried, ==, 1);

    ready = qmp_test_wait_event(r.mon, "BLOCK_JOB_READY", 5000);
    g_assert_nonnull(ready);
    g_assert_cmpuint(r.mon->events->len, ==, 2);
    resume = r.mon->events->pdata[0];
    g_assert_cmpstr(resume->name, ==, "RESUME");
    g_assert_cmpint(resume->timestamp_us, ==, G_GINT64_CONSTANT(1700000000123456));
    g_assert_null(resume->data);
    g_assert_true(ready == r.mon->events->pdata[1]);
    g_assert_cmpint(ready->timestamp_us, ==, G_GINT64_CONSTANT(1700000001000005));
    g_assert_cmpstr(qmp_test_get_string(ready->data, "device"), ==, "drive0");
    g_assert_true(json_object_object_get_ex(ready->data, "len", &len));
    g_assert_cmpint(json_object_get_int64(len), ==, 42);
    g_assert_true(resume->thread == g_thread_self());
    replay_end(&r, TRUE);
}

static void
test_cancel(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    g_autoptr(GAsyncResult) result = NULL;
    const char *const parts[] = { MONITOR_NAME, "'query-status'", "cancelled", NULL };

    replay_init_connected(&r, "cancel.qmp");
    ferry_qmp_command_async(r.mon->qmp, "query-status", NULL, -1, cancel,
                            qmp_test_store_result, &result);
    /* the fake saw the command once it says ARRIVED */
    g_assert_nonnull(qmp_test_wait_event(r.mon, "ARRIVED", 5000));
    g_assert_null(result);
    g_cancellable_cancel(cancel);
    qmp_test_wait_result(NULL, &result);
    g_assert_null(ferry_qmp_command_finish(r.mon->qmp, result, &err));
    assert_error_mentions(err, FERRY_ERROR_OPERATION_ABORTED, parts);
    g_assert_true(ferry_qmp_is_open(r.mon->qmp));
    replay_end(&r, TRUE);
}

static void
test_unref_pending(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GAsyncResult) refused = NULL;

    replay_init_connected(&r, "cancel.qmp");
    ferry_qmp_command_async(r.mon->qmp, "query-status", NULL, -1, NULL,
                            qmp_test_store_result, &result);
    g_assert_nonnull(qmp_test_wait_event(r.mon, "ARRIVED", 5000));
    /* dropping the last reference closes the connection */
    g_clear_pointer(&r.mon->qmp, ferry_qmp_unref);
    qmp_test_wait_result(NULL, &result);
    g_assert_null(ferry_qmp_command_finish(NULL, result, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_cmpuint(r.mon->closes, ==, 0);
    replay_end(&r, TRUE);
}

/* ---- the sync calls ----------------------------------------------------- */

/*
 * The run-stop.qmp conversation through the sync calls, asserting nothing
 * (it may run on a worker thread).  Returns: NULL, or what went wrong.
 */
static char *
run_stop_sync(ferry_qmp *qmp, const char *socket_path)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) cont = NULL;
    g_autoptr(json_object) running = NULL;
    g_autoptr(json_object) stop = NULL;
    g_autoptr(json_object) paused = NULL;

    if (!ferry_qmp_connect_sync(qmp, socket_path, 5000, &err) ||
        !(cont = ferry_qmp_command_sync(qmp, "cont", NULL, &err)) ||
        !(running = ferry_qmp_command_sync(qmp, "query-status", NULL, &err)) ||
        !(stop = ferry_qmp_command_sync(qmp, "stop", NULL, &err)) ||
        !(paused = ferry_qmp_command_sync(qmp, "query-status", NULL, &err)))
        return g_strdup(err->message);
    if (g_strcmp0(qmp_test_get_string(running, "status"), "running") != 0 ||
        g_strcmp0(qmp_test_get_string(paused, "status"), "paused") != 0)
        return g_strdup("query-status did not say running, then paused");
    return NULL;
}

/* Nobody iterates the monitor's private context: the sync calls do. */
static void
test_sync_owner(void)
{
    replay r = { 0 };
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autofree char *failure = NULL;

    replay_init(&r, "run-stop.qmp", context);
    failure = run_stop_sync(r.mon->qmp, r.socket_path);
    g_assert_cmpstr(failure, ==, NULL);
    /* the events came in on this thread, during the sync calls */
    g_assert_cmpuint(r.mon->events->len, ==, 2);
    g_assert_true(((qmp_test_event *)r.mon->events->pdata[1])->thread == g_thread_self());
    replay_end(&r, TRUE);
}

typedef struct {
    ferry_qmp *qmp;
    const char *socket_path;
    GMainLoop *loop;
    GThread *thread;
    char *failure;
} worker;

/* The sync calls from a thread that does not own the context. */
static gpointer
worker_run(gpointer data)
{
    worker *w = data;

    w->failure = run_stop_sync(w->qmp, w->socket_path);
    g_main_loop_quit(w->loop);
    return NULL;
}

static gboolean
start_worker(gpointer data)
{
    worker *w = data;

    w->thread = g_thread_new("qmp-sync-worker", worker_run, w);
    return G_SOURCE_REMOVE;
}

static void
test_sync_thread(void)
{
    replay r = { 0 };
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GMainLoop) loop = g_main_loop_new(context, FALSE);
    g_autoptr(GSource) start = g_idle_source_new();
    worker w = { 0 };

    replay_init(&r, "run-stop.qmp", context);
    w.qmp = r.mon->qmp;
    w.socket_path = r.socket_path;
    w.loop = loop;
    /*
     * The worker starts once this thread runs the loop, so it never owns
     * the context: its sync calls hand their work over and wait.
     */
    g_source_set_callback(start, start_worker, &w, NULL);
    g_source_attach(start, context);
    g_main_loop_run(loop);
    g_thread_join(w.thread);
    g_assert_cmpstr(w.failure, ==, NULL);
    g_assert_cmpuint(r.mon->events->len, ==, 2);
    for (guint i = 0; i < r.mon->events->len; i++)
        g_assert_true(((qmp_test_event *)r.mon->events->pdata[i])->thread == g_thread_self());
    g_free(w.failure);
    replay_end(&r, TRUE);
}

/* ---- the fake itself ---------------------------------------------------- */

static void
test_fake_mismatch(void)
{
    replay r = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) fake_err = NULL;

    replay_init_connected(&r, "connect.qmp");
    /* the transcript expects query-status here: the fake hangs up */
    g_assert_null(ferry_qmp_command_sync(r.mon->qmp, "query-name", NULL, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_false(ferry_qmp_fake_finish(r.fake, &fake_err));
    g_assert_error(fake_err, FERRY_ERROR, FERRY_ERROR_QMP);
    g_assert_nonnull(strstr(fake_err->message, "connect.qmp' line 7"));
    g_assert_nonnull(strstr(fake_err->message, "query-status"));
    g_assert_nonnull(strstr(fake_err->message, "query-name"));
    replay_end(&r, FALSE);
}

static void
test_fake_bad_transcript(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("ferry-qmp-XXXXXX", &err);
    g_autofree char *path = g_build_filename(dir, "bad.qmp", NULL);
    g_autofree char *sock = g_build_filename(dir, "monitor.sock", NULL);

    g_assert_no_error(err);
    g_assert_true(g_file_set_contents(path, "# ok\n<- {\"QMP\": {}}\n-> [1]\n", -1, &err));
    g_assert_null(ferry_qmp_fake_new(path, sock, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(err->message, "line 3"));
    g_assert_cmpint(g_unlink(path), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/qmp/replay/connect", test_connect);
    g_test_add_func("/qmp/replay/run-stop", test_run_stop);
    g_test_add_func("/qmp/replay/error", test_error);
    g_test_add_func("/qmp/replay/quit", test_quit);
    g_test_add_func("/qmp/replay/eof-pending", test_eof_pending);
    g_test_add_func("/qmp/replay/timeout", test_timeout);
    g_test_add_func("/qmp/replay/malformed", test_malformed);
    g_test_add_func("/qmp/replay/not-object", test_not_object);
    g_test_add_func("/qmp/replay/long-line", test_long_line);
    g_test_add_func("/qmp/replay/unknown-id", test_unknown_id);
    g_test_add_func("/qmp/replay/bad-greeting", test_bad_greeting);
    g_test_add_func("/qmp/replay/no-greeting", test_no_greeting);
    g_test_add_func("/qmp/replay/caps-error", test_caps_error);
    g_test_add_func("/qmp/replay/connect-retry", test_connect_retry);
    g_test_add_func("/qmp/replay/connect-timeout", test_connect_timeout);
    g_test_add_func("/qmp/replay/connect-cancel", test_connect_cancel);
    g_test_add_func("/qmp/replay/fd", test_fd);
    g_test_add_func("/qmp/replay/events", test_events);
    g_test_add_func("/qmp/replay/cancel", test_cancel);
    g_test_add_func("/qmp/replay/unref-pending", test_unref_pending);
    g_test_add_func("/qmp/replay/sync-owner", test_sync_owner);
    g_test_add_func("/qmp/replay/sync-thread", test_sync_thread);
    g_test_add_func("/qmp/replay/fake-mismatch", test_fake_mismatch);
    g_test_add_func("/qmp/replay/fake-bad-transcript", test_fake_bad_transcript);
    return g_test_run();
}
