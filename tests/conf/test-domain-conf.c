/*
 * test-domain-conf.c: the domain XML parser and formatter.
 *
 * Data-driven part: every tests/data/domain/<case>.xml is parsed (with
 * FERRY_DOMAIN_DEF_PARSE_NO_UUID, so the output is stable) and either
 *   - formatted and compared with <case>.out.xml, which must also parse back
 *     to the same text, or
 *   - expected to fail with exactly the message in <case>.err: one line for
 *     one problem; for several, "<case>.xml: N problems:" and then one
 *     indented line per problem, in document order.
 * FERRY_TEST_REGENERATE=1 in the environment rewrites .out.xml / .err from
 * the current code instead of comparing (see golden.h); review the diff
 * before committing.
 *
 * The rest checks what files cannot: uuid generation, embedded elements,
 * name rules, the fields a document fills, cpuset syntax, metadata kept
 * verbatim, copies and concurrent parsing.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "conf/xml-util.h"
#include "golden.h"

static const char minimal_xml[] =
    "<domain type='qemu'>\n"
    "  <name>web1</name>\n"
    "  <memory unit='MiB'>64</memory>\n"
    "  <vcpu>1</vcpu>\n"
    "  <os><type>hvm</type></os>\n"
    "</domain>\n";

/* ---- data-driven cases --------------------------------------------------- */

/* Parse without generating a uuid, so that the output is stable; a copy
 * must format the same as the original. */
static char *
parse_and_format(const char *input, const char *source, GError **error)
{
    g_autoptr(ferry_domain_def) def =
        ferry_domain_def_parse_string(input, source, FERRY_DOMAIN_DEF_PARSE_NO_UUID, error);
    g_autoptr(ferry_domain_def) copy = NULL;
    g_autofree char *copy_text = NULL;
    char *text;

    if (!def)
        return NULL;
    text = ferry_domain_def_format(def);
    copy = ferry_domain_def_copy(def);
    copy_text = ferry_domain_def_format(copy);
    g_assert_cmpstr(copy_text, ==, text);
    return text;
}

/* ---- uuid ---------------------------------------------------------------- */

static void
test_uuid_generated(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) a = ferry_domain_def_parse_string(minimal_xml, NULL, 0, &error);
    g_autoptr(ferry_domain_def) b = ferry_domain_def_parse_string(minimal_xml, NULL, 0, &error);
    g_autoptr(ferry_domain_def) none =
        ferry_domain_def_parse_string(minimal_xml, NULL, FERRY_DOMAIN_DEF_PARSE_NO_UUID, &error);
    g_autofree char *lower = NULL;

    g_assert_no_error(error);
    g_assert_true(g_uuid_string_is_valid(a->uuid));
    lower = g_ascii_strdown(a->uuid, -1);
    g_assert_cmpstr(a->uuid, ==, lower);
    g_assert_cmpstr(a->uuid, !=, b->uuid);
    g_assert_null(none->uuid);
}

static void
test_uuid_lowercased(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) xml = g_string_new(minimal_xml);
    g_autoptr(ferry_domain_def) def = NULL;

    g_string_replace(xml, "</name>", "</name><uuid>4F9A2C1E-0B7D-4C3A-9E51-8D2F6A7B3C10</uuid>", 1);
    def = ferry_domain_def_parse_string(xml->str, NULL, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(def->uuid, ==, "4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10");
}

/* ---- documents and sources ----------------------------------------------- */

static void
test_default_source_name(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def =
        ferry_domain_def_parse_string("<domain type='qemu'>", NULL, 0, &error);

    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_true(g_str_has_prefix(error->message, "domain XML:1: malformed XML: "));
}

static void
test_empty_document(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def = ferry_domain_def_parse_string("", "empty.xml", 0, &error);

    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_true(g_str_has_prefix(error->message, "empty.xml:1: malformed XML: "));
}

static void
test_doctype_refused(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) xml = g_string_new(minimal_xml);
    g_autoptr(ferry_domain_def) def = NULL;

    g_string_prepend(xml, "<!DOCTYPE domain [<!ENTITY big 'web1'>]>\n");
    g_string_replace(xml, "<name>web1</name>", "<name>&big;</name>", 1);
    def = ferry_domain_def_parse_string(xml->str, "dtd.xml", 0, &error);
    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_cmpstr(error->message, ==,
                    "dtd.xml: a document type declaration (<!DOCTYPE>) is not allowed");
}

static void
test_size_limit(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) xml = g_string_new(minimal_xml);
    g_autoptr(ferry_domain_def) def = NULL;
    g_autofree char *padding = g_strnfill(FERRY_XML_MAX_SIZE, ' ');

    g_string_append(xml, padding);
    def = ferry_domain_def_parse_string(xml->str, "big.xml", 0, &error);
    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_true(g_str_has_prefix(error->message, "big.xml: the document is "));
}

/* A <domain> inside another document keeps that document's line numbers,
 * through the walk and through schema validation of the element alone. */
static void
test_parse_node_embedded(void)
{
    static const char cookie[] =
        "<cookie>\n"
        "  <id>42</id>\n"
        "  <domain type='qemu'>\n"
        "    <name>web1</name>\n"
        "    <memory unit='MiB'>64</memory>\n"
        "    <vcpu>%s</vcpu>\n"
        "    <os><type%s>hvm</type></os>\n"
        "  </domain>\n"
        "</cookie>\n";
    struct {
        char *xml;
        const char *error_prefix;
    } cases[] = {
        { g_strdup_printf(cookie, "2", ""), NULL },
        { g_strdup_printf(cookie, "2</vcpu><vcpu>3", ""),
          "cookie:6: element 'vcpu': only one is allowed inside 'domain' (the first is at line 6)" },
        { g_strdup_printf(cookie, "2", " arch='x 86'"),
          "cookie:7: element 'type': does not match the schema domain.rng: " },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(xmlDoc) doc = ferry_xml_read(cases[i].xml, "cookie", &error);
        g_autoptr(ferry_domain_def) def = NULL;
        xmlNodePtr root;

        g_assert_no_error(error);
        root = xmlDocGetRootElement(doc)->children;
        while (root && !xmlStrEqual(root->name, BAD_CAST "domain"))
            root = root->next;
        g_assert_nonnull(root);
        def = ferry_domain_def_parse_node(doc, root, "cookie", 0, &error);
        if (!cases[i].error_prefix) {
            g_assert_no_error(error);
            g_assert_cmpstr(def->name, ==, "web1");
            g_assert_cmpuint(def->vcpus, ==, 2);
        } else {
            g_assert_null(def);
            g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
            g_assert_true(g_str_has_prefix(error->message, cases[i].error_prefix));
        }
        g_free(cases[i].xml);
    }
}

static void
test_flags_checked(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def =
        ferry_domain_def_parse_string(minimal_xml, "web1.xml", 1u << 7, &error);

    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
}

/* ---- schema ---------------------------------------------------------------- */

static void
test_schema_embedded_matches_docs(void)
{
    static const struct {
        ferry_xml_schema schema;
        const char *file;
    } schemas[] = {
        { FERRY_XML_SCHEMA_DOMAIN, "domain.rng" },
        { FERRY_XML_SCHEMA_CAPABILITIES, "capabilities.rng" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(schemas); i++) {
        g_autofree char *path = g_build_filename(FERRY_SCHEMA_DIR, schemas[i].file, NULL);
        g_autofree char *text = golden_read(path);

        g_assert_cmpstr(ferry_xml_schema_text(schemas[i].schema), ==, text);
    }
}

/* A document the walk accepts but the schema refuses reports the schema. */
static void
test_schema_refusal_reported(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) xml = g_string_new(minimal_xml);
    g_autoptr(ferry_domain_def) def = NULL;

    g_string_replace(xml, "<type>", "<type arch='x86 64'>", 1);
    def = ferry_domain_def_parse_string(xml->str, "arch.xml", 0, &error);
    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_true(g_str_has_prefix(error->message, "arch.xml:5: element '"));
    g_assert_nonnull(strstr(error->message, "does not match the schema domain.rng"));
}

/* ---- names, formats, helpers --------------------------------------------- */

static void
test_name_rules(void)
{
    static const char *const good[] = { "a", "web1", "Web_1.2+x-y", "0", "_x" };
    static const struct {
        const char *name;
        const char *message;
    } bad[] = {
        { "", "domain name is empty" },
        { ".hidden", "domain name '.hidden' must not start with '.'" },
        { "-x", "domain name '-x' must not start with '-'" },
        { "a/b", "domain name 'a/b' contains '/'; only letters, digits, "
                 "'_', '.', '+' and '-' are allowed" },
        { "a b", "domain name 'a b' contains ' '; only letters, digits, "
                 "'_', '.', '+' and '-' are allowed" },
        { "a\nb", "domain name contains the byte 0x0a; only letters, digits, "
                  "'_', '.', '+' and '-' are allowed" },
        { "caf\xc3\xa9", "domain name contains the byte 0xc3; only letters, digits, "
                         "'_', '.', '+' and '-' are allowed" },
    };
    g_autofree char *longest = g_strnfill(64, 'x');
    g_autofree char *too_long = g_strnfill(65, 'x');
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        g_assert_true(ferry_domain_name_is_valid(good[i], &error));
        g_assert_no_error(error);
    }
    g_assert_true(ferry_domain_name_is_valid(longest, &error));
    g_assert_no_error(error);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(ferry_domain_name_is_valid(bad[i].name, &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        g_assert_cmpstr(error->message, ==, bad[i].message);
        g_clear_error(&error);
    }
    g_assert_false(ferry_domain_name_is_valid(too_long, &error));
    g_assert_cmpstr(error->message, ==,
                    "domain name 'xxxxxxxxxxxxxxxxxxxx...' is 65 characters long, more than 64");
    g_clear_error(&error);
    g_assert_false(ferry_domain_name_is_valid(NULL, NULL));
}

static void
test_disk_format_strings(void)
{
    g_assert_cmpstr(ferry_disk_format_to_string(FERRY_DISK_FORMAT_RAW), ==, "raw");
    g_assert_cmpstr(ferry_disk_format_to_string(FERRY_DISK_FORMAT_QCOW2), ==, "qcow2");
    g_assert_null(ferry_disk_format_to_string((ferry_disk_format)7));
    g_assert_cmpint(ferry_disk_format_from_string("raw"), ==, FERRY_DISK_FORMAT_RAW);
    g_assert_cmpint(ferry_disk_format_from_string("qcow2"), ==, FERRY_DISK_FORMAT_QCOW2);
    g_assert_cmpint(ferry_disk_format_from_string("vmdk"), ==, -1);
    g_assert_cmpint(ferry_disk_format_from_string("RAW"), ==, -1);
    g_assert_cmpint(ferry_disk_format_from_string(NULL), ==, -1);
}

static ferry_domain_def *
parse_data_file(const char *name)
{
    g_autofree char *dir = golden_data_dir("domain");
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *xml = golden_read(path);
    g_autoptr(GError) error = NULL;
    ferry_domain_def *def = ferry_domain_def_parse_string(xml, name, 0, &error);

    g_assert_no_error(error);
    return def;
}

static void
test_full_fields(void)
{
    g_autoptr(ferry_domain_def) def = parse_data_file("full.xml");
    ferry_disk_def *vda;
    ferry_disk_def *vdb;

    g_assert_cmpstr(def->type, ==, "qemu");
    g_assert_cmpstr(def->name, ==, "web1");
    g_assert_cmpuint(def->memory_kib, ==, 256 * 1024);
    g_assert_cmpuint(def->vcpus, ==, 2);
    g_assert_cmpstr(def->arch, ==, "x86_64");
    g_assert_cmpstr(def->machine, ==, "pc");
    g_assert_cmpstr(def->kernel, ==, "/var/lib/ferry/images/guest.elf");
    g_assert_cmpstr(def->initrd, ==, "/var/lib/ferry/images/initrd.img");
    g_assert_cmpstr(def->cmdline, ==, "dirty=32M rate=1000 console=ttyS0");
    g_assert_cmpstr(def->serial_log, ==, "/var/log/ferry/web1.serial.log");
    g_assert_cmpuint(def->disks->len, ==, 2);

    vda = ferry_domain_def_find_disk(def, "vda");
    vdb = ferry_domain_def_find_disk(def, "vdb");
    g_assert_true(vda == g_ptr_array_index(def->disks, 0));
    g_assert_true(vdb == g_ptr_array_index(def->disks, 1));
    g_assert_cmpint(vda->format, ==, FERRY_DISK_FORMAT_RAW);
    g_assert_cmpint(vdb->format, ==, FERRY_DISK_FORMAT_QCOW2);
    g_assert_cmpint(vda->bus, ==, FERRY_DISK_BUS_VIRTIO);
    g_assert_false(vda->readonly);
    g_assert_cmpstr(vdb->source, ==, "/var/lib/ferry/images/data.qcow2");
    g_assert_null(ferry_domain_def_find_disk(def, "vdc"));
}

/* Every domain-level element of the file lands in its field. */
static void
test_full_guest_fields(void)
{
    g_autoptr(ferry_domain_def) def = parse_data_file("full-guest.xml");
    const ferry_named_value *v;
    const ferry_timer_def *t;
    const ferry_seclabel_def *sec;

    g_assert_cmpstr(def->type, ==, "kvm");
    g_assert_cmpstr(def->title, ==, "Windows 11 build agent");
    g_assert_nonnull(strstr(def->metadata, "xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\""));
    g_assert_cmpuint(def->memory_kib, ==, 4194304);
    g_assert_cmpuint(def->current_memory_kib, ==, 2097152);
    g_assert_cmpuint(def->vcpus, ==, 4);
    g_assert_cmpuint(def->vcpus_current, ==, 2);
    g_assert_cmpstr(def->vcpu_placement, ==, "static");
    g_assert_cmpstr(def->vcpu_cpuset, ==, "0-3,^2");

    g_assert_cmpstr(def->machine, ==, "pc-q35-7.2");
    g_assert_cmpstr(def->loader, ==, "/usr/share/OVMF/OVMF_CODE_4M.fd");
    g_assert_true(def->loader_readonly);
    g_assert_false(def->loader_secure);
    g_assert_cmpstr(def->loader_type, ==, "pflash");
    g_assert_cmpstr(def->nvram, ==, "/var/lib/ferry/nvram/win11_VARS.fd");
    g_assert_cmpstr(def->nvram_template, ==, "/usr/share/OVMF/OVMF_VARS_4M.fd");
    g_assert_cmpuint(g_strv_length(def->boot_devs), ==, 2);
    g_assert_cmpstr(def->boot_devs[0], ==, "hd");
    g_assert_cmpstr(def->boot_devs[1], ==, "cdrom");
    g_assert_cmpint(def->bootmenu, ==, 1);
    g_assert_cmpuint(def->bootmenu_timeout, ==, 3000);

    g_assert_true(def->has_features);
    g_assert_true(def->feature_acpi && def->feature_apic && def->feature_pae);
    g_assert_cmpstr(def->hyperv_mode, ==, "custom");
    g_assert_cmpuint(def->hyperv->len, ==, 14);
    v = g_ptr_array_index(def->hyperv, 2);
    g_assert_cmpstr(v->name, ==, "spinlocks");
    g_assert_cmpstr(v->value, ==, "on");
    g_assert_cmpstr(v->extra, ==, "8191");
    v = g_ptr_array_index(def->hyperv, 8);
    g_assert_cmpstr(v->name, ==, "vendor_id");
    g_assert_cmpstr(v->extra, ==, "KVM Hv");

    g_assert_cmpstr(def->cpu_mode, ==, "custom");
    g_assert_cmpstr(def->cpu_match, ==, "exact");
    g_assert_cmpstr(def->cpu_check, ==, "partial");
    g_assert_null(def->cpu_migratable);
    g_assert_cmpstr(def->cpu_model, ==, "Skylake-Client");
    g_assert_cmpstr(def->cpu_model_fallback, ==, "allow");
    g_assert_cmpstr(def->cpu_vendor, ==, "Intel");
    g_assert_cmpuint(def->cpu_sockets, ==, 1);
    g_assert_cmpuint(def->cpu_dies, ==, 1);
    g_assert_cmpuint(def->cpu_cores, ==, 2);
    g_assert_cmpuint(def->cpu_threads, ==, 2);
    g_assert_cmpuint(def->cpu_features->len, ==, 3);
    v = g_ptr_array_index(def->cpu_features, 1);
    g_assert_cmpstr(v->name, ==, "hle");
    g_assert_cmpstr(v->value, ==, "disable");

    g_assert_cmpstr(def->clock_offset, ==, "localtime");
    g_assert_cmpuint(def->timers->len, ==, 4);
    t = g_ptr_array_index(def->timers, 2);
    g_assert_cmpstr(t->name, ==, "hpet");
    g_assert_null(t->tickpolicy);
    g_assert_cmpstr(t->present, ==, "no");

    g_assert_cmpstr(def->on_poweroff, ==, "destroy");
    g_assert_cmpstr(def->on_reboot, ==, "restart");
    g_assert_cmpstr(def->on_crash, ==, "coredump-restart");
    g_assert_cmpuint(def->seclabels->len, ==, 2);
    sec = g_ptr_array_index(def->seclabels, 1);
    g_assert_cmpstr(sec->type, ==, "dynamic");
    g_assert_cmpstr(sec->model, ==, "dac");
    g_assert_cmpstr(sec->relabel, ==, "yes");
    g_assert_cmpstr(sec->label, ==, "+64055:+64055");
    g_assert_cmpstr(sec->imagelabel, ==, "+64055:+64055");
    g_assert_null(sec->baselabel);
}

/* A copy shares nothing with its original: freeing the original leaves
 * the copy whole (ASan checks the rest). */
static void
test_copy_independent(void)
{
    ferry_domain_def *def = parse_data_file("full-guest.xml");
    g_autofree char *before = ferry_domain_def_format(def);
    g_autoptr(ferry_domain_def) copy = ferry_domain_def_copy(def);
    g_autofree char *after = NULL;

    g_assert_true(copy->cpu_features != def->cpu_features);
    g_assert_true(copy->hyperv != def->hyperv);
    g_assert_true(copy->boot_devs != def->boot_devs);
    ferry_domain_def_free(def);
    after = ferry_domain_def_format(copy);
    g_assert_cmpstr(after, ==, before);
}

/* Absent <currentMemory> is the memory size, written back explicitly; a
 * definition built in memory with 0 is written the same way. */
static void
test_current_memory_default(void)
{
    g_autoptr(ferry_domain_def) def = parse_data_file("minimal.xml");
    g_autofree char *xml = NULL;

    g_assert_cmpuint(def->current_memory_kib, ==, def->memory_kib);
    def->current_memory_kib = 0;
    xml = ferry_domain_def_format(def);
    g_assert_nonnull(strstr(xml, "<currentMemory unit='KiB'>65536</currentMemory>"));
}

static void
test_cpuset_syntax(void)
{
    static const char *const good[] = {
        "0", "4095", "0-3", "1-1", "0-3,^2", "^2,0-3", "0,2,4-7,^5", "7,0",
    };
    static const struct {
        const char *cpuset;
        const char *why;
    } bad[] = {
        { "", "it is empty" },
        { "1,,2", "an entry is empty" },
        { "1,2,", "an entry is empty" },
        { "0-3,5-", "'5-' lacks a CPU number" },
        { "-3", "'-3' lacks a CPU number" },
        { "^", "'^' lacks a CPU number" },
        { "^1-2", "'^1-2' excludes a range; an exclusion takes one CPU" },
        { "a", "'a' is not a CPU number" },
        { " 1", "' 1' is not a CPU number" },
        { "1-2-3", "'2-3' is not a CPU number" },
        { "4096", "CPU 4096 is more than the largest, 4095" },
        { "0-4096", "CPU 4096 is more than the largest, 4095" },
        { "3-1", "the range '3-1' ends before it starts" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) xml = g_string_new(minimal_xml);
        g_autoptr(ferry_domain_def) def = NULL;
        g_autofree char *attr = g_strdup_printf("<vcpu cpuset='%s'>", good[i]);

        g_string_replace(xml, "<vcpu>", attr, 1);
        def = ferry_domain_def_parse_string(xml->str, "cpuset.xml", 0, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(def->vcpu_cpuset, ==, good[i]);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) xml = g_string_new(minimal_xml);
        g_autoptr(ferry_domain_def) def = NULL;
        g_autofree char *attr = g_strdup_printf("<vcpu cpuset='%s'>", bad[i].cpuset);
        g_autofree char *expected = g_strdup_printf(
            "cpuset.xml:4: element 'vcpu': cpuset '%s' is not valid: %s (the syntax is a "
            "comma-separated list of N, N-M and ^N, e.g. '0-3,^2')", bad[i].cpuset, bad[i].why);

        g_string_replace(xml, "<vcpu>", attr, 1);
        def = ferry_domain_def_parse_string(xml->str, "cpuset.xml", 0, &error);
        g_assert_null(def);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
        g_assert_cmpstr(error->message, ==, expected);
    }
}

static void
test_cpuset_selects_none(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) xml = g_string_new(minimal_xml);
    g_autoptr(ferry_domain_def) def = NULL;

    g_string_replace(xml, "<vcpu>", "<vcpu cpuset='0-1,^0,^1'>", 1);
    def = ferry_domain_def_parse_string(xml->str, "cpuset.xml", 0, &error);
    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_cmpstr(error->message, ==,
                    "cpuset.xml:4: element 'vcpu': cpuset '0-1,^0,^1' selects no host CPU");
}

/* <metadata> keeps any element of any namespace; its text is data, only
 * the indentation between elements is redone.  Formatting is a fixed
 * point however the input was indented. */
static void
test_metadata_verbatim(void)
{
    static const char xml[] =
        "<domain type='qemu' xmlns:a='urn:example:a'>\n"
        "  <name>web1</name>\n"
        "  <metadata><a:x k='v'><a:y>one\n   two</a:y><a:z/></a:x>"
        "<b:w xmlns:b='urn:example:b' b:n='1'>  padded  </b:w></metadata>\n"
        "  <memory unit='MiB'>64</memory>\n"
        "  <vcpu>1</vcpu>\n"
        "  <os><type>hvm</type></os>\n"
        "</domain>\n";
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def = ferry_domain_def_parse_string(xml, "meta.xml", 0, &error);
    g_autoptr(ferry_domain_def) again = NULL;
    g_autofree char *formatted = NULL;
    g_autofree char *formatted_again = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(def->metadata, ==,
                    "<a:x xmlns:a=\"urn:example:a\" k=\"v\">\n"
                    "  <a:y>one\n   two</a:y>\n"
                    "  <a:z/>\n"
                    "</a:x>\n"
                    "<b:w xmlns:b=\"urn:example:b\" b:n=\"1\">  padded  </b:w>");
    formatted = ferry_domain_def_format(def);
    g_assert_nonnull(strstr(formatted,
                            "  <metadata>\n"
                            "    <a:x xmlns:a=\"urn:example:a\" k=\"v\">\n"
                            "      <a:y>one\n   two</a:y>\n"
                            "      <a:z/>\n"
                            "    </a:x>\n"
                            "    <b:w xmlns:b=\"urn:example:b\" b:n=\"1\">  padded  </b:w>\n"
                            "  </metadata>\n"));
    again = ferry_domain_def_parse_string(formatted, "formatted.xml", 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(again->metadata, ==, def->metadata);
    formatted_again = ferry_domain_def_format(again);
    g_assert_cmpstr(formatted_again, ==, formatted);
}

/* Problems of several elements come in one error, in document order, even
 * when the walk meets them in another. */
static void
test_problems_together(void)
{
    static const char xml[] =
        "<domain type='qemu'>\n"
        "  <name>web1</name>\n"
        "  <clock offset='variable'/>\n"
        "  <memory unit='MiB'>64</memory>\n"
        "  <vcpu current='0'>1</vcpu>\n"
        "  <os><type>hvm</type><boot dev='usb'/></os>\n"
        "  <bogus/>\n"
        "</domain>\n";
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def = ferry_domain_def_parse_string(xml, "p.xml", 0, &error);

    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_assert_cmpstr(error->message, ==,
                    "p.xml: 4 problems:\n"
                    "  p.xml:3: element 'clock': unknown offset 'variable' (expected 'utc' or "
                    "'localtime')\n"
                    "  p.xml:5: element 'vcpu': current '0' is out of range (1 to 64)\n"
                    "  p.xml:6: element 'boot': unknown dev 'usb' (expected 'hd', 'cdrom', "
                    "'network' or 'fd')\n"
                    "  p.xml:7: element 'bogus': unknown element inside 'domain'");
}

/* What is accepted on input may grow past what a daemon keeps once
 * formatted: each '>' of a description becomes "&gt;".  Just under the
 * limit is kept (and reads back equal); just over is refused, naming the
 * domain, the size and the limit. */
static void
test_formatted_size_limit(void)
{
    g_autoptr(ferry_domain_def) def = parse_data_file("minimal.xml");
    g_autofree char *plain = ferry_domain_def_format(def);
    /* Each '>' costs 4 bytes formatted: fill the room left to the limit. */
    gsize room = (FERRY_DOMAIN_XML_MAX_FORMATTED - strlen(plain) -
                  strlen("  <description></description>\n")) / 4;
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) again = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *expected = NULL;

    def->description = g_strnfill(room, '>');
    xml = ferry_domain_def_format_checked(def, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(strlen(xml), <=, FERRY_DOMAIN_XML_MAX_FORMATTED);
    g_assert_cmpuint(strlen(xml), >, FERRY_DOMAIN_XML_MAX_FORMATTED - 4);
    again = ferry_domain_def_parse_string(xml, "near-limit", 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(again->description, ==, def->description);

    g_free(def->description);
    def->description = g_strnfill(room + 1, '>');
    g_clear_pointer(&xml, g_free);
    xml = ferry_domain_def_format_checked(def, &error);
    g_assert_null(xml);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    expected = g_strdup_printf("domain '%s': its definition is %" G_GSIZE_FORMAT " bytes once "
                               "formatted, more than the limit of %d bytes", def->name,
                               strlen(plain) + strlen("  <description></description>\n") +
                               4 * (room + 1), FERRY_DOMAIN_XML_MAX_FORMATTED);
    g_assert_true(g_str_has_prefix(error->message, expected));
}

static void
test_format_escapes(void)
{
    g_autoptr(ferry_domain_def) def = parse_data_file("minimal.xml");
    g_autoptr(ferry_domain_def) copy = NULL;
    g_autoptr(ferry_domain_def) again = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *xml_again = NULL;
    ferry_disk_def *disk = g_new0(ferry_disk_def, 1);

    def->description = g_strdup("a & b < c > d 'q' \"dq\"\n\tline two\r\n");
    def->cmdline = g_strdup("x=\"1 2\" y='3'");
    disk->target = g_strdup("hdb");
    disk->bus = FERRY_DISK_BUS_IDE;
    disk->source = g_strdup("/images/it's \"quoted\" & <odd>\tname");
    disk->readonly = TRUE;
    g_ptr_array_add(def->disks, disk);
    /* As the parser would: the disk gets its address before it is written. */
    g_assert_true(ferry_domain_def_assign_addresses(def, &error));
    g_assert_no_error(error);

    xml = ferry_domain_def_format(def);
    again = ferry_domain_def_parse_string(xml, "escaped", 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(again->description, ==, def->description);
    g_assert_cmpstr(again->cmdline, ==, def->cmdline);
    g_assert_cmpstr(ferry_domain_def_find_disk(again, "hdb")->source, ==, disk->source);
    xml_again = ferry_domain_def_format(again);
    g_assert_cmpstr(xml_again, ==, xml);

    copy = ferry_domain_def_copy(def);
    g_assert_true(copy->disks != def->disks);
    g_assert_true(ferry_domain_def_find_disk(copy, "hdb") != disk);
    g_assert_cmpstr(ferry_domain_def_find_disk(copy, "hdb")->source, ==, disk->source);

    ferry_domain_def_free(NULL);
}

/* ---- threads --------------------------------------------------------------- */

#define PARSE_THREADS 4
#define PARSES_PER_THREAD 100

static gpointer
parse_many(gpointer data)
{
    const char *xml = data;

    for (guint i = 0; i < PARSES_PER_THREAD; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(ferry_domain_def) def = ferry_domain_def_parse_string(xml, "t.xml", 0, &error);

        /* Half the threads parse a bad document: errors must not leak across. */
        if (strstr(xml, "12x")) {
            if (def || !error ||
                strcmp(error->message, "t.xml:3: element 'memory': '12x' is not a valid size") != 0)
                return GINT_TO_POINTER(FALSE);
        } else if (!def || error || def->memory_kib != 65536) {
            return GINT_TO_POINTER(FALSE);
        }
    }
    return GINT_TO_POINTER(TRUE);
}

static void
test_concurrent_parsing(void)
{
    g_autoptr(GString) bad = g_string_new(minimal_xml);
    GThread *threads[PARSE_THREADS];

    g_string_replace(bad, ">64<", ">12x<", 1);
    for (guint i = 0; i < PARSE_THREADS; i++)
        threads[i] = g_thread_new("parse", parse_many, i % 2 ? bad->str : (char *)minimal_xml);
    for (guint i = 0; i < PARSE_THREADS; i++)
        g_assert_true(GPOINTER_TO_INT(g_thread_join(threads[i])));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    golden_add_cases("domain", parse_and_format);
    g_test_add_func("/conf/domain/uuid/generated", test_uuid_generated);
    g_test_add_func("/conf/domain/uuid/lowercased", test_uuid_lowercased);
    g_test_add_func("/conf/domain/read/default-source-name", test_default_source_name);
    g_test_add_func("/conf/domain/read/empty", test_empty_document);
    g_test_add_func("/conf/domain/read/doctype-refused", test_doctype_refused);
    g_test_add_func("/conf/domain/read/size-limit", test_size_limit);
    g_test_add_func("/conf/domain/format/size-limit", test_formatted_size_limit);
    g_test_add_func("/conf/domain/read/parse-node-embedded", test_parse_node_embedded);
    g_test_add_func("/conf/domain/read/flags-checked", test_flags_checked);
    g_test_add_func("/conf/domain/schema/embedded-matches-docs", test_schema_embedded_matches_docs);
    g_test_add_func("/conf/domain/schema/refusal-reported", test_schema_refusal_reported);
    g_test_add_func("/conf/domain/name-rules", test_name_rules);
    g_test_add_func("/conf/domain/disk-format-strings", test_disk_format_strings);
    g_test_add_func("/conf/domain/full-fields", test_full_fields);
    g_test_add_func("/conf/domain/full-guest-fields", test_full_guest_fields);
    g_test_add_func("/conf/domain/copy-independent", test_copy_independent);
    g_test_add_func("/conf/domain/current-memory-default", test_current_memory_default);
    g_test_add_func("/conf/domain/cpuset-syntax", test_cpuset_syntax);
    g_test_add_func("/conf/domain/cpuset-selects-none", test_cpuset_selects_none);
    g_test_add_func("/conf/domain/metadata-verbatim", test_metadata_verbatim);
    g_test_add_func("/conf/domain/problems-together", test_problems_together);
    g_test_add_func("/conf/domain/format-escapes", test_format_escapes);
    g_test_add_func("/conf/domain/concurrent-parsing", test_concurrent_parsing);
    return g_test_run();
}
