/*
 * driver.c: what every driver and the public API share below the driver
 * table: opening a connection with a list of drivers, the reference counts
 * of connection and domain handles, and the completion of asynchronous
 * migration calls.
 *
 * Lives under src/driver/ so that drivers and the migration engine, which
 * open connections to peers, never call up into src/api/ (the public API
 * wraps these with its argument checks).
 */
#include "ferry-config.h"

#include "driver/driver.h"
#include "util/error.h"
#include "util/uri.h"

ferry_conn *
ferry_conn_open_with_drivers(const char *uri_str, const ferry_driver *const *drivers,
                             GError **error)
{
    g_autoptr(ferry_uri) uri = NULL;
    ferry_conn *conn;
    const ferry_driver *driver = NULL;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    if (!uri_str)
        uri_str = g_getenv("FERRY_DEFAULT_URI");
    if (!uri_str || !*uri_str)
        uri_str = "qemu:///system";

    uri = ferry_uri_parse(uri_str, error);
    if (!uri)
        return NULL;

    for (; *drivers; drivers++) {
        if ((*drivers)->conn_probe(uri)) {
            driver = *drivers;
            break;
        }
    }
    if (!driver) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "no driver serves URI '%s'", uri_str);
        return NULL;
    }

    conn = g_new0(ferry_conn, 1);
    conn->ref = 1;
    conn->driver = driver;
    conn->uri = ferry_uri_to_string(uri);
    if (!driver->conn_open(conn, uri, error)) {
        ferry_error_normalize(error);
        g_free(conn->uri);
        g_free(conn);
        return NULL;
    }
    return conn;
}

ferry_conn *
ferry_conn_ref(ferry_conn *conn)
{
    if (conn)
        g_atomic_int_inc(&conn->ref);
    return conn;
}

gboolean
ferry_conn_try_ref(ferry_conn *conn)
{
    int old;

    do {
        old = g_atomic_int_get(&conn->ref);
        if (old <= 0)
            return FALSE;
    } while (!g_atomic_int_compare_and_exchange(&conn->ref, old, old + 1));
    return TRUE;
}

void
ferry_conn_unref(ferry_conn *conn)
{
    if (!conn || !g_atomic_int_dec_and_test(&conn->ref))
        return;
    if (conn->driver->conn_close)
        conn->driver->conn_close(conn);
    g_free(conn->uri);
    g_free(conn);
}

const char *
ferry_conn_get_uri(ferry_conn *conn)
{
    g_return_val_if_fail(conn != NULL, NULL);
    return conn->uri;
}

ferry_domain *
ferry_domain_new_handle(ferry_conn *conn, const char *name, const char *uuid)
{
    ferry_domain *dom = g_new0(ferry_domain, 1);

    dom->ref = 1;
    dom->conn = ferry_conn_ref(conn);
    dom->name = g_strdup(name);
    dom->uuid = g_strdup(uuid);
    return dom;
}

ferry_domain *
ferry_domain_ref(ferry_domain *dom)
{
    if (dom)
        g_atomic_int_inc(&dom->ref);
    return dom;
}

void
ferry_domain_unref(ferry_domain *dom)
{
    if (!dom || !g_atomic_int_dec_and_test(&dom->ref))
        return;
    ferry_conn_unref(dom->conn);
    g_free(dom->name);
    g_free(dom->uuid);
    g_strfreev(dom->warnings);
    g_free(dom);
}

const char *const *
ferry_domain_get_warnings(ferry_domain *dom)
{
    static const char *const none[] = { NULL };

    g_return_val_if_fail(dom != NULL, NULL);
    return dom->warnings ? (const char *const *)dom->warnings : none;
}

const char *
ferry_domain_get_name(ferry_domain *dom)
{
    g_return_val_if_fail(dom != NULL, NULL);
    return dom->name;
}

const char *
ferry_domain_get_uuid(ferry_domain *dom)
{
    g_return_val_if_fail(dom != NULL, NULL);
    return dom->uuid;
}

ferry_conn *
ferry_domain_get_conn(ferry_domain *dom)
{
    g_return_val_if_fail(dom != NULL, NULL);
    return dom->conn;
}

void
ferry_conn_set_confined(ferry_conn *conn)
{
    conn->confined = TRUE;
}

gboolean
ferry_conn_is_confined(ferry_conn *conn)
{
    return conn->confined;
}

void
ferry_conn_client_gone(ferry_conn *conn)
{
    if (conn && conn->driver->conn_client_gone)
        conn->driver->conn_client_gone(conn);
}

void
ferry_phase_result_free(ferry_phase_result *result)
{
    if (!result)
        return;
    g_free(result->xml);
    g_free(result->cookie);
    g_free(result->uri);
    ferry_domain_unref(result->dom);
    g_free(result->message);
    g_free(result);
}

void
ferry_phase_task_return(GTask *task, ferry_phase_result *result)
{
    g_task_return_pointer(task, result, (GDestroyNotify)ferry_phase_result_free);
    g_object_unref(task);
}

ferry_phase_result *
ferry_phase_finish(GAsyncResult *result, GError **error)
{
    ferry_phase_result *out;

    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    out = g_task_propagate_pointer(G_TASK(result), error);
    if (!out)
        ferry_error_normalize(error);
    return out;
}
