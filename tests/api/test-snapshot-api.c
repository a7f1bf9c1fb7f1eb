/*
 * test-snapshot-api.c: the public snapshot calls on the test driver, whose
 * snapshots are metadata only: argument checks, a chain, redefinition with
 * the same hierarchy (what a migration destination will do), revert and
 * delete.  The QEMU driver's are tested on real QEMU by e2e-snapshots.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

static const char domain_xml[] =
    "<domain type='test'><name>web1</name>"
    "<uuid>4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10</uuid>"
    "<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
    "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
    "<source file='/images/web1.qcow2'/><target dev='vda' bus='virtio'/></disk></devices>"
    "</domain>";

static ferry_domain *
running_domain(ferry_conn **ret_conn)
{
    g_autoptr(GError) error = NULL;
    ferry_conn *conn = ferry_conn_open("test:///snap", &error);
    ferry_domain *dom;

    g_assert_no_error(error);
    dom = ferry_domain_define_xml(conn, domain_xml, &error);
    g_assert_no_error(error);
    g_assert_true(ferry_domain_start(dom, 0, &error));
    *ret_conn = conn;
    return dom;
}

static char *
create(ferry_domain *dom, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = g_strdup_printf("<domainsnapshot><name>%s</name></domainsnapshot>",
                                           name);
    char *got = ferry_domain_snapshot_create_xml(dom, xml, 0, &error);

    g_assert_no_error(error);
    return got;
}

static void
test_chain_revert_delete(void)
{
    g_autoptr(GError) error = NULL;
    ferry_conn *conn = NULL;
    g_autoptr(ferry_domain) dom = running_domain(&conn);
    g_autofree char *s1 = create(dom, "s1");
    g_autofree char *s2 = NULL;
    g_autofree char *s3 = NULL;
    g_autofree char *current = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(GPtrArray) list = NULL;
    int state = 0;

    g_assert_true(ferry_domain_suspend(dom, &error));
    s2 = create(dom, "s2");
    g_assert_true(ferry_domain_resume(dom, &error));
    s3 = create(dom, "s3");
    g_assert_cmpstr(s3, ==, "s3");
    g_assert_true(ferry_domain_snapshot_list(dom, 0, &list, &error));
    g_assert_cmpuint(list->len, ==, 3);
    g_assert_cmpstr(((ferry_snapshot_info *)list->pdata[1])->parent, ==, "s1");
    g_assert_cmpint(((ferry_snapshot_info *)list->pdata[1])->state, ==, FERRY_DOMAIN_PAUSED);
    g_assert_true(((ferry_snapshot_info *)list->pdata[2])->current);
    xml = ferry_domain_snapshot_get_xml(dom, "s2", 0, &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(xml, "<state>paused</state>"));
    g_assert_nonnull(strstr(xml, "<disk name='vda' snapshot='internal'/>"));

    g_assert_true(ferry_domain_snapshot_revert(dom, "s2", 0, &error));
    g_assert_true(ferry_domain_get_state(dom, &state, NULL, &error));
    g_assert_cmpint(state, ==, FERRY_DOMAIN_PAUSED);
    current = ferry_domain_snapshot_current(dom, &error);
    g_assert_cmpstr(current, ==, "s2");

    g_assert_true(ferry_domain_snapshot_delete(dom, "s2", 0, &error));
    g_clear_pointer(&list, g_ptr_array_unref);
    g_assert_true(ferry_domain_snapshot_list(dom, 0, &list, &error));
    g_assert_cmpuint(list->len, ==, 2);
    g_assert_cmpstr(((ferry_snapshot_info *)list->pdata[1])->name, ==, "s3");
    g_assert_cmpstr(((ferry_snapshot_info *)list->pdata[1])->parent, ==, "s1");
    g_clear_pointer(&current, g_free);
    current = ferry_domain_snapshot_current(dom, &error);
    g_assert_cmpstr(current, ==, "s1");

    g_assert_false(ferry_domain_snapshot_revert(dom, "s2", 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SNAPSHOT);
    g_assert_cmpstr(error->message, ==, "snapshot 's2' does not exist in domain 'web1'");
    g_clear_error(&error);
    g_assert_null(ferry_domain_snapshot_create_xml(dom, "<domainsnapshot/>", 1 << 5, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_null(ferry_domain_snapshot_get_xml(dom, "a/b", 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    ferry_conn_unref(conn);
}

static void
test_redefine(void)
{
    g_autoptr(GError) error = NULL;
    ferry_conn *conn = NULL;
    g_autoptr(ferry_domain) dom = running_domain(&conn);
    g_autofree char *s1 = create(dom, "s1");
    g_autofree char *xml = ferry_domain_snapshot_get_xml(dom, "s1", 0, &error);
    g_autofree char *child = NULL;
    g_autofree char *orphan = NULL;
    g_autofree char *name = NULL;
    g_autofree char *current = NULL;
    char *at;

    g_assert_no_error(error);
    /* s1's metadata again as "r2", child of s1, made current. */
    child = g_strdup(xml);
    at = strstr(child, "<name>s1</name>");
    g_assert_nonnull(at);
    memcpy(at, "<name>r2</name>", 15);
    at = strstr(child, "<state>");
    {
        /* at points into child: build the new text before freeing it. */
        g_autofree char *head = g_strndup(child, at - child);
        char *joined = g_strconcat(head, "<parent><name>s1</name></parent>\n  ", at, NULL);

        g_free(child);
        child = joined;
    }
    name = ferry_domain_snapshot_create_xml(dom, child, FERRY_SNAPSHOT_CREATE_REDEFINE |
                                            FERRY_SNAPSHOT_CREATE_CURRENT, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(name, ==, "r2");
    current = ferry_domain_snapshot_current(dom, &error);
    g_assert_cmpstr(current, ==, "r2");

    orphan = g_strdup(child);
    at = strstr(orphan, "<parent><name>s1</name>");
    memcpy(at, "<parent><name>s0</name>", 23);
    g_assert_null(ferry_domain_snapshot_create_xml(dom, orphan, FERRY_SNAPSHOT_CREATE_REDEFINE,
                                                   &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SNAPSHOT);
    g_assert_nonnull(strstr(error->message, "element 'parent': snapshot 's0' does not exist in "
                                            "domain 'web1'"));
    g_clear_error(&error);
    /* CURRENT alone is refused. */
    g_assert_null(ferry_domain_snapshot_create_xml(dom, child, FERRY_SNAPSHOT_CREATE_CURRENT,
                                                   &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    ferry_conn_unref(conn);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/snapshot-api/chain-revert-delete", test_chain_revert_delete);
    g_test_add_func("/snapshot-api/redefine", test_redefine);
    return g_test_run();
}
