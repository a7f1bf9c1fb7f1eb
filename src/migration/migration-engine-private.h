/*
 * migration-engine-private.h: what the engine's files share -- the engine
 * itself, the engine's bookkeeping of each job, the events a job handles,
 * and the helpers the source and destination handlers use.
 *
 * Must not be included outside src/migration/.
 *
 * The model: each job has a queue of events (a phase call, a backend
 * event, a finished step, a peer's answer, a timer, its client leaving).
 * The engine thread takes them one at a time, per job, and hands each to
 * the job's role handler (migration-source.c, migration-dest.c), which
 * moves the job along the transition table and starts at most one
 * operation at a time: a step (a backend operation on a step thread) or a
 * peer call (asynchronous).  While that operation runs, the job's other
 * events wait in its queue, so a handler never sees two things at once.
 */
#pragma once

#include "locking/lock-manager.h"
#include "migration/migration-engine.h"
#include "migration/migration-policy.h"
#include "migration/migration-recovery.h"

G_BEGIN_DECLS

struct ferry_mig_engine {
    char *host_uuid;
    char *hostname;
    char *peer_uri;
    char *record_dir;
    char *hook_path;
    char *fail_phase;
    guint abandon_seconds;
    gboolean nbd;
    ferry_domain_obj_list *domains;
    ferry_event_bus *bus;
    const ferry_mig_backend *backend;
    gpointer backend_self;
    const ferry_driver **peer_drivers;
    ferry_lock_manager *locks;      /* reference, or NULL: no leases */

    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    GThreadPool *steps;

    GMutex lock;                    /* guards the tables and `stopping` */
    GHashTable *active;             /* domain uuid -> ferry_mig_job* (ref): running jobs */
    GHashTable *by_id;              /* migration id -> ferry_mig_job* (ref): running and
                                     * recently ended jobs (a peer may ask about them) */
    GHashTable *last;               /* domain uuid -> ferry_mig_job* (ref): the last ended */
    GQueue ended;                   /* ids of ended jobs, oldest first (owned strings) */
    GPtrArray *runners;             /* ferry_mig_runner*: peer-to-peer sequences */
    GCond runners_cond;             /* signalled when a runner ends */
    gboolean stopping;
    gint halted;                    /* atomic: the engine thread ended; events are
                                     * dropped, no step starts */
};

typedef struct ferry_mig_runner ferry_mig_runner;

/** The kinds of event a job handles. */
typedef enum {
    EV_BACKEND = 1,     /* a ferry_mig_event_kind in `kind` */
    EV_REQUEST,         /* a call: a req_kind in `kind`, its GTask in `task` */
    EV_STEP_DONE,       /* a step ended: its step id in `kind`, `ok`, `error` */
    EV_PEER_DONE,       /* a peer call ended: its peer_kind in `kind`, `result`, `error` */
    EV_TIMER,           /* a timer_kind in `kind` */
    EV_CONN_CLOSED,     /* the client driving the job went away */
    EV_SIDE_DONE,       /* a side step ended (ferry_mig_run_side_step): its id in
                         * `kind`, `ok`, `error`; the job was not busy with it */
} ev_type;

/** The calls a job serves. */
typedef enum {
    REQ_PERFORM = 1,
    REQ_FINISH,
    REQ_CONFIRM,
    REQ_ABORT,
    REQ_CANCEL,         /* a peer's "cancel migration ID" */
    REQ_POSTCOPY,       /* source: switch to post-copy now */
    REQ_RECOVER,        /* destination: listen again for a paused post-copy */
    REQ_RESUME,         /* source: resume a paused post-copy now (by hand) */
} req_kind;

/* Where a source's post-copy is (ctl->postcopy). */
typedef enum {
    PC_NONE = 0,        /* pre-copy only (so far) */
    PC_WANTED,          /* to be requested once memory is sent and no step runs */
    PC_REQUESTED,       /* the hypervisor was told; it switches after its pass */
    PC_ACTIVE,          /* switched: the guest is split between the hosts */
    PC_PAUSED,          /* its link broke; both halves wait */
    PC_RECOVERING,      /* the hypervisor was told to resume it */
    PC_DONE,            /* every page went */
} postcopy_step;

typedef enum {
    TIMER_PROGRESS = 1, /* source: refresh the statistics, emit a progress event */
    TIMER_TIMEOUT,      /* source: the caller's timeout expired */
    TIMER_WATCHDOG,     /* both: a phase is overdue */
    TIMER_RETRY,        /* source: ask the destination again; destination: ask the
                         * source what became of a migration left waiting */
    TIMER_FINISH,       /* destination: the data did not arrive in time */
    TIMER_RECOVER,      /* source: try again to resume a paused post-copy */
    TIMER_CANCEL,       /* destination: the source cancelled, its stream did not end */
} timer_kind;

typedef enum {
    PEER_FINISH = 1,    /* Finish3 of the job's id on the destination */
    PEER_CANCEL,        /* cancel the job's id on the destination */
    PEER_QUERY,         /* destination: what became of the job's id on the source */
    PEER_RECOVER,       /* source: have the destination listen again (post-copy) */
} peer_kind;

typedef struct {
    ev_type type;
    int kind;
    gint64 value;
    char *message;
    gboolean ok;
    GError *error;
    GTask *task;                    /* EV_REQUEST: the call (owned) */
    ferry_conn *conn;               /* EV_REQUEST: the connection it came on (identity) */
    int outcome;                    /* REQ_CONFIRM: a ferry_confirm_outcome;
                                     * REQ_FINISH: cancelled */
    ferry_migration_cookie *cookie; /* REQ_*: the parsed cookie_in, if any */
    ferry_mig_params *params;       /* REQ_*: the call's parameters */
    ferry_phase_result *result;     /* EV_PEER_DONE */
    ferry_domain_def *def;          /* EV_BACKEND INCOMING_DONE (v1) */
} ferry_mig_event;

void ferry_mig_event_free(ferry_mig_event *ev);

/** The engine's bookkeeping of one job (job->ctl). */
typedef struct ferry_mig_job_ctl {
    /* Under job->lock: */
    GQueue events;                  /* ferry_mig_event*, waiting to be handled */
    gboolean pump_queued;
    /* Engine thread only: */
    gboolean busy;                  /* a step or a peer call is in flight */
    int busy_what;                  /* its step id or peer_kind, for the log */
    GTask *phase_task;              /* the phase call the job answers next */
    GPtrArray *waiters;             /* ferry_mig_waiter*: calls answered when the job ends
                                     * (abort, cancel, a duplicate Finish) */
    ferry_conn *driver;             /* the connection driving the job, or NULL */
    gboolean client_gone;
    gboolean registered;            /* in the engine's tables */
    gboolean aborting;              /* an abort is under way: end CANCELLED */
    int end_code;                   /* the ferry_error_code to fail calls with */
    int xfer;                       /* the transfer's step (xfer_step) */
    gboolean was_running;           /* source: the guest ran when the transfer began */
    gboolean suspended;             /* source: paused by the timeout action */
    gboolean storage;
    gboolean offline;
    gboolean takeover;              /* source: the daemon finishes the migration itself */
    gboolean p2p;                   /* source: run by this daemon (peer-to-peer), not by
                                     * the client whose connection it came on */
    GCancellable *runner;           /* source, p2p: the sequence's (a reference), told
                                     * when the job ends before Perform */
    int doubt_intent;               /* source in doubt: PEER_FINISH or PEER_CANCEL */
    gboolean sent_finish;           /* source: this daemon itself sent a Finish (so the
                                     * client cannot know it was never sent) */
    int confirm_outcome;            /* the pending Confirm's ferry_confirm_outcome */
    guint retry_delay_s;
    guint stop_failures;            /* source: stopping it failed this often */
    gint64 progress_us;             /* source: when the statistics were last asked for */
    ferry_migration_cookie *prepared; /* source: Prepare's cookie (NBD, peer URI) */
    ferry_migration_cookie *out;    /* source: the statistics Perform hands out */
    char *xml_out;                  /* source: Begin's XML */
    /* Destination */
    gboolean created;               /* Prepare created the domain object */
    gboolean receiving;             /* data began to arrive */
    gboolean received;              /* everything arrived */
    gboolean source_paused;         /* the guest was paused on the source before */
    ferry_domain_def *def;          /* Prepare: the incoming definition until it is added */
    ferry_domain_def *arrived_def;  /* v1: the definition the data brought */
    ferry_migration_cookie *cookie_in; /* destination: Begin's (or Perform's) cookie */
    char *uri_out;
    char *out_cookie;               /* destination: Prepare's cookie out */
    ferry_conn *finish_conn;        /* destination: the connection Finish came on */
    gboolean persisted;             /* destination: Finish defined it persistently */
    gboolean cancel_pending;        /* destination: an abort waits for the step in flight */
    char *cancel_deferred;          /* destination: the source cancelled while its stream
                                     * flowed (why); this QEMU goes once the stream ended */
    gboolean launching;             /* destination: QEMU is being launched after Prepare
                                     * answered (STEP_LAUNCH in flight) */
    gboolean discard_pending;       /* destination: rolled back while QEMU was being
                                     * launched; the discard follows that step */
    ferry_mig_event *held_finish;   /* destination: a Finish that came while QEMU was
                                     * being launched, handled after that step */
    gboolean tell_source;           /* destination: aborted here; the source must know */
    gboolean tell_dest;             /* source: aborted here (not by the destination): the
                                     * destination hears it before its stream breaks */
    gint64 last_phase_us;           /* for the watchdog */
    GSource *timers[TIMER_CANCEL + 1];
    ferry_conn *peer;               /* the other host's daemon, opened when needed */
    peer_kind peer_next;            /* the peer call waiting for the connection */
    ferry_mig_probe recovered;      /* recovery: what the hypervisor said (STEP_PROBE) */
    /* Post-copy (source): */
    int postcopy;                   /* postcopy_step */
    GPtrArray *postcopy_calls;      /* GTask*: REQ_POSTCOPY calls answered once the
                                     * hypervisor was told (or refused) */
    gboolean side_busy;             /* a side step runs (statistics during post-copy) */
    gboolean postcopy_sent;         /* every page went while a side step ran: the final
                                     * figures follow it */
    guint recover_delay_s;          /* the next wait before resuming a paused post-copy */
    ferry_policy *policy;           /* the convergence policy, or NULL (off) */
    int policy_action;              /* a ferry_policy_step (RAISE_DOWNTIME, THROTTLE) waiting
                                     * for the step in flight; WAIT: none */
    guint64 policy_pass;            /* a pass whose fresh figures the policy waits for */
    gint64 policy_pass_us;          /* when that pass began: figures asked for before
                                     * it are the last pass's */
    gboolean stop_after_postcopy;   /* Confirm came before every page went: the source
                                     * stops once they have */
    /* Post-copy (destination): */
    gboolean postcopy_in;           /* post-copy: the devices' state arrived; pages still
                                     * come (the job lasts until they all did) */
    gboolean postcopy_in_complete;  /* post-copy: the last page arrived */
    GTask *recover_task;            /* post-copy paused: the source's REQ_RECOVER */
    GTask *resume_task;             /* source: REQ_RESUME, answered by this attempt */
    char *peer_uri_before;          /* the peer's URI before REQ_RESUME named another: back
                                     * to it if that one fails */
    char *recover_uri;              /* where this host listens again for it */
    /* Snapshots (migration-snapshots.c): */
    GPtrArray *snap_docs;           /* source: the XML offered in Begin's cookie; under
                                     * job->lock (the destination's daemon takes it
                                     * from another thread) */
    GPtrArray *snap_names;          /* source: their names, for messages */
    char *snap_token;               /* source: what the destination presents; job->lock */
    guint snap_moved;               /* source: the destination redefined this many
                                     * (Prepare's cookie); destination: redefined here */
    guint snap_left;                /* source: this many stay here (FORCE) */
    char *snap_note;                /* source: which stay on which host, and why */
    gboolean snap_imported;         /* destination: redefined here; dropped on rollback */
} ferry_mig_job_ctl;

/* A call answered when its job ends (ctl->waiters). */
typedef struct {
    GTask *task;
    req_kind kind;
    int outcome;                    /* REQ_CONFIRM: its ferry_confirm_outcome */
    ferry_conn *conn;               /* the connection it came on (identity, handles) */
} ferry_mig_waiter;

/* Where a source's transfer is. */
typedef enum {
    XFER_NONE = 0,
    XFER_DISKS,         /* disks copying, memory not started */
    XFER_MEMORY,        /* memory copying */
    XFER_SWITCHOVER,    /* at the switch-over */
    XFER_CANCELLING,
    XFER_SENT,
} xfer_step;

/* ------------------------------------------------------------------------ */
/* migration-engine.c                                                        */
/* ------------------------------------------------------------------------ */

/* A step: runs on a step thread, fills what it produces into @data. */
typedef gboolean (*ferry_mig_step_fn)(ferry_mig_job *job, gpointer data, GError **error);

/* Starts step @id on a step thread; EV_STEP_DONE with @id comes back. */
void ferry_mig_run_step(ferry_mig_job *job, int id, ferry_mig_step_fn fn, gpointer data);

/* Starts step @id on a step thread without making the job busy (only for
 * steps that may run beside any other, such as reading statistics);
 * EV_SIDE_DONE with @id comes back. */
void ferry_mig_run_side_step(ferry_mig_job *job, int id, ferry_mig_step_fn fn, gpointer data);

/* A new event of @type and @kind, for ferry_mig_job_post(). */
ferry_mig_event *ferry_mig_event_new(ev_type type, int kind);

/* Queues @ev (taken) for the job, handled on the engine thread; any
 * thread. */
void ferry_mig_job_post(ferry_mig_job *job, ferry_mig_event *ev);

/* A task for a call a job answers: its @kind as task data, never checked
 * for cancellation (the job's answer is the truth; a call is stopped
 * through the job). */
GTask *ferry_mig_task_new(GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data, req_kind kind);

/* Posts a call (@task, taken) to the job it belongs to; @cookie is taken,
 * @params copied. */
void ferry_mig_post_request(ferry_mig_job *job, req_kind kind, GTask *task, ferry_conn *conn,
                            ferry_migration_cookie *cookie, const ferry_migrate_params *params,
                            int outcome, const char *message);

/* ---- migration-peer.c ---- */

/* The step id of opening the connection to the peer. */
#define STEP_PEER_OPEN 1000

/* Starts a peer call on the job's peer (opened first if needed);
 * EV_PEER_DONE with @kind comes back. */
void ferry_mig_run_peer(ferry_mig_job *job, peer_kind kind);

/* Makes peer call @kind now (engine thread; the peer is open). */
void ferry_mig_peer_call_start(ferry_mig_job *job, peer_kind kind);

/* Moves the job (writing its record first); a move the table forbids is a
 * bug: logged critical, refused. */
gboolean ferry_mig_move(ferry_mig_job *job, ferry_mig_phase phase, ferry_mig_state state);

/* Ends the job in @state (COMPLETED, FAILED, CANCELLED): answers its calls,
 * releases the domain, keeps the statistics, emits JOB_ENDED. */
void ferry_mig_end(ferry_mig_job *job, ferry_mig_state state);

/* Keeps the call of @ev (a REQ_*) to be answered when the job ends. */
void ferry_mig_add_waiter(ferry_mig_job *job, ferry_mig_event *ev);
/* Answers a kept call from the job's outcome (also for calls that come
 * after the end). */
void ferry_mig_answer_waiter(ferry_mig_job *job, ferry_mig_waiter *w);

/* Answers the job's pending phase call. */
void ferry_mig_reply(ferry_mig_job *job, ferry_phase_result *result);
void ferry_mig_reply_error(ferry_mig_job *job, const GError *error);

/* (Re)arms / stops a timer of the job. */
void ferry_mig_timer_start(ferry_mig_job *job, timer_kind kind, guint interval_ms,
                           gboolean repeat);
void ferry_mig_timer_stop(ferry_mig_job *job, timer_kind kind);

/* Sets the domain's state, records it and emits @lifecycle (-1: none). */
void ferry_mig_set_domain_state(ferry_mig_job *job, int state, int reason, int lifecycle);

/* Emits a job event (FERRY_EVENT_JOB_*) with the job's current info. */
void ferry_mig_emit_job_event(ferry_mig_job *job, int type);

/* Fault injection (migration-fault.c): the fault FERRY_FAULT names for
 * @point, if any -- an error for "fail", the daemon killed or stopped. */
gboolean ferry_mig_fault(ferry_mig_job *job, const char *point, GError **error);

/* Fails on purpose when the engine's fail_phase is @phase, or FERRY_FAULT
 * says so (tests). */
gboolean ferry_mig_inject(ferry_mig_job *job, const char *phase, GError **error);

/* Protocol v1: the domain a destination job waited for arrived; the job is
 * now known by its name and uuid. */
void ferry_mig_rekey(ferry_mig_job *job, const char *name, const char *uuid);

/* The job's engine bookkeeping. */
static inline ferry_mig_job_ctl *
ctl_of(ferry_mig_job *job)
{
    return job->ctl;
}

/* The job's engine and its driver's backend. */
static inline ferry_mig_engine *
engine_of(ferry_mig_job *job)
{
    return job->engine;
}

static inline const ferry_mig_backend *
backend_of(ferry_mig_job *job)
{
    return job->engine->backend;
}

/* Fails @task (taken) with @code and @message. */
void ferry_mig_fail_task(GTask *task, int code, const char *message);

/* A cookie out with this host's identity and the job's id. */
ferry_migration_cookie *ferry_mig_cookie_new(ferry_mig_job *job);

/* A GAsyncReadyCallback that stores the result in *(GAsyncResult **)data,
 * for waiting on a private context. */
void ferry_mig_store_result(GObject *source, GAsyncResult *result, gpointer data);

/* Tells the other host's daemon to drop migration @job->id, waiting for
 * its answer on a private context (a step thread; the job's peer_uri). */
void ferry_mig_peer_cancel_sync(ferry_mig_job *job);

/* Errors that leave a peer's answer unknown (the call may or may not have
 * been acted on). */
gboolean ferry_mig_error_is_doubt(const GError *error);

/* ------------------------------------------------------------------------ */
/* migration-source.c / migration-dest.c                                     */
/* ------------------------------------------------------------------------ */

/* Handles one event of a source / destination job (engine thread). */
void ferry_mig_source_handle(ferry_mig_job *job, ferry_mig_event *ev);
void ferry_mig_dest_handle(ferry_mig_job *job, ferry_mig_event *ev);

/* The first phase of each side, which creates the job. */
void ferry_mig_source_begin(ferry_mig_job *job);
void ferry_mig_dest_prepare(ferry_mig_job *job);

/* The engine stops (its thread has ended): an incoming migration that has
 * not committed is dropped at once, its domain and images removed and its
 * record final, so that nothing half-arrived is left behind. */
void ferry_mig_dest_shutdown(ferry_mig_job *job);

/* Restart recovery (migration-recovery.c decides, these act): a job
 * re-created from its record, its hypervisor's answer in @probe, resolved
 * as @action says.  Engine thread. */
void ferry_mig_source_recover(ferry_mig_job *job, const ferry_mig_probe *probe,
                              ferry_mig_recovery_action action);
void ferry_mig_dest_recover(ferry_mig_job *job, const ferry_mig_probe *probe,
                            ferry_mig_recovery_action action);

/* ---- migration-lease.c (docs/leases.md) ---- */

/* Takes the domain's lease for this host (before its guest runs here). */
gboolean ferry_mig_lease_acquire(ferry_mig_job *job, GError **error);
/* Drops it (the source, once its guest is paused for good). */
void ferry_mig_lease_release(ferry_mig_job *job);
/* Begin: the source's lease state into its cookie. */
void ferry_mig_lease_to_cookie(ferry_mig_job *job, ferry_migration_cookie *cookie);
/* Prepare: refuses a source that does not share this host's lockspace. */
gboolean ferry_mig_lease_check_cookie(ferry_mig_job *job, const ferry_migration_cookie *cookie,
                                      GError **error);

/* ---- migration-engine.c, for migration-recovery.c ---- */

/* A job object with the engine's bookkeeping, in (NONE, NEW). */
ferry_mig_job *ferry_mig_job_create(ferry_mig_engine *engine, const char *id,
                                    ferry_mig_role role, int protocol, const char *name,
                                    const char *uuid, const ferry_migrate_params *params);

/* Registers a job as the domain's running one; refuses a second. */
gboolean ferry_mig_job_register(ferry_mig_job *job, GError **error);

/* The step id of asking the backend what its hypervisor says (recovery). */
#define STEP_PROBE 1001

/* STEP_PROBE ended: decides by the recovery table and acts (engine thread). */
void ferry_mig_recovery_probed(ferry_mig_job *job, const ferry_mig_probe *probe);

/* ------------------------------------------------------------------------ */
/* migration-p2p.c                                                           */
/* ------------------------------------------------------------------------ */

/* Runs a peer-to-peer migration; @task (taken) is the client's Perform3. */
void ferry_mig_p2p_start(ferry_mig_engine *engine, ferry_domain *dom,
                         const ferry_migrate_params *params, const char *dconn_uri,
                         GTask *task);

/* Stops the peer-to-peer sequences between phases and waits (bounded) for
 * them to end; the engine thread must still run. */
void ferry_mig_p2p_stop_all(ferry_mig_engine *engine);

/* Is @cancellable a peer-to-peer sequence's?  Then the call comes from the
 * daemon itself: the job it starts outlives its client's connection. */
gboolean ferry_mig_p2p_is_runner(ferry_mig_engine *engine, GCancellable *cancellable);

/* The source job of the sequence whose cancellable is @cancellable ended
 * before Perform (aborted, abandoned): stops that sequence, which may
 * wait on the destination, and makes @why (taken) its outcome.  Engine
 * thread. */
void ferry_mig_p2p_stop_runner(ferry_mig_engine *engine, GCancellable *cancellable,
                               GError *why);

/* ------------------------------------------------------------------------ */
/* migration-snapshots.c (docs/snapshots.md)                                 */
/* ------------------------------------------------------------------------ */

/* Source, Begin (v3) or the first Perform (v2, v1): takes the domain's
 * snapshots from the backend into the job (a step). */
void ferry_mig_snap_collect(ferry_mig_job *job);
/* How many snapshots the job holds (collected, not left behind). */
guint ferry_mig_snap_count(ferry_mig_job *job);
/* "'s1', 's2', 's3'" (at most 16, then "and N more"). */
char *ferry_mig_snap_names_text(const GPtrArray *names);
/* FORCE: the snapshots stay here, for the reason @why ("a storage
 * migration does not copy ..."); the statistics and the log say which. */
void ferry_mig_snap_leave(ferry_mig_job *job, const char *why);
/* Begin: offers what the job holds in @cookie, under a new token. */
gboolean ferry_mig_snap_offer(ferry_mig_job *job, ferry_migration_cookie *cookie,
                              GError **error);
/* Perform: whether Prepare's cookie says the destination took every
 * snapshot offered (TRUE too when none was). */
gboolean ferry_mig_snap_taken(ferry_mig_job *job, const ferry_migration_cookie *prepared);
/* The snapshots moved / left behind, into the source's statistics cookie. */
void ferry_mig_snap_fill(ferry_mig_job *job, ferry_migration_cookie *cookie);
/* Confirm, the guest moved: the source forgets what the destination took. */
void ferry_mig_snap_source_done(ferry_mig_job *job);
/* Destination, Prepare (a step, after the domain was added): fetches and
 * redefines what Begin's cookie @in offers, saying so in @out.  Fails,
 * naming the snapshot or the offset, when they cannot be taken. */
gboolean ferry_mig_snap_pull(ferry_mig_job *job, const ferry_migration_cookie *in,
                             ferry_migration_cookie *out, GError **error);
/* Destination, Finish: says in @out what Prepare redefined. */
void ferry_mig_snap_dest_finished(ferry_mig_job *job, ferry_migration_cookie *out);
/* Destination, rollback: forgets what Prepare redefined (a step). */
void ferry_mig_snap_dest_discard(ferry_mig_job *job);

/* ------------------------------------------------------------------------ */
/* migration-hook.c                                                          */
/* ------------------------------------------------------------------------ */

/* Runs the hook (argv: NAME migrate begin|prepare; the XML on stdin). */
gboolean ferry_mig_hook_run(const char *hook_path, const char *name, const char *op,
                            const char *phase, const char *xml, GError **error);

G_END_DECLS
