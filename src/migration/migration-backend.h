/*
 * migration-backend.h: what a driver supplies to the migration engine --
 * the hypervisor's side of each step -- and how it reports back.
 *
 * The engine decides everything about the protocol: the order of phases,
 * what a failure leads to, when the source may resume.  A backend only
 * acts on its hypervisor when asked (start the incoming side, start,
 * switch over or cancel the transfer, activate the destination, discard
 * the incoming side, resume, pause or stop the source, report progress)
 * and tells the engine what its hypervisor did (ferry_mig_job_notify()).
 *
 * Threads: every operation but set_tunable/get_tunable runs on one of the
 * engine's step threads, one at a time per job, and may block briefly (a
 * QMP command, starting or stopping a process, a bounded wait for QEMU to
 * acknowledge a cancel).  Long waits -- a transfer, disks coming into sync,
 * the incoming stream -- are never waited for here: the backend starts them
 * and reports their end as an event.  Notifications may come from any
 * thread.
 */
#pragma once

#include "conf/migration-cookie.h"
#include "migration/migration-job.h"

G_BEGIN_DECLS

/** What a backend reports about a job's domain (ferry_mig_job_notify). */
typedef enum {
    FERRY_MIG_EV_DISKS_READY = 1,   /* source: every disk copy is in sync */
    FERRY_MIG_EV_SWITCHOVER,        /* source: the hypervisor waits at the switch-over
                                     * (disks to complete): call switch_over */
    FERRY_MIG_EV_SENT,              /* source: everything was sent; the source is paused */
    FERRY_MIG_EV_TRANSFER_FAILED,   /* source: the transfer failed (message) */
    FERRY_MIG_EV_PASS,              /* source: pre-copy pass @value began */
    FERRY_MIG_EV_SOURCE_STOPPED,    /* source: the CPUs stopped at real time @value */
    FERRY_MIG_EV_INCOMING_ACTIVE,   /* destination: data began to arrive */
    FERRY_MIG_EV_INCOMING_DONE,     /* destination: everything arrived; @data may carry the
                                     * domain's definition (protocol v1: the hypervisor
                                     * brought it).  In post-copy it comes twice: with
                                     * @value 2 once the devices' state arrived (the
                                     * guest can run while pages still come), with
                                     * @value 1 once every page did */
    FERRY_MIG_EV_INCOMING_FAILED,   /* destination: the incoming stream failed (message) */
    FERRY_MIG_EV_POSTCOPY,          /* source: the hypervisor switched to post-copy: the
                                     * source is paused, the devices' state went, the
                                     * destination pulls the rest; SENT follows once
                                     * every page went */
    FERRY_MIG_EV_POSTCOPY_PAUSED,   /* either: post-copy stopped because its link broke;
                                     * both halves wait (message: why) */
    FERRY_MIG_EV_EXITED,            /* either: the domain's process is gone; @value is the
                                     * ferry_shutoff_reason (destroyed, crashed…); a
                                     * message when it ended by itself (an exit status,
                                     * not a signal): a destination QEMU does once its
                                     * incoming stream failed */
} ferry_mig_event_kind;

/**
 * ferry_mig_job_notify:
 * @job: the job of the domain it happened to
 * @kind: what happened
 * @value: the number the kind names, else 0
 * @message: (nullable): for failures, why (copied)
 *
 * Hands an event to the job's engine; any thread, never blocks.
 */
void ferry_mig_job_notify(ferry_mig_job *job, ferry_mig_event_kind kind, gint64 value,
                          const char *message);

/**
 * ferry_mig_job_notify_arrival:
 * @job: a destination job without a domain yet (protocol v1)
 * @def: (transfer full): the definition the hypervisor brought
 *
 * FERRY_MIG_EV_INCOMING_DONE with the domain's definition.
 */
void ferry_mig_job_notify_arrival(ferry_mig_job *job, ferry_domain_def *def);

/**
 * ferry_mig_disk_selected:
 * @params: a storage migration's parameters
 * @disk: one of its domain's disks
 *
 * The one rule for which disks a storage migration copies, for the
 * drivers and the safety checks: those migrate_disks names, else every
 * writable, unshared disk with a medium on this host (not a network disk).
 *
 * Returns: TRUE if @disk is copied.
 */
gboolean ferry_mig_disk_selected(const ferry_migrate_params *params, const ferry_disk_def *disk);

/**
 * ferry_mig_job_adopt_definition:
 * @job: a destination job of protocol v1 without a domain yet, in its
 *   launch_incoming step
 * @xml: the domain XML the source sent
 * @error: return location for an error
 *
 * Gives the job its domain before its process starts, as Prepare3 does
 * with its XML: parsed, renamed to the migration's dname, refused if it
 * names paths the caller of Prepare may not name, shown to the hook, and
 * added as a transient domain the job holds.
 *
 * Returns: TRUE if the job holds the domain (job->obj).
 */
gboolean ferry_mig_job_adopt_definition(ferry_mig_job *job, const char *xml, GError **error);

/**
 * ferry_mig_job_get_prepared:
 * @job: a source job in Perform
 *
 * Returns: (transfer none) (nullable): the destination's Prepare cookie
 *   (NBD port and disks), for the step that completes the disk copies.
 */
ferry_migration_cookie *ferry_mig_job_get_prepared(ferry_mig_job *job);

/** What a hypervisor says of a job's domain after a daemon restart. */
typedef enum {
    FERRY_MIG_PROBE_GONE = 0,   /* no process */
    FERRY_MIG_PROBE_IDLE,       /* a process, no transfer under way */
    FERRY_MIG_PROBE_SENDING,    /* source: the transfer is still under way */
    FERRY_MIG_PROBE_SENT,       /* source: everything was sent; the CPUs are stopped */
    FERRY_MIG_PROBE_FAILED,     /* source: the transfer failed or was cancelled */
} ferry_mig_probe_transfer;

/** ferry_mig_probe: the answer of ferry_mig_backend.probe. */
typedef struct {
    ferry_mig_probe_transfer transfer;
    gboolean cpus_running;      /* the guest's CPUs run */
    gboolean migration_paused;  /* stopped by the migration (not by a user): a
                                 * rollback runs them again */
    gboolean postcopy;          /* the transfer is in post-copy (transfer SENT on the
                                 * source: the commit zone; pages still go) */
    gboolean postcopy_paused;   /* ... and paused: its stream broke */
} ferry_mig_probe;

/**
 * ferry_mig_backend: one driver's operations.  @self is the engine
 * configuration's backend_self.  Operations marked (nullable) may be
 * absent; every other must be there.
 */
typedef struct {
    /* Definitions */
    /* Parses domain XML into a definition this driver can run; @what names
     * the XML in errors. */
    ferry_domain_def *(*parse_def)(gpointer self, const char *xml, const char *what,
                                   GError **error);
    /* (nullable) Persists a persistent definition / forgets one. */
    gboolean (*save_def)(gpointer self, const ferry_domain_def *def, GError **error);
    gboolean (*delete_def)(gpointer self, const char *name, GError **error);
    /* (nullable) Records the domain's state after the engine changed it
     * (obj->lock held). */
    void (*save_state)(gpointer self, ferry_domain_obj *obj);
    /* Ends the domain's job (obj->job) the engine took for the migration,
     * finishing whatever cleanup the driver left to the job holder. */
    void (*end_domain_job)(gpointer self, ferry_domain_obj *obj);
    /* (nullable) Refuses, naming the path, what a migration brings that
     * would reach outside the directories this host lets others name:
     * @def (nullable) is Prepare's domain XML, @cookie (nullable) Prepare's
     * or Finish's cookie; @confined says the call came from a caller the
     * host does not trust (ferry_conn_is_confined()).  Called before the
     * call does anything: a refusal creates nothing. */
    gboolean (*check_paths)(gpointer self, const ferry_domain_def *def,
                            const ferry_migration_cookie *cookie, gboolean confined,
                            GError **error);

    /* Source */
    /* Begin of a storage migration: lists the disks to copy in @cookie
     * (target, format, size, backing for an incremental copy); refuses a
     * domain with a block job running. */
    gboolean (*list_disks)(ferry_mig_job *job, ferry_migration_cookie *cookie, GError **error);
    /* (nullable: every disk is shared, no block job ever runs) The facts
     * the migration safety rules (migration-safety.c) need from the host.
     * disk_storage says whether the image of @disk (a file or block disk
     * with a source) is on storage the destination sees too -- a shared
     * or cluster file system, a directory the host declares shared -- and
     * sets *@ret_where to what it found ("ext4", "nfs", "a directory of
     * shared_storage_dirs"). */
    gboolean (*disk_storage)(gpointer self, const ferry_disk_def *disk, char **ret_where);
    /* The block jobs running on the source domain, one "TYPE job on disk
     * 'TARGET'" per job, in @ret_jobs (transfer full).  Runs before the
     * migration's own jobs exist. */
    gboolean (*block_jobs)(ferry_mig_job *job, GPtrArray **ret_jobs, GError **error);
    /* Perform of a storage migration: starts copying the disks of
     * @prepared (Prepare's cookie: NBD port and disks) to the host of the
     * migration URI; DISKS_READY once they are all in sync. */
    gboolean (*start_disks)(ferry_mig_job *job, const ferry_migration_cookie *prepared,
                            GError **error);
    /* Perform: starts sending memory to the migration URI, with the job's
     * bandwidth and downtime limits; PASS events, SWITCHOVER (storage),
     * then SENT or TRANSFER_FAILED. */
    gboolean (*start_memory)(ferry_mig_job *job, GError **error);
    /* At SWITCHOVER: completes the disk copies while the source is paused,
     * adds the disk statistics to @stats, lets the hypervisor switch over. */
    gboolean (*switch_over)(ferry_mig_job *job, ferry_migration_cookie *stats, GError **error);
    /* (nullable) At SWITCHOVER, before switch_over: the bytes of memory
     * still to send and the rate, in bytes per second, the transfer was
     * last measured to move (0: unknown) -- what the downtime cap
     * (max_downtime_cap_ms) is checked against.  Without it, a cap is
     * refused at Begin. */
    gboolean (*switch_figures)(ferry_mig_job *job, guint64 *ret_remaining, guint64 *ret_rate_bps,
                               GError **error);
    /* (nullable) Switches the running transfer to post-copy (the job was
     * started with FERRY_MIGRATE_POSTCOPY): POSTCOPY follows once the
     * hypervisor did.  Without it, post-copy is refused at Begin. */
    gboolean (*start_postcopy)(ferry_mig_job *job, GError **error);
    /* (nullable) Destination: whether this host's hypervisor can receive a
     * migration in post-copy (the policy offers it by itself only then);
     * if not, @why_not (nullable) says why.  Without it: no. */
    gboolean (*postcopy_possible)(ferry_mig_job *job, char **why_not);
    /* (nullable) The convergence policy's last resort: slows the guest's
     * CPUs down more at each pass from now on.  Without it the policy
     * never throttles. */
    gboolean (*throttle)(ferry_mig_job *job, GError **error);
    /* (nullable) Post-copy paused (its stream broke): resumes the stream
     * to @uri, where the destination listens again (postcopy_listen);
     * POSTCOPY follows once it goes on, POSTCOPY_PAUSED if it broke again. */
    gboolean (*postcopy_resume)(ferry_mig_job *job, const char *uri, GError **error);
    /* Stops the transfer (disks and memory) and waits until the
     * hypervisor agrees.  Returns FALSE if everything had already been
     * sent (too late: the caller then has a SENT event to handle). */
    gboolean (*cancel_transfer)(ferry_mig_job *job);
    /* Fills the progress fields of @info (memory and disks, rate, dirty
     * rate, passes, expected downtime, QEMU's own times); @final once SENT. */
    void (*collect_stats)(ferry_mig_job *job, ferry_job_info *info, gboolean final);
    /* A tunable (ferry_migrate_tunable) of the running transfer; any thread. */
    gboolean (*set_tunable)(ferry_mig_job *job, int tunable, guint64 value, GError **error);
    gboolean (*get_tunable)(ferry_mig_job *job, int tunable, guint64 *ret_value,
                            GError **error);
    /* Stops / restarts the source's CPUs. */
    gboolean (*pause)(ferry_mig_job *job, GError **error);
    gboolean (*resume)(ferry_mig_job *job, GError **error);
    /* Confirm: the domain left; stops its process (shut off, migrated). */
    gboolean (*stop_source)(ferry_mig_job *job, GError **error);

    /* Destination */
    /* Prepare: makes the incoming side ready (job->obj holds the live
     * definition): images for a storage migration, the paused process
     * waiting on a port; fills @cookie_out (NBD port and disks) and the
     * migration URI the source must use (in @ret_uri), from the URI the
     * caller asked for (job->params->p.uri, may be NULL).  On failure it
     * leaves nothing behind. */
    gboolean (*start_incoming)(ferry_mig_job *job, const ferry_migration_cookie *cookie_in,
                               ferry_migration_cookie *cookie_out, char **ret_uri,
                               GError **error);
    /* (nullable) Right after Prepare answered, on a step of its own: what
     * start_incoming left to do once the source may already connect (the
     * QEMU backend starts its process here when Prepare only made the
     * port listen).  TRUE at once when start_incoming did everything.  On
     * failure, discard_incoming follows. */
    gboolean (*launch_incoming)(ferry_mig_job *job, GError **error);
    /* Finish, after INCOMING_DONE: ends the incoming side's extras (NBD
     * server) and, if @run, starts the CPUs. */
    gboolean (*activate)(ferry_mig_job *job, gboolean run, GError **error);
    /* (nullable) Post-copy paused: has the paused incoming side listen
     * again; @ret_uri is where the source resumes. */
    gboolean (*postcopy_listen)(ferry_mig_job *job, char **ret_uri, GError **error);
    /* Drops everything Prepare made: the process, images it created, ports.
     * Idempotent. */
    void (*discard_incoming)(ferry_mig_job *job);

    /* Snapshots (nullable, all three or none; since 0.6): the domain's
     * snapshot metadata follows it (migration-snapshots.c).  Without them
     * a domain has no snapshots as far as migrations go. */
    /* The XML of each of @obj's snapshots, parents before children, the
     * current one marked (ferry_snapshot_store_export()), and their names;
     * empty arrays when it has none. */
    GPtrArray *(*snapshots_export)(gpointer self, ferry_domain_obj *obj,
                                   GPtrArray **ret_names);
    /* Redefines @defs (ferry_snapshot_def*, parents first) as @obj's
     * snapshots and records them; all or none. */
    gboolean (*snapshots_import)(gpointer self, ferry_domain_obj *obj, const GPtrArray *defs,
                                 GError **error);
    /* Forgets @obj's snapshot metadata (never the images' snapshots): the
     * source's once the domain left with it, the destination's when the
     * migration that brought it fails. */
    void (*snapshots_drop)(gpointer self, ferry_domain_obj *obj);

    /* Recovery (migration-recovery.c) */
    /* After a daemon restart: what the hypervisor says of job->obj's
     * process and its transfer.  Also makes the backend's own view of the
     * transfer current, so that cancel_transfer acts on it. */
    void (*probe)(ferry_mig_job *job, ferry_mig_probe *ret);
} ferry_mig_backend;

G_END_DECLS
