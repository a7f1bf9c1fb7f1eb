/*
 * qemu-migration.h: the QEMU driver's migration (docs/migration-engine.md): its
 * entries of the driver table, which hand each phase to the host's
 * migration engine, and the engine's backend for QEMU.
 *
 * "Where does Prepare happen on the destination?" -- in the engine,
 * dest_prepare()/step_prepare() of src/migration/migration-dest.c; what it
 * asks of QEMU is qemu_start_incoming() in qemu-migration.c.
 */
#pragma once

#include "migration/migration-backend.h"
#include "qemu/qemu-domain.h"

G_BEGIN_DECLS

/* The engine's backend for QEMU (qemu-migration.c). */
extern const ferry_mig_backend qemu_mig_backend;

void qemu_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
void qemu_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                                const char *dom_xml, const char *cookie_in,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
void qemu_conn_migrate_prepare_tunnel3(ferry_conn *dconn, const ferry_migrate_params *params,
                                       const char *dom_xml, const char *cookie_in,
                                       GSocket *tunnel, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
void qemu_domain_migrate_perform_tunnel3(ferry_domain *dom, const ferry_migrate_params *params,
                                         GSocket *tunnel, const char *cookie_in,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
void qemu_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                                  const char *dconn_uri, const char *cookie_in,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
void qemu_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                               const char *dname, const char *cookie_in, gboolean cancelled,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
/* v1 (qemu-migration-phases.c, like the others). */
void qemu_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
void qemu_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                              const char *dname, const char *cookie_in,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);
/* v2 (qemu-migration-phases.c, like the v3 entries). */
void qemu_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                                const char *dom_xml, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
void qemu_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                                 const char *cookie_in, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
void qemu_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                               const char *dname, const char *cookie_in, gboolean ok,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
void qemu_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                                  const char *cookie_in, int outcome,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean qemu_domain_get_job_stats(ferry_domain *dom, guint flags, ferry_job_info *ret_info,
                                   GError **error);
void qemu_domain_abort_job(ferry_domain *dom, guint flags, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
gboolean qemu_domain_migrate_set_tunable(ferry_domain *dom, int tunable, guint64 value,
                                         GError **error);
void qemu_conn_migrate_postcopy_recover(ferry_conn *dconn, const char *id,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean qemu_domain_migrate_start_postcopy(ferry_domain *dom, GError **error);
/**
 * qemu_migration_postcopy_possible:
 * @state: the driver
 * @why_not: (out) (optional): why not, when not
 *
 * Returns: TRUE if this host's QEMU can receive a migration in post-copy
 *   (userfaultfd: as root, or with vm.unprivileged_userfaultfd = 1).
 */
gboolean qemu_migration_postcopy_possible(qemu_driver_state *state, char **why_not);

/** qemu_domain_migrate_estimate: the driver's domain_migrate_estimate (qemu-estimate.c). */
gboolean qemu_domain_migrate_estimate(ferry_domain *dom, const char *dest_uri,
                                      const ferry_migrate_params *params,
                                      ferry_migrate_estimate *ret, GError **error);
/** qemu_conn_migrate_probe: the driver's conn_migrate_probe (qemu-estimate.c). */
gboolean qemu_conn_migrate_probe(ferry_conn *dconn, GBytes *data, guint64 *ret_received,
                                 gboolean *ret_postcopy, GError **error);
/** qemu_domain_migrate_postcopy_resume: ferry_mig_engine_postcopy_resume(). */
gboolean qemu_domain_migrate_postcopy_resume(ferry_domain *dom, const char *dest_uri,
                                             GError **error);
gboolean qemu_domain_migrate_get_tunable(ferry_domain *dom, int tunable, guint64 *ret_value,
                                         GError **error);
void qemu_conn_migrate_query(ferry_conn *dconn, const char *id, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
void qemu_conn_migrate_cancel(ferry_conn *dconn, const char *id, const char *reason,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);

/**
 * qemu_migration_handle_event:
 * @state: the driver state
 * @obj: the domain whose QEMU sent it
 * @event: a QMP event name
 * @data: (nullable): its data
 * @timestamp_us: its timestamp
 *
 * For the monitor thread: takes QEMU's migration events (MIGRATION,
 * MIGRATION_PASS, BLOCK_JOB_*, and STOP during an outgoing migration) to
 * the domain's migration job.  Never waits.
 *
 * Returns: TRUE if the event was a migration event.
 */
/* The facts of the migration safety rules (qemu-safety.c): is @disk on
 * storage other hosts see (shared or cluster file system, or
 * shared_storage_dirs), and which block jobs run on the source.  The
 * backend's disk_storage and block_jobs. */
gboolean qemu_safety_disk_storage(gpointer self, const ferry_disk_def *disk, char **ret_where);
gboolean qemu_safety_block_jobs(ferry_mig_job *job, GPtrArray **ret_jobs, GError **error);

gboolean qemu_migration_handle_event(qemu_driver_state *state, ferry_domain_obj *obj,
                                     const char *event, json_object *data,
                                     gint64 timestamp_us);

/**
 * qemu_migration_process_exited:
 * @state: the driver state
 * @obj: a domain whose QEMU exited while a migration held it
 * @reason: the ferry_shutoff_reason it will be recorded with
 * @status: its exit status if it exited by itself, -1 if a signal ended it
 *
 * Tells the migration job at once (monitor thread).
 */
void qemu_migration_process_exited(qemu_driver_state *state, ferry_domain_obj *obj,
                                   int reason, int status);

/**
 * qemu_migration_recover:
 * @state: the driver state, its domains loaded and re-attached
 *
 * Reads the job records a previous ferryd left: an incoming migration it
 * left between Prepare and Finish is given up (its QEMU stopped, the
 * images it created deleted); the others are reported.
 */
void qemu_migration_recover(qemu_driver_state *state);

/**
 * qemu_migration_listen_address:
 * @config: the driver's configuration (migration_address, hostname)
 * @want_host: (nullable): the host of the migration URI the caller asked for
 * @error: return location for an error
 *
 * Where an incoming migration listens -- QEMU's migration and NBD servers,
 * or the relays in front of them: one address of this host, never a
 * wildcard (0.0.0.0, ::, ::ffff:0.0.0.0), which would offer the guest's
 * memory and writable disks on every network the host is on.  @want_host
 * when it is an IP address (a wildcard there is refused), else
 * migration_address, else the address the host's name resolves to (not a
 * loopback or wildcard one: a name that resolves to nothing else is
 * refused, as no other host could reach it).
 *
 * Returns: (transfer full): the address, or NULL with @error.
 */
char *qemu_migration_listen_address(const ferry_qemu_config *config, const char *want_host,
                                    GError **error);

/**
 * qemu_migration_acquire_port:
 * @state: the driver state
 * @address: the address to listen on
 * @wanted: a port the caller asked for, or 0 for one from the range
 * @error: return location for an error
 *
 * A @wanted port must lie in migration_port_min..migration_port_max: it
 * comes from a peer.
 *
 * Returns: a port free on @address and held until released, or 0.
 */
guint qemu_migration_acquire_port(qemu_driver_state *state, const char *address,
                                  guint wanted, GError **error);

/**
 * qemu_migration_relay_path:
 * @state: the driver state
 * @uuid: the domain's uuid
 * @what: "in", "out", "nbd-in" or "nbd-out"
 *
 * Returns: (transfer full): the unix socket where a relay (src/relay) and
 * the domain's QEMU meet.
 */
char *qemu_migration_relay_path(qemu_driver_state *state, const char *uuid, const char *what);

/**
 * qemu_migration_remove_relay_sockets:
 * @state: the driver state
 * @uuid: the domain's uuid
 *
 * Removes the unix sockets of the domain's relays, QEMU's and ferryd's
 * (a killed QEMU or ferryd leaves them behind).
 */
void qemu_migration_remove_relay_sockets(qemu_driver_state *state, const char *uuid);

/**
 * qemu_migration_relay_give_up:
 * @params: the migration's parameters
 *
 * Returns: how long a relayed stream waits for the other side: the
 * migration's retry bound (0 when it never tries again).
 */
guint qemu_migration_relay_give_up(const ferry_migrate_params *params);

/**
 * qemu_migration_relay_listen:
 * @obj: a domain (destination)
 * @nbd: the NBD connections' relay (else the memory stream's)
 * @address, @port: where it listens
 * @path: QEMU's unix socket it connects streams to
 * @token: the token the source must present
 * @error: return location for an error
 *
 * Starts the relay (ferry_relay_listen()); it becomes the domain's, and the
 * one it had, if any, is closed.  Returns: TRUE on success.
 */
gboolean qemu_migration_relay_listen(ferry_domain_obj *obj, gboolean nbd, const char *address,
                                     guint port, const char *path, const char *token,
                                     GError **error);

/**
 * qemu_migration_relay_dial:
 * @obj: a domain (source)
 * @nbd: as for qemu_migration_relay_listen()
 * @path: the unix socket QEMU will connect to
 * @host, @port: the destination's relay
 * @token: its token
 * @params: the migration's parameters (the give-up bound)
 * @error: return location for an error
 *
 * Starts the relay (ferry_relay_dial()), as qemu_migration_relay_listen().
 */
gboolean qemu_migration_relay_dial(ferry_domain_obj *obj, gboolean nbd, const char *path,
                                   const char *host, guint port, const char *token,
                                   const ferry_migrate_params *params, GError **error);

/**
 * qemu_migration_close_relays:
 * @obj: a domain
 * @memory: the memory stream's relay
 * @nbd: the NBD connections' relay
 *
 * Closes those of the domain's relays that exist (their streams end).
 */
void qemu_migration_close_relays(ferry_domain_obj *obj, gboolean memory, gboolean nbd);

/**
 * qemu_migration_release_port:
 * @state: the driver state
 * @port: an incoming migration port a domain held
 */
void qemu_migration_release_port(qemu_driver_state *state, guint port);

/**
 * qemu_driver_parse_def: (in qemu-driver.c)
 * Parses domain XML and refuses what this driver cannot run, or could not
 * keep (longer than FERRY_DOMAIN_XML_MAX_FORMATTED once formatted).
 */
ferry_domain_def *qemu_driver_parse_def(const char *text, GError **error);

G_END_DECLS
