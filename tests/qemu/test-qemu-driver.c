/*
 * test-qemu-driver.c: the QEMU driver in-process, with real QEMU and the
 * bundled guest: start (paused and not), suspend/resume with their events,
 * a start that fails and says why, persistence, and re-attaching to a
 * running QEMU after the driver is shut down and initialised again (what a
 * ferryd restart does).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "driver/driver.h"
#include "guest/guest-log.h"
#include "qemu/qemu-driver.h"

static const ferry_driver *const drivers[] = { &ferry_qemu_driver, NULL };

typedef struct {
    char *dir;
    char *serial;
    char *xml;
    ferry_conn *conn;
} fixture;

static char *
guest_xml(const char *name, const char *serial, const char *kernel)
{
    return g_strdup_printf("<domain type='qemu'>\n"
                           "  <name>%s</name>\n"
                           "  <memory unit='MiB'>64</memory>\n"
                           "  <vcpu>1</vcpu>\n"
                           "  <os>\n"
                           "    <type arch='x86_64' machine='pc'>hvm</type>\n"
                           "    <kernel>%s</kernel>\n"
                           "    <cmdline>mem=8 rate=100 hb=50</cmdline>\n"
                           "  </os>\n"
                           "  <devices>\n"
                           "    <serial type='file'><source path='%s'/></serial>\n"
                           "  </devices>\n"
                           "</domain>\n",
                           name, kernel, serial);
}

/* Initialises the driver with at most @max_domains domains (0: no limit). */
static void
driver_up_max(fixture *f, guint max_domains)
{
    g_autoptr(GError) error = NULL;
    ferry_qemu_config cfg = {
        .state_dir = f->dir,
        .qemu_binary = (char *)FERRY_QEMU_BINARY,
        .host_uuid = (char *)"5a0c2b57-3c7e-4bb8-9d8e-1f6e2a3b4c5d",
        .hostname = (char *)"testhost",
        .max_domains = max_domains,
    };

    g_assert_true(ferry_qemu_driver_initialize(&cfg, &error));
    g_assert_no_error(error);
    f->conn = ferry_conn_open_with_drivers("qemu:///system", drivers, &error);
    g_assert_no_error(error);
}

static void
driver_up(fixture *f)
{
    driver_up_max(f, 0);
}

static void
driver_down(fixture *f)
{
    g_clear_pointer(&f->conn, ferry_conn_unref);
    ferry_qemu_driver_shutdown();
}

static void
fixture_setup(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    if (!g_file_test(FERRY_QEMU_BINARY, G_FILE_TEST_IS_EXECUTABLE))
        g_error("QEMU is missing: %s (run scripts/install-deps)", FERRY_QEMU_BINARY);
    f->dir = g_dir_make_tmp("ferry-qemu-XXXXXX", &error);
    g_assert_no_error(error);
    f->serial = g_build_filename(f->dir, "g1.serial", NULL);
    f->xml = guest_xml("g1", f->serial, GUEST_KERNEL_PATH);
    driver_up(f);
}

static void
rm_rf(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
            rm_rf(child);
        else
            g_unlink(child);
    }
    g_rmdir(path);
}

static void
fixture_teardown(fixture *f, gconstpointer data)
{
    driver_down(f);
    rm_rf(f->dir);
    g_free(f->dir);
    g_free(f->serial);
    g_free(f->xml);
}

static void
wait_hb(const char *serial, gint64 n)
{
    g_autoptr(GError) error = NULL;
    g_auto(ferry_guest_log) log = { 0 };

    g_assert_true(ferry_guest_log_wait(serial, n, 30000, &log, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(log.errors_reported, ==, 0);
}

static void
assert_state(ferry_domain *dom, int state, int reason)
{
    int st, rs;
    g_autoptr(GError) error = NULL;

    g_assert_true(ferry_domain_get_state(dom, &st, &rs, &error));
    g_assert_cmpstr(ferry_domain_state_to_string(st), ==, ferry_domain_state_to_string(state));
    g_assert_cmpstr(ferry_domain_state_reason_to_string(st, rs), ==,
                    ferry_domain_state_reason_to_string(state, reason));
}

static gboolean
pid_alive(gint64 pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/stat", pid);
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return FALSE;
    p = strrchr(text, ')');
    return p && p[2] != 'Z';
}

static void
test_lifecycle_and_reattach(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(f->conn, f->xml, &error);
    ferry_domain_info info;
    gint64 pid;

    g_assert_no_error(error);
    g_assert_true(ferry_domain_start(dom, FERRY_START_PAUSED, &error));
    g_assert_no_error(error);
    assert_state(dom, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER);
    g_assert_true(ferry_domain_resume(dom, &error));
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_UNPAUSED);
    wait_hb(f->serial, 3);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    pid = info.pid;
    g_assert_cmpint(pid, >, 0);
    g_assert_true(pid_alive(pid));

    /* Restart the driver: QEMU stays, the new driver finds it. */
    g_clear_pointer(&dom, ferry_domain_unref);
    driver_down(f);
    g_assert_true(pid_alive(pid));
    driver_up(f);
    dom = ferry_domain_lookup_by_name(f->conn, "g1", &error);
    g_assert_no_error(error);
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_UNPAUSED);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_cmpint(info.pid, ==, pid);
    g_assert_true(ferry_domain_suspend(dom, &error));
    assert_state(dom, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER);
    g_assert_true(ferry_domain_destroy(dom, &error));
    g_assert_no_error(error);
    assert_state(dom, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_DESTROYED);
    g_assert_false(pid_alive(pid));
    g_assert_true(ferry_domain_undefine(dom, 0, &error));
}

static void
test_start_failure(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *missing = g_build_filename(f->dir, "no-such-kernel", NULL);
    g_autofree char *xml = guest_xml("g2", f->serial, missing);
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(f->conn, xml, &error);
    g_autofree char *run = g_build_filename(f->dir, "qemu", "run", NULL);
    g_autoptr(GDir) d = NULL;

    g_assert_no_error(error);
    g_assert_false(ferry_domain_start(dom, 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED);
    /* The error carries QEMU's own words about the kernel. */
    g_assert_nonnull(strstr(error->message, "no-such-kernel"));
    assert_state(dom, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_FAILED);
    /* Nothing left behind: no status file, no socket. */
    d = g_dir_open(run, 0, NULL);
    g_assert_nonnull(d);
    g_assert_null(g_dir_read_name(d));
}

typedef struct {
    int lifecycle;
    int reason;
    gboolean seen;
} stop_wait;

static void
on_stop(ferry_conn *conn, const ferry_event *ev, gpointer data)
{
    stop_wait *w = data;

    if (ev->lifecycle == FERRY_LIFECYCLE_STOPPED) {
        w->seen = TRUE;
        w->reason = ev->reason;
    }
}

static gboolean
on_deadline(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

static void
test_crash_event(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_create_xml(f->conn, f->xml, 0, &error);
    ferry_domain_info info;
    stop_wait w = { 0 };
    gboolean expired = FALSE;
    guint id, timer;

    g_assert_no_error(error);
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED);
    wait_hb(f->serial, 1);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_false(info.persistent);
    id = ferry_conn_subscribe_events(f->conn, on_stop, &w, NULL, &error);
    g_assert_cmpuint(id, >, 0);
    kill((pid_t)info.pid, SIGKILL);
    timer = g_timeout_add_seconds(20, on_deadline, &expired);
    while (!w.seen && !expired)
        g_main_context_iteration(NULL, TRUE);
    if (!expired)
        g_source_remove(timer);
    g_assert_true(w.seen);
    g_assert_cmpstr(ferry_domain_state_reason_to_string(FERRY_DOMAIN_SHUTOFF, w.reason), ==,
                    "crashed");
    /* A transient domain vanishes when its QEMU dies. */
    g_assert_false(ferry_domain_get_state(dom, NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_assert_true(ferry_conn_unsubscribe_events(f->conn, id, NULL));
}

/* Defines domain @name (no QEMU runs); returns the error, or NULL. */
static GError *
define(fixture *f, const char *name)
{
    g_autofree char *xml = guest_xml(name, f->serial, GUEST_KERNEL_PATH);
    g_autoptr(ferry_domain) dom = NULL;
    GError *error = NULL;

    dom = ferry_domain_define_xml(f->conn, xml, &error);
    g_assert_true((dom != NULL) == (error == NULL));
    return error;
}

/*
 * max_domains: a new domain beyond it is refused, and nothing of it is
 * written; a redefinition is no new domain; a limit lowered below what
 * the host has at a restart loses none of it.
 */
static void
test_max_domains(fixture *f, gconstpointer data)
{
    g_autofree char *g3_file = g_build_filename(f->dir, "qemu", "domains", "g3.xml", NULL);
    g_autofree char *g3_xml = guest_xml("g3", f->serial, GUEST_KERNEL_PATH);
    g_autoptr(ferry_domain) transient = NULL;
    g_autoptr(ferry_domain) g1 = NULL;
    g_autoptr(ferry_domain) again = NULL;
    g_autofree char *g1_xml = NULL;
    g_autoptr(GPtrArray) doms = NULL;
    g_autoptr(GError) error = NULL;

    driver_down(f);
    driver_up_max(f, 2);
    g_assert_no_error(define(f, "g1"));
    g_assert_no_error(define(f, "g2"));
    error = define(f, "g3");
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    g_assert_cmpstr(error->message, ==, "domain 'g3' refused: this host has 2 domains, its "
                                        "limit (max_domains)");
    g_clear_error(&error);
    g_assert_false(g_file_test(g3_file, G_FILE_TEST_EXISTS));
    transient = ferry_domain_create_xml(f->conn, g3_xml, 0, &error);
    g_assert_null(transient);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    g_clear_error(&error);
    g1 = ferry_domain_lookup_by_name(f->conn, "g1", &error);
    g_assert_no_error(error);
    g1_xml = ferry_domain_get_xml(g1, 0, &error);
    g_assert_no_error(error);
    again = ferry_domain_define_xml(f->conn, g1_xml, &error);
    g_assert_no_error(error);
    /* Handles hold the connection, which must go before the driver. */
    g_clear_pointer(&again, ferry_domain_unref);
    g_clear_pointer(&g1, ferry_domain_unref);

    /* Restarted with a lower limit: both stay, a third is still refused. */
    driver_down(f);
    driver_up_max(f, 1);
    g_assert_true(ferry_conn_list_domains(f->conn, 0, &doms, &error));
    g_assert_cmpuint(doms->len, ==, 2);
    error = define(f, "g3");
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/qemu-driver/lifecycle-and-reattach", fixture, NULL, fixture_setup,
               test_lifecycle_and_reattach, fixture_teardown);
    g_test_add("/qemu-driver/start-failure", fixture, NULL, fixture_setup, test_start_failure,
               fixture_teardown);
    g_test_add("/qemu-driver/max-domains", fixture, NULL, fixture_setup, test_max_domains,
               fixture_teardown);
    g_test_add("/qemu-driver/crash", fixture, NULL, fixture_setup, test_crash_event,
               fixture_teardown);
    return g_test_run();
}
