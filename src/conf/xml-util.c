/*
 * xml-util.c: libxml2 reading, schema validation and the "read everything"
 * tree walker shared by the documents of src/conf.
 *
 * Owns: libxml2's process-wide initialisation, the parsed built-in schemas
 * (parsed once, kept for the life of the process) and the translation of
 * libxml2's errors into FERRY_ERROR_XML.  Must not: print anything (libxml2
 * would write to stderr without the error handlers set here), read files or
 * know a document's vocabulary.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <string.h>

#include "conf/schemas.h"
#include "conf/xml-util.h"

static gpointer
init_libxml(gpointer data)
{
    xmlInitParser();
    /* Not thread-safe on its own; the schemas below need it. */
    xmlRelaxNGInitTypes();
    return NULL;
}

void
ferry_xml_init(void)
{
    static GOnce once = G_ONCE_INIT;

    g_once(&once, init_libxml, NULL);
}

/* The first error libxml2 reports through a structured handler. */
typedef struct {
    char *message;
    xmlNodePtr node;
    int line;
} first_error;

static void
first_error_clear(first_error *e)
{
    g_clear_pointer(&e->message, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(first_error, first_error_clear)

/* Keeps the first error, unless a later one names a node and it did not:
 * libxml2's RelaxNG reports some errors without saying where. */
static void
first_error_record(first_error *first, const xmlError *err)
{
    if (err->level < XML_ERR_ERROR || (first->message && (first->node || !err->node)))
        return;
    g_free(first->message);
    first->message = g_strdup(err->message ? err->message : "unknown error");
    g_strstrip(first->message);
    first->node = err->node;
    first->line = err->line;
}

/* libxml2 passes the parser context's userData, which is the context itself. */
static void
record_parser_error(void *data, xmlErrorPtr err)
{
    xmlParserCtxtPtr ctxt = data;
    first_error *first = ctxt->_private;

    /* The first syntax error is the cause; later ones are its echoes. */
    if (!first->message)
        first_error_record(first, err);
}

xmlDocPtr
ferry_xml_read(const char *xml, const char *source, GError **error)
{
    g_auto(first_error) first = { 0 };
    g_autoptr(xmlDoc) doc = NULL;
    xmlParserCtxtPtr ctxt;
    size_t len;
    gboolean well_formed;

    g_return_val_if_fail(xml != NULL, NULL);

    ferry_xml_init();
    len = strlen(xml);
    if (len > FERRY_XML_MAX_SIZE) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_XML,
                    "%s: the document is %zu bytes long, more than the limit of %d bytes",
                    source, len, FERRY_XML_MAX_SIZE);
        return NULL;
    }

    ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "%s: cannot allocate an XML parser", source);
        return NULL;
    }
    /* Per-context handler: no process-wide state, safe in worker threads. */
    ctxt->sax->serror = record_parser_error;
    ctxt->_private = &first;
    doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA |
                            XML_PARSE_BIG_LINES);
    well_formed = ctxt->wellFormed;
    if (!first.message && ctxt->lastError.code != XML_ERR_OK)
        first_error_record(&first, &ctxt->lastError);
    xmlFreeParserCtxt(ctxt);

    if (!doc || !well_formed) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_XML, "%s:%d: malformed XML: %s",
                    source, first.line, first.message ? first.message : "unknown error");
        return NULL;
    }
    /* A DTD could define entities; nothing ferry reads needs one. */
    if (doc->intSubset || doc->extSubset) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_XML,
                    "%s: a document type declaration (<!DOCTYPE>) is not allowed", source);
        return NULL;
    }
    if (!xmlDocGetRootElement(doc)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_XML,
                    "%s: the document has no root element", source);
        return NULL;
    }
    return g_steal_pointer(&doc);
}

/* ---- schemas ---------------------------------------------------------- */

typedef struct {
    xmlRelaxNGPtr rng;        /* NULL if the built-in text does not parse */
    char *error;
} cached_schema;

static const struct {
    const char *name;
    const char *text;
} builtin_schemas[] = {
    [FERRY_XML_SCHEMA_DOMAIN] = { "domain.rng", ferry_schema_domain_rng },
    [FERRY_XML_SCHEMA_CAPABILITIES] = { "capabilities.rng", ferry_schema_capabilities_rng },
    [FERRY_XML_SCHEMA_DOMAINSNAPSHOT] = { "domainsnapshot.rng",
                                          ferry_schema_domainsnapshot_rng },
};

/*
 * libxml2 does not document a parsed RelaxNG schema as safe to share
 * between concurrent validations, so validations take turns.  They take
 * microseconds for the documents ferry handles.
 */
static GMutex validate_lock;

static void
record_schema_error(void *data, xmlErrorPtr err)
{
    first_error_record(data, err);
}

const char *
ferry_xml_schema_text(ferry_xml_schema schema)
{
    g_return_val_if_fail(schema < G_N_ELEMENTS(builtin_schemas), NULL);
    return builtin_schemas[schema].text;
}

/* Runs once per schema; the result lives as long as the process. */
static gpointer
load_schema(gpointer data)
{
    ferry_xml_schema which = GPOINTER_TO_INT(data);
    cached_schema *cached = g_new0(cached_schema, 1);
    g_auto(first_error) first = { 0 };
    const char *text = builtin_schemas[which].text;
    xmlRelaxNGParserCtxtPtr pctxt;

    pctxt = xmlRelaxNGNewMemParserCtxt(text, (int)strlen(text));
    xmlRelaxNGSetParserStructuredErrors(pctxt, record_schema_error, &first);
    cached->rng = xmlRelaxNGParse(pctxt);
    xmlRelaxNGFreeParserCtxt(pctxt);
    if (!cached->rng)
        cached->error = g_strdup_printf("the built-in schema %s does not parse: %s",
                                        builtin_schemas[which].name,
                                        first.message ? first.message : "unknown error");
    return cached;
}

static const cached_schema *
get_schema(ferry_xml_schema which)
{
    static GOnce once[G_N_ELEMENTS(builtin_schemas)] = { G_ONCE_INIT, G_ONCE_INIT,
                                                         G_ONCE_INIT };

    ferry_xml_init();
    return g_once(&once[which], load_schema, GINT_TO_POINTER(which));
}

gboolean
ferry_xml_validate(ferry_xml_schema schema, xmlDocPtr doc, xmlNodePtr root,
                   const char *source, GError **error)
{
    g_auto(first_error) first = { 0 };
    g_autoptr(xmlDoc) copy = NULL;
    const cached_schema *cached;
    xmlRelaxNGValidCtxtPtr vctxt;
    xmlNodePtr where;
    int rc;

    g_return_val_if_fail(schema < G_N_ELEMENTS(builtin_schemas), FALSE);
    g_return_val_if_fail(doc != NULL && root != NULL, FALSE);

    cached = get_schema(schema);
    if (!cached->rng) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL, "%s: %s", source, cached->error);
        return FALSE;
    }

    if (xmlDocGetRootElement(doc) != root) {
        /* An embedded element: validate a copy as a document of its own.
         * Copies keep their line numbers. */
        copy = xmlNewDoc(BAD_CAST "1.0");
        xmlDocSetRootElement(copy, xmlDocCopyNode(root, copy, 1));
        doc = copy;
    }

    g_mutex_lock(&validate_lock);
    vctxt = xmlRelaxNGNewValidCtxt(cached->rng);
    xmlRelaxNGSetValidStructuredErrors(vctxt, record_schema_error, &first);
    rc = xmlRelaxNGValidateDoc(vctxt, doc);
    xmlRelaxNGFreeValidCtxt(vctxt);
    g_mutex_unlock(&validate_lock);

    if (rc == 0)
        return TRUE;
    where = first.node ? first.node : xmlDocGetRootElement(doc);
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_XML,
                "%s:%ld: element '%s': does not match the schema %s: %s",
                source, xmlGetLineNo(where), (const char *)where->name,
                builtin_schemas[schema].name,
                first.message ? first.message : "unknown error");
    return FALSE;
}

/* ---- the walker --------------------------------------------------------- */

void
ferry_xml_reader_init(ferry_xml_reader *r, const char *source)
{
    r->source = source;
    r->read = g_hash_table_new(g_direct_hash, g_direct_equal);
    r->problems = g_ptr_array_new_with_free_func((GDestroyNotify)g_error_free);
    r->origins = g_hash_table_new(g_direct_hash, g_direct_equal);
}

void
ferry_xml_reader_clear(ferry_xml_reader *r)
{
    g_clear_pointer(&r->read, g_hash_table_unref);
    g_clear_pointer(&r->problems, g_ptr_array_unref);
    g_clear_pointer(&r->origins, g_hash_table_unref);
}

void
ferry_xml_reader_set_origin(ferry_xml_reader *r, gconstpointer thing, xmlNodePtr node)
{
    g_return_if_fail(r != NULL && thing != NULL && node != NULL);

    g_hash_table_insert(r->origins, (gpointer)thing, node);
}

xmlNodePtr
ferry_xml_reader_origin(const ferry_xml_reader *r, gconstpointer thing)
{
    if (!r || !thing || !r->origins)
        return NULL;
    return g_hash_table_lookup(r->origins, thing);
}

gboolean
ferry_xml_reader_defer(ferry_xml_reader *r, GError **error)
{
    g_return_val_if_fail(error != NULL && *error != NULL, TRUE);

    g_ptr_array_add(r->problems, g_steal_pointer(error));
    return TRUE;
}

gboolean
ferry_xml_reader_has_problems(const ferry_xml_reader *r)
{
    return r->problems && r->problems->len > 0;
}

/* The line of a message "<source>:<line>: ...", G_MAXLONG when it has none.
 * The source may itself hold ':', so the number is the last "<digits>:"
 * before the first ": ". */
static long
problem_line(const GError *e, const char *source)
{
    const char *p = e->message;
    gsize n = strlen(source);

    if (strncmp(p, source, n) != 0 || p[n] != ':')
        return G_MAXLONG;
    p += n + 1;
    if (!g_ascii_isdigit(*p))
        return G_MAXLONG;
    return strtol(p, NULL, 10);
}

typedef struct {
    long line;
    guint order;
    const GError *e;
} problem_sort;

static int
compare_problems(gconstpointer a, gconstpointer b)
{
    const problem_sort *x = a;
    const problem_sort *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

gboolean
ferry_xml_reader_take_problems(ferry_xml_reader *r, GError **error)
{
    g_autofree problem_sort *sorted = NULL;
    GString *all;
    guint n = r->problems ? r->problems->len : 0;

    if (n == 0)
        return TRUE;
    if (n == 1) {
        g_propagate_error(error, g_ptr_array_steal_index(r->problems, 0));
        return FALSE;
    }
    sorted = g_new0(problem_sort, n);
    for (guint i = 0; i < n; i++) {
        sorted[i].e = g_ptr_array_index(r->problems, i);
        sorted[i].line = problem_line(sorted[i].e, r->source);
        sorted[i].order = i;
    }
    qsort(sorted, n, sizeof(*sorted), compare_problems);
    all = g_string_new(NULL);
    g_string_append_printf(all, "%s: %u problems:", r->source, n);
    for (guint i = 0; i < n; i++)
        g_string_append_printf(all, "\n  %s", sorted[i].e->message);
    g_set_error_literal(error, FERRY_ERROR, FERRY_ERROR_XML, all->str);
    g_string_free(all, TRUE);
    g_ptr_array_set_size(r->problems, 0);
    return FALSE;
}

static void
mark_read(ferry_xml_reader *r, gconstpointer node)
{
    g_hash_table_add(r->read, (gpointer)node);
}

static gboolean
was_read(const ferry_xml_reader *r, gconstpointer node)
{
    return g_hash_table_contains(r->read, node);
}

void
ferry_xml_error(const ferry_xml_reader *r, GError **error, xmlNodePtr node,
                const char *format, ...)
{
    g_autofree char *reason = NULL;
    va_list ap;

    va_start(ap, format);
    reason = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_XML, "%s:%ld: element '%s': %s",
                r->source, xmlGetLineNo(node), (const char *)node->name, reason);
}

static gboolean
is_element(xmlNodePtr node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && xmlStrEqual(node->name, BAD_CAST name);
}

gboolean
ferry_xml_child(ferry_xml_reader *r, xmlNodePtr parent, const char *name,
                gboolean required, xmlNodePtr *ret_node, GError **error)
{
    xmlNodePtr found = NULL;

    for (xmlNodePtr n = parent->children; n; n = n->next) {
        if (!is_element(n, name))
            continue;
        if (found) {
            ferry_xml_error(r, error, n, "only one is allowed inside '%s' (the first is at line %ld)",
                            (const char *)parent->name, xmlGetLineNo(found));
            return FALSE;
        }
        found = n;
    }
    if (!found && required) {
        ferry_xml_error(r, error, parent, "missing required element '%s'", name);
        return FALSE;
    }
    if (found)
        mark_read(r, found);
    *ret_node = found;
    return TRUE;
}

GPtrArray *
ferry_xml_children(ferry_xml_reader *r, xmlNodePtr parent, const char *name)
{
    GPtrArray *nodes = g_ptr_array_new();

    for (xmlNodePtr n = parent->children; n; n = n->next) {
        if (is_element(n, name)) {
            mark_read(r, n);
            g_ptr_array_add(nodes, n);
        }
    }
    return nodes;
}

char *
ferry_xml_text(ferry_xml_reader *r, xmlNodePtr node)
{
    xmlChar *content;
    char *text;

    for (xmlNodePtr n = node->children; n; n = n->next) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE)
            mark_read(r, n);
    }
    content = xmlNodeGetContent(node);
    text = g_strdup(content ? (const char *)content : "");
    xmlFree(content);
    return text;
}

gboolean
ferry_xml_child_text(ferry_xml_reader *r, xmlNodePtr parent, const char *name,
                     gboolean required, xmlNodePtr *ret_node, char **ret_text,
                     GError **error)
{
    xmlNodePtr node;

    if (!ferry_xml_child(r, parent, name, required, &node, error))
        return FALSE;
    if (ret_node)
        *ret_node = node;
    *ret_text = node ? ferry_xml_text(r, node) : NULL;
    return TRUE;
}

gboolean
ferry_xml_child_uuid(ferry_xml_reader *r, xmlNodePtr parent, char **ret_uuid, GError **error)
{
    g_autofree char *uuid = NULL;
    xmlNodePtr node;

    if (!ferry_xml_child_text(r, parent, "uuid", FALSE, &node, &uuid, error))
        return FALSE;
    if (uuid && !g_uuid_string_is_valid(uuid)) {
        ferry_xml_error(r, error, node, "'%s' is not a valid UUID "
                        "(expected the form 4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10)", uuid);
        return FALSE;
    }
    *ret_uuid = uuid ? g_ascii_strdown(uuid, -1) : NULL;
    return TRUE;
}

gboolean
ferry_xml_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name,
               gboolean required, char **ret_value, GError **error)
{
    xmlAttrPtr attr = xmlHasNsProp(node, BAD_CAST name, NULL);
    xmlChar *value;

    if (!attr) {
        if (required) {
            ferry_xml_error(r, error, node, "missing required attribute '%s'", name);
            return FALSE;
        }
        *ret_value = NULL;
        return TRUE;
    }
    mark_read(r, attr);
    value = xmlNodeGetContent((xmlNodePtr)attr);
    *ret_value = g_strdup(value ? (const char *)value : "");
    xmlFree(value);
    return TRUE;
}

gboolean
ferry_xml_expect_root(ferry_xml_reader *r, xmlNodePtr root, const char *name,
                      GError **error)
{
    if (!is_element(root, name)) {
        ferry_xml_error(r, error, root, "expected a '%s' element", name);
        return FALSE;
    }
    mark_read(r, root);
    return TRUE;
}

static char *
excerpt(const xmlChar *content)
{
    g_autofree char *text = g_strstrip(g_strdup((const char *)content));

    if (g_utf8_strlen(text, -1) <= 20)
        return g_steal_pointer(&text);
    return g_strdup_printf("%.*s...",
                           (int)(g_utf8_offset_to_pointer(text, 20) - text), text);
}

/* Defers a problem for everything below @root that was not read. */
static void
collect_unread(ferry_xml_reader *r, xmlNodePtr root)
{
    GError *local = NULL;

    for (xmlAttrPtr a = root->properties; a; a = a->next) {
        if (!was_read(r, a)) {
            ferry_xml_error(r, &local, root, "unknown attribute '%s'", (const char *)a->name);
            ferry_xml_reader_defer(r, &local);
        }
    }
    for (xmlNodePtr n = root->children; n; n = n->next) {
        switch (n->type) {
        case XML_ELEMENT_NODE:
            if (!was_read(r, n)) {
                ferry_xml_error(r, &local, n, "unknown element inside '%s'",
                                (const char *)root->name);
                ferry_xml_reader_defer(r, &local);
                break;
            }
            collect_unread(r, n);
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if (!was_read(r, n) && !xmlIsBlankNode(n)) {
                g_autofree char *text = excerpt(n->content);

                ferry_xml_error(r, &local, root, "unexpected text '%s'", text);
                ferry_xml_reader_defer(r, &local);
            }
            break;
        default:
            /* Comments and processing instructions carry no data. */
            break;
        }
    }
}

gboolean
ferry_xml_reader_check_all_read(ferry_xml_reader *r, xmlNodePtr root, GError **error)
{
    collect_unread(r, root);
    return ferry_xml_reader_take_problems(r, error);
}

void
ferry_xml_mark_subtree_read(ferry_xml_reader *r, xmlNodePtr node)
{
    mark_read(r, node);
    for (xmlAttrPtr a = node->properties; a; a = a->next)
        mark_read(r, a);
    for (xmlNodePtr n = node->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE)
            ferry_xml_mark_subtree_read(r, n);
        else
            mark_read(r, n);
    }
}

gboolean
ferry_xml_child_flag(ferry_xml_reader *r, xmlNodePtr parent, const char *name,
                     gboolean *ret_flag, GError **error)
{
    xmlNodePtr node;

    if (!ferry_xml_child(r, parent, name, FALSE, &node, error))
        return FALSE;
    *ret_flag = node != NULL;
    return TRUE;
}

ferry_xml_number
ferry_xml_parse_uint(const char *text, guint64 min, guint64 max, guint64 *ret)
{
    if (!*text || text[strspn(text, "0123456789")] != '\0')
        return FERRY_XML_NUMBER_INVALID;
    if (!g_ascii_string_to_unsigned(text, 10, min, max, ret, NULL))
        return FERRY_XML_NUMBER_OUT_OF_RANGE;
    return FERRY_XML_NUMBER_OK;
}

void
ferry_xml_escape(GString *out, const char *text, gboolean attribute)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&': g_string_append(out, "&amp;"); break;
        case '<': g_string_append(out, "&lt;"); break;
        case '>': g_string_append(out, "&gt;"); break;
        case '\'':
            g_string_append(out, attribute ? "&apos;" : "'");
            break;
        case '"':
            g_string_append(out, attribute ? "&quot;" : "\"");
            break;
        case '\r': g_string_append(out, "&#13;"); break;
        case '\n':
            g_string_append(out, attribute ? "&#10;" : "\n");
            break;
        case '\t':
            g_string_append(out, attribute ? "&#9;" : "\t");
            break;
        default:
            g_string_append_c(out, *p);
            break;
        }
    }
}

void
ferry_xml_format_text(GString *out, const char *indent, const char *name, const char *text)
{
    if (!text)
        return;
    g_string_append_printf(out, "%s<%s>", indent, name);
    ferry_xml_escape(out, text, FALSE);
    g_string_append_printf(out, "</%s>\n", name);
}

void
ferry_xml_format_attr(GString *out, const char *name, const char *value)
{
    g_string_append_printf(out, " %s='", name);
    ferry_xml_escape(out, value ? value : "", TRUE);
    g_string_append_c(out, '\'');
}
