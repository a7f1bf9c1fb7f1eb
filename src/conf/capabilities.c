/*
 * capabilities.c: the host capabilities document.
 *
 * Owns: the ferry_caps structure, its formatter and its parser (walk of
 * every element, then docs/schemas/capabilities.rng, as domain-conf.c
 * does).  Must not: probe the host; drivers fill the structure in.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/capabilities.h"
#include "conf/xml-util.h"

#define CAPS_SOURCE "capabilities XML"
/* What the schema's "word" allows. */
#define WORD_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

static void
caps_guest_free(ferry_caps_guest *guest)
{
    if (!guest)
        return;
    g_free(guest->os_type);
    g_free(guest->arch);
    g_free(guest->emulator);
    g_clear_pointer(&guest->machines, g_ptr_array_unref);
    g_clear_pointer(&guest->domain_types, g_ptr_array_unref);
    g_free(guest);
}

ferry_caps *
ferry_caps_new(void)
{
    ferry_caps *caps = g_new0(ferry_caps, 1);

    caps->guests = g_ptr_array_new_with_free_func((GDestroyNotify)caps_guest_free);
    caps->uri_transports = g_ptr_array_new_with_free_func(g_free);
    caps->migration_protocols = g_ptr_array_new_with_free_func(g_free);
    return caps;
}

void
ferry_caps_free(ferry_caps *caps)
{
    if (!caps)
        return;
    g_free(caps->host_uuid);
    g_free(caps->hostname);
    g_free(caps->arch);
    g_clear_pointer(&caps->guests, g_ptr_array_unref);
    g_clear_pointer(&caps->uri_transports, g_ptr_array_unref);
    g_clear_pointer(&caps->migration_protocols, g_ptr_array_unref);
    g_free(caps);
}

ferry_caps_guest *
ferry_caps_add_guest(ferry_caps *caps, const char *os_type, const char *arch)
{
    ferry_caps_guest *guest;

    g_return_val_if_fail(caps != NULL && os_type != NULL && arch != NULL, NULL);

    guest = g_new0(ferry_caps_guest, 1);
    guest->os_type = g_strdup(os_type);
    guest->arch = g_strdup(arch);
    guest->machines = g_ptr_array_new_with_free_func(g_free);
    guest->domain_types = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(caps->guests, guest);
    return guest;
}

/* ---- formatting ---------------------------------------------------------- */

static void
format_guest(GString *out, const ferry_caps_guest *guest)
{
    g_string_append(out, "  <guest>\n");
    ferry_xml_format_text(out, "    ", "os_type", guest->os_type);
    g_string_append(out, "    <arch name='");
    ferry_xml_escape(out, guest->arch ? guest->arch : "", TRUE);
    g_string_append(out, "'>\n");
    if (guest->wordsize)
        g_string_append_printf(out, "      <wordsize>%u</wordsize>\n", guest->wordsize);
    ferry_xml_format_text(out, "      ", "emulator", guest->emulator);
    for (guint i = 0; guest->machines && i < guest->machines->len; i++)
        ferry_xml_format_text(out, "      ", "machine", g_ptr_array_index(guest->machines, i));
    for (guint i = 0; guest->domain_types && i < guest->domain_types->len; i++) {
        g_string_append(out, "      <domain type='");
        ferry_xml_escape(out, g_ptr_array_index(guest->domain_types, i), TRUE);
        g_string_append(out, "'/>\n");
    }
    g_string_append(out, "    </arch>\n  </guest>\n");
}

/* <list><item>word</item>...</list>, or nothing for an empty list. */
static void
format_list(GString *out, const char *list, const char *item, const GPtrArray *words)
{
    if (!words || words->len == 0)
        return;
    g_string_append_printf(out, "      <%s>\n", list);
    for (guint i = 0; i < words->len; i++)
        ferry_xml_format_text(out, "        ", item, g_ptr_array_index(words, i));
    g_string_append_printf(out, "      </%s>\n", list);
}

static gboolean
has_migration_features(const ferry_caps *caps)
{
    return caps->migration_live || caps->migration_nbd || caps->migration_tunnelled ||
           (caps->uri_transports && caps->uri_transports->len > 0) ||
           (caps->migration_protocols && caps->migration_protocols->len > 0);
}

static void
format_migration_features(GString *out, const ferry_caps *caps)
{
    if (!has_migration_features(caps))
        return;
    g_string_append(out, "    <migration_features>\n");
    if (caps->migration_live)
        g_string_append(out, "      <live/>\n");
    format_list(out, "uri_transports", "uri_transport", caps->uri_transports);
    format_list(out, "protocols", "protocol", caps->migration_protocols);
    if (caps->migration_nbd)
        g_string_append(out, "      <nbd/>\n");
    if (caps->migration_tunnelled)
        g_string_append(out, "      <tunnelled/>\n");
    g_string_append(out, "    </migration_features>\n");
}

char *
ferry_caps_format(const ferry_caps *caps)
{
    GString *out;

    g_return_val_if_fail(caps != NULL, NULL);

    out = g_string_new("<capabilities>\n");
    if (!caps->host_uuid && !caps->hostname && !caps->arch && !has_migration_features(caps)) {
        g_string_append(out, "  <host/>\n");
    } else {
        g_string_append(out, "  <host>\n");
        ferry_xml_format_text(out, "    ", "uuid", caps->host_uuid);
        ferry_xml_format_text(out, "    ", "hostname", caps->hostname);
        if (caps->arch) {
            g_string_append(out, "    <cpu>\n");
            ferry_xml_format_text(out, "      ", "arch", caps->arch);
            g_string_append(out, "    </cpu>\n");
        }
        format_migration_features(out, caps);
        g_string_append(out, "  </host>\n");
    }
    for (guint i = 0; caps->guests && i < caps->guests->len; i++)
        format_guest(out, g_ptr_array_index(caps->guests, i));
    g_string_append(out, "</capabilities>\n");
    return g_string_free(out, FALSE);
}

/* ---- parsing ------------------------------------------------------------- */

/* Text of a required child, without surrounding blanks, not empty. */
static gboolean
parse_word(ferry_xml_reader *r, xmlNodePtr parent, const char *name, gboolean required,
           char **ret_word, GError **error)
{
    g_autofree char *text = NULL;
    xmlNodePtr node;

    if (!ferry_xml_child_text(r, parent, name, required, &node, &text, error))
        return FALSE;
    if (text && !*g_strstrip(text)) {
        ferry_xml_error(r, error, node, "must not be empty");
        return FALSE;
    }
    *ret_word = g_steal_pointer(&text);
    return TRUE;
}

/* The words of <list><item>word</item>...</list>, an optional child of
 * @parent, appended to @words; duplicates are refused. */
static gboolean
parse_list(ferry_xml_reader *r, xmlNodePtr parent, const char *list, const char *item,
           GPtrArray *words, GError **error)
{
    g_autoptr(GPtrArray) nodes = NULL;
    xmlNodePtr node;

    if (!ferry_xml_child(r, parent, list, FALSE, &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    nodes = ferry_xml_children(r, node, item);
    for (guint i = 0; i < nodes->len; i++) {
        xmlNodePtr n = g_ptr_array_index(nodes, i);
        g_autofree char *word = g_strstrip(ferry_xml_text(r, n));

        if (!*word) {
            ferry_xml_error(r, error, n, "must not be empty");
            return FALSE;
        }
        if (word[strspn(word, WORD_CHARS)] != '\0') {
            ferry_xml_error(r, error, n, "'%s' is not a name (only letters, digits, "
                            "'_', '.' and '-')", word);
            return FALSE;
        }
        if (g_ptr_array_find_with_equal_func(words, word, g_str_equal, NULL)) {
            ferry_xml_error(r, error, n, "'%s' is listed twice", word);
            return FALSE;
        }
        g_ptr_array_add(words, g_steal_pointer(&word));
    }
    return TRUE;
}

static gboolean
parse_migration_features(ferry_xml_reader *r, xmlNodePtr host, ferry_caps *caps,
                         GError **error)
{
    xmlNodePtr node;

    if (!ferry_xml_child(r, host, "migration_features", FALSE, &node, error))
        return FALSE;
    if (!node)
        return TRUE;
    return ferry_xml_child_flag(r, node, "live", &caps->migration_live, error) &&
           parse_list(r, node, "uri_transports", "uri_transport", caps->uri_transports, error) &&
           parse_list(r, node, "protocols", "protocol", caps->migration_protocols, error) &&
           ferry_xml_child_flag(r, node, "nbd", &caps->migration_nbd, error) &&
           ferry_xml_child_flag(r, node, "tunnelled", &caps->migration_tunnelled, error);
}

static gboolean
parse_host(ferry_xml_reader *r, xmlNodePtr root, ferry_caps *caps, GError **error)
{
    xmlNodePtr host;
    xmlNodePtr node;

    if (!ferry_xml_child(r, root, "host", TRUE, &host, error) ||
        !ferry_xml_child_uuid(r, host, &caps->host_uuid, error) ||
        !ferry_xml_child_text(r, host, "hostname", FALSE, NULL, &caps->hostname, error) ||
        !ferry_xml_child(r, host, "cpu", FALSE, &node, error))
        return FALSE;
    if (node && !parse_word(r, node, "arch", TRUE, &caps->arch, error))
        return FALSE;
    return parse_migration_features(r, host, caps, error);
}

static gboolean
parse_wordsize(ferry_xml_reader *r, xmlNodePtr arch, ferry_caps_guest *guest, GError **error)
{
    g_autofree char *text = NULL;
    xmlNodePtr node;
    guint64 value = 0;

    if (!ferry_xml_child_text(r, arch, "wordsize", FALSE, &node, &text, error))
        return FALSE;
    if (!text)
        return TRUE;
    g_strstrip(text);
    if (ferry_xml_parse_uint(text, 1, 1024, &value) != FERRY_XML_NUMBER_OK) {
        ferry_xml_error(r, error, node, "'%s' is not a valid word size in bits", text);
        return FALSE;
    }
    guest->wordsize = (guint)value;
    return TRUE;
}

static gboolean
parse_guest(ferry_xml_reader *r, xmlNodePtr node, ferry_caps *caps, GError **error)
{
    g_autofree char *os_type = NULL;
    g_autofree char *arch_name = NULL;
    g_autoptr(GPtrArray) machines = NULL;
    g_autoptr(GPtrArray) domains = NULL;
    ferry_caps_guest *guest;
    xmlNodePtr arch;

    if (!parse_word(r, node, "os_type", TRUE, &os_type, error) ||
        !ferry_xml_child(r, node, "arch", TRUE, &arch, error) ||
        !ferry_xml_attr(r, arch, "name", TRUE, &arch_name, error))
        return FALSE;
    guest = ferry_caps_add_guest(caps, os_type, g_strstrip(arch_name));
    if (!parse_wordsize(r, arch, guest, error) ||
        !ferry_xml_child_text(r, arch, "emulator", FALSE, NULL, &guest->emulator, error))
        return FALSE;

    machines = ferry_xml_children(r, arch, "machine");
    for (guint i = 0; i < machines->len; i++) {
        char *machine = ferry_xml_text(r, g_ptr_array_index(machines, i));

        g_ptr_array_add(guest->machines, g_strstrip(machine));
    }
    domains = ferry_xml_children(r, arch, "domain");
    for (guint i = 0; i < domains->len; i++) {
        char *type = NULL;

        if (!ferry_xml_attr(r, g_ptr_array_index(domains, i), "type", TRUE, &type, error))
            return FALSE;
        g_ptr_array_add(guest->domain_types, g_strstrip(type));
    }
    return TRUE;
}

ferry_caps *
ferry_caps_parse(const char *xml, GError **error)
{
    g_auto(ferry_xml_reader) r = { 0 };
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(ferry_caps) caps = ferry_caps_new();
    g_autoptr(GPtrArray) guests = NULL;
    xmlNodePtr root;

    g_return_val_if_fail(xml != NULL, NULL);

    doc = ferry_xml_read(xml, CAPS_SOURCE, error);
    if (!doc)
        return NULL;
    root = xmlDocGetRootElement(doc);
    ferry_xml_reader_init(&r, CAPS_SOURCE);
    if (!ferry_xml_expect_root(&r, root, "capabilities", error) ||
        !parse_host(&r, root, caps, error))
        return NULL;
    guests = ferry_xml_children(&r, root, "guest");
    for (guint i = 0; i < guests->len; i++) {
        if (!parse_guest(&r, g_ptr_array_index(guests, i), caps, error))
            return NULL;
    }
    if (!ferry_xml_reader_check_all_read(&r, root, error) ||
        !ferry_xml_validate(FERRY_XML_SCHEMA_CAPABILITIES, doc, root, CAPS_SOURCE, error))
        return NULL;
    return g_steal_pointer(&caps);
}
