/*
 * test-migration-cookie.c: the migration cookie parser and formatter.
 *
 * Data-driven part: every tests/data/cookie/<case>.xml is parsed as the
 * Prepare phase would and either formatted and compared with
 * <case>.out.xml (which must parse back to the same text) or expected to
 * fail with FERRY_ERROR_COOKIE and exactly the one-line message in
 * <case>.err.  FERRY_TEST_REGENERATE=1 rewrites them (see golden.h).  Every
 * accepted case, and what it formats to, is also checked against
 * docs/schemas/migration-cookie.rng, so the published schema describes
 * what ferry reads and writes.
 *
 * The rest checks what files cannot: new(), add_disk(), a round trip of a
 * cookie built in code, limits, and errors without a phase.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <libxml/relaxng.h>
#include <string.h>

#include "conf/migration-cookie.h"
#include "conf/xml-util.h"
#include "golden.h"

#define HOST_UUID "0d1c2b3a-4f5e-4a7b-8c9d-aebfc0d1e2f3"
#define MIGRATION_ID "6c1e5a0b-3f2d-4e8a-9b7c-1d2e3f4a5b6c"

static const char domain_xml[] =
    "<domain type='qemu'>\n"
    "  <name>web1</name>\n"
    "  <uuid>4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10</uuid>\n"
    "  <memory unit='MiB'>64</memory>\n"
    "  <vcpu>1</vcpu>\n"
    "  <os><type>hvm</type></os>\n"
    "  <devices>\n"
    "    <disk type='file' device='disk'>\n"
    "      <source file='/images/web1.img'/>\n"
    "      <target dev='vda'/>\n"
    "    </disk>\n"
    "  </devices>\n"
    "</domain>\n";

/* ---- the published schema --------------------------------------------- */

static void
ignore_schema_error(void *data, xmlErrorPtr err)
{
}

/* Whether docs/schemas/migration-cookie.rng accepts @xml. */
static gboolean
schema_accepts(const char *xml)
{
    /* From the file, so that its reference to domain.rng resolves. */
    g_autofree char *path = g_build_filename(FERRY_SCHEMA_DIR, "migration-cookie.rng", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = ferry_xml_read(xml, "cookie", &error);
    xmlRelaxNGParserCtxtPtr pctxt;
    xmlRelaxNGValidCtxtPtr vctxt;
    xmlRelaxNGPtr rng;
    int rc;

    g_assert_no_error(error);
    pctxt = xmlRelaxNGNewParserCtxt(path);
    rng = xmlRelaxNGParse(pctxt);
    xmlRelaxNGFreeParserCtxt(pctxt);
    g_assert_nonnull(rng);
    vctxt = xmlRelaxNGNewValidCtxt(rng);
    xmlRelaxNGSetValidStructuredErrors(vctxt, ignore_schema_error, NULL);
    rc = xmlRelaxNGValidateDoc(vctxt, doc);
    xmlRelaxNGFreeValidCtxt(vctxt);
    xmlRelaxNGFree(rng);
    return rc == 0;
}

static void
assert_schema_valid(const char *xml)
{
    if (!schema_accepts(xml))
        g_test_fail_printf("migration-cookie.rng refuses:\n%s", xml);
}

/* The schema is not so loose that it takes anything: the cases whose
 * fault a schema can express are refused by it too. */
static void
test_schema_refuses(void)
{
    static const char *const cases[] = {
        "bad-id", "bad-host-uuid", "missing-id", "missing-host", "host-unknown-attribute",
        "duplicate-section", "statistics-not-a-number", "statistics-negative",
        "statistics-too-large", "capacity-zero", "capacity-negative", "capacity-huge",
        "capacity-missing", "port-zero", "port-too-large", "port-not-a-number",
        "nbd-bad-format", "nbd-bad-target", "feature-bad-name", "domain-bad-uuid",
        "persistent-empty", "persistent-two-domains", "persistent-invalid-domain",
        "persistent-extra-element", "result-bad-ok", "unknown-root-attribute", "wrong-root",
    };
    g_autofree char *dir = golden_data_dir("cookie");

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *file = g_strconcat(cases[i], ".xml", NULL);
        g_autofree char *path = g_build_filename(dir, file, NULL);
        g_autofree char *xml = golden_read(path);

        if (schema_accepts(xml))
            g_test_fail_printf("migration-cookie.rng accepts %s", file);
    }
}

/* ---- data-driven cases --------------------------------------------------- */

static char *
parse_and_format(const char *input, const char *source, GError **error)
{
    g_autoptr(ferry_migration_cookie) cookie =
        ferry_migration_cookie_parse(input, "Prepare", error);
    char *text;

    if (!cookie)
        return NULL;
    /* What ferry accepts, the schema accepts (the converse does not hold:
     * the schema cannot express every check). */
    assert_schema_valid(input);
    text = ferry_migration_cookie_format(cookie);
    assert_schema_valid(text);
    return text;
}

/* ---- comparing cookies --------------------------------------------------- */

static void
assert_cookies_equal(const ferry_migration_cookie *a, const ferry_migration_cookie *b)
{
    g_assert_cmpstr(a->id, ==, b->id);
    g_assert_cmpstr(a->host_uuid, ==, b->host_uuid);
    g_assert_cmpstr(a->hostname, ==, b->hostname);
    g_assert_cmpstr(a->dom_name, ==, b->dom_name);
    g_assert_cmpstr(a->dom_uuid, ==, b->dom_uuid);

    g_assert_true((a->features == NULL) == (b->features == NULL));
    if (a->features) {
        g_assert_cmpuint(a->features->len, ==, b->features->len);
        for (guint i = 0; i < a->features->len; i++)
            g_assert_cmpstr(g_ptr_array_index(a->features, i), ==,
                            g_ptr_array_index(b->features, i));
    }

    g_assert_cmpint(a->has_stats, ==, b->has_stats);
    g_assert_cmpint(a->total_ms, ==, b->total_ms);
    g_assert_cmpint(a->downtime_ms, ==, b->downtime_ms);
    g_assert_cmpint(a->setup_ms, ==, b->setup_ms);
    g_assert_cmpuint(a->data_total, ==, b->data_total);
    g_assert_cmpuint(a->data_transferred, ==, b->data_transferred);
    g_assert_cmpuint(a->disk_total, ==, b->disk_total);
    g_assert_cmpuint(a->disk_transferred, ==, b->disk_transferred);

    g_assert_cmpint(a->has_nbd, ==, b->has_nbd);
    g_assert_cmpuint(a->nbd_port, ==, b->nbd_port);
    g_assert_cmpuint(a->disks->len, ==, b->disks->len);
    for (guint i = 0; i < a->disks->len; i++) {
        const ferry_cookie_disk *da = g_ptr_array_index(a->disks, i);
        const ferry_cookie_disk *db = g_ptr_array_index(b->disks, i);

        g_assert_cmpstr(da->target, ==, db->target);
        g_assert_cmpstr(da->format, ==, db->format);
        g_assert_cmpuint(da->capacity, ==, db->capacity);
    }

    g_assert_true((a->persistent == NULL) == (b->persistent == NULL));
    if (a->persistent) {
        g_autofree char *xa = ferry_domain_def_format(a->persistent);
        g_autofree char *xb = ferry_domain_def_format(b->persistent);

        g_assert_cmpstr(xa, ==, xb);
    }

    g_assert_cmpint(a->has_result, ==, b->has_result);
    g_assert_cmpint(a->result_ok, ==, b->result_ok);
    g_assert_cmpstr(a->result_message, ==, b->result_message);
}

/* Formats @cookie, parses it back, and checks both agree. */
static char *
assert_round_trip(const ferry_migration_cookie *cookie)
{
    g_autoptr(GError) error = NULL;
    char *xml = ferry_migration_cookie_format(cookie);
    g_autoptr(ferry_migration_cookie) parsed = ferry_migration_cookie_parse(xml, "Finish",
                                                                            &error);
    g_autofree char *again = NULL;

    g_assert_no_error(error);
    assert_cookies_equal(parsed, cookie);
    again = ferry_migration_cookie_format(parsed);
    g_assert_cmpstr(again, ==, xml);
    assert_schema_valid(xml);
    return xml;
}

/* ---- new() and add_disk() ------------------------------------------------ */

static void
test_new_minimal(void)
{
    g_autoptr(ferry_migration_cookie) cookie =
        ferry_migration_cookie_new(MIGRATION_ID, HOST_UUID, "host-a");
    g_autofree char *xml = NULL;

    g_assert_cmpstr(cookie->id, ==, MIGRATION_ID);
    g_assert_null(cookie->dom_name);
    g_assert_null(cookie->features);
    g_assert_false(cookie->has_stats);
    g_assert_false(cookie->has_nbd);
    g_assert_nonnull(cookie->disks);
    g_assert_cmpuint(cookie->disks->len, ==, 0);
    g_assert_null(cookie->persistent);
    g_assert_false(cookie->has_result);

    xml = assert_round_trip(cookie);
    g_assert_cmpstr(xml, ==,
                    "<ferry-migration>\n"
                    "  <id>" MIGRATION_ID "</id>\n"
                    "  <host uuid='" HOST_UUID "' name='host-a'/>\n"
                    "</ferry-migration>\n");
    ferry_migration_cookie_free(NULL);
}

static void
test_new_generates_id(void)
{
    g_autoptr(ferry_migration_cookie) a = ferry_migration_cookie_new(NULL, HOST_UUID, NULL);
    g_autoptr(ferry_migration_cookie) b = ferry_migration_cookie_new(NULL, HOST_UUID, NULL);
    g_autoptr(ferry_migration_cookie) upper =
        ferry_migration_cookie_new("6C1E5A0B-3F2D-4E8A-9B7C-1D2E3F4A5B6C",
                                   "0D1C2B3A-4F5E-4A7B-8C9D-AEBFC0D1E2F3", NULL);
    g_autofree char *xml = NULL;

    g_assert_true(g_uuid_string_is_valid(a->id));
    g_assert_cmpstr(a->id, !=, b->id);
    g_assert_null(a->hostname);
    /* Stored as the parser gives them back: lower case. */
    g_assert_cmpstr(upper->id, ==, MIGRATION_ID);
    g_assert_cmpstr(upper->host_uuid, ==, HOST_UUID);

    xml = assert_round_trip(a);
    g_assert_null(strstr(xml, "name="));
}

static void
test_add_disk(void)
{
    g_autoptr(ferry_migration_cookie) cookie = ferry_migration_cookie_new(MIGRATION_ID,
                                                                          HOST_UUID, NULL);
    g_autofree char *begin_xml = NULL;
    g_autofree char *prepare_xml = NULL;
    const ferry_cookie_disk *disk;

    ferry_migration_cookie_add_disk(cookie, "vda", "qcow2", 64 * 1024 * 1024);
    ferry_migration_cookie_add_disk(cookie, "vdb", "raw", G_MAXUINT64);
    g_assert_true(cookie->has_nbd);
    g_assert_cmpuint(cookie->disks->len, ==, 2);
    disk = g_ptr_array_index(cookie->disks, 0);
    g_assert_cmpstr(disk->target, ==, "vda");
    g_assert_cmpstr(disk->format, ==, "qcow2");
    g_assert_cmpuint(disk->capacity, ==, 64 * 1024 * 1024);

    /* Begin: disks without a port. */
    begin_xml = assert_round_trip(cookie);
    g_assert_nonnull(strstr(begin_xml,
                            "  <nbd>\n"
                            "    <disk target='vda' format='qcow2' capacity='67108864'/>\n"
                            "    <disk target='vdb' format='raw' "
                            "capacity='18446744073709551615'/>\n"
                            "  </nbd>\n"));

    /* Prepare: the port the destination's NBD server listens on. */
    cookie->nbd_port = 65535;
    prepare_xml = assert_round_trip(cookie);
    g_assert_nonnull(strstr(prepare_xml, "  <nbd port='65535'>\n"));
}

static void
test_nbd_port_only(void)
{
    g_autoptr(ferry_migration_cookie) cookie = ferry_migration_cookie_new(MIGRATION_ID,
                                                                          HOST_UUID, NULL);
    g_autofree char *xml = NULL;

    cookie->has_nbd = TRUE;
    cookie->nbd_port = 49152;
    xml = assert_round_trip(cookie);
    g_assert_nonnull(strstr(xml, "  <nbd port='49152'/>\n"));
}

/* ---- every section ------------------------------------------------------- */

static ferry_migration_cookie *
build_full_cookie(void)
{
    g_autoptr(GError) error = NULL;
    ferry_migration_cookie *cookie = ferry_migration_cookie_new(MIGRATION_ID, HOST_UUID,
                                                                "host-a.example");

    cookie->dom_name = g_strdup("web1");
    cookie->dom_uuid = g_strdup("4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10");
    cookie->features = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(cookie->features, g_strdup("nbd"));
    g_ptr_array_add(cookie->features, g_strdup("persist-dest"));
    cookie->has_stats = TRUE;
    cookie->total_ms = G_MAXINT64;
    cookie->downtime_ms = 87;
    cookie->setup_ms = 0;
    cookie->data_total = 268435456;
    cookie->data_transferred = 301989888;
    cookie->disk_total = G_MAXUINT64;
    cookie->disk_transferred = 1;
    ferry_migration_cookie_add_disk(cookie, "vda", "raw", 1048576);
    cookie->nbd_port = 1;
    cookie->persistent = ferry_domain_def_parse_string(domain_xml, "web1.xml", 0, &error);
    g_assert_no_error(error);
    cookie->has_result = TRUE;
    cookie->result_ok = TRUE;
    cookie->result_message = g_strdup("resumed on 'host-b' & <ok>\n\tsecond line\r");
    return cookie;
}

static void
test_full_round_trip(void)
{
    g_autoptr(ferry_migration_cookie) cookie = build_full_cookie();
    g_autofree char *xml = assert_round_trip(cookie);
    static const char *const order[] = {
        "<id>", "<host ", "<domain name=", "<features>", "<statistics>", "<nbd ",
        "<persistent>", "<result ",
    };
    const char *at = xml;

    /* Sections in the order of the header comment. */
    for (guint i = 0; i < G_N_ELEMENTS(order); i++) {
        const char *found = strstr(at, order[i]);

        g_assert_nonnull(found);
        at = found;
    }
    g_assert_nonnull(strstr(xml, "    <domain type='qemu'>\n      <name>web1</name>\n"));
}

/* Re-indenting the definition must not touch text that spans lines. */
static void
test_persistent_multiline_text(void)
{
    g_autoptr(ferry_migration_cookie) cookie = ferry_migration_cookie_new(MIGRATION_ID,
                                                                          HOST_UUID, NULL);
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;

    cookie->persistent = ferry_domain_def_parse_string(domain_xml, "web1.xml", 0, &error);
    g_assert_no_error(error);
    cookie->persistent->description = g_strdup("first\n\n  <third> & 'fourth'\r\n  ");
    cookie->persistent->cmdline = g_strdup("\n  console=ttyS0\n");
    xml = assert_round_trip(cookie);
    g_assert_nonnull(strstr(xml, "      <name>web1</name>\n"));
    g_assert_nonnull(strstr(xml, "<description>first\n\n  &lt;third&gt; &amp; 'fourth'&#13;\n  "
                                 "</description>\n"));
}

/* The statistics each stand alone; an empty result message is no message. */
static void
test_sections_alone(void)
{
    g_autoptr(ferry_migration_cookie) cookie = ferry_migration_cookie_new(MIGRATION_ID,
                                                                          HOST_UUID, NULL);
    g_autofree char *stats_xml = NULL;
    g_autofree char *result_xml = NULL;
    g_autofree char *domain_xml_only = NULL;

    cookie->has_stats = TRUE;
    stats_xml = assert_round_trip(cookie);
    g_assert_nonnull(strstr(stats_xml, "    <total-ms>0</total-ms>\n"));

    cookie->has_stats = FALSE;
    cookie->has_result = TRUE;
    cookie->result_ok = FALSE;
    result_xml = assert_round_trip(cookie);
    g_assert_nonnull(strstr(result_xml, "  <result ok='no'/>\n"));

    cookie->has_result = FALSE;
    cookie->dom_name = g_strdup("web1");
    domain_xml_only = assert_round_trip(cookie);
    g_assert_nonnull(strstr(domain_xml_only, "  <domain name='web1'/>\n"));
}

/* ---- limits and errors --------------------------------------------------- */

static void
assert_cookie_error(const char *xml, const char *phase, const char *expected)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_migration_cookie) cookie = ferry_migration_cookie_parse(xml, phase, &error);

    g_assert_null(cookie);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE);
    g_assert_cmpstr(error->message, ==, expected);
}

static void
test_empty_and_null(void)
{
    assert_cookie_error(NULL, "Prepare", "Prepare: migration cookie is empty");
    assert_cookie_error("", "Confirm", "Confirm: migration cookie is empty");
    assert_cookie_error(NULL, NULL, "migration cookie is empty");
}

static void
test_without_phase(void)
{
    assert_cookie_error("<ferry-migration>\n  <id>x</id>\n</ferry-migration>", NULL,
                        "migration cookie line 2: <id>: 'x' is not a valid UUID "
                        "(expected the form 4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10)");
    assert_cookie_error("<ferry-migration>", NULL, "migration cookie line 1: malformed XML: "
                        "Premature end of data in tag ferry-migration line 1");
}

static void
test_size_limit(void)
{
    g_autoptr(ferry_migration_cookie) small = ferry_migration_cookie_new(MIGRATION_ID,
                                                                         HOST_UUID, NULL);
    g_autofree char *xml = ferry_migration_cookie_format(small);
    g_autoptr(GString) padded = g_string_new(xml);
    g_autoptr(ferry_migration_cookie) parsed = NULL;
    g_autoptr(GError) error = NULL;

    /* Exactly 1 MiB is accepted... */
    g_string_append(padded, "<!--");
    while (padded->len < 1024 * 1024 - 3)
        g_string_append_c(padded, 'x');
    g_string_append(padded, "-->");
    g_assert_cmpuint(padded->len, ==, 1024 * 1024);
    parsed = ferry_migration_cookie_parse(padded->str, "Prepare", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(parsed->id, ==, MIGRATION_ID);

    /* ...one byte more is not, and is not parsed. */
    g_string_append_c(padded, '\n');
    assert_cookie_error(padded->str, "Prepare",
                        "Prepare: migration cookie is 1048577 bytes long, "
                        "more than the limit of 1048576 bytes");
}

/* A cookie whose <persistent> holds domain_xml with @from replaced by @to;
 * the definition starts on line 5. */
static char *
persistent_cookie(const char *from, const char *to)
{
    g_autoptr(GString) xml = g_string_new("<ferry-migration>\n  <id>" MIGRATION_ID "</id>\n"
                                          "  <host uuid='" HOST_UUID "'/>\n  <persistent>\n");
    g_autoptr(GString) domain = g_string_new(domain_xml);

    g_assert_cmpuint(g_string_replace(domain, from, to, 1), ==, 1);
    g_string_append(xml, domain->str);
    g_string_append(xml, "  </persistent>\n</ferry-migration>\n");
    return g_string_free(g_steal_pointer(&xml), FALSE);
}

/* An error in the embedded definition names the definition's element and
 * its line in the cookie. */
static void
test_persistent_error_line(void)
{
    g_autofree char *xml = persistent_cookie("<vcpu>1</vcpu>", "<vcpu>1</vcpu><vcpu>2</vcpu>");

    assert_cookie_error(xml, "Prepare",
                        "Prepare: migration cookie line 9: <persistent>: element 'vcpu': "
                        "only one is allowed inside 'domain' (the first is at line 9)");
}

/* A persistent definition without a uuid stays without one. */
static void
test_persistent_no_uuid_invented(void)
{
    g_autofree char *xml =
        persistent_cookie("<uuid>4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10</uuid>", "");
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_migration_cookie) cookie = ferry_migration_cookie_parse(xml, "Finish",
                                                                            &error);

    g_assert_no_error(error);
    g_assert_nonnull(cookie->persistent);
    g_assert_null(cookie->persistent->uuid);
    g_assert_cmpstr(cookie->persistent->name, ==, "web1");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    golden_add_cases_with_code("cookie", parse_and_format, FERRY_ERROR_COOKIE);
    g_test_add_func("/conf/cookie/new/minimal", test_new_minimal);
    g_test_add_func("/conf/cookie/new/generates-id", test_new_generates_id);
    g_test_add_func("/conf/cookie/add-disk", test_add_disk);
    g_test_add_func("/conf/cookie/nbd-port-only", test_nbd_port_only);
    g_test_add_func("/conf/cookie/full-round-trip", test_full_round_trip);
    g_test_add_func("/conf/cookie/sections-alone", test_sections_alone);
    g_test_add_func("/conf/cookie/persistent-multiline-text", test_persistent_multiline_text);
    g_test_add_func("/conf/cookie/errors/empty-and-null", test_empty_and_null);
    g_test_add_func("/conf/cookie/errors/without-phase", test_without_phase);
    g_test_add_func("/conf/cookie/errors/size-limit", test_size_limit);
    g_test_add_func("/conf/cookie/errors/persistent-line", test_persistent_error_line);
    g_test_add_func("/conf/cookie/persistent-no-uuid-invented", test_persistent_no_uuid_invented);
    g_test_add_func("/conf/cookie/schema-refuses", test_schema_refuses);
    return g_test_run();
}
