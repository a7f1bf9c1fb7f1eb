/*
 * migration-engine.c: the engine's machinery (see migration-engine.h and
 * migration-engine-private.h): its thread, the tables of jobs, each job's
 * event queue, steps, timers, moves along the transition table, the end of
 * a job, and the entry points the drivers call.  Calls to the other host's
 * daemon are in migration-peer.c; the queries and tunables of a running
 * job (job info, downtime and bandwidth, post-copy by hand) in
 * migration-engine-query.c.
 *
 * What each event means for a job is decided by the role handlers in
 * migration-source.c and migration-dest.c; this file only carries events to
 * them, one at a time per job.
 */
#include "ferry-config.h"

#include <string.h>

#include "migration/migration-engine-private.h"
#include "util/error.h"

/* Ended jobs a peer may still ask about. */
#define ENDED_KEPT 256
/* Step threads: steps are short, one per job at a time. */
#define STEP_THREADS 8

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

void
ferry_mig_event_free(ferry_mig_event *ev)
{
    if (!ev)
        return;
    g_free(ev->message);
    g_clear_error(&ev->error);
    if (ev->task) {
        /* A call nobody answered: the engine is going away. */
        g_task_return_new_error(ev->task, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                "the migration engine stopped before handling the call");
        g_object_unref(ev->task);
    }
    ferry_migration_cookie_free(ev->cookie);
    ferry_mig_params_free(ev->params);
    ferry_phase_result_free(ev->result);
    ferry_domain_def_free(ev->def);
    g_free(ev);
}

ferry_mig_event *
ferry_mig_event_new(ev_type type, int kind)
{
    ferry_mig_event *ev = g_new0(ferry_mig_event, 1);

    ev->type = type;
    ev->kind = kind;
    return ev;
}

static void
ctl_free(ferry_mig_job_ctl *ctl)
{
    ferry_mig_event *ev;

    while ((ev = g_queue_pop_head(&ctl->events)))
        ferry_mig_event_free(ev);
    for (guint i = 0; i < G_N_ELEMENTS(ctl->timers); i++) {
        if (ctl->timers[i]) {
            g_source_destroy(ctl->timers[i]);
            g_source_unref(ctl->timers[i]);
        }
    }
    g_clear_pointer(&ctl->waiters, g_ptr_array_unref);
    if (ctl->postcopy_calls) {
        for (guint i = 0; i < ctl->postcopy_calls->len; i++)
            ferry_mig_fail_task(ctl->postcopy_calls->pdata[i], FERRY_ERROR_OPERATION_INVALID,
                                "the migration ended before it switched to post-copy");
        g_ptr_array_unref(ctl->postcopy_calls);
    }
    ferry_mig_event_free(ctl->held_finish);
    ferry_migration_cookie_free(ctl->prepared);
    ferry_migration_cookie_free(ctl->out);
    ferry_migration_cookie_free(ctl->cookie_in);
    ferry_domain_def_free(ctl->def);
    ferry_domain_def_free(ctl->arrived_def);
    g_free(ctl->xml_out);
    g_free(ctl->uri_out);
    g_free(ctl->cancel_deferred);
    g_free(ctl->out_cookie);
    g_free(ctl->recover_uri);
    g_free(ctl->peer_uri_before);
    g_clear_pointer(&ctl->snap_docs, g_ptr_array_unref);
    g_clear_pointer(&ctl->snap_names, g_ptr_array_unref);
    g_free(ctl->snap_token);
    g_free(ctl->snap_note);
    ferry_policy_free(ctl->policy);
    if (ctl->recover_task)
        ferry_mig_fail_task(ctl->recover_task, FERRY_ERROR_OPERATION_INVALID,
                            "the migration ended");
    if (ctl->resume_task)
        ferry_mig_fail_task(ctl->resume_task, FERRY_ERROR_OPERATION_INVALID,
                            "the migration ended");
    ferry_conn_unref(ctl->peer);
    g_clear_object(&ctl->runner);
    g_free(ctl);
}

void
ferry_mig_fail_task(GTask *task, int code, const char *message)
{
    g_task_return_new_error(task, FERRY_ERROR, code, "%s", message);
    g_object_unref(task);
}

ferry_mig_job *
ferry_mig_job_create(ferry_mig_engine *engine, const char *id, ferry_mig_role role, int protocol,
           const char *name, const char *uuid, const ferry_migrate_params *params)
{
    ferry_mig_job *job = ferry_mig_job_new(engine, id, role, protocol, name, uuid,
                                           ferry_mig_params_new(params));
    ferry_mig_job_ctl *ctl = g_new0(ferry_mig_job_ctl, 1);

    g_queue_init(&ctl->events);
    ctl->waiters = g_ptr_array_new_with_free_func(g_free);
    ctl->retry_delay_s = 1;
    ctl->last_phase_us = g_get_monotonic_time();
    job->ctl = ctl;
    job->ctl_free = (GDestroyNotify)ctl_free;
    return job;
}

/* ------------------------------------------------------------------------ */
/* The queue of a job                                                        */
/* ------------------------------------------------------------------------ */

static void
handle(ferry_mig_job *job, ferry_mig_event *ev);

/* Takes the next event the job may handle now: anything when idle; only the
 * end of its operation in flight when busy. */
static ferry_mig_event *
next_event(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

    if (!ctl->busy)
        return g_queue_pop_head(&ctl->events);
    for (GList *l = ctl->events.head; l; l = l->next) {
        ferry_mig_event *ev = l->data;

        if (ev->type == EV_STEP_DONE || ev->type == EV_PEER_DONE) {
            g_queue_delete_link(&ctl->events, l);
            return ev;
        }
    }
    return NULL;
}

static gboolean
job_pump(gpointer data)
{
    ferry_mig_job *job = data;
    ferry_mig_event *ev;

    g_mutex_lock(&job->lock);
    ctl_of(job)->pump_queued = FALSE;
    g_mutex_unlock(&job->lock);
    while ((ev = next_event(job))) {
        /* The engine is being freed: what happens now is nobody's to act on. */
        if (!g_atomic_int_get(&job->engine->halted))
            handle(job, ev);
        ferry_mig_event_free(ev);
    }
    return G_SOURCE_REMOVE;
}

void
ferry_mig_job_post(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_engine *engine = job->engine;
    gboolean schedule;

    if (g_atomic_int_get(&engine->halted)) {
        /* Stopped: nothing will handle it; a call in it fails now. */
        ferry_mig_event_free(ev);
        return;
    }
    g_mutex_lock(&job->lock);
    g_queue_push_tail(&ctl_of(job)->events, ev);
    schedule = !ctl_of(job)->pump_queued;
    ctl_of(job)->pump_queued = TRUE;
    g_mutex_unlock(&job->lock);
    if (schedule)
        g_main_context_invoke_full(engine->context, G_PRIORITY_DEFAULT, job_pump,
                                   ferry_mig_job_ref(job),
                                   (GDestroyNotify)ferry_mig_job_unref);
}

void
ferry_mig_job_notify(ferry_mig_job *job, ferry_mig_event_kind kind, gint64 value,
                     const char *message)
{
    ferry_mig_event *ev = ferry_mig_event_new(EV_BACKEND, kind);

    ev->value = value;
    ev->message = g_strdup(message);
    ferry_mig_job_post(job, ev);
}

void
ferry_mig_job_notify_arrival(ferry_mig_job *job, ferry_domain_def *def)
{
    ferry_mig_event *ev = ferry_mig_event_new(EV_BACKEND, FERRY_MIG_EV_INCOMING_DONE);

    ev->def = def;
    ferry_mig_job_post(job, ev);
}

/* ------------------------------------------------------------------------ */
/* Steps                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    ferry_mig_job *job;
    int id;
    ferry_mig_step_fn fn;
    gpointer data;
    gboolean side;
} step_item;

static void
step_thread(gpointer data, gpointer user_data)
{
    step_item *item = data;
    ferry_mig_event *ev = ferry_mig_event_new(item->side ? EV_SIDE_DONE : EV_STEP_DONE,
                                              item->id);

    ev->ok = item->fn(item->job, item->data, &ev->error);
    if (!ev->ok && !ev->error)
        ev->error = g_error_new(FERRY_ERROR, FERRY_ERROR_INTERNAL,
                                "migration %s: step %d failed without saying why",
                                item->job->id, item->id);
    ferry_mig_job_post(item->job, ev);
    ferry_mig_job_unref(item->job);
    g_free(item);
}

void
ferry_mig_run_step(ferry_mig_job *job, int id, ferry_mig_step_fn fn, gpointer data)
{
    step_item *item = g_new0(step_item, 1);

    g_assert(!ctl_of(job)->busy);
    ctl_of(job)->busy = TRUE;
    ctl_of(job)->busy_what = id;
    item->job = ferry_mig_job_ref(job);
    item->id = id;
    item->fn = fn;
    item->data = data;
    g_thread_pool_push(job->engine->steps, item, NULL);
}

void
ferry_mig_run_side_step(ferry_mig_job *job, int id, ferry_mig_step_fn fn, gpointer data)
{
    step_item *item = g_new0(step_item, 1);

    item->job = ferry_mig_job_ref(job);
    item->id = id;
    item->fn = fn;
    item->data = data;
    item->side = TRUE;
    g_thread_pool_push(job->engine->steps, item, NULL);
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    ferry_mig_job *job;
    timer_kind kind;
    gboolean repeat;
} timer_data;

static void
timer_data_free(timer_data *t)
{
    ferry_mig_job_unref(t->job);
    g_free(t);
}

static gboolean
on_timer(gpointer data)
{
    timer_data *t = data;

    ferry_mig_job_post(t->job, ferry_mig_event_new(EV_TIMER, t->kind));
    if (!t->repeat) {
        /* The job's handle on the source goes with it. */
        ferry_mig_job_ctl *ctl = ctl_of(t->job);

        g_clear_pointer(&ctl->timers[t->kind], g_source_unref);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

void
ferry_mig_timer_start(ferry_mig_job *job, timer_kind kind, guint interval_ms, gboolean repeat)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    timer_data *t = g_new0(timer_data, 1);
    GSource *source;

    ferry_mig_timer_stop(job, kind);
    t->job = ferry_mig_job_ref(job);
    t->kind = kind;
    t->repeat = repeat;
    source = g_timeout_source_new(interval_ms);
    g_source_set_callback(source, on_timer, t, (GDestroyNotify)timer_data_free);
    g_source_set_static_name(source, "ferry migration timer");
    g_source_attach(source, job->engine->context);
    ctl->timers[kind] = source;
}

void
ferry_mig_timer_stop(ferry_mig_job *job, timer_kind kind)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!ctl->timers[kind])
        return;
    g_source_destroy(ctl->timers[kind]);
    g_clear_pointer(&ctl->timers[kind], g_source_unref);
}

/* ------------------------------------------------------------------------ */
/* Moves, replies, the end                                                   */
/* ------------------------------------------------------------------------ */

gboolean
ferry_mig_move(ferry_mig_job *job, ferry_mig_phase phase, ferry_mig_state state)
{
    g_autoptr(GError) error = NULL;

    if (!ferry_mig_transition_allowed(job->role, job->phase, job->state, phase, state)) {
        g_critical("migration %s (%s of domain '%s'): illegal move from (%s, %s) to (%s, %s)",
                   job->id, ferry_mig_role_to_string(job->role), job->dom_name,
                   ferry_mig_phase_to_string(job->phase), ferry_mig_state_to_string(job->state),
                   ferry_mig_phase_to_string(phase), ferry_mig_state_to_string(state));
        return FALSE;
    }
    /* The record first: whatever the move leads to must be findable by a
     * daemon that restarts in the middle of it. */
    if (!ferry_mig_job_write_record(job, job->engine->record_dir, phase, state, &error))
        g_warning("migration %s: %s; going on without a record of this step", job->id,
                  error->message);
    g_debug("migration %s (%s of '%s'): (%s, %s) -> (%s, %s)", job->id,
            ferry_mig_role_to_string(job->role), job->dom_name,
            ferry_mig_phase_to_string(job->phase), ferry_mig_state_to_string(job->state),
            ferry_mig_phase_to_string(phase), ferry_mig_state_to_string(state));
    g_mutex_lock(&job->lock);
    job->phase = phase;
    job->state = state;
    g_mutex_unlock(&job->lock);
    ctl_of(job)->last_phase_us = g_get_monotonic_time();
    return TRUE;
}

void
ferry_mig_reply(ferry_mig_job *job, ferry_phase_result *result)
{
    GTask *task = g_steal_pointer(&ctl_of(job)->phase_task);

    if (!task) {
        ferry_phase_result_free(result);
        return;
    }
    ferry_phase_task_return(task, result);
}

void
ferry_mig_reply_error(ferry_mig_job *job, const GError *error)
{
    GTask *task = g_steal_pointer(&ctl_of(job)->phase_task);

    if (!task)
        return;
    g_task_return_error(task, g_error_copy(error));
    g_object_unref(task);
}

/* Forgets the oldest ended jobs beyond ENDED_KEPT (engine lock held). */
static void
trim_ended(ferry_mig_engine *engine)
{
    while (g_queue_get_length(&engine->ended) > ENDED_KEPT) {
        g_autofree char *id = g_queue_pop_head(&engine->ended);
        ferry_mig_job *old = g_hash_table_lookup(engine->by_id, id);

        if (old && ferry_mig_state_is_final(old->state))
            g_hash_table_remove(engine->by_id, id);
    }
}

/* The final statistics of a source: the whole split into its parts. */
static void
finish_stats(ferry_mig_job *job)
{
    ferry_job_info *info = &job->info;
    gint64 total = (job->ended_us - job->started_us) / 1000;
    gint64 first = job->transfer_us ? job->transfer_us : job->memory_us;

    if (job->role != FERRY_MIG_ROLE_SOURCE || !job->memory_us || !job->stopped_us)
        return;
    if (job->stopped_real && job->resumed_real && job->resumed_real >= job->stopped_real)
        info->guest_downtime_ms = (job->resumed_real - job->stopped_real) / 1000;
    info->time_setup_ms = MAX((first - job->started_us) / 1000, 0);
    info->time_disk_ms = job->disks_ready_us ? MAX((job->memory_us - first) / 1000, 0) : 0;
    info->time_memory_ms = MAX((job->stopped_us - job->memory_us) / 1000, 0);
    info->time_switchover_ms = info->guest_downtime_ms;
    info->time_overhead_ms = MAX(total - info->time_setup_ms - info->time_disk_ms -
                                 info->time_memory_ms - info->time_switchover_ms, 0);
}

void
ferry_mig_add_waiter(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_waiter *w = g_new0(ferry_mig_waiter, 1);

    w->task = g_steal_pointer(&ev->task);
    w->kind = ev->kind;
    w->outcome = ev->outcome;
    w->conn = ev->conn;
    g_ptr_array_add(ctl_of(job)->waiters, w);
}

void
ferry_mig_answer_waiter(ferry_mig_job *job, ferry_mig_waiter *w)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    ferry_phase_result *r;

    if (job->may_have_run && job->state != FERRY_MIG_STATE_COMPLETED) {
        /* Whatever became of the copy here, the guest may have run on this
         * host: the source must never run it again. */
        if (w->kind == REQ_FINISH && !w->outcome) {
            r = g_new0(ferry_phase_result, 1);
            if (w->conn)
                r->dom = ferry_domain_new_handle(w->conn, job->dom_name, job->dom_uuid);
            ferry_phase_task_return(w->task, r);
        } else {
            ferry_mig_fail_task(w->task, FERRY_ERROR_OPERATION_INVALID,
                                "too late to cancel: the guest may have run on this host (it "
                                "had committed to run it before ferryd restarted)");
        }
        w->task = NULL;
        return;
    }
    switch (job->state) {
    case FERRY_MIG_STATE_COMPLETED:
        if (w->kind == REQ_ABORT || w->kind == REQ_CANCEL) {
            ferry_mig_fail_task(w->task, FERRY_ERROR_OPERATION_INVALID,
                      job->role == FERRY_MIG_ROLE_SOURCE
                          ? "too late to abort: the destination already runs the guest"
                          : "too late to cancel: the guest already runs on this host");
            break;
        }
        if (w->kind == REQ_CONFIRM && w->outcome == FERRY_CONFIRM_CANCELLED) {
            ferry_mig_fail_task(w->task, FERRY_ERROR_OPERATION_INVALID,
                      "the migration completed: the destination runs the guest");
            break;
        }
        r = g_new0(ferry_phase_result, 1);
        if (w->kind == REQ_FINISH)
            r->dom = ferry_domain_new_handle(w->conn, job->dom_name, job->dom_uuid);
        ferry_phase_task_return(w->task, r);
        break;
    case FERRY_MIG_STATE_CANCELLED:
        if (w->kind == REQ_ABORT || w->kind == REQ_CANCEL) {
            ferry_phase_task_return(w->task, g_new0(ferry_phase_result, 1));
            break;
        }
        /* fall through */
    default:
        if (w->kind == REQ_CANCEL ||
            (w->kind == REQ_CONFIRM && w->outcome == FERRY_CONFIRM_CANCELLED)) {
            /* Failed or cancelled: nothing will run here. */
            ferry_phase_task_return(w->task, g_new0(ferry_phase_result, 1));
            break;
        }
        g_mutex_lock(&job->lock);
        g_task_return_new_error(w->task, FERRY_ERROR,
                                job->state == FERRY_MIG_STATE_CANCELLED
                                    ? FERRY_ERROR_OPERATION_ABORTED
                                    : (ctl->end_code ? ctl->end_code : FERRY_ERROR_MIGRATE),
                                "migration %s of domain '%s' %s on host '%s': %s", job->id,
                                job->dom_name,
                                job->state == FERRY_MIG_STATE_CANCELLED ? "was cancelled"
                                                                        : "failed",
                                job->engine->hostname,
                                job->message ? job->message : "no reason recorded");
        g_mutex_unlock(&job->lock);
        g_object_unref(w->task);
        break;
    }
    w->task = NULL;
}

void
ferry_mig_end(ferry_mig_job *job, ferry_mig_state state)
{
    ferry_mig_engine *engine = job->engine;
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autoptr(GPtrArray) waiters = NULL;
    gboolean holds;

    if (!ferry_mig_move(job, job->phase, state))
        return;
    for (guint i = 0; i < G_N_ELEMENTS(ctl->timers); i++)
        ferry_mig_timer_stop(job, i);
    /* A switch to post-copy asked for and never made: the caller learns. */
    while (ctl->postcopy_calls && ctl->postcopy_calls->len)
        ferry_mig_fail_task(g_ptr_array_steal_index(ctl->postcopy_calls, 0),
                            FERRY_ERROR_OPERATION_INVALID,
                            "the migration ended before it switched to post-copy");
    g_mutex_lock(&job->lock);
    job->ended_us = g_get_monotonic_time();
    finish_stats(job);
    holds = job->holds_domain;
    job->holds_domain = FALSE;
    g_mutex_unlock(&job->lock);
    if (holds && job->obj)
        engine->backend->end_domain_job(engine->backend_self, job->obj);

    g_mutex_lock(&engine->lock);
    if (g_hash_table_lookup(engine->active, job->dom_uuid) == job)
        g_hash_table_remove(engine->active, job->dom_uuid);
    g_hash_table_replace(engine->last, g_strdup(job->dom_uuid), ferry_mig_job_ref(job));
    g_queue_push_tail(&engine->ended, g_strdup(job->id));
    trim_ended(engine);
    g_mutex_unlock(&engine->lock);

    g_message("domain '%s': migration %s (%s) ended: %s%s%s", job->dom_name, job->id,
              ferry_mig_role_to_string(job->role), ferry_mig_state_to_string(state),
              job->message ? ": " : "", job->message ? job->message : "");
    /* Calls waiting for the end: an abort succeeded if the job ended
     * cancelled; a duplicate Finish answers as the first did. */
    waiters = g_steal_pointer(&ctl->waiters);
    ctl->waiters = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < waiters->len; i++)
        ferry_mig_answer_waiter(job, waiters->pdata[i]);
    ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_ENDED);
    /* Once more with the final statistics (the move above wrote the
     * outcome first), after the callers had their answer: they do not
     * wait for a disk. */
    {
        g_autoptr(GError) error = NULL;

        if (!ferry_mig_job_write_record(job, engine->record_dir, job->phase, state, &error))
            g_warning("migration %s: %s; its statistics will not outlive this ferryd",
                      job->id, error->message);
    }
    g_clear_pointer(&ctl->peer, ferry_conn_unref);
    /* A peer-to-peer job ended before Perform: its sequence may wait on
     * the destination (a Prepare it never answers), which would keep the
     * client's Perform for good. */
    if (ctl->runner && job->phase == FERRY_MIG_PHASE_BEGIN)
        ferry_mig_p2p_stop_runner(engine, ctl->runner,
                                  g_error_new(FERRY_ERROR, ctl->end_code ? ctl->end_code
                                                                         : FERRY_ERROR_MIGRATE,
                                              "%s", job->message ? job->message
                                                                 : "the migration ended"));
    g_clear_object(&ctl->runner);
}

/* ------------------------------------------------------------------------ */
/* Domain state and events                                                   */
/* ------------------------------------------------------------------------ */

void
ferry_mig_set_domain_state(ferry_mig_job *job, int state, int reason, int lifecycle)
{
    ferry_mig_engine *engine = job->engine;
    ferry_domain_obj *obj = job->obj;

    if (!obj)
        return;
    g_mutex_lock(&obj->lock);
    ferry_domain_obj_set_state(obj, state, reason);
    if (engine->backend->save_state && ferry_domain_obj_is_active(obj))
        engine->backend->save_state(engine->backend_self, obj);
    g_mutex_unlock(&obj->lock);
    if (lifecycle >= 0)
        ferry_domain_obj_emit_lifecycle(engine->bus, obj, lifecycle);
}

void
ferry_mig_emit_job_event(ferry_mig_job *job, int type)
{
    ferry_job_info info;
    ferry_event event = {
        .type = type,
        .timestamp_us = g_get_real_time(),
        .job = &info,
    };

    ferry_mig_job_get_info(job, &info);
    if (job->obj) {
        g_mutex_lock(&job->obj->lock);
        event.state = job->obj->state;
        event.reason = job->obj->reason;
        g_mutex_unlock(&job->obj->lock);
    }
    ferry_event_bus_emit(job->engine->bus, &event, job->dom_name, job->dom_uuid);
}

gboolean
ferry_mig_inject(ferry_mig_job *job, const char *phase, GError **error)
{
    if (!ferry_mig_fault(job, phase, error))
        return FALSE;
    if (g_strcmp0(job->engine->fail_phase, phase) != 0)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                "injected failure in %s on host '%s'", phase, job->engine->hostname);
    return FALSE;
}

ferry_migration_cookie *
ferry_mig_cookie_new(ferry_mig_job *job)
{
    ferry_migration_cookie *cookie =
        ferry_migration_cookie_new(job->id, job->engine->host_uuid, job->engine->hostname);

    if (job->engine->peer_uri)
        cookie->peer_uri = g_strdup(job->engine->peer_uri);
    return cookie;
}

/* ------------------------------------------------------------------------ */
/* Handling                                                                  */
/* ------------------------------------------------------------------------ */

static void
handle(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ev->type == EV_STEP_DONE || ev->type == EV_PEER_DONE)
        ctl->busy = FALSE;
    if (ev->type == EV_STEP_DONE && ev->kind == STEP_PEER_OPEN) {
        if (ev->ok) {
            ferry_mig_peer_call_start(job, ctl->peer_next);
            return;
        }
        /* The role sees it as the peer call's failure. */
        ev->type = EV_PEER_DONE;
        ev->kind = ctl->peer_next;
    }
    if (ev->type == EV_STEP_DONE && ev->kind == STEP_PROBE) {
        ferry_mig_recovery_probed(job, &ctl->recovered);
        return;
    }
    if (ev->type == EV_CONN_CLOSED) {
        /* A peer-to-peer job's client may leave: this daemon drives it. */
        if (!ctl->driver || ev->conn != ctl->driver || ctl->p2p)
            return;
        ctl->driver = NULL;
        ctl->client_gone = TRUE;
    }
    /* A call that raced with the end is answered from the outcome; nothing
     * else matters to a job that ended. */
    if (ferry_mig_state_is_final(job->state) && ev->type != EV_REQUEST)
        return;
    if (job->role == FERRY_MIG_ROLE_SOURCE)
        ferry_mig_source_handle(job, ev);
    else
        ferry_mig_dest_handle(job, ev);
}

/* ------------------------------------------------------------------------ */
/* The engine                                                                */
/* ------------------------------------------------------------------------ */

static gpointer
engine_thread(gpointer data)
{
    ferry_mig_engine *engine = data;

    g_main_context_push_thread_default(engine->context);
    g_main_loop_run(engine->loop);
    g_main_context_pop_thread_default(engine->context);
    return NULL;
}

ferry_mig_engine *
ferry_mig_engine_new(const ferry_mig_engine_config *config)
{
    ferry_mig_engine *engine = g_new0(ferry_mig_engine, 1);
    guint n = 0;

    engine->host_uuid = g_strdup(config->host_uuid);
    engine->hostname = g_strdup(config->hostname);
    engine->peer_uri = g_strdup(config->peer_uri);
    engine->record_dir = g_strdup(config->record_dir);
    engine->hook_path = g_strdup(config->hook_path);
    engine->fail_phase = g_strdup(config->fail_phase);
    engine->abandon_seconds = config->abandon_seconds ? config->abandon_seconds : 60;
    engine->nbd = config->nbd;
    engine->domains = config->domains;
    engine->bus = config->bus;
    engine->backend = config->backend;
    engine->backend_self = config->backend_self;
    while (config->peer_drivers && config->peer_drivers[n])
        n++;
    engine->locks = config->locks ? ferry_lock_manager_ref(config->locks) : NULL;
    engine->peer_drivers = g_new0(const ferry_driver *, n + 1);
    for (guint i = 0; i < n; i++)
        engine->peer_drivers[i] = config->peer_drivers[i];

    g_mutex_init(&engine->lock);
    engine->active = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify)ferry_mig_job_unref);
    engine->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)ferry_mig_job_unref);
    engine->last = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)ferry_mig_job_unref);
    g_queue_init(&engine->ended);
    engine->runners = g_ptr_array_new();
    g_cond_init(&engine->runners_cond);
    engine->context = g_main_context_new();
    engine->loop = g_main_loop_new(engine->context, FALSE);
    engine->steps = g_thread_pool_new(step_thread, engine, STEP_THREADS, FALSE, NULL);
    engine->thread = g_thread_new("ferry-migration", engine_thread, engine);
    return engine;
}

static gboolean
quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

/* Fails every call a job still owes (the engine is going away). */
static void
abandon_calls(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    ferry_mig_event *ev;

    g_mutex_lock(&job->lock);
    while ((ev = g_queue_pop_head(&ctl->events))) {
        g_mutex_unlock(&job->lock);
        ferry_mig_event_free(ev);
        g_mutex_lock(&job->lock);
    }
    g_mutex_unlock(&job->lock);
    if (ctl->phase_task)
        ferry_mig_fail_task(g_steal_pointer(&ctl->phase_task), FERRY_ERROR_OPERATION_ABORTED,
                  "the migration engine of this host is shutting down");
    for (guint i = 0; i < ctl->waiters->len; i++)
        ferry_mig_fail_task(((ferry_mig_waiter *)ctl->waiters->pdata[i])->task,
                  FERRY_ERROR_OPERATION_ABORTED,
                  "the migration engine of this host is shutting down");
    g_ptr_array_set_size(ctl->waiters, 0);
    for (guint i = 0; i < G_N_ELEMENTS(ctl->timers); i++)
        ferry_mig_timer_stop(job, i);
}

static void engine_free(ferry_mig_engine *engine);

static gpointer
free_thread(gpointer data)
{
    engine_free(data);
    return NULL;
}

void
ferry_mig_engine_free(ferry_mig_engine *engine)
{
    if (!engine)
        return;
    /* The last reference of a test host can go on the engine's own thread
     * (a connection to it dropped there): it cannot join itself. */
    if (g_thread_self() == engine->thread) {
        g_thread_unref(g_thread_new("ferry-engine-free", free_thread, engine));
        return;
    }
    engine_free(engine);
}

void
ferry_mig_engine_stop(ferry_mig_engine *engine)
{
    g_autoptr(GSource) quit = NULL;
    g_autoptr(GPtrArray) jobs = NULL;
    GHashTableIter iter;
    gpointer value;

    if (g_atomic_int_get(&engine->halted))
        return;
    g_mutex_lock(&engine->lock);
    engine->stopping = TRUE;
    g_mutex_unlock(&engine->lock);
    ferry_mig_p2p_stop_all(engine);
    quit = g_idle_source_new();
    g_source_set_callback(quit, quit_loop, engine->loop, NULL);
    g_source_attach(quit, engine->context);
    g_thread_join(engine->thread);
    /* From here no job handles an event, so no step starts; steps in
     * flight finish (they are short) and their events are dropped. */
    g_atomic_int_set(&engine->halted, 1);
    g_thread_pool_free(engine->steps, FALSE, TRUE);

    jobs = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_mig_job_unref);
    g_mutex_lock(&engine->lock);
    g_hash_table_iter_init(&iter, engine->by_id);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        g_ptr_array_add(jobs, ferry_mig_job_ref(value));
    g_mutex_unlock(&engine->lock);
    for (guint i = 0; i < jobs->len; i++) {
        ferry_mig_job *job = jobs->pdata[i];

        abandon_calls(job);
        ferry_mig_dest_shutdown(job);
        g_clear_pointer(&ctl_of(job)->peer, ferry_conn_unref);
        if (!ferry_mig_state_is_final(job->state))
            g_message("domain '%s': migration %s left %s in (%s, %s): the engine stops",
                      job->dom_name, job->id, ferry_mig_role_to_string(job->role),
                      ferry_mig_phase_to_string(job->phase),
                      ferry_mig_state_to_string(job->state));
    }
}

static void
engine_free(ferry_mig_engine *engine)
{
    ferry_mig_engine_stop(engine);
    /* Sources still attached (the pump of a job) hold job references. */
    while (g_main_context_iteration(engine->context, FALSE))
        ;
    g_hash_table_unref(engine->active);
    g_hash_table_unref(engine->by_id);
    g_hash_table_unref(engine->last);
    g_queue_clear_full(&engine->ended, g_free);
    g_ptr_array_unref(engine->runners);
    g_cond_clear(&engine->runners_cond);
    g_main_loop_unref(engine->loop);
    g_main_context_unref(engine->context);
    g_mutex_clear(&engine->lock);
    g_free(engine->peer_drivers);
    g_clear_pointer(&engine->locks, ferry_lock_manager_unref);
    g_free(engine->host_uuid);
    g_free(engine->hostname);
    g_free(engine->peer_uri);
    g_free(engine->record_dir);
    g_free(engine->hook_path);
    g_free(engine->fail_phase);
    g_free(engine);
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                   */
/* ------------------------------------------------------------------------ */

ferry_mig_job *
ferry_mig_engine_find_job(ferry_mig_engine *engine, const char *dom_uuid)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&engine->lock);
    ferry_mig_job *job = g_hash_table_lookup(engine->active, dom_uuid);

    return job ? ferry_mig_job_ref(job) : NULL;
}

static ferry_mig_job *
find_by_id(ferry_mig_engine *engine, const char *id)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&engine->lock);
    ferry_mig_job *job = id ? g_hash_table_lookup(engine->by_id, id) : NULL;

    return job ? ferry_mig_job_ref(job) : NULL;
}

ferry_mig_job *
ferry_mig_engine_find_job_by_id(ferry_mig_engine *engine, const char *id)
{
    return find_by_id(engine, id);
}

ferry_migration_cookie *
ferry_mig_job_get_prepared(ferry_mig_job *job)
{
    return ctl_of(job)->prepared;
}

gpointer
ferry_mig_engine_get_backend_self(ferry_mig_engine *engine)
{
    return engine->backend_self;
}

/* "migration ID (phase perform, running)" for errors. */
static char *
describe(ferry_mig_job *job)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

    return g_strdup_printf("%s migration %s (phase %s, %s)",
                           job->role == FERRY_MIG_ROLE_SOURCE ? "outgoing" : "incoming",
                           job->id, *ferry_mig_phase_to_string(job->phase)
                                        ? ferry_mig_phase_to_string(job->phase) : "none",
                           ferry_mig_state_to_string(job->state));
}

gboolean
ferry_mig_engine_domain_busy(ferry_mig_engine *engine, const char *dom_uuid, GError **error)
{
    g_autoptr(ferry_mig_job) job = ferry_mig_engine_find_job(engine, dom_uuid);
    g_autofree char *what = NULL;

    if (!job)
        return TRUE;
    what = describe(job);
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                "domain '%s' is busy with its %s; abort it first (ferry domjobabort)",
                job->dom_name, what);
    return FALSE;
}

/* Registers a new job; refuses a second active job of the same domain.
 * Engine thread or any: takes the engine lock. */
gboolean
ferry_mig_job_register(ferry_mig_job *job, GError **error)
{
    ferry_mig_engine *engine = job->engine;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&engine->lock);
    ferry_mig_job *other = g_hash_table_lookup(engine->active, job->dom_uuid);

    if (engine->stopping) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "host '%s' is shutting down: no new migration", engine->hostname);
        return FALSE;
    }
    if (other) {
        g_autofree char *what = NULL;

        g_clear_pointer(&locker, g_mutex_locker_free);
        what = describe(other);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is already in an %s on host '%s'", job->dom_name, what,
                    engine->hostname);
        return FALSE;
    }
    if (g_hash_table_contains(engine->by_id, job->id) &&
        !ferry_mig_state_is_final(((ferry_mig_job *)g_hash_table_lookup(engine->by_id,
                                                                        job->id))->state)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "migration %s is already under way on host '%s'", job->id,
                    engine->hostname);
        return FALSE;
    }
    g_hash_table_replace(engine->active, g_strdup(job->dom_uuid), ferry_mig_job_ref(job));
    g_hash_table_replace(engine->by_id, g_strdup(job->id), ferry_mig_job_ref(job));
    ctl_of(job)->registered = TRUE;
    return TRUE;
}

void
ferry_mig_rekey(ferry_mig_job *job, const char *name, const char *uuid)
{
    ferry_mig_engine *engine = job->engine;

    g_mutex_lock(&engine->lock);
    if (g_hash_table_lookup(engine->active, job->dom_uuid) == job)
        g_hash_table_remove(engine->active, job->dom_uuid);
    g_mutex_lock(&job->lock);
    g_free(job->dom_uuid);
    job->dom_uuid = g_strdup(uuid);
    g_free(job->dom_name);
    job->dom_name = g_strdup(name);
    g_mutex_unlock(&job->lock);
    g_hash_table_replace(engine->active, g_strdup(uuid), ferry_mig_job_ref(job));
    g_mutex_unlock(&engine->lock);
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                              */
/* ------------------------------------------------------------------------ */

GTask *
ferry_mig_task_new(GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
                   req_kind kind)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);

    /* The job's answer is the truth, cancelled or not: a call is stopped
     * through the job (an abort), never by dropping its answer. */
    g_task_set_check_cancellable(task, FALSE);
    g_task_set_task_data(task, GINT_TO_POINTER(kind), NULL);
    return task;
}

typedef struct {
    ferry_mig_job *job;
} start_data;

/* Engine thread: registers the job and runs its first phase. */
static gboolean
start_job(gpointer data)
{
    ferry_mig_job *job = data;
    g_autoptr(GError) error = NULL;

    if (!ferry_mig_job_register(job, &error)) {
        ferry_mig_reply_error(job, error);
        return G_SOURCE_REMOVE;
    }
    if (job->role == FERRY_MIG_ROLE_SOURCE)
        ferry_mig_source_begin(job);
    else
        ferry_mig_dest_prepare(job);
    return G_SOURCE_REMOVE;
}

static void
launch(ferry_mig_job *job)
{
    if (g_atomic_int_get(&job->engine->halted)) {
        ferry_mig_fail_task(g_steal_pointer(&ctl_of(job)->phase_task),
                            FERRY_ERROR_OPERATION_INVALID,
                            "the migration engine of this host has stopped: no new migration");
        return;
    }
    g_main_context_invoke_full(job->engine->context, G_PRIORITY_DEFAULT, start_job,
                               ferry_mig_job_ref(job), (GDestroyNotify)ferry_mig_job_unref);
}

void
ferry_mig_engine_begin3(ferry_mig_engine *engine, ferry_domain *dom,
                        const ferry_migrate_params *params, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
    g_autofree char *id = g_uuid_string_random();
    g_autoptr(ferry_mig_job) job = ferry_mig_job_create(engine, id, FERRY_MIG_ROLE_SOURCE, 3,
                                                        dom->name, dom->uuid, params);

    ctl_of(job)->phase_task = ferry_mig_task_new(cancellable, callback, user_data, 0);
    ctl_of(job)->driver = dom->conn;
    ctl_of(job)->p2p = ferry_mig_p2p_is_runner(engine, cancellable);
    if (ctl_of(job)->p2p)
        ctl_of(job)->runner = g_object_ref(cancellable);
    launch(job);
}

/* Parses @xml with the backend; refuses the same host and paths the backend
 * does not allow; renames to dname. */
void
ferry_mig_engine_prepare(ferry_mig_engine *engine, ferry_conn *dconn, int protocol,
                         const ferry_migrate_params *params, const char *dom_xml,
                         const char *cookie_in, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
    ferry_mig_engine_prepare_tunnel(engine, dconn, protocol, params, dom_xml, cookie_in, NULL,
                                    cancellable, callback, user_data);
}

void
ferry_mig_engine_prepare_tunnel(ferry_mig_engine *engine, ferry_conn *dconn, int protocol,
                                const ferry_migrate_params *params, const char *dom_xml,
                                const char *cookie_in, GSocket *tunnel,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
    GTask *task = ferry_mig_task_new(cancellable, callback, user_data, 0);
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_domain_def) def = NULL;
    g_autoptr(ferry_mig_job) job = NULL;
    g_autofree char *id = NULL;
    GError *error = NULL;
    const char *phase = protocol == 3 ? "Prepare3" : protocol == 2 ? "Prepare2" : "Prepare";

    if (protocol == 3) {
        cookie = ferry_migration_cookie_parse(cookie_in, phase, &error);
        if (!cookie)
            goto fail;
        if (g_ascii_strcasecmp(cookie->host_uuid, engine->host_uuid) == 0) {
            g_set_error(&error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                        "migration to the same host refused: host '%s' has uuid %s, the "
                        "same as the source's", engine->hostname, engine->host_uuid);
            goto fail;
        }
    }
    if (dom_xml) {
        def = engine->backend->parse_def(engine->backend_self, dom_xml,
                                         "the migrated domain's XML", &error);
        if (!def)
            goto fail;
        if (params->dname) {
            g_free(def->name);
            def->name = g_strdup(params->dname);
        }
    }
    if (engine->backend->check_paths &&
        !engine->backend->check_paths(engine->backend_self, def, cookie,
                                      ferry_conn_is_confined(dconn), &error)) {
        g_prefix_error(&error, "%s on host '%s': ", phase, engine->hostname);
        goto fail;
    }
    id = cookie ? g_strdup(cookie->id) : g_uuid_string_random();
    /* v1 knows nothing of the domain yet: the data will bring it. */
    job = ferry_mig_job_create(engine, id, FERRY_MIG_ROLE_DESTINATION, protocol,
                     def ? def->name : "(arriving)", def ? def->uuid : id, params);
    ctl_of(job)->phase_task = task;
    ctl_of(job)->driver = dconn;
    ctl_of(job)->def = g_steal_pointer(&def);
    ctl_of(job)->cookie_in = g_steal_pointer(&cookie);
    ctl_of(job)->offline = (params->flags & FERRY_MIGRATE_OFFLINE) != 0;
    if (tunnel) {
        g_mutex_lock(&job->lock);
        job->tunnel = g_object_ref(tunnel);
        g_mutex_unlock(&job->lock);
    }
    launch(job);
    return;

fail:
    g_task_return_error(task, error);
    g_object_unref(task);
}

void
ferry_mig_post_request(ferry_mig_job *job, req_kind kind, GTask *task, ferry_conn *conn,
                       ferry_migration_cookie *cookie, const ferry_migrate_params *params,
                       int outcome, const char *message)
{
    ferry_mig_event *ev = ferry_mig_event_new(EV_REQUEST, kind);

    ev->task = task;
    ev->conn = conn;
    ev->cookie = cookie;
    ev->params = params ? ferry_mig_params_new(params) : NULL;
    ev->outcome = outcome;
    ev->message = g_strdup(message);
    ferry_mig_job_post(job, ev);
}

/* Finds the job a source-side call continues: the domain's active job, or
 * (for a late Confirm) the last one with that id. */
static ferry_mig_job *
source_job_for(ferry_mig_engine *engine, ferry_domain *dom, const char *id)
{
    ferry_mig_job *job = ferry_mig_engine_find_job(engine, dom->uuid);

    if (job && job->role == FERRY_MIG_ROLE_SOURCE && (!id || strcmp(job->id, id) == 0))
        return job;
    g_clear_pointer(&job, ferry_mig_job_unref);
    if (id) {
        job = find_by_id(engine, id);
    } else {
        /* No cookie (Perform failed before giving one): the domain's last. */
        g_mutex_lock(&engine->lock);
        job = g_hash_table_lookup(engine->last, dom->uuid);
        job = job ? ferry_mig_job_ref(job) : NULL;
        g_mutex_unlock(&engine->lock);
    }
    if (job && job->role == FERRY_MIG_ROLE_SOURCE && strcmp(job->dom_uuid, dom->uuid) == 0)
        return job;
    g_clear_pointer(&job, ferry_mig_job_unref);
    return NULL;
}

void
ferry_mig_engine_perform(ferry_mig_engine *engine, ferry_domain *dom, int protocol,
                         const ferry_migrate_params *params, const char *dconn_uri,
                         const char *cookie_in, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
    ferry_mig_engine_perform_tunnel(engine, dom, protocol, params, dconn_uri, cookie_in, NULL,
                                    cancellable, callback, user_data);
}

void
ferry_mig_engine_perform_tunnel(ferry_mig_engine *engine, ferry_domain *dom, int protocol,
                                const ferry_migrate_params *params, const char *dconn_uri,
                                const char *cookie_in, GSocket *tunnel,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
    GTask *task = ferry_mig_task_new(cancellable, callback, user_data, REQ_PERFORM);
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_mig_job) job = NULL;
    GError *error = NULL;
    const char *phase = protocol == 3 ? "Perform3" : "Perform";

    if (protocol == 3 && (params->flags & FERRY_MIGRATE_PEER2PEER)) {
        ferry_mig_p2p_start(engine, dom, params, dconn_uri, task);
        return;
    }
    cookie = ferry_migration_cookie_parse(cookie_in, phase, &error);
    if (!cookie)
        goto fail;
    if (protocol < 3) {
        /* v1 and v2 have no Begin: Perform makes the source's job. */
        if (g_ascii_strcasecmp(cookie->host_uuid, engine->host_uuid) == 0) {
            g_set_error(&error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                        "migration to the same host (uuid %s) refused", engine->host_uuid);
            goto fail;
        }
        job = ferry_mig_job_create(engine, cookie->id, FERRY_MIG_ROLE_SOURCE, protocol, dom->name,
                         dom->uuid, params);
        ctl_of(job)->phase_task = task;
        ctl_of(job)->driver = dom->conn;
        ctl_of(job)->prepared = g_steal_pointer(&cookie);
        launch(job);
        return;
    }
    job = source_job_for(engine, dom, cookie->id);
    if (job && ferry_mig_state_is_final(job->state)) {
        /* Ended before Perform came (an abort, a destroy): say how, with
         * the code the sequence tells Finish apart by. */
        g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

        g_set_error(&error, FERRY_ERROR,
                    job->state == FERRY_MIG_STATE_CANCELLED ? FERRY_ERROR_OPERATION_ABORTED
                    : FERRY_ERROR_OPERATION_INVALID,
                    "%s: migration %s of domain '%s' already ended %s on host '%s'%s%s", phase,
                    cookie->id, dom->name, ferry_mig_state_to_string(job->state),
                    engine->hostname, job->message ? ": " : "",
                    job->message ? job->message : "");
        goto fail;
    }
    if (!job) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "%s: domain '%s' has no outgoing migration %s in progress on host '%s'",
                    phase, dom->name, cookie->id, engine->hostname);
        goto fail;
    }
    if (tunnel) {
        g_mutex_lock(&job->lock);
        g_set_object(&job->tunnel, tunnel);
        g_mutex_unlock(&job->lock);
    }
    ferry_mig_post_request(job, REQ_PERFORM, task, dom->conn, g_steal_pointer(&cookie), params,
                           0, NULL);
    return;

fail:
    g_task_return_error(task, error);
    g_object_unref(task);
}

void
ferry_mig_engine_confirm3(ferry_mig_engine *engine, ferry_domain *dom,
                          const ferry_migrate_params *params, const char *cookie_in,
                          int outcome, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    GTask *task = ferry_mig_task_new(cancellable, callback, user_data, REQ_CONFIRM);
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_mig_job) job = NULL;
    GError *error = NULL;

    /* A cancelled migration may have no Finish cookie: the job is the
     * domain's. */
    if (cookie_in && *cookie_in &&
        !(cookie = ferry_migration_cookie_parse(cookie_in, "Confirm3", &error)))
        goto fail;
    job = source_job_for(engine, dom, cookie ? cookie->id : NULL);
    if (!job) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "Confirm3: domain '%s' has no outgoing migration%s%s to confirm on host "
                    "'%s'", dom->name, cookie ? " " : "", cookie ? cookie->id : "",
                    engine->hostname);
        goto fail;
    }
    ferry_mig_post_request(job, REQ_CONFIRM, task, dom->conn, g_steal_pointer(&cookie), params,
                           outcome, NULL);
    return;

fail:
    g_task_return_error(task, error);
    g_object_unref(task);
}

void
ferry_mig_engine_finish(ferry_mig_engine *engine, ferry_conn *dconn, int protocol,
                        const ferry_migrate_params *params, const char *dname,
                        const char *cookie_in, gboolean cancelled, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = ferry_mig_task_new(cancellable, callback, user_data, REQ_FINISH);
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    g_autoptr(ferry_mig_job) job = NULL;
    GError *error = NULL;
    const char *phase = protocol == 3 ? "Finish3" : protocol == 2 ? "Finish2" : "Finish";

    if (cookie_in && *cookie_in &&
        !(cookie = ferry_migration_cookie_parse(cookie_in, phase, &error)))
        goto fail;
    if (cookie)
        job = find_by_id(engine, cookie->id);
    if (job && job->role != FERRY_MIG_ROLE_DESTINATION)
        g_clear_pointer(&job, ferry_mig_job_unref);
    if (!job && !cookie) {
        /* Only a name to go by (v1/v2 without a cookie). */
        g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&engine->lock);
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, engine->active);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            ferry_mig_job *j = value;

            if (j->role == FERRY_MIG_ROLE_DESTINATION && strcmp(j->dom_name, dname) == 0)
                job = ferry_mig_job_ref(j);
        }
    }
    if (!job) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "%s: host '%s' has no incoming migration%s%s of a domain named '%s'",
                    phase, engine->hostname, cookie ? " " : "", cookie ? cookie->id : "",
                    dname);
        goto fail;
    }
    ferry_mig_post_request(job, REQ_FINISH, task, dconn, g_steal_pointer(&cookie), params,
                           cancelled, dname);
    return;

fail:
    g_task_return_error(task, error);
    g_object_unref(task);
}

void
ferry_mig_engine_abort(ferry_mig_engine *engine, ferry_domain *dom, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = ferry_mig_task_new(cancellable, callback, user_data, REQ_ABORT);
    g_autoptr(ferry_mig_job) job = ferry_mig_engine_find_job(engine, dom->uuid);

    if (!job) {
        g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                                "domain '%s' has no migration job to abort on host '%s'",
                                dom->name, engine->hostname);
        g_object_unref(task);
        return;
    }
    ferry_mig_post_request(job, REQ_ABORT, task, dom->conn, NULL, NULL, 0,
                           "aborted by the user (domjobabort)");
}

void
ferry_mig_engine_postcopy_recover(ferry_mig_engine *engine, const char *id,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
    GTask *task = ferry_mig_task_new(cancellable, callback, user_data, REQ_RECOVER);
    g_autoptr(ferry_mig_job) job = find_by_id(engine, id);

    if (!job || job->role != FERRY_MIG_ROLE_DESTINATION) {
        g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                                "host '%s' receives no migration %s", engine->hostname, id);
        g_object_unref(task);
        return;
    }
    ferry_mig_post_request(job, REQ_RECOVER, task, NULL, NULL, NULL, 0, NULL);
}

void
ferry_mig_engine_cancel(ferry_mig_engine *engine, const char *id, const char *reason,
                        GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
    GTask *task = ferry_mig_task_new(cancellable, callback, user_data, REQ_CANCEL);
    g_autoptr(ferry_mig_job) job = find_by_id(engine, id);
    g_autofree char *why = g_strdup_printf("cancelled by the other host: %s",
                                           reason ? reason : "no reason given");

    if (!job) {
        /* Nothing of it here: nothing that could run. */
        ferry_phase_task_return(task, g_new0(ferry_phase_result, 1));
        return;
    }
    ferry_mig_post_request(job, REQ_CANCEL, task, NULL, NULL, NULL, 0, why);
}

static int
status_of(ferry_mig_job *job)
{
    if (job->may_have_run && job->state != FERRY_MIG_STATE_COMPLETED)
        return FERRY_MIGRATION_COMMITTED;
    switch (job->state) {
    case FERRY_MIG_STATE_COMPLETED:
        return FERRY_MIGRATION_COMPLETED;
    case FERRY_MIG_STATE_FAILED:
        return FERRY_MIGRATION_FAILED;
    case FERRY_MIG_STATE_CANCELLED:
        return FERRY_MIGRATION_CANCELLED;
    case FERRY_MIG_STATE_COMMITTED:
        return FERRY_MIGRATION_COMMITTED;
    default:
        return FERRY_MIGRATION_ACTIVE;
    }
}

void
ferry_mig_engine_query(ferry_mig_engine *engine, const char *id, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = ferry_mig_task_new(cancellable, callback, user_data, 0);
    g_autoptr(ferry_mig_job) job = find_by_id(engine, id);
    ferry_phase_result *r = g_new0(ferry_phase_result, 1);

    if (!job) {
        r->status = FERRY_MIGRATION_UNKNOWN;
        r->message = g_strdup_printf("host '%s' knows no migration %s", engine->hostname, id);
    } else {
        g_autofree char *what = describe(job);

        g_mutex_lock(&job->lock);
        r->status = status_of(job);
        r->message = g_strdup_printf("%s of domain '%s' on host '%s'%s%s", what, job->dom_name,
                                     engine->hostname, job->message ? ": " : "",
                                     job->message ? job->message : "");
        g_mutex_unlock(&job->lock);
    }
    ferry_phase_task_return(task, r);
}

void
ferry_mig_engine_conn_closed(ferry_mig_engine *engine, ferry_conn *conn)
{
    g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_mig_job_unref);
    GHashTableIter iter;
    gpointer value;

    g_mutex_lock(&engine->lock);
    g_hash_table_iter_init(&iter, engine->active);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        g_ptr_array_add(jobs, ferry_mig_job_ref(value));
    g_mutex_unlock(&engine->lock);
    for (guint i = 0; i < jobs->len; i++) {
        ferry_mig_job *job = jobs->pdata[i];
        ferry_mig_event *ev = ferry_mig_event_new(EV_CONN_CLOSED, 0);

        /* Compared on the engine thread, where `driver` lives. */
        ev->conn = conn;
        ferry_mig_job_post(job, ev);
    }
}
