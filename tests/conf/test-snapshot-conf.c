/*
 * test-snapshot-conf.c: the domain snapshot XML parser and formatter.
 *
 * Data-driven part: every tests/data/snapshot/<case>.xml is parsed and
 * either formatted and compared with <case>.out.xml (which must format
 * back to itself) or expected to fail with exactly the message in
 * <case>.err.  The case's name says how it is parsed: "redefine-*" with
 * FERRY_SNAPSHOT_PARSE_REDEFINE (what a migration destination will use),
 * "internal-*" as ferryd's own files (REDEFINE and INTERNAL, formatted with
 * <active>), anything else as a new snapshot's XML from a user.
 * FERRY_TEST_REGENERATE=1 rewrites the expected files (see golden.h).
 *
 * The rest checks what files cannot: name rules, copies, flags, and that
 * the embedded schema is docs/schemas/domainsnapshot.rng.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/snapshot-conf.h"
#include "conf/xml-util.h"
#include "golden.h"

/* golden.c calls the transform on a case's file, then on its output
 * (source "output"): the second call parses as the first did. */
static guint case_parse_flags;
static guint case_format_flags;

static char *
parse_and_format(const char *input, const char *source, GError **error)
{
    g_autoptr(ferry_snapshot_def) def = NULL;
    g_autoptr(ferry_snapshot_def) copy = NULL;
    g_autofree char *copy_text = NULL;
    char *text;

    if (strcmp(source, "output") != 0) {
        case_parse_flags = 0;
        case_format_flags = 0;
        if (g_str_has_prefix(source, "redefine-"))
            case_parse_flags = FERRY_SNAPSHOT_PARSE_REDEFINE;
        if (g_str_has_prefix(source, "internal-")) {
            case_parse_flags = FERRY_SNAPSHOT_PARSE_REDEFINE | FERRY_SNAPSHOT_PARSE_INTERNAL;
            case_format_flags = FERRY_SNAPSHOT_FORMAT_INTERNAL;
        }
    }
    def = ferry_snapshot_def_parse_string(input, source, case_parse_flags, error);
    if (!def)
        return NULL;
    text = ferry_snapshot_def_format(def, case_format_flags);
    /* A copy formats the same: it copied every field. */
    copy = ferry_snapshot_def_copy(def);
    copy_text = ferry_snapshot_def_format(copy, case_format_flags);
    g_assert_cmpstr(copy_text, ==, text);
    return text;
}

static void
test_name_rules(void)
{
    static const char *const good[] = { "s1", "before-upgrade", "2024.01.02_10:00", "a+b" };
    static const struct {
        const char *name;
        const char *message;
    } bad[] = {
        { "", "snapshot name is empty" },
        { ".s", "snapshot name '.s' must not start with '.'" },
        { "-s", "snapshot name '-s' must not start with '-'" },
        { "a/b", "snapshot name 'a/b' contains '/' (0x2f); only letters, digits and "
                 "'_.+-:' are allowed" },
        { "a b", "snapshot name 'a b' contains ' ' (0x20); only letters, digits and "
                 "'_.+-:' are allowed" },
    };
    g_autofree char *long_name = g_strnfill(FERRY_SNAPSHOT_NAME_MAX + 1, 'x');
    g_autofree char *max_name = g_strnfill(FERRY_SNAPSHOT_NAME_MAX, 'x');
    g_autoptr(GError) error = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        g_assert_true(ferry_snapshot_name_is_valid(good[i], &error));
        g_assert_no_error(error);
    }
    g_assert_true(ferry_snapshot_name_is_valid(max_name, &error));
    g_assert_no_error(error);
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(ferry_snapshot_name_is_valid(bad[i].name, &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        g_assert_cmpstr(error->message, ==, bad[i].message);
        g_clear_error(&error);
    }
    g_assert_false(ferry_snapshot_name_is_valid(long_name, &error));
    g_assert_nonnull(strstr(error->message, "more than 64"));
    g_clear_error(&error);
    g_assert_false(ferry_snapshot_name_is_valid(NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
}

static void
test_fields(void)
{
    g_autofree char *path = golden_data_dir("snapshot");
    g_autofree char *file = g_build_filename(path, "redefine-full.xml", NULL);
    g_autofree char *xml = golden_read(file);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_snapshot_def) def =
        ferry_snapshot_def_parse_string(xml, "full.xml", FERRY_SNAPSHOT_PARSE_REDEFINE, &error);
    const ferry_snapshot_disk *disk;

    g_assert_no_error(error);
    g_assert_cmpstr(def->name, ==, "s2");
    g_assert_cmpstr(def->description, ==, "after the kernel upgrade & reboot");
    g_assert_cmpint(def->state, ==, FERRY_SNAPSHOT_STATE_RUNNING);
    g_assert_cmpint(def->creation_time, ==, 1700000000);
    g_assert_cmpstr(def->parent, ==, "s1");
    g_assert_cmpstr(def->parent_origin, ==, "full.xml:6: element 'parent'");
    g_assert_cmpint(def->memory, ==, FERRY_SNAPSHOT_LOCATION_INTERNAL);
    g_assert_cmpuint(def->disks->len, ==, 1);
    disk = ferry_snapshot_def_find_disk(def, "vda");
    g_assert_nonnull(disk);
    g_assert_cmpint(disk->location, ==, FERRY_SNAPSHOT_LOCATION_INTERNAL);
    g_assert_null(ferry_snapshot_def_find_disk(def, "vdb"));
    g_assert_nonnull(def->dom);
    g_assert_cmpstr(def->dom->name, ==, "web1");
    g_assert_cmpstr(def->dom->uuid, ==, "4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10");
    g_assert_false(def->current);
}

static void
test_copy_independent(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_snapshot_def) def = ferry_snapshot_def_parse_string(
        "<domainsnapshot><name>s1</name><disks><disk name='vda'/></disks></domainsnapshot>",
        NULL, 0, &error);
    g_autoptr(ferry_snapshot_def) copy = NULL;

    g_assert_no_error(error);
    copy = ferry_snapshot_def_copy(def);
    g_free(copy->name);
    copy->name = g_strdup("other");
    ((ferry_snapshot_disk *)copy->disks->pdata[0])->location = FERRY_SNAPSHOT_LOCATION_NO;
    g_assert_cmpstr(def->name, ==, "s1");
    g_assert_cmpint(((ferry_snapshot_disk *)def->disks->pdata[0])->location, ==,
                    FERRY_SNAPSHOT_LOCATION_DEFAULT);
}

static void
test_default_source_and_flags(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_snapshot_def) def =
        ferry_snapshot_def_parse_string("<domain/>", NULL, 0, &error);

    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_true(g_str_has_prefix(error->message, "snapshot XML:1:"));
    g_clear_error(&error);
    def = ferry_snapshot_def_parse_string("<domainsnapshot/>", "x.xml", 1 << 7, &error);
    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "x.xml: unsupported parse flags 0x80");
}

static void
test_schema_embedded_matches_docs(void)
{
    g_autofree char *path = g_build_filename(FERRY_SCHEMA_DIR, "domainsnapshot.rng", NULL);
    g_autofree char *text = golden_read(path);

    g_assert_cmpstr(ferry_xml_schema_text(FERRY_XML_SCHEMA_DOMAINSNAPSHOT), ==, text);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    golden_add_cases("snapshot", parse_and_format);
    g_test_add_func("/conf/snapshot/name-rules", test_name_rules);
    g_test_add_func("/conf/snapshot/fields", test_fields);
    g_test_add_func("/conf/snapshot/copy-independent", test_copy_independent);
    g_test_add_func("/conf/snapshot/default-source-and-flags", test_default_source_and_flags);
    g_test_add_func("/conf/snapshot/schema/embedded-matches-docs",
                    test_schema_embedded_matches_docs);
    return g_test_run();
}
