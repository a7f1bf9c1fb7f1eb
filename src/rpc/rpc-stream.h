/*
 * rpc-stream.h: data streams multiplexed with the calls of one connection.
 *
 * Owns: the state of every stream of a connection (a ferry_rpc_stream_table
 * per channel): the STREAM packets of proto/ferry.proto (data, end, abort,
 * window), the per-direction flow control, refusing what a peer must not
 * send, and failing every stream when the connection ends.  The protocol is
 * described in proto/ferry.proto and docs/streams.md.  Must not do I/O
 * itself (frames go through the channel) nor know what a procedure means;
 * must not log: refusals go to the table's owner.
 *
 * Threads: a stream's functions may be called from any thread.  The
 * asynchronous ones complete in the thread-default GMainContext of the
 * thread that started them (GTask's rule): that context must be iterated.
 * The table's functions other than open are for its owner (the client or
 * the server), which calls them in the channel's context.
 */
#pragma once

#include "rpc/rpc-channel.h"

G_BEGIN_DECLS

/** FERRY_RPC_STREAM_DEFAULT_WINDOW: the default receive window (1 MiB). */
#define FERRY_RPC_STREAM_DEFAULT_WINDOW (1024u * 1024u)

/** FERRY_RPC_STREAM_DEFAULT_CHUNK: the default largest data packet (256 KiB). */
#define FERRY_RPC_STREAM_DEFAULT_CHUNK (256u * 1024u)

/**
 * FERRY_RPC_STREAM_MAX_WINDOW: the most a sender accepts to have granted
 * and not used (1 GiB); a peer granting more is refused.
 */
#define FERRY_RPC_STREAM_MAX_WINDOW (1024u * 1024u * 1024u)

/** FERRY_RPC_STREAM_DEFAULT_MAX: the default limit on open streams per connection. */
#define FERRY_RPC_STREAM_DEFAULT_MAX 8

/** ferry_rpc_stream: one stream, as this side sees it. */
typedef struct ferry_rpc_stream ferry_rpc_stream;

/** ferry_rpc_stream_table: the streams of one connection. */
typedef struct ferry_rpc_stream_table ferry_rpc_stream_table;

/**
 * ferry_rpc_stream_config:
 * @window: the bytes this side lets the peer send ahead of what its
 *   application read; this side buffers at most that much.  0 means
 *   FERRY_RPC_STREAM_DEFAULT_WINDOW; at most FERRY_RPC_STREAM_MAX_WINDOW
 * @chunk: the largest data packet this side sends; 0 means
 *   FERRY_RPC_STREAM_DEFAULT_CHUNK; cut to fit the connection's frame limit
 *
 * Zero everywhere gives the defaults.
 */
typedef struct {
    gsize window;
    gsize chunk;
} ferry_rpc_stream_config;

/**
 * ferry_rpc_stream_stats:
 * @bytes_sent: data bytes sent so far
 * @bytes_received: data bytes received so far
 * @in_flight: bytes sent whose room the peer has not given back yet
 *   (at most the peer's window)
 * @max_in_flight: the most @in_flight ever was
 * @max_channel_queued: the most bytes the connection's write queue held
 *   right after this stream queued a data packet (every stream and call of
 *   the connection counted)
 * @buffered: bytes received and not read by the application yet
 * @max_buffered: the most @buffered ever was (at most this side's window)
 * @window_waits: how many times writing stopped for want of the peer's window
 *
 * What a stream did, for tests and statistics.
 */
typedef struct {
    guint64 bytes_sent;
    guint64 bytes_received;
    gsize in_flight;
    gsize max_in_flight;
    gsize max_channel_queued;
    gsize buffered;
    gsize max_buffered;
    guint window_waits;
} ferry_rpc_stream_stats;

/** ferry_rpc_stream_ref: Returns: @stream with one more reference. */
ferry_rpc_stream *ferry_rpc_stream_ref(ferry_rpc_stream *stream);

/**
 * ferry_rpc_stream_unref:
 * @stream: (nullable): a stream
 *
 * Drops a reference.  Dropping the last one of a stream still open aborts
 * it, so that the peer is never left waiting for data nobody will send.
 */
void ferry_rpc_stream_unref(ferry_rpc_stream *stream);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rpc_stream, ferry_rpc_stream_unref)

/**
 * ferry_rpc_stream_get_description:
 * @stream: a stream
 *
 * Returns: (transfer none): how errors name it: "stream 7 of
 *   DOMAIN_MIGRATE_PERFORM3" (the serial and procedure of its call).
 */
const char *ferry_rpc_stream_get_description(ferry_rpc_stream *stream);

/** ferry_rpc_stream_get_serial: Returns: the serial of the stream's call. */
guint32 ferry_rpc_stream_get_serial(ferry_rpc_stream *stream);

/**
 * ferry_rpc_stream_write_async:
 * @stream: a stream
 * @data: what to send (a reference is kept until the write completes; it
 *   is not copied beyond what the peer's window allows)
 * @cancellable: (nullable): cancelling a pending write aborts the stream
 *   (part of @data may have left): both sides see
 *   FERRY_ERROR_OPERATION_ABORTED
 * @callback: runs once @data was handed to the connection, or on failure
 * @user_data: for @callback
 *
 * Sends @data, in packets of at most the configured chunk, as fast as the
 * peer's window allows: the write completes only when all of it is queued,
 * so a slow reader holds the writer back rather than filling memory.  One
 * write at a time; empty @data completes at once.
 */
void ferry_rpc_stream_write_async(ferry_rpc_stream *stream, GBytes *data,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);

/**
 * ferry_rpc_stream_write_finish:
 * @stream: the stream
 * @result: the GAsyncResult the callback got
 * @error: return location for an error: the stream's failure (aborted by
 *   either side, the connection lost, a refusal), or FERRY_ERROR_INVALID_ARG
 *   for a second write while one is pending or a write after the end
 *
 * Returns: TRUE if all the data was queued.
 */
gboolean ferry_rpc_stream_write_finish(ferry_rpc_stream *stream, GAsyncResult *result,
                                       GError **error);

/**
 * ferry_rpc_stream_read_async:
 * @stream: a stream
 * @max: the most bytes wanted (not 0)
 * @cancellable: (nullable): cancelling a pending read aborts the stream, as
 *   for ferry_rpc_stream_write_async()
 * @callback: runs once data, the peer's end, or a failure is there
 * @user_data: for @callback
 *
 * Reads what the peer sent, in order.  Reading gives the peer room to send
 * more.  One read at a time.
 */
void ferry_rpc_stream_read_async(ferry_rpc_stream *stream, gsize max,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);

/**
 * ferry_rpc_stream_read_finish:
 * @stream: the stream
 * @result: the GAsyncResult the callback got
 * @error: return location for an error, as for
 *   ferry_rpc_stream_write_finish()
 *
 * Returns: (transfer full): between 1 and max bytes, an empty GBytes once
 *   the peer ended its direction and everything was read, or NULL on error.
 */
GBytes *ferry_rpc_stream_read_finish(ferry_rpc_stream *stream, GAsyncResult *result,
                                     GError **error);

/**
 * ferry_rpc_stream_end:
 * @stream: a stream with no write pending
 * @error: return location for an error: the stream's failure, or
 *   FERRY_ERROR_INVALID_ARG if a write is pending or it ended already
 *
 * Ends this side's direction in order: the peer reads what was written,
 * then the end.  Does not wait.  The stream is over once both sides ended.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_rpc_stream_end(ferry_rpc_stream *stream, GError **error);

/**
 * ferry_rpc_stream_abort:
 * @stream: a stream
 * @reason: why; its code travels to the peer
 *
 * Ends both directions at once.  The peer's pending and later operations
 * fail with "<stream> aborted by the peer: <reason>", this side's with
 * "<stream> aborted by this side: <reason>".  Does nothing to a stream that
 * is over or failed already.
 */
void ferry_rpc_stream_abort(ferry_rpc_stream *stream, const GError *reason);

/**
 * ferry_rpc_stream_is_open:
 * @stream: a stream
 *
 * Returns: TRUE until both sides ended it, or it failed.
 */
gboolean ferry_rpc_stream_is_open(ferry_rpc_stream *stream);

/**
 * ferry_rpc_stream_get_stats:
 * @stream: a stream
 * @ret_stats: (out caller-allocates): filled
 */
void ferry_rpc_stream_get_stats(ferry_rpc_stream *stream, ferry_rpc_stream_stats *ret_stats);

/* ------------------------------------------------------------------------ */
/* For the owners of a connection: the client and the server               */
/* ------------------------------------------------------------------------ */

/**
 * ferry_rpc_stream_refusal_func:
 * @message: a sentence naming the stream and what was refused
 * @user_data: as given to ferry_rpc_stream_table_new()
 *
 * Told of every STREAM packet refused; runs in the channel's context, with
 * no lock of the table held.
 */
typedef void (*ferry_rpc_stream_refusal_func)(const char *message, gpointer user_data);

/**
 * ferry_rpc_stream_table_new:
 * @chan: the connection's channel (a reference is taken)
 * @max_frame: the frame limit of the connection
 * @max_streams: how many streams may be open at once; 0 means
 *   FERRY_RPC_STREAM_DEFAULT_MAX
 * @on_refusal: (nullable): told of refusals, for the owner's log
 * @user_data: for @on_refusal; must outlive the table
 *
 * Returns: (transfer full): an empty table.
 */
ferry_rpc_stream_table *ferry_rpc_stream_table_new(ferry_rpc_channel *chan, gsize max_frame,
                                                   guint max_streams,
                                                   ferry_rpc_stream_refusal_func on_refusal,
                                                   gpointer user_data);

/**
 * ferry_rpc_stream_table_unref:
 * @table: (nullable): a table
 *
 * Drops the owner's reference (streams hold one each).
 */
void ferry_rpc_stream_table_unref(ferry_rpc_stream_table *table);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rpc_stream_table, ferry_rpc_stream_table_unref)

/**
 * ferry_rpc_stream_table_open:
 * @table: a table
 * @procedure: the procedure of the call the stream belongs to
 * @serial: that call's serial
 * @config: (nullable): window and chunk; NULL for the defaults
 * @caller: TRUE on the side that sent the CALL (it waits for the peer's
 *   first WINDOW, then sends its own); FALSE on the side that answers it
 *   (its first WINDOW goes at once)
 * @error: return location for an error: FERRY_ERROR_CONNECTION_CLOSED
 *   once the connection ended, FERRY_ERROR_LIMIT when too many streams are
 *   open, FERRY_ERROR_INVALID_ARG if a stream of @serial is open
 *
 * Opens a stream.  The caller side opens it before its CALL leaves, so
 * that no packet of it can arrive first.  Any thread.
 *
 * Returns: (transfer full): the stream, or NULL.
 */
ferry_rpc_stream *ferry_rpc_stream_table_open(ferry_rpc_stream_table *table,
                                              guint32 procedure, guint32 serial,
                                              const ferry_rpc_stream_config *config,
                                              gboolean caller, GError **error);

/**
 * ferry_rpc_stream_new_failed:
 * @procedure: the procedure it was for
 * @error: why no stream could be opened
 *
 * Returns: (transfer full): a stream whose every operation fails with
 *   @error, for an API that returns a stream even when the call could not
 *   be made.
 */
ferry_rpc_stream *ferry_rpc_stream_new_failed(guint32 procedure, const GError *error);

/**
 * ferry_rpc_stream_table_handle_packet:
 * @table: a table
 * @packet: a STREAM packet
 *
 * Gives @packet to its stream; refuses, with an abort sent back, one the
 * protocol does not allow.  Never closes the connection.
 */
void ferry_rpc_stream_table_handle_packet(ferry_rpc_stream_table *table,
                                          const Ferry__Packet *packet);

/**
 * ferry_rpc_stream_table_call_replied:
 * @table: a table
 * @serial: the serial of a call that was answered
 * @error: (nullable): the error it was answered with
 * @caller: TRUE on the side that made the call
 *
 * A call answered with an error fails its stream on both sides (each side
 * sees the REPLY; nothing more is sent).  On the caller's side, a call
 * answered with success before its stream was opened by the peer fails
 * the stream: the procedure does not open one.
 */
void ferry_rpc_stream_table_call_replied(ferry_rpc_stream_table *table, guint32 serial,
                                         const GError *error, gboolean caller);

/**
 * ferry_rpc_stream_table_close_all:
 * @table: a table
 * @reason: why the connection ended
 *
 * Fails every stream (their pending and later operations get
 * FERRY_ERROR_CONNECTION_CLOSED naming the stream and @reason) and refuses
 * new ones.
 */
void ferry_rpc_stream_table_close_all(ferry_rpc_stream_table *table, const GError *reason);

G_END_DECLS
