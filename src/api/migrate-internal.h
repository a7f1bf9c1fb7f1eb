/*
 * migrate-internal.h: the migration phases as library calls, for the
 * sequencer (migrate.c), the daemon's dispatch and peer-to-peer drivers.
 *
 * Each function checks its arguments, calls the driver entry of the same
 * name on the connection it is given, and reports FERRY_ERROR_NO_SUPPORT
 * naming the driver and phase when the entry is missing.  They are not in
 * the public header: applications migrate with ferry_domain_migrate().
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

char *ferry_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                                  char **ret_cookie_out, GError **error);
gboolean ferry_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                                     const char *dom_xml, const char *cookie_in,
                                     char **ret_cookie_out, char **ret_uri_out,
                                     GError **error);
gboolean ferry_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                                       const char *dconn_uri, const char *cookie_in,
                                       char **ret_cookie_out, GError **error);
ferry_domain *ferry_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                                         const char *dname, const char *cookie_in,
                                         char **ret_cookie_out, gboolean cancelled,
                                         GError **error);
gboolean ferry_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                                       const char *cookie_in, gboolean cancelled,
                                       GError **error);
gboolean ferry_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                                     const char *dom_xml, char **ret_cookie_out,
                                     char **ret_uri_out, GError **error);
gboolean ferry_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                                      const char *cookie_in, GError **error);
ferry_domain *ferry_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                                         const char *dname, const char *cookie_in,
                                         gboolean ok, GError **error);
gboolean ferry_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                                    char **ret_cookie_out, char **ret_uri_out, GError **error);
ferry_domain *ferry_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                                        const char *dname, const char *cookie_in,
                                        GError **error);

/**
 * ferry_migrate_run_v3:
 * @dom: the domain on the source connection
 * @dconn: the destination connection
 * @params: what to do (PEER2PEER is ignored: the caller is the runner)
 * @ret_stats: (out) (optional): statistics from Perform's cookie
 * @error: return location for an error
 *
 * The v3 sequence, Begin to Confirm, keeping Perform's error over any later
 * one.  Used by a source daemon running a peer-to-peer migration (what
 * ferry_domain_migrate() runs for v3 too).  A storage migration
 * (FERRY_MIGRATE_NON_SHARED_*) is refused with FERRY_ERROR_NO_SUPPORT
 * unless both connections offer FERRY_FEATURE_MIGRATION_NBD.
 *
 * Returns: (transfer full): the domain on the destination, or NULL.
 */
ferry_domain *ferry_migrate_run_v3(ferry_domain *dom, ferry_conn *dconn,
                                   const ferry_migrate_params *params,
                                   ferry_migrate_stats *ret_stats, GError **error);

G_END_DECLS
