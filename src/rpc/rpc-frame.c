/*
 * rpc-frame.c: building frames and decoding them incrementally.
 *
 * Owns: the length prefix and the checks of a packet's header.  Every check
 * on what a peer sends happens here, before anything is allocated for it:
 * the length is checked against the limit as soon as its 4 bytes are in.
 * Must not do I/O nor log.
 */
#include "ferry-config.h"

#include <string.h>

#include "rpc/rpc-frame.h"

GBytes *
ferry_rpc_frame_new(guint32 procedure, Ferry__PacketType type, guint32 serial,
                    Ferry__PacketStatus status, GBytes *body)
{
    Ferry__Packet packet = FERRY__PACKET__INIT;
    gsize body_len = 0;
    gsize size;
    guint8 *buf;
    guint32 be_len;

    packet.program = FERRY__PROGRAM__FERRY;
    packet.version = FERRY__PROGRAM_VERSION__VERSION_1;
    packet.procedure = procedure;
    packet.type = type;
    packet.serial = serial;
    packet.status = status;
    if (body && g_bytes_get_size(body) > 0) {
        packet.has_body = TRUE;
        packet.body.data = (guint8 *)g_bytes_get_data(body, &body_len);
        packet.body.len = body_len;
    }

    size = protobuf_c_message_get_packed_size(&packet.base);
    g_assert(size <= G_MAXUINT32);
    buf = g_malloc(FERRY_RPC_HEADER_SIZE + size);
    be_len = GUINT32_TO_BE((guint32)size);
    memcpy(buf, &be_len, sizeof(be_len));
    protobuf_c_message_pack(&packet.base, buf + FERRY_RPC_HEADER_SIZE);
    return g_bytes_new_take(buf, FERRY_RPC_HEADER_SIZE + size);
}

GBytes *
ferry_rpc_frame_new_error(guint32 procedure, guint32 serial, const GError *error)
{
    g_autoptr(GBytes) body = ferry_rpc_error_pack(error);

    return ferry_rpc_frame_new(procedure, FERRY__PACKET_TYPE__REPLY, serial,
                               FERRY__PACKET_STATUS__ERROR, body);
}

gboolean
ferry_rpc_frame_check_size(GBytes *frame, gsize max_frame, const char *what,
                           GError **error)
{
    gsize len = g_bytes_get_size(frame) - FERRY_RPC_HEADER_SIZE;

    if (len <= max_frame)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT,
                "%s would be a frame of %" G_GSIZE_FORMAT " bytes, above the limit of %"
                G_GSIZE_FORMAT, what, len, max_frame);
    return FALSE;
}

GBytes *
ferry_rpc_packet_body(const Ferry__Packet *packet)
{
    if (!packet->has_body)
        return g_bytes_new(NULL, 0);
    return g_bytes_new(packet->body.data, packet->body.len);
}

void
ferry_rpc_packet_free(Ferry__Packet *packet)
{
    if (packet)
        ferry__packet__free_unpacked(packet, NULL);
}

/* The buffer a decoder keeps between frames; a larger one is let go. */
#define KEPT_BUFFER (64 * 1024)

struct ferry_rpc_decoder {
    gsize max_frame;
    GByteArray *buf;
    gsize pos;            /* bytes of buf already consumed */
    gsize frame_len;      /* length of the frame being read; 0 before its prefix */
    GError *failed;       /* set once, forever */
};

ferry_rpc_decoder *
ferry_rpc_decoder_new(gsize max_frame)
{
    ferry_rpc_decoder *dec = g_new0(ferry_rpc_decoder, 1);

    dec->max_frame = max_frame ? max_frame : FERRY_RPC_DEFAULT_MAX_FRAME;
    dec->buf = g_byte_array_new();
    return dec;
}

void
ferry_rpc_decoder_free(ferry_rpc_decoder *dec)
{
    if (!dec)
        return;
    g_byte_array_unref(dec->buf);
    g_clear_error(&dec->failed);
    g_free(dec);
}

void
ferry_rpc_decoder_feed(ferry_rpc_decoder *dec, const void *data, gsize len)
{
    if (dec->failed || len == 0)
        return;
    /* Drop what was consumed before growing, so the buffer stays near one
     * frame plus one chunk. */
    if (dec->pos > 0) {
        g_byte_array_remove_range(dec->buf, 0, dec->pos);
        dec->pos = 0;
    }
    g_byte_array_append(dec->buf, data, len);
}

static gsize
buffered(const ferry_rpc_decoder *dec)
{
    return dec->buf->len - dec->pos;
}

/* Records @err as the decoder's permanent failure and reports it. */
static gboolean
fail(ferry_rpc_decoder *dec, GError *err, GError **error)
{
    dec->failed = err;
    g_propagate_error(error, g_error_copy(err));
    return FALSE;
}

/* Checks the header fields of a decoded packet. */
static GError *
check_packet(const Ferry__Packet *packet)
{
    if (packet->program != FERRY__PROGRAM__FERRY)
        return g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                           "packet program 0x%08x is not ferry's (0x%08x)",
                           packet->program, (guint)FERRY__PROGRAM__FERRY);
    if (packet->version != FERRY__PROGRAM_VERSION__VERSION_1)
        return g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                           "packet version %u is not supported (this side speaks version %u)",
                           packet->version, (guint)FERRY__PROGRAM_VERSION__VERSION_1);
    if ((guint)packet->type > FERRY__PACKET_TYPE__STREAM)
        return g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                           "packet type %u is unknown", (guint)packet->type);
    if ((guint)packet->status > FERRY__PACKET_STATUS__WINDOW)
        return g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                           "packet status %u is unknown", (guint)packet->status);
    return NULL;
}

gboolean
ferry_rpc_decoder_next(ferry_rpc_decoder *dec, Ferry__Packet **ret_packet, GError **error)
{
    Ferry__Packet *packet;
    GError *bad;

    if (dec->failed) {
        g_propagate_error(error, g_error_copy(dec->failed));
        return FALSE;
    }

    if (dec->frame_len == 0) {
        guint32 be_len;
        guint32 len;

        if (buffered(dec) < FERRY_RPC_HEADER_SIZE) {
            *ret_packet = NULL;
            return TRUE;
        }
        memcpy(&be_len, dec->buf->data + dec->pos, sizeof(be_len));
        len = GUINT32_FROM_BE(be_len);
        if (len == 0)
            return fail(dec, g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                         "frame length 0 is invalid: a frame holds "
                                         "at least a packet header"), error);
        if (len > dec->max_frame)
            return fail(dec, g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                         "frame length %u exceeds limit %" G_GSIZE_FORMAT,
                                         len, dec->max_frame), error);
        dec->frame_len = len;
        dec->pos += FERRY_RPC_HEADER_SIZE;
    }

    if (buffered(dec) < dec->frame_len) {
        *ret_packet = NULL;
        return TRUE;
    }
    packet = ferry__packet__unpack(NULL, dec->frame_len, dec->buf->data + dec->pos);
    if (!packet)
        return fail(dec, g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                     "frame of %" G_GSIZE_FORMAT " bytes is not a valid "
                                     "Packet", dec->frame_len), error);
    dec->pos += dec->frame_len;
    dec->frame_len = 0;
    /* A GByteArray never shrinks: once a large frame is out, its buffer
     * goes, rather than staying with an idle connection for good. */
    if (dec->pos == dec->buf->len && dec->buf->len > KEPT_BUFFER) {
        g_byte_array_unref(dec->buf);
        dec->buf = g_byte_array_new();
        dec->pos = 0;
    }
    bad = check_packet(packet);
    if (bad) {
        ferry_rpc_packet_free(packet);
        return fail(dec, bad, error);
    }
    *ret_packet = packet;
    return TRUE;
}

gboolean
ferry_rpc_decoder_get_partial(const ferry_rpc_decoder *dec, gsize *ret_have, gsize *ret_want)
{
    gsize have = buffered(dec);

    if (dec->failed || (dec->frame_len == 0 && have == 0))
        return FALSE;
    if (ret_have)
        *ret_have = have;
    if (ret_want)
        *ret_want = dec->frame_len;
    return TRUE;
}

gboolean
ferry_rpc_decoder_finish(ferry_rpc_decoder *dec, GError **error)
{
    gsize have = 0;
    gsize want = 0;

    if (dec->failed) {
        g_propagate_error(error, g_error_copy(dec->failed));
        return FALSE;
    }
    if (!ferry_rpc_decoder_get_partial(dec, &have, &want))
        return TRUE;
    if (want > 0)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_RPC,
                    "connection closed in the middle of a frame: %" G_GSIZE_FORMAT
                    " of %" G_GSIZE_FORMAT " bytes received", have, want);
    else
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_RPC,
                    "connection closed in the middle of a frame's length: %"
                    G_GSIZE_FORMAT " of %u bytes received", have, FERRY_RPC_HEADER_SIZE);
    return FALSE;
}
