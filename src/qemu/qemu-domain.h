/*
 * qemu-domain.h: the QEMU driver's state and the runtime data of its domains.
 *
 * Owns: where things live on disk (definitions, status files, sockets,
 * logs) and their persistence.  Status files are what lets a restarted ferryd
 * find the QEMU processes it left running.
 *
 * Threads: driver entry points run on the daemon's worker threads; every QMP
 * connection, process-exit watch and QEMU event lives on one "monitor"
 * thread with its own GMainContext.  Code on the monitor thread never waits
 * for a domain job (the job holder may be waiting for that very thread).
 */
#pragma once

#include "driver/event-bus.h"
#include "driver/domain-obj.h"
#include "driver/snapshot-list.h"
#include "locking/lock-manager.h"
#include "migration/migration-engine.h"
#include "qemu/qemu-driver.h"
#include "qmp/qmp.h"
#include "relay/relay.h"

G_BEGIN_DECLS

typedef struct {
    ferry_qemu_config config;
    char *def_dir;                 /* STATE/qemu/domains: NAME.xml */
    char *run_dir;                 /* STATE/qemu/run: UUID.json, UUID.qmp */
    char *log_dir;                 /* STATE/qemu/log: NAME.log (QEMU's stderr) */
    ferry_domain_obj_list *domains;
    ferry_event_bus *bus;
    GMainContext *monitor_ctx;
    GMainLoop *monitor_loop;
    GThread *monitor_thread;
    GMutex ports_lock;
    GHashTable *ports_in_use;      /* incoming migration ports held (GUINT_TO_POINTER) */
    char *record_dir;              /* STATE/qemu/migrations: the engine's job records */
    ferry_mig_engine *engine;      /* every migration of this host */
    ferry_lock_manager *locks;     /* the domains' leases (a nop manager without any) */
    char *relay_dir;               /* STATE/qemu/run/relay: the relays' unix sockets,
                                    * the QEMU user's when set (qemu-user.c) */
    guint qemu_uid;                /* the QEMU user (qemu-user.c); 0: root */
    guint qemu_gid;
    char *qemu_user_name;          /* for errors: "nobody" or "+4242" */
    char *qemu_switch_error;       /* the child's message when the switch fails */
    ferry_snapshot_store *snapshots; /* the domains' snapshot metadata (qemu-snapshot.c) */
} qemu_driver_state;

/* obj->priv of an active QEMU domain.  Fields are guarded by obj->lock. */
typedef struct {
    gint64 pid;
    int pidfd;                     /* -1 when none */
    GSource *exit_source;          /* pidfd watch on the monitor context */
    GSubprocess *proc;             /* NULL when re-attached after a restart */
    ferry_qmp *qmp;
    char *monitor_path;
    char *log_path;
    gint64 started_at;             /* g_get_real_time() at start */
    gboolean exited;               /* the process has terminated */
    gboolean cleaned;              /* qemu_process_cleanup() ran */
    gboolean guest_shutdown;       /* SHUTDOWN event from the guest seen */
    gboolean expect_exit;          /* a job is stopping it on purpose */
    int stop_reason;               /* ferry_shutoff_reason to record on exit */
    GCond exit_cond;               /* signalled when exited or mig_status change */
    gboolean qmp_eof;              /* the monitor reached its end (QEMU closed it) */
    GSource *exit_pending;         /* a migration's exit notice waiting for the
                                    * monitor's end (qemu-process.c), or NULL */
    int exit_reason;               /* what that notice will say */
    int exit_code;

    /* Migration (qemu-migration.c): what QEMU's events said; the job
     * itself is the engine's. */
    char *mig_status;              /* status of QEMU's last MIGRATION event */
    gint64 mig_active_ts;          /* QEMU event timestamps (us since the epoch) */
    gint64 mig_completed_ts;
    gint64 mig_stop_ts;            /* the source's CPUs stopped for a pre-copy switch-over */
    guint mig_port;                /* incoming port held by this domain, 0 = none */
    GSocket *mig_listener;         /* destination: that port's listening socket, made
                                    * by Prepare before QEMU runs, until QEMU took it */
    ferry_relay *mig_relay;        /* the memory stream's relay (src/relay): the
                                    * destination's listener or the source's dialler */
    ferry_relay *mig_nbd_relay;    /* the same for the disks' NBD connections */
    guint64 mig_reconnects;        /* of the relays closed since the migration began */

    /* Storage migration (qemu-storage.c) */
    GHashTable *mig_jobs;          /* block job id -> "running", "ready", "failing: why"
                                    * (still alive), or final: "completed", "cancelled",
                                    * "error: why"; NULL when none */
    GPtrArray *mig_disks;          /* source: targets being mirrored (char*) */
    GPtrArray *mig_images;         /* destination: image paths Prepare created */
    guint mig_nbd_port;            /* destination: NBD server port held, 0 = none */
    gboolean mig_tls;              /* source: QEMU's migration parameters say TLS */
    gboolean mig_nbd_adopted;      /* destination: an NBD server a previous ferryd
                                    * started (port unknown), to stop all the same */
    gboolean mig_postcopy;         /* destination: QEMU said postcopy-active */
    gboolean mig_disks_ready;      /* source: DISKS_READY was reported */

    /* The QEMU user (qemu-user.c) */
    GPtrArray *handed;             /* qemu_user_file*: files given to it, to give
                                    * back once QEMU is gone; NULL: none */
} qemu_domain_priv;

/**
 * qemu_driver_get_state:
 *
 * Returns: (transfer none) (nullable): the initialised driver state.
 */
qemu_driver_state *qemu_driver_get_state(void);

/**
 * qemu_domain_priv_new:
 *
 * Returns: (transfer full): empty runtime data (pidfd -1).
 */
qemu_domain_priv *qemu_domain_priv_new(void);

/**
 * qemu_domain_priv_free:
 * @priv: (nullable): runtime data; its process must be gone or abandoned
 */
void qemu_domain_priv_free(qemu_domain_priv *priv);

/**
 * qemu_domain_priv_get:
 * @obj: a domain of the QEMU driver
 *
 * Returns: (transfer none): its runtime data, created on first use.
 */
qemu_domain_priv *qemu_domain_priv_get(ferry_domain_obj *obj);

/**
 * qemu_domain_save_def:
 * @state: the driver state
 * @def: a persistent definition
 * @error: return location for an error
 *
 * Writes DEF_DIR/NAME.xml atomically (write, fsync, rename).  Refuses a
 * definition longer than FERRY_DOMAIN_XML_MAX_FORMATTED once formatted:
 * the next ferryd could not read it back.
 *
 * Returns: TRUE on success.
 */
gboolean qemu_domain_save_def(qemu_driver_state *state, const ferry_domain_def *def,
                              GError **error);

/**
 * qemu_domain_delete_def:
 * @state: the driver state
 * @name: the domain's name
 * @error: return location for an error
 *
 * Returns: TRUE if the definition file is gone (or never existed).
 */
gboolean qemu_domain_delete_def(qemu_driver_state *state, const char *name,
                                GError **error);

/**
 * qemu_domain_save_status:
 * @state: the driver state
 * @obj: an active domain (lock held by the caller)
 * @error: return location for an error
 *
 * Writes RUN_DIR/UUID.json atomically: pid, state, reason, paths and the
 * live definition (refused, as by qemu_domain_save_def(), when too long).
 *
 * Returns: TRUE on success.
 */
gboolean qemu_domain_save_status(qemu_driver_state *state, ferry_domain_obj *obj,
                                 GError **error);

/**
 * qemu_domain_delete_status:
 * @state: the driver state
 * @uuid: the domain's uuid
 */
void qemu_domain_delete_status(qemu_driver_state *state, const char *uuid);

/**
 * qemu_domain_pid_path:
 * @state: the driver
 * @uuid: a domain's uuid
 *
 * Returns: (transfer full): RUN_DIR/UUID.pid, the file QEMU writes its pid
 *   to and keeps locked while it runs: a second QEMU of the same domain on
 *   this host cannot start, and the host's QEMUs name their ferryd's
 *   directory on their command line.
 */
char *qemu_domain_pid_path(qemu_driver_state *state, const char *uuid);

/**
 * qemu_domain_monitor_path:
 * @state: the driver state
 * @uuid: a domain uuid
 *
 * Returns: (transfer full): where that domain's QEMU listens for QMP.
 */
char *qemu_domain_monitor_path(qemu_driver_state *state, const char *uuid);

/**
 * qemu_domain_load_all:
 * @state: the driver state
 * @error: return location for an error
 *
 * Loads every definition in DEF_DIR and every status file in RUN_DIR into
 * the domain list; for each status file, re-attaches to its QEMU (see
 * qemu_process_reattach()); then looks at the migrations a previous ferryd
 * left unfinished (qemu_migration_recover()).  A file that cannot be
 * parsed is reported by g_warning and left in place; it never stops the
 * others from loading.
 *
 * Returns: FALSE only if a directory cannot be read.
 */
gboolean qemu_domain_load_all(qemu_driver_state *state, GError **error);

/**
 * qemu_domain_emit_lifecycle:
 * @state: the driver state
 * @obj: a domain (lock NOT held)
 * @what: the event
 *
 * Emits a lifecycle event carrying the domain's current state.
 */
void qemu_domain_emit_lifecycle(qemu_driver_state *state, ferry_domain_obj *obj,
                                ferry_lifecycle_event what);

G_END_DECLS
