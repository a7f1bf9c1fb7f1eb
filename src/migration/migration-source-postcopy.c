/*
 * migration-source-postcopy.c: post-copy as the source host sees it (see
 * migration-source-private.h): the switch, asked for by the user or the
 * convergence policy; the statistics while the guest is split; a paused
 * post-copy resumed, by the daemon with back-off or by hand; post-copy
 * lost.
 *
 * The rule it keeps (docs/convergence.md): once the switch was asked for,
 * the guest can only complete -- no abort, no timer ends it -- and a
 * source whose half can no longer join the destination's stays paused.
 * Must not: run QMP itself (the backend's steps do), or end a job in
 * post-copy other than through Confirm.
 */
#include "ferry-config.h"

#include <string.h>

#include "migration/migration-source-private.h"
#include "util/error.h"

static void recover_now(ferry_mig_job *job);

static const char *const postcopy_names[] = {
    [PC_NONE] = "", [PC_WANTED] = "requested", [PC_REQUESTED] = "requested",
    [PC_ACTIVE] = "active", [PC_PAUSED] = "paused", [PC_RECOVERING] = "recovering",
    [PC_DONE] = "done",
};

/* Moves post-copy along; job info says where it is. */
void
ferry_mig_src_set_postcopy(ferry_mig_job *job, postcopy_step step)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ctl->postcopy = step;
    g_mutex_lock(&job->lock);
    g_strlcpy(job->info.postcopy, postcopy_names[step], sizeof(job->info.postcopy));
    if (step == PC_ACTIVE && !job->info.postcopy_ms)
        job->info.postcopy_ms = MAX((g_get_monotonic_time() - job->started_us) / 1000, 1);
    g_mutex_unlock(&job->lock);
    /* A resume by hand waits for the stream to go again. */
    if (ctl->resume_task && (step == PC_ACTIVE || step == PC_DONE)) {
        g_task_return_boolean(ctl->resume_task, TRUE);
        g_clear_object(&ctl->resume_task);
        g_clear_pointer(&ctl->peer_uri_before, g_free);
    }
}

static void
answer_postcopy_calls(ferry_mig_job *job, const GError *error)
{
    GPtrArray *calls = ctl_of(job)->postcopy_calls;

    while (calls && calls->len) {
        GTask *task = g_ptr_array_steal_index(calls, 0);

        if (error)
            g_task_return_error(task, g_error_copy(error));
        else
            g_task_return_boolean(task, TRUE);
        g_object_unref(task);
    }
}

static gboolean
step_postcopy(ferry_mig_job *job, gpointer data, GError **error)
{
    return backend_of(job)->start_postcopy(job, error);
}

/* Tells the hypervisor when it may be: memory is being sent and no other
 * step runs.  Until then the wish waits (PC_WANTED). */
void
ferry_mig_src_postcopy_go(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->postcopy != PC_WANTED || ctl->busy || ctl->aborting || ctl->xfer != XFER_MEMORY)
        return;
    ferry_mig_run_step(job, STEP_POSTCOPY, step_postcopy, NULL);
}

/* The answer of the hypervisor to the switch. */
void
ferry_mig_src_postcopy_told(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!ev->ok) {
        if (ctl->postcopy == PC_WANTED)
            ferry_mig_src_set_postcopy(job, PC_NONE);
        g_message("domain '%s': migration %s: post-copy refused: %s", job->dom_name, job->id,
                  ev->error->message);
        answer_postcopy_calls(job, ev->error);
        return;
    }
    if (ctl->postcopy == PC_WANTED)
        ferry_mig_src_set_postcopy(job, PC_REQUESTED);
    g_message("domain '%s': migration %s: switching to post-copy", job->dom_name, job->id);
    ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
    answer_postcopy_calls(job, NULL);
}

/* A wish for post-copy: the user's call (@ev), or the job's own (after the
 * first pass); answered once the hypervisor was told. */
void
ferry_mig_src_postcopy_request(ferry_mig_job *job, ferry_mig_event *ev, const char *why)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autoptr(GError) error = NULL;

    if (!(job->params->p.flags & FERRY_MIGRATE_POSTCOPY)) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s': migration %s was not started with post-copy allowed "
                    "(ferry migrate --postcopy)", job->dom_name, job->id);
    } else if (ctl->aborting || ctl->xfer == XFER_CANCELLING) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s': migration %s is being aborted", job->dom_name, job->id);
    } else if (ctl->xfer == XFER_SWITCHOVER || ctl->xfer == XFER_SENT) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s': migration %s is already switching over", job->dom_name,
                    job->id);
    }
    if (error) {
        if (ev)
            ferry_mig_fail_task(g_steal_pointer(&ev->task), error->code, error->message);
        return;
    }
    if (ev) {
        if (!ctl->postcopy_calls)
            ctl->postcopy_calls = g_ptr_array_new();
        if (ctl->postcopy >= PC_REQUESTED) {
            /* Told already: nothing more to do. */
            g_task_return_boolean(ev->task, TRUE);
            g_clear_object(&ev->task);
            return;
        }
        if (ctl->xfer == XFER_MEMORY) {
            g_ptr_array_add(ctl->postcopy_calls, g_steal_pointer(&ev->task));
        } else {
            /* The disks are still copying: the switch waits for memory to
             * be sent, and the caller need not. */
            g_task_return_boolean(ev->task, TRUE);
            g_clear_object(&ev->task);
        }
    }
    if (ctl->postcopy == PC_NONE) {
        ferry_mig_job_set_message(job, 0, "post-copy %s", why);
        ferry_mig_src_set_postcopy(job, PC_WANTED);
    }
    ferry_mig_src_postcopy_go(job);
}

/* Statistics while the guest is split: beside whatever else the job does
 * (a peer call, Confirm waiting), so never as a step that makes it busy. */
static void
postcopy_progress(ferry_mig_job *job, gboolean final)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->side_busy)
        return;
    ctl->side_busy = TRUE;
    ctl->progress_us = g_get_monotonic_time();
    ferry_mig_run_side_step(job, final ? SIDE_SENT : SIDE_PROGRESS, ferry_mig_src_step_progress,
                            GINT_TO_POINTER(final));
}

/* The hypervisor switched to post-copy: the source is paused and the
 * destination has what it needs to run the guest, pulling the pages it
 * still lacks.  For the protocol this is "everything sent" -- the commit
 * zone, where only the destination's word lets the source run again --
 * except that the source's process must live on until every page went,
 * and that no timer may end it (docs/convergence.md). */
void
ferry_mig_src_postcopy_began(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ferry_mig_timer_stop(job, TIMER_TIMEOUT);
    ferry_mig_src_set_postcopy(job, PC_ACTIVE);
    ctl->xfer = XFER_SENT;
    ferry_mig_src_record_handover(job, ferry_mig_src_stats_cookie(job));
    ferry_mig_set_domain_state(job, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_POSTCOPY,
                               ctl->was_running ? FERRY_LIFECYCLE_SUSPENDED : -1);
    ferry_mig_move(job, FERRY_MIG_PHASE_PERFORM, FERRY_MIG_STATE_WAITING);
    ferry_mig_lease_release(job);
    ferry_mig_job_set_message(job, 0, "post-copy: the destination runs the guest and pulls "
                              "the pages it lacks; the source keeps them until every page "
                              "went");
    g_message("domain '%s': migration %s in post-copy", job->dom_name, job->id);
    ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
    ferry_mig_timer_start(job, TIMER_PROGRESS, PROGRESS_INTERVAL_MS, FALSE);
    ferry_mig_src_answer_perform(job);
}

void
ferry_mig_src_recover_later(ferry_mig_job *job, const char *why)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!ctl->recover_delay_s)
        ctl->recover_delay_s = 1;
    /* When first, the wait survives a long reason's truncation. */
    ferry_mig_job_set_message(job, 0, "post-copy paused, the guest split between the hosts; "
                              "the source tries again in %u s: %s", ctl->recover_delay_s, why);
    if (ctl->resume_task) {
        g_task_return_new_error(ctl->resume_task, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                                "domain '%s': post-copy is still paused: %s; the daemon tries "
                                "again by itself in %u s", job->dom_name, why,
                                ctl->recover_delay_s);
        g_clear_object(&ctl->resume_task);
    }
    if (ctl->peer_uri_before) {
        /* The address given by hand did not work: the daemon's own tries
         * go on where they went before. */
        g_mutex_lock(&job->lock);
        g_free(job->peer_uri);
        job->peer_uri = g_steal_pointer(&ctl->peer_uri_before);
        g_mutex_unlock(&job->lock);
        if (!ctl->busy)
            g_clear_pointer(&ctl->peer, ferry_conn_unref);
    }
    ferry_mig_timer_start(job, TIMER_RECOVER, ctl->recover_delay_s * 1000, FALSE);
    ctl->recover_delay_s = MIN(ctl->recover_delay_s * 2, RETRY_MAX_SECONDS);
    ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
}

static gboolean
step_resume(ferry_mig_job *job, gpointer data, GError **error)
{
    g_autofree char *uri = data;

    return backend_of(job)->postcopy_resume(job, uri, error);
}

/* ferry migrate --postcopy-resume: the next try now, perhaps to the
 * destination's daemon at a new address; answered by that try. */
void
ferry_mig_src_resume_by_hand(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->postcopy != PC_PAUSED && ctl->postcopy != PC_RECOVERING) {
        g_task_return_new_error(ev->task, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                                "domain '%s': migration %s: post-copy is not paused (%s): "
                                "there is nothing to resume", job->dom_name, job->id,
                                ctl->postcopy == PC_NONE ? "it never switched to post-copy"
                                                          : postcopy_names[ctl->postcopy]);
        g_clear_object(&ev->task);
        return;
    }
    if (ctl->resume_task) {
        ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID,
                            "a resume by hand is under way already");
        return;
    }
    if (ev->message && *ev->message) {
        g_mutex_lock(&job->lock);
        if (g_strcmp0(job->peer_uri, ev->message) != 0) {
            g_free(ctl->peer_uri_before);
            ctl->peer_uri_before = g_steal_pointer(&job->peer_uri);
            job->peer_uri = g_strdup(ev->message);
            /* The next call connects there (a call in flight keeps its
             * connection: the one after it reconnects). */
            if (!ctl->busy)
                g_clear_pointer(&ctl->peer, ferry_conn_unref);
        }
        g_mutex_unlock(&job->lock);
    }
    g_message("domain '%s': migration %s: post-copy resumed by hand (destination %s)",
              job->dom_name, job->id, job->peer_uri ? job->peer_uri : "?");
    ctl->resume_task = g_steal_pointer(&ev->task);
    if (ctl->postcopy == PC_PAUSED) {
        ctl->recover_delay_s = 0;
        ferry_mig_timer_stop(job, TIMER_RECOVER);
        recover_now(job);
    }
}

static void
recover_now(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->postcopy != PC_PAUSED || !backend_of(job)->postcopy_resume)
        return;     /* without a way to resume, it stays paused and says so */
    if (ctl->busy) {
        /* After the call in flight (a question to the destination). */
        ferry_mig_timer_start(job, TIMER_RECOVER, 500, FALSE);
        return;
    }
    ferry_mig_run_peer(job, PEER_RECOVER);
}

/* The destination's answer: where it listens again. */
static void
recover_answered(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->postcopy != PC_PAUSED)
        return;
    if (!ev->ok || !ev->result->uri || !*ev->result->uri) {
        g_autofree char *why = g_strdup_printf("the destination cannot listen again yet (%s)",
                                               ev->ok ? "it named no address"
                                                      : ev->error->message);

        ferry_mig_src_recover_later(job, why);
        return;
    }
    ferry_mig_src_set_postcopy(job, PC_RECOVERING);
    g_message("domain '%s': migration %s: resuming post-copy to %s", job->dom_name, job->id,
              ev->result->uri);
    ferry_mig_run_step(job, STEP_RESUME, step_resume, g_strdup(ev->result->uri));
}

static void
resume_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    if (ev->ok || ctl_of(job)->postcopy != PC_RECOVERING)
        return;     /* QEMU says how it goes (postcopy-active or -paused) */
    ferry_mig_src_set_postcopy(job, PC_PAUSED);
    ferry_mig_src_recover_later(job, ev->error->message);
}

/* Events of post-copy after the switch, in whatever phase the job is: the
 * statistics, every page gone, a broken link.  Returns TRUE if @ev was
 * one. */
gboolean
ferry_mig_src_postcopy_event(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->postcopy < PC_ACTIVE)
        return FALSE;
    if (ev->type == EV_SIDE_DONE) {
        ctl->side_busy = FALSE;
        if (ev->kind == SIDE_SENT) {
            ferry_mig_src_set_postcopy(job, PC_DONE);
            ferry_mig_job_set_message(job, 0, "post-copy done: every page reached the "
                                      "destination");
            g_message("domain '%s': migration %s: post-copy done", job->dom_name, job->id);
            ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
            if (ctl->stop_after_postcopy && !ctl->busy) {
                ctl->stop_after_postcopy = FALSE;
                ferry_mig_run_step(job, STEP_STOP, ferry_mig_src_step_stop, NULL);
            }
        } else if (ctl->postcopy_sent) {
            ctl->postcopy_sent = FALSE;
            postcopy_progress(job, TRUE);
        } else {
            ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
        }
        return TRUE;
    }
    if (ev->type == EV_TIMER && ev->kind == TIMER_RECOVER) {
        recover_now(job);
        return TRUE;
    }
    if (ev->type == EV_PEER_DONE && ev->kind == PEER_RECOVER) {
        recover_answered(job, ev);
        return TRUE;
    }
    if (ev->type == EV_STEP_DONE && ev->kind == STEP_RESUME) {
        resume_done(job, ev);
        return TRUE;
    }
    if (ev->type == EV_TIMER && ev->kind == TIMER_PROGRESS) {
        if (ctl->postcopy != PC_DONE) {
            ferry_mig_timer_start(job, TIMER_PROGRESS, PROGRESS_INTERVAL_MS, FALSE);
            postcopy_progress(job, FALSE);
        }
        return TRUE;
    }
    if (ev->type != EV_BACKEND)
        return FALSE;
    switch (ev->kind) {
    case FERRY_MIG_EV_SOURCE_STOPPED:
        /* QEMU says post-copy-active, then stops the CPUs. */
        ferry_mig_src_record_stop(job, ev);
        return TRUE;
    case FERRY_MIG_EV_SENT:
        ferry_mig_timer_stop(job, TIMER_PROGRESS);
        /* After a side step in flight, the final figures. */
        if (ctl->side_busy)
            ctl->postcopy_sent = TRUE;
        else
            postcopy_progress(job, TRUE);
        return TRUE;
    case FERRY_MIG_EV_POSTCOPY_PAUSED:
        if (ctl->postcopy == PC_DONE)
            return TRUE;
        ferry_mig_src_set_postcopy(job, PC_PAUSED);
        g_warning("domain '%s': migration %s: post-copy paused (%s)", job->dom_name, job->id,
                  ev->message ? ev->message : "its link broke");
        ferry_mig_src_recover_later(job, ev->message ? ev->message : "its link broke");
        return TRUE;
    case FERRY_MIG_EV_POSTCOPY:
        /* Going on again after a break. */
        if (ctl->postcopy == PC_PAUSED || ctl->postcopy == PC_RECOVERING) {
            ferry_mig_src_set_postcopy(job, PC_ACTIVE);
            ctl->recover_delay_s = 0;
            ferry_mig_timer_stop(job, TIMER_RECOVER);
            ferry_mig_job_set_message(job, 0, "post-copy resumed after its stream broke");
            g_message("domain '%s': migration %s: post-copy resumed", job->dom_name, job->id);
            ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
        }
        return TRUE;
    case FERRY_MIG_EV_TRANSFER_FAILED:
        if (ctl->postcopy == PC_DONE)
            return TRUE;
        ferry_mig_src_postcopy_lost(job, ev->message ? ev->message : "QEMU gave no reason");
        return TRUE;
    case FERRY_MIG_EV_EXITED:
        if (ctl->postcopy == PC_DONE)
            return FALSE;   /* as after any complete transfer */
        ferry_mig_src_postcopy_lost(job, ev->value == FERRY_SHUTOFF_DESTROYED
                               ? "the source QEMU was destroyed"
                               : "the source QEMU exited");
        return TRUE;
    default:
        return FALSE;
    }
}

/* Post-copy failed: the guest's memory is split between the hosts and
 * the half here can never run again (QEMU has sent the devices' state and
 * pages the destination may have changed).  The source stays paused --
 * never run twice -- and the job says so; only destroying it ends it. */
void
ferry_mig_src_postcopy_lost(ferry_mig_job *job, const char *why)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autofree char *what = g_strdup(why);
    g_autoptr(GError) error = NULL;

    ferry_mig_timer_stop(job, TIMER_PROGRESS);
    ferry_mig_timer_stop(job, TIMER_TIMEOUT);
    ferry_mig_timer_stop(job, TIMER_WATCHDOG);
    ferry_mig_timer_stop(job, TIMER_RETRY);
    ctl->end_code = FERRY_ERROR_MIGRATE_LOST;
    ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE_LOST,
                              "post-copy of domain '%s' failed: %s; its memory is split "
                              "between the hosts, so the source keeps its half paused and "
                              "never runs it again", job->dom_name, what);
    g_warning("domain '%s': migration %s: post-copy failed: %s; the source stays paused",
              job->dom_name, job->id, what);
    /* The way out of the commit zone that the table allows: Confirm. */
    if (job->phase != FERRY_MIG_PHASE_CONFIRM || job->state != FERRY_MIG_STATE_RUNNING)
        ferry_mig_move(job, FERRY_MIG_PHASE_CONFIRM, FERRY_MIG_STATE_RUNNING);
    ferry_mig_move(job, FERRY_MIG_PHASE_CONFIRM, FERRY_MIG_STATE_ROLLBACK);
    g_mutex_lock(&job->lock);
    error = g_error_new_literal(FERRY_ERROR, FERRY_ERROR_MIGRATE_LOST, job->message);
    g_mutex_unlock(&job->lock);
    if (ctl->phase_task)
        ferry_mig_reply_error(job, error);
    ferry_mig_end(job, FERRY_MIG_STATE_FAILED);
}
