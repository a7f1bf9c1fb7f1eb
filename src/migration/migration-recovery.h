/*
 * migration-recovery.h: what a restarted daemon does with the migrations
 * the previous one left -- one table, role x phase x state x what the
 * hypervisor says -> action, documented in docs/recovery.md.
 *
 * Owns: the recovery table (ferry_mig_recovery_decide(), a pure function,
 * unit-tested against the document's table) and reading the records back
 * at start (ferry_mig_engine_recover()).  Must not: act on a hypervisor
 * (the backend's probe answers, the role handlers act) or decide anything
 * the table does not say.
 */
#pragma once

#include "migration/migration-backend.h"

G_BEGIN_DECLS


/** What recovery does with a job it found in a record. */
typedef enum {
    FERRY_MIG_RECOVER_KEEP = 0,     /* ended: only remembered, so that the peer's
                                     * questions about its id get the true answer */
    FERRY_MIG_RECOVER_ROLLBACK,     /* source, nothing in doubt: stop the transfer, run
                                     * the guest again if the migration paused it, tell
                                     * the destination to drop its side */
    FERRY_MIG_RECOVER_ASK,          /* source, in doubt: ask the destination's daemon to
                                     * finish (for as long as it takes); stop the source
                                     * if it runs the guest, resume it if it refuses */
    FERRY_MIG_RECOVER_DISCARD,      /* destination, not committed: drop the incoming side;
                                     * a later Finish of the id is refused */
    FERRY_MIG_RECOVER_ACTIVATE,     /* destination, committed: run the guest (it is the
                                     * one copy) and end completed */
} ferry_mig_recovery_action;

/**
 * ferry_mig_recovery_action_to_string:
 * @action: an action
 *
 * Returns: its name in docs/recovery.md ("keep", "rollback", "ask",
 *   "discard", "activate").
 */
const char *ferry_mig_recovery_action_to_string(ferry_mig_recovery_action action);

/**
 * ferry_mig_recovery_decide:
 * @role: the job's role
 * @phase: the phase of its record
 * @state: the state of its record
 * @transfer: what the hypervisor says of the domain's process and transfer
 *
 * The recovery table.  Where the outcome depends on the other host, the
 * answer is FERRY_MIG_RECOVER_ASK: the source never resumes a guest that
 * may run elsewhere without the destination's word.
 *
 * Returns: the action.
 */
ferry_mig_recovery_action ferry_mig_recovery_decide(ferry_mig_role role, ferry_mig_phase phase,
                                                    ferry_mig_state state,
                                                    ferry_mig_probe_transfer transfer);

/**
 * ferry_mig_engine_recover:
 * @engine: a new engine, whose domains were loaded and re-attached
 *
 * Reads every job record of the engine's record directory and resolves
 * each unfinished job by the recovery table, asynchronously, in the
 * engine's thread: a source in doubt keeps asking its peer until it
 * answers.  Ended jobs are remembered so that a peer asking about them
 * gets their outcome.  Call once, at start.
 */
void ferry_mig_engine_recover(ferry_mig_engine *engine);

G_END_DECLS
