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
    caps->migration_live = TRUE;
    g_ptr_array_add(caps->uri_transports, g_strdup("tcp"));
    g_ptr_array_add(caps->uri_transports, g_strdup("unix"));
    g_ptr_array_add(caps->migration_protocols, g_strdup("v3"));
    g_ptr_array_add(caps->migration_protocols, g_strdup("v2"));
    g_ptr_array_add(caps->migration_protocols, g_strdup("v1"));
    caps->migration_nbd = TRUE;
    caps->migration_tunnelled = TRUE;
    return caps;
}

static void
assert_words_equal(const GPtrArray *a, const GPtrArray *b)
{
    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_assert_cmpuint(a->len, ==, b->len);
    for (guint i = 0; i < a->len; i++)
        g_assert_cmpstr(g_ptr_array_index(a, i), ==, g_ptr_array_index(b, i));
}

static void
assert_caps_equal(const ferry_caps *a, const ferry_caps *b)
{
    g_assert_cmpstr(a->host_uuid, ==, b->host_uuid);
    g_assert_cmpstr(a->hostname, ==, b->hostname);
    g_assert_cmpstr(a->arch, ==, b->arch);
    g_assert_cmpint(a->migration_live, ==, b->migration_live);
    g_assert_cmpint(a->migration_nbd, ==, b->migration_nbd);
    g_assert_cmpint(a->migration_tunnelled, ==, b->migration_tunnelled);
    assert_words_equal(a->uri_transports, b->uri_transports);
    assert_words_equal(a->migration_protocols, b->migration_protocols);
    g_assert_cmpuint(a->guests->len, ==, b->guests->len);
    for (guint i = 0; i < a->guests->len; i++) {
        const ferry_caps_guest *ga = g_ptr_array_index(a->guests, i);
        const ferry_caps_guest *gb = g_ptr_array_index(b->guests, i);

        g_assert_cmpstr(ga->os_type, ==, gb->os_type);
        g_assert_cmpstr(ga->arch, ==, gb->arch);
        g_assert_cmpuint(ga->wordsize, ==, gb->wordsize);
        g_assert_cmpstr(ga->emulator, ==, gb->emulator);
        assert_words_equal(ga->machines, gb->machines);
        assert_words_equal(ga->domain_types, gb->domain_types);
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
    g_assert_false(parsed->migration_live);
    g_assert_false(parsed->migration_nbd);
    g_assert_cmpuint(parsed->uri_transports->len, ==, 0);
    g_assert_cmpuint(parsed->migration_protocols->len, ==, 0);
    ferry_caps_free(NULL);
}

/* One migration feature alone is enough to write <host> out in full, and
 * each of the four comes back on its own. */
static void
test_format_migration_only(void)
{
    static const char *const expected[] = {
        "<capabilities>\n  <host>\n    <migration_features>\n      <live/>\n"
        "    </migration_features>\n  </host>\n</capabilities>\n",
        "<capabilities>\n  <host>\n    <migration_features>\n      <uri_transports>\n"
        "        <uri_transport>tcp</uri_transport>\n      </uri_transports>\n"
        "    </migration_features>\n  </host>\n</capabilities>\n",
        "<capabilities>\n  <host>\n    <migration_features>\n      <protocols>\n"
        "        <protocol>v3</protocol>\n      </protocols>\n"
        "    </migration_features>\n  </host>\n</capabilities>\n",
        "<capabilities>\n  <host>\n    <migration_features>\n      <nbd/>\n"
        "    </migration_features>\n  </host>\n</capabilities>\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
        g_autoptr(ferry_caps) caps = ferry_caps_new();
        g_autoptr(ferry_caps) parsed = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *xml = NULL;

        caps->migration_live = i == 0;
        if (i == 1)
            g_ptr_array_add(caps->uri_transports, g_strdup("tcp"));
        if (i == 2)
            g_ptr_array_add(caps->migration_protocols, g_strdup("v3"));
        caps->migration_nbd = i == 3;
        xml = ferry_caps_format(caps);
        g_assert_cmpstr(xml, ==, expected[i]);
        parsed = ferry_caps_parse(xml, &error);
        g_assert_no_error(error);
        assert_caps_equal(parsed, caps);
    }
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
    g_test_add_func("/conf/capabilities/format-migration-only", test_format_migration_only);
    return g_test_run();
}
