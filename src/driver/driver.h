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

    /*
     * Migration, v3 (DESIGN.md section 3).  Cookies are migration-cookie
     * XML documents (src/conf/migration-cookie.h).  @params->uri is the
     * migration URI: in Prepare what the caller asked for (may be NULL),
     * in Perform the one Prepare chose.
     */
    /* Source: safety checks, begin event, hook; returns the XML for the
     * destination and the cookie for Prepare.  Takes the domain's
     * migration job, which Perform and Confirm continue. */
    char *(*domain_migrate_begin3)(ferry_domain *dom, const ferry_migrate_params *params,
                                   char **ret_cookie_out, GError **error);
    /* Destination: get ready to receive (QEMU paused, -incoming); returns the
     * migration URI to use and a cookie for Perform. */
    gboolean (*conn_migrate_prepare3)(ferry_conn *dconn, const ferry_migrate_params *params,
                                      const char *dom_xml, const char *cookie_in,
                                      char **ret_cookie_out, char **ret_uri_out,
                                      GError **error);
    /* Source: send; on success the source is left paused, not killed.  With
     * FERRY_MIGRATE_PEER2PEER and @dconn_uri set, runs the whole sequence
     * against that destination instead.  Cookie out: statistics. */
    gboolean (*domain_migrate_perform3)(ferry_domain *dom, const ferry_migrate_params *params,
                                        const char *dconn_uri, const char *cookie_in,
                                        char **ret_cookie_out, GError **error);
    /* Destination: on success (!cancelled) wait for the end of the incoming
     * migration and resume (unless PAUSED); on failure kill the incoming
     * QEMU.  Returns the domain, or NULL (with @error) when it is gone. */
    ferry_domain *(*conn_migrate_finish3)(ferry_conn *dconn, const ferry_migrate_params *params,
                                          const char *dname, const char *cookie_in,
                                          char **ret_cookie_out, gboolean cancelled,
                                          GError **error);
    /* Source: on success kill the source (undefine if asked); on failure
     * resume it.  Ends the migration job. */
    gboolean (*domain_migrate_confirm3)(ferry_domain *dom, const ferry_migrate_params *params,
                                        const char *cookie_in, gboolean cancelled,
                                        GError **error);

    /* Migration, v2: DumpXML (domain_get_xml), Prepare2, Perform, Finish2. */
    gboolean (*conn_migrate_prepare2)(ferry_conn *dconn, const ferry_migrate_params *params,
                                      const char *dom_xml, char **ret_cookie_out,
                                      char **ret_uri_out, GError **error);
    /* v1 and v2 Perform: send, then kill the source on success (resume it
     * on failure). */
    gboolean (*domain_migrate_perform)(ferry_domain *dom, const ferry_migrate_params *params,
                                       const char *cookie_in, GError **error);
    ferry_domain *(*conn_migrate_finish2)(ferry_conn *dconn, const ferry_migrate_params *params,
                                          const char *dname, const char *cookie_in,
                                          gboolean ok, GError **error);

    /* Migration, v1: Prepare (no XML: the hypervisor carries the definition),
     * Perform, Finish. */
    gboolean (*conn_migrate_prepare)(ferry_conn *dconn, const ferry_migrate_params *params,
                                     char **ret_cookie_out, char **ret_uri_out,
                                     GError **error);
    ferry_domain *(*conn_migrate_finish)(ferry_conn *dconn, const ferry_migrate_params *params,
                                         const char *dname, const char *cookie_in,
                                         GError **error);

    /* Progress of the domain's job; must not wait for the job. */
    gboolean (*domain_get_job_info)(ferry_domain *dom, ferry_job_info *ret_info,
                                    GError **error);
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
