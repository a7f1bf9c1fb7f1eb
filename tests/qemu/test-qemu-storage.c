/*
 * test-qemu-storage.c: what Begin makes of QEMU's block nodes before a
 * storage migration, from node lists QEMU 7.2 returned
 * (tests/data/qemu-nodes/: query-named-block-nodes with no mirror, and
 * with the filter node a mirror leaves above its disk); and what the
 * migration's mirrors still hold, from query-block-jobs answers of QEMU 7.2
 * during storage migrations (block-jobs-mirrors.json: a mirror in sync, one
 * still copying, and a user's backup job that is not the migration's).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "qemu/qemu-storage.h"

static json_object *
load_nodes(const char *file)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "qemu-nodes", file,
                                                  NULL);
    json_object *nodes = json_object_from_file(path);

    g_assert_nonnull(nodes);
    g_assert_true(json_object_is_type(nodes, json_type_array));
    return nodes;
}

static void
test_clean(void)
{
    g_autoptr(GError) error = NULL;
    json_object *nodes = load_nodes("clean.json");

    g_assert_true(qemu_storage_check_no_mirror_filter("web1", nodes, &error));
    g_assert_no_error(error);
    json_object_put(nodes);
}

static void
test_leftover_filter(void)
{
    g_autoptr(GError) error = NULL;
    json_object *nodes = load_nodes("leftover-filter.json");

    g_assert_false(qemu_storage_check_no_mirror_filter("web1", nodes, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "domain 'web1': QEMU kept the filter node '#block054' of an ended disk "
                    "copy above '/var/lib/ferry/images/web1.qcow2', and will not copy that "
                    "disk again while it is there (QEMU cannot remove it while it runs): "
                    "restart the domain (shutdown, start) to copy its storage, or migrate it "
                    "without a storage copy");
    json_object_put(nodes);
}

static void
test_mirrors_sum(void)
{
    json_object *jobs = load_nodes("block-jobs-mirrors.json");
    json_object *none = json_object_new_array();
    guint64 total = 1, done = 1;

    g_assert_cmpuint(qemu_storage_mirrors_sum(jobs, &total, &done), ==, 2);
    g_assert_cmpuint(total, ==, 20578304u + 268435456u);
    g_assert_cmpuint(done, ==, 20578304u + 16777216u);
    /* No mirror, or no answer: nothing, and said so. */
    g_assert_cmpuint(qemu_storage_mirrors_sum(none, &total, &done), ==, 0);
    g_assert_cmpuint(total, ==, 0);
    g_assert_cmpuint(qemu_storage_mirrors_sum(NULL, &total, &done), ==, 0);
    json_object_put(jobs);
    json_object_put(none);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-storage/begin/no-filter", test_clean);
    g_test_add_func("/qemu-storage/begin/leftover-filter", test_leftover_filter);
    g_test_add_func("/qemu-storage/switch-over/mirrors-left", test_mirrors_sum);
    return g_test_run();
}
