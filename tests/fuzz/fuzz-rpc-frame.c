/*
 * fuzz-rpc-frame.c: feeds the wire protocol's decoder (src/rpc/rpc-frame.c)
 * any byte stream, as a client or a peer daemon could send it, and every
 * packet it yields to the body decoders (src/rpc/rpc-message.c and the
 * protobuf-c code generated from proto/ferry.proto) the way the daemon's
 * dispatch, the RPC client and the remote driver use them.
 *
 * Input: byte 0 says how the stream arrives -- in reads of 1 + byte 0
 * bytes, as a socket may cut it anywhere; the rest is the stream.
 * Must hold: no crash, leak or undefined behaviour; every refusal is a
 * FERRY_ERROR_RPC.  Must not: do I/O or write files.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "fuzz.h"
#include "rpc/rpc-frame.h"

/* What the receiver of a JobInfo does with it (tools and the remote driver). */
static void
use_job_info(const Ferry__JobInfo *wire)
{
    ferry_job_info info;

    if (wire)
        ferry_rpc_job_info_from_wire(wire, &info);
}

/* Unpacks @body as @descriptor's message and packs it again, as the
 * dispatch and the client do with arguments and replies. */
static void
use_body(const ProtobufCMessageDescriptor *descriptor, GBytes *body)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) msg = NULL;
    g_autoptr(GBytes) packed = NULL;

    if (!descriptor)
        return;
    msg = ferry_rpc_message_unpack(descriptor, body, "the fuzzed body", &error);
    if (!msg) {
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_RPC);
        return;
    }
    packed = ferry_rpc_message_pack(msg);
    if (descriptor == &ferry__domain_get_job_info_ret__descriptor)
        use_job_info(((const Ferry__DomainGetJobInfoRet *)msg)->info);
    else if (descriptor == &ferry__domain_get_job_stats_ret__descriptor)
        use_job_info(((const Ferry__DomainGetJobStatsRet *)msg)->info);
    else if (descriptor == &ferry__lifecycle_event__descriptor)
        use_job_info(((const Ferry__LifecycleEvent *)msg)->job);
}

static void
use_packet(const Ferry__Packet *packet)
{
    g_autoptr(GBytes) body = ferry_rpc_packet_body(packet);
    GError *peer_error;

    (void)ferry_rpc_procedure_name(packet->procedure);
    switch (packet->type) {
    case FERRY__PACKET_TYPE__CALL:
        use_body(ferry_rpc_procedure_args(packet->procedure), body);
        break;
    case FERRY__PACKET_TYPE__REPLY:
        if (packet->status == FERRY__PACKET_STATUS__ERROR) {
            peer_error = ferry_rpc_error_unpack(body, packet->procedure);
            g_assert_nonnull(peer_error);
            g_assert_true(peer_error->domain == FERRY_ERROR);
            g_error_free(peer_error);
        } else {
            use_body(ferry_rpc_procedure_ret(packet->procedure), body);
        }
        break;
    case FERRY__PACKET_TYPE__EVENT:
        if (packet->procedure == FERRY__PROCEDURE__EVENT_LIFECYCLE)
            use_body(&ferry__lifecycle_event__descriptor, body);
        break;
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(ferry_rpc_decoder) dec = NULL;
    g_autoptr(GError) error = NULL;
    gsize chunk;

    fuzz_init();
    if (size < 1)
        return 0;
    chunk = 1 + (gsize)data[0];
    data++;
    size--;

    dec = ferry_rpc_decoder_new(0);
    for (gsize off = 0; off < size; off += chunk) {
        gboolean ok;

        ferry_rpc_decoder_feed(dec, data + off, MIN(chunk, size - off));
        for (;;) {
            g_autoptr(Ferry__Packet) packet = NULL;

            ok = ferry_rpc_decoder_next(dec, &packet, &error);
            if (!ok || !packet)
                break;
            use_packet(packet);
        }
        if (!ok) {
            g_assert_error(error, FERRY_ERROR, FERRY_ERROR_RPC);
            return 0;
        }
    }
    if (!ferry_rpc_decoder_finish(dec, &error))
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_RPC);
    return 0;
}
