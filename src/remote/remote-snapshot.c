/*
 * remote-snapshot.c: the remote driver's snapshot entries: each one call
 * of the matching procedure (proto/ferry.proto, "Snapshots").
 *
 * Owns: the Args and Ret of those procedures on the client side.  Must
 * not: check arguments (the API did, and the daemon's API does again).
 */
#include "ferry-config.h"

#include "conf/snapshot-stream.h"
#include "proto/ferry.pb-c.h"
#include "remote/remote-snapshot.h"
#include "rpc/rpc-message.h"

static Ferry__Domain *
wire_of(ferry_domain *dom, Ferry__Domain *wire)
{
    ferry__domain__init(wire);
    wire->name = dom->name;
    wire->uuid = dom->uuid;
    return wire;
}

char *
remote_domain_snapshot_create_xml(ferry_domain *dom, const char *xml, guint flags,
                                  GError **error)
{
    Ferry__DomainSnapshotCreateXmlArgs args = FERRY__DOMAIN_SNAPSHOT_CREATE_XML_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.dom = wire_of(dom, &wire);
    args.xml = (char *)xml;
    args.flags = flags;
    ret = remote_call_message(dom->conn, FERRY__PROCEDURE__DOMAIN_SNAPSHOT_CREATE_XML,
                              &args.base, error);
    return ret ? g_strdup(((Ferry__DomainSnapshotCreateXmlRet *)ret)->name) : NULL;
}

gboolean
remote_domain_snapshot_list(ferry_domain *dom, guint flags, GPtrArray **ret_snapshots,
                            GError **error)
{
    Ferry__DomainSnapshotListArgs args = FERRY__DOMAIN_SNAPSHOT_LIST_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;
    const Ferry__DomainSnapshotListRet *list;
    GPtrArray *out;

    args.dom = wire_of(dom, &wire);
    args.flags = flags;
    ret = remote_call_message(dom->conn, FERRY__PROCEDURE__DOMAIN_SNAPSHOT_LIST, &args.base,
                              error);
    if (!ret)
        return FALSE;
    list = (const Ferry__DomainSnapshotListRet *)ret;
    out = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_snapshot_info_free);
    for (gsize i = 0; i < list->n_snapshots; i++) {
        const Ferry__SnapshotInfo *w = list->snapshots[i];
        ferry_snapshot_info *info = g_new0(ferry_snapshot_info, 1);

        info->name = g_strdup(w->name);
        info->parent = g_strdup(w->parent);
        info->creation_time = w->creation_time;
        info->state = w->state;
        info->current = w->current;
        g_ptr_array_add(out, info);
    }
    *ret_snapshots = out;
    return TRUE;
}

char *
remote_domain_snapshot_get_xml(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    Ferry__DomainSnapshotGetXmlArgs args = FERRY__DOMAIN_SNAPSHOT_GET_XML_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.dom = wire_of(dom, &wire);
    args.name = (char *)name;
    args.flags = flags;
    ret = remote_call_message(dom->conn, FERRY__PROCEDURE__DOMAIN_SNAPSHOT_GET_XML, &args.base,
                              error);
    return ret ? g_strdup(((Ferry__DomainSnapshotGetXmlRet *)ret)->xml) : NULL;
}

char *
remote_domain_snapshot_current(ferry_domain *dom, GError **error)
{
    Ferry__DomainSnapshotCurrentArgs args = FERRY__DOMAIN_SNAPSHOT_CURRENT_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.dom = wire_of(dom, &wire);
    ret = remote_call_message(dom->conn, FERRY__PROCEDURE__DOMAIN_SNAPSHOT_CURRENT, &args.base,
                              error);
    return ret ? g_strdup(((Ferry__DomainSnapshotCurrentRet *)ret)->name) : NULL;
}

gboolean
remote_domain_snapshot_revert(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    Ferry__DomainSnapshotRevertArgs args = FERRY__DOMAIN_SNAPSHOT_REVERT_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.dom = wire_of(dom, &wire);
    args.name = (char *)name;
    args.flags = flags;
    ret = remote_call_message(dom->conn, FERRY__PROCEDURE__DOMAIN_SNAPSHOT_REVERT, &args.base,
                              error);
    return ret != NULL;
}

gboolean
remote_domain_snapshot_delete(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    Ferry__DomainSnapshotDeleteArgs args = FERRY__DOMAIN_SNAPSHOT_DELETE_ARGS__INIT;
    Ferry__Domain wire;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.dom = wire_of(dom, &wire);
    args.name = (char *)name;
    args.flags = flags;
    ret = remote_call_message(dom->conn, FERRY__PROCEDURE__DOMAIN_SNAPSHOT_DELETE, &args.base,
                              error);
    return ret != NULL;
}

/* ------------------------------------------------------------------------ */
/* CONNECT_MIGRATE_SNAPSHOTS: the call and the stream it opens              */
/* ------------------------------------------------------------------------ */

/* One read or the call's reply, waited for in a context of this thread. */
typedef struct {
    GAsyncResult *read;
    GAsyncResult *reply;
} pull_state;

static void
on_read(GObject *source, GAsyncResult *res, gpointer data)
{
    ((pull_state *)data)->read = g_object_ref(res);
}

static void
on_reply(GObject *source, GAsyncResult *res, gpointer data)
{
    ((pull_state *)data)->reply = g_object_ref(res);
}

/* Reads the stream to its end through the decoder; refusing what it
 * refuses aborts the stream, so that the source's daemon stops too. */
static GPtrArray *
read_all(ferry_rpc_stream *stream, ferry_snapshot_stream_decoder *dec, pull_state *st,
         GMainContext *context, GError **error)
{
    for (;;) {
        g_autoptr(GBytes) data = NULL;
        gsize len;
        const guint8 *bytes;

        ferry_rpc_stream_read_async(stream, 256 * 1024, NULL, on_read, st);
        while (!st->read)
            g_main_context_iteration(context, TRUE);
        data = ferry_rpc_stream_read_finish(stream, st->read, error);
        g_clear_object(&st->read);
        if (!data)
            return NULL;
        bytes = g_bytes_get_data(data, &len);
        if (len == 0)
            return ferry_snapshot_stream_decoder_finish(dec, error);
        if (!ferry_snapshot_stream_decoder_feed(dec, bytes, len, error)) {
            ferry_rpc_stream_abort(stream, *error);
            return NULL;
        }
    }
}

gboolean
remote_conn_migrate_snapshots(ferry_conn *conn, const char *id, const char *token,
                              GPtrArray **ret_docs, GError **error)
{
    Ferry__ConnectMigrateSnapshotsArgs args = FERRY__CONNECT_MIGRATE_SNAPSHOTS_ARGS__INIT;
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GBytes) packed = NULL;
    g_autoptr(GBytes) ret = NULL;
    g_autoptr(GPtrArray) docs = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *what = g_strdup_printf("the snapshot stream of migration %s", id);
    g_autoptr(ferry_snapshot_stream_decoder) dec = ferry_snapshot_stream_decoder_new(what);
    ferry_rpc_client *rpc = remote_rpc_client(conn);
    ferry_rpc_stream *stream;
    pull_state st = { NULL, NULL };

    args.id = (char *)id;
    args.token = (char *)token;
    packed = ferry_rpc_message_pack(&args.base);
    /* The stream's operations complete in this thread's context: the
     * caller (a step thread) waits here, iterating only it. */
    g_main_context_push_thread_default(context);
    stream = ferry_rpc_client_call_stream_async(rpc, FERRY__PROCEDURE__CONNECT_MIGRATE_SNAPSHOTS,
                                                packed, NULL, on_reply, &st);
    docs = read_all(stream, dec, &st, context, &local);
    /* This side's direction carries nothing; ending it ends the stream. */
    if (docs && !ferry_rpc_stream_end(stream, &local))
        g_clear_pointer(&docs, g_ptr_array_unref);
    while (!st.reply)
        g_main_context_iteration(context, TRUE);
    ret = ferry_rpc_client_call_finish(rpc, st.reply, docs ? &local : NULL);
    g_clear_object(&st.reply);
    ferry_rpc_stream_unref(stream);
    g_main_context_pop_thread_default(context);
    if (!docs || !ret) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    *ret_docs = g_steal_pointer(&docs);
    return TRUE;
}
