/*
 * rpc-frame.h: frames on the byte stream: a 4-byte big-endian length, then
 * one Packet (proto/ferry.proto).
 *
 * Owns: building frames and the incremental decoder that turns arbitrary
 * chunks of bytes into checked packets.  Pure: no I/O, no threads, no
 * logging; the caller decides what a bad frame means.
 */
#pragma once

#include "rpc/rpc-message.h"

G_BEGIN_DECLS

/** FERRY_RPC_DEFAULT_MAX_FRAME: the default limit on a frame's length (4 MiB). */
#define FERRY_RPC_DEFAULT_MAX_FRAME (4u * 1024u * 1024u)

/**
 * FERRY_RPC_KEEPALIVE_OFF: a keepalive_interval_ms of the server's and the
 * client's configuration that disables keepalive.
 */
#define FERRY_RPC_KEEPALIVE_OFF G_MAXUINT

/**
 * FERRY_RPC_DEFAULT_FRAME_TIMEOUT_MS: how long, by default, a peer may take
 * to finish a frame it began (30 s: 4 MiB at 140 KiB/s).
 */
#define FERRY_RPC_DEFAULT_FRAME_TIMEOUT_MS 30000u

/** FERRY_RPC_HEADER_SIZE: the size of the length prefix. */
#define FERRY_RPC_HEADER_SIZE 4u

/**
 * ferry_rpc_frame_new:
 * @procedure: a Procedure
 * @type: the packet type
 * @serial: the call's serial (0 for events)
 * @status: the packet status
 * @body: (nullable): the packed body; NULL or empty means no body
 *
 * Returns: (transfer full): the whole frame, length prefix included.
 */
GBytes *ferry_rpc_frame_new(guint32 procedure, Ferry__PacketType type, guint32 serial,
                            Ferry__PacketStatus status, GBytes *body);

/**
 * ferry_rpc_frame_new_error:
 * @procedure: the procedure of the call being answered
 * @serial: the serial of the call being answered
 * @error: the error to send
 *
 * Returns: (transfer full): a REPLY frame with status ERROR carrying @error.
 */
GBytes *ferry_rpc_frame_new_error(guint32 procedure, guint32 serial, const GError *error);

/**
 * ferry_rpc_frame_check_size:
 * @frame: a frame about to be sent
 * @max_frame: the frame limit both sides apply
 * @what: what the frame carries, for the error ("the reply to DOMAIN_GET_XML")
 * @error: return location for an error (FERRY_ERROR_LIMIT)
 *
 * The peer closes the connection on a frame above the limit: a sender
 * checks first and reports the one operation instead.
 *
 * Returns: FALSE if @frame is too large.
 */
gboolean ferry_rpc_frame_check_size(GBytes *frame, gsize max_frame, const char *what,
                                    GError **error);

/**
 * ferry_rpc_packet_body:
 * @packet: a decoded packet
 *
 * Returns: (transfer full): a copy of @packet's body (empty when absent).
 */
GBytes *ferry_rpc_packet_body(const Ferry__Packet *packet);

/**
 * ferry_rpc_packet_free:
 * @packet: (nullable): a packet from ferry_rpc_decoder_next()
 *
 * Frees @packet.
 */
void ferry_rpc_packet_free(Ferry__Packet *packet);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Ferry__Packet, ferry_rpc_packet_free)

/** ferry_rpc_decoder: turns a byte stream into packets. */
typedef struct ferry_rpc_decoder ferry_rpc_decoder;

/**
 * ferry_rpc_decoder_new:
 * @max_frame: the largest frame length accepted, without the length prefix;
 *   0 means FERRY_RPC_DEFAULT_MAX_FRAME
 *
 * Returns: (transfer full): a decoder expecting the start of a frame.
 */
ferry_rpc_decoder *ferry_rpc_decoder_new(gsize max_frame);

/** ferry_rpc_decoder_free: frees @dec; accepts NULL. */
void ferry_rpc_decoder_free(ferry_rpc_decoder *dec);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_rpc_decoder, ferry_rpc_decoder_free)

/**
 * ferry_rpc_decoder_feed:
 * @dec: a decoder
 * @data: bytes read from the stream
 * @len: how many
 *
 * Appends @data; packets are taken out with ferry_rpc_decoder_next().  A
 * caller must call ferry_rpc_decoder_next() until it yields nothing before
 * feeding more, so that no more than one frame plus one chunk is ever
 * buffered.
 */
void ferry_rpc_decoder_feed(ferry_rpc_decoder *dec, const void *data, gsize len);

/**
 * ferry_rpc_decoder_next:
 * @dec: a decoder
 * @ret_packet: (out) (transfer full): the next complete packet, or NULL when
 *   more bytes are needed
 * @error: return location for an error (FERRY_ERROR_RPC)
 *
 * Checks each frame as soon as its part is buffered: the length (not 0, not
 * above the limit) before any of the body is kept, then the Packet's
 * encoding, program, version, type and status.  After an error the decoder
 * stays failed: every later call fails with the same message.
 *
 * Returns: TRUE if @ret_packet was set (possibly to NULL), FALSE on a bad
 *   frame.
 */
gboolean ferry_rpc_decoder_next(ferry_rpc_decoder *dec, Ferry__Packet **ret_packet,
                                GError **error);

/**
 * ferry_rpc_decoder_get_partial:
 * @dec: a decoder
 * @ret_have: (out) (optional): the bytes of the unfinished frame buffered:
 *   of its body once its length is known, else of its length prefix
 * @ret_want: (out) (optional): the frame's length without the prefix, or 0
 *   while the prefix itself is incomplete
 *
 * Says whether the peer is in the middle of a frame, for a bound on how
 * long it may take to finish it.
 *
 * Returns: TRUE if part of a frame is buffered (and the decoder has not
 *   failed); the outputs are set only then.
 */
gboolean ferry_rpc_decoder_get_partial(const ferry_rpc_decoder *dec, gsize *ret_have,
                                       gsize *ret_want);

/**
 * ferry_rpc_decoder_finish:
 * @dec: a decoder
 * @error: return location for an error (FERRY_ERROR_RPC)
 *
 * Says whether the stream may end here.
 *
 * Returns: FALSE if part of a frame is buffered (the peer closed the
 *   connection in the middle of a frame) or the decoder had failed.
 */
gboolean ferry_rpc_decoder_finish(ferry_rpc_decoder *dec, GError **error);

G_END_DECLS
