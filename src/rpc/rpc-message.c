/*
 * rpc-message.c: packing, unpacking and naming the wire protocol's messages.
 *
 * Owns: the only calls to protobuf-c's pack/unpack, and the GError <-> Error
 * mapping.  Must not do I/O.
 */
#include "ferry-config.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * What decoding may allocate at its peak: six times the bytes decoded,
 * plus 64 KiB for the structures of small messages.  A string or a bytes
 * field costs about its length; a list of 20000 domains with one-letter
 * names, the worst a daemon sends, 4.9 times its size (measured, with
 * protobuf-c's scratch arrays); many tiny elements of a repeated field
 * cost far more (300000 empty disk names: 52 times), and that is what the
 * budget refuses.
 */
#define UNPACK_FACTOR 6
#define UNPACK_SLACK (64 * 1024)
/* What an allocation costs malloc beyond its size, counted so that many
 * small ones cost what they really cost. */
#define ALLOC_OVERHEAD 16

typedef struct {
    gsize used;                 /* what the live allocations take */
    gsize budget;
    gboolean exceeded;
} unpack_budget;

/* protobuf-c's allocator: malloc(), as its default is, since the message
 * is freed with the default allocator (ferry_rpc_message_free()).  It
 * counts what lives, not what was ever asked for: protobuf-c frees the
 * scratch arrays of a long repeated field once it is decoded. */
static void *
budget_alloc(void *data, size_t size)
{
    unpack_budget *b = data;
    void *p;

    if (size > b->budget - b->used || b->budget - b->used - size < ALLOC_OVERHEAD) {
        b->exceeded = TRUE;
        return NULL;
    }
    p = malloc(size);
    if (p)
        b->used += malloc_usable_size(p) + ALLOC_OVERHEAD;
    return p;
}

static void
budget_free(void *data, void *pointer)
{
    unpack_budget *b = data;

    if (pointer)
        b->used -= malloc_usable_size(pointer) + ALLOC_OVERHEAD;
    free(pointer);
}

ProtobufCMessage *
ferry_rpc_message_unpack(const ProtobufCMessageDescriptor *descriptor, GBytes *bytes,
                         const char *what, GError **error)
{
    static const guint8 empty[1];
    gsize size = 0;
    const guint8 *data = bytes ? g_bytes_get_data(bytes, &size) : NULL;
    unpack_budget budget = { .budget = UNPACK_FACTOR * size + UNPACK_SLACK };
    ProtobufCAllocator allocator = { budget_alloc, budget_free, &budget };
    ProtobufCMessage *msg;

    msg = protobuf_c_message_unpack(descriptor, &allocator, size, data ? data : empty);
    if (!msg && budget.exceeded) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT,
                    "%s: %" G_GSIZE_FORMAT " bytes that would take more than %" G_GSIZE_FORMAT
                    " bytes of memory as a %s message: refused", what, size, budget.budget,
                    descriptor->short_name);
        return NULL;
    }
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

gboolean
ferry_rpc_procedure_is_quick(guint32 procedure)
{
    switch (procedure) {
    case FERRY__PROCEDURE__CONNECT_GET_CAPABILITIES:
    case FERRY__PROCEDURE__CONNECT_GET_HOSTNAME:
    case FERRY__PROCEDURE__CONNECT_SUPPORTS_FEATURE:
    case FERRY__PROCEDURE__CONNECT_LIST_DOMAINS:
    case FERRY__PROCEDURE__EVENTS_REGISTER:
    case FERRY__PROCEDURE__EVENTS_DEREGISTER:
    case FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME:
    case FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_UUID:
    case FERRY__PROCEDURE__DOMAIN_GET_INFO:
    case FERRY__PROCEDURE__DOMAIN_GET_XML:
    case FERRY__PROCEDURE__DOMAIN_GET_JOB_INFO:
    case FERRY__PROCEDURE__DOMAIN_GET_JOB_STATS:
    case FERRY__PROCEDURE__DOMAIN_MIGRATE_GET_TUNABLE:
    case FERRY__PROCEDURE__CONNECT_MIGRATE_QUERY:
    case FERRY__PROCEDURE__DOMAIN_SNAPSHOT_LIST:
    case FERRY__PROCEDURE__DOMAIN_SNAPSHOT_GET_XML:
    case FERRY__PROCEDURE__DOMAIN_SNAPSHOT_CURRENT:
        return TRUE;
    default:
        return FALSE;
    }
}

/* ------------------------------------------------------------------------ */
/* Job information                                                           */
/* ------------------------------------------------------------------------ */

void
ferry_rpc_job_info_to_wire(const ferry_job_info *info, Ferry__JobInfo *wire)
{
    ferry__job_info__init(wire);
    wire->type = info->type;
    wire->phase = (char *)info->phase;
    wire->elapsed_ms = info->elapsed_ms;
    wire->mem_total = info->mem_total;
    wire->mem_processed = info->mem_processed;
    wire->mem_remaining = info->mem_remaining;
    wire->disk_total = info->disk_total;
    wire->disk_processed = info->disk_processed;
    wire->disk_remaining = info->disk_remaining;
    wire->rate_bps = info->rate_bps;
    wire->downtime_ms = info->downtime_ms;
    wire->total_ms = info->total_ms;
    wire->state = (char *)info->state;
    wire->role = (char *)info->role;
    wire->id = (char *)info->id;
#define SET(field) (wire->has_##field = TRUE, wire->field = info->field)
    SET(dirty_rate_bps);
    SET(passes);
    SET(bandwidth_bps);
    SET(expected_downtime_ms);
    SET(max_downtime_ms);
    SET(setup_ms);
    SET(guest_downtime_ms);
    SET(time_setup_ms);
    SET(time_disk_ms);
    SET(time_memory_ms);
    SET(time_switchover_ms);
    SET(time_overhead_ms);
    SET(protocol);
    SET(reconnects);
    SET(postcopy_requests);
    SET(postcopy_bytes);
    SET(postcopy_ms);
    SET(throttle_percent);
    SET(multifd_bytes);
    SET(xbzrle_bytes);
    SET(xbzrle_pages);
    SET(xbzrle_cache_miss);
    SET(xbzrle_overflow);
    SET(normal_pages);
    SET(zero_pages);
    SET(max_downtime_cap_ms);
#undef SET
    wire->message = (char *)info->message;
    wire->postcopy = (char *)info->postcopy;
    wire->policy = (char *)info->policy;
}

static void
copy_string(char *dst, gsize size, const char *src)
{
    g_strlcpy(dst, src ? src : "", size);
}

void
ferry_rpc_job_info_from_wire(const Ferry__JobInfo *wire, ferry_job_info *ret_info)
{
    memset(ret_info, 0, sizeof(*ret_info));
    ret_info->type = wire->type;
    copy_string(ret_info->phase, sizeof(ret_info->phase), wire->phase);
    ret_info->elapsed_ms = wire->elapsed_ms;
    ret_info->mem_total = wire->mem_total;
    ret_info->mem_processed = wire->mem_processed;
    ret_info->mem_remaining = wire->mem_remaining;
    ret_info->disk_total = wire->disk_total;
    ret_info->disk_processed = wire->disk_processed;
    ret_info->disk_remaining = wire->disk_remaining;
    ret_info->rate_bps = wire->rate_bps;
    ret_info->downtime_ms = wire->downtime_ms;
    ret_info->total_ms = wire->total_ms;
    copy_string(ret_info->state, sizeof(ret_info->state), wire->state);
    copy_string(ret_info->role, sizeof(ret_info->role), wire->role);
    copy_string(ret_info->id, sizeof(ret_info->id), wire->id);
    ret_info->dirty_rate_bps = wire->dirty_rate_bps;
    ret_info->passes = wire->passes;
    ret_info->bandwidth_bps = wire->bandwidth_bps;
    ret_info->expected_downtime_ms = wire->expected_downtime_ms;
    ret_info->max_downtime_ms = wire->max_downtime_ms;
    ret_info->setup_ms = wire->setup_ms;
    ret_info->guest_downtime_ms = wire->guest_downtime_ms;
    ret_info->time_setup_ms = wire->time_setup_ms;
    ret_info->time_disk_ms = wire->time_disk_ms;
    ret_info->time_memory_ms = wire->time_memory_ms;
    ret_info->time_switchover_ms = wire->time_switchover_ms;
    ret_info->time_overhead_ms = wire->time_overhead_ms;
    ret_info->protocol = wire->protocol;
    ret_info->reconnects = wire->reconnects;
    copy_string(ret_info->message, sizeof(ret_info->message), wire->message);
    copy_string(ret_info->postcopy, sizeof(ret_info->postcopy), wire->postcopy);
    copy_string(ret_info->policy, sizeof(ret_info->policy), wire->policy);
    ret_info->postcopy_requests = wire->postcopy_requests;
    ret_info->postcopy_bytes = wire->postcopy_bytes;
    ret_info->postcopy_ms = wire->postcopy_ms;
    ret_info->throttle_percent = wire->throttle_percent;
    ret_info->multifd_bytes = wire->multifd_bytes;
    ret_info->xbzrle_bytes = wire->xbzrle_bytes;
    ret_info->xbzrle_pages = wire->xbzrle_pages;
    ret_info->xbzrle_cache_miss = wire->xbzrle_cache_miss;
    ret_info->xbzrle_overflow = wire->xbzrle_overflow;
    ret_info->normal_pages = wire->normal_pages;
    ret_info->zero_pages = wire->zero_pages;
    ret_info->max_downtime_cap_ms = wire->max_downtime_cap_ms;
}
