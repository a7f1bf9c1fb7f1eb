/*
 * domain.c: public domain functions: lookup, definition, lifecycle, queries.
 *
 * Same four steps as conn.c: check arguments, call the driver entry (or
 * report it missing), normalise the error.  Domain handles are plain
 * (connection, name, uuid) triples; all state lives in the drivers.
 */
#include "ferry-config.h"

#include "api/api-internal.h"

/* The common tail of the wrappers that return a domain. */
static ferry_domain *
domain_result(ferry_domain *dom, GError **error)
{
    ferry_error_normalize(error);
    return dom;
}

ferry_domain *
ferry_domain_lookup_by_name(ferry_conn *conn, const char *name, GError **error)
{
    g_return_val_if_fail(conn != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!name || !*name) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "a domain name must not be empty");
        return NULL;
    }
    if (!conn->driver->domain_lookup_by_name) {
        ferry_api_unsupported(conn, "looking domains up by name", error);
        return NULL;
    }
    return domain_result(conn->driver->domain_lookup_by_name(conn, name, error), error);
}

ferry_domain *
ferry_domain_lookup_by_uuid(ferry_conn *conn, const char *uuid, GError **error)
{
    g_return_val_if_fail(conn != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!uuid || !g_uuid_string_is_valid(uuid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "'%s' is not a valid uuid", uuid ? uuid : "(null)");
        return NULL;
    }
    if (!conn->driver->domain_lookup_by_uuid) {
        ferry_api_unsupported(conn, "looking domains up by uuid", error);
        return NULL;
    }
    return domain_result(conn->driver->domain_lookup_by_uuid(conn, uuid, error), error);
}

static gboolean
check_xml_arg(const char *xml, GError **error)
{
    if (!xml || !*xml) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "the domain XML must not be empty");
        return FALSE;
    }
    return TRUE;
}

ferry_domain *
ferry_domain_define_xml(ferry_conn *conn, const char *xml, GError **error)
{
    g_return_val_if_fail(conn != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_xml_arg(xml, error))
        return NULL;
    if (!conn->driver->domain_define_xml) {
        ferry_api_unsupported(conn, "defining domains", error);
        return NULL;
    }
    return domain_result(conn->driver->domain_define_xml(conn, xml, error), error);
}

static gboolean
check_start_flags(guint flags, GError **error)
{
    if (flags & ~(guint)FERRY_START_PAUSED) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "unknown flags 0x%x for starting a domain",
                    flags & ~(guint)FERRY_START_PAUSED);
        return FALSE;
    }
    return TRUE;
}

ferry_domain *
ferry_domain_create_xml(ferry_conn *conn, const char *xml, guint flags,
                        GError **error)
{
    g_return_val_if_fail(conn != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_xml_arg(xml, error) || !check_start_flags(flags, error))
        return NULL;
    if (!conn->driver->domain_create_xml) {
        ferry_api_unsupported(conn, "starting transient domains", error);
        return NULL;
    }
    return domain_result(conn->driver->domain_create_xml(conn, xml, flags, error), error);
}

typedef gboolean (*domain_op)(ferry_domain *dom, GError **error);

/* Calls a driver entry that takes only the domain. */
static gboolean
run_domain_op(ferry_domain *dom, domain_op op, const char *what, GError **error)
{
    gboolean ok;

    if (!op)
        return ferry_api_unsupported(dom->conn, what, error);
    ok = op(dom, error);
    ferry_error_normalize(error);
    return ok;
}

gboolean
ferry_domain_undefine(ferry_domain *dom, guint flags, GError **error)
{
    gboolean ok;

    g_return_val_if_fail(dom != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (flags != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "unknown flags 0x%x for undefining domain '%s'", flags, dom->name);
        return FALSE;
    }
    if (!dom->conn->driver->domain_undefine)
        return ferry_api_unsupported(dom->conn, "undefining domains", error);
    ok = dom->conn->driver->domain_undefine(dom, flags, error);
    ferry_error_normalize(error);
    return ok;
}

gboolean
ferry_domain_start(ferry_domain *dom, guint flags, GError **error)
{
    gboolean ok;

    g_return_val_if_fail(dom != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_start_flags(flags, error))
        return FALSE;
    if (!dom->conn->driver->domain_start)
        return ferry_api_unsupported(dom->conn, "starting domains", error);
    ok = dom->conn->driver->domain_start(dom, flags, error);
    ferry_error_normalize(error);
    return ok;
}

gboolean
ferry_domain_destroy(ferry_domain *dom, GError **error)
{
    g_return_val_if_fail(dom != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    return run_domain_op(dom, dom->conn->driver->domain_destroy,
                         "destroying domains", error);
}

gboolean
ferry_domain_suspend(ferry_domain *dom, GError **error)
{
    g_return_val_if_fail(dom != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    return run_domain_op(dom, dom->conn->driver->domain_suspend,
                         "suspending domains", error);
}

gboolean
ferry_domain_resume(ferry_domain *dom, GError **error)
{
    g_return_val_if_fail(dom != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    return run_domain_op(dom, dom->conn->driver->domain_resume,
                         "resuming domains", error);
}

gboolean
ferry_domain_get_info(ferry_domain *dom, ferry_domain_info *ret_info, GError **error)
{
    ferry_domain_info info = { 0 };

    g_return_val_if_fail(dom != NULL, FALSE);
    g_return_val_if_fail(ret_info != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!dom->conn->driver->domain_get_info)
        return ferry_api_unsupported(dom->conn, "domain information", error);
    if (!dom->conn->driver->domain_get_info(dom, &info, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    *ret_info = info;
    return TRUE;
}

gboolean
ferry_domain_get_state(ferry_domain *dom, int *ret_state, int *ret_reason,
                       GError **error)
{
    ferry_domain_info info;

    if (!ferry_domain_get_info(dom, &info, error))
        return FALSE;
    if (ret_state)
        *ret_state = info.state;
    if (ret_reason)
        *ret_reason = info.reason;
    return TRUE;
}

char *
ferry_domain_get_xml(ferry_domain *dom, guint flags, GError **error)
{
    char *xml;

    g_return_val_if_fail(dom != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (flags & ~(guint)(FERRY_XML_INACTIVE | FERRY_XML_SECURE)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "unknown flags 0x%x for the XML of domain '%s'",
                    flags & ~(guint)(FERRY_XML_INACTIVE | FERRY_XML_SECURE), dom->name);
        return NULL;
    }
    if (!dom->conn->driver->domain_get_xml) {
        ferry_api_unsupported(dom->conn, "domain XML", error);
        return NULL;
    }
    xml = dom->conn->driver->domain_get_xml(dom, flags, error);
    ferry_error_normalize(error);
    return xml;
}
