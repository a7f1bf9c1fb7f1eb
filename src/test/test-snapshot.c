/*
 * test-snapshot.c: the test driver's snapshots: metadata only.
 *
 * Owns: the snapshot entries of the test driver table.  A test host keeps
 * each domain's snapshot tree in memory (test_host.snapshots) and no disk
 * data, so protocol and API tests of snapshots run in milliseconds.  The
 * rules a caller can see are the QEMU driver's: a new snapshot records the
 * domain's state and definition, a revert brings back the snapshot's state
 * (running or paused; an inactive domain cannot go back to a running
 * snapshot here, as there), a delete re-parents the children.
 */
#include "ferry-config.h"

#include "test/test-host.h"

static void
end_snapshot_job(ferry_domain_obj *obj)
{
    ferry_domain_obj_end_job(obj);
    ferry_domain_obj_unref(obj);
}

char *
test_domain_snapshot_create_xml(ferry_domain *dom, const char *xml, guint flags,
                                GError **error)
{
    test_host *host = test_host_of(dom->conn);
    ferry_domain_obj *obj =
        ferry_domain_obj_list_lookup_job(host->domains, dom, host->hostname, "snapshot create",
                                         error);
    g_autoptr(ferry_snapshot_def) snap = NULL;
    g_autofree char *name = NULL;
    ferry_snapshot_list *list;
    gboolean ok;

    if (!obj)
        return NULL;
    g_mutex_lock(&obj->lock);
    snap = ferry_snapshot_def_for_create(xml, flags, obj->live ? obj->live : obj->def,
                                         obj->state, error);
    g_mutex_unlock(&obj->lock);
    if (snap) {
        name = g_strdup(snap->name);
        list = ferry_snapshot_store_lock(host->snapshots, obj->uuid, obj->name);
        ok = ferry_snapshot_list_add(list, g_steal_pointer(&snap), flags, error);
        ferry_snapshot_store_unlock(host->snapshots);
        if (!ok)
            g_clear_pointer(&name, g_free);
    }
    end_snapshot_job(obj);
    return g_steal_pointer(&name);
}

gboolean
test_domain_snapshot_list(ferry_domain *dom, guint flags, GPtrArray **ret_snapshots,
                          GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);

    if (!obj)
        return FALSE;
    *ret_snapshots = ferry_snapshot_store_infos(host->snapshots, obj->uuid, obj->name);
    return TRUE;
}

char *
test_domain_snapshot_get_xml(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);

    if (!obj)
        return NULL;
    return ferry_snapshot_store_get_xml(host->snapshots, obj->uuid, obj->name, name, error);
}

char *
test_domain_snapshot_current(ferry_domain *dom, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    g_autoptr(ferry_domain_obj) obj =
        ferry_domain_obj_list_lookup(host->domains, dom, host->hostname, error);

    if (!obj)
        return NULL;
    return ferry_snapshot_store_current(host->snapshots, obj->uuid, obj->name, error);
}

gboolean
test_domain_snapshot_revert(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    ferry_domain_obj *obj =
        ferry_domain_obj_list_lookup_job(host->domains, dom, host->hostname, "snapshot revert",
                                         error);
    ferry_snapshot_list *list;
    const ferry_snapshot_def *snap;
    int want = FERRY_DOMAIN_SHUTOFF;
    gboolean ok = FALSE;

    if (!obj)
        return FALSE;
    list = ferry_snapshot_store_lock(host->snapshots, obj->uuid, obj->name);
    snap = ferry_snapshot_list_lookup(list, name, error);
    if (snap)
        want = ferry_snapshot_state_to_domain_state(snap->state);
    g_mutex_lock(&obj->lock);
    if (snap && want != FERRY_DOMAIN_SHUTOFF && !ferry_domain_obj_is_active(obj)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running: start it before reverting to snapshot '%s' "
                    "of a running domain", obj->name, name);
    } else if (snap && want == FERRY_DOMAIN_SHUTOFF && ferry_domain_obj_is_active(obj)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is running: destroy it before reverting to snapshot '%s' "
                    "of a shut off domain", obj->name, name);
    } else if (snap) {
        if (want == FERRY_DOMAIN_RUNNING)
            ferry_domain_obj_set_state(obj, want, FERRY_RUNNING_UNPAUSED);
        else if (want == FERRY_DOMAIN_PAUSED)
            ferry_domain_obj_set_state(obj, want, FERRY_PAUSED_USER);
        ok = ferry_snapshot_list_set_current(list, name, error);
    }
    g_mutex_unlock(&obj->lock);
    ferry_snapshot_store_unlock(host->snapshots);
    end_snapshot_job(obj);
    return ok;
}

gboolean
test_domain_snapshot_delete(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    test_host *host = test_host_of(dom->conn);
    ferry_domain_obj *obj =
        ferry_domain_obj_list_lookup_job(host->domains, dom, host->hostname, "snapshot delete",
                                         error);
    gboolean ok;

    if (!obj)
        return FALSE;
    ok = ferry_snapshot_list_remove(ferry_snapshot_store_lock(host->snapshots, obj->uuid,
                                                              obj->name),
                                    name, NULL, error);
    ferry_snapshot_store_unlock(host->snapshots);
    end_snapshot_job(obj);
    return ok;
}
