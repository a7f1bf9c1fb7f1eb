/*
 * migration-source-confirm.c: the source in the commit zone -- everything
 * sent, the source paused -- and Confirm.
 *
 * The rule it keeps (docs/migration-engine.md, "The commit point"): the source resumes only on the
 * destination's word that it does not and will not run the guest (the
 * caller's Confirm(CANCELLED) after Finish failed, the destination's own
 * refusal of Finish, or its acknowledgement of "cancel migration ID");
 * until then it stays paused and the daemon asks, with back-off.  On the
 * word that the destination runs it, the source's process goes.
 */
#include "ferry-config.h"

#include <string.h>

#include "migration/migration-source-private.h"
#include "util/error.h"

static gboolean
domain_active(ferry_domain_obj *obj)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);

    return ferry_domain_obj_is_active(obj);
}

gboolean
ferry_mig_src_step_stop(ferry_mig_job *job, gpointer data, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    ferry_domain_obj *obj = job->obj;
    const ferry_migrate_params *p = &job->params->p;
    g_autoptr(GError) local = NULL;
    gboolean had_def;

    if (!ferry_mig_inject(job, "confirm", error))
        return FALSE;
    if (!(p->flags & FERRY_MIGRATE_OFFLINE) && obj && domain_active(obj) &&
        !engine->backend->stop_source(job, error))
        return FALSE;
    ferry_mig_snap_source_done(job);
    if (!(p->flags & FERRY_MIGRATE_UNDEFINE_SOURCE) || !obj)
        return TRUE;
    g_mutex_lock(&obj->lock);
    had_def = obj->def != NULL;
    g_mutex_unlock(&obj->lock);
    if (!had_def)
        return TRUE;
    if (engine->backend->delete_def &&
        !engine->backend->delete_def(engine->backend_self, obj->name, &local)) {
        g_warning("domain '%s': %s", obj->name, local->message);
        return TRUE;
    }
    g_mutex_lock(&obj->lock);
    g_clear_pointer(&obj->def, ferry_domain_def_free);
    g_mutex_unlock(&obj->lock);
    ferry_domain_obj_list_remove(engine->domains, obj);
    ferry_domain_obj_emit_lifecycle(engine->bus, obj, FERRY_LIFECYCLE_UNDEFINED);
    return TRUE;
}

/* The destination runs the guest: the source goes. */
void
ferry_mig_src_confirm_ok(ferry_mig_job *job, const ferry_migration_cookie *finished)
{
    if (finished && finished->has_stats && finished->resumed_real_us) {
        g_mutex_lock(&job->lock);
        job->resumed_real = finished->resumed_real_us;
        g_mutex_unlock(&job->lock);
    }
    ferry_mig_move(job, FERRY_MIG_PHASE_CONFIRM, FERRY_MIG_STATE_RUNNING);
    if (ctl_of(job)->postcopy >= PC_ACTIVE && ctl_of(job)->postcopy != PC_DONE) {
        /* The destination runs the guest, but pages it lacks are still
         * here: the source's process stays until every page went. */
        ctl_of(job)->stop_after_postcopy = TRUE;
        return;
    }
    ferry_mig_run_step(job, STEP_STOP, ferry_mig_src_step_stop, NULL);
}

/* The destination does not and will not run it: the source runs again. */
void
ferry_mig_src_confirm_cancelled(ferry_mig_job *job, ferry_mig_state final)
{
    ferry_mig_move(job, FERRY_MIG_PHASE_CONFIRM, FERRY_MIG_STATE_RUNNING);
    ferry_mig_src_rollback(job, final);
}

/* Goes to the destination's daemon: to finish the migration (the client
 * is gone, or Finish's answer was lost), or to cancel it (abort). */
void
ferry_mig_src_ask_peer(ferry_mig_job *job, peer_kind intent)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ctl->doubt_intent = intent;
    ferry_mig_timer_stop(job, TIMER_WATCHDOG);
    if (job->phase == FERRY_MIG_PHASE_PERFORM) {
        /* The daemon finishing for a vanished client is not in doubt yet:
         * it runs Finish; a caller that does not know, or an abort, is. */
        if (intent == PEER_FINISH && !ctl->phase_task)
            ferry_mig_move(job, FERRY_MIG_PHASE_FINISH, FERRY_MIG_STATE_RUNNING);
        else
            ferry_mig_move(job, FERRY_MIG_PHASE_CONFIRM, FERRY_MIG_STATE_IN_DOUBT);
    }
    if (!ctl->busy) {
        ferry_mig_timer_stop(job, TIMER_RETRY);
        ferry_mig_run_peer(job, intent);
    }
}

static void
fail_abort_waiters(ferry_mig_job *job, const char *why)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    for (guint i = ctl->waiters->len; i > 0; i--) {
        ferry_mig_waiter *w = ctl->waiters->pdata[i - 1];

        if (w->kind != REQ_ABORT)
            continue;
        g_task_return_new_error(w->task, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID, "%s",
                                why);
        g_object_unref(w->task);
        g_ptr_array_remove_index(ctl->waiters, i - 1);
    }
}

/* The answer of the destination's daemon. */
static void
peer_answered(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autoptr(ferry_migration_cookie) finished = NULL;

    if (!ev->ok && ferry_mig_error_is_doubt(ev->error)) {
        g_autofree char *why = g_strdup_printf(
            "in doubt: the destination's daemon has not answered whether it runs the guest "
            "(%s); the source stays paused and asks again", ev->error->message);

        ferry_mig_job_set_message(job, 0, "%s", why);
        if (job->state != FERRY_MIG_STATE_IN_DOUBT)
            ferry_mig_move(job, FERRY_MIG_PHASE_CONFIRM, FERRY_MIG_STATE_IN_DOUBT);
        if (ctl->doubt_intent == PEER_CANCEL)
            fail_abort_waiters(job, "cannot abort now: everything was sent, and only the "
                                    "destination can say whether it runs the guest, but its "
                                    "daemon cannot be reached; the source stays paused until "
                                    "it answers");
        ferry_mig_timer_start(job, TIMER_RETRY, ctl->retry_delay_s * 1000, FALSE);
        ctl->retry_delay_s = MIN(ctl->retry_delay_s * 2, RETRY_MAX_SECONDS);
        ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
        return;
    }
    if (ev->kind == PEER_FINISH) {
        if (ev->ok) {
            if (ev->result->cookie)
                finished = ferry_migration_cookie_parse(ev->result->cookie, "Confirm", NULL);
            ferry_mig_job_set_message(job, 0, "the destination's daemon finished it");
            ferry_mig_src_confirm_ok(job, finished);
            return;
        }
        ferry_mig_src_set_failure(job, ev->error);
        ctl->end_code = FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                  "the destination did not take the guest (%s); it runs on "
                                  "the source again", ev->error->message);
        ferry_mig_src_confirm_cancelled(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    /* PEER_CANCEL */
    if (ev->ok) {
        ferry_mig_src_confirm_cancelled(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED
                                             : FERRY_MIG_STATE_FAILED);
        return;
    }
    if (g_error_matches(ev->error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID)) {
        /* Too late: the destination runs it.  The abort fails; the
         * migration completed. */
        ferry_mig_job_set_message(job, 0, "too late to abort: %s", ev->error->message);
        ctl->aborting = FALSE;
        ferry_mig_src_confirm_ok(job, NULL);
        return;
    }
    /* Any other refusal still means it does not run there. */
    ferry_mig_src_confirm_cancelled(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED
                                                       : FERRY_MIG_STATE_FAILED);
}

/* Events in the commit zone and while in doubt. */
void
ferry_mig_src_committed_event(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    gboolean doubt = job->state == FERRY_MIG_STATE_IN_DOUBT || job->phase == FERRY_MIG_PHASE_FINISH;

    switch (ev->type) {
    case EV_PEER_DONE:
        peer_answered(job, ev);
        return;
    case EV_STEP_DONE:
        return;
    case EV_TIMER:
        if (ev->kind == TIMER_RETRY && !ctl->busy)
            ferry_mig_run_peer(job, ctl->doubt_intent);
        else if (ev->kind == TIMER_WATCHDOG && !doubt && !ctl->phase_task &&
                 g_get_monotonic_time() - ctl->last_phase_us >=
                     (gint64)engine_of(job)->abandon_seconds * G_TIME_SPAN_SECOND) {
            ctl->client_gone = TRUE;
            ferry_mig_job_set_message(job, 0, "no phase came within %u s: the daemon finishes "
                                      "the migration itself", engine_of(job)->abandon_seconds);
            ferry_mig_src_ask_peer(job, PEER_FINISH);
        }
        return;
    case EV_CONN_CLOSED:
        if (!doubt) {
            ferry_mig_job_set_message(job, 0, "the client driving it disconnected after "
                                      "everything was sent: the daemon finishes the migration "
                                      "itself");
            ferry_mig_src_ask_peer(job, PEER_FINISH);
        }
        return;
    case EV_BACKEND:
        if (ev->kind == FERRY_MIG_EV_EXITED && ev->value == FERRY_SHUTOFF_DESTROYED) {
            /* Destroyed on purpose: the destination must not run it either. */
            ctl->was_running = FALSE;
            ctl->end_code = FERRY_ERROR_MIGRATE;
            ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE, "the domain was destroyed on "
                                      "the source");
            ferry_mig_src_ask_peer(job, PEER_CANCEL);
        }
        return;
    case EV_REQUEST:
        break;
    default:
        return;
    }

    switch (ev->kind) {
    case REQ_CONFIRM:
        if (ctl->busy) {
            /* A peer call is in flight: its answer comes first. */
            ferry_mig_add_waiter(job, ev);
            return;
        }
        ferry_mig_timer_stop(job, TIMER_RETRY);
        ferry_mig_timer_stop(job, TIMER_WATCHDOG);
        if (ev->conn)
            ctl->driver = ev->conn;
        ctl->confirm_outcome = ev->outcome;
        if (ev->outcome == FERRY_CONFIRM_OK) {
            ctl->phase_task = g_steal_pointer(&ev->task);
            ferry_mig_src_confirm_ok(job, ev->cookie);
        } else if (ev->outcome == FERRY_CONFIRM_CANCELLED && ctl->sent_finish) {
            /* The client says Finish never reached the destination, but
             * this daemon sent one of its own: only the destination can
             * say.  (Found by the model: model/README.md.) */
            ctl->phase_task = g_steal_pointer(&ev->task);
            ferry_mig_src_ask_peer(job, PEER_FINISH);
        } else if (ev->outcome == FERRY_CONFIRM_CANCELLED) {
            ctl->phase_task = g_steal_pointer(&ev->task);
            ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                      "the destination did not take the guest; it runs on the "
                                      "source again");
            ferry_mig_src_confirm_cancelled(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED
                                                 : FERRY_MIG_STATE_FAILED);
        } else {
            /* The caller does not know Finish's outcome: ask. */
            ctl->phase_task = g_steal_pointer(&ev->task);
            ferry_mig_src_ask_peer(job, ctl->doubt_intent ? ctl->doubt_intent : PEER_FINISH);
        }
        return;
    case REQ_ABORT:
        ferry_mig_src_abort_reason(job, ev->message);
        ferry_mig_add_waiter(job, ev);
        ferry_mig_src_ask_peer(job, PEER_CANCEL);
        return;
    case REQ_CANCEL:
        /* The destination's own word that it dropped the guest. */
        if (ctl->busy) {
            ferry_mig_add_waiter(job, ev);
            return;
        }
        ferry_mig_src_abort_reason(job, ev->message);
        ferry_mig_add_waiter(job, ev);
        ferry_mig_timer_stop(job, TIMER_RETRY);
        ferry_mig_timer_stop(job, TIMER_WATCHDOG);
        ferry_mig_src_confirm_cancelled(job, FERRY_MIG_STATE_CANCELLED);
        return;
    default:
        ferry_mig_src_fail_request(job, ev);
        return;
    }
}
