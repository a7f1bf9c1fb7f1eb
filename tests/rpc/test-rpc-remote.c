/*
 * test-rpc-remote.c: the remote driver against the daemon's dispatch over a
 * real socket: every operation, errors with their codes and messages,
 * events, URIs, and a daemon that goes away.
 */
#include "ferry-config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "daemon/dispatch.h"
#include "fake-driver.h"
#include "rpc-test-util.h"
#include "rpc/rpc-client.h"
#include "test/test-driver.h"

#define UUID1 "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
#define XML1 "<domain type='kvm'><name>web1</name><uuid>" UUID1 "</uuid></domain>"

static const ferry_driver *const daemon_drivers[] = {
    &fake_driver,
    &ferry_test_driver,
    NULL,
};

typedef struct {
    ferry_dispatch *dispatch;
    test_server *ts;
} daemon_fixture;

static void
daemon_start(daemon_fixture *f, gconstpointer data)
{
    ferry_rpc_server_config config = { 0 };

    test_log_clear();
    f->dispatch = ferry_dispatch_new(daemon_drivers);
    ferry_dispatch_configure(f->dispatch, &config);
    f->ts = test_server_start(&config);
}

static void
daemon_stop(daemon_fixture *f, gconstpointer data)
{
    if (f->ts)
        test_server_stop(f->ts);
    ferry_dispatch_free(f->dispatch);
    /* Nothing in these tests is a reason to warn. */
    g_assert_cmpuint(test_log_count(""), ==, 0);
}

/* Opens DRIVER+unix:///PATH on the fixture's daemon. */
static ferry_conn *
open_remote(daemon_fixture *f, const char *driver, const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *uri = g_strdup_printf("%s+unix:///%s?socket=%s", driver, path,
                                           test_server_socket(f->ts));
    ferry_conn *conn = ferry_conn_open(uri, &error);

    g_assert_no_error(error);
    g_assert_nonnull(conn);
    return conn;
}

static void
assert_state(ferry_domain *dom, int state, int reason)
{
    g_autoptr(GError) error = NULL;
    ferry_domain_info info = { 0 };

    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_no_error(error);
    g_assert_cmpint(info.state, ==, state);
    g_assert_cmpint(info.reason, ==, reason);
}

static void
assert_list(ferry_conn *conn, guint flags, const char *expected)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) domains = NULL;
    g_autoptr(GString) names = g_string_new(NULL);

    g_assert_true(ferry_conn_list_domains(conn, flags, &domains, &error));
    g_assert_no_error(error);
    for (guint i = 0; i < domains->len; i++) {
        ferry_domain *dom = g_ptr_array_index(domains, i);

        g_assert_true(ferry_domain_get_conn(dom) == conn);
        g_string_append_printf(names, "%s%s", i ? " " : "", ferry_domain_get_name(dom));
    }
    g_assert_cmpstr(names->str, ==, expected);
}

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */

static void
test_connection_queries(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(ferry_conn) conn = open_remote(f, "fake", "queries");
    g_autoptr(GError) error = NULL;
    g_autofree char *hostname = ferry_conn_get_hostname(conn, &error);
    g_autofree char *caps = ferry_conn_get_capabilities(conn, &error);
    gboolean supported = FALSE;

    g_assert_no_error(error);
    g_assert_cmpstr(hostname, ==, "fake-queries");
    g_assert_nonnull(strstr(caps, "<name>fake-queries</name>"));
    g_assert_true(ferry_conn_supports_feature(conn, FERRY_FEATURE_EVENTS, &supported,
                                              &error));
    g_assert_true(supported);
    g_assert_true(ferry_conn_supports_feature(conn, FERRY_FEATURE_MIGRATION_V3, &supported,
                                              &error));
    g_assert_false(supported);
    g_assert_true(ferry_conn_is_alive(conn));
    assert_list(conn, 0, "");
}

static void
test_lifecycle(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(ferry_conn) conn = open_remote(f, "fake", "lifecycle");
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(conn, XML1, &error);
    g_autoptr(ferry_domain) by_name = NULL;
    g_autoptr(ferry_domain) by_uuid = NULL;
    g_autoptr(ferry_domain) gone = NULL;
    g_autofree char *xml = NULL;
    ferry_domain_info info = { 0 };

    g_assert_no_error(error);
    g_assert_cmpstr(ferry_domain_get_name(dom), ==, "web1");
    g_assert_cmpstr(ferry_domain_get_uuid(dom), ==, UUID1);
    g_assert_true(ferry_domain_get_conn(dom) == conn);

    by_name = ferry_domain_lookup_by_name(conn, "web1", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ferry_domain_get_uuid(by_name), ==, UUID1);
    by_uuid = ferry_domain_lookup_by_uuid(conn, UUID1, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ferry_domain_get_name(by_uuid), ==, "web1");

    assert_list(conn, 0, "web1");
    assert_list(conn, FERRY_LIST_ACTIVE, "");
    assert_list(conn, FERRY_LIST_INACTIVE, "web1");
    assert_state(dom, FERRY_DOMAIN_SHUTOFF, 0);

    g_assert_true(ferry_domain_start(dom, 0, &error));
    g_assert_no_error(error);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_cmpint(info.state, ==, FERRY_DOMAIN_RUNNING);
    g_assert_cmpint(info.reason, ==, FERRY_RUNNING_BOOTED);
    g_assert_cmpuint(info.memory_kib, ==, 65536);
    g_assert_cmpuint(info.vcpus, ==, 1);
    g_assert_cmpuint(info.cpu_time_ns, ==, 1000);
    g_assert_true(info.persistent);
    assert_list(conn, FERRY_LIST_ACTIVE, "web1");

    g_assert_true(ferry_domain_suspend(dom, &error));
    assert_state(dom, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER);
    g_assert_true(ferry_domain_resume(dom, &error));
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_UNPAUSED);
    g_assert_no_error(error);

    xml = ferry_domain_get_xml(dom, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(xml, ==, XML1);

    g_assert_true(ferry_domain_destroy(dom, &error));
    assert_state(dom, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_DESTROYED);
    g_assert_true(ferry_domain_undefine(dom, 0, &error));
    g_assert_no_error(error);
    assert_list(conn, 0, "");

    gone = ferry_domain_lookup_by_name(conn, "web1", &error);
    g_assert_null(gone);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_assert_cmpstr(error->message, ==, "no domain named 'web1' on host 'fake-lifecycle'");
}

static void
test_transient(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(ferry_conn) conn = open_remote(f, "fake", "transient");
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_create_xml(conn, XML1, 0, &error);
    ferry_domain_info info = { 0 };

    g_assert_no_error(error);
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    g_assert_cmpint(info.state, ==, FERRY_DOMAIN_RUNNING);
    g_assert_false(info.persistent);
    g_assert_true(ferry_domain_destroy(dom, &error));
    g_assert_no_error(error);
    assert_list(conn, 0, "");
}

/* Each error arrives with the daemon driver's code and whole message. */
static void
test_errors(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(ferry_conn) conn = open_remote(f, "fake", "errors");
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(conn, XML1, &error);
    g_autoptr(ferry_domain) twice = NULL;
    g_autoptr(ferry_domain) bad = NULL;
    g_autoptr(ferry_domain) none = NULL;

    g_assert_no_error(error);
    g_assert_false(ferry_domain_suspend(dom, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_assert_cmpstr(error->message, ==, "cannot suspend domain 'web1': it is shut off");
    g_clear_error(&error);

    twice = ferry_domain_define_xml(conn, XML1, &error);
    g_assert_null(twice);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_DOMAIN_EXISTS);
    g_assert_cmpstr(error->message, ==, "domain 'web1' already exists on host 'fake-errors'");
    g_clear_error(&error);

    bad = ferry_domain_define_xml(conn, "<domain/>", &error);
    g_assert_null(bad);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_cmpstr(error->message, ==, "domain XML has no <name> element");
    g_clear_error(&error);

    none = ferry_domain_lookup_by_uuid(conn, "00000000-0000-0000-0000-000000000001", &error);
    g_assert_null(none);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_assert_cmpstr(error->message, ==, "no domain with uuid 00000000-0000-0000-0000-"
                                        "000000000001 on host 'fake-errors'");
    g_clear_error(&error);

    g_assert_true(ferry_domain_undefine(dom, 0, &error));
    g_assert_false(ferry_domain_start(dom, 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_assert_cmpstr(error->message, ==, "no domain named 'web1' on host 'fake-errors'");
}

static gpointer
info_hammer(gpointer data)
{
    for (guint i = 0; i < 30; i++)
        assert_state(data, FERRY_DOMAIN_SHUTOFF, 0);
    return NULL;
}

static void
test_concurrent(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(ferry_conn) conn = open_remote(f, "fake", "concurrent");
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(conn, XML1, &error);
    GThread *threads[8];

    g_assert_no_error(error);
    for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
        threads[i] = g_thread_new("info", info_hammer, dom);
    for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
        g_thread_join(threads[i]);
    g_assert_true(ferry_domain_undefine(dom, 0, &error));
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    ferry_conn *conn;
    char *name;
    char *uuid;
    int lifecycle;
    int state;
    int reason;
    gint64 timestamp_us;
} seen_event;

static void
seen_event_free(seen_event *e)
{
    g_free(e->name);
    g_free(e->uuid);
    g_free(e);
}

static void
on_event(ferry_conn *conn, const ferry_event *event, gpointer user_data)
{
    GPtrArray *seen = user_data;
    seen_event *e = g_new0(seen_event, 1);

    g_assert_cmpint(event->type, ==, FERRY_EVENT_LIFECYCLE);
    g_assert_true(ferry_domain_get_conn(event->domain) == conn);
    e->conn = conn;
    e->name = g_strdup(ferry_domain_get_name(event->domain));
    e->uuid = g_strdup(ferry_domain_get_uuid(event->domain));
    e->lifecycle = event->lifecycle;
    e->state = event->state;
    e->reason = event->reason;
    e->timestamp_us = event->timestamp_us;
    g_ptr_array_add(seen, e);
}

static gboolean
set_flag(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Iterates this thread's context until @seen holds @n events. */
static void
wait_events(GPtrArray *seen, guint n)
{
    gboolean expired = FALSE;
    guint timer = g_timeout_add_seconds(10, set_flag, &expired);

    while (seen->len < n && !expired)
        g_main_context_iteration(NULL, TRUE);
    if (expired)
        g_error("%u events arrived within 10 s, not %u", seen->len, n);
    g_source_remove(timer);
}

static void
assert_event(GPtrArray *seen, guint i, ferry_conn *conn, int lifecycle, int state)
{
    seen_event *e = g_ptr_array_index(seen, i);

    g_assert_true(e->conn == conn);
    g_assert_cmpstr(e->name, ==, "web1");
    g_assert_cmpstr(e->uuid, ==, UUID1);
    g_assert_cmpint(e->lifecycle, ==, lifecycle);
    g_assert_cmpint(e->state, ==, state);
    g_assert_cmpint(e->timestamp_us, >, 0);
}

static void
test_events(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(ferry_conn) watcher = open_remote(f, "fake", "events");
    g_autoptr(ferry_conn) actor = open_remote(f, "fake", "events");
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func((GDestroyNotify)seen_event_free);
    g_autoptr(GPtrArray) again = g_ptr_array_new_with_free_func((GDestroyNotify)seen_event_free);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = NULL;
    guint id = ferry_conn_subscribe_events(watcher, on_event, seen, NULL, &error);
    guint id2;

    g_assert_no_error(error);
    g_assert_cmpuint(id, >, 0);

    /* What one client does, another client of the same host hears of. */
    dom = ferry_domain_define_xml(actor, XML1, &error);
    g_assert_true(ferry_domain_start(dom, 0, &error));
    g_assert_true(ferry_domain_suspend(dom, &error));
    g_assert_no_error(error);
    wait_events(seen, 3);
    assert_event(seen, 0, watcher, FERRY_LIFECYCLE_DEFINED, FERRY_DOMAIN_SHUTOFF);
    assert_event(seen, 1, watcher, FERRY_LIFECYCLE_STARTED, FERRY_DOMAIN_RUNNING);
    assert_event(seen, 2, watcher, FERRY_LIFECYCLE_SUSPENDED, FERRY_DOMAIN_PAUSED);
    g_assert_cmpint(((seen_event *)g_ptr_array_index(seen, 2))->reason, ==,
                    FERRY_PAUSED_USER);

    /* The last unsubscription deregisters; subscribing again registers anew. */
    g_assert_true(ferry_conn_unsubscribe_events(watcher, id, &error));
    g_assert_no_error(error);
    g_assert_false(ferry_conn_unsubscribe_events(watcher, id, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_clear_error(&error);
    id2 = ferry_conn_subscribe_events(watcher, on_event, again, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(ferry_domain_destroy(dom, &error));
    wait_events(again, 1);
    assert_event(again, 0, watcher, FERRY_LIFECYCLE_STOPPED, FERRY_DOMAIN_SHUTOFF);
    g_assert_true(ferry_domain_undefine(dom, 0, &error));
    g_assert_no_error(error);
    /* Before `again` goes: queued deliveries hold the connection open. */
    g_assert_true(ferry_conn_unsubscribe_events(watcher, id2, &error));
    g_assert_no_error(error);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_cmpuint(seen->len, ==, 3);
}

/* ------------------------------------------------------------------------ */
/* Parity with the in-process test driver                                    */
/* ------------------------------------------------------------------------ */

#define TEST_XML "<domain type='test'><name>web1</name><uuid>" UUID1 "</uuid>" \
    "<memory unit='MiB'>64</memory><vcpu>1</vcpu>" \
    "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"

/*
 * Appends "STEP: ok DETAIL" or "STEP: CODE: MESSAGE", taking *@error: read
 * here, after the step's own call set it, whatever the order in which the
 * caller's arguments were evaluated.
 */
static void
record(GString *t, const char *step, gboolean ok, const char *detail, GError **error)
{
    g_autoptr(GError) owned = g_steal_pointer(error);

    if (ok)
        g_string_append_printf(t, "%s: ok%s%s\n", step, detail ? " " : "",
                               detail ? detail : "");
    else
        g_string_append_printf(t, "%s: %s: %s\n", step,
                               ferry_error_code_to_string(owned->code), owned->message);
}

static void
record_domain(GString *t, const char *step, ferry_domain *dom, GError **error)
{
    g_autofree char *detail = dom ? g_strdup_printf("%s %s", ferry_domain_get_name(dom),
                                                    ferry_domain_get_uuid(dom))
                                  : NULL;

    record(t, step, dom != NULL, detail, error);
    ferry_domain_unref(dom);
}

static void
record_info(GString *t, ferry_domain *dom)
{
    GError *error = NULL;
    ferry_domain_info info = { 0 };
    gboolean ok = ferry_domain_get_info(dom, &info, &error);
    g_autofree char *detail = g_strdup_printf(
        "state %d reason %d memory %" G_GUINT64_FORMAT " vcpus %u cpu %" G_GUINT64_FORMAT
        " persistent %d pid %" G_GINT64_FORMAT, info.state, info.reason, info.memory_kib,
        info.vcpus, info.cpu_time_ns, info.persistent, info.pid);

    record(t, "info", ok, detail, &error);
}

static void
record_list(GString *t, ferry_conn *conn)
{
    GError *error = NULL;
    g_autoptr(GPtrArray) domains = NULL;
    g_autoptr(GString) names = g_string_new(NULL);
    gboolean ok = ferry_conn_list_domains(conn, 0, &domains, &error);

    for (guint i = 0; ok && i < domains->len; i++)
        g_string_append_printf(names, "[%s]",
                               ferry_domain_get_name(g_ptr_array_index(domains, i)));
    record(t, "list", ok, names->str, &error);
}

/*
 * Runs the same operations on @conn whatever their outcome, and returns
 * what happened, event by event and step by step.
 */
static char *
run_script(ferry_conn *conn, GPtrArray *events, guint expected_events)
{
    GString *t = g_string_new(NULL);
    g_autoptr(ferry_domain) dom = ferry_domain_new_handle(conn, "web1", UUID1);
    GError *error = NULL;
    g_autofree char *hostname = ferry_conn_get_hostname(conn, &error);
    g_autofree char *xml = NULL;
    guint id;

    record(t, "hostname", hostname != NULL, hostname, &error);
    id = ferry_conn_subscribe_events(conn, on_event, events, NULL, &error);
    record(t, "subscribe", id != 0, NULL, &error);
    record_domain(t, "define", ferry_domain_define_xml(conn, TEST_XML, &error), &error);
    record_domain(t, "lookup-name", ferry_domain_lookup_by_name(conn, "web1", &error), &error);
    record_domain(t, "lookup-uuid", ferry_domain_lookup_by_uuid(conn, UUID1, &error), &error);
    record_list(t, conn);
    record(t, "start", ferry_domain_start(dom, 0, &error), NULL, &error);
    record_info(t, dom);
    record(t, "suspend", ferry_domain_suspend(dom, &error), NULL, &error);
    record(t, "suspend-again", ferry_domain_suspend(dom, &error), NULL, &error);
    record_info(t, dom);
    record(t, "resume", ferry_domain_resume(dom, &error), NULL, &error);
    xml = ferry_domain_get_xml(dom, 0, &error);
    record(t, "dumpxml", xml != NULL, xml, &error);
    record(t, "destroy", ferry_domain_destroy(dom, &error), NULL, &error);
    record(t, "undefine", ferry_domain_undefine(dom, 0, &error), NULL, &error);
    record_domain(t, "lookup-gone", ferry_domain_lookup_by_name(conn, "web1", &error), &error);
    record_list(t, conn);

    /* Events, before unsubscribing drops those still queued. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    wait_events(events, expected_events);
    for (guint i = 0; i < events->len; i++) {
        seen_event *e = g_ptr_array_index(events, i);

        g_string_append_printf(t, "event: %s %s %s state %d reason %d\n",
                               ferry_lifecycle_event_to_string(e->lifecycle), e->name,
                               e->uuid, e->state, e->reason);
    }
    if (id)
        record(t, "unsubscribe", ferry_conn_unsubscribe_events(conn, id, &error), NULL,
               &error);
    return g_string_free(t, FALSE);
}

/*
 * Whatever the test driver can do today, doing it through the daemon gives
 * the same results, errors and events, to the letter.
 */
static void
test_parity_with_test_driver(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *uri = g_strdup_printf("test+unix:///default?socket=%s",
                                           test_server_socket(f->ts));
    g_autoptr(ferry_conn) local = ferry_conn_open("test:///default", &error);
    g_autoptr(ferry_conn) remote = ferry_conn_open(uri, &error);
    g_autoptr(GPtrArray) local_events =
        g_ptr_array_new_with_free_func((GDestroyNotify)seen_event_free);
    g_autoptr(GPtrArray) remote_events =
        g_ptr_array_new_with_free_func((GDestroyNotify)seen_event_free);
    g_autofree char *local_script = NULL;
    g_autofree char *remote_script = NULL;

    g_assert_no_error(error);
    local_script = run_script(local, local_events, 0);
    remote_script = run_script(remote, remote_events, local_events->len);
    g_test_message("what the test driver did:\n%s", local_script);
    g_assert_cmpstr(remote_script, ==, local_script);
}

/* ------------------------------------------------------------------------ */
/* URIs and transports                                                       */
/* ------------------------------------------------------------------------ */

static void
test_test_driver(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *uri = g_strdup_printf("test+unix:///default?socket=%s&hostname=alpha",
                                           test_server_socket(f->ts));
    g_autofree char *bad_uri = g_strdup_printf("test+unix:///default?socket=%s&color=red",
                                               test_server_socket(f->ts));
    g_autoptr(ferry_conn) conn = ferry_conn_open(uri, &error);
    g_autoptr(ferry_conn) bad = NULL;
    g_autoptr(ferry_domain) none = NULL;
    g_autofree char *hostname = NULL;
    gboolean supported = FALSE;

    /* The daemon's test driver got the parameters that are not ours. */
    g_assert_no_error(error);
    hostname = ferry_conn_get_hostname(conn, &error);
    g_assert_cmpstr(hostname, ==, "alpha");
    g_assert_true(ferry_conn_supports_feature(conn, FERRY_FEATURE_EVENTS, &supported,
                                              &error));
    g_assert_true(supported);
    assert_list(conn, 0, "");
    none = ferry_domain_lookup_by_name(conn, "nope", &error);
    g_assert_null(none);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_assert_cmpstr(error->message, ==, "no domain named 'nope' on host 'alpha'");
    g_clear_error(&error);

    bad = ferry_conn_open(bad_uri, &error);
    g_assert_null(bad);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
    g_assert_cmpstr(error->message, ==, "URI 'test:///default?color=red' has unknown "
                                        "parameter 'color'");
}

/* Set before any thread starts: setenv() is not thread-safe. */
static char *env_dir;
static char *env_socket;

static void
test_default_socket(void)
{
    g_autoptr(ferry_dispatch) dispatch = ferry_dispatch_new(daemon_drivers);
    ferry_rpc_server_config config = { 0 };
    test_server *ts;
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) system = NULL;
    g_autoptr(ferry_conn) nowhere = NULL;
    g_autoptr(ferry_conn) fake = NULL;
    g_autofree char *hostname = NULL;
    g_autofree char *expected = NULL;

    ferry_dispatch_configure(dispatch, &config);
    ts = test_server_start_at(&config, env_socket);

    /* qemu:///system reaches $FERRY_SOCKET; this daemon has no qemu driver. */
    system = ferry_conn_open("qemu:///system", &error);
    g_assert_null(system);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT);
    g_assert_cmpstr(error->message, ==, "no driver serves URI 'qemu:///system'");
    g_clear_error(&error);

    /* So does a unix URI without a socket parameter. */
    fake = ferry_conn_open("fake+unix:///env", &error);
    g_assert_no_error(error);
    hostname = ferry_conn_get_hostname(fake, &error);
    g_assert_cmpstr(hostname, ==, "fake-env");
    g_clear_pointer(&fake, ferry_conn_unref);

    test_server_stop(ts);
    nowhere = ferry_conn_open("qemu:///system", &error);
    g_assert_null(nowhere);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT);
    expected = g_strdup_printf("cannot connect to ferryd at UNIX socket '%s': ", env_socket);
    g_assert_true(g_str_has_prefix(error->message, expected));
}

static void
test_tcp(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *uri = g_strdup_printf("fake+tcp://127.0.0.1:%u/tcp",
                                           test_server_tcp_port(f->ts));
    g_autofree char *bad_uri = g_strdup_printf("fake+tcp://127.0.0.1:%u/tcp?socket=/x",
                                               test_server_tcp_port(f->ts));
    g_autoptr(ferry_conn) conn = ferry_conn_open(uri, &error);
    g_autoptr(ferry_conn) bad = NULL;
    g_autofree char *hostname = NULL;

    g_assert_no_error(error);
    hostname = ferry_conn_get_hostname(conn, &error);
    /* Over TCP the daemon confines the connection (over the UNIX socket,
     * root or the daemon's own user is trusted: test_connection_queries). */
    g_assert_cmpstr(hostname, ==, "fake-tcp (confined)");

    bad = ferry_conn_open(bad_uri, &error);
    g_assert_null(bad);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
    g_assert_true(g_str_has_suffix(error->message, "parameter 'socket' is only for the "
                                   "unix and ssh transports"));
}

static void
test_daemon_gone(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(ferry_conn) conn = open_remote(f, "fake", "gone");
    g_autoptr(GError) error = NULL;
    g_autofree char *hostname = NULL;

    g_assert_true(ferry_conn_is_alive(conn));
    test_server_stop(f->ts);
    f->ts = NULL;
    hostname = ferry_conn_get_hostname(conn, &error);
    g_assert_null(hostname);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_false(ferry_conn_is_alive(conn));
}

/* ------------------------------------------------------------------------ */
/* The dispatch, spoken to directly                                          */
/* ------------------------------------------------------------------------ */

static GError *
raw_call(ferry_rpc_client *client, guint32 procedure, const ProtobufCMessage *args)
{
    GError *error = NULL;
    g_autoptr(GBytes) packed = args ? ferry_rpc_message_pack(args) : NULL;
    g_autoptr(GBytes) reply = ferry_rpc_client_call(client, procedure, packed, 0, &error);

    return error;
}

static void
test_dispatch_protocol(daemon_fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_rpc_client) client =
        ferry_rpc_client_new_unix(test_server_socket(f->ts), NULL, &error);
    Ferry__ConnectOpenArgs open_args = FERRY__CONNECT_OPEN_ARGS__INIT;
    Ferry__DomainStartArgs start = FERRY__DOMAIN_START_ARGS__INIT;
    Ferry__Domain dom = FERRY__DOMAIN__INIT;

    g_assert_no_error(error);
    dom.name = (char *)"web1";
    dom.uuid = (char *)"not-a-uuid";
    start.dom = &dom;

    error = raw_call(client, FERRY__PROCEDURE__DOMAIN_START, &start.base);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_assert_cmpstr(error->message, ==, "DOMAIN_START needs an open connection: send "
                                        "CONNECT_OPEN first");
    g_clear_error(&error);

    error = raw_call(client, 999, NULL);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_assert_true(g_str_has_prefix(error->message, "procedure 999 (UNKNOWN) is not a call "
                                   "this ferryd (version "));
    g_clear_error(&error);

    open_args.uri = (char *)"fake:///protocol";
    error = raw_call(client, FERRY__PROCEDURE__CONNECT_OPEN, &open_args.base);
    g_assert_no_error(error);
    error = raw_call(client, FERRY__PROCEDURE__CONNECT_OPEN, &open_args.base);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_assert_cmpstr(error->message, ==, "cannot open 'fake:///protocol': this client "
                                        "already has a connection open");
    g_clear_error(&error);

    error = raw_call(client, FERRY__PROCEDURE__DOMAIN_START, &start.base);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "domain 'web1': 'not-a-uuid' is not a valid uuid");
    g_clear_error(&error);

    error = raw_call(client, FERRY__PROCEDURE__EVENTS_DEREGISTER, NULL);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "this connection has not registered for events");
    g_clear_error(&error);

    /* Registering twice is allowed; closing drops the connection. */
    g_assert_null(raw_call(client, FERRY__PROCEDURE__EVENTS_REGISTER, NULL));
    g_assert_null(raw_call(client, FERRY__PROCEDURE__EVENTS_REGISTER, NULL));
    g_assert_null(raw_call(client, FERRY__PROCEDURE__CONNECT_CLOSE, NULL));
    error = raw_call(client, FERRY__PROCEDURE__CONNECT_GET_HOSTNAME, NULL);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
}

int
main(int argc, char **argv)
{
    int status;

    g_test_init(&argc, &argv, NULL);
    test_log_init();
    env_dir = g_dir_make_tmp("ferry-rpc-test-XXXXXX", NULL);
    g_assert_nonnull(env_dir);
    env_socket = g_build_filename(env_dir, "ferryd.sock", NULL);
    g_setenv("FERRY_SOCKET", env_socket, TRUE);

#define ADD(path, func) \
    g_test_add(path, daemon_fixture, NULL, daemon_start, func, daemon_stop)
    ADD("/remote/connection-queries", test_connection_queries);
    ADD("/remote/lifecycle", test_lifecycle);
    ADD("/remote/transient", test_transient);
    ADD("/remote/errors", test_errors);
    ADD("/remote/concurrent", test_concurrent);
    ADD("/remote/events", test_events);
    ADD("/remote/test-driver", test_test_driver);
    ADD("/remote/parity-with-test-driver", test_parity_with_test_driver);
    ADD("/remote/tcp", test_tcp);
    ADD("/remote/daemon-gone", test_daemon_gone);
    ADD("/remote/dispatch-protocol", test_dispatch_protocol);
#undef ADD
    g_test_add_func("/remote/default-socket", test_default_socket);
    status = g_test_run();
    g_rmdir(env_dir);
    g_free(env_socket);
    g_free(env_dir);
    return status;
}
