/*
 * test-api.c: the public API over the test driver: the domain life cycle,
 * its states and reasons, its events, and the errors callers see.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

static const char *web1_xml =
    "<domain type='test'>\n"
    "  <name>web1</name>\n"
    "  <uuid>3f1e6a2c-5b7d-4e8f-9a0b-1c2d3e4f5a6b</uuid>\n"
    "  <memory unit='MiB'>64</memory>\n"
    "  <vcpu>1</vcpu>\n"
    "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
    "</domain>\n";

typedef struct {
    GPtrArray *events;   /* "event:state:reason" strings */
} recorder;

static void
on_event(ferry_conn *conn, const ferry_event *ev, gpointer data)
{
    recorder *r = data;

    g_ptr_array_add(r->events,
                    g_strdup_printf("%s %s:%s:%s", ferry_domain_get_name(ev->domain),
                                    ferry_lifecycle_event_to_string(ev->lifecycle),
                                    ferry_domain_state_to_string(ev->state),
                                    ferry_domain_state_reason_to_string(ev->state, ev->reason)));
}

/* Deliveries are queued on the subscriber's context: drain it. */
static void
drain(void)
{
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static void
assert_state(ferry_domain *dom, int state, int reason)
{
    int st = -1, rs = -1;
    g_autoptr(GError) error = NULL;

    g_assert_true(ferry_domain_get_state(dom, &st, &rs, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(ferry_domain_state_to_string(st), ==, ferry_domain_state_to_string(state));
    g_assert_cmpint(rs, ==, reason);
}

static void
test_lifecycle(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) conn = ferry_conn_open("test:///default", &error);
    g_autoptr(ferry_domain) dom = NULL;
    g_autoptr(GPtrArray) doms = NULL;
    recorder r = { g_ptr_array_new_with_free_func(g_free) };
    guint id;

    g_assert_no_error(error);
    id = ferry_conn_subscribe_events(conn, on_event, &r, NULL, &error);
    g_assert_cmpuint(id, >, 0);

    dom = ferry_domain_define_xml(conn, web1_xml, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ferry_domain_get_name(dom), ==, "web1");
    assert_state(dom, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN);

    g_assert_true(ferry_conn_list_domains(conn, FERRY_LIST_ACTIVE, &doms, &error));
    g_assert_cmpuint(doms->len, ==, 0);
    g_clear_pointer(&doms, g_ptr_array_unref);
    g_assert_true(ferry_conn_list_domains(conn, FERRY_LIST_INACTIVE, &doms, &error));
    g_assert_cmpuint(doms->len, ==, 1);
    g_clear_pointer(&doms, g_ptr_array_unref);

    g_assert_true(ferry_domain_start(dom, 0, &error));
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED);
    g_assert_false(ferry_domain_start(dom, 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_assert_cmpstr(error->message, ==, "domain 'web1' is already running");
    g_clear_error(&error);

    g_assert_true(ferry_domain_suspend(dom, &error));
    assert_state(dom, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER);
    g_assert_false(ferry_domain_suspend(dom, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_clear_error(&error);
    g_assert_true(ferry_domain_resume(dom, &error));
    assert_state(dom, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_UNPAUSED);
    g_assert_true(ferry_domain_destroy(dom, &error));
    assert_state(dom, FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_DESTROYED);
    g_assert_true(ferry_domain_undefine(dom, 0, &error));
    g_assert_false(ferry_domain_get_state(dom, NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_clear_error(&error);

    drain();
    g_assert_cmpuint(r.events->len, ==, 6);
    g_assert_cmpstr(r.events->pdata[0], ==, "web1 defined:shut off:unknown");
    g_assert_cmpstr(r.events->pdata[1], ==, "web1 started:running:booted");
    g_assert_cmpstr(r.events->pdata[2], ==, "web1 suspended:paused:user");
    g_assert_cmpstr(r.events->pdata[3], ==, "web1 resumed:running:unpaused");
    g_assert_cmpstr(r.events->pdata[4], ==, "web1 stopped:shut off:destroyed");
    g_assert_cmpstr(r.events->pdata[5], ==, "web1 undefined:shut off:destroyed");
    g_assert_true(ferry_conn_unsubscribe_events(conn, id, &error));
    g_ptr_array_unref(r.events);
}

static void
test_bad_xml_defines_nothing(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) conn = ferry_conn_open("test:///default", &error);
    g_autoptr(GPtrArray) doms = NULL;
    const char *bad = "<domain type='test'>\n  <name>x</name>\n  <memory>lots</memory>\n"
                      "  <vcpu>1</vcpu>\n</domain>\n";

    g_assert_null(ferry_domain_define_xml(conn, bad, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_nonnull(strstr(error->message, "memory"));
    g_assert_nonnull(strstr(error->message, ":3"));
    g_assert_true(ferry_conn_list_domains(conn, FERRY_LIST_ACTIVE | FERRY_LIST_INACTIVE,
                                          &doms, NULL));
    g_assert_cmpuint(doms->len, ==, 0);
}

static void
test_clash_and_transient(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) conn = ferry_conn_open("test:///default", &error);
    g_autoptr(ferry_domain) dom = ferry_domain_define_xml(conn, web1_xml, &error);
    g_autofree char *other = g_strdup(web1_xml);
    g_autoptr(ferry_domain) tdom = NULL;
    char *p = strstr(other, "3f1e6a2c");

    memcpy(p, "aaaaaaaa", 8);
    g_assert_no_error(error);
    g_assert_null(ferry_domain_define_xml(conn, other, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_DOMAIN_EXISTS);
    g_assert_nonnull(strstr(error->message, "web1"));
    g_clear_error(&error);
    g_assert_true(ferry_domain_undefine(dom, 0, &error));

    tdom = ferry_domain_create_xml(conn, web1_xml, FERRY_START_PAUSED, &error);
    g_assert_no_error(error);
    assert_state(tdom, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_STARTING_UP);
    g_assert_false(ferry_domain_undefine(tdom, 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_clear_error(&error);
    /* A transient domain disappears when it stops. */
    g_assert_true(ferry_domain_destroy(tdom, &error));
    g_assert_false(ferry_domain_get_state(tdom, NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
}

static void
test_bad_uris(void)
{
    const char *bad[] = { "nonsense", "test://", "qemu+foo:///system", "test:///" };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(ferry_conn) conn = ferry_conn_open(bad[i], &error);

        g_assert_null(conn);
        g_assert_nonnull(error);
        g_assert_nonnull(strstr(error->message, "URI") ? error->message : NULL);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/api/lifecycle", test_lifecycle);
    g_test_add_func("/api/bad-xml-defines-nothing", test_bad_xml_defines_nothing);
    g_test_add_func("/api/clash-and-transient", test_clash_and_transient);
    g_test_add_func("/api/bad-uris", test_bad_uris);
    return g_test_run();
}
