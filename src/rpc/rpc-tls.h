/*
 * rpc-tls.h: TLS for the wire protocol's TCP connections (GIO's
 * GTlsConnection, GnuTLS underneath through glib-networking).
 *
 * Owns: loading one side's credentials from a PKI directory laid out as
 * libvirt's (cacert.pem; servercert.pem and private key serverkey.pem;
 * clientcert.pem and clientkey.pem), the handshakes of both sides with
 * their checks -- the peer's certificate chains to the CA and is valid
 * now, the server's certificate names the host the client dialled, the
 * client's certificate carries a name the server allows -- and the words
 * of every refusal.  Must not: read or write frames, count clients, log
 * (the server logs the refusals this returns).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/** The PKI directory of a daemon, and of root's clients, by default. */
#define FERRY_TLS_DEFAULT_PKI_DIR "/etc/pki/ferry"

/** ferry_rpc_tls: one side's TLS credentials; immutable once made. */
typedef struct ferry_rpc_tls ferry_rpc_tls;

/**
 * ferry_rpc_tls_new_server:
 * @pki_dir: holds cacert.pem, servercert.pem and serverkey.pem
 * @allowed_names: (nullable) (array zero-terminated=1): glob patterns
 *   (`*` and `?`) for the common name (CN) of a client's certificate; NULL
 *   allows any client whose certificate the CA signed
 * @error: return location for an error naming the file that is missing or
 *   unusable
 *
 * Returns: (transfer full): the server's credentials, or NULL.
 */
ferry_rpc_tls *ferry_rpc_tls_new_server(const char *pki_dir, const char *const *allowed_names,
                                        GError **error);

/**
 * ferry_rpc_tls_new_client:
 * @pki_dir: holds cacert.pem, clientcert.pem and clientkey.pem
 * @error: return location for an error naming the file
 *
 * Returns: (transfer full): a client's credentials, or NULL.
 */
ferry_rpc_tls *ferry_rpc_tls_new_client(const char *pki_dir, GError **error);

/**
 * ferry_rpc_tls_default_pki_dir:
 *
 * Where a client looks without a `pkipath` URI parameter: $FERRY_PKI_PATH,
 * else FERRY_TLS_DEFAULT_PKI_DIR for root, else ~/.pki/ferry.
 *
 * Returns: (transfer full): the directory.
 */
char *ferry_rpc_tls_default_pki_dir(void);

/** ferry_rpc_tls_ref: adds a reference; returns @tls. */
ferry_rpc_tls *ferry_rpc_tls_ref(ferry_rpc_tls *tls);

/** ferry_rpc_tls_unref: drops a reference; accepts NULL. */
void ferry_rpc_tls_unref(ferry_rpc_tls *tls);

/**
 * ferry_rpc_tls_client_handshake:
 * @tls: a client's credentials
 * @conn: a TCP connection to the daemon (with its I/O timeout still set:
 *   it bounds the handshake)
 * @host: the name or address the client dialled: the server's certificate
 *   must carry it (subject alternative name, or common name)
 * @port: the port dialled
 * @error: return location for an error (FERRY_ERROR_AUTH_FAILED when a
 *   certificate is refused, FERRY_ERROR_NO_CONNECT otherwise)
 *
 * Runs the client's handshake to its end, in the calling thread.
 *
 * Returns: (transfer full): the TLS stream around @conn, or NULL.
 */
GIOStream *ferry_rpc_tls_client_handshake(ferry_rpc_tls *tls, GSocketConnection *conn,
                                          const char *host, guint16 port, GError **error);

/**
 * ferry_rpc_tls_server_handshake_async:
 * @tls: the server's credentials
 * @conn: an accepted TCP connection
 * @timeout_ms: the handshake's bound; a client that has not finished it by
 *   then is refused
 * @callback: runs in the thread-default context of the caller
 * @user_data: for @callback
 *
 * Runs the server's handshake: the client must present a certificate the
 * CA signed, valid now, whose common name @tls allows.
 */
void ferry_rpc_tls_server_handshake_async(ferry_rpc_tls *tls, GSocketConnection *conn,
                                          guint timeout_ms, GAsyncReadyCallback callback,
                                          gpointer user_data);

/**
 * ferry_rpc_tls_server_handshake_finish:
 * @res: the result given to the callback
 * @ret_name: (out) (optional): the client certificate's common name
 * @error: return location for why the client was refused
 *
 * Returns: (transfer full): the TLS stream, ready for frames, or NULL.
 */
GIOStream *ferry_rpc_tls_server_handshake_finish(GAsyncResult *res, char **ret_name,
                                                 GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rpc_tls, ferry_rpc_tls_unref)

G_END_DECLS
