/*
 * rpc-message.h: protobuf messages of the wire protocol, as GBytes.
 *
 * Owns: packing and unpacking bodies, the Error body <-> GError mapping, the
 * procedure -> Args/Ret message table (generated from proto/ferry.proto) and
 * procedure names for messages.  Must not do I/O nor know about framing
 * (rpc-frame.h) or connections.
 */
#pragma once

#include <ferry/ferry.h>
#include <gio/gio.h>
#include <protobuf-c/protobuf-c.h>

#include "proto/ferry.pb-c.h"

G_BEGIN_DECLS

/**
 * ferry_rpc_message_free:
 * @msg: (nullable): a message returned by ferry_rpc_message_unpack() or
 *   another protobuf-c unpack function
 *
 * Frees @msg.  Never pass a message built on the stack.
 */
void ferry_rpc_message_free(ProtobufCMessage *msg);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ProtobufCMessage, ferry_rpc_message_free)

/**
 * ferry_rpc_message_pack:
 * @msg: (nullable): a message; NULL gives an empty body
 *
 * Returns: (transfer full): the message serialised.
 */
GBytes *ferry_rpc_message_pack(const ProtobufCMessage *msg);

/**
 * ferry_rpc_message_unpack:
 * @descriptor: the message type expected
 * @bytes: (nullable): the serialised message; NULL is the empty message
 * @what: what @bytes is, for the error ("the arguments of DOMAIN_START")
 * @error: return location for an error (FERRY_ERROR_RPC, or FERRY_ERROR_LIMIT)
 *
 * Decodes within a memory budget of six times the size of @bytes plus 64
 * KiB, so that what a peer sends cannot make this side allocate much more
 * than it sent (many tiny elements of a repeated field would).
 *
 * Returns: (transfer full): the message, or NULL if @bytes is not a valid
 *   message of that type (a required field missing, a bad encoding) or
 *   would exceed the budget.
 */
ProtobufCMessage *ferry_rpc_message_unpack(const ProtobufCMessageDescriptor *descriptor,
                                           GBytes *bytes, const char *what,
                                           GError **error);

/**
 * ferry_rpc_error_pack:
 * @error: an error; any domain (non-FERRY errors travel with the code
 *   ferry_error_normalize() would give them)
 *
 * Returns: (transfer full): an Error body carrying @error's code and message.
 */
GBytes *ferry_rpc_error_pack(const GError *error);

/**
 * ferry_rpc_error_unpack:
 * @bytes: (nullable): the body of a REPLY with status ERROR
 * @procedure: the procedure of the call, for the message of a bad body
 *
 * Returns: (transfer full): a FERRY_ERROR with the code and message the
 *   peer sent, or a FERRY_ERROR_RPC error saying the body was undecodable.
 */
GError *ferry_rpc_error_unpack(GBytes *bytes, guint32 procedure);

/**
 * ferry_rpc_procedure_name:
 * @procedure: a procedure number
 *
 * Returns: (transfer none): its name in the schema ("DOMAIN_START"), or
 *   "UNKNOWN" for a number the schema does not have.
 */
const char *ferry_rpc_procedure_name(guint32 procedure);

/**
 * ferry_rpc_procedure_args:
 * @procedure: a procedure number
 *
 * Returns: (nullable): the descriptor of the procedure's Args message, or
 *   NULL if @procedure is not a CALL procedure.
 */
const ProtobufCMessageDescriptor *ferry_rpc_procedure_args(guint32 procedure);

/**
 * ferry_rpc_procedure_ret:
 * @procedure: a procedure number
 *
 * Returns: (nullable): the descriptor of the procedure's Ret message, or
 *   NULL if @procedure is not a CALL procedure.
 */
const ProtobufCMessageDescriptor *ferry_rpc_procedure_ret(guint32 procedure);

/**
 * ferry_rpc_procedure_is_quick:
 * @procedure: a procedure number
 *
 * The quick calls: queries a daemon answers at once from what it holds
 * (capabilities, features, lists, lookups, domain and job information, a
 * migration's status) and event registration.  A daemon runs them on
 * workers of their own; a client may bound its wait for their answers.
 *
 * Returns: TRUE if @procedure is one of them.
 */
gboolean ferry_rpc_procedure_is_quick(guint32 procedure);

/**
 * ferry_rpc_job_info_to_wire:
 * @info: job information
 * @wire: (out caller-allocates): initialised and filled; its strings point
 *   into @info, which must outlive it
 */
void ferry_rpc_job_info_to_wire(const ferry_job_info *info, Ferry__JobInfo *wire);

/**
 * ferry_rpc_job_info_from_wire:
 * @wire: a JobInfo from a peer (absent optional fields read as 0 / "")
 * @ret_info: (out caller-allocates): filled; strings cut to their fields
 */
void ferry_rpc_job_info_from_wire(const Ferry__JobInfo *wire, ferry_job_info *ret_info);

G_END_DECLS
