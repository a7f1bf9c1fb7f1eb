/*
 * test-capabilities.c: the capabilities document.
 *
 * A structure built in code formats to tests/data/capabilities/format.golden
 * and parses back to the same structure; every other <case>.xml in that
 * directory is a data-driven case (expected <case>.out.xml or <case>.err,
 * FERRY_TEST_REGENERATE=1 rewrites them, see golden.h).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "conf/capabilities.h"
#include "golden.h"

static ferry_caps *
build_caps(void)
{
    ferry_caps *caps = ferry_caps_new();
    ferry_caps_guest *hvm = ferry_caps_add_guest(caps, "hvm", "x86_64");
    ferry_caps_guest *i686 = ferry_caps_add_guest(caps, "hvm", "i686");

    caps->host_uuid = g_strdup("0d1c2b3a-4f5e-4a7b-8c9d-aebfc0d1e2f3");
    caps->hostname = g_strdup("host-a.example");
    caps->arch = g_strdup("x86_64");
    hvm->wordsize = 64;
    hvm->emulator = g_strdup("/usr/bin/qemu-system-x86_64");
    g_ptr_array_add(hvm->machines, g_strdup("pc"));
    g_ptr_array_add(hvm->machines, g_strdup("q35"));
    g_ptr_array_add(hvm->domain_types, g_strdup("qemu"));
    g_ptr_array_add(hvm->domain_types, g_strdup("test"));
    i686->wordsize = 32;
    return caps;
}

static void
assert_caps_equal(const ferry_caps *a, const ferry_caps *b)
{
    g_assert_cmpstr(a->host_uuid, ==, b->host_uuid);
    g_assert_cmpstr(a->hostname, ==, b->hostname);
    g_assert_cmpstr(a->arch, ==, b->arch);
    g_assert_cmpuint(a->guests->len, ==, b->guests->len);
    for (guint i = 0; i < a->guests->len; i++) {
        const ferry_caps_guest *ga = g_ptr_array_index(a->guests, i);
        const ferry_caps_guest *gb = g_ptr_array_index(b->guests, i);

        g_assert_cmpstr(ga->os_type, ==, gb->os_type);
        g_assert_cmpstr(ga->arch, ==, gb->arch);
        g_assert_cmpuint(ga->wordsize, ==, gb->wordsize);
        g_assert_cmpstr(ga->emulator, ==, gb->emulator);
        g_assert_cmpuint(ga->machines->len, ==, gb->machines->len);
        for (guint j = 0; j < ga->machines->len; j++)
            g_assert_cmpstr(g_ptr_array_index(ga->machines, j), ==,
                            g_ptr_array_index(gb->machines, j));
        g_assert_cmpuint(ga->domain_types->len, ==, gb->domain_types->len);
        for (guint j = 0; j < ga->domain_types->len; j++)
            g_assert_cmpstr(g_ptr_array_index(ga->domain_types, j), ==,
                            g_ptr_array_index(gb->domain_types, j));
    }
}

static void
test_format_golden(void)
{
    g_autoptr(ferry_caps) caps = build_caps();
    g_autofree char *dir = golden_data_dir("capabilities");
    g_autofree char *path = g_build_filename(dir, "format.golden", NULL);
    g_autofree char *xml = ferry_caps_format(caps);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_caps) parsed = NULL;

    golden_check(path, xml);
    parsed = ferry_caps_parse(xml, &error);
    g_assert_no_error(error);
    assert_caps_equal(parsed, caps);
}

static void
test_format_empty(void)
{
    g_autoptr(ferry_caps) caps = ferry_caps_new();
    g_autofree char *xml = ferry_caps_format(caps);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_caps) parsed = NULL;

    g_assert_cmpstr(xml, ==, "<capabilities>\n  <host/>\n</capabilities>\n");
    parsed = ferry_caps_parse(xml, &error);
    g_assert_no_error(error);
    assert_caps_equal(parsed, caps);
    ferry_caps_free(NULL);
}

static char *
parse_and_format(const char *input, const char *source, GError **error)
{
    g_autoptr(ferry_caps) caps = ferry_caps_parse(input, error);

    return caps ? ferry_caps_format(caps) : NULL;
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    golden_add_cases("capabilities", parse_and_format);
    g_test_add_func("/conf/capabilities/format-golden", test_format_golden);
    g_test_add_func("/conf/capabilities/format-empty", test_format_empty);
    return g_test_run();
}
