/*
 * migration-job.h: one migration job -- a domain's migration as one host
 * sees it -- its role, phase and state, the one transition table every
 * driver follows, and its record on disk.
 *
 * Owns: the names and the legal moves of (phase, state), the job's copy of
 * the migration parameters, its statistics and timestamps, and the record
 * written (write, fsync, rename) before each transition.  Must not: decide
 * what a transition does (the engine does, migration-engine.c) or touch a
 * hypervisor (the drivers' backends do, migration-backend.h).
 *
 * Threads: a job's phase and state change only on its engine's thread;
 * every field that other threads read (job information, the outcome a peer
 * asks for) is guarded by `lock`.
 */
#pragma once

#include <gio/gio.h>

#include "conf/migration-cookie.h"
#include "driver/domain-obj.h"

G_BEGIN_DECLS

/** Which end of the migration this host is. */
typedef enum {
    FERRY_MIG_ROLE_SOURCE = 1,
    FERRY_MIG_ROLE_DESTINATION = 2,
} ferry_mig_role;

/** The protocol step a job is in (or ended in). */
typedef enum {
    FERRY_MIG_PHASE_NONE = 0,
    FERRY_MIG_PHASE_BEGIN,
    FERRY_MIG_PHASE_PREPARE,
    FERRY_MIG_PHASE_PERFORM,
    FERRY_MIG_PHASE_FINISH,     /* on a source: its daemon runs the destination's Finish */
    FERRY_MIG_PHASE_CONFIRM,
} ferry_mig_phase;

#define FERRY_MIG_N_PHASES (FERRY_MIG_PHASE_CONFIRM + 1)

/** Where the job stands within its phase. */
typedef enum {
    FERRY_MIG_STATE_NEW = 0,    /* created; nothing done yet */
    FERRY_MIG_STATE_RUNNING,    /* the phase's work is under way */
    FERRY_MIG_STATE_WAITING,    /* the phase is done; the next phase call is awaited.
                                 * (PERFORM, WAITING) on a source: everything was sent,
                                 * the source is paused, and only the destination may
                                 * say whether it runs the guest: the commit zone */
    FERRY_MIG_STATE_IN_DOUBT,   /* source: Finish's outcome is unknown; the daemon asks
                                 * the destination's daemon until it answers */
    FERRY_MIG_STATE_COMMITTED,  /* destination: it decided to run the guest; from here no
                                 * abort or cancel is accepted */
    FERRY_MIG_STATE_ROLLBACK,   /* undoing: resuming the source, dropping the incoming side */
    FERRY_MIG_STATE_COMPLETED,  /* ended: the guest moved */
    FERRY_MIG_STATE_FAILED,     /* ended: the guest did not move */
    FERRY_MIG_STATE_CANCELLED,  /* ended: aborted; the guest did not move */
} ferry_mig_state;

#define FERRY_MIG_N_STATES (FERRY_MIG_STATE_CANCELLED + 1)

/** ferry_mig_phase_to_string: Returns: "begin", ... or "" for NONE. */
const char *ferry_mig_phase_to_string(ferry_mig_phase phase);
/** ferry_mig_state_to_string: Returns: "running", "in-doubt", ... */
const char *ferry_mig_state_to_string(ferry_mig_state state);
/** ferry_mig_role_to_string: Returns: "source" or "destination". */
const char *ferry_mig_role_to_string(ferry_mig_role role);
/** ferry_mig_phase_from_string: Returns: the phase, or -1 if @name is none. */
int ferry_mig_phase_from_string(const char *name);
/** ferry_mig_state_from_string: Returns: the state, or -1 if @name is none. */
int ferry_mig_state_from_string(const char *name);

/** ferry_mig_state_is_final: Returns: TRUE for COMPLETED, FAILED and CANCELLED. */
gboolean ferry_mig_state_is_final(ferry_mig_state state);

/**
 * ferry_mig_transition_allowed:
 * @role: the job's role
 * @from_phase, @from_state: where it is
 * @to_phase, @to_state: where it would go
 *
 * The one transition table (migration-job.c), for every driver.
 *
 * Returns: TRUE if the move is legal.
 */
gboolean ferry_mig_transition_allowed(ferry_mig_role role, ferry_mig_phase from_phase,
                                      ferry_mig_state from_state, ferry_mig_phase to_phase,
                                      ferry_mig_state to_state);

/**
 * ferry_mig_params: the job's own copy of a ferry_migrate_params; @p's
 * pointers point into the fields below it.
 */
typedef struct {
    ferry_migrate_params p;
    char *dname;
    char *uri;
    char *dxml;
    char **disks;
} ferry_mig_params;

/** ferry_mig_params_new: Returns: (transfer full): a deep copy of @params. */
ferry_mig_params *ferry_mig_params_new(const ferry_migrate_params *params);
/** ferry_mig_params_free: accepts NULL. */
void ferry_mig_params_free(ferry_mig_params *params);
/** ferry_mig_params_set_uri: replaces the migration URI of the copy. */
void ferry_mig_params_set_uri(ferry_mig_params *params, const char *uri);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_mig_params, ferry_mig_params_free)

typedef struct ferry_mig_job ferry_mig_job;
typedef struct ferry_mig_engine ferry_mig_engine;

/**
 * ferry_mig_job: what the engine and the backends share of a job.  The
 * engine's own bookkeeping (requests waiting, timers, the peer link) is in
 * migration-engine-private.h.
 */
struct ferry_mig_job {
    gint ref;
    GMutex lock;
    ferry_mig_engine *engine;   /* not referenced: the engine outlives its jobs */

    /* Immutable once the job is registered. */
    char *id;                   /* the migration id, shared by both hosts */
    ferry_mig_role role;
    int protocol;               /* 1, 2 or 3 */
    char *dom_name;             /* on this host (the destination's name after dname) */
    char *dom_uuid;
    ferry_mig_params *params;

    /* Engine thread; read by others under lock. */
    ferry_mig_phase phase;
    ferry_mig_state state;
    ferry_domain_obj *obj;      /* the domain, once the job holds it (reference) */
    gboolean holds_domain;      /* the domain's job (obj->job) is this migration's */
    gpointer backend_data;      /* the backend's per-job data */
    GDestroyNotify backend_data_free;
    struct ferry_mig_job_ctl *ctl; /* the engine's bookkeeping (migration-engine-private.h) */
    GDestroyNotify ctl_free;
    char *message;              /* why it failed or what it waits for (lock) */
    int error_code;             /* the ferry_error_code of its failure, 0 if none */
    char *peer_uri;             /* how this host's daemon reaches the other one */
    GPtrArray *created_images;  /* destination: images Prepare created (for the record) */
    GSocket *tunnel;            /* tunnelled (lock): this host's QEMU's end of the tunnel,
                                 * from Prepare or Perform until the backend hands it over
                                 * (docs/tunnelled.md) */
    gboolean may_have_run;      /* destination: found committed by a restarted ferryd; the
                                 * guest may have run here, so every answer about the job
                                 * says so, whatever became of the copy (recorded) */

    /* Statistics (lock).  Times are g_get_monotonic_time() unless named
     * _real (g_get_real_time(), comparable across hosts). */
    ferry_job_info info;        /* what get_job_stats reports, kept current */
    gint64 started_us;
    gint64 ended_us;
    gint64 transfer_us;         /* Perform began */
    gint64 disks_ready_us;      /* the disk copies reached sync (storage) */
    gint64 memory_us;           /* the memory copy began */
    gint64 stopped_us;          /* source: the CPUs stopped for the switch-over */
    gint64 stopped_real;
    gint64 resumed_real;        /* destination: the CPUs ran again */
};

/**
 * ferry_mig_job_new:
 * @engine: its engine
 * @id: the migration id
 * @role: source or destination
 * @protocol: 1, 2 or 3
 * @dom_name: the domain's name on this host
 * @dom_uuid: its uuid
 * @params: (transfer full): the job's parameters
 *
 * Returns: (transfer full): a job in (NONE, NEW).
 */
ferry_mig_job *ferry_mig_job_new(ferry_mig_engine *engine, const char *id, ferry_mig_role role,
                                 int protocol, const char *dom_name, const char *dom_uuid,
                                 ferry_mig_params *params);
/** ferry_mig_job_ref: Returns: @job. */
ferry_mig_job *ferry_mig_job_ref(ferry_mig_job *job);
/** ferry_mig_job_unref: accepts NULL. */
void ferry_mig_job_unref(ferry_mig_job *job);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_mig_job, ferry_mig_job_unref)

/**
 * ferry_mig_job_take_cookie_stats:
 * @job: a job
 * @cookie: a cookie from the other host, with or without statistics
 *
 * Copies the statistics the other host sent into @job's information: how
 * the destination learns what the transfer took (lock taken here).
 */
void ferry_mig_job_take_cookie_stats(ferry_mig_job *job, const ferry_migration_cookie *cookie);

/**
 * ferry_mig_job_set_message:
 * @job: a job
 * @code: a ferry_error_code, or 0 when the message is no failure
 * @fmt: printf format of the message
 *
 * Sets what the job info says of the job (lock taken here).
 */
void ferry_mig_job_set_message(ferry_mig_job *job, int code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/**
 * ferry_mig_job_get_info:
 * @job: a job
 * @ret_info: (out): its information, phase, state and times filled in
 */
void ferry_mig_job_get_info(ferry_mig_job *job, ferry_job_info *ret_info);

/**
 * ferry_mig_record_path:
 * @dir: the records directory
 * @dom_uuid: a domain uuid
 *
 * Returns: (transfer full): where that domain's job record lives.
 */
char *ferry_mig_record_path(const char *dir, const char *dom_uuid);

/**
 * ferry_mig_job_write_record:
 * @job: a job
 * @dir: (nullable): the records directory; NULL keeps no record
 * @phase: the phase the job is about to enter
 * @state: the state it is about to enter
 * @error: return location for an error (FERRY_ERROR_SYSTEM)
 *
 * Writes the job's record as it will be after the transition: id, role,
 * phase, state, domain, peer, protocol, flags, created images, message,
 * times.  Written to a temporary file, synced to the disk (fsync), renamed
 * over the record, the directory synced: a crash of the daemon or of the
 * host leaves the old record or the new one.
 *
 * Returns: TRUE on success (always, when @dir is NULL).
 */
gboolean ferry_mig_job_write_record(ferry_mig_job *job, const char *dir, ferry_mig_phase phase,
                                    ferry_mig_state state, GError **error);

/**
 * ferry_mig_record: a job record read back from disk.
 */
typedef struct {
    char *id;
    ferry_mig_role role;
    ferry_mig_phase phase;
    ferry_mig_state state;
    char *dom_name;
    char *dom_uuid;
    char *peer_uri;
    int protocol;
    guint flags;
    char **created_images;
    char *message;
    gboolean may_have_run;      /* the job's may_have_run */
    ferry_job_info *stats;      /* an ended job's final statistics (NULL: none kept) */
} ferry_mig_record;

/**
 * ferry_mig_record_read:
 * @path: a record file
 * @error: return location for an error naming the file and what is wrong
 *
 * Returns: (transfer full): the record, or NULL.
 */
ferry_mig_record *ferry_mig_record_read(const char *path, GError **error);
/** ferry_mig_record_free: accepts NULL. */
void ferry_mig_record_free(ferry_mig_record *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_mig_record, ferry_mig_record_free)

G_END_DECLS
