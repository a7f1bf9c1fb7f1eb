/*
 * qemu-migration.h: the QEMU driver's migration phases (DESIGN.md section 3).
 *
 * "Where does Prepare happen on the destination?" -- qemu_conn_migrate_prepare3()
 * in qemu-migration.c.  These functions are entries of ferry_qemu_driver.
 */
#pragma once

#include "qemu/qemu-domain.h"

G_BEGIN_DECLS

char *qemu_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                                 char **ret_cookie_out, GError **error);
gboolean qemu_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                                    const char *dom_xml, const char *cookie_in,
                                    char **ret_cookie_out, char **ret_uri_out, GError **error);
gboolean qemu_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                                      const char *dconn_uri, const char *cookie_in,
                                      char **ret_cookie_out, GError **error);
ferry_domain *qemu_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                                        const char *dname, const char *cookie_in,
                                        char **ret_cookie_out, gboolean cancelled,
                                        GError **error);
gboolean qemu_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                                      const char *cookie_in, gboolean cancelled, GError **error);
gboolean qemu_domain_get_job_info(ferry_domain *dom, ferry_job_info *ret_info, GError **error);

/**
 * qemu_migration_acquire_port:
 * @state: the driver state
 * @address: the address to listen on
 * @wanted: a port the caller asked for, or 0 for one from the range
 * @error: return location for an error
 *
 * Returns: a port free on @address and held until released, or 0.
 */
guint qemu_migration_acquire_port(qemu_driver_state *state, const char *address,
                                  guint wanted, GError **error);

/**
 * qemu_migration_abort_incoming:
 * @state: the driver state
 * @obj: a domain
 * @why: for the log
 *
 * If @obj is the destination of a migration between Prepare and Finish,
 * stops its QEMU and deletes what Prepare created (daemon shutdown, or a
 * restart finding one its predecessor left).
 */
void qemu_migration_abort_incoming(qemu_driver_state *state, ferry_domain_obj *obj,
                                   const char *why);

/**
 * qemu_migration_conn_closed:
 * @state: the driver state
 * @conn: a connection being closed
 *
 * Gives up, at once, the migrations @conn was driving where nothing is in
 * doubt (as the abandon watchdog would after its timeout).
 */
void qemu_migration_conn_closed(qemu_driver_state *state, ferry_conn *conn);

/**
 * qemu_migration_release_port:
 * @state: the driver state
 * @port: an incoming migration port a domain held
 */
void qemu_migration_release_port(qemu_driver_state *state, guint port);

/**
 * qemu_driver_parse_def: (in qemu-driver.c)
 * Parses domain XML and refuses what this driver cannot run.
 */
ferry_domain_def *qemu_driver_parse_def(const char *xml, GError **error);

G_END_DECLS
