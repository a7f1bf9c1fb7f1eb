/*
 * test-snapshot-list.c: the snapshot tree of src/driver/snapshot-list.c:
 * new snapshots under the current one, redefinitions (what a migration
 * destination will receive) with their parent checks, single deletes that
 * hand children to the parent, and the store's per-domain lists.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "driver/snapshot-list.h"

static ferry_snapshot_def *
new_def(const char *name, const char *parent, gint64 created)
{
    ferry_snapshot_def *def = ferry_snapshot_def_new();

    def->name = g_strdup(name);
    def->parent = g_strdup(parent);
    def->creation_time = created;
    def->state = FERRY_SNAPSHOT_STATE_RUNNING;
    return def;
}

/* The names in order, as one string "a b c". */
static char *
names_of(ferry_snapshot_list *list)
{
    g_autoptr(GPtrArray) names = ferry_snapshot_list_names(list);

    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

static const char *
parent_of(ferry_snapshot_list *list, const char *name)
{
    g_autoptr(GError) error = NULL;
    const ferry_snapshot_def *def = ferry_snapshot_list_lookup(list, name, &error);

    g_assert_no_error(error);
    return def->parent;
}

/* s1 -> s2 -> s3, each taken as new: each the previous one's child. */
static ferry_snapshot_list *
chain(void)
{
    ferry_snapshot_list *list = ferry_snapshot_list_new("web1");
    g_autoptr(GError) error = NULL;

    g_assert_true(ferry_snapshot_list_add(list, new_def("s1", NULL, 10), 0, &error));
    /* The parent a new definition gives is not the list's to keep. */
    g_assert_true(ferry_snapshot_list_add(list, new_def("s2", "bogus", 20), 0, &error));
    g_assert_true(ferry_snapshot_list_add(list, new_def("s3", NULL, 30), 0, &error));
    g_assert_no_error(error);
    return list;
}

static void
test_new_chain(void)
{
    g_autoptr(ferry_snapshot_list) list = chain();
    g_autofree char *names = names_of(list);

    g_assert_cmpstr(names, ==, "s1 s2 s3");
    g_assert_null(parent_of(list, "s1"));
    g_assert_cmpstr(parent_of(list, "s2"), ==, "s1");
    g_assert_cmpstr(parent_of(list, "s3"), ==, "s2");
    g_assert_cmpstr(ferry_snapshot_list_current(list), ==, "s3");
    g_assert_cmpuint(ferry_snapshot_list_count(list), ==, 3);
}

static void
test_new_name_taken(void)
{
    g_autoptr(ferry_snapshot_list) list = chain();
    g_autoptr(GError) error = NULL;

    g_assert_false(ferry_snapshot_list_add(list, new_def("s2", NULL, 40), 0, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID);
    g_assert_cmpstr(error->message, ==,
                    "domain 'web1' already has a snapshot 's2' (delete it first, or "
                    "redefine its metadata)");
    g_assert_cmpuint(ferry_snapshot_list_count(list), ==, 3);
}

static void
test_revert_then_branch(void)
{
    g_autoptr(ferry_snapshot_list) list = chain();
    g_autoptr(GError) error = NULL;
    g_autofree char *names = NULL;

    g_assert_true(ferry_snapshot_list_set_current(list, "s1", &error));
    g_assert_true(ferry_snapshot_list_add(list, new_def("b1", NULL, 40), 0, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(parent_of(list, "b1"), ==, "s1");
    names = names_of(list);
    /* Depth first, siblings by creation time. */
    g_assert_cmpstr(names, ==, "s1 s2 s3 b1");
    g_assert_false(ferry_snapshot_list_set_current(list, "nope", &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SNAPSHOT);
    g_assert_cmpstr(error->message, ==, "snapshot 'nope' does not exist in domain 'web1'");
    g_assert_cmpstr(ferry_snapshot_list_current(list), ==, "b1");
}

/* What a destination does: the same tree, parents first, keeps names,
 * parents and the current one as the source said. */
static void
test_redefine_hierarchy(void)
{
    g_autoptr(ferry_snapshot_list) src = chain();
    g_autoptr(ferry_snapshot_list) dst = ferry_snapshot_list_new("web1");
    g_autoptr(GPtrArray) names = ferry_snapshot_list_names(src);
    g_autoptr(GError) error = NULL;
    g_autofree char *dst_names = NULL;

    g_assert_true(ferry_snapshot_list_set_current(src, "s2", &error));
    for (guint i = 0; i < names->len; i++) {
        const ferry_snapshot_def *def = ferry_snapshot_list_lookup(src, names->pdata[i], &error);

        g_assert_true(ferry_snapshot_list_add(dst, ferry_snapshot_def_copy(def),
                                              FERRY_SNAPSHOT_LIST_REDEFINE, &error));
        g_assert_no_error(error);
    }
    dst_names = names_of(dst);
    g_assert_cmpstr(dst_names, ==, "s1 s2 s3");
    g_assert_cmpstr(parent_of(dst, "s3"), ==, "s2");
    g_assert_cmpstr(ferry_snapshot_list_current(dst), ==, "s2");
}

static void
test_redefine_unknown_parent(void)
{
    g_autoptr(ferry_snapshot_list) list = ferry_snapshot_list_new("web1");
    g_autoptr(GError) error = NULL;
    ferry_snapshot_def *def = new_def("s1", "s0", 10);

    def->parent_origin = g_strdup("snap1.xml:4: element 'parent'");
    g_assert_false(ferry_snapshot_list_add(list, def, FERRY_SNAPSHOT_LIST_REDEFINE, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SNAPSHOT);
    g_assert_cmpstr(error->message, ==,
                    "snap1.xml:4: element 'parent': snapshot 's0' does not exist in domain "
                    "'web1'");
    g_assert_cmpuint(ferry_snapshot_list_count(list), ==, 0);
}

static void
test_redefine_cycle_refused(void)
{
    g_autoptr(ferry_snapshot_list) list = chain();
    g_autoptr(GError) error = NULL;
    g_autofree char *names = NULL;

    /* s1 under s3 (its own grandchild) would make a loop. */
    g_assert_false(ferry_snapshot_list_add(list, new_def("s1", "s3", 10),
                                           FERRY_SNAPSHOT_LIST_REDEFINE, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==,
                    "snapshot 's1' of domain 'web1' cannot have 's3' as its parent: 's3' is "
                    "'s1' itself or descends from it");
    g_clear_error(&error);
    /* Replacing a definition in place is allowed; the current one stays. */
    g_assert_true(ferry_snapshot_list_add(list, new_def("s2", "s1", 20),
                                          FERRY_SNAPSHOT_LIST_REDEFINE, &error));
    g_assert_no_error(error);
    names = names_of(list);
    g_assert_cmpstr(names, ==, "s1 s2 s3");
    g_assert_cmpstr(ferry_snapshot_list_current(list), ==, "s3");
    g_assert_true(ferry_snapshot_list_add(list, new_def("s2", "s1", 20),
                                          FERRY_SNAPSHOT_LIST_REDEFINE |
                                              FERRY_SNAPSHOT_LIST_CURRENT, &error));
    g_assert_cmpstr(ferry_snapshot_list_current(list), ==, "s2");
}

static void
test_delete_reparents(void)
{
    g_autoptr(ferry_snapshot_list) list = chain();
    g_autoptr(GPtrArray) moved = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *names = NULL;

    g_assert_true(ferry_snapshot_list_set_current(list, "s2", &error));
    g_assert_true(ferry_snapshot_list_remove(list, "s2", &moved, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(moved->len, ==, 1);
    g_assert_cmpstr(moved->pdata[0], ==, "s3");
    g_assert_cmpstr(parent_of(list, "s3"), ==, "s1");
    /* The deleted one was current: its parent is now. */
    g_assert_cmpstr(ferry_snapshot_list_current(list), ==, "s1");
    names = names_of(list);
    g_assert_cmpstr(names, ==, "s1 s3");
    /* The root's children become roots. */
    g_clear_pointer(&moved, g_ptr_array_unref);
    g_assert_true(ferry_snapshot_list_remove(list, "s1", &moved, &error));
    g_assert_null(parent_of(list, "s3"));
    g_assert_null(ferry_snapshot_list_current(list));
    g_assert_false(ferry_snapshot_list_remove(list, "s1", NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SNAPSHOT);
}

static void
test_store(void)
{
    ferry_snapshot_store *store = ferry_snapshot_store_new();
    g_autoptr(GError) error = NULL;
    ferry_snapshot_list *list;

    list = ferry_snapshot_store_lock(store, "uuid-a", "a");
    g_assert_true(ferry_snapshot_list_add(list, new_def("s1", NULL, 1), 0, &error));
    ferry_snapshot_store_unlock(store);
    list = ferry_snapshot_store_lock(store, "uuid-b", "b");
    g_assert_cmpuint(ferry_snapshot_list_count(list), ==, 0);
    ferry_snapshot_store_unlock(store);
    list = ferry_snapshot_store_lock(store, "uuid-a", "a");
    g_assert_cmpuint(ferry_snapshot_list_count(list), ==, 1);
    ferry_snapshot_store_unlock(store);
    ferry_snapshot_store_drop(store, "uuid-a");
    list = ferry_snapshot_store_lock(store, "uuid-a", "a");
    g_assert_cmpuint(ferry_snapshot_list_count(list), ==, 0);
    ferry_snapshot_store_unlock(store);
    ferry_snapshot_store_free(store);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/snapshot-list/new-chain", test_new_chain);
    g_test_add_func("/snapshot-list/new-name-taken", test_new_name_taken);
    g_test_add_func("/snapshot-list/revert-then-branch", test_revert_then_branch);
    g_test_add_func("/snapshot-list/redefine-hierarchy", test_redefine_hierarchy);
    g_test_add_func("/snapshot-list/redefine-unknown-parent", test_redefine_unknown_parent);
    g_test_add_func("/snapshot-list/redefine-cycle-refused", test_redefine_cycle_refused);
    g_test_add_func("/snapshot-list/delete-reparents", test_delete_reparents);
    g_test_add_func("/snapshot-list/store", test_store);
    return g_test_run();
}
