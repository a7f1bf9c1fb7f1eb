/*
 * migration-dest.c: a migration as the destination host sees it --
 * Prepare, then Finish -- and what can happen in between: the data
 * arriving or failing, an abort, the source daemon's "cancel migration
 * ID", the client vanishing, the incoming QEMU dying.
 *
 * The rule this file keeps: the destination runs the guest only from
 * Finish of a job that is still alive here, and records the decision
 * (FINISH, COMMITTED) before the guest runs; a job that ended cancelled or
 * failed refuses every later Finish, so that a source asking "does it run
 * there?" gets a lasting answer.  A complete copy is never dropped on the
 * destination's own initiative: once everything arrived, only Finish, an
 * abort or the source's daemon decide.
 */
#include "ferry-config.h"

#include <glib/gstdio.h>

#include <string.h>

#include "migration/migration-engine-private.h"
#include "util/error.h"

#define NON_SHARED ((guint)(FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC))
/* How long Finish waits for the last data once the source said it sent
 * everything. */
#define FINISH_WAIT_MS (60 * 1000)
/* How long a cancel by the source waits for its stream to end. */
#define CANCEL_GRACE_MS (10 * 1000)

typedef enum {
    STEP_PREPARE = 1,
    STEP_ACTIVATE,
    STEP_DISCARD,
    STEP_RECOVER,       /* post-copy paused: listen again */
    STEP_LAUNCH,        /* after Prepare answered: what the backend left (QEMU's start) */
} dest_step;

static void rollback(ferry_mig_job *job, ferry_mig_state final);
static gboolean step_launch(ferry_mig_job *job, gpointer data, GError **error);
static gboolean step_discard(ferry_mig_job *job, gpointer data, GError **error);
static void give_up(ferry_mig_job *job, ferry_mig_event *ev, const char *why,
                    ferry_mig_state final);
static void request(ferry_mig_job *job, ferry_mig_event *ev);
static void ask_source_while_paused(ferry_mig_job *job);
static gboolean postcopy_paused_here(ferry_mig_job *job);

/* ------------------------------------------------------------------------ */
/* Prepare                                                                   */
/* ------------------------------------------------------------------------ */

/* Adds the incoming domain from @def (taken) and takes its domain job. */
static gboolean
add_domain(ferry_mig_job *job, ferry_domain_def *def, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autoptr(ferry_domain_def) owned = def;
    g_autoptr(ferry_domain_obj) obj = NULL;
    g_autofree char *owner = g_strdup_printf("incoming migration %s", job->id);

    if (ctl->offline) {
        /* The definition moves; nothing runs.  Finish keeps or drops it. */
        g_autoptr(ferry_domain_obj) existing =
            ferry_domain_obj_list_find_by_uuid(engine->domains, def->uuid);

        if (!ferry_domain_obj_list_check_clash(engine->domains, def, error))
            return FALSE;
        if (engine->backend->save_def &&
            !engine->backend->save_def(engine->backend_self, def, error))
            return FALSE;
        ctl->created = existing == NULL;
        obj = ferry_domain_obj_list_define(engine->domains, g_steal_pointer(&owned), NULL,
                                           error);
    } else {
        obj = ferry_domain_obj_list_add_transient(engine->domains, g_steal_pointer(&owned),
                                                  error);
        ctl->created = obj != NULL;
    }
    if (!obj)
        return FALSE;
    if (!ferry_domain_obj_begin_job(obj, FERRY_JOB_MIGRATION_IN, owner, error)) {
        if (ctl->created)
            ferry_domain_obj_list_remove(engine->domains, obj);
        return FALSE;
    }
    g_mutex_lock(&job->lock);
    job->obj = g_steal_pointer(&obj);
    job->holds_domain = TRUE;
    g_mutex_unlock(&job->lock);
    return TRUE;
}

gboolean
ferry_mig_job_adopt_definition(ferry_mig_job *job, const char *xml, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autoptr(ferry_domain_def) def = NULL;
    g_autofree char *formatted = NULL;
    /* A caller that is gone cannot be asked: it is not trusted either. */
    gboolean confined = !ctl->driver || ferry_conn_is_confined(ctl->driver);

    def = engine->backend->parse_def(engine->backend_self, xml,
                                     "the domain XML the source sent (protocol v1)", error);
    if (!def)
        return FALSE;
    if (job->params->p.dname) {
        g_free(def->name);
        def->name = g_strdup(job->params->p.dname);
    }
    if (engine->backend->check_paths &&
        !engine->backend->check_paths(engine->backend_self, def, NULL, confined, error))
        return FALSE;
    formatted = ferry_domain_def_format(def);
    if (!ferry_mig_hook_run(engine->hook_path, def->name, "migrate", "prepare", formatted,
                            error) ||
        !add_domain(job, g_steal_pointer(&def), error))
        return FALSE;
    /* The hypervisor's events find a job by its domain's uuid, and they
     * come as soon as its process starts: the job answers to that uuid now
     * (launch_done() renames it on the engine's thread). */
    g_mutex_lock(&engine->lock);
    g_hash_table_replace(engine->active, g_strdup(job->obj->uuid), ferry_mig_job_ref(job));
    g_mutex_unlock(&engine->lock);
    return TRUE;
}

/* Drops what add_domain() made, for an offline migration (a live one's
 * domain goes with its process, in the backend's discard). */
static void
drop_offline(ferry_mig_job *job)
{
    ferry_mig_engine *engine = engine_of(job);
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!job->obj || !ctl->offline || !ctl->created)
        return;
    if (engine->backend->delete_def)
        engine->backend->delete_def(engine->backend_self, job->obj->name, NULL);
    g_mutex_lock(&job->obj->lock);
    g_clear_pointer(&job->obj->def, ferry_domain_def_free);
    g_mutex_unlock(&job->obj->lock);
    ferry_domain_obj_list_remove(engine->domains, job->obj);
}

/* The source's policy may choose post-copy by itself: if this host can
 * receive it, its QEMU is set up for it and Prepare's cookie says so. */
static void
offer_postcopy(ferry_mig_job *job, ferry_migration_cookie *out)
{
    const ferry_mig_backend *backend = engine_of(job)->backend;
    g_autofree char *why_not = NULL;

    if (!backend->start_postcopy || !backend->postcopy_possible ||
        !backend->postcopy_possible(job, &why_not)) {
        g_message("domain '%s': migration %s: this host cannot receive post-copy%s%s: the "
                  "source's policy will not choose it", job->dom_name, job->id,
                  why_not ? ": " : "", why_not ? why_not : "");
        return;
    }
    g_mutex_lock(&job->lock);
    job->params->p.flags |= FERRY_MIGRATE_POSTCOPY;
    g_mutex_unlock(&job->lock);
    ferry_migration_cookie_add_feature(out, "postcopy");
}

static gboolean
step_prepare(ferry_mig_job *job, gpointer data, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    ferry_mig_job_ctl *ctl = ctl_of(job);
    const ferry_migrate_params *p = &job->params->p;
    g_autoptr(ferry_migration_cookie) out = ferry_mig_cookie_new(job);
    g_autofree char *uri = NULL;
    g_autoptr(GError) local = NULL;
    gboolean known = ctl->def != NULL;

    if (!ferry_mig_inject(job, "prepare", error) ||
        (job->protocol == 3 && !ferry_mig_lease_check_cookie(job, ctl->cookie_in, error)))
        return FALSE;
    if ((p->flags & NON_SHARED) && !engine->nbd) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "%s: host '%s' does not offer storage migration over NBD",
                    job->protocol == 3 ? "Prepare3" : job->protocol == 2 ? "Prepare2"
                    : "Prepare", engine->hostname);
        return FALSE;
    }
    if ((p->flags & FERRY_MIGRATE_POSTCOPY) && !engine->backend->start_postcopy) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "Prepare: host '%s' cannot receive a migration in post-copy",
                    engine->hostname);
        return FALSE;
    }
    if (!(p->flags & FERRY_MIGRATE_POSTCOPY) &&
        ferry_migration_cookie_has_feature(ctl->cookie_in, "postcopy-auto"))
        offer_postcopy(job, out);
    if (ctl->def) {
        g_autofree char *xml = ferry_domain_def_format(ctl->def);

        if (!ferry_mig_hook_run(engine->hook_path, ctl->def->name, "migrate", "prepare", xml,
                                error) ||
            !add_domain(job, g_steal_pointer(&ctl->def), error))
            return FALSE;
    }
    /* Before the incoming side exists: snapshots that cannot be taken
     * fail Prepare with nothing else to undo. */
    if (!ferry_mig_snap_pull(job, ctl->cookie_in, out, &local) ||
        (!ctl->offline &&
         !engine->backend->start_incoming(job, ctl->cookie_in, out, &uri, &local))) {
        /* The backend left nothing behind; the domain goes too. */
        ferry_mig_snap_dest_discard(job);
        if (job->obj && ctl->created && !ctl->offline) {
            g_mutex_lock(&job->obj->lock);
            g_clear_pointer(&job->obj->live, ferry_domain_def_free);
            g_mutex_unlock(&job->obj->lock);
            ferry_domain_obj_list_remove(engine->domains, job->obj);
        }
        g_propagate_prefixed_error(error, g_steal_pointer(&local), "Prepare on host '%s': ",
                                   engine->hostname);
        return FALSE;
    }
    /* v1's Prepare knows no domain yet: its cookie names none. */
    if (known) {
        out->dom_name = g_strdup(job->dom_name);
        out->dom_uuid = g_strdup(job->dom_uuid);
    }
    ctl->out_cookie = ferry_migration_cookie_format(out);
    ctl->uri_out = g_steal_pointer(&uri);
    return TRUE;
}

void
ferry_mig_dest_prepare(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ctl->source_paused = ctl->cookie_in && ctl->cookie_in->features &&
                         g_ptr_array_find_with_equal_func(ctl->cookie_in->features,
                                                          "source-paused", g_str_equal, NULL);
    if (ctl->cookie_in && ctl->cookie_in->peer_uri)
        job->peer_uri = g_strdup(ctl->cookie_in->peer_uri);
    ferry_mig_move(job, FERRY_MIG_PHASE_PREPARE, FERRY_MIG_STATE_RUNNING);
    ferry_mig_run_step(job, STEP_PREPARE, step_prepare, NULL);
}

static void
prepare_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    ferry_phase_result *r;
    gboolean launch;

    if (!ev->ok) {
        ctl->end_code = ev->error->domain == FERRY_ERROR ? ev->error->code : FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, ctl->end_code, "%s", ev->error->message);
        ferry_mig_reply_error(job, ev->error);
        drop_offline(job);
        ferry_mig_move(job, FERRY_MIG_PHASE_PREPARE, FERRY_MIG_STATE_ROLLBACK);
        ferry_mig_end(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    launch = !ctl->offline && engine_of(job)->backend->launch_incoming;
    /* Its process recorded once it exists (after the launch, if any). */
    if (job->obj && !ctl->offline && !launch)
        ferry_mig_set_domain_state(job, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION,
                                   FERRY_LIFECYCLE_STARTED);
    ferry_mig_move(job, FERRY_MIG_PHASE_PREPARE, FERRY_MIG_STATE_WAITING);
    r = g_new0(ferry_phase_result, 1);
    r->cookie = g_steal_pointer(&ctl->out_cookie);
    r->uri = g_strdup(ctl->uri_out);
    ferry_mig_reply(job, r);
    ferry_mig_timer_start(job, TIMER_WATCHDOG, 1000, TRUE);
    g_message("domain '%s': migration %s prepared, incoming on %s", job->dom_name, job->id,
              ctl->offline ? "(offline)" : ctl->uri_out ? ctl->uri_out : "?");
    if (launch) {
        ctl->launching = TRUE;
        ferry_mig_run_step(job, STEP_LAUNCH, step_launch, NULL);
    }
}

/* The source may already send (into the socket Prepare listens on) while
 * this runs; a failure is the source's connection reset, and the job's
 * message says why. */
static gboolean
step_launch(ferry_mig_job *job, gpointer data, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (!ferry_mig_inject(job, "launch", &local) ||
        !engine_of(job)->backend->launch_incoming(job, &local)) {
        g_propagate_prefixed_error(error, g_steal_pointer(&local), "Prepare on host '%s': ",
                                   engine_of(job)->hostname);
        return FALSE;
    }
    return TRUE;
}

static void
launch_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    ferry_mig_event *held = g_steal_pointer(&ctl->held_finish);

    ctl->launching = FALSE;
    if (ctl->discard_pending) {
        /* Given up while it ran (rollback()): the discard it waited for. */
        ctl->discard_pending = FALSE;
        ferry_mig_run_step(job, STEP_DISCARD, step_discard, NULL);
    } else if (!ev->ok) {
        /* This side failed by itself: the source must not try again. */
        ctl->end_code = FERRY_ERROR_MIGRATE;
        g_warning("domain '%s': migration %s: %s", job->dom_name, job->id, ev->error->message);
        give_up(job, NULL, ev->error->message, FERRY_MIG_STATE_FAILED);
    } else if (job->obj) {
        /* v1: the job learnt its domain only now. */
        if (strcmp(job->dom_uuid, job->obj->uuid) != 0)
            ferry_mig_rekey(job, job->obj->name, job->obj->uuid);
        ferry_mig_set_domain_state(job, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION,
                                   FERRY_LIFECYCLE_STARTED);
    }
    if (!held)
        return;
    if (job->state == FERRY_MIG_STATE_ROLLBACK && held->outcome) {
        /* Finish(cancelled): answered with why, once the rollback ends. */
        ferry_mig_add_waiter(job, held);
    } else {
        request(job, held);
    }
    ferry_mig_event_free(held);
}

/* ------------------------------------------------------------------------ */
/* Finish                                                                    */
/* ------------------------------------------------------------------------ */

static gboolean
step_activate(ferry_mig_job *job, gpointer data, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    ferry_mig_job_ctl *ctl = ctl_of(job);
    const ferry_migrate_params *p = &job->params->p;
    gboolean run = !(p->flags & FERRY_MIGRATE_PAUSED) && !ctl->source_paused;
    g_autoptr(GError) local = NULL;

    if (!ctl->offline) {
        /* The lease before the guest runs: held elsewhere, the guest may
         * run there, and this copy is dropped instead (the source takes it
         * back before it resumes). */
        if (!ferry_mig_lease_acquire(job, error))
            return FALSE;
        if (!engine->backend->activate(job, run, error)) {
            ferry_mig_lease_release(job);
            return FALSE;
        }
        g_mutex_lock(&job->lock);
        job->resumed_real = g_get_real_time();
        g_mutex_unlock(&job->lock);
    }
    if ((p->flags & FERRY_MIGRATE_PERSIST_DEST) && job->obj) {
        const ferry_migration_cookie *c = ctl->cookie_in;
        ferry_domain_def *def;

        g_mutex_lock(&job->obj->lock);
        def = ferry_domain_def_copy(c && c->persistent ? c->persistent
                                    : job->obj->live ? job->obj->live : job->obj->def);
        g_mutex_unlock(&job->obj->lock);
        g_free(def->name);
        def->name = g_strdup(job->obj->name);
        if (engine->backend->save_def &&
            !engine->backend->save_def(engine->backend_self, def, &local)) {
            g_warning("domain '%s': arrived but not persisted: %s", job->obj->name,
                      local->message);
            ferry_domain_def_free(def);
        } else {
            g_mutex_lock(&job->obj->lock);
            ferry_domain_def_free(job->obj->def);
            job->obj->def = def;
            g_mutex_unlock(&job->obj->lock);
            ctl->persisted = TRUE;
        }
    }
    return TRUE;
}

/* Everything arrived: decide, record the decision, run the guest. */
static void
commit(ferry_mig_job *job)
{
    g_autoptr(GError) error = NULL;

    ferry_mig_timer_stop(job, TIMER_FINISH);
    if (!ferry_mig_inject(job, "finish", &error)) {
        /* The data has arrived, yet the destination cannot take the
         * domain: the case Confirm exists for. */
        ctl_of(job)->end_code = error->code;
        ferry_mig_job_set_message(job, error->code, "Finish: %s", error->message);
        rollback(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    if (!job->obj) {
        /* v1: the data should have brought the domain. */
        ctl_of(job)->end_code = FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                  "Finish: the migration's data brought no domain to host '%s'",
                                  engine_of(job)->hostname);
        rollback(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    ferry_mig_move(job, FERRY_MIG_PHASE_FINISH, FERRY_MIG_STATE_COMMITTED);
    ferry_mig_fault(job, "finish-committed", NULL);
    ferry_mig_run_step(job, STEP_ACTIVATE, step_activate, NULL);
}

/* Post-copy: every page arrived; the migration is complete here. */
static void
postcopy_in_done(ferry_mig_job *job)
{
    g_mutex_lock(&job->lock);
    g_strlcpy(job->info.postcopy, "done", sizeof(job->info.postcopy));
    g_mutex_unlock(&job->lock);
    ferry_mig_job_set_message(job, 0, "post-copy done: every page arrived");
    g_message("domain '%s': migration %s: post-copy done", job->dom_name, job->id);
    ferry_mig_end(job, FERRY_MIG_STATE_COMPLETED);
}

static gboolean
step_recover(ferry_mig_job *job, gpointer data, GError **error)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    g_clear_pointer(&ctl->recover_uri, g_free);
    return engine_of(job)->backend->postcopy_listen(job, &ctl->recover_uri, error);
}

/* The source's daemon asks this host to listen again for a post-copy
 * whose stream broke. */
static void
recover_request(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    const char *refusal = NULL;

    if (!ctl->postcopy_in)
        refusal = "it is not in post-copy here";
    else if (!engine_of(job)->backend->postcopy_listen)
        refusal = "this host cannot resume a post-copy";
    else if (ctl->busy || ctl->recover_task)
        refusal = "this host is busy with it; ask again";
    if (refusal) {
        g_autofree char *msg = g_strdup_printf("migration %s of domain '%s': cannot listen "
                                               "again: %s", job->id, job->dom_name, refusal);

        ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID, msg);
        return;
    }
    ctl->recover_task = g_steal_pointer(&ev->task);
    ferry_mig_run_step(job, STEP_RECOVER, step_recover, NULL);
}

static void
recover_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    GTask *task = g_steal_pointer(&ctl->recover_task);
    ferry_phase_result *r;

    if (!task)
        return;
    if (!ev->ok) {
        g_task_return_error(task, g_error_copy(ev->error));
        g_object_unref(task);
        return;
    }
    g_message("domain '%s': migration %s: listening again for its post-copy at %s",
              job->dom_name, job->id, ctl->recover_uri);
    g_mutex_lock(&job->lock);
    g_strlcpy(job->info.postcopy, "recovering", sizeof(job->info.postcopy));
    g_mutex_unlock(&job->lock);
    r = g_new0(ferry_phase_result, 1);
    r->uri = g_strdup(ctl->recover_uri);
    ferry_phase_task_return(task, r);
}

/* What QEMU says while the guest runs here in post-copy. */
static void
postcopy_in_event(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    switch (ev->kind) {
    case FERRY_MIG_EV_INCOMING_DONE:
        if (ev->value == 2) {
            /* Going on again after a break. */
            g_mutex_lock(&job->lock);
            g_strlcpy(job->info.postcopy, "active", sizeof(job->info.postcopy));
            g_mutex_unlock(&job->lock);
            ferry_mig_job_set_message(job, 0, "post-copy resumed after its stream broke");
            ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
            return;
        }
        if (ev->value != 1)
            return;
        if (ctl->busy)
            ctl->postcopy_in_complete = TRUE;   /* activate_done() ends it */
        else
            postcopy_in_done(job);
        return;
    case FERRY_MIG_EV_POSTCOPY_PAUSED:
        g_mutex_lock(&job->lock);
        g_strlcpy(job->info.postcopy, "paused", sizeof(job->info.postcopy));
        g_mutex_unlock(&job->lock);
        ferry_mig_job_set_message(job, 0, "post-copy paused: %s; the guest waits here for the "
                                  "pages it lacks", ev->message ? ev->message
                                                                : "its link broke");
        g_warning("domain '%s': migration %s: post-copy paused (%s)", job->dom_name, job->id,
                  ev->message ? ev->message : "its link broke");
        ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
        ask_source_while_paused(job);
        return;
    case FERRY_MIG_EV_INCOMING_FAILED:
    case FERRY_MIG_EV_EXITED:
        if (ctl->busy)
            return;     /* the activation in flight fails and says why */
        ctl->end_code = FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                  "post-copy of domain '%s' failed on host '%s': %s", job->dom_name,
                                  engine_of(job)->hostname,
                                  ev->kind == FERRY_MIG_EV_EXITED ? "its QEMU exited"
                                  : ev->message ? ev->message : "the incoming stream failed");
        ferry_mig_move(job, FERRY_MIG_PHASE_FINISH, FERRY_MIG_STATE_ROLLBACK);
        ferry_mig_end(job, FERRY_MIG_STATE_FAILED);
        return;
    default:
        return;
    }
}

static void
activate_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    const ferry_migrate_params *p = &job->params->p;
    g_autoptr(ferry_migration_cookie) out = NULL;
    ferry_phase_result *r;

    if (!ev->ok) {
        ctl->end_code = FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                  "Finish: domain '%s' arrived but cannot run: %s",
                                  job->dom_name, ev->error->message);
        rollback(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    if (ctl->persisted)
        ferry_domain_obj_emit_lifecycle(engine_of(job)->bus, job->obj, FERRY_LIFECYCLE_DEFINED);
    if (!ctl->offline && job->obj) {
        if ((p->flags & FERRY_MIGRATE_PAUSED) || ctl->source_paused)
            ferry_mig_set_domain_state(job, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER,
                                       FERRY_LIFECYCLE_SUSPENDED);
        else
            ferry_mig_set_domain_state(job, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED,
                                       FERRY_LIFECYCLE_RESUMED);
    }
    out = ferry_mig_cookie_new(job);
    out->has_result = TRUE;
    out->result_ok = TRUE;
    out->has_stats = job->resumed_real != 0;
    out->resumed_real_us = job->resumed_real;
    ferry_mig_snap_dest_finished(job, out);
    r = g_new0(ferry_phase_result, 1);
    r->cookie = ferry_migration_cookie_format(out);
    if (ctl->finish_conn)
        r->dom = ferry_domain_new_handle(ctl->finish_conn, job->dom_name, job->dom_uuid);
    if (ctl->postcopy_in && !ctl->postcopy_in_complete) {
        /* The guest runs here; its last pages are still coming.  The job
         * (and the streams it holds) lasts until they have. */
        ferry_mig_reply(job, r);
        g_message("domain '%s': migration %s arrived in post-copy, running", job->dom_name,
                  job->id);
        if (postcopy_paused_here(job)) {
            /* Taken over after a restart, paused: its CPUs wait on pages. */
            ferry_mig_job_set_message(job, 0, "post-copy paused, the guest waits here for "
                                      "the pages it lacks");
            ask_source_while_paused(job);
            return;
        }
        ferry_mig_job_set_message(job, 0, "post-copy: the guest runs here and pulls the "
                                  "pages it lacks from the source");
        return;
    }
    ferry_mig_end(job, FERRY_MIG_STATE_COMPLETED);
    ferry_mig_reply(job, r);
    g_message("domain '%s': migration %s arrived, %s", job->dom_name, job->id,
              ctl->offline ? "defined" : (p->flags & FERRY_MIGRATE_PAUSED) || ctl->source_paused
                                             ? "paused" : "running");
}

/* Finish's cookie may bring the definition to persist (PERSIST_DEST): the
 * backend holds its paths against the host's directories as it did
 * Prepare's XML.  Refused, the domain does not arrive: it is dropped here,
 * Finish fails with the reason and the source runs the guest again. */
static gboolean
finish_paths_allowed(ferry_mig_job *job, ferry_conn *conn)
{
    ferry_mig_engine *engine = engine_of(job);
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autoptr(GError) error = NULL;

    if (!engine->backend->check_paths ||
        engine->backend->check_paths(engine->backend_self, NULL, ctl->cookie_in,
                                     conn && ferry_conn_is_confined(conn), &error))
        return TRUE;
    ctl->end_code = error->code;
    ferry_mig_job_set_message(job, error->code, "Finish3 on host '%s': %s", engine->hostname,
                              error->message);
    rollback(job, FERRY_MIG_STATE_FAILED);
    return FALSE;
}

/* A Finish call while waiting (PREPARE, WAITING). */
static void
finish_request(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ferry_mig_timer_stop(job, TIMER_WATCHDOG);
    if (ev->conn)
        ctl->driver = ev->conn;
    ctl->finish_conn = ev->conn;
    if (ev->outcome) {
        /* Finish(cancelled): the source gave up. */
        const ferry_migration_cookie *c = ev->cookie;
        gboolean aborted = c && c->has_result && c->result_aborted;

        ctl->phase_task = g_steal_pointer(&ev->task);
        /* This side did not fail: the source's attempt ended (why is in its
         * own error), possibly before this QEMU noticed its stream broke.
         * Answered MIGRATE, it read as "the destination failed by itself"
         * and vetoed the source's retry (e2e-broken, not relayed). */
        ctl->end_code = aborted ? FERRY_ERROR_MIGRATE : FERRY_ERROR_MIGRATE_BROKEN;
        ferry_mig_job_set_message(job, ctl->end_code,
                                  "Finish: migration of domain '%s' was given up by the "
                                  "source%s%s; host '%s' dropped it", job->dom_name,
                                  c && c->result_message ? ": " : "",
                                  c && c->result_message ? c->result_message : "",
                                  engine_of(job)->hostname);
        rollback(job, aborted ? FERRY_MIG_STATE_CANCELLED : FERRY_MIG_STATE_FAILED);
        return;
    }
    if (ev->cookie) {
        /* Perform's cookie: the statistics and the persistent definition. */
        ferry_mig_job_take_cookie_stats(job, ev->cookie);
        g_clear_pointer(&ctl->cookie_in, ferry_migration_cookie_free);
        ctl->cookie_in = g_steal_pointer(&ev->cookie);
    }
    if (ev->params) {
        ferry_mig_params_free(job->params);
        job->params = g_steal_pointer(&ev->params);
    }
    ctl->phase_task = g_steal_pointer(&ev->task);
    ferry_mig_move(job, FERRY_MIG_PHASE_FINISH, FERRY_MIG_STATE_RUNNING);
    if (!finish_paths_allowed(job, ev->conn))
        return;
    if (ctl->received || ctl->offline) {
        commit(job);
        return;
    }
    if (!ctl->receiving) {
        /* Not a byte came: Finish cannot be waiting for the last of them. */
        ctl->end_code = FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                  "Finish: domain '%s' never arrived on host '%s'",
                                  job->dom_name, engine_of(job)->hostname);
        rollback(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    ferry_mig_job_set_message(job, 0, "waiting for the last of the data");
    ferry_mig_timer_start(job, TIMER_FINISH, FINISH_WAIT_MS, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Rollback                                                                  */
/* ------------------------------------------------------------------------ */

static gboolean
step_discard(ferry_mig_job *job, gpointer data, GError **error)
{
    /* Aborted here: the source hears it first, before the stream breaks,
     * so that it ends "cancelled" and runs the guest again at once. */
    if (ctl_of(job)->tell_source)
        ferry_mig_peer_cancel_sync(job);
    ferry_mig_snap_dest_discard(job);
    if (!ctl_of(job)->offline && job->obj)
        backend_of(job)->discard_incoming(job);
    drop_offline(job);
    return TRUE;
}

/* Drops the incoming side, then ends the job in @final. */
static void
rollback(ferry_mig_job *job, ferry_mig_state final)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ferry_mig_timer_stop(job, TIMER_FINISH);
    ferry_mig_timer_stop(job, TIMER_WATCHDOG);
    ctl->aborting = final == FERRY_MIG_STATE_CANCELLED;
    if (ctl->aborting && !ctl->end_code)
        ctl->end_code = FERRY_ERROR_OPERATION_ABORTED;
    ferry_mig_move(job, job->phase, FERRY_MIG_STATE_ROLLBACK);
    if (ctl->launching) {
        /* QEMU is being launched after Prepare answered: the discard
         * follows that step (launch_done()). */
        ctl->discard_pending = TRUE;
        return;
    }
    ferry_mig_run_step(job, STEP_DISCARD, step_discard, NULL);
}

static void
discard_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->phase_task) {
        g_autoptr(GError) error = NULL;

        g_mutex_lock(&job->lock);
        error = g_error_new_literal(FERRY_ERROR, ctl->end_code ? ctl->end_code
                                                               : FERRY_ERROR_MIGRATE,
                                    job->message ? job->message : "the migration failed");
        g_mutex_unlock(&job->lock);
        ferry_mig_reply_error(job, error);
    }
    ferry_mig_end(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED : FERRY_MIG_STATE_FAILED);
}

void
ferry_mig_dest_shutdown(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    /* Committed: the guest runs (or is about to) here; it stays.  A
     * rollback under way was cut short: finish it. */
    if (job->role != FERRY_MIG_ROLE_DESTINATION || ferry_mig_state_is_final(job->state) ||
        job->state == FERRY_MIG_STATE_COMMITTED)
        return;
    if (job->state != FERRY_MIG_STATE_ROLLBACK) {
        ctl->end_code = FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                  "incoming migration of domain '%s' given up: the daemon of "
                                  "host '%s' stopped", job->dom_name, engine_of(job)->hostname);
        ferry_mig_move(job, job->phase, FERRY_MIG_STATE_ROLLBACK);
    }
    /* Nobody runs Finish for it any more: the source's Finish fails, and
     * it runs the guest again.  No need to tell it first. */
    ctl->tell_source = FALSE;
    step_discard(job, NULL, NULL);
    ferry_mig_end(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED : FERRY_MIG_STATE_FAILED);
}

/* Gives up for @why (abort, cancel by the source, a vanished client). */
static void
give_up(ferry_mig_job *job, ferry_mig_event *ev, const char *why, ferry_mig_state final)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ctl->end_code = final == FERRY_MIG_STATE_CANCELLED ? FERRY_ERROR_OPERATION_ABORTED
                    : ctl->end_code ? ctl->end_code : FERRY_ERROR_MIGRATE;
    ferry_mig_job_set_message(job, ctl->end_code, "incoming migration of domain '%s' %s: %s",
                              job->dom_name,
                              final == FERRY_MIG_STATE_CANCELLED ? "cancelled" : "given up",
                              why);
    if (ev && ev->task)
        ferry_mig_add_waiter(job, ev);
    rollback(job, final);
}

/* Paused here in post-copy.  The source resumes it (it drives the
 * recovery); but a source whose QEMU died, with the pages it held, never
 * will: its daemon is asked, so that this half learns it is lost
 * (postcopy_source_answered()).  Also after this daemon restarted and found
 * its QEMU paused: nothing else would ever ask. */
static void
ask_source_while_paused(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!job->peer_uri)
        return;
    ctl->retry_delay_s = 1;
    ferry_mig_timer_start(job, TIMER_RETRY, ctl->retry_delay_s * 1000, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Restart recovery                                                          */
/* ------------------------------------------------------------------------ */

void
ferry_mig_dest_recover(ferry_mig_job *job, const ferry_mig_probe *probe,
                       ferry_mig_recovery_action action)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    const char *host = engine_of(job)->hostname;

    if (action == FERRY_MIG_RECOVER_ACTIVATE) {
        if (probe->transfer == FERRY_MIG_PROBE_GONE || !job->obj) {
            /* Decided, and synced, before the guest ran: the source will
             * not run it again, and the copy here is gone. */
            ctl->end_code = FERRY_ERROR_MIGRATE;
            ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                      "host '%s' had decided to run domain '%s', but its QEMU "
                                      "was gone when ferryd restarted: the guest is lost",
                                      host, job->dom_name);
            ferry_mig_move(job, FERRY_MIG_PHASE_FINISH, FERRY_MIG_STATE_ROLLBACK);
            ferry_mig_end(job, FERRY_MIG_STATE_FAILED);
            return;
        }
        /* In post-copy its last pages may still be coming: the job (and
         * the stream it holds) lasts until they have. */
        ctl->postcopy_in = probe->postcopy;
        if (probe->postcopy) {
            g_mutex_lock(&job->lock);
            g_strlcpy(job->info.postcopy, probe->postcopy_paused ? "paused" : "active",
                      sizeof(job->info.postcopy));
            g_mutex_unlock(&job->lock);
        }
        ferry_mig_job_set_message(job, 0, "ferryd of host '%s' restarted after deciding to "
                                  "run the guest here: it runs it", host);
        ferry_mig_run_step(job, STEP_ACTIVATE, step_activate, NULL);
        return;
    }
    /* Not committed: nothing here ever ran the guest.  Dropped, and the id
     * stays known as failed, so that a Finish of it is refused and the
     * source runs the guest again. */
    ctl->tell_source = FALSE;
    for (guint i = 0; job->created_images && i < job->created_images->len; i++) {
        const char *path = job->created_images->pdata[i];

        if (g_unlink(path) == 0)
            g_message("domain '%s': deleted '%s' (created for migration %s)", job->dom_name,
                      path, job->id);
    }
    if (job->state == FERRY_MIG_STATE_ROLLBACK) {
        ferry_mig_run_step(job, STEP_DISCARD, step_discard, NULL);
        return;
    }
    give_up(job, NULL, "ferryd restarted before Finish", FERRY_MIG_STATE_FAILED);
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */
/* ------------------------------------------------------------------------ */

/* A client gone, or one silent too long: give up only what no source can
 * still claim -- an incoming side that received nothing and copies no
 * disk. */
static void
driver_lost(ferry_mig_job *job, const char *why)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    /* Copied disks arrive through the NBD exports long before the memory
     * stream begins (a large disk takes hours): only the source can say
     * whether that copy still runs. */
    gboolean disks = (job->params->p.flags & NON_SHARED) != 0;

    if (!ctl->receiving && !ctl->received && !disks) {
        give_up(job, NULL, why, FERRY_MIG_STATE_CANCELLED);
        return;
    }
    ferry_mig_timer_stop(job, TIMER_WATCHDOG);
    ferry_mig_job_set_message(job, 0, "%s; data %s: waiting for the source host's daemon to "
                              "finish or cancel it", why,
                              ctl->received ? "all arrived" : ctl->receiving ? "arriving"
                              : "for the copied disks may be arriving");
    /* And asking it, so that a copy the source gave up (its link was cut,
     * its daemon restarted) does not stay here for ever. */
    if (job->peer_uri)
        ferry_mig_timer_start(job, TIMER_RETRY, ctl->retry_delay_s * 1000, FALSE);
}

static gboolean
postcopy_paused_here(ferry_mig_job *job)
{
    gboolean paused;

    g_mutex_lock(&job->lock);
    paused = strcmp(job->info.postcopy, "paused") == 0;
    g_mutex_unlock(&job->lock);
    return ctl_of(job)->postcopy_in && job->state == FERRY_MIG_STATE_COMMITTED && paused;
}

/* Post-copy paused here, and the source's daemon asked about it: only its
 * word that the migration failed there (its QEMU, which held the pages
 * this half lacks, died or failed) ends this half -- never a timer, and
 * never a daemon that cannot be reached or does not know the migration.
 * The guest cannot be put back together; its QEMU stays as it is (its
 * CPUs wait on pages that will not come) until `ferry destroy`. */
static void
postcopy_source_answered(ferry_mig_job *job, int status, const char *message)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (status == FERRY_MIGRATION_FAILED) {
        ctl->end_code = FERRY_ERROR_MIGRATE_LOST;
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE_LOST,
                                  "post-copy of domain '%s' is lost: it failed on the source "
                                  "host with the pages it still held, so the guest here can "
                                  "never run whole and is left for 'ferry destroy' (the "
                                  "source host says: %s)", job->dom_name,
                                  message ? message : "no reason given");
        g_warning("%s", job->message);
        ferry_mig_move(job, FERRY_MIG_PHASE_FINISH, FERRY_MIG_STATE_ROLLBACK);
        ferry_mig_end(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    ctl->retry_delay_s = MIN(ctl->retry_delay_s * 2, 30);
    ferry_mig_timer_start(job, TIMER_RETRY, ctl->retry_delay_s * 1000, FALSE);
}

/* The source's daemon said what became of a migration left waiting here. */
static void
source_answered(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    int status = ev->ok ? ev->result->status : -1;

    if (postcopy_paused_here(job)) {
        postcopy_source_answered(job, status, ev->ok ? ev->result->message : NULL);
        return;
    }
    if (job->state != FERRY_MIG_STATE_WAITING || job->phase != FERRY_MIG_PHASE_PREPARE)
        return;
    if (status == FERRY_MIGRATION_FAILED || status == FERRY_MIGRATION_CANCELLED ||
        status == FERRY_MIGRATION_UNKNOWN) {
        g_autofree char *why = g_strdup_printf("the source host's daemon says: %s",
                                               ev->result->message ? ev->result->message
                                                                   : "it has no such migration");

        give_up(job, NULL, why, FERRY_MIG_STATE_FAILED);
        return;
    }
    /* Still under way there, or not reachable yet: ask again, less often. */
    ctl->retry_delay_s = MIN(ctl->retry_delay_s * 2, 30);
    ferry_mig_timer_start(job, TIMER_RETRY, ctl->retry_delay_s * 1000, FALSE);
}

/* The source cancels while its stream flows here (it tells this side
 * before it stops its own QEMU, so that this side ends "cancelled", not
 * "failed" by the broken stream).  This QEMU must outlive the source's
 * transfer: QEMU 7.2's multifd sender waits for ever for a channel that
 * broke under it, and that source QEMU can never migrate again.  So the
 * source is answered at once, and this side drops its QEMU once the
 * stream ended -- the source's migrate_cancel closes it -- or after
 * CANCEL_GRACE_MS (the source decided already; only the clean-up waits). */
static gboolean
cancel_after_stream(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autofree char *not_yet = NULL;

    if (ev->kind != REQ_CANCEL || ctl->busy || ctl->cancel_deferred || !ctl->receiving ||
        ctl->received || ctl->postcopy_in || job->phase != FERRY_MIG_PHASE_PREPARE ||
        job->state != FERRY_MIG_STATE_WAITING)
        return FALSE;
    ctl->cancel_deferred = g_strdup(ev->message ? ev->message : "cancelled by the source");
    ferry_mig_timer_stop(job, TIMER_WATCHDOG);
    ferry_mig_job_set_message(job, 0, "the source cancels it (%s): waiting for its stream to "
                              "end", ctl->cancel_deferred);
    g_message("domain '%s': migration %s: the source cancels it; its QEMU stops sending "
              "before this one goes", job->dom_name, job->id);
    /* Answered "not yet", never "dropped": the source's daemon, asking
     * from its commit zone (everything sent), takes any other answer as
     * "the guest does not run there" and runs it again -- and this side
     * may yet have all of it.  The abort's own call only logs the answer;
     * the commit zone asks again, and is answered once this side is gone. */
    not_yet = g_strdup_printf("migration %s of domain '%s' is not dropped yet: host '%s' "
                              "drops its side once the source's stream ended; ask again",
                              job->id, job->dom_name, engine_of(job)->hostname);
    ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_TIMEOUT, not_yet);
    ferry_mig_timer_start(job, TIMER_CANCEL, CANCEL_GRACE_MS, FALSE);
    return TRUE;
}

/* The cancel of cancel_after_stream() is carried out (the stream ended,
 * the grace ran out, or the source asked again); @ev: a call to answer
 * with the end, or NULL. */
static void
cancel_now(ferry_mig_job *job, ferry_mig_event *ev)
{
    g_autofree char *why = g_steal_pointer(&ctl_of(job)->cancel_deferred);

    ferry_mig_timer_stop(job, TIMER_CANCEL);
    give_up(job, ev, why, FERRY_MIG_STATE_CANCELLED);
}

static void
backend_event(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    switch (ev->kind) {
    case FERRY_MIG_EV_INCOMING_ACTIVE:
        ctl->receiving = TRUE;
        return;
    case FERRY_MIG_EV_INCOMING_DONE:
        if (ev->value == 1) {
            /* Post-copy: the last page arrived; the guest already runs. */
            if (ctl->postcopy_in && job->state == FERRY_MIG_STATE_COMMITTED && !ctl->busy)
                postcopy_in_done(job);
            else if (ctl->postcopy_in)
                ctl->postcopy_in_complete = TRUE;
            return;
        }
        if (ev->value == 2) {
            /* Post-copy: from now on the guest's memory is split between
             * the hosts, and this half must not be dropped lightly. */
            ctl->postcopy_in = TRUE;
            g_mutex_lock(&job->lock);
            g_strlcpy(job->info.postcopy, "active", sizeof(job->info.postcopy));
            g_mutex_unlock(&job->lock);
        }
        ctl->received = TRUE;
        if (ctl->cancel_deferred) {
            /* Everything came before the source's cancel took: the source
             * found it complete, and its Finish (or Finish(cancelled))
             * decides. */
            g_message("domain '%s': migration %s: all the data arrived after all; the "
                      "source decides", job->dom_name, job->id);
            g_clear_pointer(&ctl->cancel_deferred, g_free);
            ferry_mig_timer_stop(job, TIMER_CANCEL);
        }
        if (ev->def && !job->obj) {
            /* Protocol v1: the data brought the domain. */
            g_autoptr(GError) error = NULL;

            if (job->params->p.dname) {
                g_free(ev->def->name);
                ev->def->name = g_strdup(job->params->p.dname);
            }
            if (ctl->offline || !add_domain(job, g_steal_pointer(&ev->def), &error)) {
                give_up(job, NULL, error ? error->message : "no domain", FERRY_MIG_STATE_FAILED);
                return;
            }
            ferry_mig_rekey(job, job->obj->name, job->obj->uuid);
            ferry_mig_set_domain_state(job, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION,
                                       FERRY_LIFECYCLE_STARTED);
        }
        if (job->phase == FERRY_MIG_PHASE_FINISH && job->state == FERRY_MIG_STATE_RUNNING)
            commit(job);
        return;
    case FERRY_MIG_EV_INCOMING_FAILED:
        if (ctl->cancel_deferred) {
            /* The source's QEMU stopped sending, as it was to. */
            cancel_now(job, NULL);
            return;
        }
        /* QEMU said the stream failed (it did not die): the source may
         * try again, with a new incoming side -- unless the stream failed
         * because someone destroyed the incoming domain, which SIGTERM
         * makes QEMU report before it exits. */
        if (ev->value == FERRY_SHUTOFF_DESTROYED) {
            give_up(job, NULL, "the incoming domain was destroyed", FERRY_MIG_STATE_FAILED);
            return;
        }
        ctl_of(job)->end_code = FERRY_ERROR_MIGRATE_BROKEN;
        give_up(job, NULL, ev->message ? ev->message : "the incoming stream failed",
                FERRY_MIG_STATE_FAILED);
        return;
    case FERRY_MIG_EV_EXITED:
        if (ctl->cancel_deferred) {
            cancel_now(job, NULL);
            return;
        }
        /* The source is not told from here: a QEMU that exits after its
         * stream failed (it does) must not turn the source's retry into an
         * abort.  The source learns it from its own stream, or its
         * mirrors' NBD client within its reconnect delay.  Exiting by
         * itself while data came is what QEMU does when its stream fails
         * (its MIGRATION event may not be read yet): the source may try
         * again.  Killed by a signal, it died. */
        if (ev->message && ev->value != FERRY_SHUTOFF_DESTROYED && ctl_of(job)->receiving)
            ctl_of(job)->end_code = FERRY_ERROR_MIGRATE_BROKEN;
        give_up(job, NULL, ev->value == FERRY_SHUTOFF_DESTROYED
                               ? "the incoming domain was destroyed"
                               : "the destination QEMU exited",
                FERRY_MIG_STATE_FAILED);
        return;
    default:
        return;
    }
}

static void
request(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    gboolean committed = job->state == FERRY_MIG_STATE_COMMITTED;
    gboolean finishing = job->phase == FERRY_MIG_PHASE_FINISH;

    switch (ev->kind) {
    case REQ_RECOVER:
        recover_request(job, ev);
        return;
    case REQ_FINISH:
        if (ctl->cancel_deferred && ev->outcome) {
            /* Finish(cancelled) after the cancel: the end it announced. */
            cancel_now(job, ev);
            return;
        }
        if (!finishing && job->state == FERRY_MIG_STATE_WAITING && ctl->launching &&
            !ctl->held_finish) {
            /* QEMU still starting (a source that failed at once, or a
             * Finish faster than the step's end): after it. */
            ctl->held_finish = ferry_mig_event_new(EV_REQUEST, REQ_FINISH);
            ctl->held_finish->task = g_steal_pointer(&ev->task);
            ctl->held_finish->conn = ev->conn;
            ctl->held_finish->outcome = ev->outcome;
            ctl->held_finish->cookie = g_steal_pointer(&ev->cookie);
            ctl->held_finish->params = g_steal_pointer(&ev->params);
            ctl->held_finish->message = g_steal_pointer(&ev->message);
        } else if (!finishing && job->state == FERRY_MIG_STATE_WAITING) {
            finish_request(job, ev);
        } else if (finishing && !ev->outcome) {
            /* The same Finish again (the source's daemon, for a vanished
             * client): answered as the first. */
            ferry_mig_add_waiter(job, ev);
        } else {
            ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID,
                      committed ? "Finish(cancelled) refused: the guest already runs on this "
                                  "host" : "Finish: the migration is not ready for it");
        }
        return;
    case REQ_ABORT:
    case REQ_CANCEL:
        if (ctl->postcopy_in && ev->kind == REQ_ABORT) {
            g_autofree char *msg = g_strdup_printf(
                "cannot abort migration %s of domain '%s': it is in post-copy, where the "
                "guest's memory is split between the hosts and it can only complete",
                job->id, job->dom_name);

            ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID, msg);
            return;
        }
        if (committed) {
            g_autofree char *msg = g_strdup_printf(
                "cannot %s migration %s of domain '%s': host '%s' already runs (or is "
                "starting) the guest", ev->kind == REQ_ABORT ? "abort" : "cancel", job->id,
                job->dom_name, engine_of(job)->hostname);

            ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID, msg);
            return;
        }
        if (job->state == FERRY_MIG_STATE_ROLLBACK) {
            ferry_mig_add_waiter(job, ev);
            ctl->aborting = TRUE;
            return;
        }
        if (ctl->busy) {
            /* After the step in flight (Prepare still making things). */
            ferry_mig_add_waiter(job, ev);
            ctl->cancel_pending = TRUE;
            ctl->tell_source = ctl->tell_source || ev->kind == REQ_ABORT;
            return;
        }
        if (ctl->cancel_deferred) {
            /* Asked again (or aborted here): no more waiting. */
            ctl->tell_source = ev->kind == REQ_ABORT;
            cancel_now(job, ev);
            return;
        }
        if (cancel_after_stream(job, ev))
            return;
        ctl->tell_source = ev->kind == REQ_ABORT;
        give_up(job, ev, ev->message, FERRY_MIG_STATE_CANCELLED);
        return;
    default:
        ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID,
                  "this call is for the source host of the migration");
        return;
    }
}

void
ferry_mig_dest_handle(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ferry_mig_state_is_final(job->state)) {
        if (ev->type == EV_REQUEST && ev->kind == REQ_RECOVER) {
            ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID,
                                "the migration has ended on this host");
            return;
        }
        if (ev->type == EV_REQUEST) {
            ferry_mig_waiter w = { .task = g_steal_pointer(&ev->task), .kind = ev->kind,
                                   .outcome = ev->outcome, .conn = ev->conn };

            if (ev->kind == REQ_FINISH && ev->outcome && !job->may_have_run) {
                /* Finish(cancelled) of a job that ended: nothing to drop. */
                if (job->state == FERRY_MIG_STATE_COMPLETED)
                    ferry_mig_fail_task(w.task, FERRY_ERROR_OPERATION_INVALID,
                              "Finish(cancelled) refused: the guest already runs on this host");
                else
                    /* With the job's code: a stream that broke (the source
                     * may try again) is told apart from a QEMU that died. */
                    ferry_mig_fail_task(w.task, ctl->end_code ? ctl->end_code
                                                              : FERRY_ERROR_MIGRATE,
                              job->message ? job->message
                              : "the incoming migration was already given up");
                return;
            }
            ferry_mig_answer_waiter(job, &w);
        }
        return;
    }
    switch (ev->type) {
    case EV_STEP_DONE:
        if (ev->kind == STEP_PREPARE)
            prepare_done(job, ev);
        else if (ev->kind == STEP_ACTIVATE)
            activate_done(job, ev);
        else if (ev->kind == STEP_DISCARD)
            discard_done(job, ev);
        else if (ev->kind == STEP_RECOVER)
            recover_done(job, ev);
        else if (ev->kind == STEP_LAUNCH)
            launch_done(job, ev);
        if (ctl->cancel_pending && !ferry_mig_state_is_final(job->state) &&
            job->state != FERRY_MIG_STATE_ROLLBACK && job->state != FERRY_MIG_STATE_COMMITTED &&
            !ctl->busy) {
            ctl->cancel_pending = FALSE;
            give_up(job, NULL, "aborted while it was being prepared", FERRY_MIG_STATE_CANCELLED);
        }
        return;
    case EV_BACKEND:
        if (job->state == FERRY_MIG_STATE_COMMITTED && ctl->postcopy_in) {
            postcopy_in_event(job, ev);
            return;
        }
        if (job->state == FERRY_MIG_STATE_ROLLBACK || job->state == FERRY_MIG_STATE_COMMITTED)
            return;
        if (job->state == FERRY_MIG_STATE_RUNNING && job->phase == FERRY_MIG_PHASE_PREPARE) {
            /* Prepare is still making the incoming side: only remember. */
            if (ev->kind == FERRY_MIG_EV_INCOMING_ACTIVE)
                ctl->receiving = TRUE;
            return;
        }
        backend_event(job, ev);
        return;
    case EV_REQUEST:
        request(job, ev);
        return;
    case EV_TIMER:
        if (ev->kind == TIMER_FINISH && job->phase == FERRY_MIG_PHASE_FINISH &&
            job->state == FERRY_MIG_STATE_RUNNING) {
            give_up(job, NULL, "the data did not arrive within 60 s of Finish",
                    FERRY_MIG_STATE_FAILED);
        } else if (ev->kind == TIMER_RETRY && ((job->state == FERRY_MIG_STATE_WAITING &&
                                                 job->phase == FERRY_MIG_PHASE_PREPARE) ||
                                                postcopy_paused_here(job))) {
            if (ctl->busy)
                ferry_mig_timer_start(job, TIMER_RETRY, 1000, FALSE);
            else
                ferry_mig_run_peer(job, PEER_QUERY);
        } else if (ev->kind == TIMER_CANCEL && ctl->cancel_deferred &&
                   job->state == FERRY_MIG_STATE_WAITING) {
            g_message("domain '%s': migration %s: the source's stream did not end within "
                      "%d s of its cancel; dropping this side", job->dom_name, job->id,
                      CANCEL_GRACE_MS / 1000);
            cancel_now(job, NULL);
        } else if (ev->kind == TIMER_WATCHDOG && job->state == FERRY_MIG_STATE_WAITING &&
                   g_get_monotonic_time() - ctl->last_phase_us >=
                       (gint64)engine_of(job)->abandon_seconds * G_TIME_SPAN_SECOND) {
            g_autofree char *why = g_strdup_printf(
                "no phase came within migration_abandon_timeout (%u s)",
                engine_of(job)->abandon_seconds);

            driver_lost(job, why);
        }
        return;
    case EV_CONN_CLOSED:
        /* A cancel under way ends by itself. */
        if (job->state == FERRY_MIG_STATE_WAITING && !ctl->cancel_deferred)
            driver_lost(job, "the client driving it disconnected");
        return;
    case EV_PEER_DONE:
        if (ev->kind == PEER_QUERY)
            source_answered(job, ev);
        return;
    default:
        return;
    }
}
