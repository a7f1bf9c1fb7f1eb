/*
 * dispatch-snapshot.h: the daemon's side of the snapshot procedures
 * (since 0.6), which dispatch.c's table reaches through one-line wrappers.
 *
 * Each takes the client's connection and the decoded Args, and on success
 * sets *ret_body to the packed Ret.  Like dispatch.c they call only the
 * public API (and, for the one call between daemons, the library's
 * internal migration API).
 */
#pragma once

#include <ferry/ferry.h>
#include <protobuf-c/protobuf-c.h>

#include "rpc/rpc-server.h"

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

/**
 * ferry_dispatch_connect_migrate_snapshots:
 * @conn: the client's connection (a peer daemon's)
 * @args: the decoded ConnectMigrateSnapshotsArgs
 * @rpc: the call, not completed yet: its stream carries the snapshots
 * @context: a context a thread of the daemon iterates, where the stream's
 *   write starts and completes
 * @ret_body: (out): the packed Ret
 * @error: return location for an error
 *
 * CONNECT_MIGRATE_SNAPSHOTS (since 0.6): takes the snapshots Begin kept,
 * opens the call's stream and sends them (src/conf/snapshot-stream.h),
 * keeping the stream until the peer ended its direction.
 *
 * Returns: TRUE if the stream was opened (the data follows).
 */
gboolean ferry_dispatch_connect_migrate_snapshots(ferry_conn *conn, const ProtobufCMessage *args,
                                                  ferry_rpc_call *rpc,
                                                  GMainContext *context, GBytes **ret_body,
                                                  GError **error);

G_END_DECLS
