/*
 * migrate-internal.h: the migration phases as library calls, for the
 * daemon's dispatch, tests and tools.
 *
 * Each call checks its arguments as the public API does, then calls the
 * driver entry of the same name on the connection it is given, or reports
 * FERRY_ERROR_NO_SUPPORT naming the driver and the phase.  The _async ones
 * call back exactly once, in the thread-default GMainContext of the caller
 * (also when the arguments are refused); ferry_phase_finish()
 * (driver/driver.h) reads their result.  The synchronous ones wait for it.
 * They are not in the public header: applications migrate with
 * ferry_domain_migrate().
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

void ferry_domain_migrate_begin3_async(ferry_domain *dom, const ferry_migrate_params *params,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);
void ferry_conn_migrate_prepare3_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                       const char *dom_xml, const char *cookie_in,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);
/* Tunnelled v3 (destination): @tunnel carries the incoming migration. */
void ferry_conn_migrate_prepare_tunnel3_async(ferry_conn *dconn,
                                              const ferry_migrate_params *params,
                                              const char *dom_xml, const char *cookie_in,
                                              GSocket *tunnel, GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data);
void ferry_domain_migrate_perform3_async(ferry_domain *dom, const ferry_migrate_params *params,
                                         const char *dconn_uri, const char *cookie_in,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
void ferry_conn_migrate_finish3_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                      const char *dname, const char *cookie_in,
                                      gboolean cancelled, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
/* @outcome: a ferry_confirm_outcome */
void ferry_domain_migrate_confirm3_async(ferry_domain *dom, const ferry_migrate_params *params,
                                         const char *cookie_in, int outcome,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
void ferry_conn_migrate_prepare2_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                       const char *dom_xml, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
void ferry_domain_migrate_perform_async(ferry_domain *dom, const ferry_migrate_params *params,
                                        const char *cookie_in, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
void ferry_conn_migrate_finish2_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                      const char *dname, const char *cookie_in, gboolean ok,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
void ferry_conn_migrate_prepare_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
void ferry_conn_migrate_finish_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                     const char *dname, const char *cookie_in,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
void ferry_domain_abort_job_async(ferry_domain *dom, guint flags, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
void ferry_conn_migrate_query_async(ferry_conn *dconn, const char *id,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
void ferry_conn_migrate_postcopy_recover_async(ferry_conn *dconn, const char *id,
                                               GCancellable *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer user_data);
/* Between daemons: sends @data to the daemon of @dconn, which says how
 * much arrived (the caller times it: --estimate) and whether it can
 * receive post-copy. */
gboolean ferry_conn_migrate_probe(ferry_conn *dconn, GBytes *data, guint64 *ret_received,
                                  gboolean *ret_postcopy, GError **error);
/* Between daemons (since 0.6): the snapshot metadata the source's Begin
 * offered for migration @id under @token (docs/snapshots.md); each
 * snapshot's XML, parents first.  Blocks. */
gboolean ferry_conn_migrate_snapshots(ferry_conn *conn, const char *id, const char *token,
                                      GPtrArray **ret_docs, GError **error);
void ferry_conn_migrate_cancel_async(ferry_conn *dconn, const char *id, const char *reason,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);

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
/* @cancelled: FERRY_CONFIRM_CANCELLED if TRUE, else FERRY_CONFIRM_OK. */
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
/* @ret_status: a ferry_migration_status; @ret_message: what the host says. */
gboolean ferry_conn_migrate_query(ferry_conn *dconn, const char *id, int *ret_status,
                                  char **ret_message, GError **error);
gboolean ferry_conn_migrate_cancel(ferry_conn *dconn, const char *id, const char *reason,
                                   GError **error);

G_END_DECLS
