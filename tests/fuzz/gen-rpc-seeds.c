/*
 * gen-rpc-seeds.c: writes the seed inputs of fuzz-rpc-frame.c.
 *
 * Usage: gen-rpc-seeds DIR    (e.g. build/tests/fuzz/gen-rpc-seeds
 *                              tests/fuzz/corpus/rpc-frame)
 * For every CALL procedure of proto/ferry.proto: a file holding its CALL
 * and its OK REPLY, each body a message with every field set (the values
 * say only which field they are in); plus an ERROR reply, a lifecycle
 * event with a job, keepalives and a stream cut into 1-byte reads.  Each
 * file starts with fuzz-rpc-frame.c's read-size byte.  Run by hand when
 * the schema changes; the files are committed.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <stdio.h>
#include <string.h>

#include "rpc/rpc-frame.h"

#define FILL_DEPTH 4
/* fuzz-rpc-frame.c reads 1 + this many bytes at a time. */
#define READ_SIZE_BYTE 0x3f

/* A value for a string field, from its name. */
static const char *
sample_string(const char *field)
{
    if (strstr(field, "uuid") || strcmp(field, "id") == 0)
        return "c7a5fdbd-cdaf-9455-926a-d65c16db1809";
    if (strstr(field, "uri"))
        return "qemu+tcp://10.77.0.2/system";
    if (strstr(field, "xml"))
        return "<domain type='test'><name>web1</name><memory>1024</memory><vcpu>1</vcpu>"
               "<os><type>hvm</type></os></domain>";
    if (strstr(field, "name"))
        return "web1";
    return field;
}

/* Sets every field of @msg, recursing into messages down to FILL_DEPTH;
 * what is allocated goes to @owned. */
static void
fill(ProtobufCMessage *msg, guint depth, GPtrArray *owned)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;

    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        char *member = (char *)msg + f->offset;
        ProtobufCMessage *sub;

        if (f->label == PROTOBUF_C_LABEL_REPEATED || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
            f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
            *(protobuf_c_boolean *)((char *)msg + f->quantifier_offset) = TRUE;
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
            *(guint32 *)member = 1;
            break;
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
            *(guint64 *)member = 4096;
            break;
        case PROTOBUF_C_TYPE_BOOL:
            *(protobuf_c_boolean *)member = TRUE;
            break;
        case PROTOBUF_C_TYPE_ENUM:
            *(int *)member = ((const ProtobufCEnumDescriptor *)f->descriptor)->values[0].value;
            break;
        case PROTOBUF_C_TYPE_STRING:
            *(const char **)member = sample_string(f->name);
            break;
        case PROTOBUF_C_TYPE_BYTES:
            ((ProtobufCBinaryData *)member)->data = (guint8 *)f->name;
            ((ProtobufCBinaryData *)member)->len = strlen(f->name);
            break;
        case PROTOBUF_C_TYPE_MESSAGE:
            if (depth >= FILL_DEPTH)
                break;
            sub = g_malloc0(((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message);
            protobuf_c_message_init(f->descriptor, sub);
            g_ptr_array_add(owned, sub);
            fill(sub, depth + 1, owned);
            *(ProtobufCMessage **)member = sub;
            break;
        default:
            /* float and double: the schema has none. */
            break;
        }
    }
}

/* A frame whose body is @desc's message with every field set. */
static GBytes *
filled_frame(guint32 procedure, Ferry__PacketType type, guint32 serial,
             const ProtobufCMessageDescriptor *desc)
{
    g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
    ProtobufCMessage *msg = g_malloc0(desc->sizeof_message);
    g_autoptr(GBytes) body = NULL;

    g_ptr_array_add(owned, msg);
    protobuf_c_message_init(desc, msg);
    fill(msg, 0, owned);
    body = ferry_rpc_message_pack(msg);
    return ferry_rpc_frame_new(procedure, type, serial, FERRY__PACKET_STATUS__OK, body);
}

/* Writes DIR/NAME: the read-size byte, then the frames. */
static gboolean
write_seed(const char *dir, const char *name, guint8 read_size, GBytes *const *frames,
           GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autofree char *path = g_build_filename(dir, name, NULL);

    g_byte_array_append(out, &read_size, 1);
    for (guint i = 0; frames[i]; i++) {
        gsize len;
        const guint8 *data = g_bytes_get_data(frames[i], &len);

        g_byte_array_append(out, data, (guint)len);
    }
    return g_file_set_contents(path, (const char *)out->data, out->len, error);
}

static gboolean
write_procedure_seeds(const char *dir, GError **error)
{
    for (guint32 p = 0; p < 256; p++) {
        const ProtobufCMessageDescriptor *args = ferry_rpc_procedure_args(p);
        g_autoptr(GBytes) call = NULL;
        g_autoptr(GBytes) reply = NULL;
        g_autofree char *name = NULL;

        if (!args)
            continue;
        call = filled_frame(p, FERRY__PACKET_TYPE__CALL, p, args);
        reply = filled_frame(p, FERRY__PACKET_TYPE__REPLY, p, ferry_rpc_procedure_ret(p));
        name = g_ascii_strdown(ferry_rpc_procedure_name(p), -1);
        if (!write_seed(dir, name, READ_SIZE_BYTE, (GBytes *[]){ call, reply, NULL }, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
write_other_seeds(const char *dir, GError **error)
{
    g_autoptr(GError) sent = g_error_new_literal(FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                                                 "no domain with matching name 'web1'");
    g_autoptr(GBytes) error_reply = ferry_rpc_frame_new_error(FERRY__PROCEDURE__DOMAIN_START,
                                                              7, sent);
    g_autoptr(GBytes) event = filled_frame(FERRY__PROCEDURE__EVENT_LIFECYCLE,
                                           FERRY__PACKET_TYPE__EVENT, 0,
                                           &ferry__lifecycle_event__descriptor);
    g_autoptr(GBytes) ping = ferry_rpc_frame_new(FERRY__PROCEDURE__KEEPALIVE_PING,
                                                 FERRY__PACKET_TYPE__EVENT, 0,
                                                 FERRY__PACKET_STATUS__OK, NULL);
    g_autoptr(GBytes) pong = ferry_rpc_frame_new(FERRY__PROCEDURE__KEEPALIVE_PONG,
                                                 FERRY__PACKET_TYPE__EVENT, 0,
                                                 FERRY__PACKET_STATUS__OK, NULL);
    g_autoptr(GBytes) open = filled_frame(FERRY__PROCEDURE__CONNECT_OPEN,
                                          FERRY__PACKET_TYPE__CALL, 1,
                                          &ferry__connect_open_args__descriptor);

    return write_seed(dir, "error-reply", READ_SIZE_BYTE,
                      (GBytes *[]){ error_reply, NULL }, error) &&
           write_seed(dir, "event-lifecycle", READ_SIZE_BYTE, (GBytes *[]){ event, NULL },
                      error) &&
           write_seed(dir, "keepalive", READ_SIZE_BYTE, (GBytes *[]){ ping, pong, NULL },
                      error) &&
           write_seed(dir, "byte-by-byte", 0, (GBytes *[]){ open, ping, NULL }, error);
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    if (!write_procedure_seeds(argv[1], &error) || !write_other_seeds(argv[1], &error)) {
        fprintf(stderr, "%s: %s\n", argv[0], error->message);
        return 1;
    }
    return 0;
}
