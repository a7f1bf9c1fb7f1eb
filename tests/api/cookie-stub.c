/*
 * cookie-stub.c: a stand-in for src/conf/migration-cookie.c, built into
 * ferry_api only while that file does not exist (src/api/meson.build checks
 * with fs.exists()), so the sequencer and the test driver link and run
 * before the real cookie code is merged.  The real file replaces it with no
 * other change.
 *
 * Owns: just enough of the cookie document of migration-cookie.h for the
 * migration tests (id, host, domain, statistics, persistent, result, disks,
 * features) with the same element names.  Must not: grow into a second
 * implementation: it checks little and its errors are plain.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "conf/migration-cookie.h"
#include "conf/xml-util.h"

static void
disk_free(gpointer data)
{
    ferry_cookie_disk *disk = data;

    g_free(disk->target);
    g_free(disk->format);
    g_free(disk);
}

ferry_migration_cookie *
ferry_migration_cookie_new(const char *id, const char *host_uuid, const char *hostname)
{
    ferry_migration_cookie *cookie = g_new0(ferry_migration_cookie, 1);

    cookie->id = id ? g_strdup(id) : g_uuid_string_random();
    cookie->host_uuid = g_strdup(host_uuid);
    cookie->hostname = g_strdup(hostname);
    cookie->disks = g_ptr_array_new_with_free_func(disk_free);
    return cookie;
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
    if (cookie->features)
        g_ptr_array_unref(cookie->features);
    g_ptr_array_unref(cookie->disks);
    ferry_domain_def_free(cookie->persistent);
    g_free(cookie->result_message);
    g_free(cookie);
}

void
ferry_migration_cookie_add_disk(ferry_migration_cookie *cookie, const char *target,
                                const char *format, guint64 capacity)
{
    ferry_cookie_disk *disk = g_new0(ferry_cookie_disk, 1);

    disk->target = g_strdup(target);
    disk->format = g_strdup(format);
    disk->capacity = capacity;
    g_ptr_array_add(cookie->disks, disk);
    cookie->has_nbd = TRUE;
}

static void
format_number(GString *out, const char *name, guint64 value)
{
    g_string_append_printf(out, "    <%s>%" G_GUINT64_FORMAT "</%s>\n", name, value, name);
}

char *
ferry_migration_cookie_format(const ferry_migration_cookie *c)
{
    GString *out = g_string_new("<ferry-migration>\n");

    ferry_xml_format_text(out, "  ", "id", c->id);
    g_string_append(out, "  <host");
    ferry_xml_format_attr(out, "uuid", c->host_uuid);
    if (c->hostname)
        ferry_xml_format_attr(out, "name", c->hostname);
    g_string_append(out, "/>\n");
    if (c->dom_name) {
        g_string_append(out, "  <domain");
        ferry_xml_format_attr(out, "name", c->dom_name);
        ferry_xml_format_attr(out, "uuid", c->dom_uuid);
        g_string_append(out, "/>\n");
    }
    if (c->features) {
        g_string_append(out, "  <features>\n");
        for (guint i = 0; i < c->features->len; i++) {
            g_string_append(out, "    <feature");
            ferry_xml_format_attr(out, "name", c->features->pdata[i]);
            g_string_append(out, "/>\n");
        }
        g_string_append(out, "  </features>\n");
    }
    if (c->has_stats) {
        g_string_append(out, "  <statistics>\n");
        format_number(out, "total-ms", c->total_ms);
        format_number(out, "downtime-ms", c->downtime_ms);
        format_number(out, "setup-ms", c->setup_ms);
        format_number(out, "data-total", c->data_total);
        format_number(out, "data-transferred", c->data_transferred);
        format_number(out, "disk-total", c->disk_total);
        format_number(out, "disk-transferred", c->disk_transferred);
        g_string_append(out, "  </statistics>\n");
    }
    if (c->has_nbd) {
        g_string_append_printf(out, "  <nbd port='%u'>\n", c->nbd_port);
        for (guint i = 0; i < c->disks->len; i++) {
            const ferry_cookie_disk *d = c->disks->pdata[i];

            g_string_append(out, "    <disk");
            ferry_xml_format_attr(out, "target", d->target);
            ferry_xml_format_attr(out, "format", d->format);
            g_string_append_printf(out, " capacity='%" G_GUINT64_FORMAT "'/>\n", d->capacity);
        }
        g_string_append(out, "  </nbd>\n");
    }
    if (c->persistent) {
        g_autofree char *xml = ferry_domain_def_format(c->persistent);

        g_string_append_printf(out, "  <persistent>\n%s  </persistent>\n", xml);
    }
    if (c->has_result) {
        g_string_append_printf(out, "  <result ok='%s'>", c->result_ok ? "yes" : "no");
        if (c->result_message)
            ferry_xml_escape(out, c->result_message, FALSE);
        g_string_append(out, "</result>\n");
    }
    g_string_append(out, "</ferry-migration>\n");
    return g_string_free(out, FALSE);
}

static char *
attr(xmlNodePtr node, const char *name)
{
    xmlChar *value = xmlGetProp(node, (const xmlChar *)name);
    char *copy = g_strdup((const char *)value);

    xmlFree(value);
    return copy;
}

static char *
text(xmlNodePtr node)
{
    xmlChar *value = xmlNodeGetContent(node);
    char *copy = g_strdup((const char *)value);

    xmlFree(value);
    return copy;
}

static guint64
number(xmlNodePtr node)
{
    g_autofree char *t = text(node);

    return g_ascii_strtoull(t, NULL, 10);
}

static gboolean
is(xmlNodePtr node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && strcmp((const char *)node->name, name) == 0;
}

static void
parse_stats(ferry_migration_cookie *c, xmlNodePtr stats)
{
    c->has_stats = TRUE;
    for (xmlNodePtr n = stats->children; n; n = n->next) {
        if (is(n, "total-ms"))
            c->total_ms = number(n);
        else if (is(n, "downtime-ms"))
            c->downtime_ms = number(n);
        else if (is(n, "setup-ms"))
            c->setup_ms = number(n);
        else if (is(n, "data-total"))
            c->data_total = number(n);
        else if (is(n, "data-transferred"))
            c->data_transferred = number(n);
        else if (is(n, "disk-total"))
            c->disk_total = number(n);
        else if (is(n, "disk-transferred"))
            c->disk_transferred = number(n);
    }
}

static gboolean
parse_section(ferry_migration_cookie *c, xmlDocPtr doc, xmlNodePtr n, const char *phase,
              GError **error)
{
    if (is(n, "id")) {
        c->id = text(n);
    } else if (is(n, "host")) {
        c->host_uuid = attr(n, "uuid");
        c->hostname = attr(n, "name");
    } else if (is(n, "domain")) {
        c->dom_name = attr(n, "name");
        c->dom_uuid = attr(n, "uuid");
    } else if (is(n, "features")) {
        c->features = g_ptr_array_new_with_free_func(g_free);
        for (xmlNodePtr f = n->children; f; f = f->next) {
            if (is(f, "feature"))
                g_ptr_array_add(c->features, attr(f, "name"));
        }
    } else if (is(n, "statistics")) {
        parse_stats(c, n);
    } else if (is(n, "nbd")) {
        g_autofree char *port = attr(n, "port");

        c->has_nbd = TRUE;
        c->nbd_port = port ? (guint)g_ascii_strtoull(port, NULL, 10) : 0;
        for (xmlNodePtr d = n->children; d; d = d->next) {
            g_autofree char *target = NULL;
            g_autofree char *format = NULL;
            g_autofree char *capacity = NULL;

            if (!is(d, "disk"))
                continue;
            target = attr(d, "target");
            format = attr(d, "format");
            capacity = attr(d, "capacity");
            ferry_migration_cookie_add_disk(c, target, format,
                                            g_ascii_strtoull(capacity, NULL, 10));
        }
    } else if (is(n, "persistent")) {
        for (xmlNodePtr d = n->children; d; d = d->next) {
            if (is(d, "domain")) {
                c->persistent = ferry_domain_def_parse_node(doc, d, phase, 0, error);
                return c->persistent != NULL;
            }
        }
    } else if (is(n, "result")) {
        g_autofree char *ok = attr(n, "ok");

        c->has_result = TRUE;
        c->result_ok = g_strcmp0(ok, "yes") == 0;
        c->result_message = text(n);
    }
    return TRUE;
}

ferry_migration_cookie *
ferry_migration_cookie_parse(const char *xml, const char *phase, GError **error)
{
    g_autoptr(ferry_migration_cookie) c = g_new0(ferry_migration_cookie, 1);
    g_autofree char *source = g_strdup_printf("%s: migration cookie", phase);
    xmlDocPtr doc;
    xmlNodePtr root;
    gboolean ok = TRUE;

    c->disks = g_ptr_array_new_with_free_func(disk_free);
    if (!xml || !*xml) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE, "%s: no migration cookie", phase);
        return NULL;
    }
    doc = ferry_xml_read(xml, source, error);
    if (!doc)
        return NULL;
    root = xmlDocGetRootElement(doc);
    if (!root || !is(root, "ferry-migration")) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE,
                    "%s: the root element is not <ferry-migration>", source);
        xmlFreeDoc(doc);
        return NULL;
    }
    for (xmlNodePtr n = root->children; n && ok; n = n->next)
        ok = parse_section(c, doc, n, source, error);
    xmlFreeDoc(doc);
    if (!ok)
        return NULL;
    if (!c->id || !g_uuid_string_is_valid(c->id) || !c->host_uuid ||
        !g_uuid_string_is_valid(c->host_uuid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE,
                    "%s: <id> and <host uuid=…> must be uuids", source);
        return NULL;
    }
    return g_steal_pointer(&c);
}
