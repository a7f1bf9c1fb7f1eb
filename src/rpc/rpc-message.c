/*
 * rpc-message.c: packing, unpacking and naming the wire protocol's messages.
 *
 * Owns: the only calls to protobuf-c's pack/unpack, and the GError <-> Error
 * mapping.  Must not do I/O.
 */
#include "ferry-config.h"

#include "proto/ferry-procedures.h"
#include "rpc/rpc-message.h"
#include "util/error.h"

void
ferry_rpc_message_free(ProtobufCMessage *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
}

GBytes *
ferry_rpc_message_pack(const ProtobufCMessage *msg)
{
    gsize size;
    guint8 *buf;

    if (!msg)
        return g_bytes_new(NULL, 0);
    size = protobuf_c_message_get_packed_size(msg);
    buf = g_malloc(size ? size : 1);
    protobuf_c_message_pack(msg, buf);
    return g_bytes_new_take(buf, size);
}

ProtobufCMessage *
ferry_rpc_message_unpack(const ProtobufCMessageDescriptor *descriptor, GBytes *bytes,
                         const char *what, GError **error)
{
    static const guint8 empty[1];
    gsize size = 0;
    const guint8 *data = bytes ? g_bytes_get_data(bytes, &size) : NULL;
    ProtobufCMessage *msg;

    msg = protobuf_c_message_unpack(descriptor, NULL, size, data ? data : empty);
    if (!msg) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_RPC,
                    "%s: %" G_GSIZE_FORMAT " bytes that are not a valid %s message",
                    what, size, descriptor->short_name);
        return NULL;
    }
    return msg;
}

GBytes *
ferry_rpc_error_pack(const GError *error)
{
    g_autoptr(GError) copy = g_error_copy(error);
    Ferry__Error body = FERRY__ERROR__INIT;

    ferry_error_normalize(&copy);
    body.code = copy->code;
    body.message = copy->message;
    return ferry_rpc_message_pack(&body.base);
}

GError *
ferry_rpc_error_unpack(GBytes *bytes, guint32 procedure)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *what = g_strdup_printf("the error reply to %s",
                                            ferry_rpc_procedure_name(procedure));
    g_autoptr(ProtobufCMessage) msg =
        ferry_rpc_message_unpack(&ferry__error__descriptor, bytes, what, &local);
    const Ferry__Error *body = (const Ferry__Error *)msg;

    if (!msg)
        return g_steal_pointer(&local);
    if (body->code <= 0)
        return g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                           "%s carries the invalid error code %d: %s", what,
                           body->code, body->message);
    return g_error_new_literal(FERRY_ERROR, body->code, body->message);
}

const char *
ferry_rpc_procedure_name(guint32 procedure)
{
    const ProtobufCEnumValue *value = NULL;

    if (procedure <= G_MAXINT)
        value = protobuf_c_enum_descriptor_get_value(&ferry__procedure__descriptor,
                                                     (int)procedure);
    return value ? value->name : "UNKNOWN";
}

typedef struct {
    const ProtobufCMessageDescriptor *args;
    const ProtobufCMessageDescriptor *ret;
} procedure_messages;

#define PROCEDURE_MESSAGES(NAME, name, args_desc, ret_desc) \
    [FERRY__PROCEDURE__##NAME] = { &args_desc, &ret_desc },

static const procedure_messages procedures[] = {
    FERRY_RPC_CALL_PROCEDURES(PROCEDURE_MESSAGES)
};

const ProtobufCMessageDescriptor *
ferry_rpc_procedure_args(guint32 procedure)
{
    return procedure < G_N_ELEMENTS(procedures) ? procedures[procedure].args : NULL;
}

const ProtobufCMessageDescriptor *
ferry_rpc_procedure_ret(guint32 procedure)
{
    return procedure < G_N_ELEMENTS(procedures) ? procedures[procedure].ret : NULL;
}
