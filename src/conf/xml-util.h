/*
 * xml-util.h: what the XML documents of src/conf share: a thread-safe
 * libxml2 reader with its errors turned into GErrors, validation against
 * the RelaxNG schemas embedded in the library, and a tree walker that
 * remembers what it read so that anything it did not read is reported.
 *
 * Owns: libxml2 set-up, the cached schemas, the "<source>:<line>: element
 * 'x': reason" message form.  Must not: know any document's vocabulary
 * (domain-conf.c and capabilities.c do), touch the file system or log.
 */
#pragma once

#include <glib.h>
#include <libxml/tree.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

/** The largest document ferry_xml_read() accepts, in bytes. */
#define FERRY_XML_MAX_SIZE (4 * 1024 * 1024)

/** The schemas built into the library from docs/schemas/. */
typedef enum {
    FERRY_XML_SCHEMA_DOMAIN,
    FERRY_XML_SCHEMA_CAPABILITIES,
    FERRY_XML_SCHEMA_DOMAINSNAPSHOT,
} ferry_xml_schema;

/**
 * ferry_xml_init:
 *
 * Initialises libxml2 once per process; every other function here calls it,
 * so callers only need it before using libxml2 directly.  Thread-safe.
 */
void ferry_xml_init(void);

/**
 * ferry_xml_read:
 * @xml: the document text
 * @source: how to name the document in errors
 * @error: return location for an error (FERRY_ERROR_XML)
 *
 * Parses a document without network access, entity substitution or DTD.
 * Errors read "<source>:<line>: malformed XML: <libxml2's message>".
 *
 * Returns: (transfer full): the document, or NULL on error.
 */
xmlDocPtr ferry_xml_read(const char *xml, const char *source, GError **error);

/**
 * ferry_xml_validate:
 * @schema: which built-in schema
 * @doc: the document holding @root
 * @root: the element to validate (the document's root or an element
 *   embedded deeper, e.g. a <domain> in a migration cookie)
 * @source: how to name the document in errors
 * @error: return location for an error (FERRY_ERROR_XML naming the element
 *   and line of the first violation)
 *
 * The schema is parsed once per process and shared; each call uses its own
 * validation context.
 *
 * Returns: TRUE if @root is valid.
 */
gboolean ferry_xml_validate(ferry_xml_schema schema, xmlDocPtr doc, xmlNodePtr root,
                            const char *source, GError **error);

/**
 * ferry_xml_schema_text:
 * @schema: which built-in schema
 *
 * Returns: (transfer none): the schema's text as embedded at build time.
 */
const char *ferry_xml_schema_text(ferry_xml_schema schema);

/**
 * ferry_xml_reader:
 *
 * A walk over one document.  Every element, attribute and text node that a
 * ferry_xml_*() accessor returns is marked as read; at the end
 * ferry_xml_reader_check_all_read() reports the first that was not, so a
 * parser never silently ignores what it does not understand.
 */
typedef struct {
    const char *source;     /* (not owned) */
    GHashTable *read;       /* xmlNode* / xmlAttr* -> itself */
    GPtrArray *problems;    /* GError*: deferred errors, see ferry_xml_reader_defer() */
    GHashTable *origins;    /* what the walk built -> its element, see ferry_xml_reader_set_origin() */
} ferry_xml_reader;

/** ferry_xml_reader_init: starts a walk; @source names the document. */
void ferry_xml_reader_init(ferry_xml_reader *r, const char *source);

/** ferry_xml_reader_clear: ends a walk; safe to call twice. */
void ferry_xml_reader_clear(ferry_xml_reader *r);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ferry_xml_reader, ferry_xml_reader_clear)

/**
 * ferry_xml_reader_set_origin:
 * @r: the walk
 * @thing: a structure (or a field of one) the walk built from @node
 * @node: its element
 *
 * Remembers where @thing came from, so that a check made after the walk
 * (two devices on one address, say) can still name the file, line and
 * element (ferry_xml_reader_origin()).  @thing must live as long as @r;
 * setting it again replaces its element.
 */
void ferry_xml_reader_set_origin(ferry_xml_reader *r, gconstpointer thing, xmlNodePtr node);

/**
 * ferry_xml_reader_origin:
 * @r: the walk
 * @thing: what ferry_xml_reader_set_origin() was given
 *
 * Returns: (transfer none) (nullable): @thing's element, NULL for what the
 * walk did not build (or NULL @r).
 */
xmlNodePtr ferry_xml_reader_origin(const ferry_xml_reader *r, gconstpointer thing);

/**
 * ferry_xml_error:
 * @r: the walk
 * @error: (nullable): return location for an error
 * @node: the element the error is about
 * @format: printf format of the reason, a whole sentence
 *
 * Sets @error (FERRY_ERROR_XML) to "<source>:<line>: element '<name>': <reason>".
 */
void ferry_xml_error(const ferry_xml_reader *r, GError **error, xmlNodePtr node,
                     const char *format, ...) G_GNUC_PRINTF(4, 5);

/**
 * ferry_xml_child:
 * @r: the walk
 * @parent: an element
 * @name: the name of the wanted child element
 * @required: whether its absence is an error
 * @ret_node: (out) (nullable): the child, NULL if absent and optional
 * @error: return location for an error
 *
 * Returns: FALSE if the child is required and missing, or appears twice.
 */
gboolean ferry_xml_child(ferry_xml_reader *r, xmlNodePtr parent, const char *name,
                         gboolean required, xmlNodePtr *ret_node, GError **error);

/**
 * ferry_xml_children:
 * @r: the walk
 * @parent: an element
 * @name: an element name
 *
 * Returns: (transfer container): every child element named @name, in
 *   document order; possibly empty.
 */
GPtrArray *ferry_xml_children(ferry_xml_reader *r, xmlNodePtr parent, const char *name);

/**
 * ferry_xml_text:
 * @r: the walk
 * @node: an element holding only text
 *
 * Returns: (transfer full): its text, exactly as written (possibly "").
 */
char *ferry_xml_text(ferry_xml_reader *r, xmlNodePtr node);

/**
 * ferry_xml_child_text:
 * @r: the walk
 * @parent: an element
 * @name: the name of a child holding only text
 * @required: whether its absence is an error
 * @ret_node: (out) (optional) (nullable): the child, for error messages
 * @ret_text: (out) (transfer full) (nullable): its text; NULL if absent
 * @error: return location for an error
 *
 * ferry_xml_child() followed by ferry_xml_text().
 *
 * Returns: FALSE on error.
 */
gboolean ferry_xml_child_text(ferry_xml_reader *r, xmlNodePtr parent, const char *name,
                              gboolean required, xmlNodePtr *ret_node, char **ret_text,
                              GError **error);

/**
 * ferry_xml_child_uuid:
 * @r: the walk
 * @parent: an element
 * @ret_uuid: (out) (transfer full) (nullable): the lower-cased UUID of the
 *   optional <uuid> child; NULL if absent
 * @error: return location for an error
 *
 * Returns: FALSE if the child appears twice or is not a UUID.
 */
gboolean ferry_xml_child_uuid(ferry_xml_reader *r, xmlNodePtr parent, char **ret_uuid,
                              GError **error);

/**
 * ferry_xml_attr:
 * @r: the walk
 * @node: an element
 * @name: an attribute name
 * @required: whether its absence is an error
 * @ret_value: (out) (transfer full) (nullable): its value; NULL if absent
 * @error: return location for an error
 *
 * Returns: FALSE if the attribute is required and missing.
 */
gboolean ferry_xml_attr(ferry_xml_reader *r, xmlNodePtr node, const char *name,
                        gboolean required, char **ret_value, GError **error);

/**
 * ferry_xml_expect_root:
 * @r: the walk
 * @root: an element
 * @name: the name it must have
 * @error: return location for an error
 *
 * Returns: FALSE, naming both names, if @root is not a @name element.
 */
gboolean ferry_xml_expect_root(ferry_xml_reader *r, xmlNodePtr root, const char *name,
                               GError **error);

/**
 * ferry_xml_mark_subtree_read:
 * @r: the walk
 * @node: an element
 *
 * Marks @node and everything below it as read: for an element kept
 * verbatim (<metadata>), and for one already refused, whose contents
 * reported as unknown on top of its first problem would only be noise.
 */
void ferry_xml_mark_subtree_read(ferry_xml_reader *r, xmlNodePtr node);

/**
 * ferry_xml_child_flag:
 * @r: the walk
 * @parent: an element
 * @name: the name of an empty child element such as <readonly/>
 * @ret_flag: (out): whether it is there
 * @error: return location for an error
 *
 * Returns: FALSE if the child appears twice.
 */
gboolean ferry_xml_child_flag(ferry_xml_reader *r, xmlNodePtr parent, const char *name,
                              gboolean *ret_flag, GError **error);

/**
 * ferry_xml_reader_defer:
 * @r: the walk
 * @error: an error set by a ferry_xml_*() accessor or ferry_xml_error()
 *
 * Keeps *@error among the walk's problems and clears it, so that the walk
 * goes on to the next element and a document's every problem is reported
 * at once.  A parser defers at the level of whole elements (one <disk>,
 * one <cpu>): what an element's later checks would say after its first
 * failure is not worth reporting.
 *
 * Returns: TRUE, so that it can end a condition: `if (!parse(..)) defer(..)`.
 */
gboolean ferry_xml_reader_defer(ferry_xml_reader *r, GError **error);

/**
 * ferry_xml_reader_has_problems:
 * @r: the walk
 *
 * Returns: whether an error was deferred.
 */
gboolean ferry_xml_reader_has_problems(const ferry_xml_reader *r);

/**
 * ferry_xml_reader_take_problems:
 * @r: the walk
 * @error: return location for an error
 *
 * Sets @error (FERRY_ERROR_XML) to every deferred problem, one per line,
 * in document order (by line, then in the order they were found), the
 * first line prefixed by how many there are when more than one.
 *
 * Returns: FALSE if there was a problem, TRUE otherwise.
 */
gboolean ferry_xml_reader_take_problems(ferry_xml_reader *r, GError **error);

/**
 * ferry_xml_reader_check_all_read:
 * @r: the walk
 * @root: where the walk started
 * @error: return location for an error
 *
 * Every element, attribute or non-blank text below @root that was not read
 * becomes a deferred problem (ferry_xml_reader_defer()), named with its
 * line; then all deferred problems are reported at once.
 *
 * Returns: FALSE if anything was not read or a problem had been deferred.
 */
gboolean ferry_xml_reader_check_all_read(ferry_xml_reader *r, xmlNodePtr root,
                                         GError **error);

typedef enum {
    FERRY_XML_NUMBER_OK,
    FERRY_XML_NUMBER_INVALID,        /* not only decimal digits */
    FERRY_XML_NUMBER_OUT_OF_RANGE,   /* digits, but outside [min, max] */
} ferry_xml_number;

/**
 * ferry_xml_parse_uint:
 * @text: the text of an element or attribute, already stripped if blanks
 *   around the number are allowed
 * @min: the smallest value accepted
 * @max: the largest value accepted
 * @ret: (out): the value; set only on FERRY_XML_NUMBER_OK
 *
 * Accepts decimal digits only: no sign, no blanks, no base prefix.
 *
 * Returns: what was found, so callers can word their own errors.
 */
ferry_xml_number ferry_xml_parse_uint(const char *text, guint64 min, guint64 max,
                                      guint64 *ret);

/**
 * ferry_xml_escape:
 * @out: where to append
 * @text: text to write as character data or an attribute value
 * @attribute: whether @text is an attribute value
 *
 * Appends @text with &, < and > escaped (in an attribute also ' and ", and
 * tab and newline), and carriage return as a character reference, so that
 * parsing the output gives back @text exactly.
 */
void ferry_xml_escape(GString *out, const char *text, gboolean attribute);

/**
 * ferry_xml_format_text:
 * @out: where to append
 * @indent: the blanks before the element
 * @name: an element name
 * @text: (nullable): the element's text
 *
 * Appends "<indent><name>text</name>\n", or nothing when @text is NULL.
 */
void ferry_xml_format_text(GString *out, const char *indent, const char *name,
                           const char *text);

/**
 * ferry_xml_format_attr:
 * @out: where to append
 * @name: an attribute name
 * @value: (nullable): its value; NULL is written as ''
 *
 * Appends " name='value'", escaped.
 */
void ferry_xml_format_attr(GString *out, const char *name, const char *value);

G_END_DECLS
