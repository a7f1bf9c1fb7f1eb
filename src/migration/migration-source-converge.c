/*
 * migration-source-converge.c: on the source, the convergence policy's
 * decisions carried out (migration-policy.c decides, from the figures of
 * each pass: a higher downtime limit, post-copy, the throttle), and the
 * downtime cap checked at the switch-over.
 *
 * Must not: decide anything itself -- the policy module does, and stays
 * pure -- nor wait on QMP in the engine's thread (its actions are steps).
 */
#include "ferry-config.h"

#include "migration/migration-policy.h"
#include "migration/migration-source-private.h"
#include "util/error.h"

/* The downtime cap (max_downtime_cap_ms), checked while QEMU waits at the
 * switch-over with the guest paused: what is left, at the rate the
 * transfer was measured to move, plus the switch-over's own cost.  QEMU
 * judged it by its own figures against a lower limit; should it have
 * misjudged (a link slower than it measured), the guest must not pay: the
 * step fails with FERRY_ERROR_MIGRATE_HELD, the rollback cancels the
 * transfer and runs the guest on, and the sequence tries again with a
 * tighter limit. */
gboolean
ferry_mig_src_check_cap(ferry_mig_job *job, GError **error)
{
    guint64 cap, remaining = 0, rate = 0, predicted;
    g_autofree char *at = NULL;

    if (!backend_of(job)->switch_figures(job, &remaining, &rate, error))
        return FALSE;
    g_mutex_lock(&job->lock);
    cap = job->params->p.max_downtime_cap_ms;
    if (!rate)
        rate = job->info.rate_bps;
    g_mutex_unlock(&job->lock);
    at = rate ? g_strdup_printf("%.1f MiB/s", rate / 1048576.0) : g_strdup("an unknown rate");
    if (ferry_policy_cap_fits(cap, remaining, rate, &predicted)) {
        g_message("domain '%s': migration %s: switch-over: %.1f MiB left at %s, about %"
                  G_GUINT64_FORMAT " ms, within the cap of %" G_GUINT64_FORMAT " ms",
                  job->dom_name, job->id, remaining / 1048576.0, at, predicted, cap);
        return TRUE;
    }
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE_HELD,
                "domain '%s': switch-over held back: %.1f MiB left at %s would pause the "
                "guest %s%" G_GUINT64_FORMAT " ms, over its cap of %" G_GUINT64_FORMAT
                " ms (--max-downtime-cap); the guest runs on the source", job->dom_name,
                remaining / 1048576.0, at, predicted == G_MAXUINT64 ? "for an unknown time, "
                "not " : "about ", predicted == G_MAXUINT64 ? cap : predicted, cap);
    g_message("%s", (*error)->message);
    return FALSE;
}

void
ferry_mig_src_policy_start(ferry_mig_job *job)
{
    const ferry_migrate_params *p = &job->params->p;
    ferry_policy_config config = { 0 };
    ferry_mig_job_ctl *ctl = ctl_of(job);

    g_clear_pointer(&ctl->policy, ferry_policy_free);
    if (p->flags & (FERRY_MIGRATE_NO_POLICY | FERRY_MIGRATE_OFFLINE))
        return;
    /* A limit the caller set is a hard one; QEMU's default may be raised.
     * With --auto-converge QEMU throttles by itself already. */
    ferry_policy_config_init(&config, p->max_downtime_ms, p->max_downtime_cap_ms,
                             (p->flags & FERRY_MIGRATE_POSTCOPY) &&
                             backend_of(job)->start_postcopy,
                             ferry_policy_may_throttle(p->flags) && backend_of(job)->throttle);
    ctl->policy = ferry_policy_new(&config);
}

/* QMP waits: a step, never the engine thread (a stalled QEMU would hold
 * up every job). */
static gboolean
step_policy(ferry_mig_job *job, gpointer data, GError **error)
{
    ferry_policy_step step = GPOINTER_TO_INT(data);
    guint64 downtime;

    if (step == FERRY_POLICY_THROTTLE)
        return backend_of(job)->throttle(job, error);
    if (step == FAULT_MISJUDGE)
        return backend_of(job)->set_tunable(job, FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME,
                                            MISJUDGED_DOWNTIME_MS, error);
    g_mutex_lock(&job->lock);
    downtime = job->params->p.max_downtime_ms;
    g_mutex_unlock(&job->lock);
    return backend_of(job)->set_tunable(job, FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME, downtime,
                                        error);
}

/* Carries out the policy's pending action once no other step runs. */
void
ferry_mig_src_policy_go(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    int step = ctl->policy_action;

    if (!step || ctl->busy || ctl->aborting || ctl->xfer != XFER_MEMORY)
        return;
    ctl->policy_action = FERRY_POLICY_WAIT;
    ferry_mig_run_step(job, STEP_POLICY, step_policy, GINT_TO_POINTER(step));
}

/* After a pass: what the policy makes of the latest figures. */
void
ferry_mig_src_policy_pass(ferry_mig_job *job, guint64 pass)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    ferry_policy_sample sample = { .pass = pass };
    ferry_policy_decision d;

    if (!ctl->policy || ctl->aborting || ctl->xfer != XFER_MEMORY ||
        ctl->postcopy >= PC_WANTED)
        return;
    g_mutex_lock(&job->lock);
    sample.remaining = job->info.mem_remaining;
    sample.dirty_rate_bps = job->info.dirty_rate_bps;
    sample.link_bps = job->info.rate_bps ? job->info.rate_bps : job->info.bandwidth_bps;
    g_mutex_unlock(&job->lock);
    if (!ferry_policy_observe(ctl->policy, &sample, &d))
        return;
    g_message("domain '%s': migration %s: policy: %s", job->dom_name, job->id, d.reason);
    g_mutex_lock(&job->lock);
    g_strlcpy(job->info.policy, ferry_policy_step_name(d.step), sizeof(job->info.policy));
    g_mutex_unlock(&job->lock);
    ferry_mig_job_set_message(job, 0, "policy: %s", d.reason);
    switch (d.step) {
    case FERRY_POLICY_RAISE_DOWNTIME:
        g_mutex_lock(&job->lock);
        job->params->p.max_downtime_ms = d.downtime_ms;
        job->info.max_downtime_ms = (gint64)d.downtime_ms;
        g_mutex_unlock(&job->lock);
        ctl->policy_action = d.step;
        ferry_mig_src_policy_go(job);
        break;
    case FERRY_POLICY_POSTCOPY:
        ferry_mig_src_postcopy_request(job, NULL, "by the convergence policy");
        break;
    case FERRY_POLICY_THROTTLE:
        ctl->policy_action = d.step;
        ferry_mig_src_policy_go(job);
        break;
    default:
        break;
    }
    ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
}
