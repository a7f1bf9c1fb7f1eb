/*
 * test-qmp-qemu.c: the QMP client against a real QEMU.
 *
 * Owns: proving the client speaks to QEMU 7.2 itself -- the greeting and
 * capabilities, status, RESUME/STOP events, an fd passed with getfd
 * (SCM_RIGHTS), quit with SHUTDOWN and the close.  Must not: skip when
 * QEMU is missing (it fails saying so); leave QEMU running (teardown
 * kills it by PID, and it dies with the test if an assertion aborts).
 */
#include "ferry-config.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <ferry/ferry.h>

#include "qmp-test-util.h"
#include "qmp/qmp.h"
#include "util/json-util.h"

#define EVENT_TIMEOUT_MS 10000

typedef struct {
    char *dir;
    char *socket_path;
    GSubprocess *qemu;
    qmp_test_monitor *mon;
} qemu_fixture;

/* In QEMU before exec: die with the test, even when an assertion aborts it. */
static void
die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void
fixture_setup(qemu_fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *chardev = NULL;
    g_autoptr(GSubprocessLauncher) launcher = NULL;

    f->dir = g_dir_make_tmp("ferry-qmp-qemu-XXXXXX", &err);
    g_assert_no_error(err);
    f->socket_path = g_build_filename(f->dir, "qmp.sock", NULL);
    if (!g_file_test(FERRY_QEMU_BINARY, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_fail_printf("QEMU is missing: '%s' is not an executable "
                           "(install qemu-system-x86)", FERRY_QEMU_BINARY);
        return;
    }
    chardev = g_strdup_printf("socket,id=monitor,path=%s,server=on,wait=off", f->socket_path);
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
    f->qemu = g_subprocess_launcher_spawn(launcher, &err, FERRY_QEMU_BINARY,
                                          "-machine", "pc", "-accel", "tcg", "-m", "64",
                                          "-nodefaults", "-display", "none", "-S",
                                          "-chardev", chardev,
                                          "-mon", "chardev=monitor,mode=control", NULL);
    g_assert_no_error(err);
    g_test_message("started QEMU, pid %s", g_subprocess_get_identifier(f->qemu));
    f->mon = qmp_test_monitor_new(NULL, "domain 'qemu-test'");
}

static void
fixture_teardown(qemu_fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->mon, qmp_test_monitor_free);
    if (f->qemu) {
        /* by PID, whatever the test left behind; a no-op once it exited */
        g_subprocess_force_exit(f->qemu);
        g_subprocess_wait(f->qemu, NULL, NULL);
        g_clear_object(&f->qemu);
    }
    g_unlink(f->socket_path);
    g_rmdir(f->dir);
    g_free(f->socket_path);
    g_free(f->dir);
}

static json_object *
command(qemu_fixture *f, const char *name, json_object *arguments, int fd)
{
    g_autoptr(GError) err = NULL;
    json_object *ret = ferry_qmp_command_sync_fd(f->mon->qmp, name, arguments, fd, &err);

    g_assert_no_error(err);
    g_assert_nonnull(ret);
    return ret;
}

static void
assert_status(qemu_fixture *f, const char *status)
{
    g_autoptr(json_object) reply = command(f, "query-status", NULL, -1);

    g_assert_cmpstr(qmp_test_get_string(reply, "status"), ==, status);
}

static void
on_exited(GObject *source, GAsyncResult *result, gpointer user_data)
{
    gboolean *exited = user_data;

    g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
    *exited = TRUE;
}

static gboolean
is_true(gpointer data)
{
    return *(gboolean *)data;
}

static void
test_qemu(qemu_fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(json_object) version = NULL;
    g_autoptr(json_object) fdname = json_object_new_object();
    g_autoptr(json_object) quit = NULL;
    g_autofree char *expected_version = NULL;
    json_object *qemu = NULL, *major = NULL, *minor = NULL, *micro = NULL;
    const qmp_test_event *ev;
    gboolean exited = FALSE;
    int fds[2];

    if (!f->qemu)
        return;                 /* setup already failed the test */

    /* QEMU creates the socket a moment after it starts: connect retries */
    g_assert_true(ferry_qmp_connect_sync(f->mon->qmp, f->socket_path, 10000, &err));
    g_assert_no_error(err);
    g_assert_true(ferry_qmp_is_open(f->mon->qmp));
    assert_status(f, "prelaunch");

    json_object_put(command(f, "cont", NULL, -1));
    ev = qmp_test_wait_event(f->mon, "RESUME", EVENT_TIMEOUT_MS);
    g_assert_nonnull(ev);
    g_assert_cmpint(ev->timestamp_us, >, g_get_real_time() - 60 * G_USEC_PER_SEC);
    assert_status(f, "running");

    json_object_put(command(f, "stop", NULL, -1));
    ev = qmp_test_wait_event(f->mon, "STOP", EVENT_TIMEOUT_MS);
    g_assert_nonnull(ev);
    assert_status(f, "paused");

    version = command(f, "query-version", NULL, -1);
    g_assert_true(json_object_object_get_ex(version, "qemu", &qemu));
    g_assert_true(json_object_object_get_ex(qemu, "major", &major));
    g_assert_true(json_object_object_get_ex(qemu, "minor", &minor));
    g_assert_true(json_object_object_get_ex(qemu, "micro", &micro));
    expected_version = g_strdup_printf("%d.%d.%d", json_object_get_int(major),
                                       json_object_get_int(minor), json_object_get_int(micro));
    g_assert_cmpstr(ferry_qmp_get_version(f->mon->qmp), ==, expected_version);

    /* getfd only succeeds when the fd really travels with the command */
    json_object_object_add(fdname, "fdname", json_object_new_string("ferry-test-fd"));
    g_assert_null(ferry_qmp_command_sync(f->mon->qmp, "getfd", fdname, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_QMP);
    g_assert_nonnull(strstr(err->message, "SCM_RIGHTS"));
    g_clear_error(&err);
    g_assert_cmpint(pipe(fds), ==, 0);
    json_object_put(command(f, "getfd", fdname, fds[1]));
    close(fds[0]);
    close(fds[1]);
    json_object_put(command(f, "closefd", fdname, -1));
    /* it was QEMU's: now it is gone */
    g_assert_null(ferry_qmp_command_sync(f->mon->qmp, "closefd", fdname, &err));
    g_assert_error(err, FERRY_ERROR, FERRY_ERROR_QMP);
    g_clear_error(&err);

    quit = command(f, "quit", NULL, -1);
    ev = qmp_test_wait_event(f->mon, "SHUTDOWN", EVENT_TIMEOUT_MS);
    g_assert_nonnull(ev);
    g_assert_cmpstr(qmp_test_get_string(ev->data, "reason"), ==, "host-qmp-quit");
    g_assert_cmpuint(qmp_test_wait_closed(f->mon, EVENT_TIMEOUT_MS), ==, 1);
    g_assert_error(f->mon->close_reason, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_false(ferry_qmp_is_open(f->mon->qmp));

    g_subprocess_wait_async(f->qemu, NULL, on_exited, &exited);
    g_assert_true(qmp_test_wait(NULL, is_true, &exited, EVENT_TIMEOUT_MS));
    g_assert_true(g_subprocess_get_if_exited(f->qemu));
    g_assert_cmpint(g_subprocess_get_exit_status(f->qemu), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add("/qmp/qemu/lifecycle", qemu_fixture, NULL, fixture_setup, test_qemu,
               fixture_teardown);
    return g_test_run();
}
