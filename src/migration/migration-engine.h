/*
 * migration-engine.h: the migration job engine -- one per host (one per
 * QEMU driver, one per simulated test host) -- between the driver table and
 * the drivers' backends.
 *
 * Owns: every migration job of the host, their state machine (the phases
 * of v3, v2 and v1 on each side), the commit point, abort, timeouts,
 * tunables, job information and events, the abandon watchdog, what happens
 * when the client driving a migration vanishes, resolving an in-doubt
 * outcome with the peer's daemon, and peer-to-peer migration.  "Where does
 * Prepare run on the destination?" -- dest_prepare() in
 * migration-dest.c; the source's phases are in migration-source*.c.
 * Must not: touch a hypervisor (the backend does) or call up into src/api/.
 *
 * Threads: the engine has its own thread and GMainContext, where every job
 * changes phase and state; backend operations run on a small pool of step
 * threads; nothing waits for a transfer, a disk copy or a peer -- those
 * end with events.  The entry points below may be called from any thread;
 * the asynchronous ones call back, exactly once, in the thread-default
 * GMainContext of their caller (ferry_phase_finish() reads the result).
 */
#pragma once

#include "driver/event-bus.h"
#include "migration/migration-backend.h"
#include "migration/migration-recovery.h"

G_BEGIN_DECLS

/**
 * ferry_mig_engine_config: what an engine needs of its host.  Strings are
 * copied; @domains, @bus and @backend must outlive the engine.
 */
typedef struct {
    const char *host_uuid;
    const char *hostname;
    const char *peer_uri;           /* how another host's daemon reaches this one, or NULL
                                     * (then a peer cannot resolve doubts by itself) */
    const char *record_dir;         /* where job records go; NULL: none kept */
    const char *hook_path;          /* run at Begin and Prepare; NULL: none */
    const char *fail_phase;         /* tests: "begin", "prepare", "perform", "finish" or
                                     * "confirm" fails on purpose; NULL: none */
    guint abandon_seconds;          /* a migration idle this long between phases is given
                                     * up where nothing is in doubt; 0 means 60 */
    gboolean nbd;                   /* storage migration is offered */
    ferry_domain_obj_list *domains;
    ferry_event_bus *bus;
    const ferry_mig_backend *backend;
    gpointer backend_self;
    const ferry_driver *const *peer_drivers; /* NULL-terminated: what opens peer URIs */
    struct ferry_lock_manager *locks; /* the host's leases (referenced), or NULL: none */
} ferry_mig_engine_config;

/**
 * ferry_mig_engine_new:
 * @config: the host's settings (copied)
 *
 * Starts the engine's thread.
 *
 * Returns: (transfer full): the engine.
 */
ferry_mig_engine *ferry_mig_engine_new(const ferry_mig_engine_config *config);

/**
 * ferry_mig_engine_stop:
 * @engine: an engine
 *
 * Stops the engine: calls still waiting fail ("the host is shutting
 * down"), an incoming migration that has not committed is dropped, other
 * jobs are left as they are (their records stay), the thread is joined.
 * Afterwards every entry point still answers at once (refusing), and the
 * backend's notifications are dropped, until ferry_mig_engine_free().
 * Idempotent.
 */
void ferry_mig_engine_stop(ferry_mig_engine *engine);

/**
 * ferry_mig_engine_free:
 * @engine: (nullable): an engine
 *
 * Stops it (ferry_mig_engine_stop()) and frees it.  Nothing may call it
 * any more: the backend stops notifying first.
 */
void ferry_mig_engine_free(ferry_mig_engine *engine);

/*
 * The phases, for the drivers' table entries (driver.h says what each
 * does).  @conn is the connection the call came on: a job's phases must
 * keep coming while it lives (ferry_mig_engine_conn_closed()).
 */
void ferry_mig_engine_begin3(ferry_mig_engine *engine, ferry_domain *dom,
                             const ferry_migrate_params *params, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
void ferry_mig_engine_prepare(ferry_mig_engine *engine, ferry_conn *dconn, int protocol,
                              const ferry_migrate_params *params, const char *dom_xml,
                              const char *cookie_in, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
void ferry_mig_engine_perform(ferry_mig_engine *engine, ferry_domain *dom, int protocol,
                              const ferry_migrate_params *params, const char *dconn_uri,
                              const char *cookie_in, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
/* Tunnelled v3: as prepare and perform, with this host's QEMU's end of
 * the tunnel (@tunnel, a reference is taken) in place of a migration URI. */
void ferry_mig_engine_prepare_tunnel(ferry_mig_engine *engine, ferry_conn *dconn, int protocol,
                                     const ferry_migrate_params *params, const char *dom_xml,
                                     const char *cookie_in, GSocket *tunnel,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
void ferry_mig_engine_perform_tunnel(ferry_mig_engine *engine, ferry_domain *dom, int protocol,
                                     const ferry_migrate_params *params, const char *dconn_uri,
                                     const char *cookie_in, GSocket *tunnel,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
void ferry_mig_engine_finish(ferry_mig_engine *engine, ferry_conn *dconn, int protocol,
                             const ferry_migrate_params *params, const char *dname,
                             const char *cookie_in, gboolean cancelled,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data);
void ferry_mig_engine_confirm3(ferry_mig_engine *engine, ferry_domain *dom,
                               const ferry_migrate_params *params, const char *cookie_in,
                               int outcome, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
void ferry_mig_engine_abort(ferry_mig_engine *engine, ferry_domain *dom,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data);
void ferry_mig_engine_query(ferry_mig_engine *engine, const char *id,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data);
/**
 * ferry_mig_engine_postcopy_recover:
 * @engine: the destination host's engine
 * @id: a migration whose post-copy paused because its stream broke
 * @cancellable: (nullable): not used to stop it
 * @callback: called with a ferry_phase_result whose .uri is where the
 *   source's hypervisor resumes the stream
 * @user_data: for @callback
 *
 * Has the destination's hypervisor listen again for the stream of a
 * paused post-copy (the source's daemon asks, until it works).  Refused,
 * saying why, when the migration is not in post-copy here or is not
 * paused yet.
 */
void ferry_mig_engine_postcopy_recover(ferry_mig_engine *engine, const char *id,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);

void ferry_mig_engine_cancel(ferry_mig_engine *engine, const char *id, const char *reason,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data);

/**
 * ferry_mig_engine_get_job_stats:
 * @engine: an engine
 * @dom: a domain handle (looked up by uuid)
 * @flags: ferry_job_stats_flags
 * @ret_info: (out): the current job, or the last ended one
 * @error: return location for an error
 *
 * Reads what the engine keeps; never waits for a job.
 *
 * Returns: TRUE on success (type NONE when there is no such job).
 */
gboolean ferry_mig_engine_get_job_stats(ferry_mig_engine *engine, ferry_domain *dom,
                                        guint flags, ferry_job_info *ret_info,
                                        GError **error);

/**
 * ferry_mig_engine_start_postcopy:
 * @engine: the host's engine
 * @dom: a domain migrating out of this host with FERRY_MIGRATE_POSTCOPY
 * @error: return location for an error
 *
 * Switches the domain's running migration to post-copy
 * (ferry_domain_migrate_start_postcopy()).  Waits, briefly, until the
 * hypervisor was told; refused, saying why, when the job is not sending
 * memory, was not started with FERRY_MIGRATE_POSTCOPY, or is being
 * aborted.  Any thread but the engine's.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_mig_engine_start_postcopy(ferry_mig_engine *engine, ferry_domain *dom,
                                         GError **error);

/**
 * ferry_mig_engine_postcopy_resume:
 * @engine: the host's engine
 * @dom: a domain migrating out of this host, its post-copy paused
 * @dest_uri: (nullable): the destination daemon's URI, if it is reached
 *   elsewhere now; NULL: the one the migration knows
 * @error: return location for an error
 *
 * Resumes the domain's paused post-copy now instead of at the next try of
 * the back-off (ferry_domain_migrate_postcopy_resume()), and waits for
 * this attempt: the destination listens again and the stream goes on, or
 * the error says why not (the daemon keeps trying by itself).  Refused
 * when the post-copy is not paused.  Any thread but the engine's.
 *
 * Returns: TRUE once the stream goes again.
 */
gboolean ferry_mig_engine_postcopy_resume(ferry_mig_engine *engine, ferry_domain *dom,
                                          const char *dest_uri, GError **error);

/**
 * ferry_mig_engine_probe_link:
 * @engine: the host's engine
 * @dest_uri: the destination daemon's URI
 * @ret_bps: (out): what the link carried, bytes per second
 * @ret_postcopy: (out): the destination can receive post-copy
 * @error: return location for an error
 *
 * Measures the link to the destination's daemon (--estimate): sends it
 * data over this host's own connection for about half a second and times
 * what arrived, the first call (the connection's slow start) not counted.
 * Blocks: not for the engine thread.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_mig_engine_probe_link(ferry_mig_engine *engine, const char *dest_uri,
                                     guint64 *ret_bps, gboolean *ret_postcopy, GError **error);

/**
 * ferry_mig_engine_set_tunable:
 * @engine: an engine
 * @dom: a domain migrating out of this host
 * @tunable: a ferry_migrate_tunable
 * @value: its new value
 * @error: return location for an error
 *
 * Applies the value to the running transfer at once (before Perform, it is
 * kept for it).
 *
 * Returns: TRUE on success.
 */
gboolean ferry_mig_engine_set_tunable(ferry_mig_engine *engine, ferry_domain *dom,
                                      int tunable, guint64 value, GError **error);

/** ferry_mig_engine_get_tunable: the current value, as the hypervisor has it. */
gboolean ferry_mig_engine_get_tunable(ferry_mig_engine *engine, ferry_domain *dom,
                                      int tunable, guint64 *ret_value, GError **error);

/**
 * ferry_mig_engine_conn_closed:
 * @engine: an engine
 * @conn: a connection whose client went away
 *
 * The migrations @conn was driving lost their client: those where nothing
 * is in doubt are given up; a source whose data was all sent finishes the
 * migration itself with the destination's daemon.
 */
void ferry_mig_engine_conn_closed(ferry_mig_engine *engine, ferry_conn *conn);

/**
 * ferry_mig_engine_snapshots_take:
 * @engine: the source host's engine
 * @id: a migration id
 * @token: the token Begin's cookie gave with the snapshots
 * @ret_docs: (out) (transfer full): each snapshot's XML, parents first,
 *   the current one marked (<active>); the array frees its strings
 * @error: return location for an error: the same refusal whether the
 *   migration is unknown, offers no snapshots or the token is wrong
 *
 * What the destination's daemon asks for in Prepare (conn_migrate_snapshots,
 * docs/snapshots.md).  Reads what Begin kept with the job; never waits
 * for it.  Any thread.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_mig_engine_snapshots_take(ferry_mig_engine *engine, const char *id,
                                         const char *token, GPtrArray **ret_docs,
                                         GError **error);

/**
 * ferry_mig_engine_find_job:
 * @engine: an engine
 * @dom_uuid: a domain uuid
 *
 * For backends' event handlers.
 *
 * Returns: (transfer full) (nullable): the domain's active job.
 */
ferry_mig_job *ferry_mig_engine_find_job(ferry_mig_engine *engine, const char *dom_uuid);

/**
 * ferry_mig_engine_find_job_by_id:
 * @engine: an engine
 * @id: a migration id
 *
 * Returns: (transfer full) (nullable): the job of that migration, running
 *   or recently ended.
 */
ferry_mig_job *ferry_mig_engine_find_job_by_id(ferry_mig_engine *engine, const char *id);

/**
 * ferry_mig_engine_get_backend_self:
 * @engine: an engine
 *
 * Returns: (transfer none): the backend_self of its configuration.
 */
gpointer ferry_mig_engine_get_backend_self(ferry_mig_engine *engine);

/**
 * ferry_mig_engine_domain_busy:
 * @engine: an engine
 * @dom_uuid: a domain uuid
 * @error: return location for an error naming the migration in the way
 *
 * Returns: FALSE (with @error) if the domain is being migrated, TRUE if it
 *   is free for other operations.
 */
gboolean ferry_mig_engine_domain_busy(ferry_mig_engine *engine, const char *dom_uuid,
                                      GError **error);

G_END_DECLS
