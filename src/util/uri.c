/*
 * uri.c: parsing of connection URIs on top of GUri.
 *
 * GUri does the RFC 3986 work; this file only adds ferry's rules (driver and
 * transport in the scheme, host required or forbidden by transport) and error
 * messages that quote the URI.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "util/uri.h"

void
ferry_uri_free(ferry_uri *uri)
{
    if (!uri)
        return;
    g_free(uri->original);
    g_free(uri->driver);
    g_free(uri->transport);
    g_free(uri->user);
    g_free(uri->host);
    g_free(uri->path);
    g_clear_pointer(&uri->params, g_hash_table_unref);
    g_free(uri);
}

static gboolean
name_is_valid(const char *s)
{
    if (!*s)
        return FALSE;
    for (; *s; s++) {
        if (!g_ascii_isalnum(*s) && *s != '-' && *s != '_')
            return FALSE;
    }
    return TRUE;
}

/* Host names and IP addresses, nothing that needs escaping when printed. */
static gboolean
host_is_valid(const char *s)
{
    for (; *s; s++) {
        if (!g_ascii_isalnum(*s) && !strchr(".-_:", *s))
            return FALSE;
    }
    return TRUE;
}

static gboolean
parse_scheme(ferry_uri *uri, const char *scheme, const char *str, GError **error)
{
    const char *plus = strchr(scheme, '+');

    if (plus) {
        uri->driver = g_strndup(scheme, plus - scheme);
        uri->transport = g_strdup(plus + 1);
    } else {
        uri->driver = g_strdup(scheme);
    }
    if (!name_is_valid(uri->driver)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' has an invalid driver name '%s'", str, uri->driver);
        return FALSE;
    }
    if (uri->transport && strcmp(uri->transport, "unix") != 0 &&
        strcmp(uri->transport, "tcp") != 0 && strcmp(uri->transport, "tls") != 0 &&
        strcmp(uri->transport, "ssh") != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' has unknown transport '%s' (expected 'unix', 'tls', 'ssh' or "
                    "'tcp')", str, uri->transport);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_query(ferry_uri *uri, const char *query, const char *str, GError **error)
{
    g_autoptr(GError) local = NULL;
    GHashTable *params;

    if (!query) {
        uri->params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        return TRUE;
    }
    params = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, &local);
    if (!params) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' has a malformed query: %s", str, local->message);
        return FALSE;
    }
    uri->params = params;
    return TRUE;
}

ferry_uri *
ferry_uri_parse(const char *str, GError **error)
{
    g_autoptr(ferry_uri) uri = g_new0(ferry_uri, 1);
    g_autoptr(GUri) guri = NULL;
    g_autoptr(GError) local = NULL;
    const char *host;
    const char *path;
    gboolean remote;

    if (!str || !*str) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI, "empty URI");
        return NULL;
    }
    uri->original = g_strdup(str);
    uri->port = -1;

    guri = g_uri_parse(str, G_URI_FLAGS_ENCODED_QUERY | G_URI_FLAGS_NON_DNS, &local);
    if (!guri) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' is malformed: %s", str, local->message);
        return NULL;
    }
    if (!parse_scheme(uri, g_uri_get_scheme(guri), str, error))
        return NULL;
    if (g_uri_get_fragment(guri) ||
        (g_uri_get_userinfo(guri) && g_strcmp0(uri->transport, "ssh") != 0)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' must not have user information (only ssh has a user) or a "
                    "fragment", str);
        return NULL;
    }
    if (g_uri_get_userinfo(guri)) {
        /* ssh's login name: a plain name, no password. */
        const char *user = g_uri_get_userinfo(guri);

        if (!*user || strchr(user, ':') || !host_is_valid(user)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "URI '%s' has an invalid user '%s' (a login name, no password)", str,
                        user);
            return NULL;
        }
        uri->user = g_strdup(user);
    }

    host = g_uri_get_host(guri);
    if (!host) {
        /* "qemu:system" has no authority; it would print back as a host. */
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' must have the form DRIVER[+TRANSPORT]://[HOST[:PORT]]/PATH", str);
        return NULL;
    }
    if (*host && !host_is_valid(host)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' has an invalid host '%s'", str, host);
        return NULL;
    }
    if (*host)
        uri->host = g_strdup(host);
    uri->port = g_uri_get_port(guri);
    if (uri->port == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' has port 0, which cannot be connected to", str);
        return NULL;
    }

    /* As libvirt's: another host without a transport is reached over TLS. */
    if (!uri->transport && uri->host)
        uri->transport = g_strdup("tls");
    remote = g_strcmp0(uri->transport, "tcp") == 0 || g_strcmp0(uri->transport, "tls") == 0 ||
             g_strcmp0(uri->transport, "ssh") == 0;
    if (remote && !uri->host) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' uses the %s transport but names no host", str, uri->transport);
        return NULL;
    }
    if (!remote && (uri->host || uri->port != -1)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "URI '%s' names a host, but only the tls, ssh and tcp transports reach "
                    "another host (did you mean '%s+tls://...'?)", str, uri->driver);
        return NULL;
    }

    path = g_uri_get_path(guri);
    uri->path = g_strdup(path && *path ? path : "/");

    if (!parse_query(uri, g_uri_get_query(guri), str, error))
        return NULL;

    return g_steal_pointer(&uri);
}

const char *
ferry_uri_get_param(const ferry_uri *uri, const char *name)
{
    return g_hash_table_lookup(uri->params, name);
}

gboolean
ferry_uri_check_params(const ferry_uri *uri, const char *const *allowed, GError **error)
{
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init(&iter, uri->params);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        if (!allowed || !g_strv_contains(allowed, key)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "URI '%s' has unknown parameter '%s'",
                        uri->original, (const char *)key);
            return FALSE;
        }
    }
    return TRUE;
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *
ferry_uri_to_string(const ferry_uri *uri)
{
    GString *s = g_string_new(uri->driver);
    g_autofree gpointer *keys = NULL;
    guint n = 0;

    if (uri->transport)
        g_string_append_printf(s, "+%s", uri->transport);
    g_string_append(s, "://");
    if (uri->user)
        g_string_append_printf(s, "%s@", uri->user);
    if (uri->host) {
        if (strchr(uri->host, ':'))
            g_string_append_printf(s, "[%s]", uri->host);
        else
            g_string_append(s, uri->host);
    }
    if (uri->port != -1)
        g_string_append_printf(s, ":%d", uri->port);
    g_string_append_uri_escaped(s, uri->path, "/", FALSE);

    keys = g_hash_table_get_keys_as_array(uri->params, &n);
    qsort(keys, n, sizeof(gpointer), compare_strings);
    for (guint i = 0; i < n; i++) {
        g_string_append_c(s, i == 0 ? '?' : '&');
        g_string_append_uri_escaped(s, keys[i], NULL, FALSE);
        g_string_append_c(s, '=');
        g_string_append_uri_escaped(s, g_hash_table_lookup(uri->params, keys[i]),
                                    "/", FALSE);
    }
    return g_string_free(s, FALSE);
}
