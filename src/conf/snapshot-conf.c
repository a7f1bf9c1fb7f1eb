/*
 * snapshot-conf.c: parsing and formatting one domain snapshot's metadata
 * (docs/schemas/domainsnapshot.rng, docs/snapshots.md).
 *
 * Owns: the walk over a <domainsnapshot> document, which defers each
 * element's problem (ferry_xml_reader_defer()) so that a document's every
 * problem is reported at once, and the canonical text.  Must not: relate
 * snapshots to each other (snapshot-list.c), or decide what a driver does
 * with them.  The embedded <domain> is the domain parser's: this file only
 * hands it over and checks the disks named against it.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/snapshot-conf.h"
#include "conf/xml-util.h"

#define SNAPSHOT_SOURCE "snapshot XML"

static const char *const state_names[] = {
    [FERRY_SNAPSHOT_STATE_RUNNING] = "running",
    [FERRY_SNAPSHOT_STATE_PAUSED] = "paused",
    [FERRY_SNAPSHOT_STATE_SHUTOFF] = "shutoff",
};

static const char *const location_names[] = {
    [FERRY_SNAPSHOT_LOCATION_INTERNAL] = "internal",
    [FERRY_SNAPSHOT_LOCATION_NO] = "no",
};

const char *
ferry_snapshot_state_to_string(ferry_snapshot_state state)
{
    return (guint)state < G_N_ELEMENTS(state_names) ? state_names[state] : NULL;
}

const char *
ferry_snapshot_location_to_string(ferry_snapshot_location location)
{
    return (guint)location < G_N_ELEMENTS(location_names) ? location_names[location] : NULL;
}

/* The index of @text in @names, or 0 (each table's "not given"). */
static int
lookup_name(const char *const *names, gsize n, const char *text)
{
    for (gsize i = 1; i < n; i++) {
        if (names[i] && g_strcmp0(names[i], text) == 0)
            return (int)i;
    }
    return 0;
}

gboolean
ferry_snapshot_name_is_valid(const char *name, GError **error)
{
    gsize len = name ? strlen(name) : 0;

    if (len == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "snapshot name is empty");
        return FALSE;
    }
    if (len > FERRY_SNAPSHOT_NAME_MAX) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "snapshot name '%.20s...' is %zu characters long, more than %d",
                    name, len, FERRY_SNAPSHOT_NAME_MAX);
        return FALSE;
    }
    /* A leading '.' would hide the file, a leading '-' read as an option
     * to qemu-img. */
    if (name[0] == '.' || name[0] == '-') {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "snapshot name '%s' must not start with '%c'", name, name[0]);
        return FALSE;
    }
    for (const char *p = name; *p; p++) {
        if (g_ascii_isalnum(*p) || strchr("_.+-:", *p))
            continue;
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "snapshot name '%s' contains '%c' (0x%02x); only letters, digits and "
                    "'_.+-:' are allowed", name, g_ascii_isprint(*p) ? *p : '?',
                    (guchar)*p);
        return FALSE;
    }
    return TRUE;
}

/* ---- lifetime ------------------------------------------------------------ */

static void
snapshot_disk_free(gpointer data)
{
    ferry_snapshot_disk *disk = data;

    g_free(disk->name);
    g_free(disk);
}

ferry_snapshot_def *
ferry_snapshot_def_new(void)
{
    ferry_snapshot_def *def = g_new0(ferry_snapshot_def, 1);

    def->disks = g_ptr_array_new_with_free_func(snapshot_disk_free);
    return def;
}

void
ferry_snapshot_def_free(ferry_snapshot_def *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->description);
    g_free(def->parent);
    g_free(def->parent_origin);
    g_ptr_array_unref(def->disks);
    ferry_domain_def_free(def->dom);
    g_free(def);
}

ferry_snapshot_def *
ferry_snapshot_def_copy(const ferry_snapshot_def *def)
{
    ferry_snapshot_def *copy = ferry_snapshot_def_new();

    copy->name = g_strdup(def->name);
    copy->description = g_strdup(def->description);
    copy->state = def->state;
    copy->creation_time = def->creation_time;
    copy->parent = g_strdup(def->parent);
    copy->parent_origin = g_strdup(def->parent_origin);
    copy->memory = def->memory;
    copy->current = def->current;
    copy->dom = def->dom ? ferry_domain_def_copy(def->dom) : NULL;
    for (guint i = 0; i < def->disks->len; i++) {
        const ferry_snapshot_disk *disk = def->disks->pdata[i];
        ferry_snapshot_disk *d = g_new0(ferry_snapshot_disk, 1);

        d->name = g_strdup(disk->name);
        d->location = disk->location;
        g_ptr_array_add(copy->disks, d);
    }
    return copy;
}

ferry_snapshot_disk *
ferry_snapshot_def_find_disk(const ferry_snapshot_def *def, const char *name)
{
    for (guint i = 0; i < def->disks->len; i++) {
        ferry_snapshot_disk *disk = def->disks->pdata[i];

        if (g_strcmp0(disk->name, name) == 0)
            return disk;
    }
    return NULL;
}

/* ---- parsing ------------------------------------------------------------- */

/* What the walk needs besides the reader. */
typedef struct {
    ferry_xml_reader *r;
    guint flags;
    ferry_snapshot_def *def;
    xmlNodePtr domain_node;     /* <domain>, even one that did not parse */
    xmlNodePtr memory_node;
} walk;

/* An element only a redefinition may give: refused otherwise, and a
 * redefinition's required ones checked by the caller. */
static gboolean
check_redefine_only(walk *w, xmlNodePtr node, GError **error)
{
    if (!node || (w->flags & FERRY_SNAPSHOT_PARSE_REDEFINE))
        return TRUE;
    /* What is inside it is not worth reporting on top. */
    ferry_xml_mark_subtree_read(w->r, node);
    ferry_xml_error(w->r, error, node,
                    "ferry records it when it takes the snapshot; only a redefinition "
                    "(REDEFINE) may give it");
    return FALSE;
}

/* The text of the optional child @name, which only a redefinition gives. */
static gboolean
redefine_only_text(walk *w, xmlNodePtr root, const char *name, xmlNodePtr *ret_node,
                   char **ret_text, GError **error)
{
    return ferry_xml_child_text(w->r, root, name, FALSE, ret_node, ret_text, error) &&
           check_redefine_only(w, *ret_node, error);
}

static gboolean
parse_name_text(walk *w, xmlNodePtr parent, const char *what, char **ret, xmlNodePtr *ret_node,
                GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *name = NULL;
    xmlNodePtr node = NULL;

    if (!ferry_xml_child_text(w->r, parent, "name", FALSE, &node, &name, error))
        return FALSE;
    if (ret_node)
        *ret_node = node;
    if (name && !ferry_snapshot_name_is_valid(name, &local)) {
        ferry_xml_error(w->r, error, node, "%s%s%s", what ? what : "", what ? ": " : "",
                        local->message);
        return FALSE;
    }
    *ret = g_steal_pointer(&name);
    return TRUE;
}

static gboolean
parse_state(walk *w, xmlNodePtr root, GError **error)
{
    g_autofree char *text = NULL;
    xmlNodePtr node = NULL;

    if (!redefine_only_text(w, root, "state", &node, &text, error))
        return FALSE;
    if (!text)
        return TRUE;
    w->def->state = lookup_name(state_names, G_N_ELEMENTS(state_names), text);
    if (w->def->state == FERRY_SNAPSHOT_STATE_NONE) {
        ferry_xml_error(w->r, error, node,
                        "'%s' is not a snapshot state (running, paused or shutoff)", text);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_creation_time(walk *w, xmlNodePtr root, GError **error)
{
    g_autofree char *text = NULL;
    xmlNodePtr node = NULL;
    guint64 value = 0;

    if (!redefine_only_text(w, root, "creationTime", &node, &text, error))
        return FALSE;
    if (!text)
        return TRUE;
    if (ferry_xml_parse_uint(text, 1, G_MAXINT64, &value) != FERRY_XML_NUMBER_OK) {
        ferry_xml_error(w->r, error, node,
                        "'%s' is not a time in seconds since 1970 (a whole number above 0)",
                        text);
        return FALSE;
    }
    w->def->creation_time = (gint64)value;
    return TRUE;
}

static gboolean
parse_parent(walk *w, xmlNodePtr root, GError **error)
{
    xmlNodePtr node = NULL;
    xmlNodePtr name_node = NULL;

    if (!ferry_xml_child(w->r, root, "parent", FALSE, &node, error) ||
        !check_redefine_only(w, node, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (!parse_name_text(w, node, "parent", &w->def->parent, &name_node, error))
        return FALSE;
    if (!w->def->parent) {
        ferry_xml_error(w->r, error, node, "it names no snapshot (a <name> is needed)");
        return FALSE;
    }
    w->def->parent_origin = g_strdup_printf("%s:%ld: element 'parent'", w->r->source,
                                            xmlGetLineNo(node));
    return TRUE;
}

/* snapshot='internal|no' of @node, or DEFAULT when absent. */
static gboolean
parse_location(walk *w, xmlNodePtr node, gboolean required, ferry_snapshot_location *ret,
               GError **error)
{
    g_autofree char *text = NULL;

    if (!ferry_xml_attr(w->r, node, "snapshot", required, &text, error))
        return FALSE;
    *ret = FERRY_SNAPSHOT_LOCATION_DEFAULT;
    if (!text)
        return TRUE;
    *ret = lookup_name(location_names, G_N_ELEMENTS(location_names), text);
    if (*ret == FERRY_SNAPSHOT_LOCATION_DEFAULT) {
        ferry_xml_error(w->r, error, node,
                        "snapshot='%s': ferry takes internal snapshots only "
                        "(snapshot='internal' or 'no')", text);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_memory(walk *w, xmlNodePtr root, GError **error)
{
    xmlNodePtr node = NULL;

    if (!ferry_xml_child(w->r, root, "memory", FALSE, &node, error))
        return FALSE;
    w->memory_node = node;
    return !node || parse_location(w, node, TRUE, &w->def->memory, error);
}

static gboolean
parse_disk(walk *w, xmlNodePtr node, GError **error)
{
    g_autofree char *name = NULL;
    ferry_snapshot_location location;
    ferry_snapshot_disk *disk;

    if (!ferry_xml_attr(w->r, node, "name", TRUE, &name, error) ||
        !parse_location(w, node, FALSE, &location, error))
        return FALSE;
    if (ferry_snapshot_def_find_disk(w->def, name)) {
        ferry_xml_error(w->r, error, node, "disk '%s' is listed twice", name);
        return FALSE;
    }
    if (w->def->dom && !ferry_domain_def_find_disk(w->def->dom, name)) {
        ferry_xml_error(w->r, error, node, "disk '%s' does not exist in domain '%s'", name,
                        w->def->dom->name);
        return FALSE;
    }
    disk = g_new0(ferry_snapshot_disk, 1);
    disk->name = g_steal_pointer(&name);
    disk->location = location;
    g_ptr_array_add(w->def->disks, disk);
    return TRUE;
}

static void
parse_disks(walk *w, xmlNodePtr root)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    xmlNodePtr node = NULL;

    if (!ferry_xml_child(w->r, root, "disks", FALSE, &node, &local)) {
        ferry_xml_reader_defer(w->r, &local);
        return;
    }
    if (!node)
        return;
    disks = ferry_xml_children(w->r, node, "disk");
    for (guint i = 0; i < disks->len; i++) {
        if (!parse_disk(w, disks->pdata[i], &local))
            ferry_xml_reader_defer(w->r, &local);
    }
}

static gboolean
parse_active(walk *w, xmlNodePtr root, GError **error)
{
    g_autofree char *text = NULL;
    xmlNodePtr node = NULL;

    if (!ferry_xml_child_text(w->r, root, "active", FALSE, &node, &text, error))
        return FALSE;
    if (!node)
        return TRUE;
    if (!(w->flags & FERRY_SNAPSHOT_PARSE_INTERNAL)) {
        ferry_xml_error(w->r, error, node,
                        "only ferryd's own files say which snapshot is current "
                        "(create with the CURRENT flag instead)");
        return FALSE;
    }
    if (g_strcmp0(text, "0") != 0 && g_strcmp0(text, "1") != 0) {
        ferry_xml_error(w->r, error, node, "'%s' is neither 0 nor 1", text);
        return FALSE;
    }
    w->def->current = g_strcmp0(text, "1") == 0;
    return TRUE;
}

/* The embedded definition: the domain parser's, including its schema. */
static gboolean
parse_domain(walk *w, xmlNodePtr root, GError **error)
{
    xmlNodePtr node = NULL;

    if (!ferry_xml_child(w->r, root, "domain", FALSE, &node, error) ||
        !check_redefine_only(w, node, error))
        return FALSE;
    w->domain_node = node;
    if (!node)
        return TRUE;
    /* Its own walk reports what is in it; this one must not again. */
    ferry_xml_mark_subtree_read(w->r, node);
    w->def->dom = ferry_domain_def_parse_node(node->doc, node, w->r->source,
                                              FERRY_DOMAIN_DEF_PARSE_NO_UUID, error);
    return w->def->dom != NULL;
}

/* A redefinition describes a snapshot that exists: what a new one gets
 * from the driver, it must say. */
static void
check_redefinition(walk *w, xmlNodePtr root)
{
    g_autoptr(GError) local = NULL;

    if (!(w->flags & FERRY_SNAPSHOT_PARSE_REDEFINE))
        return;
    if (!w->def->name) {
        ferry_xml_error(w->r, &local, root, "a redefinition must name the snapshot (<name>)");
        ferry_xml_reader_defer(w->r, &local);
    }
    if (w->def->state == FERRY_SNAPSHOT_STATE_NONE) {
        ferry_xml_error(w->r, &local, root,
                        "a redefinition must say the domain's state at the time (<state>)");
        ferry_xml_reader_defer(w->r, &local);
    }
    if (!w->domain_node) {
        ferry_xml_error(w->r, &local, root,
                        "a redefinition must hold the domain's definition at the time "
                        "(<domain>)");
        ferry_xml_reader_defer(w->r, &local);
    }
}

ferry_snapshot_def *
ferry_snapshot_def_parse_string(const char *xml, const char *source_name, guint flags,
                                GError **error)
{
    const char *source = source_name ? source_name : SNAPSHOT_SOURCE;
    g_auto(ferry_xml_reader) r = { 0 };
    g_autoptr(ferry_snapshot_def) def = ferry_snapshot_def_new();
    g_autoptr(GError) local = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    walk w = { .r = &r, .flags = flags, .def = def };
    xmlNodePtr root;

    g_return_val_if_fail(xml != NULL, NULL);
    if (flags & ~(guint)(FERRY_SNAPSHOT_PARSE_REDEFINE | FERRY_SNAPSHOT_PARSE_INTERNAL)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: unsupported parse flags 0x%x", source, flags);
        return NULL;
    }
    doc = ferry_xml_read(xml, source, error);
    if (!doc)
        return NULL;
    root = xmlDocGetRootElement(doc);
    ferry_xml_reader_init(&r, source);
    if (!ferry_xml_expect_root(&r, root, "domainsnapshot", error))
        return NULL;

    /* Each element on its own: one's problem does not hide the next's.
     * The domain first, so that <disks> can be checked against it. */
    if (!parse_domain(&w, root, &local))
        ferry_xml_reader_defer(&r, &local);
    if (!parse_name_text(&w, root, NULL, &def->name, NULL, &local))
        ferry_xml_reader_defer(&r, &local);
    if (!ferry_xml_child_text(&r, root, "description", FALSE, NULL, &def->description, &local))
        ferry_xml_reader_defer(&r, &local);
    if (!parse_state(&w, root, &local))
        ferry_xml_reader_defer(&r, &local);
    if (!parse_creation_time(&w, root, &local))
        ferry_xml_reader_defer(&r, &local);
    if (!parse_parent(&w, root, &local))
        ferry_xml_reader_defer(&r, &local);
    if (!parse_memory(&w, root, &local))
        ferry_xml_reader_defer(&r, &local);
    parse_disks(&w, root);
    if (!parse_active(&w, root, &local))
        ferry_xml_reader_defer(&r, &local);
    if (def->state == FERRY_SNAPSHOT_STATE_SHUTOFF &&
        def->memory == FERRY_SNAPSHOT_LOCATION_INTERNAL) {
        ferry_xml_error(&r, &local, w.memory_node,
                        "a snapshot of a shut off domain has no memory to keep "
                        "(snapshot='no')");
        ferry_xml_reader_defer(&r, &local);
    }
    check_redefinition(&w, root);

    /* The schema only speaks when the walk found nothing (as domain-conf.c). */
    if (!ferry_xml_reader_check_all_read(&r, root, error) ||
        !ferry_xml_validate(FERRY_XML_SCHEMA_DOMAINSNAPSHOT, doc, root, source, error))
        return NULL;
    return g_steal_pointer(&def);
}

/* ---- formatting ---------------------------------------------------------- */

/* Appends @text with every line indented by @indent. */
static void
append_indented(GString *out, const char *indent, const char *text)
{
    const char *line = text;

    while (*line) {
        const char *end = strchr(line, '\n');
        gsize len = end ? (gsize)(end - line) + 1 : strlen(line);

        g_string_append(out, indent);
        g_string_append_len(out, line, (gssize)len);
        line += len;
    }
    if (out->len && out->str[out->len - 1] != '\n')
        g_string_append_c(out, '\n');
}

char *
ferry_snapshot_def_format(const ferry_snapshot_def *def, guint flags)
{
    GString *out = g_string_new("<domainsnapshot>\n");

    ferry_xml_format_text(out, "  ", "name", def->name);
    ferry_xml_format_text(out, "  ", "description", def->description);
    ferry_xml_format_text(out, "  ", "state", ferry_snapshot_state_to_string(def->state));
    if (def->parent) {
        g_string_append(out, "  <parent>\n");
        ferry_xml_format_text(out, "    ", "name", def->parent);
        g_string_append(out, "  </parent>\n");
    }
    if (def->creation_time > 0)
        g_string_append_printf(out, "  <creationTime>%" G_GINT64_FORMAT "</creationTime>\n",
                               def->creation_time);
    if (def->memory != FERRY_SNAPSHOT_LOCATION_DEFAULT) {
        g_string_append(out, "  <memory");
        ferry_xml_format_attr(out, "snapshot", ferry_snapshot_location_to_string(def->memory));
        g_string_append(out, "/>\n");
    }
    if (def->disks->len > 0) {
        g_string_append(out, "  <disks>\n");
        for (guint i = 0; i < def->disks->len; i++) {
            const ferry_snapshot_disk *disk = def->disks->pdata[i];

            g_string_append(out, "    <disk");
            ferry_xml_format_attr(out, "name", disk->name);
            if (disk->location != FERRY_SNAPSHOT_LOCATION_DEFAULT)
                ferry_xml_format_attr(out, "snapshot",
                                      ferry_snapshot_location_to_string(disk->location));
            g_string_append(out, "/>\n");
        }
        g_string_append(out, "  </disks>\n");
    }
    if (def->dom) {
        g_autofree char *dom = ferry_domain_def_format(def->dom);

        append_indented(out, "  ", dom);
    }
    if (flags & FERRY_SNAPSHOT_FORMAT_INTERNAL)
        ferry_xml_format_text(out, "  ", "active", def->current ? "1" : "0");
    g_string_append(out, "</domainsnapshot>\n");
    return g_string_free(out, FALSE);
}
