/*
 * remote-snapshot.c: the remote driver's snapshot entries: each one call
 * of the matching procedure (proto/ferry.proto, "Snapshots").
 *
 * Owns: the Args and Ret of those procedures on the client side.  Must
 * not: check arguments (the API did, and the daemon's API does again).
 */
#include "ferry-config.h"

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
