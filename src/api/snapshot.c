/*
 * snapshot.c: the public snapshot calls (ferry.h, "Snapshots").
 *
 * Owns: the argument and flag checks every driver may rely on, and the
 * "not supported" answer of a driver without snapshots.  Must not: know
 * any driver, or what a snapshot holds (drivers and src/driver/ do).
 */
#include "ferry-config.h"

#include "api/api-internal.h"
#include "conf/snapshot-conf.h"
#include "util/error.h"

/* Checks what every call gets: a domain, unknown flags, a snapshot name. */
static gboolean
check_call(ferry_domain *dom, guint flags, guint known, const char *name,
           gboolean (*entry_missing)(const ferry_driver *), const char *operation,
           GError **error)
{
    if (flags & ~known) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "unknown flags 0x%x for %s of domain '%s'", flags & ~known, operation,
                    dom->name);
        return FALSE;
    }
    if (name && !ferry_snapshot_name_is_valid(name, error)) {
        g_prefix_error(error, "domain '%s': ", dom->name);
        return FALSE;
    }
    if (entry_missing(dom->conn->driver)) {
        ferry_api_unsupported(dom->conn, operation, error);
        return FALSE;
    }
    return TRUE;
}

static gboolean
no_create(const ferry_driver *d)
{
    return d->domain_snapshot_create_xml == NULL;
}

static gboolean
no_list(const ferry_driver *d)
{
    return d->domain_snapshot_list == NULL;
}

static gboolean
no_get_xml(const ferry_driver *d)
{
    return d->domain_snapshot_get_xml == NULL;
}

static gboolean
no_current(const ferry_driver *d)
{
    return d->domain_snapshot_current == NULL;
}

static gboolean
no_revert(const ferry_driver *d)
{
    return d->domain_snapshot_revert == NULL;
}

static gboolean
no_delete(const ferry_driver *d)
{
    return d->domain_snapshot_delete == NULL;
}

char *
ferry_domain_snapshot_create_xml(ferry_domain *dom, const char *xml, guint flags,
                                 GError **error)
{
    char *name;

    g_return_val_if_fail(dom != NULL && xml != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_call(dom, flags, FERRY_SNAPSHOT_CREATE_REDEFINE | FERRY_SNAPSHOT_CREATE_CURRENT,
                    NULL, no_create, "snapshot creation", error))
        return NULL;
    if ((flags & FERRY_SNAPSHOT_CREATE_CURRENT) && !(flags & FERRY_SNAPSHOT_CREATE_REDEFINE)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': CURRENT is for a redefinition (REDEFINE); a new snapshot "
                    "is always current", dom->name);
        return NULL;
    }
    name = dom->conn->driver->domain_snapshot_create_xml(dom, xml, flags, error);
    ferry_error_normalize(error);
    return name;
}

gboolean
ferry_domain_snapshot_list(ferry_domain *dom, guint flags, GPtrArray **ret_snapshots,
                           GError **error)
{
    gboolean ok;

    g_return_val_if_fail(dom != NULL && ret_snapshots != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_call(dom, flags, 0, NULL, no_list, "snapshot listing", error))
        return FALSE;
    ok = dom->conn->driver->domain_snapshot_list(dom, flags, ret_snapshots, error);
    ferry_error_normalize(error);
    return ok;
}

char *
ferry_domain_snapshot_get_xml(ferry_domain *dom, const char *name, guint flags,
                              GError **error)
{
    char *xml;

    g_return_val_if_fail(dom != NULL && name != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_call(dom, flags, 0, name, no_get_xml, "snapshot XML", error))
        return NULL;
    xml = dom->conn->driver->domain_snapshot_get_xml(dom, name, flags, error);
    ferry_error_normalize(error);
    return xml;
}

char *
ferry_domain_snapshot_current(ferry_domain *dom, GError **error)
{
    char *name;

    g_return_val_if_fail(dom != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_call(dom, 0, 0, NULL, no_current, "current snapshot", error))
        return NULL;
    name = dom->conn->driver->domain_snapshot_current(dom, error);
    ferry_error_normalize(error);
    return name;
}

gboolean
ferry_domain_snapshot_revert(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    gboolean ok;

    g_return_val_if_fail(dom != NULL && name != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_call(dom, flags, 0, name, no_revert, "snapshot revert", error))
        return FALSE;
    ok = dom->conn->driver->domain_snapshot_revert(dom, name, flags, error);
    ferry_error_normalize(error);
    return ok;
}

gboolean
ferry_domain_snapshot_delete(ferry_domain *dom, const char *name, guint flags, GError **error)
{
    gboolean ok;

    g_return_val_if_fail(dom != NULL && name != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_call(dom, flags, 0, name, no_delete, "snapshot deletion", error))
        return FALSE;
    ok = dom->conn->driver->domain_snapshot_delete(dom, name, flags, error);
    ferry_error_normalize(error);
    return ok;
}
