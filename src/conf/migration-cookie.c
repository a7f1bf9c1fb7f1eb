/*
 * migration-cookie.c: the migration cookie document (see migration-cookie.h).
 *
 * Owns: the ferry_migration_cookie structure, its canonical formatter and
 * its parser: one function per section, a walk that reads every element
 * and attribute of a known section, and the mandatory='yes' rule for
 * sections this host does not know.  Must not: act on what a cookie says
 * (the drivers do) or trust it: a cookie comes from a peer, so its size is
 * checked before it is parsed and every value is checked before it is
 * stored.
 *
 * Errors: the section parsers report through ferry_xml_error() like the
 * other documents ("migration cookie:LINE: element 'x': reason"); the one
 * exit of ferry_migration_cookie_parse() turns that into the cookie form
 * "PHASE: migration cookie line LINE: <SECTION>: element 'x': reason"
 * with the code FERRY_ERROR_COOKIE.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/migration-cookie.h"
#include "conf/xml-util.h"
#include "util/confine.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlBuffer, xmlBufferFree)

#define COOKIE_SOURCE "migration cookie"
#define COOKIE_ROOT "ferry-migration"
/* A cookie carries identities, a few numbers and at most one domain
 * definition: far below this. */
#define COOKIE_MAX_SIZE (1024 * 1024)

static void
cookie_disk_free(ferry_cookie_disk *disk)
{
    if (!disk)
        return;
    g_free(disk->target);
    g_free(disk->format);
    g_free(disk->backing);
    g_free(disk);
}

static ferry_migration_cookie *
cookie_alloc(void)
{
    ferry_migration_cookie *cookie = g_new0(ferry_migration_cookie, 1);

    cookie->disks = g_ptr_array_new_with_free_func((GDestroyNotify)cookie_disk_free);
    return cookie;
}

ferry_migration_cookie *
ferry_migration_cookie_new(const char *id, const char *host_uuid, const char *hostname)
{
    ferry_migration_cookie *cookie;

    g_return_val_if_fail(host_uuid != NULL, NULL);

    cookie = cookie_alloc();
    cookie->id = id ? g_ascii_strdown(id, -1) : g_uuid_string_random();
    cookie->host_uuid = g_ascii_strdown(host_uuid, -1);
    cookie->hostname = g_strdup(hostname);
    return cookie;
}

gboolean
ferry_migration_cookie_has_feature(const ferry_migration_cookie *cookie, const char *name)
{
    return cookie && cookie->features &&
           g_ptr_array_find_with_equal_func(cookie->features, name, g_str_equal, NULL);
}

void
ferry_migration_cookie_add_feature(ferry_migration_cookie *cookie, const char *name)
{
    if (!cookie->features)
        cookie->features = g_ptr_array_new_with_free_func(g_free);
    if (!ferry_migration_cookie_has_feature(cookie, name))
        g_ptr_array_add(cookie->features, g_strdup(name));
}

void
ferry_migration_cookie_free(ferry_migration_cookie *cookie)
{
    if (!cookie)
        return;
    g_free(cookie->id);
    g_free(cookie->host_uuid);
    g_free(cookie->hostname);
    g_free(cookie->dom_name);
    g_free(cookie->dom_uuid);
    g_clear_pointer(&cookie->features, g_ptr_array_unref);
    g_clear_pointer(&cookie->disks, g_ptr_array_unref);
    ferry_domain_def_free(cookie->persistent);
    g_free(cookie->result_message);
    g_free(cookie->lease_lockspace);
    g_free(cookie->lease_holder);
    g_free(cookie->peer_uri);
    g_free(cookie->relay_token);
    g_free(cookie->definition_token);
    g_free(cookie->snapshots_token);
    g_free(cookie->snapshots_note);
    g_free(cookie);
}

void
ferry_migration_cookie_add_disk(ferry_migration_cookie *cookie, const char *target,
                                const char *format, guint64 capacity)
{
    ferry_cookie_disk *disk;

    g_return_if_fail(cookie != NULL && target != NULL && format != NULL);

    disk = g_new0(ferry_cookie_disk, 1);
    disk->target = g_strdup(target);
    disk->format = g_strdup(format);
    disk->capacity = capacity;
    g_ptr_array_add(cookie->disks, disk);
    cookie->has_nbd = TRUE;
}

/* ---- the statistics, as a table ------------------------------------------ */

typedef enum {
    STAT_INT64,       /* a gint64 field: milliseconds */
    STAT_UINT64,      /* a guint64 field: bytes */
} stat_type;

static const struct {
    const char *element;
    stat_type type;
    gsize offset;
    gboolean optional;    /* since 0.3: written only when not 0, so that a
                           * cookie for an older peer reads as before */
} statistics[] = {
    { "total-ms", STAT_INT64, G_STRUCT_OFFSET(ferry_migration_cookie, total_ms), FALSE },
    { "downtime-ms", STAT_INT64, G_STRUCT_OFFSET(ferry_migration_cookie, downtime_ms), FALSE },
    { "setup-ms", STAT_INT64, G_STRUCT_OFFSET(ferry_migration_cookie, setup_ms), FALSE },
    { "data-total", STAT_UINT64, G_STRUCT_OFFSET(ferry_migration_cookie, data_total), FALSE },
    { "data-transferred", STAT_UINT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, data_transferred), FALSE },
    { "disk-total", STAT_UINT64, G_STRUCT_OFFSET(ferry_migration_cookie, disk_total), FALSE },
    { "disk-transferred", STAT_UINT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, disk_transferred), FALSE },
    { "passes", STAT_UINT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, passes), TRUE },
    { "stopped-us", STAT_INT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, stopped_real_us), TRUE },
    { "resumed-us", STAT_INT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, resumed_real_us), TRUE },
    { "guest-downtime-ms", STAT_INT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, guest_downtime_ms), TRUE },
    { "time-setup-ms", STAT_INT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, time_setup_ms), TRUE },
    { "time-disk-ms", STAT_INT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, time_disk_ms), TRUE },
    { "time-memory-ms", STAT_INT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, time_memory_ms), TRUE },
    { "time-switchover-ms", STAT_INT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, time_switchover_ms), TRUE },
    { "time-overhead-ms", STAT_INT64,
      G_STRUCT_OFFSET(ferry_migration_cookie, time_overhead_ms), TRUE },
    { "attempts", STAT_UINT64, G_STRUCT_OFFSET(ferry_migration_cookie, attempts), TRUE },
    { "reconnects", STAT_UINT64, G_STRUCT_OFFSET(ferry_migration_cookie, reconnects), TRUE },
};

static guint64
stat_get(const ferry_migration_cookie *cookie, guint i)
{
    const char *field = (const char *)cookie + statistics[i].offset;

    if (statistics[i].type == STAT_INT64)
        return (guint64)*(const gint64 *)field;
    return *(const guint64 *)field;
}

/* @value fits the field: the parser caps STAT_INT64 at G_MAXINT64. */
static void
stat_set(ferry_migration_cookie *cookie, guint i, guint64 value)
{
    char *field = (char *)cookie + statistics[i].offset;

    if (statistics[i].type == STAT_INT64)
        *(gint64 *)field = (gint64)value;
    else
        *(guint64 *)field = value;
}

/* ---- formatting ---------------------------------------------------------- */

static void
format_features(GString *out, const GPtrArray *features)
{
    if (features->len == 0) {
        g_string_append(out, "  <features/>\n");
        return;
    }
    g_string_append(out, "  <features>\n");
    for (guint i = 0; i < features->len; i++) {
        g_string_append(out, "    <feature");
        ferry_xml_format_attr(out, "name", g_ptr_array_index(features, i));
        g_string_append(out, "/>\n");
    }
    g_string_append(out, "  </features>\n");
}

static void
format_statistics(GString *out, const ferry_migration_cookie *cookie)
{
    g_string_append(out, "  <statistics>\n");
    for (guint i = 0; i < G_N_ELEMENTS(statistics); i++) {
        const char *name = statistics[i].element;

        if (statistics[i].optional && stat_get(cookie, i) == 0)
            continue;
        if (statistics[i].type == STAT_INT64)
            g_string_append_printf(out, "    <%s>%" G_GINT64_FORMAT "</%s>\n", name,
                                   (gint64)stat_get(cookie, i), name);
        else
            g_string_append_printf(out, "    <%s>%" G_GUINT64_FORMAT "</%s>\n", name,
                                   stat_get(cookie, i), name);
    }
    g_string_append(out, "  </statistics>\n");
}

static void
format_nbd(GString *out, const ferry_migration_cookie *cookie)
{
    g_string_append(out, "  <nbd");
    if (cookie->nbd_port)
        g_string_append_printf(out, " port='%u'", cookie->nbd_port);
    if (cookie->disks->len == 0) {
        g_string_append(out, "/>\n");
        return;
    }
    g_string_append(out, ">\n");
    for (guint i = 0; i < cookie->disks->len; i++) {
        const ferry_cookie_disk *disk = g_ptr_array_index(cookie->disks, i);

        g_string_append(out, "    <disk");
        ferry_xml_format_attr(out, "target", disk->target);
        ferry_xml_format_attr(out, "format", disk->format);
        g_string_append_printf(out, " capacity='%" G_GUINT64_FORMAT "'", disk->capacity);
        if (disk->backing)
            ferry_xml_format_attr(out, "backing", disk->backing);
        g_string_append(out, "/>\n");
    }
    g_string_append(out, "  </nbd>\n");
}

/* @node at @depth levels of two blanks.  An element holding text is written
 * on one line exactly as it is (its text may span lines: indenting those
 * would change it); others hold elements only, one a line. */
static void
format_element(GString *out, xmlNodePtr node, guint depth)
{
    gboolean has_text = FALSE;

    g_string_append_printf(out, "%*s<%s", (int)depth * 2, "", (const char *)node->name);
    for (xmlAttrPtr a = node->properties; a; a = a->next) {
        xmlChar *value = xmlNodeGetContent((xmlNodePtr)a);

        ferry_xml_format_attr(out, (const char *)a->name, (const char *)value);
        xmlFree(value);
    }
    if (!node->children) {
        g_string_append(out, "/>\n");
        return;
    }
    for (xmlNodePtr n = node->children; n; n = n->next)
        has_text |= n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE;
    if (has_text) {
        g_autoptr(xmlBuffer) buf = xmlBufferCreate();

        for (xmlNodePtr n = node->children; n; n = n->next)
            xmlNodeDump(buf, node->doc, n, 0, 0);
        g_string_append_printf(out, ">%s</%s>\n", (const char *)xmlBufferContent(buf),
                               (const char *)node->name);
        return;
    }
    g_string_append(out, ">\n");
    for (xmlNodePtr n = node->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE)
            format_element(out, n, depth + 1);
    }
    g_string_append_printf(out, "%*s</%s>\n", (int)depth * 2, "", (const char *)node->name);
}

/* The definition in domain-conf.c's canonical form, re-indented to sit
 * inside <persistent>. */
static void
format_persistent(GString *out, const ferry_domain_def *def)
{
    g_autofree char *xml = ferry_domain_def_format(def);
    g_autoptr(xmlDoc) doc = ferry_xml_read(xml, "domain XML", NULL);

    g_string_append(out, "  <persistent>\n");
    if (doc)
        format_element(out, xmlDocGetRootElement(doc), 2);
    else
        g_string_append(out, xml);   /* not reached: the formatter's output parses */
    g_string_append(out, "  </persistent>\n");
}

static gboolean
has_snapshots(const ferry_migration_cookie *cookie)
{
    return cookie->snapshots_count || cookie->has_snapshots_received || cookie->snapshots_left;
}

static void
format_snapshots(GString *out, const ferry_migration_cookie *cookie)
{
    g_string_append(out, "  <snapshots");
    if (cookie->snapshots_count)
        g_string_append_printf(out, " count='%u'", cookie->snapshots_count);
    if (cookie->snapshots_token)
        ferry_xml_format_attr(out, "token", cookie->snapshots_token);
    if (cookie->has_snapshots_received)
        g_string_append_printf(out, " received='%u'", cookie->snapshots_received);
    if (cookie->snapshots_left)
        g_string_append_printf(out, " left='%u'", cookie->snapshots_left);
    if (!cookie->snapshots_note || !*cookie->snapshots_note) {
        g_string_append(out, "/>\n");
        return;
    }
    g_string_append_c(out, '>');
    ferry_xml_escape(out, cookie->snapshots_note, FALSE);
    g_string_append(out, "</snapshots>\n");
}

static void
format_result(GString *out, const ferry_migration_cookie *cookie)
{
    g_string_append_printf(out, "  <result ok='%s'", cookie->result_ok ? "yes" : "no");
    if (cookie->result_aborted)
        g_string_append(out, " aborted='yes'");
    if (!cookie->result_message || !*cookie->result_message) {
        g_string_append(out, "/>\n");
        return;
    }
    g_string_append_c(out, '>');
    ferry_xml_escape(out, cookie->result_message, FALSE);
    g_string_append(out, "</result>\n");
}

char *
ferry_migration_cookie_format(const ferry_migration_cookie *cookie)
{
    GString *out;

    g_return_val_if_fail(cookie != NULL, NULL);

    out = g_string_new("<" COOKIE_ROOT ">\n");
    ferry_xml_format_text(out, "  ", "id", cookie->id);
    g_string_append(out, "  <host");
    ferry_xml_format_attr(out, "uuid", cookie->host_uuid);
    if (cookie->hostname)
        ferry_xml_format_attr(out, "name", cookie->hostname);
    g_string_append(out, "/>\n");
    if (cookie->dom_name) {
        g_string_append(out, "  <domain");
        ferry_xml_format_attr(out, "name", cookie->dom_name);
        if (cookie->dom_uuid)
            ferry_xml_format_attr(out, "uuid", cookie->dom_uuid);
        g_string_append(out, "/>\n");
    }
    if (cookie->peer_uri) {
        g_string_append(out, "  <peer");
        ferry_xml_format_attr(out, "uri", cookie->peer_uri);
        g_string_append(out, "/>\n");
    }
    if (cookie->features)
        format_features(out, cookie->features);
    if (cookie->has_lease) {
        g_string_append_printf(out, "  <lease held='%s'", cookie->lease_held ? "yes" : "no");
        if (cookie->lease_lockspace)
            ferry_xml_format_attr(out, "lockspace", cookie->lease_lockspace);
        if (cookie->lease_holder)
            ferry_xml_format_attr(out, "holder", cookie->lease_holder);
        g_string_append(out, "/>\n");
    }
    if (cookie->has_stats)
        format_statistics(out, cookie);
    if (cookie->relay_token) {
        g_string_append(out, "  <relay");
        ferry_xml_format_attr(out, "token", cookie->relay_token);
        g_string_append(out, "/>\n");
    }
    if (cookie->definition_token) {
        g_string_append(out, "  <definition");
        ferry_xml_format_attr(out, "token", cookie->definition_token);
        g_string_append(out, "/>\n");
    }
    if (cookie->has_nbd)
        format_nbd(out, cookie);
    if (has_snapshots(cookie))
        format_snapshots(out, cookie);
    if (cookie->persistent)
        format_persistent(out, cookie->persistent);
    if (cookie->has_result)
        format_result(out, cookie);
    g_string_append(out, "</" COOKIE_ROOT ">\n");
    return g_string_free(out, FALSE);
}

/* ---- parsing: values ----------------------------------------------------- */

/* A uuid, lower-cased into @ret_uuid.  @what prefixes errors, e.g.
 * "attribute 'uuid': ", or "" for the element's text. */
static gboolean
check_uuid(ferry_xml_reader *r, xmlNodePtr node, const char *what, const char *text,
           char **ret_uuid, GError **error)
{
    if (!g_uuid_string_is_valid(text)) {
        ferry_xml_error(r, error, node, "%s'%s' is not a valid UUID "
                        "(expected the form 4f9a2c1e-0b7d-4c3a-9e51-8d2f6a7b3c10)", what, text);
        return FALSE;
    }
    *ret_uuid = g_ascii_strdown(text, -1);
    return TRUE;
}

/* A non-negative integer no larger than @max.  @what as for check_uuid(). */
static gboolean
check_number(ferry_xml_reader *r, xmlNodePtr node, const char *what, const char *text,
             guint64 max, guint64 *ret_value, GError **error)
{
    switch (ferry_xml_parse_uint(text, 0, max, ret_value)) {
    case FERRY_XML_NUMBER_OK:
        return TRUE;
    case FERRY_XML_NUMBER_OUT_OF_RANGE:
        ferry_xml_error(r, error, node, "%s'%s' is too large (more than %" G_GUINT64_FORMAT ")",
                        what, text, max);
        return FALSE;
    case FERRY_XML_NUMBER_INVALID:
        break;
    }
    if (text[0] == '-' && text[1] && text[1 + strspn(text + 1, "0123456789")] == '\0')
        ferry_xml_error(r, error, node, "%s'%s' is negative", what, text);
    else
        ferry_xml_error(r, error, node, "%s'%s' is not a number", what, text);
    return FALSE;
}

/* A name of [a-z0-9-]+, as features are named. */
static gboolean
is_feature_name(const char *name)
{
    return *name && name[strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-")] == '\0';
}

/* A disk target: letters and digits, as in vda or hdc. */
static gboolean
is_target_name(const char *name)
{
    return *name &&
           name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")] ==
           '\0';
}

/* ---- parsing: sections --------------------------------------------------- */

static gboolean
parse_id(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
         GError **error)
{
    g_autofree char *text = ferry_xml_text(r, node);

    return check_uuid(r, node, "", g_strstrip(text), &cookie->id, error);
}

static gboolean
parse_host(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
           GError **error)
{
    g_autofree char *uuid = NULL;

    return ferry_xml_attr(r, node, "uuid", TRUE, &uuid, error) &&
           check_uuid(r, node, "attribute 'uuid': ", uuid, &cookie->host_uuid, error) &&
           ferry_xml_attr(r, node, "name", FALSE, &cookie->hostname, error);
}

static gboolean
parse_domain(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
             GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *uuid = NULL;

    if (!ferry_xml_attr(r, node, "name", TRUE, &cookie->dom_name, error) ||
        !ferry_xml_attr(r, node, "uuid", FALSE, &uuid, error))
        return FALSE;
    if (!ferry_domain_name_is_valid(cookie->dom_name, &local)) {
        ferry_xml_error(r, error, node, "attribute 'name': %s", local->message);
        return FALSE;
    }
    return !uuid || check_uuid(r, node, "attribute 'uuid': ", uuid, &cookie->dom_uuid, error);
}

/* The peer's URI is only kept here; the daemon that dials it checks it
 * as any connection URI.  What is refused here: what no URI looks like. */
static gboolean
parse_peer(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
           GError **error)
{
    g_autofree char *uri = NULL;

    if (!ferry_xml_attr(r, node, "uri", TRUE, &uri, error))
        return FALSE;
    if (!*uri || strlen(uri) > 1024 || !strstr(uri, "://") ||
        strcspn(uri, " \t\r\n\"'<>\\") != strlen(uri)) {
        ferry_xml_error(r, error, node, "attribute 'uri': '%.64s' is not a connection URI "
                        "(such as qemu+tcp://HOST/system)", uri);
        return FALSE;
    }
    cookie->peer_uri = g_steal_pointer(&uri);
    return TRUE;
}

/* A 128-bit secret, as 32 lower-case hexadecimal digits, in @node's
 * attribute 'token'; *ret_token stays NULL when it is absent and not
 * @required. */
static gboolean
parse_token(ferry_xml_reader *r, xmlNodePtr node, gboolean required, char **ret_token,
            GError **error)
{
    g_autofree char *token = NULL;

    if (!ferry_xml_attr(r, node, "token", required, &token, error))
        return FALSE;
    if (token && (strlen(token) != 32 || strspn(token, "0123456789abcdef") != 32)) {
        ferry_xml_error(r, error, node, "attribute 'token': '%.64s' is not 32 lower-case "
                        "hexadecimal digits", token);
        return FALSE;
    }
    *ret_token = g_steal_pointer(&token);
    return TRUE;
}

/* The destination relays the streams (src/relay): the token a source
 * presents to its relay. */
static gboolean
parse_relay(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
            GError **error)
{
    return parse_token(r, node, TRUE, &cookie->relay_token, error);
}

/* v1: the token the source sends with the domain's definition. */
static gboolean
parse_definition(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
                 GError **error)
{
    return parse_token(r, node, TRUE, &cookie->definition_token, error);
}

/* A count of snapshots in attribute @name: 0 when absent; @min up to
 * FERRY_COOKIE_MAX_SNAPSHOTS. */
static gboolean
parse_snapshot_number(ferry_xml_reader *r, xmlNodePtr node, const char *name, guint min,
                      gboolean *ret_present, guint *ret_value, GError **error)
{
    g_autofree char *text = NULL;
    g_autofree char *what = g_strdup_printf("attribute '%s': ", name);
    guint64 value;

    *ret_present = FALSE;
    if (!ferry_xml_attr(r, node, name, FALSE, &text, error))
        return FALSE;
    if (!text)
        return TRUE;
    if (!check_number(r, node, what, text, FERRY_COOKIE_MAX_SNAPSHOTS, &value, error))
        return FALSE;
    if (value < min) {
        ferry_xml_error(r, error, node, "%s'%s' is less than %u", what, text, min);
        return FALSE;
    }
    *ret_present = TRUE;
    *ret_value = (guint)value;
    return TRUE;
}

/* The snapshots that follow the migration: offered (count and token go
 * together), received, or left behind (with a note saying which). */
static gboolean
parse_snapshots(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
                GError **error)
{
    g_autofree char *token = NULL;
    g_autofree char *note = NULL;
    gboolean has_count, has_left;

    if (!parse_snapshot_number(r, node, "count", 1, &has_count, &cookie->snapshots_count,
                               error) ||
        !parse_snapshot_number(r, node, "received", 0, &cookie->has_snapshots_received,
                               &cookie->snapshots_received, error) ||
        !parse_snapshot_number(r, node, "left", 1, &has_left, &cookie->snapshots_left, error) ||
        !parse_token(r, node, FALSE, &token, error))
        return FALSE;
    if (has_count != (token != NULL)) {
        ferry_xml_error(r, error, node, "attribute '%s' without attribute '%s' (the "
                        "snapshots offered and their token go together)",
                        has_count ? "count" : "token", has_count ? "token" : "count");
        return FALSE;
    }
    if (!has_count && !cookie->has_snapshots_received && !has_left) {
        ferry_xml_error(r, error, node, "it says nothing: one of 'count', 'received' or "
                        "'left' is required");
        return FALSE;
    }
    note = ferry_xml_text(r, node);
    if (strlen(note) > FERRY_COOKIE_MAX_SNAPSHOTS_NOTE) {
        ferry_xml_error(r, error, node, "its text is %" G_GSIZE_FORMAT " bytes long, more "
                        "than the limit of %d", strlen(note), FERRY_COOKIE_MAX_SNAPSHOTS_NOTE);
        return FALSE;
    }
    if (*note && !has_left) {
        ferry_xml_error(r, error, node, "text is only for snapshots left behind ('left')");
        return FALSE;
    }
    cookie->snapshots_token = g_steal_pointer(&token);
    if (*note)
        cookie->snapshots_note = g_steal_pointer(&note);
    return TRUE;
}

/* Attribute @name of @node as 'yes' (1) or 'no' (0); -1 when absent and
 * not @required. */
static gboolean
parse_yes_no(ferry_xml_reader *r, xmlNodePtr node, const char *name, gboolean required,
             int *ret, GError **error)
{
    g_autofree char *value = NULL;

    if (!ferry_xml_attr(r, node, name, required, &value, error))
        return FALSE;
    if (!value) {
        *ret = -1;
        return TRUE;
    }
    if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
        ferry_xml_error(r, error, node, "attribute '%s': '%s' is neither 'yes' nor 'no'", name,
                        value);
        return FALSE;
    }
    *ret = strcmp(value, "yes") == 0;
    return TRUE;
}

/* The sender's lease of the domain: whether it holds it, in which
 * lockspace (its id, a uuid), and who does. */
static gboolean
parse_lease(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
            GError **error)
{
    g_autofree char *lockspace = NULL;
    g_autofree char *holder = NULL;
    int held;

    if (!parse_yes_no(r, node, "held", TRUE, &held, error) ||
        !ferry_xml_attr(r, node, "lockspace", FALSE, &lockspace, error) ||
        !ferry_xml_attr(r, node, "holder", FALSE, &holder, error))
        return FALSE;
    if (lockspace &&
        !check_uuid(r, node, "attribute 'lockspace': ", lockspace, &cookie->lease_lockspace,
                    error))
        return FALSE;
    if (holder && (!*holder || strlen(holder) > 255 ||
                   strcspn(holder, " \t\r\n\"'<>&\\") != strlen(holder))) {
        ferry_xml_error(r, error, node, "attribute 'holder': '%.64s' is not a host name",
                        holder);
        return FALSE;
    }
    cookie->has_lease = TRUE;
    cookie->lease_held = held == 1;
    cookie->lease_holder = g_steal_pointer(&holder);
    return TRUE;
}

static gboolean
parse_features(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
               GError **error)
{
    g_autoptr(GPtrArray) nodes = ferry_xml_children(r, node, "feature");

    cookie->features = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < nodes->len; i++) {
        xmlNodePtr feature = g_ptr_array_index(nodes, i);
        g_autofree char *name = NULL;

        if (!ferry_xml_attr(r, feature, "name", TRUE, &name, error))
            return FALSE;
        if (!is_feature_name(name)) {
            ferry_xml_error(r, error, feature, "'%s' is not a feature name "
                            "(lower-case letters, digits and '-')", name);
            return FALSE;
        }
        if (g_ptr_array_find_with_equal_func(cookie->features, name, g_str_equal, NULL)) {
            ferry_xml_error(r, error, feature, "feature '%s' is listed twice", name);
            return FALSE;
        }
        g_ptr_array_add(cookie->features, g_steal_pointer(&name));
    }
    return TRUE;
}

/* Each statistic is optional: a sender reports what it measured. */
static gboolean
parse_statistics(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
                 GError **error)
{
    cookie->has_stats = TRUE;
    for (guint i = 0; i < G_N_ELEMENTS(statistics); i++) {
        g_autofree char *text = NULL;
        xmlNodePtr child;
        guint64 max = statistics[i].type == STAT_INT64 ? G_MAXINT64 : G_MAXUINT64;
        guint64 value = 0;

        if (!ferry_xml_child_text(r, node, statistics[i].element, FALSE, &child, &text, error))
            return FALSE;
        if (!text)
            continue;
        if (!check_number(r, child, "", g_strstrip(text), max, &value, error))
            return FALSE;
        stat_set(cookie, i, value);
    }
    return TRUE;
}

static gboolean
parse_nbd_disk(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
               GError **error)
{
    g_autofree char *target = NULL;
    g_autofree char *format = NULL;
    g_autofree char *capacity = NULL;
    g_autofree char *backing = NULL;
    guint64 bytes = 0;

    if (!ferry_xml_attr(r, node, "target", TRUE, &target, error) ||
        !ferry_xml_attr(r, node, "format", TRUE, &format, error) ||
        !ferry_xml_attr(r, node, "capacity", TRUE, &capacity, error) ||
        !ferry_xml_attr(r, node, "backing", FALSE, &backing, error))
        return FALSE;
    if (backing && strlen(backing) > FERRY_CONFINE_PATH_MAX) {
        ferry_xml_error(r, error, node, "attribute 'backing': '%.64s...' is longer than %d "
                        "bytes", backing, FERRY_CONFINE_PATH_MAX);
        return FALSE;
    }
    if (backing && !g_path_is_absolute(backing)) {
        ferry_xml_error(r, error, node, "attribute 'backing': '%s' is not an absolute path",
                        backing);
        return FALSE;
    }
    if (!is_target_name(target)) {
        ferry_xml_error(r, error, node, "attribute 'target': '%s' is not a disk target "
                        "(letters and digits, e.g. 'vda')", target);
        return FALSE;
    }
    for (guint i = 0; i < cookie->disks->len; i++) {
        const ferry_cookie_disk *other = g_ptr_array_index(cookie->disks, i);

        if (strcmp(other->target, target) == 0) {
            ferry_xml_error(r, error, node, "disk '%s' is listed twice", target);
            return FALSE;
        }
    }
    if (ferry_disk_format_from_string(format) < 0) {
        ferry_xml_error(r, error, node, "attribute 'format': unknown disk format '%s' "
                        "(expected 'raw' or 'qcow2')", format);
        return FALSE;
    }
    if (!check_number(r, node, "attribute 'capacity': ", capacity, G_MAXUINT64, &bytes, error))
        return FALSE;
    if (bytes == 0) {
        ferry_xml_error(r, error, node, "attribute 'capacity': disk '%s' has a capacity of 0 bytes",
                        target);
        return FALSE;
    }
    ferry_migration_cookie_add_disk(cookie, target, format, bytes);
    ((ferry_cookie_disk *)g_ptr_array_index(cookie->disks, cookie->disks->len - 1))->backing =
        g_steal_pointer(&backing);
    return TRUE;
}

static gboolean
parse_nbd(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
          GError **error)
{
    g_autoptr(GPtrArray) disks = NULL;
    g_autofree char *port = NULL;
    guint64 value = 0;

    cookie->has_nbd = TRUE;
    if (!ferry_xml_attr(r, node, "port", FALSE, &port, error))
        return FALSE;
    if (port) {
        if (ferry_xml_parse_uint(port, 1, 65535, &value) != FERRY_XML_NUMBER_OK) {
            ferry_xml_error(r, error, node, "attribute 'port': '%s' is not a port number "
                            "(1 to 65535; leave the attribute out when there is no port)", port);
            return FALSE;
        }
        cookie->nbd_port = (guint)value;
    }
    disks = ferry_xml_children(r, node, "disk");
    if (disks->len > FERRY_COOKIE_MAX_DISKS) {
        ferry_xml_error(r, error, node, "%u disks, more than the limit of %d", disks->len,
                        FERRY_COOKIE_MAX_DISKS);
        return FALSE;
    }
    for (guint i = 0; i < disks->len; i++) {
        if (!parse_nbd_disk(r, g_ptr_array_index(disks, i), cookie, error))
            return FALSE;
    }
    return TRUE;
}

/* The walk of the embedded definition is domain-conf.c's; this checks that
 * <persistent> holds that one element and nothing else. */
static gboolean
parse_persistent(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
                 GError **error)
{
    xmlNodePtr domain;

    if (!ferry_xml_child(r, node, "domain", TRUE, &domain, error))
        return FALSE;
    for (xmlNodePtr n = node->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && n != domain) {
            ferry_xml_error(r, error, n, "unknown element inside 'persistent' "
                            "(it holds one 'domain')");
            return FALSE;
        }
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
            !xmlIsBlankNode(n)) {
            ferry_xml_error(r, error, node, "unexpected text (it holds one 'domain')");
            return FALSE;
        }
    }
    /* Nothing is invented: a definition without a uuid stays without one. */
    cookie->persistent = ferry_domain_def_parse_node(node->doc, domain, COOKIE_SOURCE,
                                                     FERRY_DOMAIN_DEF_PARSE_NO_UUID, error);
    return cookie->persistent != NULL;
}

static gboolean
parse_result(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
             GError **error)
{
    g_autofree char *message = NULL;
    int ok, aborted;

    if (!parse_yes_no(r, node, "ok", TRUE, &ok, error) ||
        !parse_yes_no(r, node, "aborted", FALSE, &aborted, error))
        return FALSE;
    cookie->result_aborted = aborted == 1;
    cookie->has_result = TRUE;
    cookie->result_ok = ok == 1;
    message = ferry_xml_text(r, node);
    if (*message)
        cookie->result_message = g_steal_pointer(&message);
    return TRUE;
}

typedef gboolean (*section_parser)(ferry_xml_reader *r, xmlNodePtr node,
                                   ferry_migration_cookie *cookie, GError **error);

/* In the order the formatter writes them. */
static const struct {
    const char *name;
    section_parser parse;
    gboolean required;
    gboolean walk_checked;    /* whether a walk of the section must read all of it */
} sections[] = {
    { "id", parse_id, TRUE, TRUE },
    { "host", parse_host, TRUE, TRUE },
    { "domain", parse_domain, FALSE, TRUE },
    { "peer", parse_peer, FALSE, TRUE },
    { "features", parse_features, FALSE, TRUE },
    { "lease", parse_lease, FALSE, TRUE },
    { "statistics", parse_statistics, FALSE, TRUE },
    { "relay", parse_relay, FALSE, TRUE },
    { "definition", parse_definition, FALSE, TRUE },
    { "nbd", parse_nbd, FALSE, TRUE },
    { "snapshots", parse_snapshots, FALSE, TRUE },
    { "persistent", parse_persistent, FALSE, FALSE },
    { "result", parse_result, FALSE, TRUE },
};

/* ---- parsing: the document ----------------------------------------------- */

/* The mandatory attribute every section may carry. */
static gboolean
parse_mandatory(ferry_xml_reader *r, xmlNodePtr node, gboolean *ret_mandatory,
                GError **error)
{
    g_autofree char *value = NULL;

    if (!ferry_xml_attr(r, node, "mandatory", FALSE, &value, error))
        return FALSE;
    if (value && strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
        ferry_xml_error(r, error, node, "attribute 'mandatory': '%s' is neither 'yes' nor 'no'",
                        value);
        return FALSE;
    }
    *ret_mandatory = g_strcmp0(value, "yes") == 0;
    return TRUE;
}

static int
find_section(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(sections); i++) {
        if (strcmp(sections[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* One child of the root: a known section, or one to ignore or refuse.
 * @seen: the known sections found so far, by index in sections[] */
static gboolean
parse_section(ferry_xml_reader *r, xmlNodePtr node, ferry_migration_cookie *cookie,
              xmlNodePtr *seen, GError **error)
{
    int index = find_section((const char *)node->name);
    gboolean mandatory = FALSE;

    if (!parse_mandatory(r, node, &mandatory, error))
        return FALSE;
    if (index < 0) {
        if (mandatory) {
            ferry_xml_error(r, error, node, "section '%s' is mandatory but not understood "
                            "by this host", (const char *)node->name);
            return FALSE;
        }
        /* A newer sender's optional data. */
        return TRUE;
    }
    if (seen[index]) {
        ferry_xml_error(r, error, node, "only one is allowed (the first is at line %ld)",
                        xmlGetLineNo(seen[index]));
        return FALSE;
    }
    seen[index] = node;
    if (!sections[index].parse(r, node, cookie, error))
        return FALSE;
    return !sections[index].walk_checked || ferry_xml_reader_check_all_read(r, node, error);
}

/* The root: no attributes, no text, sections in any order. */
static gboolean
parse_root(ferry_xml_reader *r, xmlNodePtr root, ferry_migration_cookie *cookie,
           xmlNodePtr *ret_where, GError **error)
{
    xmlNodePtr seen[G_N_ELEMENTS(sections)] = { NULL };

    *ret_where = NULL;
    if (!ferry_xml_expect_root(r, root, COOKIE_ROOT, error))
        return FALSE;
    if (root->properties) {
        ferry_xml_error(r, error, root, "unknown attribute '%s'",
                        (const char *)root->properties->name);
        return FALSE;
    }
    for (xmlNodePtr n = root->children; n; n = n->next) {
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
            !xmlIsBlankNode(n)) {
            g_autofree char *text = g_strstrip(g_strdup((const char *)n->content));

            ferry_xml_error(r, error, root, "unexpected text '%.20s' between sections", text);
            return FALSE;
        }
        if (n->type != XML_ELEMENT_NODE)
            continue;
        *ret_where = n;
        if (!parse_section(r, n, cookie, seen, error))
            return FALSE;
        *ret_where = NULL;
    }
    for (guint i = 0; i < G_N_ELEMENTS(sections); i++) {
        if (sections[i].required && !seen[i]) {
            ferry_xml_error(r, error, root, "missing required section '%s'", sections[i].name);
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * @inner: "migration cookie:LINE: element 'E': REASON" (or without a line)
 * @section: (nullable): the section the error is in
 *
 * Returns: "PHASE: migration cookie line LINE: <SECTION>: element 'E': REASON",
 * leaving out "element 'E': " when E is the section itself.
 */
static void
set_cookie_error(GError **error, const char *phase, const char *section, const GError *inner)
{
    g_autofree char *prefix = phase ? g_strdup_printf("%s: " COOKIE_SOURCE, phase)
                                    : g_strdup(COOKIE_SOURCE);
    g_autofree char *own_element = section ? g_strdup_printf("element '%s': ", section) : NULL;
    g_autofree char *where = NULL;
    const char *rest = inner->message;
    int code = inner->code == FERRY_ERROR_INTERNAL ? FERRY_ERROR_INTERNAL : FERRY_ERROR_COOKIE;
    gsize digits;

    if (!g_str_has_prefix(rest, COOKIE_SOURCE ":")) {
        g_set_error(error, FERRY_ERROR, code, "%s: %s", prefix, rest);
        return;
    }
    rest += strlen(COOKIE_SOURCE ":");
    digits = strspn(rest, "0123456789");
    if (digits == 0 || !g_str_has_prefix(rest + digits, ": ")) {
        /* No line: "migration cookie: reason". */
        g_set_error(error, FERRY_ERROR, code, "%s:%s", prefix, rest);
        return;
    }
    where = g_strdup_printf("%s line %.*s: ", prefix, (int)digits, rest);
    rest += digits + 2;
    if (own_element && g_str_has_prefix(rest, own_element))
        rest += strlen(own_element);
    if (section)
        g_set_error(error, FERRY_ERROR, code, "%s<%s>: %s", where, section, rest);
    else
        g_set_error(error, FERRY_ERROR, code, "%s%s", where, rest);
}

ferry_migration_cookie *
ferry_migration_cookie_parse(const char *xml, const char *phase, GError **error)
{
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_auto(ferry_xml_reader) r = { 0 };
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(GError) inner = NULL;
    xmlNodePtr where = NULL;
    gsize len;

    if (!xml || !*xml) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE, "%s%s" COOKIE_SOURCE " is empty",
                    phase ? phase : "", phase ? ": " : "");
        return NULL;
    }
    len = strlen(xml);
    if (len > COOKIE_MAX_SIZE) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE,
                    "%s%s" COOKIE_SOURCE " is %" G_GSIZE_FORMAT " bytes long, "
                    "more than the limit of %d bytes",
                    phase ? phase : "", phase ? ": " : "", len, COOKIE_MAX_SIZE);
        return NULL;
    }

    doc = ferry_xml_read(xml, COOKIE_SOURCE, &inner);
    if (doc) {
        cookie = cookie_alloc();
        ferry_xml_reader_init(&r, COOKIE_SOURCE);
        if (parse_root(&r, xmlDocGetRootElement(doc), cookie, &where, &inner))
            return g_steal_pointer(&cookie);
    }
    set_cookie_error(error, phase, where ? (const char *)where->name : NULL, inner);
    return NULL;
}
