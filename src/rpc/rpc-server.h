/*
 * rpc-server.h: the daemon side of the wire protocol.
 *
 * Owns: listening on UNIX and TCP sockets, one ferry_rpc_server_client per
 * accepted connection, the limits (clients, calls in flight per client,
 * frame size), keepalive, running CALLs on two pools of worker threads
 * (normal and priority), sending their replies when the handler completes
 * them, and logging why a connection was refused or closed.  Must not know
 * what a procedure means: a ferry_rpc_handler (the daemon's dispatch,
 * src/daemon/dispatch.h) does.
 *
 * Threads: the server runs on the thread-default GMainContext of the thread
 * that called ferry_rpc_server_new(); every function here except
 * ferry_rpc_server_client_send_event(), the client accessors and the
 * ferry_rpc_call functions must be called from that thread, and that
 * context must be iterated.  Calls run on worker threads: the priority pool
 * for the procedures the handler names quick, the normal pool for the
 * others.  A handler may complete a call after its call function returned
 * (a deferred call), from any thread.
 *
 * Logging (G_LOG_DOMAIN "ferry-rpc"): a refused client, a bad frame, a dead
 * peer and a peer that does not read are warnings naming the client, e.g.
 * "client 3 (unix, pid 1234, uid 0): frame length 4294967295 exceeds limit
 * 4194304; closing"; connections and clean disconnections are info.
 */
#pragma once

#include "rpc/rpc-frame.h"
#include "rpc/rpc-stream.h"
#include "rpc/rpc-tls.h"

G_BEGIN_DECLS

typedef struct ferry_rpc_server ferry_rpc_server;

/** ferry_rpc_server_client: one accepted connection, server side. */
typedef struct ferry_rpc_server_client ferry_rpc_server_client;

/**
 * ferry_rpc_call: one CALL being served: what a handler completes, at once
 * or later, with ferry_rpc_call_return() or ferry_rpc_call_return_error().
 */
typedef struct ferry_rpc_call ferry_rpc_call;

/**
 * ferry_rpc_handler:
 * @client_open: a client connected; returns the handler's per-client data.
 *   Runs in the server's context.
 * @call: serves one CALL, on a worker thread: @args is the call's body,
 *   valid until this function returns (a deferred call keeps what it
 *   decoded from it).
 *   The handler completes @call exactly once, with ferry_rpc_call_return()
 *   (the packed Ret message) or ferry_rpc_call_return_error() (sent to the
 *   client as an Error): either before this function returns, or later
 *   from any thread.  A call that waits for something (a migration phase lasting
 *   minutes) so completes later and holds no worker meanwhile.  Until it is
 *   completed the call counts in the client's calls in flight and keeps the
 *   client (and its per-client data) alive; if the connection closed
 *   meanwhile, the completion is accepted and the reply dropped.  Calls of
 *   one client may run concurrently.
 * @is_priority: (nullable): TRUE for the procedures that are quick queries:
 *   their calls run on the priority workers, so they answer at once even
 *   while every normal worker is busy with long calls.  Runs in the
 *   server's context; NULL makes no call priority.
 * @client_close: the connection closed; runs once, in the server's
 *   context.  Calls of the client may still be running or waiting to be
 *   completed; their replies are dropped.
 * @client_free: frees the per-client data once the connection is closed and
 *   every call of it has returned and been completed; any thread, possibly
 *   after the server was freed (a late completion of a deferred call).
 *
 * What the server asks of whoever gives meaning to procedures.  The handler
 * must outlive the server and every call it has not completed yet.
 */
typedef struct {
    gpointer (*client_open)(gpointer handler_data, ferry_rpc_server_client *client);
    void (*call)(gpointer handler_data, ferry_rpc_server_client *client,
                 gpointer client_data, guint32 procedure, GBytes *args,
                 ferry_rpc_call *call);
    gboolean (*is_priority)(gpointer handler_data, guint32 procedure);
    void (*client_close)(gpointer handler_data, ferry_rpc_server_client *client,
                         gpointer client_data);
    void (*client_free)(gpointer client_data);
} ferry_rpc_handler;

/**
 * ferry_rpc_server_config:
 * @max_clients: TCP connections served at once; more are accepted, logged
 *   and closed at once.  0 means 64.
 * @max_unix_clients: the same for UNIX-socket connections, counted apart
 *   so that TCP peers never lock out the local socket.  0 means 64.
 * @max_clients_per_address: TCP connections served at once from one peer
 *   address (within @max_clients).  0 means no limit but @max_clients.
 * @max_calls_per_client: calls of one client queued, running or deferred
 *   (not completed yet) at once; a call beyond it is answered with
 *   FERRY_ERROR_LIMIT (the connection stays).  0 means 16.
 * @max_call_bytes_per_client: bytes of arguments a client's calls in
 *   flight (as for @max_calls_per_client) may hold at once; a call beyond
 *   it is answered with FERRY_ERROR_LIMIT.  0 means 8 MiB.
 * @max_workers: worker threads running the calls that are not priority.
 *   0 means 4.
 * @max_priority_workers: worker threads running the calls the handler's
 *   is_priority names.  0 means 2.
 * @max_frame: the largest frame accepted.  0 means
 *   FERRY_RPC_DEFAULT_MAX_FRAME.
 * @keepalive_interval_ms: a client silent this long is sent a PING, and
 *   again each interval.  0 means 5000; FERRY_RPC_KEEPALIVE_OFF disables it.
 * @keepalive_count: unanswered PINGs after which a client is declared dead
 *   and closed.  0 means 5.
 * @unix_group_set: members of group @unix_gid may use the read-write UNIX
 *   socket too (root and the daemon's own user always may)
 * @unix_gid: that group
 * @frame_timeout_ms: how long a client may take to finish a frame it
 *   began, from its first byte; then it is closed.  0 means
 *   FERRY_RPC_DEFAULT_FRAME_TIMEOUT_MS.
 * @max_streams_per_client: streams (ferry_rpc_call_open_stream()) open at
 *   once on one connection.  0 means FERRY_RPC_STREAM_DEFAULT_MAX.  Their
 *   windows, with the calls' replies, should stay well below the write
 *   queue's limit of 4 frames, or a client reading slowly is closed as
 *   stuck.
 * @handler: what runs the calls; must outlive the server
 * @handler_data: passed to @handler's functions
 *
 * Zero everywhere gives the defaults; only @handler is required.
 */
typedef struct {
    guint max_clients;
    guint max_unix_clients;
    guint max_clients_per_address;
    guint max_calls_per_client;
    gsize max_call_bytes_per_client;
    guint max_workers;
    guint max_priority_workers;
    gsize max_frame;
    guint keepalive_interval_ms;
    guint keepalive_count;
    gboolean unix_group_set;
    guint32 unix_gid;
    guint frame_timeout_ms;
    guint max_streams_per_client;
    const ferry_rpc_handler *handler;
    gpointer handler_data;
} ferry_rpc_server_config;

/**
 * ferry_rpc_server_new:
 * @config: the limits and the handler (copied)
 * @error: return location for an error
 *
 * Creates a server that listens nowhere yet.  It starts accepting
 * connections when its context next runs: add every listener before that
 * (a listener added later makes GIO restart its pending accept, which may
 * drop a connection arriving at that very moment).
 *
 * Returns: (transfer full): the server, or NULL if its worker threads could
 *   not be created.
 */
ferry_rpc_server *ferry_rpc_server_new(const ferry_rpc_server_config *config,
                                       GError **error);

/**
 * ferry_rpc_server_add_unix:
 * @srv: a server
 * @path: where to create the socket; a stale socket there is replaced
 * @mode: the socket file's permissions, e.g. 0600
 * @error: return location for an error (FERRY_ERROR_SYSTEM)
 *
 * Listens on a UNIX socket.  Clients on it are identified in logs by the
 * pid and uid from their credentials, and let in only if they are root,
 * the daemon's own user, or in the configured group (unix_gid): any other
 * is logged and closed before any of its frames is read.  The file is
 * removed when the server stops.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_rpc_server_add_unix(ferry_rpc_server *srv, const char *path, guint mode,
                                   GError **error);

/**
 * ferry_rpc_server_add_unix_read_only:
 * @srv: a server
 * @path: where to create the socket; a stale socket there is replaced
 * @mode: the socket file's permissions, e.g. 0666
 * @error: return location for an error (FERRY_ERROR_SYSTEM)
 *
 * Listens on a UNIX socket whose clients are read-only
 * (ferry_rpc_server_client_is_read_only()): any user the file's
 * permissions let in, for the handler to allow queries only.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_rpc_server_add_unix_read_only(ferry_rpc_server *srv, const char *path,
                                             guint mode, GError **error);

/**
 * ferry_rpc_server_add_tcp:
 * @srv: a server
 * @address: (nullable): the address to listen on ("127.0.0.1", "::1");
 *   NULL means every address
 * @port: the port; 0 picks a free one
 * @ret_port: (out) (optional): the port actually listened on
 * @error: return location for an error (FERRY_ERROR_SYSTEM)
 *
 * Listens on TCP, without TLS: use only where the operator allowed it.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_rpc_server_add_tcp(ferry_rpc_server *srv, const char *address,
                                  guint16 port, guint16 *ret_port, GError **error);

/**
 * ferry_rpc_server_add_tls:
 * @srv: a server (at most one TLS listener)
 * @address: (nullable): the address to listen on; NULL means every address
 * @port: the port; 0 picks a free one
 * @tls: the server's credentials and the client names it allows
 *   (ferry_rpc_tls_new_server()); referenced
 * @ret_port: (out) (optional): the port actually listened on
 * @error: return location for an error (FERRY_ERROR_SYSTEM)
 *
 * Listens on TCP for TLS clients.  A client first completes the TLS
 * handshake -- within 10 s, with a certificate the CA signed, valid now,
 * whose name @tls allows -- and only then is it a client: one refused is
 * logged (a warning naming its address and why) and closed before any of
 * its frames is read.  Clients in their handshake count in max_clients.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_rpc_server_add_tls(ferry_rpc_server *srv, const char *address, guint16 port,
                                  ferry_rpc_tls *tls, guint16 *ret_port, GError **error);

/**
 * ferry_rpc_server_get_n_clients:
 * @srv: a server
 *
 * Returns: how many clients are connected.
 */
guint ferry_rpc_server_get_n_clients(ferry_rpc_server *srv);

/**
 * ferry_rpc_server_stop:
 * @srv: a server
 *
 * Stops listening, closes every client, waits for the handlers' call
 * functions still running on workers to return, and removes the UNIX
 * socket files.  Iterates the server's context until the closed
 * connections have let go of it.  Calls deferred and not completed yet are
 * not waited for (a migration phase may last minutes): completing them
 * later is harmless, their replies are dropped.  Stopping twice does
 * nothing.
 */
void ferry_rpc_server_stop(ferry_rpc_server *srv);

/**
 * ferry_rpc_server_free:
 * @srv: (nullable): a server
 *
 * Stops @srv if needed and frees it.
 */
void ferry_rpc_server_free(ferry_rpc_server *srv);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rpc_server, ferry_rpc_server_free)

/** ferry_rpc_server_client_ref: Returns: @client with one more reference. */
ferry_rpc_server_client *ferry_rpc_server_client_ref(ferry_rpc_server_client *client);

/** ferry_rpc_server_client_unref: drops a reference; accepts NULL. */
void ferry_rpc_server_client_unref(ferry_rpc_server_client *client);

/**
 * ferry_rpc_server_client_get_description:
 * @client: a client
 *
 * Returns: (transfer none): how logs name it: "client 3 (unix, pid 1234,
 *   uid 0)",
 *   "client 4 (tcp, 127.0.0.1:40312)" or "client 5 (tls, 10.0.0.2:40400,
 *   certificate 'hostb')".  Any thread.
 */
const char *ferry_rpc_server_client_get_description(ferry_rpc_server_client *client);

/**
 * ferry_rpc_server_client_is_read_only:
 * @client: a client
 *
 * Returns: TRUE for a client of a read-only socket.  Any thread.
 */
gboolean ferry_rpc_server_client_is_read_only(ferry_rpc_server_client *client);

/**
 * ferry_rpc_server_client_get_peer:
 * @client: a client
 *
 * Returns: (transfer none): who is behind it, for limits kept per peer
 *   rather than per connection: "unix uid 0" (or "unix, credentials
 *   unknown"), "tcp 10.0.0.1", "tls 10.0.0.2" (addresses without the
 *   port).  The server's own log lines about a client carry it in the
 *   structured field FERRY_PEER, and every call answered with an error is
 *   logged once, at info level, with the client's description.  Any
 *   thread.
 */
const char *ferry_rpc_server_client_get_peer(ferry_rpc_server_client *client);

/**
 * ferry_rpc_server_client_get_tls_name:
 * @client: a client
 *
 * Returns: (transfer none) (nullable): the common name of a TLS client's
 *   certificate (checked at its handshake); NULL for other clients.  Any
 *   thread.
 */
const char *ferry_rpc_server_client_get_tls_name(ferry_rpc_server_client *client);

/**
 * ferry_rpc_server_client_get_credentials:
 * @client: a client
 * @ret_pid: (out) (optional): the peer's process id
 * @ret_uid: (out) (optional): the peer's user id
 *
 * What the kernel says of a peer on the UNIX socket, for access checks.
 * Any thread.
 *
 * Returns: FALSE (leaving the outputs alone) for a TCP peer or when the
 *   credentials could not be read.
 */
gboolean ferry_rpc_server_client_get_credentials(ferry_rpc_server_client *client,
                                                 gint64 *ret_pid, gint64 *ret_uid);

/**
 * ferry_rpc_server_client_send_event:
 * @client: a client
 * @procedure: the event's procedure (e.g. FERRY__PROCEDURE__EVENT_LIFECYCLE)
 * @body: the packed event message
 *
 * Queues an EVENT packet to @client.  Safe from any thread.
 *
 * Returns: FALSE if the client is gone (the event is dropped).
 */
gboolean ferry_rpc_server_client_send_event(ferry_rpc_server_client *client,
                                            guint32 procedure, GBytes *body);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rpc_server_client, ferry_rpc_server_client_unref)

/**
 * ferry_rpc_call_return:
 * @call: a call given to the handler's call function, not completed yet
 * @ret_body: (nullable) (transfer none): the packed Ret message; NULL is an
 *   empty one
 *
 * Completes @call with success: the REPLY goes to the client, or, if it
 * would exceed the client's frame limit, an error saying so.  Any thread.
 * @call is gone afterwards; completing it again is a programming error
 * (a critical, when the handler's call function has not returned yet).
 */
void ferry_rpc_call_return(ferry_rpc_call *call, GBytes *ret_body);

/**
 * ferry_rpc_call_return_error:
 * @call: a call given to the handler's call function, not completed yet
 * @error: (transfer full): why it failed; NULL is an internal error saying
 *   the handler gave no reason
 *
 * Completes @call with an error reply carrying @error's code and message.
 * Any thread; as for ferry_rpc_call_return(), @call is gone afterwards.
 */
void ferry_rpc_call_return_error(ferry_rpc_call *call, GError *error);

/**
 * ferry_rpc_call_get_procedure:
 * @call: a call not completed yet
 *
 * Returns: the procedure @call is for.
 */
guint32 ferry_rpc_call_get_procedure(ferry_rpc_call *call);

/**
 * ferry_rpc_call_open_stream:
 * @call: a call not completed yet, with no stream
 * @config: (nullable): this side's window and chunk; NULL for the defaults
 * @error: return location for an error: FERRY_ERROR_CONNECTION_CLOSED if
 *   the client is gone, FERRY_ERROR_LIMIT if it has max_streams_per_client
 *   streams open, FERRY_ERROR_INVALID_ARG if a stream of the call's serial
 *   is open
 *
 * Opens the stream of @call (docs/streams.md): the client sent the CALL
 * with ferry_rpc_client_call_stream_async(), and the STREAM packets of
 * both directions carry @call's procedure and serial.  Any thread, before
 * @call is completed.  The stream outlives the call's completion: the
 * handler may reply at once and move data for minutes.  Completing @call
 * with an error fails the stream on both sides.  The stream's operations
 * complete in the thread-default context of the thread that starts them: a
 * handler on a worker thread starts them from a context it iterates (the
 * server's, through g_main_context_invoke(), or its own).
 *
 * Returns: (transfer full): the stream, or NULL.
 */
ferry_rpc_stream *ferry_rpc_call_open_stream(ferry_rpc_call *call,
                                             const ferry_rpc_stream_config *config,
                                             GError **error);

G_END_DECLS
