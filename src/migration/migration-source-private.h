/*
 * migration-source-private.h: what the source side's files share --
 * migration-source.c (Begin, Perform, the rollback, the dispatch),
 * migration-source-postcopy.c (the switch to post-copy, a paused
 * post-copy resumed), migration-source-converge.c (the convergence
 * policy's decisions carried out, the downtime cap) and
 * migration-source-confirm.c (the commit zone and Confirm) and
 * migration-source-safety.c (the rules that refuse a migration).  Nothing but
 * src/migration/migration-source*.c includes it.
 */
#pragma once

#include "migration/migration-engine-private.h"

G_BEGIN_DECLS

#define NON_SHARED ((guint)(FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC))
/* How often the statistics of a running transfer are refreshed. */
#define PROGRESS_INTERVAL_MS 1000
/* The first figures of a transfer, when it lasts that long. */
#define FIRST_PROGRESS_MS 500
/* Figures at a pass no sooner than this after the last. */
#define PASS_PROGRESS_GAP_MS 1000
/* The longest wait between two questions to an unreachable destination. */
#define RETRY_MAX_SECONDS 30

typedef enum {
    STEP_BEGIN = 1,
    STEP_START,         /* Perform: limits, then disks or memory */
    STEP_MEMORY,        /* Perform: memory, once the disks are in sync */
    STEP_SWITCHOVER,
    STEP_SENT,          /* final statistics */
    STEP_PROGRESS,
    STEP_CANCEL,
    STEP_PAUSE,
    STEP_ROLLBACK,      /* resume the source */
    STEP_STOP,          /* Confirm: the source's process goes */
    STEP_TAKE,          /* v1/v2 Perform: the domain's job taken */
    STEP_POSTCOPY,      /* tell the hypervisor to switch to post-copy */
    STEP_RESUME,        /* resume a paused post-copy's stream */
    STEP_POLICY,        /* the policy's action: a new downtime limit, or the throttle */
    SIDE_PROGRESS,      /* side steps: statistics during post-copy */
    SIDE_SENT,          /*   and the final ones once every page went */
} source_step;

/* Fault injection (migration-fault.c, "perform-mid:misjudge"): QEMU is
 * told a downtime limit of ten minutes, as if its own judgement of the
 * switch-over were that far off; the downtime cap must catch it.  A
 * policy action of its own (ferry_mig_src_policy_go()). */
#define FAULT_MISJUDGE 100
#define MISJUDGED_DOWNTIME_MS 600000

/* migration-source.c */

/* Records why the job fails and with which code its calls fail. */
/* The safety rules (migration-source-safety.c): refuses a migration that
 * would lose or corrupt the guest's data unless FERRY_MIGRATE_FORCE (and
 * always one with host devices), naming each disk or device.  obj->lock
 * not held. */
gboolean ferry_mig_src_check_safety(ferry_mig_job *job, GError **error);
/* The snapshot rule at Perform: Begin offered snapshots and @prepared
 * (Prepare's cookie) does not say the destination took them all: refused
 * with FERRY_ERROR_MIGRATE_SNAPSHOTS unless FORCE (then they stay here). */
gboolean ferry_mig_src_check_snapshots_taken(ferry_mig_job *job,
                                             const ferry_migration_cookie *prepared,
                                             GError **error);

void ferry_mig_src_set_failure(ferry_mig_job *job, const GError *error);
/* The outcome an abort-like event gives: cancelled, saying @why. */
void ferry_mig_src_abort_reason(ferry_mig_job *job, const char *why);
/* A request the job cannot take in its state: answered with an error. */
void ferry_mig_src_fail_request(ferry_mig_job *job, ferry_mig_event *ev);
/* Resumes the source (a step), the job ending @final. */
void ferry_mig_src_rollback(ferry_mig_job *job, ferry_mig_state final);

/* The statistics cookie of Perform, and of Confirm once ended. */
ferry_migration_cookie *ferry_mig_src_stats_cookie(ferry_mig_job *job);
/* Reads the backend's figures into the job's information (a step; @data:
 * TRUE for the final ones). */
gboolean ferry_mig_src_step_progress(ferry_mig_job *job, gpointer data, GError **error);
/* The commit point: what the source measured at the hand-over, into @out. */
void ferry_mig_src_record_handover(ferry_mig_job *job, ferry_migration_cookie *out);
/* Answers the pending Perform call with its cookie. */
void ferry_mig_src_answer_perform(ferry_mig_job *job);
/* Everything was sent: the commit zone. */
void ferry_mig_src_sent(ferry_mig_job *job);
/* The source's CPUs stopped for the switch-over (@ev->value: when). */
void ferry_mig_src_record_stop(ferry_mig_job *job, ferry_mig_event *ev);
/* Confirm: the source's process goes (a step). */
gboolean ferry_mig_src_step_stop(ferry_mig_job *job, gpointer data, GError **error);

/* migration-source-postcopy.c */

/* Moves post-copy along; job info says where it is. */
void ferry_mig_src_set_postcopy(ferry_mig_job *job, postcopy_step step);
/* Tells the hypervisor to switch, once no other step runs. */
void ferry_mig_src_postcopy_go(ferry_mig_job *job);
/* The switch was told (STEP_POSTCOPY done). */
void ferry_mig_src_postcopy_told(ferry_mig_job *job, ferry_mig_event *ev);
/* A wish for post-copy: the user's call (@ev), or the job's own (@why). */
void ferry_mig_src_postcopy_request(ferry_mig_job *job, ferry_mig_event *ev, const char *why);
/* The hypervisor switched: the guest runs on the destination. */
void ferry_mig_src_postcopy_began(ferry_mig_job *job);
/* A paused post-copy: tries to resume it again after a back-off. */
void ferry_mig_src_recover_later(ferry_mig_job *job, const char *why);
/* ferry migrate --postcopy-resume: the next try now. */
void ferry_mig_src_resume_by_hand(ferry_mig_job *job, ferry_mig_event *ev);
/* The events of a job in post-copy; TRUE if it took @ev. */
gboolean ferry_mig_src_postcopy_event(ferry_mig_job *job, ferry_mig_event *ev);
/* Post-copy failed: the source keeps its half paused, never runs it again. */
void ferry_mig_src_postcopy_lost(ferry_mig_job *job, const char *why);

/* migration-source-converge.c */

/* At the switch-over: whether the downtime cap holds (FALSE with
 * FERRY_ERROR_MIGRATE_HELD if not). */
gboolean ferry_mig_src_check_cap(ferry_mig_job *job, GError **error);
/* Sets the convergence policy up for the transfer about to start. */
void ferry_mig_src_policy_start(ferry_mig_job *job);
/* Carries out the policy's pending action once no other step runs. */
void ferry_mig_src_policy_go(ferry_mig_job *job);
/* After pass @pass: what the policy makes of the latest figures. */
void ferry_mig_src_policy_pass(ferry_mig_job *job, guint64 pass);

/* migration-source-confirm.c */

/* Confirm(OK) or the destination's word that it runs the guest: the
 * source's process goes. */
void ferry_mig_src_confirm_ok(ferry_mig_job *job, const ferry_migration_cookie *finished);
/* Confirm(CANCELLED): the source resumes, the job ends @final. */
void ferry_mig_src_confirm_cancelled(ferry_mig_job *job, ferry_mig_state final);
/* Asks the destination's daemon what became of the guest (@intent). */
void ferry_mig_src_ask_peer(ferry_mig_job *job, peer_kind intent);
/* The events of a job in the commit zone: (PERFORM, WAITING), IN_DOUBT,
 * Finish and Confirm. */
void ferry_mig_src_committed_event(ferry_mig_job *job, ferry_mig_event *ev);

G_END_DECLS
