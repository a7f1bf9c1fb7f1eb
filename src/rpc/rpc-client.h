/*
 * rpc-client.h: the client side of the wire protocol.
 *
 * Owns: one connection to a ferryd over a UNIX socket or TCP, with its own
 * I/O thread and GMainContext; synchronous and asynchronous calls from any
 * thread, matched to their replies by serial, with optional timeouts (and
 * cancellation for the asynchronous ones); delivery of EVENT packets to one
 * callback; keepalive; failing every pending call when the connection is
 * lost.  Must not know what procedures mean (the remote
 * driver, src/remote/, does) and must not log above debug.
 */
#pragma once

#include "rpc/rpc-frame.h"
#include "rpc/rpc-stream.h"
#include "rpc/rpc-tls.h"

G_BEGIN_DECLS

typedef struct ferry_rpc_client ferry_rpc_client;

/**
 * ferry_rpc_event_func:
 * @client: the client
 * @procedure: the event's procedure
 * @body: the event's body
 * @user_data: the config's event_data
 *
 * Receives EVENT packets.  Runs in the client's I/O thread: it must not
 * block nor make synchronous calls on @client (that would wait for
 * itself).  It may make asynchronous ones: their callbacks then run in the
 * I/O thread too.
 */
typedef void (*ferry_rpc_event_func)(ferry_rpc_client *client, guint32 procedure,
                                     GBytes *body, gpointer user_data);

/**
 * ferry_rpc_client_config:
 * @max_frame: the largest frame accepted from the daemon; 0 means
 *   FERRY_RPC_DEFAULT_MAX_FRAME
 * @keepalive_interval_ms: a daemon silent this long is sent a PING, and again
 *   each interval; 0 means 5000; FERRY_RPC_KEEPALIVE_OFF disables it
 * @keepalive_count: unanswered PINGs after which the daemon is declared dead
 *   and the connection closed; 0 means 5
 * @connect_timeout_s: how long connecting may take; 0 means 30
 * @frame_timeout_ms: how long the daemon may take to finish a frame it
 *   began; then the connection is closed.  0 means
 *   FERRY_RPC_DEFAULT_FRAME_TIMEOUT_MS
 * @event_func: (nullable): receives events
 * @event_data: for @event_func; must outlive the client
 * @max_streams: streams open at once on the connection
 *   (ferry_rpc_client_call_stream_async()); 0 means
 *   FERRY_RPC_STREAM_DEFAULT_MAX
 *
 * Zero everywhere gives the defaults.
 */
typedef struct {
    gsize max_frame;
    guint keepalive_interval_ms;
    guint keepalive_count;
    guint connect_timeout_s;
    guint frame_timeout_ms;
    ferry_rpc_event_func event_func;
    gpointer event_data;
    guint max_streams;
} ferry_rpc_client_config;

/**
 * ferry_rpc_client_new_unix:
 * @path: the daemon's UNIX socket
 * @config: (nullable): limits, keepalive and the event callback (copied)
 * @error: return location for an error (FERRY_ERROR_NO_CONNECT)
 *
 * Connects, and starts the client's I/O thread.
 *
 * Returns: (transfer full): the client, or NULL if the daemon could not be
 *   reached.
 */
ferry_rpc_client *ferry_rpc_client_new_unix(const char *path,
                                            const ferry_rpc_client_config *config,
                                            GError **error);

/**
 * ferry_rpc_client_new_tcp:
 * @host: the daemon's host name or address
 * @port: its port
 * @config: (nullable): as for ferry_rpc_client_new_unix()
 * @error: return location for an error (FERRY_ERROR_NO_CONNECT)
 *
 * Connects over plain TCP, and starts the client's I/O thread.
 *
 * Returns: (transfer full): the client, or NULL if the daemon could not be
 *   reached.
 */
ferry_rpc_client *ferry_rpc_client_new_tcp(const char *host, guint16 port,
                                           const ferry_rpc_client_config *config,
                                           GError **error);

/**
 * ferry_rpc_client_new_command:
 * @argv: (array zero-terminated=1): a command whose stdin and stdout carry
 *   the stream to a daemon (`ssh HOST ferry-ssh-helper SOCKET`)
 * @desc: how errors name the daemon ("ferryd at ssh root@hostb")
 * @config: (nullable): as for ferry_rpc_client_new_unix()
 * @error: return location for an error (FERRY_ERROR_NO_CONNECT)
 *
 * Runs the command and starts the client's I/O thread on its pipes.  The
 * command's stderr is the caller's (ssh's own messages reach the user).
 * Freeing the client closes the pipes, and ends the command if it does
 * not end by itself.  A command that fails shows as the connection
 * closing at the first call.
 *
 * Returns: (transfer full): the client, or NULL if the command could not
 *   be started.
 */
ferry_rpc_client *ferry_rpc_client_new_command(const char *const *argv, const char *desc,
                                               const ferry_rpc_client_config *config,
                                               GError **error);

/**
 * ferry_rpc_client_new_tls:
 * @host: the daemon's host name or address; its certificate must name it
 * @port: its TLS port
 * @tls: this client's credentials (ferry_rpc_tls_new_client())
 * @config: (nullable): as for ferry_rpc_client_new_unix()
 * @error: return location for an error (FERRY_ERROR_NO_CONNECT, or
 *   FERRY_ERROR_AUTH_FAILED when a certificate is refused)
 *
 * Connects over TCP, runs the TLS handshake (the server's certificate
 * checked against the CA and @host; this client's presented), and starts
 * the client's I/O thread.
 *
 * Returns: (transfer full): the client, or NULL.
 */
ferry_rpc_client *ferry_rpc_client_new_tls(const char *host, guint16 port,
                                           ferry_rpc_tls *tls,
                                           const ferry_rpc_client_config *config,
                                           GError **error);

/** ferry_rpc_client_ref: Returns: @client with one more reference. */
ferry_rpc_client *ferry_rpc_client_ref(ferry_rpc_client *client);

/**
 * ferry_rpc_client_unref:
 * @client: (nullable): a client
 *
 * Drops a reference; the last one closes the connection, fails every call
 * still pending with FERRY_ERROR_CONNECTION_CLOSED and joins the I/O
 * thread, so it must not be dropped from the I/O thread (an event
 * callback, or the callback of an asynchronous call made from one).
 *
 * Asynchronous calls pending then (they hold no reference on @client)
 * complete with FERRY_ERROR_CONNECTION_CLOSED: those made from the I/O
 * thread have their callbacks run there before this returns; the others in
 * their callers' contexts, as always, possibly after @client is freed:
 * there their callbacks may pass @client to the _finish() function, which
 * does not use it, and must not use it otherwise.
 */
void ferry_rpc_client_unref(ferry_rpc_client *client);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rpc_client, ferry_rpc_client_unref)

/**
 * ferry_rpc_client_get_description:
 * @client: a client
 *
 * Returns: (transfer none): how errors name the daemon: "ferryd at UNIX
 *   socket '/run/ferry/ferryd.sock'" or "ferryd at TCP host:port".
 */
const char *ferry_rpc_client_get_description(ferry_rpc_client *client);

/**
 * ferry_rpc_client_call:
 * @client: a client
 * @procedure: the procedure to call
 * @args: (nullable): the packed Args message; NULL is an empty one
 * @timeout_ms: how long to wait for the reply; 0 waits until the reply
 *   comes or the connection is lost
 * @error: return location for an error: what the daemon answered (its code
 *   and message), FERRY_ERROR_CONNECTION_CLOSED if the connection is or gets
 *   lost, FERRY_ERROR_TIMEOUT, or FERRY_ERROR_RPC
 *
 * Sends a CALL and waits for its REPLY.  Safe from any thread except the
 * client's I/O thread (an event callback); calls from several threads
 * proceed concurrently.
 *
 * Returns: (transfer full): the packed Ret message, or NULL on error.
 */
GBytes *ferry_rpc_client_call(ferry_rpc_client *client, guint32 procedure, GBytes *args,
                              guint timeout_ms, GError **error);

/**
 * ferry_rpc_client_call_message:
 * @client: a client
 * @procedure: a CALL procedure
 * @args: the procedure's Args message (checked against the schema)
 * @timeout_ms: as for ferry_rpc_client_call()
 * @error: return location for an error, as for ferry_rpc_client_call()
 *
 * ferry_rpc_client_call() with packing and unpacking: the reply is unpacked
 * as the procedure's Ret message.
 *
 * Returns: (transfer full): the Ret message (free with
 *   ferry_rpc_message_free()), or NULL on error.
 */
ProtobufCMessage *ferry_rpc_client_call_message(ferry_rpc_client *client,
                                                guint32 procedure,
                                                const ProtobufCMessage *args,
                                                guint timeout_ms, GError **error);

/**
 * ferry_rpc_client_call_async:
 * @client: a client
 * @procedure: the procedure to call
 * @args: (nullable): the packed Args message; NULL is an empty one
 * @timeout_ms: how long to wait for the reply; 0 waits until the reply
 *   comes or the connection is lost
 * @cancellable: (nullable): cancelling it fails the call with
 *   FERRY_ERROR_OPERATION_ABORTED ("call DOMAIN_START cancelled") unless
 *   it completed already; a reply that comes later is dropped
 * @callback: called exactly once, in the thread-default GMainContext of
 *   the thread that made the call (GTask's rule): that context must be
 *   iterated
 * @user_data: for @callback
 *
 * ferry_rpc_client_call() without waiting, for a daemon that calls another
 * daemon without holding a thread.  Safe from any thread, the client's I/O
 * thread (an event callback) included.  The outcome and its errors are
 * those of ferry_rpc_client_call(); a call pending when the connection is
 * lost, or when the last reference on @client goes (see
 * ferry_rpc_client_unref()), fails with FERRY_ERROR_CONNECTION_CLOSED.
 */
void ferry_rpc_client_call_async(ferry_rpc_client *client, guint32 procedure, GBytes *args,
                                 guint timeout_ms, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);

/**
 * ferry_rpc_client_call_finish:
 * @client: the client the call was made on (not used: it may be gone)
 * @result: the GAsyncResult the callback got
 * @error: return location for an error, as for ferry_rpc_client_call(),
 *   or FERRY_ERROR_OPERATION_ABORTED if the call was cancelled
 *
 * Returns: (transfer full): the packed Ret message, or NULL on error.
 */
GBytes *ferry_rpc_client_call_finish(ferry_rpc_client *client, GAsyncResult *result,
                                     GError **error);

/**
 * ferry_rpc_client_call_stream_async:
 * @client: a client
 * @procedure: a procedure whose handler opens a stream on its call
 *   (ferry_rpc_call_open_stream())
 * @args: (nullable): the packed Args message; NULL is an empty one
 * @config: (nullable): this side's window and chunk; NULL for the defaults
 * @callback: gets the call's reply, as for ferry_rpc_client_call_async()
 *   (take it with ferry_rpc_client_call_finish()); in the thread-default
 *   context of the calling thread
 * @user_data: for @callback
 *
 * Makes a call that opens a stream (docs/streams.md), without a timeout:
 * the call's reply and the stream's data are independent, and keepalive
 * detects a dead daemon.  Data can move once the daemon's handler opened
 * its end; writes started before simply wait for it.  A call answered with
 * an error fails the stream with that error; one answered with success
 * without the handler opening the stream fails it with FERRY_ERROR_RPC.
 * Losing the connection fails both.  Any thread.
 *
 * Returns: (transfer full): the stream; if the call could not even be
 *   sent (the connection is gone, too many streams) a stream whose
 *   operations fail with the same error as the call.
 */
ferry_rpc_stream *ferry_rpc_client_call_stream_async(ferry_rpc_client *client,
                                                     guint32 procedure, GBytes *args,
                                                     const ferry_rpc_stream_config *config,
                                                     GAsyncReadyCallback callback,
                                                     gpointer user_data);

/**
 * ferry_rpc_client_call_message_async:
 * @client: a client
 * @procedure: a CALL procedure
 * @args: the procedure's Args message (checked against the schema; packed
 *   before this returns, so it may go at once)
 * @timeout_ms: as for ferry_rpc_client_call_async()
 * @cancellable: (nullable): as for ferry_rpc_client_call_async()
 * @callback: as for ferry_rpc_client_call_async()
 * @user_data: for @callback
 *
 * ferry_rpc_client_call_async() with the packing and unpacking of
 * ferry_rpc_client_call_message().
 */
void ferry_rpc_client_call_message_async(ferry_rpc_client *client, guint32 procedure,
                                         const ProtobufCMessage *args, guint timeout_ms,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);

/**
 * ferry_rpc_client_call_message_finish:
 * @client: the client the call was made on (not used: it may be gone)
 * @result: the GAsyncResult the callback got
 * @error: return location for an error, as for
 *   ferry_rpc_client_call_finish(), or FERRY_ERROR_RPC if the reply does
 *   not unpack
 *
 * Returns: (transfer full): the procedure's Ret message (free with
 *   ferry_rpc_message_free()), or NULL on error.
 */
ProtobufCMessage *ferry_rpc_client_call_message_finish(ferry_rpc_client *client,
                                                       GAsyncResult *result, GError **error);

/**
 * ferry_rpc_client_is_alive:
 * @client: a client
 *
 * Returns: FALSE once the connection is closed, lost or declared dead by
 *   keepalive.
 */
gboolean ferry_rpc_client_is_alive(ferry_rpc_client *client);

/**
 * ferry_rpc_client_close:
 * @client: a client
 *
 * Closes the connection without waiting: pending calls fail with
 * FERRY_ERROR_CONNECTION_CLOSED.  The client stays valid until unreferenced.
 */
void ferry_rpc_client_close(ferry_rpc_client *client);

G_END_DECLS
