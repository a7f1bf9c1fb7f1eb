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
#include <unistd.h>

#include "conf/domain-conf.h"
#include "driver/driver.h"
#include "qemu/qemu-command.h"
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

/* The driver's warnings, recorded instead of aborting the test: a file
 * that does not load must be reported, and the tests check how. */
static GMutex warnings_lock;
static GPtrArray *warnings;

static GLogWriterOutput
record_warnings(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
    const char *domain = NULL, *message = NULL;

    for (gsize i = 0; i < n_fields; i++) {
        if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
        else if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
    }
    if (g_strcmp0(domain, "ferry-qemu") == 0 && (level & G_LOG_LEVEL_WARNING)) {
        g_test_message("recorded warning: %s", message);
        g_mutex_lock(&warnings_lock);
        g_ptr_array_add(warnings, g_strdup(message));
        g_mutex_unlock(&warnings_lock);
        return G_LOG_WRITER_HANDLED;
    }
    return g_log_writer_default(level, fields, n_fields, data);
}

/* Asserts that a recorded warning contains every one of the NULL-ended
 * strings that follow. */
static void G_GNUC_NULL_TERMINATED
assert_warned(const char *first, ...)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&warnings_lock);

    for (guint i = 0; i < warnings->len; i++) {
        const char *w = warnings->pdata[i];
        gboolean all = TRUE;
        va_list ap;

        va_start(ap, first);
        for (const char *s = first; s && all; s = va_arg(ap, const char *))
            all = strstr(w, s) != NULL;
        va_end(ap);
        if (all)
            return;
    }
    g_error("no warning contains '%s' and the rest (%u recorded)", first, warnings->len);
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
    g_mutex_lock(&warnings_lock);
    g_ptr_array_set_size(warnings, 0);
    g_mutex_unlock(&warnings_lock);
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
    g_autoptr(ferry_domain) refused = NULL;
    g_autoptr(ferry_domain) dom = NULL;
    g_autofree char *run = g_build_filename(f->dir, "qemu", "run", NULL);
    g_autofree char *relay = g_build_filename(run, "relay", NULL);
    g_autoptr(GDir) d = NULL;
    const char *name;

    /* Define refuses a kernel that is not there (qemu-define-check.c)... */
    refused = ferry_domain_define_xml(f->conn, xml, &error);
    g_assert_null(refused);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "domain 'g2': kernel '"));
    g_assert_nonnull(strstr(error->message, "no-such-kernel' does not exist on this host"));
    g_clear_error(&error);
    /* ...so it goes after the define, and only QEMU can tell. */
    g_assert_true(g_file_set_contents(missing, "", 0, NULL));
    dom = ferry_domain_define_xml(f->conn, xml, &error);
    g_assert_no_error(error);
    g_assert_cmpint(unlink(missing), ==, 0);
    g_assert_false(ferry_domain_start(dom, 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED);
    /* The error carries QEMU's own words about the kernel. */
    g_assert_nonnull(strstr(error->message, "no-such-kernel"));
    assert_state(dom, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_FAILED);
    /* Nothing left behind: no status file, no socket (the relays' directory
     * is the driver's, and empty). */
    d = g_dir_open(run, 0, NULL);
    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d)))
        g_assert_cmpstr(name, ==, "relay");
    g_dir_close(g_steal_pointer(&d));
    d = g_dir_open(relay, 0, NULL);
    g_assert_nonnull(d);
    g_assert_null(g_dir_read_name(d));
}

/* f->xml with @from replaced by @to (once). */
static char *
xml_with(const fixture *f, const char *from, const char *to)
{
    const char *at = strstr(f->xml, from);

    g_assert_nonnull(at);
    return g_strdup_printf("%.*s%s%s", (int)(at - f->xml), f->xml, to, at + strlen(from));
}

/* Define refuses what can never start on this host, naming the thing. */
static void
test_define_host_checks(fixture *f, gconstpointer data)
{
    g_autofree char *image = g_build_filename(f->dir, "missing.raw", NULL);
    g_autofree char *disk = g_strdup_printf("<devices>\n    <disk type='file' device='disk'>"
                                            "<source file='%s'/><target dev='vda'/></disk>",
                                            image);
    const struct {
        const char *from;
        const char *to;
        const char *says;
    } cases[] = {
        { "machine='pc'", "machine='pc-i440fx-99.0'",
          "domain 'g1': machine type 'pc-i440fx-99.0' is not known to emulator" },
        { "<devices>", "<devices>\n    <emulator>/nonexistent/qemu</emulator>",
          "domain 'g1': emulator '/nonexistent/qemu' does not exist on this host" },
        { "<devices>", disk, "domain 'g1': disk 'vda': image '" },
        { "<devices>",
          "<devices>\n    <interface type='bridge'><source bridge='ferrynobr0'/>"
          "<mac address='52:54:00:aa:bb:cc'/><model type='virtio'/></interface>",
          "domain 'g1': interface 52:54:00:aa:bb:cc: bridge 'ferrynobr0' does not exist on "
          "this host" },
        { "<devices>",
          "<devices>\n    <interface type='network'><source network='ferrynonet'/>"
          "<mac address='52:54:00:aa:bb:cd'/></interface>",
          "network 'ferrynonet' does not exist on this host (ferry's networks are the bridges "
          "of the same name)" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *xml = xml_with(f, cases[i].from, cases[i].to);
        g_autoptr(ferry_domain) dom = ferry_domain_define_xml(f->conn, xml, &error);

        g_assert_null(dom);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        if (!strstr(error->message, cases[i].says))
            g_error("case %zu: '%s' does not say '%s'", i, error->message, cases[i].says);
    }
    g_assert_null(ferry_domain_lookup_by_name(f->conn, "g1", NULL));
}

/* A host device is refused at define (ferry's QEMU gets none), naming the
 * device; nothing of the domain is kept. */
static void
test_define_hostdev(fixture *f, gconstpointer data)
{
    const struct {
        const char *hostdev;
        const char *says;
    } cases[] = {
        { "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
          "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>",
          "domain 'g1': pci host device 0000:01:00.0: host device assignment is not supported "
          "by ferry's QEMU driver" },
        { "<hostdev mode='subsystem' type='usb'><source><vendor id='0x046d'/>"
          "<product id='0xc52b'/></source></hostdev>",
          "domain 'g1': usb host device 046d:c52b: host device assignment is not supported "
          "by ferry's QEMU driver" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *devices = g_strdup_printf("<devices>\n    %s", cases[i].hostdev);
        g_autofree char *xml = xml_with(f, "<devices>", devices);
        g_autoptr(ferry_domain) dom = ferry_domain_define_xml(f->conn, xml, &error);

        g_assert_null(dom);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
        g_assert_cmpstr(error->message, ==, cases[i].says);
    }
    g_assert_null(ferry_domain_lookup_by_name(f->conn, "g1", NULL));
}

/* What define keeps but does not do is a warning on the handle; a handle
 * from a lookup has none. */
static void
test_define_warnings(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = xml_with(f, "</devices>",
                                    "</devices>\n  <seclabel type='dynamic' model='selinux' "
                                    "relabel='yes'/>");
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(f->conn, xml, &error);
    g_autoptr(ferry_domain) again = NULL;
    g_autoptr(ferry_domain) looked_up = NULL;
    const char *const *w;

    g_assert_no_error(error);
    w = ferry_domain_get_warnings(dom);
    g_assert_cmpuint(g_strv_length((char **)w), ==, 1);
    g_assert_nonnull(strstr(w[0], "<seclabel> is kept in the definition but not enforced"));
    g_free(xml);
    xml = xml_with(f, "<vcpu>1</vcpu>", "<vcpu cpuset='0'>1</vcpu>");
    /* Another domain: this XML has no uuid, so a redefine of g1 would clash. */
    memcpy(strstr(xml, "<name>g1</name>"), "<name>g2</name>", strlen("<name>g2</name>"));
    again = ferry_domain_define_xml(f->conn, xml, &error);
    g_assert_no_error(error);
    w = ferry_domain_get_warnings(again);
    g_assert_cmpuint(g_strv_length((char **)w), ==, 1);
    g_assert_nonnull(strstr(w[0], "vcpu placement and cpuset are kept but not applied"));
    looked_up = ferry_domain_lookup_by_name(f->conn, "g1", &error);
    g_assert_no_error(error);
    g_assert_null(ferry_domain_get_warnings(looked_up)[0]);
}

/* @xml with a description of @n '>' characters, each 4 bytes once
 * formatted ("&gt;"), in the canonical form ferryd writes. */
static char *
with_description(const char *xml, gsize n)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def = ferry_domain_def_parse_string(xml, "guest", 0, &error);

    g_assert_no_error(error);
    def->description = g_strnfill(n, '>');
    return ferry_domain_def_format(def);
}

/* A definition just under the daemon's limit once formatted is accepted,
 * runs, and comes back whole after a restart, running; one '>' more is
 * refused at define, naming the domain, its size and the limit. */
static void
test_large_definition(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *plain = with_description(f->xml, 0);
    gsize room = (FERRY_DOMAIN_XML_MAX_FORMATTED - strlen(plain)) / 4;
    g_autofree char *big = with_description(f->xml, room);
    g_autofree char *too_big = with_description(f->xml, room + 1);
    g_autoptr(ferry_domain) dom = NULL;
    g_autofree char *live = NULL;
    g_autofree char *inactive = NULL;
    ferry_domain_info info;
    gint64 pid;

    g_assert_cmpuint(strlen(big), <=, FERRY_DOMAIN_XML_MAX_FORMATTED);
    g_assert_cmpuint(strlen(too_big), >, FERRY_DOMAIN_XML_MAX_FORMATTED);
    g_assert_null(ferry_domain_define_xml(f->conn, too_big, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_true(g_str_has_prefix(error->message, "domain 'g1': its definition is "));
    g_assert_nonnull(strstr(error->message, "more than the limit of 1048576 bytes"));
    g_clear_error(&error);
    /* Nothing of it was kept. */
    g_assert_null(ferry_domain_lookup_by_name(f->conn, "g1", &error));
    g_clear_error(&error);

    dom = ferry_domain_define_xml(f->conn, big, &error);
    g_assert_no_error(error);
    g_assert_true(ferry_domain_start(dom, 0, &error));
    g_assert_no_error(error);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    pid = info.pid;

    g_clear_pointer(&dom, ferry_domain_unref);
    driver_down(f);
    driver_up(f);
    dom = ferry_domain_lookup_by_name(f->conn, "g1", &error);
    g_assert_no_error(error);
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_cmpint(info.pid, ==, pid);
    g_assert_true(info.persistent);
    live = ferry_domain_get_xml(dom, 0, &error);
    g_assert_cmpstr(live, ==, big);
    inactive = ferry_domain_get_xml(dom, FERRY_XML_INACTIVE, &error);
    g_assert_cmpstr(inactive, ==, big);
    g_assert_true(ferry_domain_destroy(dom, &error));
    g_assert_no_error(error);
}

/* Makes a state file unloadable: @how "garbage" or "huge" (past what
 * ferryd reads). */
static void
damage(const char *path, const char *how)
{
    g_autoptr(GError) error = NULL;
    gsize len = strcmp(how, "huge") == 0 ? 9 * 1024 * 1024 : 7;
    g_autofree char *text = g_strnfill(len, '{');

    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_set_contents(path, text, (gssize)len, &error));
    g_assert_no_error(error);
}

static char *
state_file(fixture *f, const char *dir, const char *name, const char *suffix)
{
    g_autofree char *file = g_strconcat(name, suffix, NULL);

    return g_build_filename(f->dir, "qemu", dir, file, NULL);
}

/* Defines f->xml and starts it: returns the domain, its QEMU's pid in
 * @ret_pid. */
static ferry_domain *
define_and_start(fixture *f, gint64 *ret_pid)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(f->conn, f->xml, &error);
    ferry_domain_info info;

    g_assert_no_error(error);
    g_assert_true(ferry_domain_start(dom, 0, &error));
    g_assert_no_error(error);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    *ret_pid = info.pid;
    return g_steal_pointer(&dom);
}

/* Another name for a uuid that runs is refused. */
static void
assert_uuid_taken(fixture *f, const char *uuid)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *other = g_strdup_printf("<domain type='qemu'><name>g9</name>"
                                             "<uuid>%s</uuid><memory unit='MiB'>64</memory>"
                                             "<vcpu>1</vcpu><os><type arch='x86_64' "
                                             "machine='pc'>hvm</type></os></domain>", uuid);

    g_assert_null(ferry_domain_define_xml(f->conn, other, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_DOMAIN_EXISTS);
}

/* A running domain whose status file does not load at a restart is
 * re-attached all the same, from its QEMU's command line: the same
 * process, managed (destroy works), its status file written anew and the
 * bad one kept; and its uuid cannot get a second QEMU. */
static void
test_unloadable_status(fixture *f, gconstpointer data)
{
    const char *how = data;
    g_autoptr(GError) error = NULL;
    gint64 pid;
    g_autoptr(ferry_domain) dom = define_and_start(f, &pid);
    g_autofree char *uuid = g_strdup(ferry_domain_get_uuid(dom));
    g_autofree char *status = state_file(f, "run", uuid, ".json");
    g_autofree char *kept = state_file(f, "run", uuid, ".json.bad");
    g_autofree char *xml = ferry_domain_get_xml(dom, 0, &error);
    g_autofree char *live = NULL;
    ferry_domain_info info;

    wait_hb(f->serial, 1);

    g_clear_pointer(&dom, ferry_domain_unref);
    driver_down(f);
    damage(status, how);
    driver_up(f);

    assert_warned("cannot load status file '", status, "': ",
                  strcmp(how, "huge") == 0 ? "bytes long, more than the" : "not a version",
                  NULL);
    assert_warned("domain 'g1' (uuid ", "re-attaching to QEMU pid", kept, NULL);
    dom = ferry_domain_lookup_by_name(f->conn, "g1", &error);
    g_assert_no_error(error);
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_UNPAUSED);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_cmpint(info.pid, ==, pid);
    g_assert_true(info.persistent);
    live = ferry_domain_get_xml(dom, 0, &error);
    g_assert_cmpstr(live, ==, xml);
    g_assert_true(g_file_test(kept, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(status, G_FILE_TEST_EXISTS));
    wait_hb(f->serial, 3);

    /* The same uuid under another name is refused; a second start too. */
    assert_uuid_taken(f, uuid);
    g_assert_false(ferry_domain_start(dom, 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_clear_error(&error);

    g_assert_true(ferry_domain_destroy(dom, &error));
    g_assert_no_error(error);
    g_assert_false(pid_alive(pid));
}

/* A status file naming another pid (here init's, which runs no -uuid):
 * that QEMU is "gone", yet the real one keeps its monitor socket and is
 * re-attached from its command line. */
static void
test_status_wrong_pid(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    gint64 pid;
    g_autoptr(ferry_domain) dom = define_and_start(f, &pid);
    g_autofree char *status = state_file(f, "run", ferry_domain_get_uuid(dom), ".json");
    g_autofree char *text = NULL;
    g_autofree char *wrong = NULL;
    g_autofree char *pattern = g_strdup_printf("\"pid\"\\s*:\\s*%" G_GINT64_FORMAT "\\b", pid);
    g_autoptr(GRegex) regex = g_regex_new(pattern, 0, 0, NULL);
    ferry_domain_info info;

    g_clear_pointer(&dom, ferry_domain_unref);
    driver_down(f);
    g_assert_true(g_file_get_contents(status, &text, NULL, &error));
    g_assert_true(g_regex_match(regex, text, 0, NULL));
    wrong = g_regex_replace_literal(regex, text, -1, 0, "\"pid\": 1", 0, &error);
    g_assert_no_error(error);
    g_assert_true(g_file_set_contents(status, wrong, -1, &error));
    driver_up(f);

    assert_warned("domain 'g1' (uuid ", "re-attaching to QEMU pid", NULL);
    dom = ferry_domain_lookup_by_name(f->conn, "g1", &error);
    g_assert_no_error(error);
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_UNPAUSED);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_cmpint(info.pid, ==, pid);
    g_assert_true(ferry_domain_destroy(dom, &error));
    g_assert_no_error(error);
    g_assert_false(pid_alive(pid));
}

/* Neither file loads: the domain comes back transient, under the name its
 * QEMU was started with, with every setting of that command line; it is
 * still managed and still unique.  Defining it again makes it persistent. */
static void
test_unloadable_both(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    gint64 pid;
    g_autoptr(ferry_domain) dom = define_and_start(f, &pid);
    g_autoptr(ferry_domain) again = NULL;
    g_autofree char *uuid = g_strdup(ferry_domain_get_uuid(dom));
    g_autofree char *status = state_file(f, "run", uuid, ".json");
    g_autofree char *def = state_file(f, "domains", "g1", ".xml");
    g_autofree char *live = NULL;
    ferry_domain_info info;

    g_clear_pointer(&dom, ferry_domain_unref);
    driver_down(f);
    damage(status, "garbage");
    damage(def, "huge");
    driver_up(f);

    assert_warned("cannot load domain definition '", def, "more than the 4194304", NULL);
    assert_warned("cannot load status file '", status, NULL);
    dom = ferry_domain_lookup_by_uuid(f->conn, uuid, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ferry_domain_get_name(dom), ==, "g1");
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_UNPAUSED);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_cmpint(info.pid, ==, pid);
    g_assert_false(info.persistent);
    live = ferry_domain_get_xml(dom, 0, &error);
    g_assert_nonnull(strstr(live, "<kernel>" GUEST_KERNEL_PATH "</kernel>"));
    g_assert_nonnull(strstr(live, f->serial));
    g_assert_nonnull(strstr(live, "no status file of it could be loaded"));

    assert_uuid_taken(f, uuid);
    /* What dumpxml shows defines it again, as docs/security.md says. */
    again = ferry_domain_define_xml(f->conn, live, &error);
    g_assert_no_error(error);
    g_assert_false(ferry_domain_start(again, 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_clear_error(&error);
    g_assert_true(ferry_domain_get_info(again, &info, &error));
    g_assert_true(info.persistent);
    g_assert_cmpint(info.pid, ==, pid);
    g_assert_true(ferry_domain_destroy(again, &error));
    g_assert_false(pid_alive(pid));
}

/* The last guard: a QEMU of this ferryd's that no domain manages (started
 * here by hand, after the driver loaded) stops its uuid from being defined
 * or started, naming the process; once it is gone, both work. */
static void
test_unmanaged_qemu(fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(f->conn, f->xml, &error);
    g_autoptr(ferry_domain_def) def = ferry_domain_def_parse_string(f->xml, "g1", 0, &error);
    g_autofree char *pid_path = state_file(f, "run", ferry_domain_get_uuid(dom), ".pid");
    g_autofree char *monitor = g_build_filename(f->dir, "stray.qmp", NULL);
    ferry_qemu_command_opts opts = {
        .qemu_binary = FERRY_QEMU_BINARY,
        .monitor_path = monitor,
        .pid_path = pid_path,
    };
    g_auto(GStrv) argv = NULL;
    g_autoptr(GSubprocess) stray = NULL;
    g_autofree char *expected = NULL;
    g_autofree char *with_uuid = NULL;

    g_assert_no_error(error);
    g_free(def->uuid);
    def->uuid = g_strdup(ferry_domain_get_uuid(dom));
    with_uuid = ferry_domain_def_format(def);
    argv = ferry_qemu_build_argv(def, &opts);
    stray = g_subprocess_newv((const char *const *)argv, G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                              &error);
    g_assert_no_error(error);
    expected = g_strdup_printf("its uuid %s already runs on host 'testhost' in QEMU pid %s,",
                               def->uuid, g_subprocess_get_identifier(stray));

    g_assert_false(ferry_domain_start(dom, 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_assert_true(g_str_has_prefix(error->message, "cannot start domain 'g1': "));
    g_assert_nonnull(strstr(error->message, expected));
    g_clear_error(&error);
    assert_state(dom, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN);
    g_assert_true(ferry_domain_undefine(dom, 0, &error));
    g_clear_pointer(&dom, ferry_domain_unref);
    g_assert_null(ferry_domain_define_xml(f->conn, with_uuid, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_assert_true(g_str_has_prefix(error->message, "cannot define domain 'g1': "));
    g_clear_error(&error);
    /* A transient start meets the same guard, and leaves nothing behind. */
    g_assert_null(ferry_domain_create_xml(f->conn, with_uuid, 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_clear_error(&error);
    g_assert_null(ferry_domain_lookup_by_name(f->conn, "g1", &error));
    g_clear_error(&error);

    g_subprocess_force_exit(stray);
    g_assert_true(g_subprocess_wait(stray, NULL, &error));
    dom = ferry_domain_define_xml(f->conn, with_uuid, &error);
    g_assert_no_error(error);
    g_assert_true(ferry_domain_start(dom, FERRY_START_PAUSED, &error));
    g_assert_no_error(error);
    g_assert_true(ferry_domain_destroy(dom, &error));
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
    warnings = g_ptr_array_new_with_free_func(g_free);
    g_log_set_writer_func(record_warnings, NULL, NULL);
    g_test_add("/qemu-driver/lifecycle-and-reattach", fixture, NULL, fixture_setup,
               test_lifecycle_and_reattach, fixture_teardown);
    g_test_add("/qemu-driver/define-host-checks", fixture, NULL, fixture_setup,
               test_define_host_checks, fixture_teardown);
    g_test_add("/qemu-driver/define-hostdev", fixture, NULL, fixture_setup,
               test_define_hostdev, fixture_teardown);
    g_test_add("/qemu-driver/define-warnings", fixture, NULL, fixture_setup,
               test_define_warnings, fixture_teardown);
    g_test_add("/qemu-driver/start-failure", fixture, NULL, fixture_setup, test_start_failure,
               fixture_teardown);
    g_test_add("/qemu-driver/large-definition", fixture, NULL, fixture_setup,
               test_large_definition, fixture_teardown);
    g_test_add("/qemu-driver/unloadable-status/garbage", fixture, "garbage", fixture_setup,
               test_unloadable_status, fixture_teardown);
    g_test_add("/qemu-driver/unloadable-status/huge", fixture, "huge", fixture_setup,
               test_unloadable_status, fixture_teardown);
    g_test_add("/qemu-driver/unloadable-status/wrong-pid", fixture, NULL, fixture_setup,
               test_status_wrong_pid, fixture_teardown);
    g_test_add("/qemu-driver/unloadable-both", fixture, NULL, fixture_setup,
               test_unloadable_both, fixture_teardown);
    g_test_add("/qemu-driver/unmanaged-qemu", fixture, NULL, fixture_setup,
               test_unmanaged_qemu, fixture_teardown);
    g_test_add("/qemu-driver/max-domains", fixture, NULL, fixture_setup, test_max_domains,
               fixture_teardown);
    g_test_add("/qemu-driver/crash", fixture, NULL, fixture_setup, test_crash_event,
               fixture_teardown);
    return g_test_run();
}
