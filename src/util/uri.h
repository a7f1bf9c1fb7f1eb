/*
 * uri.h: connection URIs, `DRIVER[+TRANSPORT]://[HOST[:PORT]]/PATH[?K=V&...]`.
 *
 * Owns: splitting and checking the URI; it does not decide which driver
 * serves it (each driver's conn_probe does) nor which parameters a driver
 * accepts (its conn_open does, with ferry_uri_check_params()).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct ferry_uri {
    char *original;     /* the string as given */
    char *driver;       /* "qemu", "test" */
    char *transport;    /* "unix", "tls", "ssh", "tcp", or NULL for the local default */
    char *user;         /* ssh only: the login name, NULL when none */
    char *host;         /* NULL when none */
    int port;           /* -1 when none */
    char *path;         /* "/system", "/default"; never NULL, at least "/" */
    GHashTable *params; /* decoded query parameters, name -> value */
} ferry_uri;

/**
 * ferry_uri_parse:
 * @str: a URI
 * @error: return location for an error (FERRY_ERROR_INVALID_URI)
 *
 * Accepts `DRIVER://...` and `DRIVER+TRANSPORT://...` with TRANSPORT one of
 * unix, tls, ssh or tcp; a tls, ssh or tcp URI needs a host, a unix or local
 * one must not have one; only ssh may have a user (`qemu+ssh://root@host/`).
 * A host without a transport means tls (as in libvirt).
 *
 * Returns: (transfer full): the parsed URI, or NULL on error.
 */
ferry_uri *ferry_uri_parse(const char *str, GError **error);

/** ferry_uri_free: frees @uri; accepts NULL. */
void ferry_uri_free(ferry_uri *uri);

/**
 * ferry_uri_get_param:
 * @uri: a parsed URI
 * @name: a query parameter's name
 *
 * Returns: (transfer none) (nullable): its decoded value.
 */
const char *ferry_uri_get_param(const ferry_uri *uri, const char *name);

/**
 * ferry_uri_check_params:
 * @uri: a parsed URI
 * @allowed: NULL-terminated list of the parameter names the caller accepts
 * @error: return location for an error
 *
 * Returns: FALSE, with an error naming the parameter and the URI, if @uri has
 *   a query parameter not in @allowed.
 */
gboolean ferry_uri_check_params(const ferry_uri *uri, const char *const *allowed,
                                GError **error);

/**
 * ferry_uri_to_string:
 * @uri: a parsed URI
 *
 * Returns: (transfer full): the canonical form: parameters sorted by name.
 */
char *ferry_uri_to_string(const ferry_uri *uri);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_uri, ferry_uri_free)

G_END_DECLS
