/*
 * remote-snapshot.h: the snapshot entries of the remote driver's table
 * (since 0.6), in remote-snapshot.c so that remote-driver.c stays small.
 * Must not be included outside src/remote/.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>

#include "driver/driver.h"
#include "rpc/rpc-client.h"

G_BEGIN_DECLS

/**
 * remote_call_message:
 * @conn: a remote connection
 * @procedure: a Procedure number
 * @args: its Args
 * @error: return location for an error
 *
 * One call within its bound, as every entry of remote-driver.c makes it.
 *
 * Returns: (transfer full): the Ret message, or NULL with @error.
 */
ProtobufCMessage *remote_call_message(ferry_conn *conn, guint32 procedure,
                                      const ProtobufCMessage *args, GError **error);

/**
 * remote_rpc_client:
 * @conn: a remote connection
 *
 * Returns: (transfer none): its RPC client, for calls that open a stream.
 */
ferry_rpc_client *remote_rpc_client(ferry_conn *conn);

/* The driver table's conn_migrate_snapshots: CONNECT_MIGRATE_SNAPSHOTS and
 * the stream it opens, decoded with the limits of snapshot-stream.h. */
gboolean remote_conn_migrate_snapshots(ferry_conn *conn, const char *id, const char *token,
                                       GPtrArray **ret_docs, GError **error);

char *remote_domain_snapshot_create_xml(ferry_domain *dom, const char *xml, guint flags,
                                        GError **error);
gboolean remote_domain_snapshot_list(ferry_domain *dom, guint flags,
                                     GPtrArray **ret_snapshots, GError **error);
char *remote_domain_snapshot_get_xml(ferry_domain *dom, const char *name, guint flags,
                                     GError **error);
char *remote_domain_snapshot_current(ferry_domain *dom, GError **error);
gboolean remote_domain_snapshot_revert(ferry_domain *dom, const char *name, guint flags,
                                       GError **error);
gboolean remote_domain_snapshot_delete(ferry_domain *dom, const char *name, guint flags,
                                       GError **error);

G_END_DECLS
