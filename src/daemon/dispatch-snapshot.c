/*
 * dispatch-snapshot.c: the daemon's side of the snapshot procedures.
 *
 * Owns: turning their Args into public API calls on the client's
 * connection and the results into Ret messages.  Must not: call driver
 * entries (the API checks arguments first), or keep anything past a call
 * but the snapshot stream of a migration, until both sides ended it.
 */
#include "ferry-config.h"

#include "api/migrate-internal.h"
#include "conf/snapshot-stream.h"
#include "daemon/dispatch-snapshot.h"
#include "driver/driver.h"
#include "proto/ferry.pb-c.h"
#include "rpc/rpc-message.h"
#include "rpc/rpc-server.h"

/* A handle on @conn for the domain a call names. */
static ferry_domain *
domain_of(ferry_conn *conn, const Ferry__Domain *wire, GError **error)
{
    if (!g_uuid_string_is_valid(wire->uuid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': '%s' is not a valid uuid", wire->name, wire->uuid);
        return NULL;
    }
    return ferry_domain_new_handle(conn, wire->name, wire->uuid);
}

static gboolean
pack(const ProtobufCMessage *msg, GBytes **ret_body)
{
    *ret_body = ferry_rpc_message_pack(msg);
    return TRUE;
}

/* A procedure that answers only with its name field. */
static gboolean
pack_name(char *name, gboolean is_current, GBytes **ret_body)
{
    g_autofree char *owned = name;

    if (is_current) {
        Ferry__DomainSnapshotCurrentRet ret = FERRY__DOMAIN_SNAPSHOT_CURRENT_RET__INIT;

        ret.name = owned;
        return pack(&ret.base, ret_body);
    } else {
        Ferry__DomainSnapshotCreateXmlRet ret = FERRY__DOMAIN_SNAPSHOT_CREATE_XML_RET__INIT;

        ret.name = owned;
        return pack(&ret.base, ret_body);
    }
}

gboolean
ferry_dispatch_domain_snapshot_create_xml(ferry_conn *conn, const ProtobufCMessage *msg,
                                          GBytes **ret_body, GError **error)
{
    const Ferry__DomainSnapshotCreateXmlArgs *args =
        (const Ferry__DomainSnapshotCreateXmlArgs *)msg;
    g_autoptr(ferry_domain) dom = domain_of(conn, args->dom, error);
    char *name;

    if (!dom)
        return FALSE;
    name = ferry_domain_snapshot_create_xml(dom, args->xml, args->flags, error);
    return name && pack_name(name, FALSE, ret_body);
}

gboolean
ferry_dispatch_domain_snapshot_list(ferry_conn *conn, const ProtobufCMessage *msg,
                                    GBytes **ret_body, GError **error)
{
    const Ferry__DomainSnapshotListArgs *args = (const Ferry__DomainSnapshotListArgs *)msg;
    Ferry__DomainSnapshotListRet ret = FERRY__DOMAIN_SNAPSHOT_LIST_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_of(conn, args->dom, error);
    g_autoptr(GPtrArray) infos = NULL;
    g_autofree Ferry__SnapshotInfo *wire = NULL;
    g_autofree Ferry__SnapshotInfo **ptrs = NULL;

    if (!dom || !ferry_domain_snapshot_list(dom, args->flags, &infos, error))
        return FALSE;
    wire = g_new0(Ferry__SnapshotInfo, infos->len + 1);
    ptrs = g_new0(Ferry__SnapshotInfo *, infos->len + 1);
    for (guint i = 0; i < infos->len; i++) {
        const ferry_snapshot_info *info = infos->pdata[i];

        ferry__snapshot_info__init(&wire[i]);
        wire[i].name = info->name;
        wire[i].parent = info->parent;
        wire[i].creation_time = info->creation_time;
        wire[i].state = info->state;
        wire[i].current = info->current;
        ptrs[i] = &wire[i];
    }
    ret.n_snapshots = infos->len;
    ret.snapshots = ptrs;
    return pack(&ret.base, ret_body);
}

gboolean
ferry_dispatch_domain_snapshot_get_xml(ferry_conn *conn, const ProtobufCMessage *msg,
                                       GBytes **ret_body, GError **error)
{
    const Ferry__DomainSnapshotGetXmlArgs *args = (const Ferry__DomainSnapshotGetXmlArgs *)msg;
    Ferry__DomainSnapshotGetXmlRet ret = FERRY__DOMAIN_SNAPSHOT_GET_XML_RET__INIT;
    g_autoptr(ferry_domain) dom = domain_of(conn, args->dom, error);
    g_autofree char *xml = NULL;

    if (!dom)
        return FALSE;
    xml = ferry_domain_snapshot_get_xml(dom, args->name, args->flags, error);
    if (!xml)
        return FALSE;
    ret.xml = xml;
    return pack(&ret.base, ret_body);
}

gboolean
ferry_dispatch_domain_snapshot_current(ferry_conn *conn, const ProtobufCMessage *msg,
                                       GBytes **ret_body, GError **error)
{
    const Ferry__DomainSnapshotCurrentArgs *args = (const Ferry__DomainSnapshotCurrentArgs *)msg;
    g_autoptr(ferry_domain) dom = domain_of(conn, args->dom, error);
    char *name;

    if (!dom)
        return FALSE;
    name = ferry_domain_snapshot_current(dom, error);
    return name && pack_name(name, TRUE, ret_body);
}

/* Revert and delete: a name and flags, an empty Ret. */
static gboolean
run_named(ferry_conn *conn, const Ferry__Domain *wire, const char *name, guint flags,
          gboolean (*action)(ferry_domain *, const char *, guint, GError **),
          GBytes **ret_body, GError **error)
{
    g_autoptr(ferry_domain) dom = domain_of(conn, wire, error);

    if (!dom || !action(dom, name, flags, error))
        return FALSE;
    *ret_body = g_bytes_new(NULL, 0);
    return TRUE;
}

gboolean
ferry_dispatch_domain_snapshot_revert(ferry_conn *conn, const ProtobufCMessage *msg,
                                      GBytes **ret_body, GError **error)
{
    const Ferry__DomainSnapshotRevertArgs *args = (const Ferry__DomainSnapshotRevertArgs *)msg;

    return run_named(conn, args->dom, args->name, args->flags, ferry_domain_snapshot_revert,
                     ret_body, error);
}

gboolean
ferry_dispatch_domain_snapshot_delete(ferry_conn *conn, const ProtobufCMessage *msg,
                                      GBytes **ret_body, GError **error)
{
    const Ferry__DomainSnapshotDeleteArgs *args = (const Ferry__DomainSnapshotDeleteArgs *)msg;

    return run_named(conn, args->dom, args->name, args->flags, ferry_domain_snapshot_delete,
                     ret_body, error);
}

/* CONNECT_MIGRATE_SNAPSHOTS: the documents go on the call's stream.  The
 * stream's operations complete in the context of the thread that starts
 * them: the write starts in @context, which a thread of the daemon
 * iterates, not on the worker, which returns at once. */
typedef struct {
    ferry_rpc_stream *stream;
    GBytes *bytes;
} snapshots_send;

static void
snapshots_send_free(snapshots_send *send)
{
    ferry_rpc_stream_unref(send->stream);
    g_bytes_unref(send->bytes);
    g_free(send);
}

/* The destination ended its (empty) direction, or the stream failed:
 * only now may it go, as dropping an open stream aborts it, and the
 * destination may still be reading. */
static void
snapshots_peer_ended(GObject *source, GAsyncResult *res, gpointer data)
{
    snapshots_send *send = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) rest = ferry_rpc_stream_read_finish(send->stream, res, &error);

    if (!rest)
        g_debug("%s: %s", ferry_rpc_stream_get_description(send->stream), error->message);
    snapshots_send_free(send);
}

static void
snapshots_sent(GObject *source, GAsyncResult *res, gpointer data)
{
    snapshots_send *send = data;
    g_autoptr(GError) error = NULL;

    if (!ferry_rpc_stream_write_finish(send->stream, res, &error) ||
        !ferry_rpc_stream_end(send->stream, &error)) {
        g_warning("%s: the snapshots were not sent: %s",
                  ferry_rpc_stream_get_description(send->stream), error->message);
        snapshots_send_free(send);
        return;
    }
    ferry_rpc_stream_read_async(send->stream, 1, NULL, snapshots_peer_ended, send);
}

static gboolean
snapshots_start_send(gpointer data)
{
    snapshots_send *send = data;

    ferry_rpc_stream_write_async(send->stream, send->bytes, NULL, snapshots_sent, send);
    return G_SOURCE_REMOVE;
}

gboolean
ferry_dispatch_connect_migrate_snapshots(ferry_conn *conn, const ProtobufCMessage *msg,
                                         ferry_rpc_call *rpc, GMainContext *context,
                                         GBytes **ret_body, GError **error)
{
    const Ferry__ConnectMigrateSnapshotsArgs *args =
        (const Ferry__ConnectMigrateSnapshotsArgs *)msg;
    Ferry__ConnectMigrateSnapshotsRet ret = FERRY__CONNECT_MIGRATE_SNAPSHOTS_RET__INIT;
    g_autoptr(GPtrArray) docs = NULL;
    snapshots_send *send;
    ferry_rpc_stream *stream;

    if (!ferry_conn_migrate_snapshots(conn, args->id, args->token, &docs, error) ||
        !(stream = ferry_rpc_call_open_stream(rpc, NULL, error)))
        return FALSE;
    send = g_new0(snapshots_send, 1);
    send->stream = stream;
    send->bytes = ferry_snapshot_stream_encode(docs);
    g_main_context_invoke(context, snapshots_start_send, send);
    return pack(&ret.base, ret_body);
}
