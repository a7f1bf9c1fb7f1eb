/*
 * domain-conf.c: the domain definition and its libvirt-compatible XML.
 *
 * Owns: reading a <domain> into a ferry_domain_def (checking every value the
 * schema cannot, e.g. ranges, paths, disk targets), the canonical formatter,
 * copy and free.  The order of checks: well-formedness (xml-util.c), this
 * file's walk, which reads every element it knows and reports the first bad
 * value with a precise message, then anything the walk did not read, then
 * the schema docs/schemas/domain.rng as the final word on structure.
 * Must not: touch files, start processes or know about drivers.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/domain-conf-priv.h"
#include "conf/xml-util.h"

#define DOMAIN_NAME_MAX 64
#define VCPUS_MAX 64
/* 16 TiB: more than any guest ferry migrates; catches unit mistakes. */
#define MEMORY_MAX_BYTES (G_GUINT64_CONSTANT(16) << 40)

/* ---- small public helpers ------------------------------------------------ */

static const char *const disk_formats[] = {
    [FERRY_DISK_FORMAT_RAW] = "raw",
    [FERRY_DISK_FORMAT_QCOW2] = "qcow2",
};


int
ferry_conf_string_index(const char *const *table, gsize n, const char *name)
{
    for (gsize i = 0; name && i < n; i++) {
        if (strcmp(table[i], name) == 0)
            return (int)i;
    }
    return -1;
}

const char *
ferry_disk_format_to_string(ferry_disk_format format)
{
    if ((guint)format >= G_N_ELEMENTS(disk_formats))
        return NULL;
    return disk_formats[format];
}

int
ferry_disk_format_from_string(const char *name)
{
    return ferry_conf_string_index(disk_formats, G_N_ELEMENTS(disk_formats), name);
}

gboolean
ferry_domain_name_is_valid(const char *name, GError **error)
{
    gsize len;

    if (!name || !*name) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "domain name is empty");
        return FALSE;
    }
    len = strlen(name);
    if (len > DOMAIN_NAME_MAX) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain name '%.20s...' is %zu characters long, more than %d",
                    name, len, DOMAIN_NAME_MAX);
        return FALSE;
    }
    if (name[0] == '.' || name[0] == '-') {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain name '%s' must not start with '%c'", name, name[0]);
        return FALSE;
    }
    for (const char *p = name; *p; p++) {
        if (g_ascii_isalnum(*p) || strchr("_.+-", *p))
            continue;
        if (g_ascii_isprint(*p))
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "domain name '%s' contains '%c'; only letters, digits, "
                        "'_', '.', '+' and '-' are allowed", name, *p);
        else
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "domain name contains the byte 0x%02x; only letters, digits, "
                        "'_', '.', '+' and '-' are allowed", (guchar)*p);
        return FALSE;
    }
    return TRUE;
}

/* ---- life cycle ---------------------------------------------------------- */

ferry_domain_def *
ferry_domain_def_new(void)
{
    ferry_domain_def *def = g_new0(ferry_domain_def, 1);

    ferry_domain_devices_init(def);
    return def;
}

void
ferry_domain_def_free(ferry_domain_def *def)
{
    if (!def)
        return;
    g_free(def->type);
    g_free(def->name);
    g_free(def->uuid);
    g_free(def->description);
    g_free(def->os_type);
    g_free(def->arch);
    g_free(def->machine);
    g_free(def->kernel);
    g_free(def->initrd);
    g_free(def->cmdline);
    ferry_domain_devices_clear(def);
    g_free(def);
}

ferry_domain_def *
ferry_domain_def_copy(const ferry_domain_def *def)
{
    ferry_domain_def *copy;

    g_return_val_if_fail(def != NULL, NULL);

    copy = ferry_domain_def_new();
    copy->type = g_strdup(def->type);
    copy->name = g_strdup(def->name);
    copy->uuid = g_strdup(def->uuid);
    copy->description = g_strdup(def->description);
    copy->memory_kib = def->memory_kib;
    copy->vcpus = def->vcpus;
    copy->os_type = g_strdup(def->os_type);
    copy->arch = g_strdup(def->arch);
    copy->machine = g_strdup(def->machine);
    copy->kernel = g_strdup(def->kernel);
    copy->initrd = g_strdup(def->initrd);
    copy->cmdline = g_strdup(def->cmdline);
    ferry_domain_devices_copy(copy, def);
    return copy;
}

/* ---- parsing: values ----------------------------------------------------- */

static const struct {
    const char *name;
    guint64 bytes;
} memory_units[] = {
    { "b", 1 },
    { "bytes", 1 },
    { "k", 1024 },
    { "KiB", 1024 },
    { "KB", 1000 },
    { "M", 1024 * 1024 },
    { "MiB", 1024 * 1024 },
    { "MB", 1000 * 1000 },
    { "G", 1024 * 1024 * 1024 },
    { "GiB", 1024 * 1024 * 1024 },
    { "GB", 1000 * 1000 * 1000 },
};

static gboolean
parse_memory(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    g_autofree char *text = NULL;
    g_autofree char *unit = NULL;
    xmlNodePtr node;
    guint64 multiplier = 0;
    guint64 value = 0;
    guint64 bytes;
    ferry_xml_number status;

    if (!ferry_xml_child_text(r, root, "memory", TRUE, &node, &text, error) ||
        !ferry_xml_attr(r, node, "unit", FALSE, &unit, error))
        return FALSE;
    if (!unit)
        unit = g_strdup("KiB");
    for (gsize i = 0; i < G_N_ELEMENTS(memory_units); i++) {
        if (strcmp(memory_units[i].name, unit) == 0)
            multiplier = memory_units[i].bytes;
    }
    if (!multiplier) {
        ferry_xml_error(r, error, node,
                        "unknown unit '%s' (expected b, bytes, k, KB, KiB, M, MB, MiB, G, GB or GiB)",
                        unit);
        return FALSE;
    }

    g_strstrip(text);
    status = ferry_xml_parse_uint(text, 0, G_MAXUINT64, &value);
    if (status == FERRY_XML_NUMBER_INVALID) {
        ferry_xml_error(r, error, node, "'%s' is not a valid size", text);
        return FALSE;
    }
    if (status == FERRY_XML_NUMBER_OUT_OF_RANGE || value > MEMORY_MAX_BYTES / multiplier) {
        ferry_xml_error(r, error, node, "%s %s is more than the maximum of 16 TiB", text, unit);
        return FALSE;
    }
    if (value == 0) {
        ferry_xml_error(r, error, node, "the memory size must not be zero");
        return FALSE;
    }
    bytes = value * multiplier;
    /* Round up to whole KiB, as libvirt does. */
    def->memory_kib = bytes / 1024 + (bytes % 1024 ? 1 : 0);
    return TRUE;
}

static gboolean
parse_vcpus(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    g_autofree char *text = NULL;
    xmlNodePtr node;
    guint64 value = 0;

    if (!ferry_xml_child_text(r, root, "vcpu", TRUE, &node, &text, error))
        return FALSE;
    g_strstrip(text);
    switch (ferry_xml_parse_uint(text, 1, VCPUS_MAX, &value)) {
    case FERRY_XML_NUMBER_INVALID:
        ferry_xml_error(r, error, node, "'%s' is not a valid number of vCPUs", text);
        return FALSE;
    case FERRY_XML_NUMBER_OUT_OF_RANGE:
        ferry_xml_error(r, error, node, "%s vCPUs is out of range (1 to %d)", text, VCPUS_MAX);
        return FALSE;
    case FERRY_XML_NUMBER_OK:
        break;
    }
    def->vcpus = (guint)value;
    return TRUE;
}

gboolean
ferry_conf_check_absolute(ferry_xml_reader *r, xmlNodePtr node, const char *attribute,
               const char *path, GError **error)
{
    if (g_path_is_absolute(path))
        return TRUE;
    if (attribute)
        ferry_xml_error(r, error, node, "%s '%s' is not an absolute path", attribute, path);
    else
        ferry_xml_error(r, error, node, "'%s' is not an absolute path", path);
    return FALSE;
}

/* An optional child element holding an absolute path. */
static gboolean
parse_path_child(ferry_xml_reader *r, xmlNodePtr parent, const char *name,
                 char **ret_path, GError **error)
{
    g_autofree char *path = NULL;
    xmlNodePtr node;

    if (!ferry_xml_child_text(r, parent, name, FALSE, &node, &path, error))
        return FALSE;
    if (path && !ferry_conf_check_absolute(r, node, NULL, path, error))
        return FALSE;
    *ret_path = g_steal_pointer(&path);
    return TRUE;
}

/* An attribute that, when present, must have the one value ferry supports. */
gboolean
ferry_conf_expect_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name, gboolean required,
            const char *only, GError **error)
{
    g_autofree char *value = NULL;

    if (!ferry_xml_attr(r, node, name, required, &value, error))
        return FALSE;
    if (value && strcmp(value, only) != 0) {
        ferry_xml_error(r, error, node, "%s '%s' is not supported (only '%s')", name, value, only);
        return FALSE;
    }
    return TRUE;
}

/* ---- parsing: elements --------------------------------------------------- */

static gboolean
parse_identity(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    g_autoptr(GError) local = NULL;
    xmlNodePtr node;

    if (!ferry_xml_attr(r, root, "type", TRUE, &def->type, error))
        return FALSE;
    if (strcmp(def->type, "qemu") != 0 && strcmp(def->type, "kvm") != 0 &&
        strcmp(def->type, "test") != 0) {
        ferry_xml_error(r, error, root, "unknown domain type '%s' (expected 'qemu', 'kvm' or 'test')",
                        def->type);
        return FALSE;
    }

    if (!ferry_xml_child_text(r, root, "name", TRUE, &node, &def->name, error))
        return FALSE;
    if (!ferry_domain_name_is_valid(def->name, &local)) {
        ferry_xml_error(r, error, node, "%s", local->message);
        return FALSE;
    }

    return ferry_xml_child_uuid(r, root, &def->uuid, error) &&
           ferry_xml_child_text(r, root, "description", FALSE, NULL, &def->description, error);
}

static gboolean
parse_os(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    xmlNodePtr os;
    xmlNodePtr type;

    if (!ferry_xml_child(r, root, "os", TRUE, &os, error) ||
        !ferry_xml_child_text(r, os, "type", TRUE, &type, &def->os_type, error))
        return FALSE;
    g_strstrip(def->os_type);
    if (strcmp(def->os_type, "hvm") != 0) {
        ferry_xml_error(r, error, type, "OS type '%s' is not supported (only 'hvm')", def->os_type);
        return FALSE;
    }
    if (!ferry_xml_attr(r, type, "arch", FALSE, &def->arch, error) ||
        !ferry_xml_attr(r, type, "machine", FALSE, &def->machine, error))
        return FALSE;
    if (!def->arch)
        def->arch = g_strdup("x86_64");
    if (!def->machine)
        def->machine = g_strdup("pc");

    return parse_path_child(r, os, "kernel", &def->kernel, error) &&
           parse_path_child(r, os, "initrd", &def->initrd, error) &&
           ferry_xml_child_text(r, os, "cmdline", FALSE, NULL, &def->cmdline, error);
}

static ferry_domain_def *
parse_domain(ferry_xml_reader *r, xmlNodePtr root, GError **error)
{
    g_autoptr(ferry_domain_def) def = ferry_domain_def_new();
    xmlNodePtr devices;

    if (!ferry_xml_expect_root(r, root, "domain", error) ||
        !parse_identity(r, root, def, error) ||
        !parse_memory(r, root, def, error) ||
        !parse_vcpus(r, root, def, error) ||
        !parse_os(r, root, def, error) ||
        !ferry_xml_child(r, root, "devices", FALSE, &devices, error))
        return NULL;
    if (!ferry_domain_devices_parse(r, devices, def, error))
        return NULL;
    return g_steal_pointer(&def);
}

ferry_domain_def *
ferry_domain_def_parse_node(xmlDocPtr doc, xmlNodePtr root, const char *source_name,
                            guint flags, GError **error)
{
    g_auto(ferry_xml_reader) r = { 0 };
    g_autoptr(ferry_domain_def) def = NULL;
    const char *source = source_name ? source_name : "domain XML";

    g_return_val_if_fail(doc != NULL && root != NULL, NULL);

    if (flags & ~(guint)FERRY_DOMAIN_DEF_PARSE_NO_UUID) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: unsupported parse flags 0x%x", source, flags);
        return NULL;
    }
    ferry_xml_reader_init(&r, source);
    def = parse_domain(&r, root, error);
    if (!def ||
        !ferry_xml_reader_check_all_read(&r, root, error) ||
        !ferry_xml_validate(FERRY_XML_SCHEMA_DOMAIN, doc, root, source, error))
        return NULL;

    if (!def->uuid && !(flags & FERRY_DOMAIN_DEF_PARSE_NO_UUID))
        def->uuid = g_uuid_string_random();
    return g_steal_pointer(&def);
}

ferry_domain_def *
ferry_domain_def_parse_string(const char *xml, const char *source_name, guint flags,
                              GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    const char *source = source_name ? source_name : "domain XML";

    g_return_val_if_fail(xml != NULL, NULL);

    doc = ferry_xml_read(xml, source, error);
    if (!doc)
        return NULL;
    return ferry_domain_def_parse_node(doc, xmlDocGetRootElement(doc), source, flags, error);
}

/* ---- formatting ---------------------------------------------------------- */

char *
ferry_domain_def_format(const ferry_domain_def *def)
{
    GString *out;

    g_return_val_if_fail(def != NULL, NULL);

    out = g_string_new("<domain");
    ferry_xml_format_attr(out, "type", def->type ? def->type : "qemu");
    g_string_append(out, ">\n");
    ferry_xml_format_text(out, "  ", "name", def->name);
    ferry_xml_format_text(out, "  ", "uuid", def->uuid);
    ferry_xml_format_text(out, "  ", "description", def->description);
    g_string_append_printf(out, "  <memory unit='KiB'>%" G_GUINT64_FORMAT "</memory>\n",
                           def->memory_kib);
    g_string_append_printf(out, "  <vcpu>%u</vcpu>\n", def->vcpus);

    g_string_append(out, "  <os>\n    <type");
    ferry_xml_format_attr(out, "arch", def->arch ? def->arch : "x86_64");
    ferry_xml_format_attr(out, "machine", def->machine ? def->machine : "pc");
    g_string_append(out, ">");
    ferry_xml_escape(out, def->os_type ? def->os_type : "hvm", FALSE);
    g_string_append(out, "</type>\n");
    ferry_xml_format_text(out, "    ", "kernel", def->kernel);
    ferry_xml_format_text(out, "    ", "initrd", def->initrd);
    ferry_xml_format_text(out, "    ", "cmdline", def->cmdline);
    g_string_append(out, "  </os>\n");

    ferry_domain_devices_format(out, def);
    g_string_append(out, "</domain>\n");
    return g_string_free(out, FALSE);
}

char *
ferry_domain_def_format_checked(const ferry_domain_def *def, GError **error)
{
    g_autofree char *xml = ferry_domain_def_format(def);
    gsize len = strlen(xml);

    if (len > FERRY_DOMAIN_XML_MAX_FORMATTED) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_XML,
                    "domain '%s': its definition is %" G_GSIZE_FORMAT " bytes once "
                    "formatted, more than the limit of %d bytes (escaping makes characters "
                    "such as '<', '>', '&' and quotes several bytes long)",
                    def->name, len, FERRY_DOMAIN_XML_MAX_FORMATTED);
        return NULL;
    }
    return g_steal_pointer(&xml);
}
