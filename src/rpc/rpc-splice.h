/*
 * rpc-splice.h: a stream of an RPC connection joined to a local socket.
 *
 * A tunnelled migration (docs/tunnelled.md) carries QEMU's migration stream
 * over the two daemons' RPC connection.  Each QEMU gets one end of a
 * socketpair; its daemon splices the other end to the connection's stream:
 * what QEMU writes goes out as stream data, what the peer sends is written
 * to QEMU, both ways at once (QEMU's return path goes back the same way).
 *
 * Owns: the two pumps between the socket and the stream, on a thread of
 * their own, and the mapping of the ends: the socket's end of file ends
 * the stream's direction in order, the stream's end shuts the socket's
 * writing side down, anything else that breaks aborts the stream and
 * closes the socket, so that the QEMU on either side sees its stream fail.
 * Must not: know what travels (QEMU decides whether a stream that ended was
 * complete), nor log: the owner reads ferry_rpc_splice_get_error().
 */
#pragma once

#include "rpc/rpc-stream.h"

G_BEGIN_DECLS

/** ferry_rpc_splice: a stream joined to a socket, running. */
typedef struct ferry_rpc_splice ferry_rpc_splice;

/**
 * ferry_rpc_splice_start:
 * @name: what the splice serves, for messages ("the tunnel of domain 'web1'")
 * @stream: an open stream (a reference is taken)
 * @socket: a connected stream socket (a reference is taken; the splice
 *   closes it when it ends)
 * @error: return location for an error
 *
 * Starts moving bytes both ways on a thread of its own.  It ends once both
 * directions ended, or something broke; it runs to its end also when
 * nobody holds it any more.
 *
 * Returns: (transfer full): the splice, or NULL if its thread could not
 *   start.
 */
ferry_rpc_splice *ferry_rpc_splice_start(const char *name, ferry_rpc_stream *stream,
                                         GSocket *socket, GError **error);

/** ferry_rpc_splice_ref: Returns: @splice with one more reference. */
ferry_rpc_splice *ferry_rpc_splice_ref(ferry_rpc_splice *splice);

/**
 * ferry_rpc_splice_unref:
 * @splice: (nullable): a splice
 *
 * Drops a reference; the splice goes on until it ends by itself.
 */
void ferry_rpc_splice_unref(ferry_rpc_splice *splice);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rpc_splice, ferry_rpc_splice_unref)

/**
 * ferry_rpc_splice_stop:
 * @splice: a splice
 * @reason: why; sent to the peer as the stream's abort
 *
 * Aborts the stream and closes the socket, if it did not end yet, and
 * waits until the splice's thread is done.
 */
void ferry_rpc_splice_stop(ferry_rpc_splice *splice, const GError *reason);

/**
 * ferry_rpc_splice_wait:
 * @splice: a splice
 * @timeout_us: the longest wait, in microseconds; negative: no bound
 *
 * Waits until the splice ended.
 *
 * Returns: TRUE if it ended.
 */
gboolean ferry_rpc_splice_wait(ferry_rpc_splice *splice, gint64 timeout_us);

/**
 * ferry_rpc_splice_get_error:
 * @splice: a splice
 *
 * Returns: (transfer full) (nullable): why the splice broke ("the tunnel
 *   of domain 'web1': stream 7 of ...: the connection ended: ..."), or NULL
 *   if it did not break (yet).
 */
char *ferry_rpc_splice_get_error(ferry_rpc_splice *splice);

/**
 * ferry_rpc_splice_get_counts:
 * @splice: a splice
 * @ret_to_stream: (out) (optional): bytes read from the socket and sent
 * @ret_to_socket: (out) (optional): bytes received and written to the socket
 */
void ferry_rpc_splice_get_counts(ferry_rpc_splice *splice, guint64 *ret_to_stream,
                                 guint64 *ret_to_socket);

G_END_DECLS
