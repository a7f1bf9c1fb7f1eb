/*
 * test-domain-corpus.c: whole domain documents, as `virsh dumpxml` writes
 * them, through define -> dumpxml -> define.
 *
 * Owns the corpus under tests/data/domain-corpus/ (README there):
 *   <case>.xml                 accepted: parsed and formatted, the text must
 *                              equal <case>.out.xml; formatting what that
 *                              parses to must give the same text (the fixed
 *                              point); the two definitions keep one guest
 *                              ABI; every element of the input, with its
 *                              attributes and text, must be kept by one of
 *                              the output (which may add attributes) but
 *                              those listed in <case>.lost, which must be
 *                              exactly what is lost.  The same through
 *                              the API and the test driver: define, dumpxml
 *                              (inactive, secure), redefine, dumpxml again.
 *   refused/<case>.xml         a realistic document with one thing ferry
 *                              refuses by design: the error must be
 *                              <case>.err exactly, name each element at the
 *                              line the test finds it on, and the API's
 *                              define must refuse it alike and define
 *                              nothing.
 *   known-refused/<case>.xml   what libvirt or virt-manager really write and
 *                              ferry refuses although it should not, or
 *                              although every such VM has it: still refused
 *                              with <case>.err (so that a fix shows up
 *                              here).  Where <case>.xml is also accepted it
 *                              must be this document less exactly the lines
 *                              the error names.
 * and checks that the accepted documents together cover every element
 * docs/domain-xml.md lists as understood.
 *
 * FERRY_TEST_REGENERATE=1 rewrites .out.xml, .lost and .err from the code
 * (see golden.h); read every rewritten file before committing it.
 * Must not: edit the corpus otherwise, or leave domains defined in the test
 * driver after a case.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <glib/gstdio.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "conf/xml-util.h"
#include "golden.h"

#define SUITE "domain-corpus"

typedef struct {
    char *dir;                /* the directory of the case */
    char *name;               /* the case, without ".xml" */
} corpus_case;

static void
corpus_case_free(gpointer data)
{
    corpus_case *c = data;

    g_free(c->dir);
    g_free(c->name);
    g_free(c);
}

static gboolean
regenerating(void)
{
    return g_strcmp0(g_getenv("FERRY_TEST_REGENERATE"), "1") == 0;
}

static char *
case_path(const corpus_case *c, const char *suffix)
{
    g_autofree char *file = g_strconcat(c->name, suffix, NULL);

    return g_build_filename(c->dir, file, NULL);
}

/* Whether a document names its uuid: virsh always writes one, but a
 * document without must not get a random one, or its MACs would change
 * from run to run. */
static guint
parse_flags(const char *xml)
{
    return strstr(xml, "<uuid>") ? 0 : FERRY_DOMAIN_DEF_PARSE_NO_UUID;
}

/* ---- what the output keeps of the input ---------------------------------- */

/* For g_ptr_array_sort(), which passes pointers to the elements. */
static int
compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One element of a document: its path from the root ("domain/devices/
 * disk/driver", namespace prefixes kept for metadata), its attributes as
 * "name='value'" in name order, and its text when it has no child
 * element. */
typedef struct {
    char *path;
    GPtrArray *attrs;
    char *text;
    gboolean matched;
} doc_element;

static void
doc_element_free(gpointer data)
{
    doc_element *e = data;

    g_free(e->path);
    g_ptr_array_unref(e->attrs);
    g_free(e->text);
    g_free(e);
}

static char *
doc_element_to_string(const doc_element *e)
{
    GString *s = g_string_new(e->path);

    for (guint i = 0; i < e->attrs->len; i++)
        g_string_append_printf(s, "[%s]", (const char *)g_ptr_array_index(e->attrs, i));
    if (*e->text)
        g_string_append_printf(s, " \"%s\"", e->text);
    return g_string_free(s, FALSE);
}

/* Appends every element under @node, in document order, to @out; adds
 * "path" and "path@attr=value" of each to @paths when given. */
static void
collect_elements(xmlNodePtr node, const char *parent, GPtrArray *out, GHashTable *paths)
{
    for (xmlNodePtr n = node; n; n = n->next) {
        doc_element *e;
        gboolean has_child = FALSE;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        e = g_new0(doc_element, 1);
        e->path = g_strdup_printf("%s%s%s%s%s", parent, *parent ? "/" : "",
                                  n->ns && n->ns->prefix ? (const char *)n->ns->prefix : "",
                                  n->ns && n->ns->prefix ? ":" : "", (const char *)n->name);
        e->attrs = g_ptr_array_new_with_free_func(g_free);
        for (xmlAttrPtr a = n->properties; a; a = a->next) {
            xmlChar *value = xmlNodeListGetString(n->doc, a->children, 1);
            const char *v = value ? (const char *)value : "";

            g_ptr_array_add(e->attrs, g_strdup_printf("%s='%s'", (const char *)a->name, v));
            if (paths)
                g_hash_table_add(paths, g_strdup_printf("%s@%s=%s", e->path,
                                                        (const char *)a->name, v));
            xmlFree(value);
        }
        g_ptr_array_sort(e->attrs, compare_strings);
        for (xmlNodePtr child = n->children; child; child = child->next)
            has_child |= child->type == XML_ELEMENT_NODE;
        if (has_child) {
            e->text = g_strdup("");
        } else {
            xmlChar *text = xmlNodeGetContent(n);

            e->text = g_strstrip(g_strdup(text ? (const char *)text : ""));
            xmlFree(text);
        }
        if (paths)
            g_hash_table_add(paths, g_strdup(e->path));
        g_ptr_array_add(out, e);
        collect_elements(n->children, e->path, out, paths);
    }
}

static GPtrArray *
elements_of(const char *xml, const char *source, GHashTable *paths)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = ferry_xml_read(xml, source, &error);
    GPtrArray *elements = g_ptr_array_new_with_free_func(doc_element_free);

    g_assert_no_error(error);
    collect_elements(xmlDocGetRootElement(doc), "", elements, paths);
    return elements;
}

/* Whether @have keeps @want: same path and text, and every attribute of
 * @want (the output may add some, e.g. a default it writes). */
static gboolean
element_keeps(const doc_element *have, const doc_element *want, gboolean exact)
{
    if (strcmp(have->path, want->path) != 0 || strcmp(have->text, want->text) != 0)
        return FALSE;
    if (exact && have->attrs->len != want->attrs->len)
        return FALSE;
    for (guint i = 0; i < want->attrs->len; i++) {
        if (!g_ptr_array_find_with_equal_func(have->attrs, g_ptr_array_index(want->attrs, i),
                                              g_str_equal, NULL))
            return FALSE;
    }
    return TRUE;
}

/* The elements of @input that no element of @output keeps, one a line,
 * sorted.  Each output element keeps one input element: exact matches
 * first, then outputs that add attributes. */
static char *
lost_elements(const char *input, const char *output)
{
    g_autoptr(GPtrArray) in = elements_of(input, "input", NULL);
    g_autoptr(GPtrArray) out = elements_of(output, "output", NULL);
    g_autoptr(GPtrArray) lost = g_ptr_array_new_with_free_func(g_free);
    GString *text = g_string_new(NULL);

    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < in->len; i++) {
            doc_element *want = g_ptr_array_index(in, i);

            for (guint j = 0; j < out->len && !want->matched; j++) {
                doc_element *have = g_ptr_array_index(out, j);

                if (!have->matched && element_keeps(have, want, pass == 0))
                    want->matched = have->matched = TRUE;
            }
        }
    }
    for (guint i = 0; i < in->len; i++) {
        doc_element *want = g_ptr_array_index(in, i);

        if (!want->matched)
            g_ptr_array_add(lost, doc_element_to_string(want));
    }
    g_ptr_array_sort(lost, compare_strings);
    for (guint i = 0; i < lost->len; i++)
        g_string_append_printf(text, "%s\n", (const char *)g_ptr_array_index(lost, i));
    return g_string_free(text, FALSE);
}

/* <case>.lost: absent means nothing is lost. */
static void
check_lost(const corpus_case *c, const char *lost)
{
    g_autofree char *path = case_path(c, ".lost");
    g_autofree char *expected = NULL;

    if (regenerating()) {
        if (*lost)
            golden_check(path, lost);
        else
            g_unlink(path);
        return;
    }
    expected = g_file_test(path, G_FILE_TEST_EXISTS) ? golden_read(path) : g_strdup("");
    g_assert_cmpstr(lost, ==, expected);
}

/* ---- accepted documents -------------------------------------------------- */

static void
test_round_trip(gconstpointer data)
{
    const corpus_case *c = data;
    g_autofree char *in_path = case_path(c, ".xml");
    g_autofree char *out_path = case_path(c, ".out.xml");
    g_autofree char *source = g_strconcat(c->name, ".xml", NULL);
    g_autofree char *input = golden_read(in_path);
    guint flags = parse_flags(input);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def = ferry_domain_def_parse_string(input, source, flags, &error);
    g_autoptr(ferry_domain_def) again = NULL;
    g_autoptr(ferry_domain_def) copy = NULL;
    g_autofree char *output = NULL;
    g_autofree char *output2 = NULL;
    g_autofree char *copy_text = NULL;
    g_autofree char *lost = NULL;

    g_assert_no_error(error);
    output = ferry_domain_def_format(def);
    golden_check(out_path, output);

    /* define -> dumpxml -> define -> dumpxml gives the same text */
    again = ferry_domain_def_parse_string(output, "output", flags, &error);
    g_assert_no_error(error);
    output2 = ferry_domain_def_format(again);
    g_assert_cmpstr(output2, ==, output);
    g_assert_true(ferry_domain_def_check_abi_stability(def, again, &error));
    g_assert_no_error(error);
    g_assert_true(ferry_domain_def_check_abi_stability(again, def, &error));
    g_assert_no_error(error);

    copy = ferry_domain_def_copy(def);
    copy_text = ferry_domain_def_format(copy);
    g_assert_cmpstr(copy_text, ==, output);

    lost = lost_elements(input, output);
    check_lost(c, lost);
}

/* The secrets a dumpxml without FERRY_XML_SECURE must leave out. */
static void
assert_no_secrets(const char *xml)
{
    g_assert_null(strstr(xml, "passwd="));
}

static void
test_api_redefine(gconstpointer data)
{
    const corpus_case *c = data;
    g_autofree char *in_path = case_path(c, ".xml");
    g_autofree char *out_path = case_path(c, ".out.xml");
    g_autofree char *input = golden_read(in_path);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) conn = ferry_conn_open("test:///default", &error);
    g_autoptr(ferry_domain) dom = NULL;
    g_autoptr(ferry_domain) redefined = NULL;
    g_autofree char *xml1 = NULL;
    g_autofree char *xml2 = NULL;
    g_autofree char *shown = NULL;
    g_autofree char *uuid = NULL;

    g_assert_no_error(error);
    dom = ferry_domain_define_xml(conn, input, &error);
    g_assert_no_error(error);
    uuid = g_strdup(ferry_domain_get_uuid(dom));
    xml1 = ferry_domain_get_xml(dom, FERRY_XML_INACTIVE | FERRY_XML_SECURE, &error);
    g_assert_no_error(error);
    /* With a uuid in the document, the API's dumpxml is the file's. */
    if (!(parse_flags(input) & FERRY_DOMAIN_DEF_PARSE_NO_UUID) && !regenerating()) {
        g_autofree char *expected = golden_read(out_path);

        g_assert_cmpstr(xml1, ==, expected);
    }

    /* A redefine: same name, same uuid. */
    redefined = ferry_domain_define_xml(conn, xml1, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ferry_domain_get_name(redefined), ==, ferry_domain_get_name(dom));
    g_assert_cmpstr(ferry_domain_get_uuid(redefined), ==, uuid);
    xml2 = ferry_domain_get_xml(redefined, FERRY_XML_INACTIVE | FERRY_XML_SECURE, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(xml2, ==, xml1);

    /* Secure dumps keep graphics passwords, the others do not. */
    if (strstr(input, "passwd="))
        g_assert_nonnull(strstr(xml1, "passwd="));
    shown = ferry_domain_get_xml(redefined, FERRY_XML_INACTIVE, &error);
    g_assert_no_error(error);
    assert_no_secrets(shown);

    g_assert_true(ferry_domain_undefine(redefined, 0, &error));
    g_assert_no_error(error);
}

/* ---- refused documents --------------------------------------------------- */

/* Whether @line opens element @name ("<name" then a blank, '/' or '>'). */
static gboolean
line_opens(const char *line, const char *name)
{
    g_autofree char *open = g_strconcat("<", name, NULL);
    gsize len = strlen(open);

    for (const char *p = strstr(line, open); p; p = strstr(p + 1, open)) {
        if (p[len] == '\0' || strchr(" />", p[len]))
            return TRUE;
    }
    return FALSE;
}

/* Every "<source>:<line>: element '<name>': <reason>" of @message, checked
 * against the document: the test finds the element itself, on the lines
 * that open <name>, narrowed to those holding a value the reason quotes
 * (e.g. 'pcie-root-port') when some do.  If that leaves one line, the
 * error must name it; otherwise it must name one of them. */
static guint
check_problem_lines(const char *message, const char *source, const char *doc)
{
    g_auto(GStrv) lines = g_strsplit(doc, "\n", -1);
    g_autofree char *escaped = g_regex_escape_string(source, -1);
    g_autofree char *pattern = g_strdup_printf("%s:([0-9]+): element '([^']+)': ([^\n]*)",
                                               escaped);
    g_autoptr(GRegex) re = g_regex_new(pattern, 0, 0, NULL);
    g_autoptr(GRegex) quoted = g_regex_new("'([^']+)'", 0, 0, NULL);
    g_autoptr(GMatchInfo) match = NULL;
    guint nlines = g_strv_length(lines);
    guint problems = 0;

    g_assert_nonnull(re);
    g_regex_match(re, message, 0, &match);
    for (; g_match_info_matches(match); g_match_info_next(match, NULL)) {
        g_autofree char *number = g_match_info_fetch(match, 1);
        g_autofree char *element = g_match_info_fetch(match, 2);
        g_autofree char *reason = g_match_info_fetch(match, 3);
        guint line = (guint)g_ascii_strtoull(number, NULL, 10);
        g_autoptr(GArray) opening = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autoptr(GArray) narrowed = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autoptr(GMatchInfo) words = NULL;
        GArray *where;
        gboolean named = FALSE;

        for (guint i = 0; lines[i]; i++) {
            guint n = i + 1;

            if (line_opens(lines[i], element))
                g_array_append_val(opening, n);
        }
        g_regex_match(quoted, reason, 0, &words);
        for (; g_match_info_matches(words); g_match_info_next(words, NULL)) {
            g_autofree char *word = g_match_info_fetch(words, 1);

            for (guint k = 0; k < opening->len; k++) {
                guint n = g_array_index(opening, guint, k);

                if (strstr(lines[n - 1], word))
                    g_array_append_val(narrowed, n);
            }
        }
        where = narrowed->len ? narrowed : opening;
        g_assert_cmpuint(line, >=, 1);
        g_assert_cmpuint(line, <=, nlines);
        g_assert_cmpuint(where->len, >=, 1);
        for (guint k = 0; k < where->len; k++)
            named |= g_array_index(where, guint, k) == line;
        if (!named)
            g_test_message("%s:%u: element '%s' is on line(s) %u..%u of the document",
                           source, line, element, g_array_index(where, guint, 0),
                           g_array_index(where, guint, where->len - 1));
        g_assert_true(named);
        problems++;
    }
    return problems;
}

/* Parses a document that must be refused; returns the message. */
static char *
refusal_of(const corpus_case *c, const char *input)
{
    g_autofree char *source = g_strconcat(c->name, ".xml", NULL);
    g_autofree char *err_path = case_path(c, ".err");
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain_def) def =
        ferry_domain_def_parse_string(input, source, parse_flags(input), &error);
    g_autofree char *expected = NULL;

    g_assert_null(def);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    if (regenerating()) {
        g_autofree char *text = g_strconcat(error->message, "\n", NULL);

        golden_check(err_path, text);
    } else {
        expected = golden_read(err_path);
        g_assert_cmpstr(error->message, ==, g_strchomp(expected));
    }
    g_assert_cmpuint(check_problem_lines(error->message, source, input), >=, 1);
    return g_strdup(error->message);
}

static void
test_refused(gconstpointer data)
{
    const corpus_case *c = data;
    g_autofree char *in_path = case_path(c, ".xml");
    g_autofree char *input = golden_read(in_path);
    g_autofree char *message = refusal_of(c, input);
    g_autofree char *source = g_strconcat(c->name, ".xml", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) conn = ferry_conn_open("test:///default", &error);
    g_autoptr(ferry_domain) dom = NULL;
    g_autoptr(GPtrArray) doms = NULL;
    g_autoptr(GString) via_api = g_string_new(message);

    /* One problem names the element it refuses; several are counted. */
    if (!strstr(message, " problems:\n"))
        g_assert_nonnull(strstr(message, ": element '"));

    /* The API refuses it alike (its documents are "domain XML") and
     * defines nothing. */
    g_assert_no_error(error);
    dom = ferry_domain_define_xml(conn, input, &error);
    g_assert_null(dom);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_XML);
    g_string_replace(via_api, source, "domain XML", 0);
    g_assert_cmpstr(error->message, ==, via_api->str);
    g_clear_error(&error);
    g_assert_true(ferry_conn_list_domains(conn, FERRY_LIST_ACTIVE | FERRY_LIST_INACTIVE,
                                          &doms, &error));
    g_assert_cmpuint(doms->len, ==, 0);
}

/* The line numbers an error names, in a set. */
static GHashTable *
named_lines(const char *message, const char *source)
{
    g_autofree char *pattern = g_strdup_printf("%s:([0-9]+): ", source);
    g_autoptr(GRegex) re = g_regex_new(pattern, 0, 0, NULL);
    g_autoptr(GMatchInfo) match = NULL;
    GHashTable *set = g_hash_table_new(g_direct_hash, g_direct_equal);

    g_regex_match(re, message, 0, &match);
    for (; g_match_info_matches(match); g_match_info_next(match, NULL)) {
        g_autofree char *number = g_match_info_fetch(match, 1);

        g_hash_table_add(set, GUINT_TO_POINTER(g_ascii_strtoull(number, NULL, 10)));
    }
    return set;
}

static void
test_known_refused(gconstpointer data)
{
    const corpus_case *c = data;
    g_autofree char *in_path = case_path(c, ".xml");
    g_autofree char *input = golden_read(in_path);
    g_autofree char *message = refusal_of(c, input);
    g_autofree char *accepted_dir = g_path_get_dirname(c->dir);
    g_autofree char *twin_file = g_strconcat(c->name, ".xml", NULL);
    g_autofree char *twin_path = g_build_filename(accepted_dir, twin_file, NULL);
    g_autofree char *twin = NULL;
    g_autoptr(GHashTable) refused = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GString) rest = g_string_new(NULL);

    if (!g_file_test(twin_path, G_FILE_TEST_EXISTS))
        return;
    /* The accepted twin is this document less the refused lines, so that
     * all that keeps the real document out is what the error names. */
    twin = golden_read(twin_path);
    refused = named_lines(message, twin_file);
    lines = g_strsplit(input, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        if (g_hash_table_contains(refused, GUINT_TO_POINTER(i + 1)))
            continue;
        g_string_append(rest, lines[i]);
        if (lines[i + 1])
            g_string_append_c(rest, '\n');
    }
    g_assert_cmpstr(rest->str, ==, twin);
}

/* ---- coverage ------------------------------------------------------------ */

/* What docs/domain-xml.md lists as understood ("path" or
 * "path@attribute=value", paths from <domain>), each of which some
 * accepted document must hold. */
static const char *const understood[] = {
    "domain@type=kvm", "domain@type=qemu",
    "domain/name", "domain/uuid", "domain/title", "domain/description", "domain/metadata",
    "domain/memory", "domain/currentMemory",
    "domain/vcpu@placement=static", "domain/vcpu@cpuset=2-9,^5", "domain/vcpu@current=2",
    "domain/cpu@mode=custom", "domain/cpu@mode=host-model", "domain/cpu@mode=host-passthrough",
    "domain/cpu@mode=maximum", "domain/cpu@match=exact", "domain/cpu@check=partial",
    "domain/cpu@migratable=on", "domain/cpu/model@fallback=allow", "domain/cpu/vendor",
    "domain/cpu/topology", "domain/cpu/feature@policy=require",
    "domain/os/type@arch=x86_64", "domain/os/type@machine=pc-q35-7.2",
    "domain/os/type@machine=pc-i440fx-7.2",
    "domain/os/loader@readonly=yes", "domain/os/loader@type=pflash", "domain/os/loader@secure=no",
    "domain/os/nvram@template=/usr/share/OVMF/OVMF_VARS_4M.fd",
    "domain/os/boot@dev=hd", "domain/os/boot@dev=cdrom", "domain/os/boot@dev=network",
    "domain/os/boot@dev=fd", "domain/os/bootmenu", "domain/os/kernel", "domain/os/initrd",
    "domain/os/cmdline", "domain/os/dtb",
    "domain/features/acpi", "domain/features/apic", "domain/features/pae",
    "domain/features/hyperv@mode=custom", "domain/features/hyperv@mode=passthrough",
    "domain/features/hyperv/relaxed", "domain/features/hyperv/vapic",
    "domain/features/hyperv/spinlocks", "domain/features/hyperv/vendor_id",
    "domain/clock@offset=utc", "domain/clock@offset=localtime", "domain/clock/timer",
    "domain/on_poweroff", "domain/on_reboot", "domain/on_crash",
    "domain/seclabel", "domain/seclabel/label",
    "domain/devices/emulator",
    "domain/devices/disk@type=file", "domain/devices/disk@type=block",
    "domain/devices/disk@type=network", "domain/devices/disk@device=disk",
    "domain/devices/disk@device=cdrom", "domain/devices/disk@device=floppy",
    "domain/devices/disk/source/host@port=10809", "domain/devices/disk/source/host@transport=unix",
    "domain/devices/disk/target@bus=virtio", "domain/devices/disk/target@bus=ide",
    "domain/devices/disk/target@bus=sata", "domain/devices/disk/target@bus=scsi",
    "domain/devices/disk/target@bus=usb", "domain/devices/disk/target@bus=fdc",
    "domain/devices/disk/driver@type=raw", "domain/devices/disk/driver@type=qcow2",
    "domain/devices/disk/driver@cache=none", "domain/devices/disk/driver@io=native",
    "domain/devices/disk/driver@discard=unmap", "domain/devices/disk/driver@detect_zeroes=unmap",
    "domain/devices/disk/readonly", "domain/devices/disk/shareable", "domain/devices/disk/serial",
    "domain/devices/disk/boot", "domain/devices/disk/address@type=pci",
    "domain/devices/disk/address@type=drive", "domain/devices/disk/address@type=usb",
    "domain/devices/controller@type=pci", "domain/devices/controller@type=ide",
    "domain/devices/controller@type=sata", "domain/devices/controller@type=scsi",
    "domain/devices/controller@type=usb", "domain/devices/controller@type=virtio-serial",
    "domain/devices/controller@type=fdc",
    "domain/devices/interface@type=bridge", "domain/devices/interface@type=network",
    "domain/devices/interface@type=ethernet", "domain/devices/interface@type=user",
    "domain/devices/interface/model@type=virtio", "domain/devices/interface/model@type=e1000",
    "domain/devices/interface/model@type=rtl8139", "domain/devices/interface/mac",
    "domain/devices/interface/target", "domain/devices/interface/mtu",
    "domain/devices/interface/boot",
    "domain/devices/serial@type=file", "domain/devices/serial@type=pty",
    "domain/devices/serial@type=unix", "domain/devices/serial@type=tcp",
    "domain/devices/console@type=file", "domain/devices/console@type=pty",
    "domain/devices/console@type=unix", "domain/devices/console@type=tcp",
    "domain/devices/console@type=null",
    "domain/devices/channel@type=unix", "domain/devices/channel@type=pty",
    "domain/devices/graphics@type=vnc", "domain/devices/graphics@type=spice",
    "domain/devices/video/model@type=cirrus", "domain/devices/video/model@type=vga",
    "domain/devices/video/model@type=qxl", "domain/devices/video/model@type=virtio",
    "domain/devices/video/model@type=none",
    "domain/devices/input@type=tablet", "domain/devices/input@type=mouse",
    "domain/devices/input@type=keyboard", "domain/devices/input@bus=virtio",
    "domain/devices/memballoon", "domain/devices/memballoon/stats", "domain/devices/rng",
    "domain/devices/watchdog@model=i6300esb", "domain/devices/watchdog@model=ib700",
};

static void
test_coverage(gconstpointer data)
{
    const char *dir = data;
    g_auto(GStrv) names = golden_list_cases(dir, ".xml", ".out.xml");
    g_autoptr(GHashTable) paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint missing = 0;

    for (guint i = 0; names[i]; i++) {
        g_autofree char *file = g_strconcat(names[i], ".xml", NULL);
        g_autofree char *path = g_build_filename(dir, file, NULL);
        g_autofree char *text = golden_read(path);
        g_autoptr(GPtrArray) elements = elements_of(text, file, paths);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(understood); i++) {
        if (g_hash_table_contains(paths, understood[i]))
            continue;
        g_test_message("no accepted document has %s", understood[i]);
        missing++;
    }
    g_assert_cmpuint(missing, ==, 0);
    g_test_message("%u documents, %u distinct elements and attribute values",
                   g_strv_length(names), g_hash_table_size(paths));
}

/* ---- main ---------------------------------------------------------------- */

static guint
add_cases(const char *dir, const char *kind, GTestDataFunc func)
{
    g_auto(GStrv) names = golden_list_cases(dir, ".xml", ".out.xml");
    guint n = 0;

    for (; names[n]; n++) {
        g_autofree char *path = g_strdup_printf("/conf/" SUITE "/%s/%s", kind, names[n]);
        corpus_case *c = g_new0(corpus_case, 1);

        c->dir = g_strdup(dir);
        c->name = g_strdup(names[n]);
        g_test_add_data_func_full(path, c, func, corpus_case_free);
    }
    return n;
}

int
main(int argc, char **argv)
{
    g_autofree char *dir = NULL;
    g_autofree char *refused_dir = NULL;
    g_autofree char *known_dir = NULL;

    g_test_init(&argc, &argv, NULL);
    dir = golden_data_dir(SUITE);
    refused_dir = g_build_filename(dir, "refused", NULL);
    known_dir = g_build_filename(dir, "known-refused", NULL);

    g_assert_cmpuint(add_cases(dir, "round-trip", test_round_trip), >=, 10);
    add_cases(dir, "api-redefine", test_api_redefine);
    g_assert_cmpuint(add_cases(refused_dir, "refused", test_refused), >=, 8);
    add_cases(known_dir, "known-refused", test_known_refused);
    g_test_add_data_func("/conf/" SUITE "/coverage", dir, test_coverage);
    return g_test_run();
}
