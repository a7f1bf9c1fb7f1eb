/*
 * driver.h: the driver table, the only seam between the public API
 * (src/api/) and the drivers (src/test/, src/qemu/, src/remote/).
 *
 * The public API validates arguments and calls one entry of this table; a
 * driver never calls another driver (except that the remote driver, and the
 * daemon's peer-to-peer migration, open connections of their own).
 *
 * Rules for every driver table:
 *  - designated initialisers, one entry per operation, each annotated with
 *    the version that added it, as a trailing comment "since 0.1" in the
 *    usual C comment markers;
 *    scripts/hvsupport.py builds docs/hvsupport.md from these annotations;
 *  - the function behind entry `.foo` of driver `bar` is named `bar_foo`
 *    (scripts/check-driver-names.py enforces it);
 *  - an entry left NULL means "not supported": the API reports
 *    FERRY_ERROR_NO_SUPPORT naming the driver and the operation;
 *  - entries follow the error rules of ferry.h: GError last, set once, only
 *    on failure, and failure also said by the return value.
 */
#pragma once

#include <ferry/ferry.h>

G_BEGIN_DECLS

typedef struct ferry_uri ferry_uri;
typedef struct ferry_driver ferry_driver;

/**
 * ferry_conn: (internal layout) one open connection.
 *
 * @driver_data belongs to the driver: conn_open sets it, conn_close frees it.
 */
struct ferry_conn {
    gint ref;
    char *uri;                      /* canonical URI string */
    const ferry_driver *driver;
    gpointer driver_data;
};

/**
 * ferry_domain: (internal layout) a handle on a domain: a connection plus
 * the domain's identity.  Drivers look their own objects up by uuid.
 */
struct ferry_domain {
    gint ref;
    ferry_conn *conn;
    char *name;
    char *uuid;
};

/**
 * ferry_driver: the table of one driver.
 */
struct ferry_driver {
    const char *name;

    /*
     * Does this driver serve @uri?  Called in table order by
     * ferry_conn_open(); the first driver that says yes opens the connection.
     */
    gboolean (*conn_probe)(const ferry_uri *uri);

    /* Connection */
    gboolean (*conn_open)(ferry_conn *conn, const ferry_uri *uri, GError **error);
    void (*conn_close)(ferry_conn *conn);
    gboolean (*conn_is_alive)(ferry_conn *conn);
    char *(*conn_get_capabilities)(ferry_conn *conn, GError **error);
    char *(*conn_get_hostname)(ferry_conn *conn, GError **error);
    gboolean (*conn_supports_feature)(ferry_conn *conn, ferry_feature feature,
                                      gboolean *ret_supported, GError **error);
    gboolean (*conn_list_domains)(ferry_conn *conn, guint flags,
                                  GPtrArray **ret_domains, GError **error);
    guint (*conn_subscribe_events)(ferry_conn *conn, ferry_event_cb callback,
                                   gpointer user_data, GDestroyNotify destroy,
                                   GError **error);
    gboolean (*conn_unsubscribe_events)(ferry_conn *conn, guint id, GError **error);

    /* Domains */
    ferry_domain *(*domain_lookup_by_name)(ferry_conn *conn, const char *name,
                                           GError **error);
    ferry_domain *(*domain_lookup_by_uuid)(ferry_conn *conn, const char *uuid,
                                           GError **error);
    ferry_domain *(*domain_define_xml)(ferry_conn *conn, const char *xml,
                                       GError **error);
    ferry_domain *(*domain_create_xml)(ferry_conn *conn, const char *xml,
                                       guint flags, GError **error);
    gboolean (*domain_undefine)(ferry_domain *dom, guint flags, GError **error);
    gboolean (*domain_start)(ferry_domain *dom, guint flags, GError **error);
    gboolean (*domain_destroy)(ferry_domain *dom, GError **error);
    gboolean (*domain_suspend)(ferry_domain *dom, GError **error);
    gboolean (*domain_resume)(ferry_domain *dom, GError **error);
    gboolean (*domain_get_info)(ferry_domain *dom, ferry_domain_info *ret_info,
                                GError **error);
    char *(*domain_get_xml)(ferry_domain *dom, guint flags, GError **error);
};

/**
 * ferry_domain_new_handle:
 * @conn: the connection the handle belongs to (a reference is taken)
 * @name: the domain's name
 * @uuid: the domain's uuid
 *
 * For drivers: makes a public handle for one of their domains.
 *
 * Returns: (transfer full): a new handle.
 */
ferry_domain *ferry_domain_new_handle(ferry_conn *conn, const char *name,
                                      const char *uuid);

/**
 * ferry_conn_try_ref:
 * @conn: a connection
 *
 * Takes a reference unless the last one is already being dropped.
 *
 * Returns: TRUE if a reference was taken.
 */
gboolean ferry_conn_try_ref(ferry_conn *conn);

/**
 * ferry_conn_open_with_drivers:
 * @uri: (nullable): as for ferry_conn_open()
 * @drivers: a NULL-terminated list of drivers to probe, in order
 * @error: return location for an error
 *
 * ferry_conn_open() with another list of drivers.  The public function uses
 * the test and remote drivers; ferryd also offers the QEMU driver.
 *
 * Returns: (transfer full): a new connection, or NULL on error.
 */
ferry_conn *ferry_conn_open_with_drivers(const char *uri,
                                         const ferry_driver *const *drivers,
                                         GError **error);

G_END_DECLS
