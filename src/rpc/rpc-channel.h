/*
 * rpc-channel.h: one connection's packets, both directions, on a GMainContext.
 *
 * Owns: reading frames from a GIOStream and handing checked packets to its
 * owner, a serialized write queue that any thread may add frames to,
 * keepalive (PING when the peer is idle, PONG to the peer's PING, death
 * after too many unanswered PINGs), and closing exactly once with a reason.
 * Used by both the server (one per client) and the client.  Must not know
 * about calls, serials or procedures other than keepalive, and must not
 * log: its owner reports the reason a channel closed.
 *
 * Threads: the channel lives on one GMainContext.  ferry_rpc_channel_send()
 * and ferry_rpc_channel_close() may be called from any thread; everything
 * else, and every callback, runs in the context.
 */
#pragma once

#include "rpc/rpc-frame.h"

G_BEGIN_DECLS

typedef struct ferry_rpc_channel ferry_rpc_channel;

/**
 * ferry_rpc_channel_config:
 * @max_frame: the largest frame accepted; 0 means FERRY_RPC_DEFAULT_MAX_FRAME
 * @max_queued: bytes allowed to wait in the write queue before the peer is
 *   declared stuck and the channel closed; 0 means 4 times @max_frame
 * @keepalive_interval_ms: how long the peer may stay silent before a PING is
 *   sent, and the time between PINGs; 0 disables keepalive
 * @keepalive_count: how many PINGs in a row may go unanswered before the peer
 *   is declared dead; 0 means 5
 * @frame_timeout_ms: how long a peer may take to finish a frame it began,
 *   from its first byte; beyond it the channel closes.  Keepalive alone does
 *   not catch a peer that sends one byte now and then; this does.  0
 *   disables it
 */
typedef struct {
    gsize max_frame;
    gsize max_queued;
    guint keepalive_interval_ms;
    guint keepalive_count;
    guint frame_timeout_ms;
} ferry_rpc_channel_config;

/**
 * ferry_rpc_packet_func:
 * @chan: the channel
 * @packet: (transfer none): a checked packet other than keepalive; valid
 *   only during the call
 * @user_data: as given to ferry_rpc_channel_new()
 *
 * Runs in the channel's context.  It may close the channel; no packet is
 * delivered after that.
 */
typedef void (*ferry_rpc_packet_func)(ferry_rpc_channel *chan, const Ferry__Packet *packet,
                                      gpointer user_data);

/**
 * ferry_rpc_closed_func:
 * @chan: the channel
 * @reason: why it closed: FERRY_ERROR_CONNECTION_CLOSED when the peer
 *   closed cleanly or the owner closed it, FERRY_ERROR_RPC for a bad frame,
 *   FERRY_ERROR_TIMEOUT for a dead peer or a frame not finished in time, FERRY_ERROR_LIMIT for a peer that
 *   does not read
 * @user_data: as given to ferry_rpc_channel_new()
 *
 * Runs once, in the channel's context; no callback runs after it.
 */
typedef void (*ferry_rpc_closed_func)(ferry_rpc_channel *chan, const GError *reason,
                                      gpointer user_data);

/**
 * ferry_rpc_channel_new:
 * @stream: a connected stream (a reference is taken)
 * @context: the context the channel's I/O and callbacks run in
 * @config: (nullable): limits and keepalive; NULL for the defaults
 *   (keepalive off)
 * @on_packet: receives packets
 * @on_closed: told once when the channel closes
 * @user_data: for the callbacks; must stay valid until @on_closed ran
 *
 * Returns: (transfer full): a channel that does nothing until
 *   ferry_rpc_channel_start().
 */
ferry_rpc_channel *ferry_rpc_channel_new(GIOStream *stream, GMainContext *context,
                                         const ferry_rpc_channel_config *config,
                                         ferry_rpc_packet_func on_packet,
                                         ferry_rpc_closed_func on_closed,
                                         gpointer user_data);

/** ferry_rpc_channel_ref: Returns: @chan with one more reference. */
ferry_rpc_channel *ferry_rpc_channel_ref(ferry_rpc_channel *chan);

/**
 * ferry_rpc_channel_unref:
 * @chan: (nullable): a channel
 *
 * Drops a reference.  The owner must have closed the channel before it drops
 * its last reference.
 */
void ferry_rpc_channel_unref(ferry_rpc_channel *chan);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rpc_channel, ferry_rpc_channel_unref)

/**
 * ferry_rpc_channel_start:
 * @chan: a new channel
 *
 * Starts reading and the keepalive timer.  Call it in the channel's context
 * (from its owning thread), once.
 */
void ferry_rpc_channel_start(ferry_rpc_channel *chan);

/**
 * ferry_rpc_channel_send:
 * @chan: a channel
 * @frame: a whole frame (ferry_rpc_frame_new())
 *
 * Queues @frame; frames go out whole and in the order they were queued.
 * Safe from any thread.  Never runs a callback of the channel before it
 * returns (a queue over max_queued closes the channel from a source), so
 * a sender may hold a lock its closed callback takes.
 *
 * Returns: FALSE if the channel is closed (the frame is dropped).
 */
gboolean ferry_rpc_channel_send(ferry_rpc_channel *chan, GBytes *frame);

/**
 * ferry_rpc_channel_close:
 * @chan: a channel
 * @reason: (transfer full) (nullable): why; NULL means the owner closed it
 *
 * Closes the channel: pending writes are dropped, the socket is shut down
 * and the closed callback runs.  In the thread that owns the context (or
 * whose thread-default it is, when nobody iterates it) this happens before
 * the function returns; from another thread it is queued to the context
 * (g_main_context_invoke()).  Closing a closed channel does nothing.
 */
void ferry_rpc_channel_close(ferry_rpc_channel *chan, GError *reason);

/**
 * ferry_rpc_channel_is_closed:
 * @chan: a channel
 *
 * Returns: TRUE once the channel is closed.  Safe from any thread.
 */
gboolean ferry_rpc_channel_is_closed(ferry_rpc_channel *chan);

/**
 * ferry_rpc_channel_get_queued:
 * @chan: a channel
 *
 * Returns: the bytes waiting in the write queue, the frame being written
 *   included.  Safe from any thread.
 */
gsize ferry_rpc_channel_get_queued(ferry_rpc_channel *chan);

/**
 * ferry_rpc_channel_is_busy:
 * @chan: a channel
 *
 * After closing, the channel still waits for its cancelled reads and writes
 * to come back through the context.  Owners that stop iterating the context
 * iterate it until this says FALSE, so nothing is leaked.
 *
 * Returns: TRUE while I/O operations of @chan are outstanding.
 */
gboolean ferry_rpc_channel_is_busy(ferry_rpc_channel *chan);

G_END_DECLS
