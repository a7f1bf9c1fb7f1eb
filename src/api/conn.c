/*
 * conn.c: public connection functions.
 *
 * Every public wrapper has the same shape: check arguments, call the driver
 * entry or report that the driver lacks it, and hand back only FERRY_ERROR
 * errors.  Nothing here knows how a driver works.
 */
#include "ferry-config.h"

#include "api/api-internal.h"
#include "remote/remote-driver.h"
#include "test/test-driver.h"
#include "util/uri.h"

static const ferry_driver *const default_drivers[] = {
    &ferry_test_driver,
    &ferry_remote_driver,
    NULL,
};

gboolean
ferry_api_unsupported(const ferry_conn *conn, const char *operation, GError **error)
{
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                "the %s driver does not support %s", conn->driver->name, operation);
    return FALSE;
}

ferry_conn *
ferry_conn_open(const char *uri, GError **error)
{
    return ferry_conn_open_with_drivers(uri, default_drivers, error);
}

gboolean
ferry_conn_is_alive(ferry_conn *conn)
{
    g_return_val_if_fail(conn != NULL, FALSE);
    if (!conn->driver->conn_is_alive)
        return TRUE;
    return conn->driver->conn_is_alive(conn);
}

char *
ferry_conn_get_capabilities(ferry_conn *conn, GError **error)
{
    char *ret;

    g_return_val_if_fail(conn != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!conn->driver->conn_get_capabilities) {
        ferry_api_unsupported(conn, "host capabilities", error);
        return NULL;
    }
    ret = conn->driver->conn_get_capabilities(conn, error);
    ferry_error_normalize(error);
    return ret;
}

char *
ferry_conn_get_hostname(ferry_conn *conn, GError **error)
{
    char *ret;

    g_return_val_if_fail(conn != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!conn->driver->conn_get_hostname) {
        ferry_api_unsupported(conn, "host name queries", error);
        return NULL;
    }
    ret = conn->driver->conn_get_hostname(conn, error);
    ferry_error_normalize(error);
    return ret;
}

gboolean
ferry_conn_supports_feature(ferry_conn *conn, ferry_feature feature,
                            gboolean *ret_supported, GError **error)
{
    gboolean ok;

    g_return_val_if_fail(conn != NULL, FALSE);
    g_return_val_if_fail(ret_supported != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!conn->driver->conn_supports_feature) {
        *ret_supported = FALSE;
        return TRUE;
    }
    ok = conn->driver->conn_supports_feature(conn, feature, ret_supported, error);
    ferry_error_normalize(error);
    return ok;
}

gboolean
ferry_conn_list_domains(ferry_conn *conn, guint flags, GPtrArray **ret_domains,
                        GError **error)
{
    gboolean ok;

    g_return_val_if_fail(conn != NULL, FALSE);
    g_return_val_if_fail(ret_domains != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (flags & ~(guint)(FERRY_LIST_ACTIVE | FERRY_LIST_INACTIVE)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "unknown flags 0x%x for listing domains",
                    flags & ~(guint)(FERRY_LIST_ACTIVE | FERRY_LIST_INACTIVE));
        return FALSE;
    }
    if (!conn->driver->conn_list_domains)
        return ferry_api_unsupported(conn, "listing domains", error);
    ok = conn->driver->conn_list_domains(conn, flags, ret_domains, error);
    ferry_error_normalize(error);
    return ok;
}

guint
ferry_conn_subscribe_events(ferry_conn *conn, ferry_event_cb callback,
                            gpointer user_data, GDestroyNotify destroy,
                            GError **error)
{
    guint id;

    g_return_val_if_fail(conn != NULL, 0);
    g_return_val_if_fail(callback != NULL, 0);
    g_return_val_if_fail(error == NULL || *error == NULL, 0);
    if (!conn->driver->conn_subscribe_events) {
        ferry_api_unsupported(conn, "events", error);
        return 0;
    }
    id = conn->driver->conn_subscribe_events(conn, callback, user_data, destroy, error);
    ferry_error_normalize(error);
    return id;
}

gboolean
ferry_conn_unsubscribe_events(ferry_conn *conn, guint id, GError **error)
{
    gboolean ok;

    g_return_val_if_fail(conn != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!conn->driver->conn_unsubscribe_events)
        return ferry_api_unsupported(conn, "events", error);
    ok = conn->driver->conn_unsubscribe_events(conn, id, error);
    ferry_error_normalize(error);
    return ok;
}
