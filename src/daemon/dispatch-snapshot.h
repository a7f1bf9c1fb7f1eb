/*
 * dispatch-snapshot.h: the daemon's side of the snapshot procedures
 * (since 0.6), which dispatch.c's table reaches through one-line wrappers.
 *
 * Each takes the client's connection and the decoded Args, and on success
 * sets *ret_body to the packed Ret.  Like dispatch.c they call only the
 * public API.
 */
#pragma once

#include <ferry/ferry.h>
#include <protobuf-c/protobuf-c.h>

G_BEGIN_DECLS

/** ferry_dispatch_domain_snapshot_create_xml: DOMAIN_SNAPSHOT_CREATE_XML. */
gboolean ferry_dispatch_domain_snapshot_create_xml(ferry_conn *conn,
                                                   const ProtobufCMessage *args,
                                                   GBytes **ret_body, GError **error);
/** ferry_dispatch_domain_snapshot_list: DOMAIN_SNAPSHOT_LIST. */
gboolean ferry_dispatch_domain_snapshot_list(ferry_conn *conn, const ProtobufCMessage *args,
                                             GBytes **ret_body, GError **error);
/** ferry_dispatch_domain_snapshot_get_xml: DOMAIN_SNAPSHOT_GET_XML. */
gboolean ferry_dispatch_domain_snapshot_get_xml(ferry_conn *conn, const ProtobufCMessage *args,
                                                GBytes **ret_body, GError **error);
/** ferry_dispatch_domain_snapshot_current: DOMAIN_SNAPSHOT_CURRENT. */
gboolean ferry_dispatch_domain_snapshot_current(ferry_conn *conn, const ProtobufCMessage *args,
                                                GBytes **ret_body, GError **error);
/** ferry_dispatch_domain_snapshot_revert: DOMAIN_SNAPSHOT_REVERT. */
gboolean ferry_dispatch_domain_snapshot_revert(ferry_conn *conn, const ProtobufCMessage *args,
                                               GBytes **ret_body, GError **error);
/** ferry_dispatch_domain_snapshot_delete: DOMAIN_SNAPSHOT_DELETE. */
gboolean ferry_dispatch_domain_snapshot_delete(ferry_conn *conn, const ProtobufCMessage *args,
                                               GBytes **ret_body, GError **error);

G_END_DECLS
