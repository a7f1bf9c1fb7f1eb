/*
 * rpc-tls.c: TLS credentials and handshakes of the wire protocol (see
 * rpc-tls.h for what this owns).
 *
 * Both sides check everything GnuTLS can: the client the server's whole
 * chain, validity and identity (G_TLS_CERTIFICATE_VALIDATE_ALL, the
 * identity being the host the user typed); the server the client's chain
 * and validity (a GTlsServerConnection with a database and
 * G_TLS_AUTHENTICATION_REQUIRED refuses a certificate that does not
 * verify, and GIO asks "accept-certificate", answered by GnuTLS's verdict
 * alone), then the name, which is ours to check.  Nothing here accepts a
 * certificate the checks refused: there is no "accept-certificate"
 * handler, and no option to skip verification.
 */
#include "ferry-config.h"

#include <string.h>
#include <unistd.h>

#include "rpc/rpc-tls.h"
#include "util/error.h"

struct ferry_rpc_tls {
    gint ref;                   /* atomic */
    GTlsDatabase *ca;
    GTlsCertificate *cert;      /* with its private key */
    char **allowed_names;       /* server: CN patterns; NULL = any signed client */
    char *pki_dir;              /* for messages */
};

ferry_rpc_tls *
ferry_rpc_tls_ref(ferry_rpc_tls *tls)
{
    g_atomic_int_inc(&tls->ref);
    return tls;
}

void
ferry_rpc_tls_unref(ferry_rpc_tls *tls)
{
    if (!tls || !g_atomic_int_dec_and_test(&tls->ref))
        return;
    g_clear_object(&tls->ca);
    g_clear_object(&tls->cert);
    g_strfreev(tls->allowed_names);
    g_free(tls->pki_dir);
    g_free(tls);
}

char *
ferry_rpc_tls_default_pki_dir(void)
{
    const char *env = g_getenv("FERRY_PKI_PATH");

    if (env && *env)
        return g_strdup(env);
    if (geteuid() == 0)
        return g_strdup(FERRY_TLS_DEFAULT_PKI_DIR);
    return g_build_filename(g_get_home_dir(), ".pki", "ferry", NULL);
}

/* Loads the CA and one certificate pair (@what: "server" or "client"). */
static ferry_rpc_tls *
tls_load(const char *pki_dir, const char *what, GError **error)
{
    g_autoptr(ferry_rpc_tls) tls = g_new0(ferry_rpc_tls, 1);
    g_autofree char *ca_file = g_build_filename(pki_dir, "cacert.pem", NULL);
    g_autofree char *cert_name = g_strdup_printf("%scert.pem", what);
    g_autofree char *key_name = g_strdup_printf("%skey.pem", what);
    g_autofree char *cert_file = g_build_filename(pki_dir, cert_name, NULL);
    g_autofree char *key_file = g_build_filename(pki_dir, key_name, NULL);
    g_autoptr(GError) local = NULL;

    tls->ref = 1;
    tls->pki_dir = g_strdup(pki_dir);
    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "TLS is not available: GIO has no TLS backend (install glib-networking)");
        return NULL;
    }
    tls->ca = g_tls_file_database_new(ca_file, &local);
    if (!tls->ca) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "TLS: cannot load the CA certificate '%s': %s", ca_file, local->message);
        return NULL;
    }
    tls->cert = g_tls_certificate_new_from_files(cert_file, key_file, &local);
    if (!tls->cert) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "TLS: cannot load the %s certificate '%s' with its key '%s': %s", what,
                    cert_file, key_file, local->message);
        return NULL;
    }
    return g_steal_pointer(&tls);
}

ferry_rpc_tls *
ferry_rpc_tls_new_server(const char *pki_dir, const char *const *allowed_names,
                         GError **error)
{
    ferry_rpc_tls *tls = tls_load(pki_dir, "server", error);

    if (tls && allowed_names)
        tls->allowed_names = g_strdupv((char **)allowed_names);
    return tls;
}

ferry_rpc_tls *
ferry_rpc_tls_new_client(const char *pki_dir, GError **error)
{
    return tls_load(pki_dir, "client", error);
}

/* ------------------------------------------------------------------------ */
/* Names                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * The common name in a subject DN as GnuTLS writes it (RFC 4514:
 * "CN=web1,O=Example", special characters escaped with a backslash), or
 * NULL.  A DN with two CNs has no single name: NULL, so that no pattern
 * can be matched by the half an attacker chose.
 */
static char *
common_name(const char *dn)
{
    g_autoptr(GString) value = NULL;
    gboolean at_start = TRUE;

    for (const char *p = dn; p && *p;) {
        if (at_start && g_ascii_strncasecmp(p, "CN=", 3) == 0) {
            if (value)
                return NULL;
            value = g_string_new(NULL);
            for (p += 3; *p && *p != ',' && *p != '+'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                g_string_append_c(value, *p);
            }
            at_start = FALSE;
            continue;
        }
        if (*p == '\\' && p[1]) {
            p += 2;
            at_start = FALSE;
            continue;
        }
        at_start = *p == ',' || *p == '+';
        p++;
    }
    return value ? g_string_free(g_steal_pointer(&value), FALSE) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Client                                                                    */
/* ------------------------------------------------------------------------ */

/* Why GnuTLS refused the server's certificate, in words. */
static char *
describe_flags(GTlsCertificateFlags flags)
{
    static const struct {
        GTlsCertificateFlags flag;
        const char *words;
    } names[] = {
        { G_TLS_CERTIFICATE_UNKNOWN_CA, "it is not signed by the CA" },
        { G_TLS_CERTIFICATE_BAD_IDENTITY, "it does not name the host dialled" },
        { G_TLS_CERTIFICATE_NOT_ACTIVATED, "it is not valid yet" },
        { G_TLS_CERTIFICATE_EXPIRED, "it has expired" },
        { G_TLS_CERTIFICATE_REVOKED, "it was revoked" },
        { G_TLS_CERTIFICATE_INSECURE, "its algorithm is insecure" },
        { G_TLS_CERTIFICATE_GENERIC_ERROR, "it could not be checked" },
    };
    g_autoptr(GString) s = g_string_new(NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        if (flags & names[i].flag)
            g_string_append_printf(s, "%s%s", s->len ? "; " : "", names[i].words);
    }
    if (!s->len)
        g_string_append(s, "it was refused");
    return g_string_free(g_steal_pointer(&s), FALSE);
}

GIOStream *
ferry_rpc_tls_client_handshake(ferry_rpc_tls *tls, GSocketConnection *conn, const char *host,
                               guint16 port, GError **error)
{
    g_autoptr(GSocketConnectable) identity = g_network_address_new(host, port);
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(GError) local = NULL;
    GTlsConnection *tconn;

    stream = g_tls_client_connection_new(G_IO_STREAM(conn), identity, &local);
    if (!stream) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "TLS to ferryd at %s port %u: %s", host, port, local->message);
        return NULL;
    }
    tconn = G_TLS_CONNECTION(stream);
    g_tls_connection_set_database(tconn, tls->ca);
    g_tls_connection_set_certificate(tconn, tls->cert);
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    /* Deprecated in 2.72 only because GnuTLS checks everything anyway;
     * said here so that no default can weaken it. */
    g_tls_client_connection_set_validation_flags(G_TLS_CLIENT_CONNECTION(stream),
                                                 G_TLS_CERTIFICATE_VALIDATE_ALL);
    G_GNUC_END_IGNORE_DEPRECATIONS
    if (!g_tls_connection_handshake(tconn, NULL, &local)) {
        GTlsCertificateFlags flags = g_tls_connection_get_peer_certificate_errors(tconn);

        if (g_error_matches(local, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE) && flags) {
            g_autofree char *why = describe_flags(flags);

            g_set_error(error, FERRY_ERROR, FERRY_ERROR_AUTH_FAILED,
                        "TLS to ferryd at %s port %u: its certificate is refused: %s "
                        "(CA '%s/cacert.pem')", host, port, why, tls->pki_dir);
            return NULL;
        }
        g_set_error(error, FERRY_ERROR,
                    g_error_matches(local, G_TLS_ERROR, G_TLS_ERROR_CERTIFICATE_REQUIRED) ||
                    g_error_matches(local, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE)
                        ? FERRY_ERROR_AUTH_FAILED : FERRY_ERROR_NO_CONNECT,
                    "TLS handshake with ferryd at %s port %u failed: %s", host, port,
                    local->message);
        return NULL;
    }
    return g_steal_pointer(&stream);
}

/* ------------------------------------------------------------------------ */
/* Server                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    ferry_rpc_tls *tls;
    GIOStream *stream;
    GCancellable *cancellable;
    GSource *timeout;
    gboolean timed_out;
} server_handshake;

static void
server_handshake_free(server_handshake *h)
{
    if (h->timeout) {
        g_source_destroy(h->timeout);
        g_source_unref(h->timeout);
    }
    g_clear_object(&h->cancellable);
    g_clear_object(&h->stream);
    ferry_rpc_tls_unref(h->tls);
    g_free(h);
}

/*
 * On a server connection GIO accepts a client's certificate only if a
 * handler of "accept-certificate" says so (GnuTLS's verdict comes as
 * @errors): this one accepts exactly what verified.
 */
static gboolean
on_accept_certificate(GTlsConnection *conn, GTlsCertificate *peer, GTlsCertificateFlags errors,
                      gpointer data)
{
    return errors == 0;
}

static gboolean
on_handshake_timeout(gpointer data)
{
    server_handshake *h = data;

    h->timed_out = TRUE;
    g_cancellable_cancel(h->cancellable);
    return G_SOURCE_REMOVE;
}

/* The client's certificate passed GnuTLS's checks: is its name allowed? */
static gboolean
check_client_name(server_handshake *h, char **ret_name, GError **error)
{
    GTlsCertificate *peer = g_tls_connection_get_peer_certificate(G_TLS_CONNECTION(h->stream));
    g_autofree char *dn = peer ? g_tls_certificate_get_subject_name(peer) : NULL;
    g_autofree char *name = dn ? common_name(dn) : NULL;

    if (!peer) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_AUTH_FAILED,
                    "TLS: the client presented no certificate");
        return FALSE;
    }
    if (h->tls->allowed_names) {
        gboolean allowed = FALSE;

        for (guint i = 0; name && h->tls->allowed_names[i] && !allowed; i++)
            allowed = g_pattern_match_simple(h->tls->allowed_names[i], name);
        if (!allowed) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_ACCESS_DENIED,
                        "TLS: the client's certificate name '%s' (subject '%s') is not in "
                        "tls_allowed_names", name ? name : "(none)", dn ? dn : "(none)");
            return FALSE;
        }
    }
    if (ret_name)
        *ret_name = name ? g_steal_pointer(&name) : g_strdup(dn ? dn : "");
    return TRUE;
}

static void
on_server_handshake(GObject *source, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    server_handshake *h = g_task_get_task_data(task);
    g_autoptr(GError) local = NULL;
    g_autofree char *name = NULL;

    if (!g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), res, &local)) {
        GTlsCertificateFlags flags =
            g_tls_connection_get_peer_certificate_errors(G_TLS_CONNECTION(source));

        if (h->timed_out) {
            g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                                    "TLS: the client did not finish its handshake in time");
        } else if (flags) {
            g_autofree char *why = describe_flags(flags);

            g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_AUTH_FAILED,
                                    "TLS: the client's certificate is refused: %s", why);
        } else {
            g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_AUTH_FAILED,
                                    "TLS handshake failed: %s", local->message);
        }
        g_object_unref(task);
        return;
    }
    if (!check_client_name(h, &name, &local)) {
        g_task_return_error(task, g_steal_pointer(&local));
        g_object_unref(task);
        return;
    }
    g_object_set_data_full(G_OBJECT(task), "ferry-tls-name", g_steal_pointer(&name), g_free);
    g_task_return_pointer(task, g_steal_pointer(&h->stream), g_object_unref);
    g_object_unref(task);
}

void
ferry_rpc_tls_server_handshake_async(ferry_rpc_tls *tls, GSocketConnection *conn,
                                     guint timeout_ms, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
    GTask *task = g_task_new(NULL, NULL, callback, user_data);
    server_handshake *h = g_new0(server_handshake, 1);
    g_autoptr(GError) local = NULL;

    g_task_set_source_tag(task, ferry_rpc_tls_server_handshake_async);
    h->tls = ferry_rpc_tls_ref(tls);
    g_task_set_task_data(task, h, (GDestroyNotify)server_handshake_free);
    h->stream = g_tls_server_connection_new(G_IO_STREAM(conn), tls->cert, &local);
    if (!h->stream) {
        g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                                "TLS: cannot start a server connection: %s", local->message);
        g_object_unref(task);
        return;
    }
    g_tls_connection_set_database(G_TLS_CONNECTION(h->stream), tls->ca);
    g_object_set(h->stream, "authentication-mode", G_TLS_AUTHENTICATION_REQUIRED, NULL);
    g_signal_connect(h->stream, "accept-certificate", G_CALLBACK(on_accept_certificate), NULL);
    h->cancellable = g_cancellable_new();
    h->timeout = g_timeout_source_new(timeout_ms);
    g_source_set_callback(h->timeout, on_handshake_timeout, h, NULL);
    g_source_attach(h->timeout, g_main_context_get_thread_default());
    g_tls_connection_handshake_async(G_TLS_CONNECTION(h->stream), G_PRIORITY_DEFAULT,
                                     h->cancellable, on_server_handshake, task);
}

GIOStream *
ferry_rpc_tls_server_handshake_finish(GAsyncResult *res, char **ret_name, GError **error)
{
    GIOStream *stream = g_task_propagate_pointer(G_TASK(res), error);

    if (stream && ret_name)
        *ret_name = g_strdup(g_object_get_data(G_OBJECT(res), "ferry-tls-name"));
    return stream;
}
