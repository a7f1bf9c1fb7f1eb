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
#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct ferry_uri ferry_uri;
typedef struct ferry_driver ferry_driver;

/**
 * ferry_conn: (internal layout) one open connection.
 *
 * @driver_data belongs to the driver: conn_open sets it, conn_close frees it.
 * @confined is set once, by whoever opened the connection on behalf of a
 * caller the host does not trust, before any call is made on it
 * (ferry_conn_set_confined()).
 */
struct ferry_conn {
    gint ref;
    char *uri;                      /* canonical URI string */
    const ferry_driver *driver;
    gpointer driver_data;
    gboolean confined;              /* the drivers confine what its calls name */
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
    /* nullable: what the define that returned this handle said it could
     * not check or will not do (ferry_domain_get_warnings()) */
    char **warnings;
};

/** What Confirm is told of Finish's outcome (domain_migrate_confirm3). */
typedef enum {
    FERRY_CONFIRM_OK = 0,         /* the destination runs (or holds) the domain */
    FERRY_CONFIRM_CANCELLED = 1,  /* it does not and will not: resume the source */
    FERRY_CONFIRM_UNKNOWN = 2,    /* Finish's answer was lost: ask the destination */
} ferry_confirm_outcome;

/** The tunables of a running migration (domain_migrate_set_tunable). */
typedef enum {
    FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME = 1,  /* ms */
    FERRY_MIGRATE_TUNABLE_MAX_SPEED = 2,     /* MiB/s, 0 unlimited */
} ferry_migrate_tunable;

/** Where a migration stands on one host, as its daemon answers a peer
 * (conn_migrate_query).  Stable numbers: they travel on the wire. */
typedef enum {
    FERRY_MIGRATION_UNKNOWN = 0,      /* the host has no trace of it */
    FERRY_MIGRATION_ACTIVE = 1,       /* under way, the guest does not run there */
    FERRY_MIGRATION_COMMITTED = 2,    /* the destination runs, or is starting, the guest */
    FERRY_MIGRATION_COMPLETED = 3,    /* ended; the guest moved */
    FERRY_MIGRATION_FAILED = 4,       /* ended; the guest did not move */
    FERRY_MIGRATION_CANCELLED = 5,    /* aborted; the guest did not move */
} ferry_migration_status;

/**
 * ferry_phase_result: what an asynchronous migration call hands back.
 * Fields a call does not produce stay NULL/0.
 */
typedef struct {
    char *xml;                /* Begin3: the domain XML for the destination */
    char *cookie;             /* the cookie out */
    char *uri;                /* Prepare*: the migration URI chosen */
    ferry_domain *dom;        /* Finish*: the domain on the destination */
    int status;               /* conn_migrate_query: a ferry_migration_status */
    char *message;            /* conn_migrate_query: what the host says of it */
} ferry_phase_result;

/** ferry_phase_result_free: frees @result; accepts NULL. */
void ferry_phase_result_free(ferry_phase_result *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_phase_result, ferry_phase_result_free)

/**
 * ferry_phase_task_return:
 * @task: (transfer full): the GTask of an asynchronous migration call,
 *   created with a NULL source object
 * @result: (transfer full): what the call produced
 *
 * Completes the call with @result (the drivers' side of ferry_phase_finish()).
 */
void ferry_phase_task_return(GTask *task, ferry_phase_result *result);

/**
 * ferry_phase_finish:
 * @result: the GAsyncResult an asynchronous migration call gave its callback
 * @error: return location for an error
 *
 * Returns: (transfer full): what the call produced, or NULL with @error.
 */
ferry_phase_result *ferry_phase_finish(GAsyncResult *result, GError **error);

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
     * Migration (docs/migration-engine.md).  Every phase is asynchronous: it
     * returns at once and calls @callback exactly once, in the thread-default
     * GMainContext of the calling thread (GTask's rule), where
     * ferry_phase_finish() gives its ferry_phase_result.  No thread waits
     * while a phase waits on QEMU or on a peer.  The driver copies what it
     * keeps of the arguments before returning.  Cookies are migration-cookie
     * XML documents (src/conf/migration-cookie.h).  @params->uri is the
     * migration URI: in Prepare what the caller asked for (may be NULL), in
     * Perform the one Prepare chose.
     *
     * v3: Begin, Prepare, Perform, Finish, Confirm.
     */
    /* Source: safety checks, begin event, hook; result: the XML for the
     * destination and the cookie for Prepare.  Starts the domain's
     * migration job, which Perform and Confirm continue. */
    void (*domain_migrate_begin3)(ferry_domain *dom, const ferry_migrate_params *params,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
    /* Destination: get ready to receive (QEMU paused, -incoming); result: the
     * migration URI to use and a cookie for Perform. */
    void (*conn_migrate_prepare3)(ferry_conn *dconn, const ferry_migrate_params *params,
                                  const char *dom_xml, const char *cookie_in,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
    /* Source: send; on success the source is left paused, not killed.  With
     * FERRY_MIGRATE_PEER2PEER and @dconn_uri set, runs the whole sequence
     * against that destination instead.  Result cookie: statistics. */
    void (*domain_migrate_perform3)(ferry_domain *dom, const ferry_migrate_params *params,
                                    const char *dconn_uri, const char *cookie_in,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
    /*
     * Tunnelled v3 (FERRY_MIGRATE_TUNNELLED, peer-to-peer only): Prepare and
     * Perform with a connected stream socket @tunnel in place of a
     * migration URI.  The destination's QEMU reads its incoming migration
     * from @tunnel (the remote driver instead carries @tunnel's bytes, both
     * ways, over a stream of its connection to the destination's daemon,
     * whose own Prepare gets the other end); the source's QEMU writes its
     * migration into @tunnel.  Each keeps a reference while it needs it.
     * Begin, Finish and Confirm are the plain v3 ones.
     */
    void (*conn_migrate_prepare_tunnel3)(ferry_conn *dconn, const ferry_migrate_params *params,
                                         const char *dom_xml, const char *cookie_in,
                                         GSocket *tunnel, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
    void (*domain_migrate_perform_tunnel3)(ferry_domain *dom,
                                           const ferry_migrate_params *params,
                                           GSocket *tunnel, const char *cookie_in,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
    /* Destination: on success (!cancelled) wait for the end of the incoming
     * migration and resume (unless PAUSED); on failure drop the incoming
     * domain.  Idempotent per migration id: a Finish of a migration that
     * already ran here answers as the first did.  Result: the domain. */
    void (*conn_migrate_finish3)(ferry_conn *dconn, const ferry_migrate_params *params,
                                 const char *dname, const char *cookie_in, gboolean cancelled,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
    /* Source: FERRY_CONFIRM_OK: kill the source (undefine if asked);
     * FERRY_CONFIRM_CANCELLED: resume it; FERRY_CONFIRM_UNKNOWN: the caller
     * does not know Finish's outcome: the source stays paused until the
     * destination's daemon says.  Ends the migration job; result cookie:
     * the final statistics. */
    void (*domain_migrate_confirm3)(ferry_domain *dom, const ferry_migrate_params *params,
                                    const char *cookie_in, int outcome,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);

    /* v2: DumpXML (domain_get_xml), Prepare2, Perform, Finish2. */
    void (*conn_migrate_prepare2)(ferry_conn *dconn, const ferry_migrate_params *params,
                                  const char *dom_xml, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
    /* v1 and v2 Perform: send, then kill the source on success (resume it
     * on failure). */
    void (*domain_migrate_perform)(ferry_domain *dom, const ferry_migrate_params *params,
                                   const char *cookie_in, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
    void (*conn_migrate_finish2)(ferry_conn *dconn, const ferry_migrate_params *params,
                                 const char *dname, const char *cookie_in, gboolean ok,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);

    /* v1: Prepare (no XML: the hypervisor carries the definition), Perform,
     * Finish. */
    void (*conn_migrate_prepare)(ferry_conn *dconn, const ferry_migrate_params *params,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
    void (*conn_migrate_finish)(ferry_conn *dconn, const ferry_migrate_params *params,
                                const char *dname, const char *cookie_in,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);

    /* Progress of the domain's job, or with FERRY_JOB_STATS_COMPLETED the
     * last ended one; must not wait for the job. */
    gboolean (*domain_get_job_stats)(ferry_domain *dom, guint flags, ferry_job_info *ret_info,
                                     GError **error);
    /* Aborts the domain's job; calls back once this host's job ended (the
     * result has no field set) or the abort was refused. */
    void (*domain_abort_job)(ferry_domain *dom, guint flags, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
    /* Tunables of a running outgoing migration (ferry_migrate_tunable). */
    gboolean (*domain_migrate_set_tunable)(ferry_domain *dom, int tunable, guint64 value,
                                           GError **error);
    gboolean (*domain_migrate_get_tunable)(ferry_domain *dom, int tunable, guint64 *ret_value,
                                           GError **error);
    /* Switches the running outgoing migration to post-copy. */
    gboolean (*domain_migrate_start_postcopy)(ferry_domain *dom, GError **error);
    /* Resumes the paused post-copy of the outgoing migration now, perhaps
     * to the destination's daemon at @dest_uri (nullable). */
    gboolean (*domain_migrate_postcopy_resume)(ferry_domain *dom, const char *dest_uri,
                                               GError **error);
    /* Predicts the migration of @dom to @dest_uri without migrating. */
    gboolean (*domain_migrate_estimate)(ferry_domain *dom, const char *dest_uri,
                                        const ferry_migrate_params *params,
                                        ferry_migrate_estimate *ret, GError **error);
    /* Between daemons: takes @data and says how much arrived (the caller
     * times it to measure the link), and whether this host can receive a
     * migration in post-copy. */
    gboolean (*conn_migrate_probe)(ferry_conn *dconn, GBytes *data, guint64 *ret_received,
                                   gboolean *ret_postcopy, GError **error);

    /*
     * Between daemons: what a source host's daemon asks the destination's
     * about migration @id when the client is gone or Finish's answer was
     * lost (the commit point, docs/migration-engine.md).
     */
    /* Result: ferry_phase_result.status (a ferry_migration_status) and
     * .message. */
    void (*conn_migrate_query)(ferry_conn *dconn, const char *id, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
    /* Post-copy of migration @id paused because its stream broke: the
     * destination listens again; result: .uri, where the source resumes. */
    void (*conn_migrate_postcopy_recover)(ferry_conn *dconn, const char *id,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
    /* Cancels migration @id on the destination unless it may already run
     * the guest there; a Finish of @id that comes later is refused.  Fails
     * with FERRY_ERROR_OPERATION_INVALID when it is too late.  Succeeds when
     * the host knows no such migration (it has nothing of it to run). */
    void (*conn_migrate_cancel)(ferry_conn *dconn, const char *id, const char *reason,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);

    /* Between daemons (since 0.6): the destination's daemon, in Prepare,
     * takes the snapshot metadata the source's Begin kept for migration
     * @id under @token (ferry_mig_engine_snapshots_take()): each
     * snapshot's XML, parents first, in @ret_docs (char*, the array frees
     * them).  Blocks: not for a main context's thread. */
    gboolean (*conn_migrate_snapshots)(ferry_conn *conn, const char *id, const char *token,
                                       GPtrArray **ret_docs, GError **error);

    /* Snapshots (since 0.6): the metadata is the driver's (a snapshot list,
     * src/driver/snapshot-list.h); @xml and the flags are checked by the
     * API (ferry.h, "Snapshots"). */
    /* Result: the snapshot's name. */
    char *(*domain_snapshot_create_xml)(ferry_domain *dom, const char *xml, guint flags,
                                        GError **error);
    gboolean (*domain_snapshot_list)(ferry_domain *dom, guint flags, GPtrArray **ret_snapshots,
                                     GError **error);
    char *(*domain_snapshot_get_xml)(ferry_domain *dom, const char *name, guint flags,
                                     GError **error);
    char *(*domain_snapshot_current)(ferry_domain *dom, GError **error);
    gboolean (*domain_snapshot_revert)(ferry_domain *dom, const char *name, guint flags,
                                       GError **error);
    gboolean (*domain_snapshot_delete)(ferry_domain *dom, const char *name, guint flags,
                                       GError **error);

    /* The client of this connection went away (a daemon's client closed its
     * socket) while calls of it may still be in flight: the migrations it
     * drove lost their client.  Called before the connection is dropped. */
    void (*conn_client_gone)(ferry_conn *conn);
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
 * ferry_conn_client_gone:
 * @conn: a connection whose client went away
 *
 * Tells the driver (conn_client_gone), if it cares.
 */
void ferry_conn_client_gone(ferry_conn *conn);

/**
 * ferry_conn_set_confined:
 * @conn: a connection no call has used yet
 *
 * Marks @conn as opened for a caller this host does not trust (ferryd: a
 * client or peer daemon over TCP, a UNIX peer that is neither root nor
 * ferryd's own user).  Every path its calls name -- in domain XML and in
 * migration cookies -- must then lie inside the directories the host's
 * configuration allows, or the call is refused (docs/security.md,
 * "Confinement").  It cannot be undone.
 */
void ferry_conn_set_confined(ferry_conn *conn);

/**
 * ferry_conn_is_confined:
 * @conn: a connection
 *
 * Returns: TRUE if ferry_conn_set_confined() was called on @conn: drivers
 *   then check the paths its calls name.
 */
gboolean ferry_conn_is_confined(ferry_conn *conn);

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
