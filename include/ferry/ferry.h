/*
 * ferry.h: the public API of libferry.
 *
 * libferry manages QEMU virtual machines ("domains") on one or more hosts and
 * live-migrates them between hosts.  A program opens a connection by URI,
 * looks up or defines domains on it, and runs lifecycle operations.
 *
 * Conventions, for every function in this header:
 *  - Errors are reported as a GError in the FERRY_ERROR domain, with one of the
 *    stable codes of ferry_error_code.  The GError is the last parameter; it
 *    is set only on failure, and failure is also said by the return value
 *    (FALSE, NULL or 0).  Passing NULL for it is allowed.
 *  - Output parameters are named ret_...; they are left untouched on failure.
 *  - Objects are reference counted; _unref accepts NULL.  Every type has a
 *    g_autoptr() cleanup.
 *  - Calls are synchronous and safe to make from several threads on the same
 *    connection.  Event callbacks run in the GMainContext that was the
 *    thread-default context of the thread that subscribed.
 *  - The library never logs above debug level (G_LOG_DOMAIN "ferry").
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FERRY_VERSION_MAJOR 0
#define FERRY_VERSION_MINOR 6
#define FERRY_VERSION_MICRO 0

/**
 * ferry_version_string:
 *
 * Returns: the version of the library in use, as "MAJOR.MINOR.MICRO".
 */
const char *ferry_version_string(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/** FERRY_ERROR: the GError domain of every error libferry reports. */
#define FERRY_ERROR (ferry_error_quark())

/**
 * ferry_error_quark:
 *
 * Returns: the quark behind FERRY_ERROR.
 */
GQuark ferry_error_quark(void);

/**
 * ferry_error_code:
 *
 * The codes of FERRY_ERROR.  These numbers are stable: they travel on the
 * wire between ferry versions and scripts may test them.  New codes are only
 * ever added at the end.
 */
typedef enum {
    FERRY_ERROR_INTERNAL = 1,          /* a bug or an impossible state inside ferry */
    FERRY_ERROR_INVALID_ARG = 2,       /* the caller passed a bad argument or flag */
    FERRY_ERROR_NO_SUPPORT = 3,        /* the driver does not implement this operation */
    FERRY_ERROR_INVALID_URI = 4,       /* a connection or migration URI is malformed */
    FERRY_ERROR_NO_CONNECT = 5,        /* could not reach the daemon or hypervisor */
    FERRY_ERROR_XML = 6,               /* XML is malformed or does not match its schema */
    FERRY_ERROR_NO_DOMAIN = 7,         /* no domain with that name or uuid */
    FERRY_ERROR_DOMAIN_EXISTS = 8,     /* a domain with that name or uuid already exists */
    FERRY_ERROR_OPERATION_INVALID = 9, /* not allowed in the domain's current state */
    FERRY_ERROR_OPERATION_FAILED = 10, /* the hypervisor or the OS failed to do it */
    FERRY_ERROR_RPC = 11,              /* the wire protocol was violated */
    FERRY_ERROR_CONNECTION_CLOSED = 12,/* the connection to the daemon was lost */
    FERRY_ERROR_CONFIG = 13,           /* a configuration file is invalid */
    FERRY_ERROR_SYSTEM = 14,           /* a system call failed */
    FERRY_ERROR_QMP = 15,              /* QEMU's monitor refused a command */
    FERRY_ERROR_TIMEOUT = 16,          /* an operation did not finish in time */
    FERRY_ERROR_LIMIT = 17,            /* a configured limit was reached */
    FERRY_ERROR_OPERATION_ABORTED = 18,/* the operation was cancelled */
    FERRY_ERROR_MIGRATE = 19,          /* a migration failed or was refused */
    FERRY_ERROR_COOKIE = 20,           /* a migration cookie is malformed or refused */
    FERRY_ERROR_HOOK = 21,             /* a hook script vetoed the operation */
    FERRY_ERROR_MIGRATE_UNSAFE = 22,   /* migration refused as unsafe; FORCE may override */
    FERRY_ERROR_STORAGE = 23,          /* a disk image or storage operation failed */
    FERRY_ERROR_LEASE_HELD = 24,       /* another host or process holds the domain's lease */
    FERRY_ERROR_MIGRATE_BROKEN = 25,   /* the migration's connection broke while the source ran
                                        * on: nothing was lost, it may be tried again */
    FERRY_ERROR_AUTH_FAILED = 26,      /* a peer's identity was not proven (TLS certificate) */
    FERRY_ERROR_ACCESS_DENIED = 27,    /* the peer is known, but not allowed to do this */
    FERRY_ERROR_MIGRATE_HELD = 28,     /* the switch-over was held back: it would have paused
                                        * the guest longer than max_downtime_cap_ms; the
                                        * guest runs on the source (since 0.5) */
    FERRY_ERROR_MIGRATE_LOST = 29,     /* post-copy failed after the switch: the guest's
                                        * memory was split between the hosts and part of it
                                        * is gone; neither host can run it whole (since 0.5) */
    /* Since 0.6: the migration safety rules (docs/migration-safety.md).  A
     * disk the destination would not see as it is (local storage not
     * copied, cache mode 'unsafe') is FERRY_ERROR_MIGRATE_UNSAFE. */
    FERRY_ERROR_MIGRATE_HOSTDEV = 30,  /* the domain has host devices: it cannot move, not
                                        * even with FERRY_MIGRATE_FORCE */
    FERRY_ERROR_MIGRATE_BLOCK_JOB = 31,/* a block job runs on a disk; FORCE may override */
    FERRY_ERROR_MIGRATE_SNAPSHOTS = 32,/* the domain's snapshots cannot follow it; FORCE may
                                        * override */
    FERRY_ERROR_NO_SNAPSHOT = 33,      /* the domain has no snapshot of that name (since 0.6) */
} ferry_error_code;

/**
 * ferry_error_code_to_string:
 * @code: a ferry_error_code
 *
 * Returns: a short, stable name for @code such as "no-domain", or "unknown".
 */
const char *ferry_error_code_to_string(int code);

/* ------------------------------------------------------------------------ */
/* Connections                                                               */
/* ------------------------------------------------------------------------ */

/** ferry_conn: a connection to one host's driver, opened from a URI. */
typedef struct ferry_conn ferry_conn;
/** ferry_domain: a handle on one domain of a connection. */
typedef struct ferry_domain ferry_domain;

/**
 * ferry_conn_open:
 * @uri: (nullable): which host and driver to connect to.  Accepted forms:
 *   - `test:///NAME`: an in-process simulated host (the test driver).  Each
 *     open creates a new, empty host; query options configure it (the
 *     test driver's header, src/test/test-driver.c, lists them).
 *   - `qemu:///system`: the local ferryd over its default UNIX socket.
 *   - `qemu+unix:///system?socket=PATH`: ferryd over the UNIX socket PATH.
 *   - `qemu+tcp://HOST[:PORT]/system`: ferryd over plain TCP (port 16514 by
 *     default); the daemon accepts this only when its configuration allows
 *     insecure TCP.
 *   `test+unix://` and `test+tcp://` reach the test driver of a ferryd.
 *   NULL means the value of the environment variable FERRY_DEFAULT_URI, or
 *   `qemu:///system` if it is unset.
 * @error: return location for an error
 *
 * Returns: (transfer full): a new connection, or NULL on error.
 */
ferry_conn *ferry_conn_open(const char *uri, GError **error);

/**
 * ferry_conn_ref:
 * @conn: (nullable): a connection
 *
 * Returns: @conn, with one more reference.
 */
ferry_conn *ferry_conn_ref(ferry_conn *conn);

/**
 * ferry_conn_unref:
 * @conn: (nullable): a connection
 *
 * Drops a reference; the last one closes the connection.
 */
void ferry_conn_unref(ferry_conn *conn);

/**
 * ferry_conn_get_uri:
 * @conn: a connection
 *
 * Returns: (transfer none): the URI @conn was opened with, in canonical form.
 */
const char *ferry_conn_get_uri(ferry_conn *conn);

/**
 * ferry_conn_is_alive:
 * @conn: a connection
 *
 * Returns: FALSE once the connection to the daemon is known to be lost
 *   (closed by the peer or dead by keepalive), TRUE otherwise.
 */
gboolean ferry_conn_is_alive(ferry_conn *conn);

/**
 * ferry_conn_get_capabilities:
 * @conn: a connection
 * @error: return location for an error
 *
 * Returns: (transfer full): the host's capabilities as an XML document
 *   (schema docs/schemas/capabilities.rng), or NULL on error.
 */
char *ferry_conn_get_capabilities(ferry_conn *conn, GError **error);

/**
 * ferry_conn_get_hostname:
 * @conn: a connection
 * @error: return location for an error
 *
 * Returns: (transfer full): the name of the host the driver runs on.
 */
char *ferry_conn_get_hostname(ferry_conn *conn, GError **error);

/**
 * ferry_feature:
 *
 * Optional abilities a driver may have; asked with
 * ferry_conn_supports_feature().  The numbers are stable (they travel on the
 * wire).
 */
typedef enum {
    FERRY_FEATURE_MIGRATION_V1 = 1,     /* Prepare, Perform, Finish */
    FERRY_FEATURE_MIGRATION_V2 = 2,     /* DumpXML, Prepare2, Perform, Finish2 */
    FERRY_FEATURE_MIGRATION_P2P = 3,    /* the source runs the sequence itself */
    FERRY_FEATURE_MIGRATION_DIRECT = 4, /* the source talks to the destination directly */
    FERRY_FEATURE_MIGRATION_V3 = 5,     /* Begin, Prepare, Perform, Finish, Confirm */
    FERRY_FEATURE_MIGRATION_NBD = 6,    /* storage migration over NBD */
    FERRY_FEATURE_EVENTS = 7,           /* lifecycle events */
    FERRY_FEATURE_MIGRATION_TUNNEL = 8, /* tunnelled migration: the migration stream on the
                                         * daemons' own connection (since 0.6) */
} ferry_feature;

/**
 * ferry_conn_supports_feature:
 * @conn: a connection
 * @feature: a ferry_feature
 * @ret_supported: (out): where to store whether the driver supports it
 * @error: return location for an error
 *
 * Returns: TRUE if the answer was stored, FALSE on error.
 */
gboolean ferry_conn_supports_feature(ferry_conn *conn, ferry_feature feature,
                                     gboolean *ret_supported, GError **error);

/* ------------------------------------------------------------------------ */
/* Domains                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * ferry_domain_state:
 *
 * The state of a domain.  Stable numbers.
 */
typedef enum {
    FERRY_DOMAIN_NOSTATE = 0,
    FERRY_DOMAIN_RUNNING = 1,
    FERRY_DOMAIN_PAUSED = 3,
    FERRY_DOMAIN_SHUTDOWN = 4,   /* shutting down */
    FERRY_DOMAIN_SHUTOFF = 5,
    FERRY_DOMAIN_CRASHED = 6,
} ferry_domain_state;

/** Why a domain is RUNNING. */
typedef enum {
    FERRY_RUNNING_UNKNOWN = 0,
    FERRY_RUNNING_BOOTED = 1,
    FERRY_RUNNING_MIGRATED = 2,   /* it arrived by an incoming migration */
    FERRY_RUNNING_UNPAUSED = 3,   /* resumed by the user */
    FERRY_RUNNING_MIGRATION_CANCELED = 4, /* resumed after a failed outgoing migration */
} ferry_running_reason;

/** Why a domain is PAUSED. */
typedef enum {
    FERRY_PAUSED_UNKNOWN = 0,
    FERRY_PAUSED_USER = 1,
    FERRY_PAUSED_MIGRATION = 2,   /* paused by an outgoing or incoming migration */
    FERRY_PAUSED_STARTING_UP = 3, /* started paused, or not yet resumed */
    FERRY_PAUSED_IOERROR = 4,
    FERRY_PAUSED_SHUTTING_DOWN = 5,
    FERRY_PAUSED_POSTCOPY = 6,
} ferry_paused_reason;

/** Why a domain is SHUTOFF. */
typedef enum {
    FERRY_SHUTOFF_UNKNOWN = 0,
    FERRY_SHUTOFF_SHUTDOWN = 1,   /* the guest powered off */
    FERRY_SHUTOFF_DESTROYED = 2,  /* stopped by ferry_domain_destroy() */
    FERRY_SHUTOFF_CRASHED = 3,    /* QEMU exited unexpectedly */
    FERRY_SHUTOFF_MIGRATED = 4,   /* it left by an outgoing migration */
    FERRY_SHUTOFF_FAILED = 5,     /* it failed to start */
} ferry_shutoff_reason;

/**
 * ferry_domain_state_to_string:
 * @state: a ferry_domain_state
 *
 * Returns: a stable lower-case name such as "running", "paused", "shut off".
 */
const char *ferry_domain_state_to_string(int state);

/**
 * ferry_domain_state_reason_to_string:
 * @state: a ferry_domain_state
 * @reason: a reason for that state
 *
 * Returns: a stable lower-case name of the reason such as "booted", "user".
 */
const char *ferry_domain_state_reason_to_string(int state, int reason);

/**
 * ferry_domain_info:
 *
 * What ferry_domain_get_info() reports.  Only libferry allocates it.
 */
typedef struct {
    ferry_domain_state state;
    int reason;               /* a ferry_*_reason of the state */
    guint64 memory_kib;       /* the memory size of the definition */
    guint vcpus;
    guint64 cpu_time_ns;      /* CPU time used by the domain, 0 when not running */
    gboolean persistent;      /* has a persistent definition */
    gint64 pid;               /* the QEMU process id, 0 if not running or not QEMU */
} ferry_domain_info;

/** Flags of ferry_conn_list_domains(). 0 lists all. */
typedef enum {
    FERRY_LIST_ACTIVE = 1 << 0,   /* running or paused */
    FERRY_LIST_INACTIVE = 1 << 1, /* defined, not running */
} ferry_list_flags;

/**
 * ferry_conn_list_domains:
 * @conn: a connection
 * @flags: ferry_list_flags, 0 for all domains
 * @ret_domains: (out) (transfer full): a new array of ferry_domain*, sorted
 *   by name, that frees its elements
 * @error: return location for an error
 *
 * Returns: TRUE on success.
 */
gboolean ferry_conn_list_domains(ferry_conn *conn, guint flags,
                                 GPtrArray **ret_domains, GError **error);

/**
 * ferry_domain_lookup_by_name:
 * @conn: a connection
 * @name: the domain's name
 * @error: return location for an error (FERRY_ERROR_NO_DOMAIN if none)
 *
 * Returns: (transfer full): the domain, or NULL on error.
 */
ferry_domain *ferry_domain_lookup_by_name(ferry_conn *conn, const char *name,
                                          GError **error);

/**
 * ferry_domain_lookup_by_uuid:
 * @conn: a connection
 * @uuid: the domain's uuid in its textual form
 * @error: return location for an error (FERRY_ERROR_NO_DOMAIN if none)
 *
 * Returns: (transfer full): the domain, or NULL on error.
 */
ferry_domain *ferry_domain_lookup_by_uuid(ferry_conn *conn, const char *uuid,
                                          GError **error);

/**
 * ferry_domain_define_xml:
 * @conn: a connection
 * @xml: a domain definition (schema docs/schemas/domain.rng)
 * @error: return location for an error
 *
 * Defines a persistent domain, or replaces the persistent definition of an
 * existing domain with the same name and uuid (a running domain keeps running
 * on its old definition until it stops).  Invalid XML is refused with an
 * error naming the element and line, and nothing is defined.
 *
 * Returns: (transfer full): the domain, or NULL on error.
 */
ferry_domain *ferry_domain_define_xml(ferry_conn *conn, const char *xml,
                                      GError **error);

/** Flags of ferry_domain_start() and ferry_domain_create_xml(). */
typedef enum {
    FERRY_START_PAUSED = 1 << 0,  /* leave the CPUs stopped after start */
} ferry_start_flags;

/**
 * ferry_domain_create_xml:
 * @conn: a connection
 * @xml: a domain definition
 * @flags: ferry_start_flags
 * @error: return location for an error
 *
 * Starts a transient domain: it has no persistent definition and disappears
 * when it stops.
 *
 * Returns: (transfer full): the running domain, or NULL on error.
 */
ferry_domain *ferry_domain_create_xml(ferry_conn *conn, const char *xml,
                                      guint flags, GError **error);

/**
 * ferry_domain_ref:
 * @dom: (nullable): a domain
 *
 * Returns: @dom, with one more reference.
 */
ferry_domain *ferry_domain_ref(ferry_domain *dom);

/**
 * ferry_domain_unref:
 * @dom: (nullable): a domain
 *
 * Drops a reference to the handle (never affects the VM itself).
 */
void ferry_domain_unref(ferry_domain *dom);

/**
 * ferry_domain_get_warnings:
 * @dom: a domain handle returned by ferry_domain_define_xml() or
 *   ferry_domain_create_xml()
 *
 * What the define accepted but could not check now or will not do, one
 * sentence each: e.g. a fixed VNC port whose availability is known only at
 * start, or a <seclabel> that ferry keeps but does not enforce.  Handles
 * from lookups have none.
 *
 * Returns: (transfer none) (array zero-terminated=1): never NULL, possibly
 *   empty; valid as long as @dom.
 */
const char *const *ferry_domain_get_warnings(ferry_domain *dom);

/**
 * ferry_domain_get_name:
 * @dom: a domain
 *
 * Returns: (transfer none): the domain's name.
 */
const char *ferry_domain_get_name(ferry_domain *dom);

/**
 * ferry_domain_get_uuid:
 * @dom: a domain
 *
 * Returns: (transfer none): the domain's uuid in textual form.
 */
const char *ferry_domain_get_uuid(ferry_domain *dom);

/**
 * ferry_domain_get_conn:
 * @dom: a domain
 *
 * Returns: (transfer none): the connection the handle belongs to.
 */
ferry_conn *ferry_domain_get_conn(ferry_domain *dom);

/** Flags of ferry_domain_undefine(). */
typedef enum {
    FERRY_UNDEFINE_KEEP_NOTHING = 0,
} ferry_undefine_flags;

/**
 * ferry_domain_undefine:
 * @dom: a domain
 * @flags: 0
 * @error: return location for an error
 *
 * Removes the persistent definition.  A running domain keeps running and
 * becomes transient.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_undefine(ferry_domain *dom, guint flags, GError **error);

/**
 * ferry_domain_start:
 * @dom: a defined, inactive domain
 * @flags: ferry_start_flags
 * @error: return location for an error
 *
 * Starts the domain from its persistent definition and returns once its
 * CPUs run (or, with FERRY_START_PAUSED, once it is ready to run).
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_start(ferry_domain *dom, guint flags, GError **error);

/**
 * ferry_domain_destroy:
 * @dom: an active domain
 * @error: return location for an error
 *
 * Stops the domain at once, like pulling its power cord.  A transient domain
 * disappears.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_destroy(ferry_domain *dom, GError **error);

/**
 * ferry_domain_suspend:
 * @dom: a running domain
 * @error: return location for an error
 *
 * Stops the domain's CPUs; memory stays allocated.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_suspend(ferry_domain *dom, GError **error);

/**
 * ferry_domain_resume:
 * @dom: a paused domain
 * @error: return location for an error
 *
 * Restarts the CPUs of a paused domain.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_resume(ferry_domain *dom, GError **error);

/**
 * ferry_domain_get_state:
 * @dom: a domain
 * @ret_state: (out) (optional): the ferry_domain_state
 * @ret_reason: (out) (optional): the reason of that state
 * @error: return location for an error
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_get_state(ferry_domain *dom, int *ret_state,
                                int *ret_reason, GError **error);

/**
 * ferry_domain_get_info:
 * @dom: a domain
 * @ret_info: (out caller-allocates): filled on success
 * @error: return location for an error
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_get_info(ferry_domain *dom, ferry_domain_info *ret_info,
                               GError **error);

/** Flags of ferry_domain_get_xml(). */
typedef enum {
    FERRY_XML_INACTIVE = 1 << 0,  /* the persistent definition, not the live one */
    /* Since 0.1: with the secrets (graphics passwords) in it.  Without,
     * they are left out, as libvirt's dumpxml does without
     * --security-info: an XML shown is an XML pasted into tickets. */
    FERRY_XML_SECURE = 1 << 1,
} ferry_xml_flags;

/**
 * ferry_domain_get_xml:
 * @dom: a domain
 * @flags: ferry_xml_flags
 * @error: return location for an error
 *
 * Returns: (transfer full): the domain's XML, or NULL on error.
 */
char *ferry_domain_get_xml(ferry_domain *dom, guint flags, GError **error);

/* ------------------------------------------------------------------------ */
/* Snapshots (since 0.6; docs/snapshots.md)                                  */
/*                                                                           */
/* Internal snapshots: the guest's disks (and memory, for a running domain) */
/* kept inside its qcow2 images under a tag, and the snapshot's metadata    */
/* (libvirt's domainsnapshot XML) kept by the daemon.  Snapshots of one     */
/* domain form a tree; one of them may be current, the parent of the next.  */
/* ------------------------------------------------------------------------ */

/** Flags of ferry_domain_snapshot_create_xml(). */
typedef enum {
    /* Records metadata of a snapshot that exists already in the images
     * (taken earlier, or on another host before a migration): nothing is
     * taken; the XML must give <name>, <state> and <domain>, and its
     * <parent> must exist. */
    FERRY_SNAPSHOT_CREATE_REDEFINE = 1 << 0,
    /* With REDEFINE: the snapshot becomes the current one. */
    FERRY_SNAPSHOT_CREATE_CURRENT = 1 << 1,
} ferry_snapshot_create_flags;

/** ferry_snapshot_info: one snapshot, as ferry_domain_snapshot_list() gives it. */
typedef struct {
    char *name;
    char *parent;           /* nullable: a root */
    gint64 creation_time;   /* seconds since the epoch */
    int state;              /* a ferry_domain_state: RUNNING, PAUSED or SHUTOFF */
    gboolean current;
} ferry_snapshot_info;

/** ferry_snapshot_info_free: frees @info; accepts NULL. */
void ferry_snapshot_info_free(ferry_snapshot_info *info);

/**
 * ferry_domain_snapshot_create_xml:
 * @dom: a domain whose writable disks are all qcow2 images
 * @xml: a <domainsnapshot> document (docs/schemas/domainsnapshot.rng);
 *   without <name> the snapshot is named after its creation time
 * @flags: ferry_snapshot_create_flags
 * @error: return location for an error
 *
 * Takes a snapshot: of the disks and, when the domain is active, of its
 * memory and device state (the domain pauses meanwhile and ends in the
 * state it had).  It becomes the current snapshot, a child of the one that
 * was current.  With FERRY_SNAPSHOT_CREATE_REDEFINE only the metadata is
 * recorded.
 *
 * Returns: (transfer full): the snapshot's name, or NULL on error.
 */
char *ferry_domain_snapshot_create_xml(ferry_domain *dom, const char *xml, guint flags,
                                       GError **error);

/**
 * ferry_domain_snapshot_list:
 * @dom: a domain
 * @flags: 0
 * @ret_snapshots: (out) (transfer full): ferry_snapshot_info*, parents
 *   before their children; the array frees its elements
 * @error: return location for an error
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_snapshot_list(ferry_domain *dom, guint flags, GPtrArray **ret_snapshots,
                                    GError **error);

/**
 * ferry_domain_snapshot_get_xml:
 * @dom: a domain
 * @name: one of its snapshots
 * @flags: 0
 * @error: return location for an error (FERRY_ERROR_NO_SNAPSHOT)
 *
 * Returns: (transfer full): the snapshot's <domainsnapshot> XML, with the
 *   domain's definition at that time; NULL on error.
 */
char *ferry_domain_snapshot_get_xml(ferry_domain *dom, const char *name, guint flags,
                                    GError **error);

/**
 * ferry_domain_snapshot_current:
 * @dom: a domain
 * @error: return location for an error (FERRY_ERROR_NO_SNAPSHOT when the
 *   domain has no current snapshot)
 *
 * Returns: (transfer full): the current snapshot's name, or NULL on error.
 */
char *ferry_domain_snapshot_current(ferry_domain *dom, GError **error);

/**
 * ferry_domain_snapshot_revert:
 * @dom: a domain
 * @name: one of its snapshots
 * @flags: 0
 * @error: return location for an error
 *
 * Brings the disks, and for a snapshot of an active domain its memory, back
 * to the snapshot, and the domain to the state it had then (running or
 * paused).  The snapshot becomes current.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_snapshot_revert(ferry_domain *dom, const char *name, guint flags,
                                      GError **error);

/**
 * ferry_domain_snapshot_delete:
 * @dom: a domain
 * @name: one of its snapshots
 * @flags: 0
 * @error: return location for an error
 *
 * Deletes the snapshot from the images and its metadata; its children
 * become children of its parent.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_snapshot_delete(ferry_domain *dom, const char *name, guint flags,
                                      GError **error);

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

/** ferry_job_info: progress and statistics of a domain's job (defined below). */
typedef struct ferry_job_info_s ferry_job_info;

/** The kinds of event. Stable numbers. */
typedef enum {
    FERRY_EVENT_LIFECYCLE = 1,
    FERRY_EVENT_MIGRATION_BEGIN = 2, /* a migration of the domain began on this host */
    FERRY_EVENT_JOB_PROGRESS = 3,    /* progress of a domain's job: a pre-copy pass began,
                                      * or a periodic update; @job says where it is */
    FERRY_EVENT_JOB_ENDED = 4,       /* a domain's job ended; @job holds its final
                                      * statistics and outcome (since 0.3) */
} ferry_event_type;

/** What a FERRY_EVENT_LIFECYCLE event says happened. Stable numbers. */
typedef enum {
    FERRY_LIFECYCLE_DEFINED = 0,
    FERRY_LIFECYCLE_UNDEFINED = 1,
    FERRY_LIFECYCLE_STARTED = 2,
    FERRY_LIFECYCLE_SUSPENDED = 3,
    FERRY_LIFECYCLE_RESUMED = 4,
    FERRY_LIFECYCLE_STOPPED = 5,
} ferry_lifecycle_event;

/**
 * ferry_event:
 *
 * One event, as passed to a ferry_event_cb.  Only libferry allocates it;
 * fields may be added at the end.
 */
typedef struct {
    ferry_event_type type;
    ferry_domain *domain;     /* the domain it is about */
    int lifecycle;            /* FERRY_EVENT_LIFECYCLE: a ferry_lifecycle_event */
    int state;                /* the domain's ferry_domain_state after the event */
    int reason;               /* the reason of that state */
    gint64 timestamp_us;      /* when it happened, g_get_real_time() on the host */
    const ferry_job_info *job; /* FERRY_EVENT_JOB_*: the job's information at that moment,
                                * valid only during the callback; NULL for other events
                                * (since 0.3) */
} ferry_event;

/**
 * ferry_lifecycle_event_to_string:
 * @event: a ferry_lifecycle_event
 *
 * Returns: a stable lower-case name such as "started".
 */
const char *ferry_lifecycle_event_to_string(int event);

/**
 * ferry_event_cb:
 * @conn: the connection the subscription was made on
 * @event: the event; valid only during the call
 * @user_data: what was given to ferry_conn_subscribe_events()
 */
typedef void (*ferry_event_cb)(ferry_conn *conn, const ferry_event *event,
                               gpointer user_data);

/**
 * ferry_conn_subscribe_events:
 * @conn: a connection
 * @callback: called for every event of every domain of the host
 * @user_data: passed to @callback
 * @destroy: (nullable): frees @user_data after the subscription ends
 * @error: return location for an error
 *
 * @callback runs in the thread-default GMainContext of the calling thread;
 * that context must be iterated for events to arrive.  If this function
 * fails, @callback is never called and @destroy is not called either.
 *
 * Returns: a subscription id greater than 0, or 0 on error.
 */
guint ferry_conn_subscribe_events(ferry_conn *conn, ferry_event_cb callback,
                                  gpointer user_data, GDestroyNotify destroy,
                                  GError **error);

/**
 * ferry_conn_unsubscribe_events:
 * @conn: a connection
 * @id: what ferry_conn_subscribe_events() returned
 * @error: return location for an error
 *
 * Ends a subscription.  No callback of it starts after this returns.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_conn_unsubscribe_events(ferry_conn *conn, guint id,
                                       GError **error);

/* ------------------------------------------------------------------ */
/* Migration (docs/migration-engine.md) */

/** Flags of ferry_migrate_params. */
typedef enum {
    FERRY_MIGRATE_LIVE = 1 << 0,            /* keep the guest running while copying (default when running) */
    FERRY_MIGRATE_PEER2PEER = 1 << 1,       /* the source daemon runs the sequence (ferry_domain_migrate_to_uri) */
    FERRY_MIGRATE_PERSIST_DEST = 1 << 2,    /* define the domain persistently on the destination */
    FERRY_MIGRATE_UNDEFINE_SOURCE = 1 << 3, /* undefine it on the source once it has moved */
    FERRY_MIGRATE_PAUSED = 1 << 4,          /* leave it paused on the destination */
    FERRY_MIGRATE_OFFLINE = 1 << 5,         /* move the definition of a domain that is not running */
    FERRY_MIGRATE_NON_SHARED_DISK = 1 << 6, /* copy every disk (NBD) */
    FERRY_MIGRATE_NON_SHARED_INC = 1 << 7,  /* copy the top image of every disk (NBD) */
    /* Since 0.4: the streams go through the two daemons' relays, which make a
     * broken connection again and go on where the stream stopped (docs/relay.md).
     * By default storage migrations are relayed, memory-only ones are not
     * (a break of those is tried again from the start, and the relay costs
     * time on the happy path). */
    FERRY_MIGRATE_RELAY = 1 << 8,           /* relay even without storage */
    FERRY_MIGRATE_NO_RELAY = 1 << 9,        /* never relay */
    /* Since 0.4: QEMU encrypts the migration data (memory and disks) with TLS,
     * using the daemons' certificates.  The default when the client reaches
     * the destination over TLS (qemu+tls://), unless NO_TLS. */
    FERRY_MIGRATE_TLS = 1 << 10,
    FERRY_MIGRATE_NO_TLS = 1 << 11,         /* never encrypt the data */
    /* Since 0.5: ways to finish a migration whose guest dirties memory faster
     * than the link carries it (docs/convergence.md). */
    FERRY_MIGRATE_POSTCOPY = 1 << 12,       /* post-copy allowed: after
                                             * ferry_domain_migrate_start_postcopy() the
                                             * destination runs the guest and pulls the
                                             * pages it still lacks */
    FERRY_MIGRATE_POSTCOPY_AFTER_PRECOPY = 1 << 13, /* switch to post-copy once the first
                                             * pass over memory is done (needs POSTCOPY) */
    FERRY_MIGRATE_PARALLEL = 1 << 14,       /* several connections (QEMU's multifd) */
    FERRY_MIGRATE_COMPRESSED = 1 << 15,     /* compress (params.comp_methods) */
    FERRY_MIGRATE_AUTO_CONVERGE = 1 << 16,  /* slow the guest's CPUs down while it does
                                             * not converge (QEMU's auto-converge) */
    FERRY_MIGRATE_NO_POLICY = 1 << 17,      /* turn off the convergence policy, which
                                             * otherwise raises the downtime limit, switches
                                             * to post-copy (when allowed) or slows the guest
                                             * down when pre-copy cannot converge */
    /* Since 0.5: the policy switches to post-copy by itself, without
     * POSTCOPY, when the guest's disks are shared (nothing is copied) and
     * the destination can receive post-copy; this keeps it from doing so. */
    FERRY_MIGRATE_NO_POSTCOPY = 1 << 18,
    /* Since 0.6: migrate although a safety rule refuses it (a disk on local
     * storage that is not copied, cache mode 'unsafe', a running block
     * job); what was overridden is logged by the source host.  Never
     * overrides what cannot work (host devices). */
    FERRY_MIGRATE_FORCE = 1 << 19,
    /* Since 0.6: with PEER2PEER, QEMU's migration stream goes through the
     * two daemons' own connection (the one the source's daemon opened to
     * the destination's) instead of a port of the destination's QEMU: one
     * connection to allow between the hosts, encrypted when it is
     * qemu+tls://.  Not with storage migration (the disks' NBD connections
     * go from QEMU to QEMU), the relay, parallel connections or QEMU's own
     * TLS (docs/tunnelled.md). */
    FERRY_MIGRATE_TUNNELLED = 1 << 20,
} ferry_migrate_flags;

/** Compression methods of ferry_migrate_params.comp_methods (since 0.5). */
typedef enum {
    FERRY_MIGRATE_COMP_XBZRLE = 1 << 0,     /* send the changes of pages sent before */
    FERRY_MIGRATE_COMP_ZSTD = 1 << 1,       /* zstd over the parallel connections
                                             * (needs FERRY_MIGRATE_PARALLEL) */
} ferry_migrate_comp_method;

/** What happens when a migration runs longer than its timeout (since 0.3). */
typedef enum {
    FERRY_MIGRATE_TIMEOUT_ABORT = 0,    /* abort it: the guest keeps running on the source */
    FERRY_MIGRATE_TIMEOUT_SUSPEND = 1,  /* pause the guest so that the last pass completes */
} ferry_migrate_timeout_action;

/**
 * ferry_migrate_params:
 *
 * What a migration is asked to do.  Zero-initialise it: every field but
 * @flags may be left unset.  Fields may be added at the end.
 */
typedef struct {
    guint flags;              /* ferry_migrate_flags */
    const char *dname;        /* new name on the destination, or NULL */
    const char *uri;          /* migration URI: "host", "host:port", "tcp://host/" or
                               * "tcp://host:port/"; NULL lets the destination choose */
    const char *dxml;         /* domain XML to use on the destination, or NULL */
    guint64 bandwidth_mib;    /* MiB/s; 0 means unlimited */
    /* Storage migration (FERRY_MIGRATE_NON_SHARED_DISK or _INC; both hosts
     * must offer FERRY_FEATURE_MIGRATION_NBD, and protocol v3 is needed).
     * Each field below is refused without one of those flags. */
    const char *const *migrate_disks; /* NULL-terminated targets ("vda") to copy with
                                       * NON_SHARED_*: no duplicates, at least one;
                                       * NULL = every disk that is not read-only */
    guint disks_port;         /* NBD port on the destination, 1..65535; 0 = the
                               * destination chooses */
    /* Since 0.3: time bounds, counted from the start of the transfer
     * (Perform), enforced by the source host's daemon. */
    guint timeout_s;          /* 0: no timeout; else at most FERRY_MIGRATE_TIMEOUT_MAX */
    int timeout_action;       /* ferry_migrate_timeout_action, when timeout_s is set */
    guint64 max_downtime_ms;  /* the longest pause of the guest QEMU may plan for at the
                               * switch-over; 0: QEMU's default (300 ms) */
    /* Since 0.3: how long a migration whose connection broke (or whose
     * destination could not be reached) while the source ran on is tried
     * again, with back-off, counted from its start; the same bound holds
     * for reaching the destination's daemon again before Finish.  0: the
     * default, FERRY_MIGRATE_RETRY_DEFAULT; FERRY_MIGRATE_RETRY_NEVER: fail
     * at once; else seconds, at most FERRY_MIGRATE_RETRY_MAX. */
    int retry_s;
    /* Since 0.5 */
    guint64 postcopy_bandwidth_mib; /* MiB/s of the post-copy phase; 0: unlimited
                                     * (needs FERRY_MIGRATE_POSTCOPY) */
    guint parallel_connections;     /* FERRY_MIGRATE_PARALLEL: connections, 1 to
                                     * FERRY_MIGRATE_PARALLEL_MAX; 0: 2 */
    guint comp_methods;             /* FERRY_MIGRATE_COMPRESSED: ferry_migrate_comp_method
                                     * bits; 0: XBZRLE */
    guint auto_converge_initial;    /* FERRY_MIGRATE_AUTO_CONVERGE: the first throttle, in
                                     * percent of CPU time taken, 1 to 99; 0: 20 */
    guint auto_converge_increment;  /* and how much each later step adds, 1 to 99;
                                     * 0: 10 */
    /* The hard bound on the guest's pause at the switch-over, 1 to
     * FERRY_MIGRATE_DOWNTIME_MAX ms; 0: none.  QEMU plans for less (the
     * downtime limit stays under it), and when QEMU is about to switch
     * over, the source's daemon checks what is left against the link it
     * measured: if the pause would be longer, it does not switch over --
     * the guest runs on, and the migration is tried again with a tighter
     * limit (FERRY_ERROR_MIGRATE_HELD once the retry bound is spent).
     * max_downtime_ms, if set, must not exceed it. */
    guint64 max_downtime_cap_ms;
} ferry_migrate_params;

/** The largest max_downtime_ms and max_downtime_cap_ms: QEMU's own bound
 * (since 0.5). */
#define FERRY_MIGRATE_DOWNTIME_MAX 2000000

/** The most connections of a parallel migration (since 0.5). */
#define FERRY_MIGRATE_PARALLEL_MAX 255

/** The default of ferry_migrate_params.retry_s: five minutes (since 0.3). */
#define FERRY_MIGRATE_RETRY_DEFAULT 300
/** ferry_migrate_params.retry_s: never try again (since 0.3). */
#define FERRY_MIGRATE_RETRY_NEVER (-1)
/** The longest ferry_migrate_params.retry_s: a day (since 0.3). */
#define FERRY_MIGRATE_RETRY_MAX 86400

/** The largest ferry_migrate_params.timeout_s: one day. */
#define FERRY_MIGRATE_TIMEOUT_MAX (24 * 3600)

/** The most disks ferry_migrate_params.migrate_disks may name (since 0.3). */
#define FERRY_MIGRATE_DISKS_MAX 256

/** The longest disk target migrate_disks may name, in bytes (since 0.3). */
#define FERRY_MIGRATE_DISK_TARGET_MAX 32

/**
 * ferry_migrate_stats:
 *
 * What a migration did, filled in on success (and as far as known on
 * failure).  Times are in milliseconds; 0 means unknown.  Fields may be
 * added at the end.
 */
typedef struct {
    int protocol;             /* the sequence used: 1, 2 or 3 */
    gint64 wall_ms;           /* ferry's whole sequence, as the caller saw it */
    gint64 total_ms;          /* QEMU's own total time of the transfer */
    gint64 downtime_ms;       /* QEMU's own figure for the switch-over pause */
    gint64 setup_ms;          /* QEMU's setup time */
    guint64 data_total;       /* bytes of guest RAM */
    guint64 data_transferred; /* bytes sent over the migration stream */
    guint64 disk_total;       /* bytes of disk to copy (storage migration) */
    guint64 disk_transferred; /* bytes of disk copied */
    /* Since 0.3, measured by the daemons (source and destination clocks). */
    gint64 guest_downtime_ms; /* the guest's pause as it saw it: from the source's CPUs
                               * stopping to the destination's resuming */
    guint64 passes;           /* pre-copy passes over the guest's memory */
    gint64 time_setup_ms;     /* the whole, split: Begin, Prepare and the transfer's setup */
    gint64 time_disk_ms;      /*   copying disks until they are in sync */
    gint64 time_memory_ms;    /*   copying memory while the guest runs */
    gint64 time_switchover_ms;/*   the switch-over (the guest's downtime) */
    gint64 time_overhead_ms;  /*   the rest: ferry's own work after the switch-over */
    guint attempts;           /* since 0.3: how many times it started; more than 1 when
                               * its connection broke and it was tried again */
    guint64 reconnects;       /* since 0.3: how often a relay connected its streams
                               * again after a break (the migration went on) */
    /* Since 0.6: the domain's snapshot metadata (docs/snapshots.md). */
    guint snapshots_moved;    /* snapshots the destination redefined */
    guint snapshots_left;     /* snapshots left on the source (FERRY_MIGRATE_FORCE) */
    char snapshots_note[1024];/* which stayed on which host, and why; "" when none */
} ferry_migrate_stats;

/**
 * ferry_domain_migrate:
 * @dom: a domain on the source connection
 * @dconn: a connection to the destination host
 * @params: (nullable): what to do; NULL means a live migration with defaults
 * @ret_stats: (out) (optional): what happened
 * @error: return location for an error
 *
 * Moves @dom to @dconn's host.  The protocol is negotiated: v3 (Begin,
 * Prepare, Perform, Finish, Confirm) when both hosts offer it, else v2,
 * else v1; @ret_stats->protocol says which.  If Perform fails, its error is
 * what the caller sees, whatever fails after it, unless the migration was
 * aborted (FERRY_ERROR_OPERATION_ABORTED), which is said instead.
 *
 * The migration can be aborted from another thread or process with
 * ferry_domain_abort_job() on either host.  If the destination's answer to
 * Finish is lost, the source's daemon keeps the guest paused and asks the
 * destination's daemon whether it runs the guest; this call waits for that
 * answer.
 *
 * Returns: (transfer full): the domain on the destination, or NULL.
 */
ferry_domain *ferry_domain_migrate(ferry_domain *dom, ferry_conn *dconn,
                                   const ferry_migrate_params *params,
                                   ferry_migrate_stats *ret_stats, GError **error);

/**
 * ferry_domain_migrate_to_uri:
 * @dom: a domain
 * @dconn_uri: the destination daemon's connection URI, as the source
 *   daemon reaches it
 * @params: (nullable): as for ferry_domain_migrate(); FERRY_MIGRATE_PEER2PEER
 *   is implied
 * @ret_stats: (out) (optional): what happened
 * @error: return location for an error
 *
 * Peer-to-peer: the source daemon runs the whole sequence itself, so it
 * completes even if this client goes away.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_migrate_to_uri(ferry_domain *dom, const char *dconn_uri,
                                     const ferry_migrate_params *params,
                                     ferry_migrate_stats *ret_stats, GError **error);

/** Kind of the job a domain runs, or how its last one ended. Stable numbers. */
typedef enum {
    FERRY_JOB_INFO_NONE = 0,       /* no job */
    FERRY_JOB_INFO_ACTIVE = 1,     /* running */
    FERRY_JOB_INFO_COMPLETED = 2,  /* the last job succeeded */
    FERRY_JOB_INFO_FAILED = 3,     /* the last job failed */
    FERRY_JOB_INFO_CANCELLED = 4,  /* the last job was aborted (since 0.3) */
} ferry_job_info_type;

/**
 * ferry_job_info:
 *
 * Progress of a domain's migration job, or the final statistics of its last
 * one.  Sizes in bytes, times in milliseconds (0: unknown).  Strings are
 * NUL-terminated.  Fields may be added at the end.
 */
struct ferry_job_info_s {
    int type;                 /* ferry_job_info_type */
    char phase[16];           /* "begin", "prepare", "perform", "finish", "confirm" or "" */
    gint64 elapsed_ms;        /* since the job began (its whole length once ended) */
    guint64 mem_total, mem_processed, mem_remaining;
    guint64 disk_total, disk_processed, disk_remaining;
    guint64 rate_bps;         /* current transfer rate, bytes per second */
    gint64 downtime_ms;       /* QEMU's own figure for the switch-over, once known */
    gint64 total_ms;          /* QEMU's total time of the transfer, once known */
    /* Since 0.3 */
    char state[16];           /* "running", "waiting", "in-doubt", "committed",
                               * "rollback", "completed", "failed", "cancelled" */
    char role[16];            /* "source" or "destination" */
    char id[40];              /* the migration id (a uuid) */
    guint64 dirty_rate_bps;   /* how fast the guest dirties memory */
    guint64 passes;           /* pre-copy passes so far (QEMU's dirty-sync count) */
    guint64 bandwidth_bps;    /* the transfer's bandwidth limit; 0 unlimited */
    gint64 expected_downtime_ms; /* QEMU's estimate of the switch-over if it happened now */
    gint64 max_downtime_ms;   /* the downtime QEMU plans for (downtime-limit) */
    gint64 setup_ms;          /* QEMU's setup time */
    gint64 guest_downtime_ms; /* measured by the daemons (ferry_migrate_stats) */
    gint64 time_setup_ms, time_disk_ms, time_memory_ms, time_switchover_ms,
           time_overhead_ms;  /* the split of ferry_migrate_stats, once ended */
    int protocol;             /* 1, 2 or 3 */
    char message[256];        /* why it ended when it did not complete, or what it
                               * waits for ("in-doubt"); "" otherwise */
    /* Since 0.4 */
    guint64 reconnects;       /* times a stream of the migration (memory, a disk) went on
                               * over a new connection after its link broke */
    /* Since 0.5 */
    char postcopy[16];        /* "" (pre-copy only), "requested", "active" (the
                               * destination runs the guest and pulls what it lacks),
                               * "paused" (its link broke), "recovering", "done" */
    guint64 postcopy_requests;/* pages the destination asked for during post-copy */
    guint64 postcopy_bytes;   /* bytes sent during post-copy */
    gint64 postcopy_ms;       /* when post-copy began, since the job began; 0: never */
    guint throttle_percent;   /* CPU time auto-converge takes from the guest now */
    guint64 multifd_bytes;    /* bytes sent over the parallel connections */
    guint64 xbzrle_bytes;     /* bytes XBZRLE sent (its encoded pages) */
    guint64 xbzrle_pages;     /* pages XBZRLE encoded */
    guint64 xbzrle_cache_miss;/* pages it could not encode (not in its cache) */
    guint64 xbzrle_overflow;  /* pages whose changes were larger than the page */
    guint64 normal_pages;     /* pages sent whole */
    guint64 zero_pages;       /* pages found to hold only zeroes (sent as a flag) */
    char policy[16];          /* the convergence policy's last step: "", "downtime",
                               * "postcopy", "throttle", "gave-up" */
    gint64 max_downtime_cap_ms; /* the hard bound on the switch-over's pause (0: none) */
};

/** Flags of ferry_domain_get_job_stats(). */
typedef enum {
    FERRY_JOB_STATS_COMPLETED = 1 << 0, /* the last ended job instead of the current one */
} ferry_job_stats_flags;

/**
 * ferry_domain_get_job_info:
 * @dom: a domain
 * @ret_info: (out): its job's progress
 * @error: return location for an error
 *
 * ferry_domain_get_job_stats() with no flags.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_get_job_info(ferry_domain *dom, ferry_job_info *ret_info,
                                   GError **error);

/**
 * ferry_domain_get_job_stats:
 * @dom: a domain
 * @flags: ferry_job_stats_flags
 * @ret_info: (out): the job's information
 * @error: return location for an error
 *
 * Without flags: the domain's current job (type FERRY_JOB_INFO_ACTIVE), or
 * type FERRY_JOB_INFO_NONE when it runs none.  With
 * FERRY_JOB_STATS_COMPLETED: the final statistics and outcome of the last
 * job that ended on this host, kept until the next job of the domain begins
 * (also after the domain left the host); type NONE if there was none.
 * Never waits for the job: it answers while a migration runs.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_get_job_stats(ferry_domain *dom, guint flags, ferry_job_info *ret_info,
                                    GError **error);

/**
 * ferry_domain_abort_job:
 * @dom: a domain
 * @flags: 0
 * @error: return location for an error
 *
 * Aborts the domain's migration job, on either host, in any phase up to
 * the point where the destination may already run the guest: the source
 * keeps (or gets back) the guest, running if it ran before, and the
 * destination drops everything it made for it.  Returns once this host's
 * job has ended.  Once the destination may run the guest, the abort is
 * refused (FERRY_ERROR_OPERATION_INVALID) with a message saying why; after
 * all the data was sent, only the destination can say, so the source's
 * daemon asks it, and the abort fails if it cannot be reached.
 *
 * Returns: TRUE if the job was aborted (it ends "cancelled").
 */
gboolean ferry_domain_abort_job(ferry_domain *dom, guint flags, GError **error);

/**
 * ferry_domain_migrate_set_max_downtime:
 * @dom: a domain migrating out of this host
 * @downtime_ms: the longest switch-over pause QEMU may plan for, > 0
 * @flags: 0
 * @error: return location for an error
 *
 * Changes the running migration's downtime limit; QEMU uses it from its
 * next pass.  A higher limit lets a busy guest converge.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_migrate_set_max_downtime(ferry_domain *dom, guint64 downtime_ms,
                                               guint flags, GError **error);

/**
 * ferry_domain_migrate_get_max_downtime:
 * @dom: a domain migrating out of this host
 * @ret_downtime_ms: (out): the current downtime limit, as QEMU has it
 * @flags: 0
 * @error: return location for an error
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_migrate_get_max_downtime(ferry_domain *dom, guint64 *ret_downtime_ms,
                                               guint flags, GError **error);

/**
 * ferry_domain_migrate_set_max_speed:
 * @dom: a domain migrating out of this host
 * @bandwidth_mib: MiB/s, 0 for unlimited
 * @flags: 0
 * @error: return location for an error
 *
 * Changes the running migration's bandwidth limit at once (memory and
 * disks).
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_migrate_set_max_speed(ferry_domain *dom, guint64 bandwidth_mib,
                                            guint flags, GError **error);

/**
 * ferry_domain_migrate_get_max_speed:
 * @dom: a domain migrating out of this host
 * @ret_bandwidth_mib: (out): the current limit in MiB/s, 0 for unlimited, as
 *   QEMU has it
 * @flags: 0
 * @error: return location for an error
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_migrate_get_max_speed(ferry_domain *dom, guint64 *ret_bandwidth_mib,
                                            guint flags, GError **error);

/**
 * ferry_domain_migrate_start_postcopy:
 * @dom: a domain migrating out of this host with FERRY_MIGRATE_POSTCOPY
 * @flags: 0
 * @error: return location for an error
 *
 * Switches the running migration to post-copy (since 0.5): QEMU stops the
 * guest on the source at the end of its current pass, sends the devices'
 * state, and the destination runs the guest while it pulls the pages it
 * still lacks.  Refused, saying why, when the migration was not started
 * with FERRY_MIGRATE_POSTCOPY or is not sending memory.  From then on the
 * migration can only complete: an abort is refused, and a broken link
 * pauses both halves until it can go on.
 *
 * Returns: TRUE once QEMU was told (the switch follows; job information
 *   says "requested", then "active").
 */
gboolean ferry_domain_migrate_start_postcopy(ferry_domain *dom, guint flags, GError **error);

/**
 * ferry_domain_migrate_postcopy_resume:
 * @dom: a domain migrating out of this host, its post-copy paused (its
 *   stream broke: job information says "paused")
 * @dest_uri: (nullable): the destination daemon's URI, when it is reached
 *   at another address now; NULL: the one the migration knows
 * @flags: 0
 * @error: return location for an error
 *
 * Resumes the paused post-copy now (since 0.5), instead of at the daemon's
 * next try (it tries by itself, with back-off up to 30 s): the destination
 * listens again (QEMU's migrate-recover) and the source's QEMU resumes its
 * stream to it.  Refused when the post-copy is not paused.
 *
 * Returns: TRUE once the stream goes again; FALSE with the reason this
 *   attempt failed (the daemon keeps trying).
 */
gboolean ferry_domain_migrate_postcopy_resume(ferry_domain *dom, const char *dest_uri,
                                              guint flags, GError **error);

/** A migration predicted without migrating (since 0.5). */
typedef struct {
    guint64 mem_total;          /* the guest's RAM, bytes */
    guint64 mem_data;           /* what the first pass sends, bytes (mem_data_source) */
    char mem_data_source[16];   /* "nonzero": the guest RAM's pages that hold anything but
                                 * zeroes, counted in QEMU's process (pre-copy sends zero
                                 * pages as a flag); "resident": the part of it resident
                                 * (the process could not be read); "last-migration": the
                                 * RAM less the zero pages the domain's last migration from
                                 * this host found; "all": all of the RAM */
    guint64 dirty_rate_bps;     /* what the guest dirties, bytes/s: its pages whose
                                 * content changed within 0.25, 1 and 2 s, the highest
                                 * rate (with "nonzero" data); else QEMU's
                                 * calc-dirty-rate over 1 s */
    guint64 dirty_set;          /* the most it dirties however long, bytes: the memory it
                                 * dirtied in 2 s when that was not much more than in 1 s
                                 * (its working set); 0: not bounded */
    guint64 link_bps;           /* what the link between the daemons carried, bytes/s */
    guint64 rate_bps;           /* what the transfer will move: the link, within
                                 * params->bandwidth_mib */
    guint64 passes;             /* pre-copy passes before the switch */
    guint64 total_ms;           /* the whole migration; 0: cannot be predicted
                                 * (throttle) or never ends */
    guint64 downtime_ms;        /* the guest's pause at the switch; 0 with total_ms 0 */
    char strategy[16];          /* how it ends: "precopy", "downtime" (pre-copy, the
                                 * limit raised), "postcopy", "throttle", "none" (pre-copy
                                 * that never converges, nothing allowed to help) */
    char reason[256];           /* one sentence for people, with the figures */
} ferry_migrate_estimate;

/**
 * ferry_domain_migrate_estimate:
 * @dom: a running domain on this host
 * @dest_uri: the destination daemon's URI, as this host's daemon reaches it
 * @params: the migration's parameters (flags, bandwidth_mib, max_downtime_ms, ...)
 * @ret_estimate: (out): the prediction
 * @flags: 0
 * @error: return location for an error
 *
 * Predicts the migration of @dom to @dest_uri with @params, without
 * migrating (since 0.5): the source's daemon has QEMU measure the guest's
 * dirty rate for a second, times data sent to the destination's daemon,
 * and runs the convergence policy's rules over the passes that would
 * follow.  Nothing moves; the guest keeps running.
 *
 * Returns: TRUE on success.
 */
gboolean ferry_domain_migrate_estimate(ferry_domain *dom, const char *dest_uri,
                                       const ferry_migrate_params *params,
                                       ferry_migrate_estimate *ret_estimate, guint flags,
                                       GError **error);

/**
 * ferry_job_info_type_to_string:
 * @type: a ferry_job_info_type
 *
 * Returns: "none", "active", "completed", "failed", "cancelled" or "unknown".
 */
const char *ferry_job_info_type_to_string(int type);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_conn, ferry_conn_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_domain, ferry_domain_unref)

G_END_DECLS
