/*
 * domain-conf.c: the domain definition and its libvirt-compatible XML.
 *
 * Owns: reading a <domain> into a ferry_domain_def: every element outside
 * <devices> (identity, title, description, metadata, memory, vcpu, os,
 * features, cpu, clock, life-cycle actions, seclabels) with the checks the
 * schema cannot make (ranges, cpuset syntax, absolute paths, the CPU
 * topology against the vCPU count, currentMemory against memory); the
 * canonical formatter, copy and free.  <devices> is domain-conf-devices.c's
 * (see domain-conf-priv.h).
 *
 * The order of checks: well-formedness (xml-util.c); this file's walk, in
 * which each top-level element that is wrong is deferred (its first problem
 * only) and the walk goes on, so that one refusal lists every problem of the
 * document; then everything the walk did not read; and, only for a document
 * without a problem, the schema docs/schemas/domain.rng as the final word
 * on structure.
 * Must not: touch files, start processes or know about drivers.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <libxml/parser.h>
#include <string.h>

#include "conf/domain-conf-priv.h"
#include "conf/xml-util.h"

#define DOMAIN_NAME_MAX 64
/* 16 TiB: more than any guest ferry migrates; catches unit mistakes. */
#define MEMORY_MAX_BYTES (G_GUINT64_CONSTANT(16) << 40)
/* The largest host CPU number a cpuset may name, as libvirt's mask length. */
#define CPUSET_MAX_CPU 4095
#define BOOTMENU_TIMEOUT_MAX 65535

#define CHOICES(table) (table), G_N_ELEMENTS(table)

/* ---- the values ferry accepts ------------------------------------------- */

static const char *const disk_formats[] = {
    [FERRY_DISK_FORMAT_RAW] = "raw",
    [FERRY_DISK_FORMAT_QCOW2] = "qcow2",
};

static const char *const yes_no[] = { "yes", "no" };
static const char *const vcpu_placements[] = { "static", "auto" };
static const char *const loader_types[] = { "rom", "pflash" };
static const char *const boot_devices[] = { "hd", "cdrom", "network", "fd" };
/* on_poweroff and on_reboot take the first four, on_crash all six. */
static const char *const lifecycle_actions[] = {
    "destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart",
};
#define LIFECYCLE_ACTIONS_NOT_CRASH 4
static const char *const seclabel_types[] = { "dynamic", "static", "none" };
static const char *const seclabel_models[] = { "selinux", "apparmor", "dac", "none" };

/* ---- small public helpers ------------------------------------------------ */

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

void
ferry_conf_named_value_free(ferry_named_value *v)
{
    if (!v)
        return;
    g_free(v->name);
    g_free(v->value);
    g_free(v->extra);
    g_free(v);
}


static gpointer
named_value_copy(gconstpointer src, gpointer unused)
{
    const ferry_named_value *v = src;
    ferry_named_value *c = g_new0(ferry_named_value, 1);

    c->name = g_strdup(v->name);
    c->value = g_strdup(v->value);
    c->extra = g_strdup(v->extra);
    return c;
}

void
ferry_conf_timer_free(ferry_timer_def *t)
{
    if (!t)
        return;
    g_free(t->name);
    g_free(t->tickpolicy);
    g_free(t->present);
    g_free(t);
}


static gpointer
timer_copy(gconstpointer src, gpointer unused)
{
    const ferry_timer_def *t = src;
    ferry_timer_def *c = g_new0(ferry_timer_def, 1);

    c->name = g_strdup(t->name);
    c->tickpolicy = g_strdup(t->tickpolicy);
    c->present = g_strdup(t->present);
    return c;
}

static void
seclabel_free(ferry_seclabel_def *s)
{
    if (!s)
        return;
    g_free(s->type);
    g_free(s->model);
    g_free(s->relabel);
    g_free(s->label);
    g_free(s->imagelabel);
    g_free(s->baselabel);
    g_free(s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_seclabel_def, seclabel_free)

static gpointer
seclabel_copy(gconstpointer src, gpointer unused)
{
    const ferry_seclabel_def *s = src;
    ferry_seclabel_def *c = g_new0(ferry_seclabel_def, 1);

    c->type = g_strdup(s->type);
    c->model = g_strdup(s->model);
    c->relabel = g_strdup(s->relabel);
    c->label = g_strdup(s->label);
    c->imagelabel = g_strdup(s->imagelabel);
    c->baselabel = g_strdup(s->baselabel);
    return c;
}

/* Appends a deep copy of every element of @src (nullable) to @dst. */
static void
append_copies(GPtrArray *dst, const GPtrArray *src, GCopyFunc copy)
{
    for (guint i = 0; src && i < src->len; i++)
        g_ptr_array_add(dst, copy(g_ptr_array_index((GPtrArray *)src, i), NULL));
}

/* Every string of the domain-level part: one list for free and copy, so
 * that neither forgets a field. */
#define STR(field) G_STRUCT_OFFSET(ferry_domain_def, field)
static const gsize domain_strings[] = {
    STR(type), STR(name), STR(uuid), STR(title), STR(description), STR(metadata),
    STR(vcpu_placement), STR(vcpu_cpuset),
    STR(cpu_mode), STR(cpu_match), STR(cpu_check), STR(cpu_migratable), STR(cpu_model),
    STR(cpu_model_fallback), STR(cpu_vendor),
    STR(os_type), STR(arch), STR(machine), STR(kernel), STR(initrd), STR(cmdline), STR(dtb),
    STR(loader), STR(loader_type), STR(nvram), STR(nvram_template),
    STR(hyperv_mode), STR(clock_offset), STR(on_poweroff), STR(on_reboot), STR(on_crash),
};
#undef STR
#define STRING_AT(def, offset) (*(char **)G_STRUCT_MEMBER_P(def, offset))

ferry_domain_def *
ferry_domain_def_new(void)
{
    ferry_domain_def *def = g_new0(ferry_domain_def, 1);

    ferry_domain_devices_init(def);
    def->bootmenu = -1;
    def->cpu_features = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_conf_named_value_free);
    def->hyperv = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_conf_named_value_free);
    def->timers = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_conf_timer_free);
    /* Declared among the devices, but a domain-level element: this file's. */
    if (!def->seclabels)
        def->seclabels = g_ptr_array_new_with_free_func((GDestroyNotify)seclabel_free);
    return def;
}

void
ferry_domain_def_free(ferry_domain_def *def)
{
    if (!def)
        return;
    for (gsize i = 0; i < G_N_ELEMENTS(domain_strings); i++)
        g_free(STRING_AT(def, domain_strings[i]));
    g_strfreev(def->boot_devs);
    g_clear_pointer(&def->cpu_features, g_ptr_array_unref);
    g_clear_pointer(&def->hyperv, g_ptr_array_unref);
    g_clear_pointer(&def->timers, g_ptr_array_unref);
    g_clear_pointer(&def->seclabels, g_ptr_array_unref);
    ferry_domain_devices_clear(def);
    g_free(def);
}

ferry_domain_def *
ferry_domain_def_copy(const ferry_domain_def *def)
{
    ferry_domain_def *copy;

    g_return_val_if_fail(def != NULL, NULL);

    copy = ferry_domain_def_new();
    for (gsize i = 0; i < G_N_ELEMENTS(domain_strings); i++)
        STRING_AT(copy, domain_strings[i]) = g_strdup(STRING_AT(def, domain_strings[i]));
    copy->boot_devs = g_strdupv(def->boot_devs);
    append_copies(copy->cpu_features, def->cpu_features, named_value_copy);
    append_copies(copy->hyperv, def->hyperv, named_value_copy);
    append_copies(copy->timers, def->timers, timer_copy);
    append_copies(copy->seclabels, def->seclabels, seclabel_copy);

    copy->memory_kib = def->memory_kib;
    copy->current_memory_kib = def->current_memory_kib;
    copy->vcpus = def->vcpus;
    copy->vcpus_current = def->vcpus_current;
    copy->cpu_sockets = def->cpu_sockets;
    copy->cpu_dies = def->cpu_dies;
    copy->cpu_cores = def->cpu_cores;
    copy->cpu_threads = def->cpu_threads;
    copy->loader_readonly = def->loader_readonly;
    copy->loader_secure = def->loader_secure;
    copy->bootmenu = def->bootmenu;
    copy->bootmenu_timeout = def->bootmenu_timeout;
    copy->feature_acpi = def->feature_acpi;
    copy->feature_apic = def->feature_apic;
    copy->feature_pae = def->feature_pae;
    copy->has_features = def->has_features;

    ferry_domain_devices_copy(copy, def);
    return copy;
}

/* ---- parsing: the walk's bookkeeping -------------------------------------- */


/* ---- parsing: values ----------------------------------------------------- */

/* "'a', 'b' or 'c'" */
char *
ferry_conf_choices_text(const char *const *table, gsize n)
{
    GString *text = g_string_new(NULL);

    for (gsize i = 0; i < n; i++) {
        if (i > 0)
            g_string_append(text, i + 1 == n ? " or " : ", ");
        g_string_append_printf(text, "'%s'", table[i]);
    }
    return g_string_free(text, FALSE);
}

/* An attribute whose value, when present, must be one of @table. */
gboolean
ferry_conf_parse_choice_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name, gboolean required,
                  const char *const *table, gsize n, char **ret_value, GError **error)
{
    g_autofree char *value = NULL;

    if (!ferry_xml_attr(r, node, name, required, &value, error))
        return FALSE;
    if (value && ferry_conf_string_index(table, n, value) < 0) {
        g_autofree char *expected = ferry_conf_choices_text(table, n);

        ferry_xml_error(r, error, node, "unknown %s '%s' (expected %s)", name, value, expected);
        return FALSE;
    }
    g_free(*ret_value);
    *ret_value = g_steal_pointer(&value);
    return TRUE;
}

/* An optional yes/no attribute; absent is no. */
gboolean
ferry_conf_parse_yes_no_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name, gboolean *ret,
                  GError **error)
{
    g_autofree char *value = NULL;

    if (!ferry_conf_parse_choice_attr(r, node, name, FALSE, CHOICES(yes_no), &value, error))
        return FALSE;
    *ret = g_strcmp0(value, "yes") == 0;
    return TRUE;
}

/* A number attribute in [@min, @max]; *@ret is left alone when absent. */
gboolean
ferry_conf_parse_uint_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name, gboolean required,
                guint64 min, guint64 max, guint64 *ret, GError **error)
{
    g_autofree char *text = NULL;

    if (!ferry_xml_attr(r, node, name, required, &text, error))
        return FALSE;
    if (!text)
        return TRUE;
    switch (ferry_xml_parse_uint(text, min, max, ret)) {
    case FERRY_XML_NUMBER_INVALID:
        ferry_xml_error(r, error, node, "%s '%s' is not a number", name, text);
        return FALSE;
    case FERRY_XML_NUMBER_OUT_OF_RANGE:
        ferry_xml_error(r, error, node,
                        "%s '%s' is out of range (%" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT ")",
                        name, text, min, max);
        return FALSE;
    case FERRY_XML_NUMBER_OK:
        break;
    }
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

gboolean
ferry_conf_expect_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                       gboolean required, const char *only, GError **error)
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

/* The size in @node's text and unit attribute, rounded up to whole KiB as
 * libvirt does. */
static gboolean
parse_size(ferry_xml_reader *r, xmlNodePtr node, guint64 *ret_kib, GError **error)
{
    g_autofree char *text = ferry_xml_text(r, node);
    g_autofree char *unit = NULL;
    guint64 multiplier = 0;
    guint64 value = 0;
    guint64 bytes;
    ferry_xml_number status;

    if (!ferry_xml_attr(r, node, "unit", FALSE, &unit, error))
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
    *ret_kib = bytes / 1024 + (bytes % 1024 ? 1 : 0);
    return TRUE;
}

/* One CPU number of a cpuset entry; NULL if fine, else why not. */
static char *
cpuset_number(const char *text, const char *entry, guint64 *ret)
{
    if (!*text)
        return g_strdup_printf("'%s' lacks a CPU number", entry);
    switch (ferry_xml_parse_uint(text, 0, CPUSET_MAX_CPU, ret)) {
    case FERRY_XML_NUMBER_INVALID:
        return g_strdup_printf("'%s' is not a CPU number", text);
    case FERRY_XML_NUMBER_OUT_OF_RANGE:
        return g_strdup_printf("CPU %s is more than the largest, %d", text, CPUSET_MAX_CPU);
    case FERRY_XML_NUMBER_OK:
        break;
    }
    return NULL;
}

/*
 * libvirt's cpuset syntax: a comma-separated list of N, N-M and ^N (which
 * takes N out again), applied in order.  Returns NULL if @text is valid,
 * else why not; *@ret_empty tells a valid syntax that selects no CPU.
 */
static char *
cpuset_problem(const char *text, gboolean *ret_empty)
{
    g_autofree guint8 *cpus = g_new0(guint8, CPUSET_MAX_CPU + 1);
    g_auto(GStrv) entries = g_strsplit(text, ",", -1);
    gboolean any = FALSE;

    /* g_strsplit() gives no entry at all for "". */
    if (!*text)
        return g_strdup("it is empty");
    for (guint i = 0; entries[i]; i++) {
        const char *entry = entries[i];
        gboolean exclude = entry[0] == '^';
        const char *number = exclude ? entry + 1 : entry;
        const char *dash;
        g_autofree char *first_text = NULL;
        char *why;
        guint64 first = 0;
        guint64 last = 0;

        if (!*entry)
            return g_strdup("an entry is empty");
        dash = strchr(number, '-');
        if (dash && exclude)
            return g_strdup_printf("'%s' excludes a range; an exclusion takes one CPU", entry);
        first_text = dash ? g_strndup(number, dash - number) : g_strdup(number);
        if ((why = cpuset_number(first_text, entry, &first)))
            return why;
        last = first;
        if (dash && (why = cpuset_number(dash + 1, entry, &last)))
            return why;
        if (last < first)
            return g_strdup_printf("the range '%s' ends before it starts", entry);
        for (guint64 cpu = first; cpu <= last; cpu++)
            cpus[cpu] = !exclude;
    }
    for (guint cpu = 0; cpu <= CPUSET_MAX_CPU && !any; cpu++)
        any = cpus[cpu];
    *ret_empty = !any;
    return NULL;
}

/* ---- parsing: <domain> and its one-line children ------------------------- */

/* Each parses one part of <domain>, found under @root; on failure, the
 * element named in domain_parts[] is refused as a whole. */
typedef gboolean (*domain_part_parser)(ferry_xml_reader *r, xmlNodePtr root,
                                       ferry_domain_def *def, GError **error);

static gboolean
parse_type(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    if (!ferry_xml_attr(r, root, "type", TRUE, &def->type, error))
        return FALSE;
    if (strcmp(def->type, "qemu") != 0 && strcmp(def->type, "kvm") != 0 &&
        strcmp(def->type, "test") != 0) {
        ferry_xml_error(r, error, root, "unknown domain type '%s' (expected 'qemu', 'kvm' or 'test')",
                        def->type);
        return FALSE;
    }
    return TRUE;
}

/* The id of a running domain, which libvirt's dumpxml writes: accepted
 * and forgotten, since ids are the host's and never migrate. */
static gboolean
parse_id(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    g_autofree char *id = NULL;
    guint64 value;

    if (!ferry_xml_attr(r, root, "id", FALSE, &id, error))
        return FALSE;
    if (id && strcmp(id, "-1") != 0 &&
        ferry_xml_parse_uint(id, 0, G_MAXINT32, &value) != FERRY_XML_NUMBER_OK) {
        ferry_xml_error(r, error, root, "id '%s' is not a domain id (a number, or -1)", id);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_name(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    g_autoptr(GError) local = NULL;
    xmlNodePtr node;

    if (!ferry_xml_child_text(r, root, "name", TRUE, &node, &def->name, error))
        return FALSE;
    if (!ferry_domain_name_is_valid(def->name, &local)) {
        ferry_xml_error(r, error, node, "%s", local->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_uuid(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    return ferry_xml_child_uuid(r, root, &def->uuid, error);
}

static gboolean
parse_title(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    xmlNodePtr node;

    if (!ferry_xml_child_text(r, root, "title", FALSE, &node, &def->title, error))
        return FALSE;
    if (def->title && strpbrk(def->title, "\r\n")) {
        ferry_xml_error(r, error, node, "the title must be one line (a longer text goes in "
                        "<description>)");
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_description(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    return ferry_xml_child_text(r, root, "description", FALSE, NULL, &def->description, error);
}

/* Appends @node as XML text, its children indented for depth @level, the
 * namespaces it uses declared on it even when an ancestor declared them. */
static void
dump_element(GString *out, xmlNodePtr node, int level)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr copy = xmlDocCopyNode(node, doc, 1);
    xmlBufferPtr buf;

    if (!copy)
        return;
    xmlDocSetRootElement(doc, copy);
    xmlReconciliateNs(doc, copy);
    buf = xmlBufferCreate();
    xmlNodeDump(buf, doc, copy, level, 1);
    g_string_append_len(out, (const char *)xmlBufferContent(buf), xmlBufferLength(buf));
    xmlBufferFree(buf);
}

/* <metadata>: any elements in any namespace, kept as XML text (one element
 * after another, separated by newlines) and never interpreted. */
static gboolean
parse_metadata(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    g_autoptr(GString) text = g_string_new(NULL);
    xmlNodePtr metadata;

    if (!ferry_xml_child(r, root, "metadata", FALSE, &metadata, error))
        return FALSE;
    if (!metadata)
        return TRUE;
    /* Text directly inside stays unread and is refused as unexpected. */
    for (xmlNodePtr n = metadata->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        ferry_xml_mark_subtree_read(r, n);
        if (text->len)
            g_string_append_c(text, '\n');
        dump_element(text, n, 0);
    }
    if (text->len)
        def->metadata = g_strdup(text->str);
    return TRUE;
}

static gboolean
parse_memory(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    xmlNodePtr node;

    return ferry_xml_child(r, root, "memory", TRUE, &node, error) &&
           parse_size(r, node, &def->memory_kib, error);
}

/* After parse_memory(): absent, it is the memory size, as libvirt has it. */
static gboolean
parse_current_memory(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def,
                     GError **error)
{
    xmlNodePtr node;
    guint64 kib = 0;

    if (!ferry_xml_child(r, root, "currentMemory", FALSE, &node, error))
        return FALSE;
    if (!node) {
        def->current_memory_kib = def->memory_kib;
        return TRUE;
    }
    if (!parse_size(r, node, &kib, error))
        return FALSE;
    /* memory_kib is 0 when <memory> was refused: nothing to compare. */
    if (def->memory_kib && kib > def->memory_kib) {
        ferry_xml_error(r, error, node, "%" G_GUINT64_FORMAT " KiB is more than the memory "
                        "size, %" G_GUINT64_FORMAT " KiB", kib, def->memory_kib);
        return FALSE;
    }
    def->current_memory_kib = kib;
    return TRUE;
}

static gboolean
parse_vcpu(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    g_autofree char *text = NULL;
    g_autofree char *why = NULL;
    xmlNodePtr node;
    guint64 value = 0;
    guint64 current = 0;
    gboolean empty = FALSE;

    if (!ferry_xml_child_text(r, root, "vcpu", TRUE, &node, &text, error))
        return FALSE;
    g_strstrip(text);
    switch (ferry_xml_parse_uint(text, 1, FERRY_CONF_VCPUS_MAX, &value)) {
    case FERRY_XML_NUMBER_INVALID:
        ferry_xml_error(r, error, node, "'%s' is not a valid number of vCPUs", text);
        return FALSE;
    case FERRY_XML_NUMBER_OUT_OF_RANGE:
        ferry_xml_error(r, error, node, "%s vCPUs is out of range (1 to %d)", text, FERRY_CONF_VCPUS_MAX);
        return FALSE;
    case FERRY_XML_NUMBER_OK:
        break;
    }

    if (!ferry_conf_parse_choice_attr(r, node, "placement", FALSE, CHOICES(vcpu_placements),
                           &def->vcpu_placement, error) ||
        !ferry_xml_attr(r, node, "cpuset", FALSE, &def->vcpu_cpuset, error) ||
        !ferry_conf_parse_uint_attr(r, node, "current", FALSE, 1, FERRY_CONF_VCPUS_MAX, &current, error))
        return FALSE;
    if (def->vcpu_cpuset && (why = cpuset_problem(def->vcpu_cpuset, &empty))) {
        ferry_xml_error(r, error, node, "cpuset '%s' is not valid: %s (the syntax is a "
                        "comma-separated list of N, N-M and ^N, e.g. '0-3,^2')",
                        def->vcpu_cpuset, why);
        return FALSE;
    }
    if (empty) {
        ferry_xml_error(r, error, node, "cpuset '%s' selects no host CPU", def->vcpu_cpuset);
        return FALSE;
    }
    if (current > value) {
        ferry_xml_error(r, error, node, "current %" G_GUINT64_FORMAT " is more than the "
                        "%" G_GUINT64_FORMAT " vCPUs", current, value);
        return FALSE;
    }
    def->vcpus = (guint)value;
    def->vcpus_current = (guint)current;
    return TRUE;
}

/* ---- parsing: <os> --------------------------------------------------------- */

/* An element whose text is a required absolute path. */
static gboolean
parse_path_text(ferry_xml_reader *r, xmlNodePtr node, const char *what, char **ret_path,
                GError **error)
{
    g_autofree char *path = ferry_xml_text(r, node);

    if (!*path) {
        ferry_xml_error(r, error, node, "the path of the %s is missing", what);
        return FALSE;
    }
    if (!ferry_conf_check_absolute(r, node, NULL, path, error))
        return FALSE;
    *ret_path = g_steal_pointer(&path);
    return TRUE;
}

static gboolean
parse_firmware(ferry_xml_reader *r, xmlNodePtr os, ferry_domain_def *def, GError **error)
{
    xmlNodePtr node;

    if (!ferry_xml_child(r, os, "loader", FALSE, &node, error))
        return FALSE;
    if (node &&
        (!ferry_conf_parse_yes_no_attr(r, node, "readonly", &def->loader_readonly, error) ||
         !ferry_conf_parse_yes_no_attr(r, node, "secure", &def->loader_secure, error) ||
         !ferry_conf_parse_choice_attr(r, node, "type", FALSE, CHOICES(loader_types), &def->loader_type,
                            error) ||
         !parse_path_text(r, node, "firmware", &def->loader, error)))
        return FALSE;

    if (!ferry_xml_child(r, os, "nvram", FALSE, &node, error))
        return FALSE;
    if (node &&
        (!ferry_xml_attr(r, node, "template", FALSE, &def->nvram_template, error) ||
         (def->nvram_template &&
          !ferry_conf_check_absolute(r, node, "template", def->nvram_template, error)) ||
         !parse_path_text(r, node, "variable store", &def->nvram, error)))
        return FALSE;
    return TRUE;
}

static gboolean
parse_boot(ferry_xml_reader *r, xmlNodePtr os, ferry_domain_def *def, GError **error)
{
    g_autoptr(GPtrArray) nodes = ferry_xml_children(r, os, "boot");
    g_autoptr(GPtrArray) devs = g_ptr_array_new_with_free_func(g_free);
    xmlNodePtr menu;

    for (guint i = 0; i < nodes->len; i++) {
        xmlNodePtr node = g_ptr_array_index(nodes, i);
        char *dev = NULL;

        if (!ferry_conf_parse_choice_attr(r, node, "dev", TRUE, CHOICES(boot_devices), &dev, error))
            return FALSE;
        g_ptr_array_add(devs, dev);
        for (guint j = 0; j < i; j++) {
            if (strcmp(g_ptr_array_index(devs, j), dev) == 0) {
                ferry_xml_error(r, error, node, "boot device '%s' is listed twice (the first "
                                "at line %ld)", dev,
                                xmlGetLineNo(g_ptr_array_index(nodes, j)));
                return FALSE;
            }
        }
    }
    if (devs->len) {
        ferry_xml_reader_set_origin(r, &def->boot_devs, g_ptr_array_index(nodes, 0));
        g_ptr_array_add(devs, NULL);
        def->boot_devs = (GStrv)g_ptr_array_steal(devs, NULL);
    }

    if (!ferry_xml_child(r, os, "bootmenu", FALSE, &menu, error))
        return FALSE;
    if (menu) {
        g_autofree char *enable = NULL;
        guint64 timeout = 0;

        /* No timeout='0': the definition has no way to tell it from none. */
        if (!ferry_conf_parse_choice_attr(r, menu, "enable", TRUE, CHOICES(yes_no), &enable, error) ||
            !ferry_conf_parse_uint_attr(r, menu, "timeout", FALSE, 1, BOOTMENU_TIMEOUT_MAX, &timeout, error))
            return FALSE;
        def->bootmenu = strcmp(enable, "yes") == 0;
        def->bootmenu_timeout = (guint)timeout;
    }
    return TRUE;
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
    /* The machine's refusals come after the walk (domain-addr.c). */
    ferry_xml_reader_set_origin(r, &def->machine, type);

    return parse_firmware(r, os, def, error) &&
           parse_path_child(r, os, "kernel", &def->kernel, error) &&
           parse_path_child(r, os, "initrd", &def->initrd, error) &&
           ferry_xml_child_text(r, os, "cmdline", FALSE, NULL, &def->cmdline, error) &&
           parse_path_child(r, os, "dtb", &def->dtb, error) &&
           parse_boot(r, os, def, error);
}

/* ---- parsing: life cycle, <seclabel>, <devices> ------------------------- */

static gboolean
parse_lifecycle(ferry_xml_reader *r, xmlNodePtr root, const char *name, gsize n_actions,
                char **ret_action, GError **error)
{
    g_autofree char *action = NULL;
    xmlNodePtr node;

    if (!ferry_xml_child_text(r, root, name, FALSE, &node, &action, error))
        return FALSE;
    if (!action)
        return TRUE;
    g_strstrip(action);
    if (ferry_conf_string_index(lifecycle_actions, n_actions, action) < 0) {
        g_autofree char *expected = ferry_conf_choices_text(lifecycle_actions, n_actions);

        ferry_xml_error(r, error, node, "unknown action '%s' (expected %s)", action, expected);
        return FALSE;
    }
    *ret_action = g_steal_pointer(&action);
    return TRUE;
}

static gboolean
parse_on_poweroff(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    return parse_lifecycle(r, root, "on_poweroff", LIFECYCLE_ACTIONS_NOT_CRASH,
                           &def->on_poweroff, error);
}

static gboolean
parse_on_reboot(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    return parse_lifecycle(r, root, "on_reboot", LIFECYCLE_ACTIONS_NOT_CRASH,
                           &def->on_reboot, error);
}

static gboolean
parse_on_crash(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    return parse_lifecycle(r, root, "on_crash", G_N_ELEMENTS(lifecycle_actions),
                           &def->on_crash, error);
}

static gboolean
parse_seclabel(ferry_xml_reader *r, xmlNodePtr node, ferry_seclabel_def *sec, GError **error)
{
    if (!ferry_conf_parse_choice_attr(r, node, "type", FALSE, CHOICES(seclabel_types), &sec->type, error) ||
        !ferry_conf_parse_choice_attr(r, node, "model", FALSE, CHOICES(seclabel_models), &sec->model,
                           error) ||
        !ferry_conf_parse_choice_attr(r, node, "relabel", FALSE, CHOICES(yes_no), &sec->relabel, error) ||
        !ferry_xml_child_text(r, node, "label", FALSE, NULL, &sec->label, error) ||
        !ferry_xml_child_text(r, node, "imagelabel", FALSE, NULL, &sec->imagelabel, error) ||
        !ferry_xml_child_text(r, node, "baselabel", FALSE, NULL, &sec->baselabel, error))
        return FALSE;
    /* libvirt's default, which it writes. */
    if (!sec->type)
        sec->type = g_strdup("dynamic");
    if (strcmp(sec->type, "static") == 0 && !sec->label) {
        ferry_xml_error(r, error, node, "a static seclabel needs a <label>");
        return FALSE;
    }
    if (sec->baselabel && strcmp(sec->type, "dynamic") != 0) {
        ferry_xml_error(r, error, node, "<baselabel> is only valid with type 'dynamic', "
                        "not '%s'", sec->type);
        return FALSE;
    }
    return TRUE;
}

/* Each <seclabel> is refused on its own: several may be wrong at once. */
static gboolean
parse_seclabels(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    g_autoptr(GPtrArray) nodes = ferry_xml_children(r, root, "seclabel");
    g_autoptr(GPtrArray) kept = g_ptr_array_new();

    for (guint i = 0; i < nodes->len; i++) {
        xmlNodePtr node = g_ptr_array_index(nodes, i);
        g_autoptr(ferry_seclabel_def) sec = g_new0(ferry_seclabel_def, 1);
        g_autoptr(GError) local = NULL;

        if (parse_seclabel(r, node, sec, &local)) {
            for (guint j = 0; sec->model && j < def->seclabels->len; j++) {
                const ferry_seclabel_def *other = g_ptr_array_index(def->seclabels, j);

                if (g_strcmp0(other->model, sec->model) == 0) {
                    ferry_xml_error(r, &local, node, "a seclabel for model '%s' is already "
                                    "given at line %ld", sec->model,
                                    xmlGetLineNo(g_ptr_array_index(kept, j)));
                    break;
                }
            }
        }
        if (local) {
            ferry_xml_reader_defer(r, &local);
            ferry_xml_mark_subtree_read(r, node);
            continue;
        }
        g_ptr_array_add(def->seclabels, g_steal_pointer(&sec));
        g_ptr_array_add(kept, node);
    }
    return TRUE;
}

static gboolean
parse_devices(ferry_xml_reader *r, xmlNodePtr root, ferry_domain_def *def, GError **error)
{
    xmlNodePtr devices;

    if (!ferry_xml_child(r, root, "devices", FALSE, &devices, error))
        return FALSE;
    /* What the address assignment adds (controllers) is blamed on <devices>. */
    ferry_xml_reader_set_origin(r, def, devices ? devices : root);
    return ferry_domain_devices_parse(r, devices, def, error);
}

/* ---- parsing: the walk --------------------------------------------------- */

/* In an order where each part finds what it depends on already read
 * (currentMemory after memory, cpu after vcpu); problems are reported in
 * document order whatever this order. */
static const struct {
    const char *element;      /* refused as a whole on failure; NULL: an attribute */
    domain_part_parser parse;
} domain_parts[] = {
    { NULL, parse_type },
    { NULL, parse_id },
    { "name", parse_name },
    { "uuid", parse_uuid },
    { "title", parse_title },
    { "description", parse_description },
    { "metadata", parse_metadata },
    { "memory", parse_memory },
    { "currentMemory", parse_current_memory },
    { "vcpu", parse_vcpu },
    { "os", parse_os },
    { "features", ferry_conf_parse_features },
    { "cpu", ferry_conf_parse_cpu },
    { "clock", ferry_conf_parse_clock },
    { "on_poweroff", parse_on_poweroff },
    { "on_reboot", parse_on_reboot },
    { "on_crash", parse_on_crash },
    { "devices", parse_devices },
    { "seclabel", parse_seclabels },
};

/* Reads every part, deferring the problem of each on @r.  Returns NULL only
 * when @root is not a <domain>; the caller reports the deferred problems. */
static ferry_domain_def *
parse_domain(ferry_xml_reader *r, xmlNodePtr root, GError **error)
{
    g_autoptr(ferry_domain_def) def = NULL;

    if (!ferry_xml_expect_root(r, root, "domain", error))
        return NULL;
    def = ferry_domain_def_new();
    for (gsize i = 0; i < G_N_ELEMENTS(domain_parts); i++) {
        g_autoptr(GError) local = NULL;

        if (domain_parts[i].parse(r, root, def, &local))
            continue;
        ferry_xml_reader_defer(r, &local);
        /* Duplicates too: ferry_xml_child() marks neither of two. */
        for (xmlNodePtr n = root->children; domain_parts[i].element && n; n = n->next) {
            if (n->type == XML_ELEMENT_NODE &&
                xmlStrEqual(n->name, BAD_CAST domain_parts[i].element))
                ferry_xml_mark_subtree_read(r, n);
        }
    }
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
    /* The schema only speaks when the walk found nothing: its message
     * would repeat one of the walk's, less precisely. */
    if (!def ||
        !ferry_xml_reader_check_all_read(&r, root, error) ||
        !ferry_xml_validate(FERRY_XML_SCHEMA_DOMAIN, doc, root, source, error))
        return NULL;
    /* Every definition read has its guest ABI complete (domain-addr.c);
     * the walk's origins let its refusals name file, line and element. */
    if (!ferry_domain_def_assign_addresses_from(def, &r, error))
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

/* Appends " name='value'" when @value is not NULL. */
void
ferry_conf_format_opt_attr(GString *out, const char *name, const char *value)
{
    if (value)
        ferry_xml_format_attr(out, name, value);
}

/*
 * The stored elements are indented for depth 0; reading them again and
 * writing them for depth 2 indents them like the rest of the document
 * without touching their text, whose blanks are data.
 */
static void
format_metadata(GString *out, const char *metadata)
{
    g_autofree char *wrapped = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    xmlNodePtr top;

    if (!metadata)
        return;
    ferry_xml_init();
    wrapped = g_strconcat("<metadata>", metadata, "</metadata>", NULL);
    doc = xmlReadMemory(wrapped, (int)strlen(wrapped), NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                        XML_PARSE_NOWARNING);
    top = doc ? xmlDocGetRootElement(doc) : NULL;
    g_string_append(out, "  <metadata>\n");
    if (!top) {
        /* Only metadata set in memory gets here; the parse that must
         * follow (see ferry_domain_def_new()) refuses it. */
        g_string_append_printf(out, "%s\n", metadata);
    } else {
        for (xmlNodePtr n = top->children; n; n = n->next) {
            if (n->type != XML_ELEMENT_NODE)
                continue;
            g_string_append(out, "    ");
            dump_element(out, n, 2);
            g_string_append_c(out, '\n');
        }
    }
    g_string_append(out, "  </metadata>\n");
}

static void
format_vcpu(GString *out, const ferry_domain_def *def)
{
    g_string_append(out, "  <vcpu");
    ferry_conf_format_opt_attr(out, "placement", def->vcpu_placement);
    ferry_conf_format_opt_attr(out, "cpuset", def->vcpu_cpuset);
    if (def->vcpus_current)
        g_string_append_printf(out, " current='%u'", def->vcpus_current);
    g_string_append_printf(out, ">%u</vcpu>\n", def->vcpus);
}

static void
format_os(GString *out, const ferry_domain_def *def)
{
    g_string_append(out, "  <os>\n    <type");
    ferry_xml_format_attr(out, "arch", def->arch ? def->arch : "x86_64");
    ferry_xml_format_attr(out, "machine", def->machine ? def->machine : "pc");
    g_string_append(out, ">");
    ferry_xml_escape(out, def->os_type ? def->os_type : "hvm", FALSE);
    g_string_append(out, "</type>\n");
    if (def->loader) {
        /* readonly and secure: 'no' is libvirt's default, so absent. */
        g_string_append(out, "    <loader");
        if (def->loader_readonly)
            g_string_append(out, " readonly='yes'");
        if (def->loader_secure)
            g_string_append(out, " secure='yes'");
        ferry_conf_format_opt_attr(out, "type", def->loader_type);
        g_string_append_c(out, '>');
        ferry_xml_escape(out, def->loader, FALSE);
        g_string_append(out, "</loader>\n");
    }
    if (def->nvram) {
        g_string_append(out, "    <nvram");
        ferry_conf_format_opt_attr(out, "template", def->nvram_template);
        g_string_append_c(out, '>');
        ferry_xml_escape(out, def->nvram, FALSE);
        g_string_append(out, "</nvram>\n");
    }
    ferry_xml_format_text(out, "    ", "kernel", def->kernel);
    ferry_xml_format_text(out, "    ", "initrd", def->initrd);
    ferry_xml_format_text(out, "    ", "cmdline", def->cmdline);
    ferry_xml_format_text(out, "    ", "dtb", def->dtb);
    for (guint i = 0; def->boot_devs && def->boot_devs[i]; i++) {
        g_string_append(out, "    <boot");
        ferry_xml_format_attr(out, "dev", def->boot_devs[i]);
        g_string_append(out, "/>\n");
    }
    if (def->bootmenu >= 0) {
        g_string_append_printf(out, "    <bootmenu enable='%s'", def->bootmenu ? "yes" : "no");
        if (def->bootmenu_timeout)
            g_string_append_printf(out, " timeout='%u'", def->bootmenu_timeout);
        g_string_append(out, "/>\n");
    }
    g_string_append(out, "  </os>\n");
}

static void
format_seclabels(GString *out, const ferry_domain_def *def)
{
    for (guint i = 0; def->seclabels && i < def->seclabels->len; i++) {
        const ferry_seclabel_def *sec = g_ptr_array_index(def->seclabels, i);

        g_string_append(out, "  <seclabel");
        ferry_xml_format_attr(out, "type", sec->type ? sec->type : "dynamic");
        ferry_conf_format_opt_attr(out, "model", sec->model);
        ferry_conf_format_opt_attr(out, "relabel", sec->relabel);
        if (!sec->label && !sec->imagelabel && !sec->baselabel) {
            g_string_append(out, "/>\n");
            continue;
        }
        g_string_append(out, ">\n");
        ferry_xml_format_text(out, "    ", "label", sec->label);
        ferry_xml_format_text(out, "    ", "imagelabel", sec->imagelabel);
        ferry_xml_format_text(out, "    ", "baselabel", sec->baselabel);
        g_string_append(out, "  </seclabel>\n");
    }
}

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
    ferry_xml_format_text(out, "  ", "title", def->title);
    ferry_xml_format_text(out, "  ", "description", def->description);
    format_metadata(out, def->metadata);
    g_string_append_printf(out, "  <memory unit='KiB'>%" G_GUINT64_FORMAT "</memory>\n",
                           def->memory_kib);
    /* Always written, as libvirt does; 0 means the memory size. */
    g_string_append_printf(out, "  <currentMemory unit='KiB'>%" G_GUINT64_FORMAT
                           "</currentMemory>\n",
                           def->current_memory_kib ? def->current_memory_kib : def->memory_kib);
    format_vcpu(out, def);
    format_os(out, def);
    ferry_conf_format_features(out, def);
    ferry_conf_format_cpu(out, def);
    ferry_conf_format_clock(out, def);
    ferry_xml_format_text(out, "  ", "on_poweroff", def->on_poweroff);
    ferry_xml_format_text(out, "  ", "on_reboot", def->on_reboot);
    ferry_xml_format_text(out, "  ", "on_crash", def->on_crash);
    ferry_domain_devices_format(out, def);
    format_seclabels(out, def);
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
