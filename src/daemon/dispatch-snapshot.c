/*
 * dispatch-snapshot.c: the daemon's side of the snapshot procedures.
 *
 * Owns: turning their Args into public API calls on the client's
 * connection and the results into Ret messages.  Must not: call driver
 * entries (the API checks arguments first), or keep anything.
 */
#include "ferry-config.h"

#include "daemon/dispatch-snapshot.h"
#include "driver/driver.h"
#include "proto/ferry.pb-c.h"
#include "rpc/rpc-message.h"

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
