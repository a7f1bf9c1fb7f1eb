/*
 * migration-source.c: a migration as the source host sees it -- Begin,
 * Perform, Confirm (v3), Perform alone (v2/v1) -- and everything that can
 * happen around them: abort, timeout, a transfer that fails, a QEMU that
 * dies, a client that vanishes, a destination that does not answer.
 *
 * The rule this file keeps (DESIGN.md section 3): once everything was sent
 * -- (PERFORM, WAITING), the commit zone -- the source resumes only on the
 * destination's word that it does not and will not run the guest: the
 * caller's Confirm(CANCELLED) after Finish failed, the destination's own
 * refusal of Finish, or its acknowledgement of "cancel migration ID".
 * Until one of those comes, the source stays paused and the daemon asks.
 * Before that point nothing is in doubt: a failure or an abort resumes the
 * source at once.
 */
#include "ferry-config.h"

#include <string.h>

#include "migration/migration-engine-private.h"
#include "util/error.h"

#define NON_SHARED ((guint)(FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC))
/* How often the statistics of a running transfer are refreshed. */
#define PROGRESS_INTERVAL_MS 1000
/* The policy's figures at a pass no sooner than this after the last. */
#define POLICY_QUERY_GAP_MS 200
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

static void rollback(ferry_mig_job *job, ferry_mig_state final);
static void postcopy_lost(ferry_mig_job *job, const char *why);
static gboolean step_stop(ferry_mig_job *job, gpointer data, GError **error);
static void fail_request(ferry_mig_job *job, ferry_mig_event *ev);
static void confirm_ok(ferry_mig_job *job, const ferry_migration_cookie *finished);
static void ask_peer(ferry_mig_job *job, peer_kind intent);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Answers the pending call with an error made of @code and the message. */
static void
reply_failure(ferry_mig_job *job, int code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
reply_failure(ferry_mig_job *job, int code, const char *fmt, ...)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    va_list args;

    va_start(args, fmt);
    text = g_strdup_vprintf(fmt, args);
    va_end(args);
    error = g_error_new_literal(FERRY_ERROR, code, text);
    ferry_mig_reply_error(job, error);
}

/* Records why the job fails and with which code its calls fail. */
static void
set_failure(ferry_mig_job *job, const GError *error)
{
    ctl_of(job)->end_code = error->domain == FERRY_ERROR ? error->code : FERRY_ERROR_MIGRATE;
    ferry_mig_job_set_message(job, ctl_of(job)->end_code, "%s", error->message);
}

/* The statistics cookie of Perform, and of Confirm once ended. */
static ferry_migration_cookie *
stats_cookie(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!ctl->out) {
        ctl->out = ferry_mig_cookie_new(job);
        ctl->out->has_stats = TRUE;
    }
    return ctl->out;
}

/* Copies the job's statistics into @cookie. */
static void
fill_stats(ferry_mig_job *job, ferry_migration_cookie *cookie)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);
    const ferry_job_info *i = &job->info;

    cookie->has_stats = TRUE;
    cookie->total_ms = i->total_ms;
    cookie->downtime_ms = i->downtime_ms;
    cookie->setup_ms = i->setup_ms;
    cookie->data_total = i->mem_total;
    cookie->data_transferred = i->mem_processed;
    cookie->passes = i->passes;
    cookie->stopped_real_us = job->stopped_real;
    cookie->resumed_real_us = job->resumed_real;
    cookie->guest_downtime_ms = i->guest_downtime_ms;
    cookie->time_setup_ms = i->time_setup_ms;
    cookie->time_disk_ms = i->time_disk_ms;
    cookie->time_memory_ms = i->time_memory_ms;
    cookie->time_switchover_ms = i->time_switchover_ms;
    cookie->time_overhead_ms = i->time_overhead_ms;
    cookie->reconnects = i->reconnects;
    /* The switch-over's own count (the data the disks held) wins over the
     * mirrors' progress figures. */
    if (i->disk_total && !cookie->disk_total) {
        cookie->disk_total = i->disk_total;
        cookie->disk_transferred = i->disk_processed;
    }
}

static char *
format_stats(ferry_mig_job *job)
{
    ferry_migration_cookie *out = stats_cookie(job);

    fill_stats(job, out);
    return ferry_migration_cookie_format(out);
}

/* Dials the destination's daemon and asks it to drop the migration; runs
 * on a step thread after the job ended, nobody waits for it. */
static gboolean
step_tell_peer(ferry_mig_job *job, gpointer data, GError **error)
{
    ferry_mig_peer_cancel_sync(job);
    return TRUE;
}

/* Without the client, nobody tells the destination that the source gave
 * up; without its QEMU's stream breaking (nothing sent yet, or disks only),
 * it would wait for its watchdog.  Tell it. */
static void
tell_peer_to_cancel(ferry_mig_job *job)
{
    /* With a client, its Finish(cancelled) tells the destination; if that
     * word is lost, the destination asks this daemon (PEER_QUERY). */
    if (!job->peer_uri || !ctl_of(job)->client_gone || ctl_of(job)->busy)
        return;
    ferry_mig_run_step(job, 0, step_tell_peer, NULL);
}

/* Ends a job whose source is untouched (nothing to resume). */
static void
end_untouched(ferry_mig_job *job, ferry_mig_state final)
{
    ferry_mig_move(job, job->phase, FERRY_MIG_STATE_ROLLBACK);
    ferry_mig_end(job, final);
}

/* The outcome an abort-like event gives: cancelled. */
static void
abort_reason(ferry_mig_job *job, const char *why)
{
    ctl_of(job)->aborting = TRUE;
    ctl_of(job)->end_code = FERRY_ERROR_OPERATION_ABORTED;
    ferry_mig_job_set_message(job, FERRY_ERROR_OPERATION_ABORTED,
                              "migration of domain '%s' aborted: %s", job->dom_name, why);
}

/* ------------------------------------------------------------------------ */
/* Begin                                                                     */
/* ------------------------------------------------------------------------ */

/* The domain of the job, its domain job taken. */
static gboolean
take_domain(ferry_mig_job *job, ferry_job_type type, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    g_autoptr(ferry_domain_obj) obj = ferry_domain_obj_list_find_by_uuid(engine->domains,
                                                                         job->dom_uuid);
    g_autofree char *owner = g_strdup_printf("%s migration %s",
                                             type == FERRY_JOB_MIGRATION_OUT ? "outgoing"
                                                                             : "incoming",
                                             job->id);

    if (!obj) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN,
                    "no domain '%s' (uuid %s) on host '%s'", job->dom_name, job->dom_uuid,
                    engine->hostname);
        return FALSE;
    }
    if (!ferry_domain_obj_begin_job(obj, type, owner, error))
        return FALSE;
    g_mutex_lock(&job->lock);
    job->obj = g_steal_pointer(&obj);
    job->holds_domain = TRUE;
    g_mutex_unlock(&job->lock);
    return TRUE;
}

/* The XML Begin hands the destination: params->dxml (same uuid), else the
 * running definition, or the persistent one offline.  obj->lock held. */
static char *
begin_xml(ferry_mig_job *job, gboolean offline, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    const ferry_migrate_params *p = &job->params->p;
    ferry_domain_obj *obj = job->obj;
    g_autoptr(ferry_domain_def) def = NULL;

    if (!p->dxml)
        return ferry_domain_def_format(offline ? obj->def : obj->live);
    def = engine->backend->parse_def(engine->backend_self, p->dxml, "params->dxml", error);
    if (!def)
        return NULL;
    if (strcmp(def->uuid, obj->uuid) != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': the destination XML has uuid %s, not the domain's %s",
                    obj->name, def->uuid, obj->uuid);
        return NULL;
    }
    return ferry_domain_def_format(def);
}

/* A downtime cap needs a backend that tells what is left at the
 * switch-over. */
static gboolean
check_cap_support(ferry_mig_job *job, GError **error)
{
    if (job->params->p.max_downtime_cap_ms && !backend_of(job)->switch_figures) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "host '%s' cannot enforce a downtime cap: its driver does not measure "
                    "what is left at the switch-over", engine_of(job)->hostname);
        return FALSE;
    }
    return TRUE;
}

static gboolean
step_begin(ferry_mig_job *job, gpointer data, GError **error)
{
    ferry_mig_engine *engine = engine_of(job);
    ferry_mig_job_ctl *ctl = ctl_of(job);
    const ferry_migrate_params *p = &job->params->p;
    gboolean offline = (p->flags & FERRY_MIGRATE_OFFLINE) != 0;
    g_autoptr(ferry_migration_cookie) cookie = ferry_mig_cookie_new(job);
    g_autoptr(GMutexLocker) locker = NULL;
    g_autofree char *xml = NULL;
    gboolean active, paused;

    if ((p->flags & FERRY_MIGRATE_POSTCOPY) && !engine->backend->start_postcopy) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "Begin: host '%s' cannot migrate in post-copy", engine->hostname);
        return FALSE;
    }
    if (!check_cap_support(job, error) || !take_domain(job, FERRY_JOB_MIGRATION_OUT, error))
        return FALSE;
    locker = g_mutex_locker_new(&job->obj->lock);
    active = ferry_domain_obj_is_active(job->obj);
    paused = active && job->obj->state == FERRY_DOMAIN_PAUSED;
    if (!offline && !active) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running: only FERRY_MIGRATE_OFFLINE moves it",
                    job->dom_name);
        return FALSE;
    }
    if (offline && active) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is running: FERRY_MIGRATE_OFFLINE is for domains that are "
                    "shut off", job->dom_name);
        return FALSE;
    }
    if (offline && !job->obj->def) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not persistent: FERRY_MIGRATE_OFFLINE moves a definition",
                    job->dom_name);
        return FALSE;
    }
    if (!(xml = begin_xml(job, offline, error)))
        return FALSE;
    cookie->dom_name = g_strdup(job->dom_name);
    cookie->dom_uuid = g_strdup(job->dom_uuid);
    cookie->features = g_ptr_array_new_with_free_func(g_free);
    /* The streams go through the daemons' relays (docs/relay.md): asked
     * for, or by default when disks are copied -- a break would otherwise
     * copy them again. */
    if ((p->flags & FERRY_MIGRATE_RELAY) ||
        ((p->flags & NON_SHARED) && !(p->flags & FERRY_MIGRATE_NO_RELAY)))
        ferry_migration_cookie_add_feature(cookie, "relay");
    if (paused)
        ferry_migration_cookie_add_feature(cookie, "source-paused");
    /* The policy may choose post-copy by itself; both QEMUs must be set up
     * for it before the transfer starts, so the destination says in
     * Prepare's cookie whether it can receive it ("postcopy"). */
    if (ferry_policy_may_postcopy(p->flags) && engine->backend->start_postcopy)
        ferry_migration_cookie_add_feature(cookie, "postcopy-auto");
    if ((p->flags & FERRY_MIGRATE_PERSIST_DEST) && (job->obj->def || job->obj->live))
        cookie->persistent = ferry_domain_def_copy(job->obj->def ? job->obj->def
                                                                 : job->obj->live);
    g_clear_pointer(&locker, g_mutex_locker_free);

    if (p->flags & NON_SHARED) {
        if (!engine->nbd) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                        "Begin3: host '%s' does not offer storage migration over NBD",
                        engine->hostname);
            return FALSE;
        }
        if (!engine->backend->list_disks(job, cookie, error))
            return FALSE;
        g_mutex_lock(&job->lock);
        job->info.disk_total = 0;
        for (guint i = 0; i < cookie->disks->len; i++)
            job->info.disk_total += ((ferry_cookie_disk *)cookie->disks->pdata[i])->capacity;
        job->info.disk_remaining = job->info.disk_total;
        g_mutex_unlock(&job->lock);
    }
    if (!ferry_mig_inject(job, "begin", error) ||
        !ferry_mig_hook_run(engine->hook_path, job->dom_name, "migrate", "begin", xml, error))
        return FALSE;
    ferry_mig_lease_to_cookie(job, cookie);
    ctl->xml_out = g_steal_pointer(&xml);
    ctl->out = g_steal_pointer(&cookie);
    return TRUE;
}

/* v1 and v2: Perform is the first phase; it takes the domain itself. */
static gboolean
step_take(ferry_mig_job *job, gpointer data, GError **error)
{
    gboolean active;

    if (!check_cap_support(job, error) || !take_domain(job, FERRY_JOB_MIGRATION_OUT, error))
        return FALSE;
    g_mutex_lock(&job->obj->lock);
    active = ferry_domain_obj_is_active(job->obj);
    g_mutex_unlock(&job->obj->lock);
    if (!active) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running: protocols v1 and v2 only move running "
                    "domains", job->dom_name);
        return FALSE;
    }
    return TRUE;
}

void
ferry_mig_source_begin(ferry_mig_job *job)
{
    if (job->protocol < 3) {
        ferry_mig_move(job, FERRY_MIG_PHASE_PERFORM, FERRY_MIG_STATE_RUNNING);
        ferry_mig_run_step(job, STEP_TAKE, step_take, NULL);
        return;
    }
    ferry_mig_move(job, FERRY_MIG_PHASE_BEGIN, FERRY_MIG_STATE_RUNNING);
    ferry_mig_run_step(job, STEP_BEGIN, step_begin, NULL);
}

static void
begin_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    ferry_phase_result *r;

    if (!ev->ok) {
        set_failure(job, ev->error);
        ferry_mig_reply_error(job, ev->error);
        end_untouched(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    ferry_mig_move(job, FERRY_MIG_PHASE_BEGIN, FERRY_MIG_STATE_WAITING);
    ferry_domain_obj_emit_event(engine_of(job)->bus, job->obj, FERRY_EVENT_MIGRATION_BEGIN, 0);
    r = g_new0(ferry_phase_result, 1);
    r->xml = g_steal_pointer(&ctl->xml_out);
    r->cookie = ferry_migration_cookie_format(ctl->out);
    g_clear_pointer(&ctl->out, ferry_migration_cookie_free);
    ferry_mig_reply(job, r);
    ferry_mig_timer_start(job, TIMER_WATCHDOG, 1000, TRUE);
    g_message("domain '%s': migration %s begins (%s)", job->dom_name, job->id,
              (job->params->p.flags & FERRY_MIGRATE_OFFLINE) ? "offline" : "live");
}

/* ------------------------------------------------------------------------ */
/* Perform                                                                   */
/* ------------------------------------------------------------------------ */

static gboolean
step_start(ferry_mig_job *job, gpointer data, GError **error)
{
    const ferry_mig_backend *backend = backend_of(job);
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!ferry_mig_inject(job, "perform", error))
        return FALSE;
    if (ctl->storage) {
        ctl->xfer = XFER_DISKS;
        return backend->start_disks(job, ctl->prepared, error);
    }
    ctl->xfer = XFER_MEMORY;
    g_mutex_lock(&job->lock);
    job->memory_us = g_get_monotonic_time();
    g_mutex_unlock(&job->lock);
    return backend->start_memory(job, error);
}

static gboolean
step_memory(ferry_mig_job *job, gpointer data, GError **error)
{
    ctl_of(job)->xfer = XFER_MEMORY;
    g_mutex_lock(&job->lock);
    job->memory_us = g_get_monotonic_time();
    g_mutex_unlock(&job->lock);
    return backend_of(job)->start_memory(job, error);
}

/* The downtime cap (max_downtime_cap_ms), checked while QEMU waits at the
 * switch-over with the guest paused: what is left, at the rate the
 * transfer was measured to move, plus the switch-over's own cost.  QEMU
 * judged it by its own figures against a lower limit; should it have
 * misjudged (a link slower than it measured), the guest must not pay: the
 * step fails with FERRY_ERROR_MIGRATE_HELD, the rollback cancels the
 * transfer and runs the guest on, and the sequence tries again with a
 * tighter limit. */
static gboolean
check_cap(ferry_mig_job *job, GError **error)
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

/* @data: check the downtime cap first. */
static gboolean
step_switchover(ferry_mig_job *job, gpointer data, GError **error)
{
    ctl_of(job)->xfer = XFER_SWITCHOVER;
    if (GPOINTER_TO_INT(data) && !check_cap(job, error))
        return FALSE;
    return backend_of(job)->switch_over(job, stats_cookie(job), error);
}

/* Reads the backend's figures into the job's information (a step, or a
 * side step during post-copy): only what the backend measures -- the
 * engine's own fields (and the limits another thread may set meanwhile)
 * are kept as they are now. */
static gboolean
step_progress(ferry_mig_job *job, gpointer data, GError **error)
{
    ferry_job_info info;

    g_mutex_lock(&job->lock);
    info = job->info;
    g_mutex_unlock(&job->lock);
    backend_of(job)->collect_stats(job, &info, GPOINTER_TO_INT(data));
    g_mutex_lock(&job->lock);
    memcpy(info.phase, job->info.phase, sizeof(info.phase));
    memcpy(info.state, job->info.state, sizeof(info.state));
    memcpy(info.postcopy, job->info.postcopy, sizeof(info.postcopy));
    memcpy(info.policy, job->info.policy, sizeof(info.policy));
    memcpy(info.message, job->info.message, sizeof(info.message));
    info.postcopy_ms = job->info.postcopy_ms;
    info.max_downtime_ms = job->info.max_downtime_ms;
    info.max_downtime_cap_ms = job->info.max_downtime_cap_ms;
    info.bandwidth_bps = job->info.bandwidth_bps;
    job->info = info;
    g_mutex_unlock(&job->lock);
    return TRUE;
}

/* Refreshes the statistics (a step); the event follows when it is done. */
static void
collect_progress(ferry_mig_job *job)
{
    ctl_of(job)->progress_us = g_get_monotonic_time();
    ferry_mig_run_step(job, STEP_PROGRESS, step_progress, GINT_TO_POINTER(FALSE));
}

static gboolean
step_cancel(ferry_mig_job *job, gpointer data, GError **error)
{
    ctl_of(job)->xfer = XFER_CANCELLING;
    /* Told first, the destination ends "cancelled" (an abort), not
     * "failed" by the broken stream it would otherwise see first. */
    if (GPOINTER_TO_INT(data))
        ferry_mig_peer_cancel_sync(job);
    if (!backend_of(job)->cancel_transfer(job)) {
        /* Too late: it all went; the SENT event is on its way. */
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "the transfer had already completed");
        return FALSE;
    }
    return TRUE;
}

static gboolean
step_pause(ferry_mig_job *job, gpointer data, GError **error)
{
    return backend_of(job)->pause(job, error);
}

/* ------------------------------------------------------------------------ */
/* Post-copy                                                                 */
/* ------------------------------------------------------------------------ */

static const char *const postcopy_names[] = {
    [PC_NONE] = "", [PC_WANTED] = "requested", [PC_REQUESTED] = "requested",
    [PC_ACTIVE] = "active", [PC_PAUSED] = "paused", [PC_RECOVERING] = "recovering",
    [PC_DONE] = "done",
};

/* Moves post-copy along; job info says where it is. */
static void
set_postcopy(ferry_mig_job *job, postcopy_step step)
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
static void
postcopy_go(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->postcopy != PC_WANTED || ctl->busy || ctl->aborting || ctl->xfer != XFER_MEMORY)
        return;
    ferry_mig_run_step(job, STEP_POSTCOPY, step_postcopy, NULL);
}

/* The answer of the hypervisor to the switch. */
static void
postcopy_told(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!ev->ok) {
        if (ctl->postcopy == PC_WANTED)
            set_postcopy(job, PC_NONE);
        g_message("domain '%s': migration %s: post-copy refused: %s", job->dom_name, job->id,
                  ev->error->message);
        answer_postcopy_calls(job, ev->error);
        return;
    }
    if (ctl->postcopy == PC_WANTED)
        set_postcopy(job, PC_REQUESTED);
    g_message("domain '%s': migration %s: switching to post-copy", job->dom_name, job->id);
    ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
    answer_postcopy_calls(job, NULL);
}

/* A wish for post-copy: the user's call (@ev), or the job's own (after the
 * first pass); answered once the hypervisor was told. */
static void
postcopy_request(ferry_mig_job *job, ferry_mig_event *ev, const char *why)
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
        set_postcopy(job, PC_WANTED);
    }
    postcopy_go(job);
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
    ferry_mig_run_side_step(job, final ? SIDE_SENT : SIDE_PROGRESS, step_progress,
                            GINT_TO_POINTER(final));
}

/* ---- The convergence policy (migration-policy.c) decides at each pass;
 * this carries its decisions out. */

static void
policy_start(ferry_mig_job *job)
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

/* Fault injection (migration-fault.c, "perform-mid:misjudge"): QEMU is
 * told a downtime limit of ten minutes, as if its own judgement of the
 * switch-over were that far off; the downtime cap must catch it. */
#define FAULT_MISJUDGE 100
#define MISJUDGED_DOWNTIME_MS 600000

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
static void
policy_go(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    int step = ctl->policy_action;

    if (!step || ctl->busy || ctl->aborting || ctl->xfer != XFER_MEMORY)
        return;
    ctl->policy_action = FERRY_POLICY_WAIT;
    ferry_mig_run_step(job, STEP_POLICY, step_policy, GINT_TO_POINTER(step));
}

/* After a pass: what the policy makes of the latest figures. */
static void
policy_pass(ferry_mig_job *job, guint64 pass)
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
        policy_go(job);
        break;
    case FERRY_POLICY_POSTCOPY:
        postcopy_request(job, NULL, "by the convergence policy");
        break;
    case FERRY_POLICY_THROTTLE:
        ctl->policy_action = d.step;
        policy_go(job);
        break;
    default:
        break;
    }
    ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
}

/* Starts the transfer of a v3 Perform (or v1/v2 Perform). */
static void
perform_start(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    const ferry_migrate_params *p;
    gboolean running = FALSE;

    /* Perform's parameters carry the URI Prepare chose; the limits set
     * meanwhile (ferry migrate-setspeed) stay. */
    if (ev->params) {
        g_mutex_lock(&job->lock);
        ferry_mig_params_set_uri(job->params, ev->params->p.uri);
        g_mutex_unlock(&job->lock);
    }
    p = &job->params->p;
    if (ev->task)
        ctl->phase_task = g_steal_pointer(&ev->task);
    if (ev->conn)
        ctl->driver = ev->conn;
    if (ev->cookie) {
        g_clear_pointer(&ctl->prepared, ferry_migration_cookie_free);
        ctl->prepared = g_steal_pointer(&ev->cookie);
    }
    if (ctl->prepared && ctl->prepared->peer_uri) {
        g_mutex_lock(&job->lock);
        g_free(job->peer_uri);
        job->peer_uri = g_strdup(ctl->prepared->peer_uri);
        g_mutex_unlock(&job->lock);
    }
    ctl->storage = (p->flags & NON_SHARED) && ctl->prepared && ctl->prepared->has_nbd &&
                   ctl->prepared->disks->len > 0;
    if (ferry_policy_may_postcopy(p->flags) &&
        ferry_migration_cookie_has_feature(ctl->prepared, "postcopy") &&
        backend_of(job)->start_postcopy) {
        g_mutex_lock(&job->lock);
        job->params->p.flags |= FERRY_MIGRATE_POSTCOPY;
        g_mutex_unlock(&job->lock);
        g_message("domain '%s': migration %s: its disks are %s and the destination can "
                  "receive post-copy: the policy may switch to it", job->dom_name, job->id,
                  ctl->storage ? "mirrored before memory moves" : "shared");
    }
    ferry_mig_timer_stop(job, TIMER_WATCHDOG);
    if (job->phase != FERRY_MIG_PHASE_PERFORM)
        ferry_mig_move(job, FERRY_MIG_PHASE_PERFORM, FERRY_MIG_STATE_RUNNING);
    if (job->obj) {
        g_mutex_lock(&job->obj->lock);
        running = job->obj->state == FERRY_DOMAIN_RUNNING;
        g_mutex_unlock(&job->obj->lock);
    }
    ctl->was_running = running;
    g_mutex_lock(&job->lock);
    job->transfer_us = g_get_monotonic_time();
    g_mutex_unlock(&job->lock);

    if (p->flags & FERRY_MIGRATE_OFFLINE) {
        /* Only the definition travels: there is nothing to send. */
        ferry_migration_cookie *out = stats_cookie(job);
        g_autoptr(GError) error = NULL;

        if (!ferry_mig_inject(job, "perform", &error)) {
            set_failure(job, error);
            ferry_mig_reply_error(job, error);
            rollback(job, FERRY_MIG_STATE_FAILED);
            return;
        }
        out->has_stats = FALSE;
        if ((p->flags & FERRY_MIGRATE_PERSIST_DEST) && job->obj && job->obj->def)
            out->persistent = ferry_domain_def_copy(job->obj->def);
        ferry_mig_move(job, FERRY_MIG_PHASE_PERFORM, FERRY_MIG_STATE_WAITING);
        ctl->xfer = XFER_SENT;
        ferry_phase_result *r = g_new0(ferry_phase_result, 1);

        r->cookie = ferry_migration_cookie_format(out);
        ferry_mig_reply(job, r);
        return;
    }
    if ((p->flags & NON_SHARED) && !ctl->storage && job->info.disk_total > 0) {
        reply_failure(job, FERRY_ERROR_MIGRATE,
                      "Perform3: the destination announced no NBD port for the disks of "
                      "domain '%s'", job->dom_name);
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE, "the destination announced no NBD "
                                  "port for the disks");
        rollback(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    if (p->timeout_s)
        ferry_mig_timer_start(job, TIMER_TIMEOUT, p->timeout_s * 1000, FALSE);
    policy_start(job);
    /* The first figures come soon, then every interval and pass. */
    ctl->progress_us = g_get_monotonic_time();
    ferry_mig_timer_start(job, TIMER_PROGRESS, FIRST_PROGRESS_MS, FALSE);
    ferry_mig_run_step(job, STEP_START, step_start, NULL);
}

/* What the source knows once it is paused for good (everything sent, or
 * the switch to post-copy): the disks' final figures, and the definition
 * the destination persists. */
static void
record_handover(ferry_mig_job *job, ferry_migration_cookie *out)
{
    if (out->disk_total) {
        /* What the switch-over counted: the data the disks held. */
        g_mutex_lock(&job->lock);
        job->info.disk_total = out->disk_total;
        job->info.disk_processed = out->disk_transferred;
        job->info.disk_remaining = 0;
        g_mutex_unlock(&job->lock);
    }
    if ((job->params->p.flags & FERRY_MIGRATE_PERSIST_DEST) && job->obj && !out->persistent) {
        g_mutex_lock(&job->obj->lock);
        out->persistent = ferry_domain_def_copy(job->obj->def ? job->obj->def : job->obj->live);
        g_mutex_unlock(&job->obj->lock);
    }
}

/* Perform's answer once the source is in the commit zone: v1/v2 go on to
 * stop the source themselves; v3 answers and waits for the next phase (or
 * runs Finish itself for a client that left). */
static void
answer_perform(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    ferry_phase_result *r;

    if (job->protocol < 3) {
        /* v1 and v2 have no Confirm: Perform stops the source itself, and
         * answers once it did (stop_done()). */
        confirm_ok(job, NULL);
        return;
    }
    r = g_new0(ferry_phase_result, 1);
    r->cookie = format_stats(job);
    ferry_mig_reply(job, r);
    if (ctl->client_gone) {
        ferry_mig_job_set_message(job, 0, "the client driving it disconnected: the daemon "
                                  "finishes the migration itself");
        ask_peer(job, PEER_FINISH);
    } else {
        ferry_mig_timer_start(job, TIMER_WATCHDOG, 1000, TRUE);
    }
}

/* The source's part is done: everything went, the source is paused. */
static void
sent(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ferry_mig_timer_stop(job, TIMER_PROGRESS);
    ferry_mig_timer_stop(job, TIMER_TIMEOUT);
    ctl->xfer = XFER_SENT;
    record_handover(job, stats_cookie(job));
    if (ctl->was_running || ctl->suspended)
        ferry_mig_set_domain_state(job, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION,
                                   ctl->suspended ? -1 : FERRY_LIFECYCLE_SUSPENDED);
    ferry_mig_move(job, FERRY_MIG_PHASE_PERFORM, FERRY_MIG_STATE_WAITING);
    /* Paused for good unless the destination refuses: the lease goes, so
     * that the destination can take it before its guest runs. */
    ferry_mig_lease_release(job);
    ferry_mig_fault(job, "perform-sent", NULL);
    g_message("domain '%s': migration %s sent (%" G_GINT64_FORMAT " ms, QEMU downtime %"
              G_GINT64_FORMAT " ms)", job->dom_name, job->id, job->info.total_ms,
              job->info.downtime_ms);
    ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
    if (ctl->aborting) {
        /* Aborted while the last bytes went: now only the destination can
         * say.  Perform answers once it did. */
        ctl->doubt_intent = PEER_CANCEL;
        ferry_mig_move(job, FERRY_MIG_PHASE_CONFIRM, FERRY_MIG_STATE_IN_DOUBT);
        ferry_mig_run_peer(job, PEER_CANCEL);
        return;
    }
    answer_perform(job);
}

/* The hypervisor switched to post-copy: the source is paused and the
 * destination has what it needs to run the guest, pulling the pages it
 * still lacks.  For the protocol this is "everything sent" -- the commit
 * zone, where only the destination's word lets the source run again --
 * except that the source's process must live on until every page went,
 * and that no timer may end it (docs/convergence.md). */
static void
postcopy_began(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ferry_mig_timer_stop(job, TIMER_TIMEOUT);
    set_postcopy(job, PC_ACTIVE);
    ctl->xfer = XFER_SENT;
    record_handover(job, stats_cookie(job));
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
    answer_perform(job);
}

/* ---- A paused post-copy: both halves wait, and only going on saves the
 * guest.  The source's daemon has the destination listen again (QEMU's
 * migrate-recover there) and resumes its stream to it, again and again
 * with back-off, for as long as it takes: no timer gives up. */

static void
recover_later(ferry_mig_job *job, const char *why)
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

static void recover_now(ferry_mig_job *job);

/* ferry migrate --postcopy-resume: the next try now, perhaps to the
 * destination's daemon at a new address; answered by that try. */
static void
resume_by_hand(ferry_mig_job *job, ferry_mig_event *ev)
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

        recover_later(job, why);
        return;
    }
    set_postcopy(job, PC_RECOVERING);
    g_message("domain '%s': migration %s: resuming post-copy to %s", job->dom_name, job->id,
              ev->result->uri);
    ferry_mig_run_step(job, STEP_RESUME, step_resume, g_strdup(ev->result->uri));
}

static void
resume_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    if (ev->ok || ctl_of(job)->postcopy != PC_RECOVERING)
        return;     /* QEMU says how it goes (postcopy-active or -paused) */
    set_postcopy(job, PC_PAUSED);
    recover_later(job, ev->error->message);
}

/* The source's CPUs stopped (@ev's value: when, real time): the guest's
 * downtime starts. */
static void
record_stop(ferry_mig_job *job, ferry_mig_event *ev)
{
    g_mutex_lock(&job->lock);
    job->stopped_real = ev->value;
    job->stopped_us = g_get_monotonic_time() - (g_get_real_time() - ev->value);
    g_mutex_unlock(&job->lock);
}

/* Events of post-copy after the switch, in whatever phase the job is: the
 * statistics, every page gone, a broken link.  Returns TRUE if @ev was
 * one. */
static gboolean
postcopy_event(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->postcopy < PC_ACTIVE)
        return FALSE;
    if (ev->type == EV_SIDE_DONE) {
        ctl->side_busy = FALSE;
        if (ev->kind == SIDE_SENT) {
            set_postcopy(job, PC_DONE);
            ferry_mig_job_set_message(job, 0, "post-copy done: every page reached the "
                                      "destination");
            g_message("domain '%s': migration %s: post-copy done", job->dom_name, job->id);
            ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
            if (ctl->stop_after_postcopy && !ctl->busy) {
                ctl->stop_after_postcopy = FALSE;
                ferry_mig_run_step(job, STEP_STOP, step_stop, NULL);
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
        record_stop(job, ev);
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
        set_postcopy(job, PC_PAUSED);
        g_warning("domain '%s': migration %s: post-copy paused (%s)", job->dom_name, job->id,
                  ev->message ? ev->message : "its link broke");
        recover_later(job, ev->message ? ev->message : "its link broke");
        return TRUE;
    case FERRY_MIG_EV_POSTCOPY:
        /* Going on again after a break. */
        if (ctl->postcopy == PC_PAUSED || ctl->postcopy == PC_RECOVERING) {
            set_postcopy(job, PC_ACTIVE);
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
        postcopy_lost(job, ev->message ? ev->message : "QEMU gave no reason");
        return TRUE;
    case FERRY_MIG_EV_EXITED:
        if (ctl->postcopy == PC_DONE)
            return FALSE;   /* as after any complete transfer */
        postcopy_lost(job, ev->value == FERRY_SHUTOFF_DESTROYED
                               ? "the source QEMU was destroyed"
                               : "the source QEMU exited");
        return TRUE;
    default:
        return FALSE;
    }
}

/* Aborts the transfer (abort, timeout, vanished client). */
static void
cancel_transfer(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ferry_mig_timer_stop(job, TIMER_TIMEOUT);
    if (ctl->xfer == XFER_CANCELLING)
        return;
    if (ctl->busy) {
        /* The step in flight ends first; its end sees `aborting`. */
        return;
    }
    ferry_mig_run_step(job, STEP_CANCEL, step_cancel, GINT_TO_POINTER(ctl->tell_dest));
}

/* QEMU's reason for a failed transfer says that its connection broke (a
 * reset, a peer that went away, a route lost) rather than that the guest's
 * state cannot be sent: the migration may be tried again.  QEMU says
 * nothing at all when the destination closed the stream. */
static gboolean
connection_broke(const char *why)
{
    static const char *const signs[] = {
        "socket", "onnection", "Broken pipe", "reset", "timed out", "nreachable",
        "No route", "refused", "Channel", "EOF", "gave no reason",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(signs); i++) {
        if (strstr(why, signs[i]))
            return TRUE;
    }
    return FALSE;
}

static void
transfer_failed(ferry_mig_job *job, const char *why)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!ctl->aborting) {
        /* The source runs on: a broken connection loses nothing, and the
         * sequence driving the migration may try it again. */
        ctl->end_code = connection_broke(why) ? FERRY_ERROR_MIGRATE_BROKEN : FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, ctl->end_code,
                                  "Perform: migration of domain '%s' to %s failed: %s",
                                  job->dom_name, job->params->p.uri ? job->params->p.uri : "?",
                                  why);
    }
    rollback(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED : FERRY_MIG_STATE_FAILED);
}

/* Events while the transfer runs: (PERFORM, RUNNING). */
static void
perform_event(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    switch (ev->type) {
    case EV_STEP_DONE:
        if (ev->kind == STEP_PROGRESS) {
            ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
            if (ctl->policy_pass) {
                guint64 pass = ctl->policy_pass;

                ctl->policy_pass = 0;
                policy_pass(job, pass);
            }
        } else if (ev->kind == STEP_SENT) {
            sent(job);
            return;
        } else if (ev->kind == STEP_CANCEL) {
            if (ev->ok)
                transfer_failed(job, "cancelled");
            /* else: too late, SENT follows. */
            return;
        } else if (ev->kind == STEP_POSTCOPY) {
            postcopy_told(job, ev);
        } else if (ev->kind == STEP_POLICY) {
            if (!ev->ok)
                g_warning("domain '%s': migration %s: policy: QEMU did not take the step: %s",
                          job->dom_name, job->id, ev->error->message);
        } else if (ev->kind == STEP_PAUSE) {
            if (ev->ok)
                ferry_mig_set_domain_state(job, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION,
                                           FERRY_LIFECYCLE_SUSPENDED);
            else
                g_warning("domain '%s': migration %s: cannot pause the guest at the timeout: "
                          "%s", job->dom_name, job->id, ev->error->message);
        } else if (!ev->ok) {
            /* Starting a part of the transfer failed; the rollback stops
             * what did start. */
            if (!ctl->aborting)
                set_failure(job, ev->error);
            rollback(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED : FERRY_MIG_STATE_FAILED);
            return;
        }
        if (ctl->aborting && ctl->xfer != XFER_CANCELLING && ctl->xfer != XFER_SENT) {
            cancel_transfer(job);
        } else {
            postcopy_go(job);
            policy_go(job);
        }
        return;
    case EV_BACKEND:
        switch (ev->kind) {
        case FERRY_MIG_EV_DISKS_READY:
            if (ctl->xfer != XFER_DISKS || ctl->aborting)
                return;
            g_mutex_lock(&job->lock);
            job->disks_ready_us = g_get_monotonic_time();
            g_mutex_unlock(&job->lock);
            ferry_mig_run_step(job, STEP_MEMORY, step_memory, NULL);
            return;
        case FERRY_MIG_EV_PASS: {
            g_autoptr(GError) fault = NULL;

            if (!ferry_mig_fault(job, "perform-mid", &fault)) {
                if (g_error_matches(fault, FERRY_ERROR, FERRY_ERROR_LIMIT)) {
                    /* "misjudge": QEMU gets a wrong downtime limit. */
                    ctl->policy_action = FAULT_MISJUDGE;
                    policy_go(job);
                } else {
                    transfer_failed(job, "injected failure in the middle of the transfer");
                    return;
                }
            }
        }
            g_mutex_lock(&job->lock);
            job->info.passes = (guint64)ev->value;
            g_mutex_unlock(&job->lock);
            /* Pass 2 begins once the first went over all of memory. */
            if ((job->params->p.flags & FERRY_MIGRATE_POSTCOPY_AFTER_PRECOPY) &&
                ev->value >= 2 && ctl->postcopy == PC_NONE)
                postcopy_request(job, NULL, "after the first pass over memory "
                                 "(--postcopy-after-precopy)");
            if (ctl->policy && ev->value >= 2) {
                /* The policy judges the figures of the pass's start, when
                 * what is left is all the guest dirtied: asked now, unless
                 * passes come so fast that the last figures are as good
                 * (each question takes QEMU's big lock from the transfer). */
                ctl->policy_pass = (guint64)ev->value;
                if (!ctl->busy && g_get_monotonic_time() - ctl->progress_us >=
                                      POLICY_QUERY_GAP_MS * 1000) {
                    collect_progress(job);
                    return;
                }
                if (!ctl->busy) {
                    ctl->policy_pass = 0;
                    policy_pass(job, (guint64)ev->value);
                }
            }
            /* Asking the hypervisor holds up the transfer it asks about
             * (QEMU's big lock): at most every PASS_PROGRESS_GAP_MS.  The
             * pass is told at once all the same, with the last figures. */
            if (!ctl->busy && g_get_monotonic_time() - ctl->progress_us >=
                                  PASS_PROGRESS_GAP_MS * 1000)
                collect_progress(job);
            else
                ferry_mig_emit_job_event(job, FERRY_EVENT_JOB_PROGRESS);
            return;
        case FERRY_MIG_EV_SOURCE_STOPPED:
            record_stop(job, ev);
            return;
        case FERRY_MIG_EV_SWITCHOVER:
            /* A switch to post-copy sends the devices' state only: the
             * cap holds it back for nothing. */
            if (ctl->xfer == XFER_MEMORY && !ctl->aborting)
                ferry_mig_run_step(job, STEP_SWITCHOVER, step_switchover,
                                   GINT_TO_POINTER(job->params->p.max_downtime_cap_ms &&
                                                   ctl->postcopy < PC_REQUESTED));
            return;
        case FERRY_MIG_EV_SENT:
            ferry_mig_run_step(job, STEP_SENT, step_progress, GINT_TO_POINTER(TRUE));
            return;
        case FERRY_MIG_EV_POSTCOPY:
            postcopy_began(job);
            return;
        case FERRY_MIG_EV_TRANSFER_FAILED:
            if (ctl->xfer == XFER_CANCELLING)
                return;     /* the cancel step reports it */
            transfer_failed(job, ev->message ? ev->message : "QEMU gave no reason");
            return;
        case FERRY_MIG_EV_EXITED:
            ctl->end_code = FERRY_ERROR_MIGRATE;
            ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                      "Perform: migration of domain '%s' failed: the source "
                                      "QEMU %s", job->dom_name,
                                      ev->value == FERRY_SHUTOFF_DESTROYED
                                          ? "was destroyed" : "exited unexpectedly");
            ctl->was_running = FALSE;
            rollback(job, FERRY_MIG_STATE_FAILED);
            return;
        default:
            return;
        }
    case EV_TIMER:
        if (ev->kind == TIMER_PROGRESS) {
            ferry_mig_timer_start(job, TIMER_PROGRESS, PROGRESS_INTERVAL_MS, FALSE);
            if (!ctl->busy && ctl->xfer != XFER_CANCELLING)
                collect_progress(job);
        } else if (ev->kind == TIMER_TIMEOUT && ctl->postcopy >= PC_REQUESTED) {
            /* Switching to post-copy: it ends the transfer soon enough, and
             * a guest split between two hosts can only complete. */
            return;
        } else if (ev->kind == TIMER_TIMEOUT) {
            if (job->params->p.timeout_action == FERRY_MIGRATE_TIMEOUT_SUSPEND) {
                if (ctl->busy) {
                    /* After the step in flight. */
                    ferry_mig_timer_start(job, TIMER_TIMEOUT, 50, FALSE);
                    return;
                }
                ctl->suspended = TRUE;
                ferry_mig_job_set_message(job, 0, "the timeout of %u s expired: the guest is "
                                          "paused so that the last pass completes",
                                          job->params->p.timeout_s);
                ferry_mig_run_step(job, STEP_PAUSE, step_pause, NULL);
            } else {
                g_autofree char *why = g_strdup_printf("its timeout of %u s expired",
                                                       job->params->p.timeout_s);

                abort_reason(job, why);
                ctl->tell_dest = TRUE;
                cancel_transfer(job);
            }
        }
        return;
    case EV_REQUEST:
        if (ev->kind == REQ_POSTCOPY) {
            postcopy_request(job, ev, "asked for (ferry migrate-postcopy)");
            return;
        }
        if ((ev->kind == REQ_ABORT || ev->kind == REQ_CANCEL) && ctl->postcopy >= PC_REQUESTED) {
            /* QEMU may switch at any moment: from then on the guest is
             * split, and only completing it keeps it. */
            ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID,
                                "cannot abort the migration now: it is switching to "
                                "post-copy, after which it can only complete");
            return;
        }
        if (ev->kind == REQ_ABORT || ev->kind == REQ_CANCEL) {
            /* The user, or the destination that dropped its side. */
            abort_reason(job, ev->message);
            ctl->tell_dest = ctl->tell_dest || ev->kind == REQ_ABORT;
            ferry_mig_add_waiter(job, ev);
            cancel_transfer(job);
            return;
        }
        break;
    case EV_CONN_CLOSED:
        if (ctl->postcopy >= PC_REQUESTED) {
            /* Too late to give up: the daemon finishes it (postcopy_began()
             * sees client_gone). */
            return;
        }
        abort_reason(job, "the client driving it disconnected");
        ctl->tell_dest = TRUE;
        cancel_transfer(job);
        return;
    default:
        return;
    }
    if (ev->type == EV_REQUEST)
        fail_request(job, ev);
}

/* ------------------------------------------------------------------------ */
/* The commit zone: everything sent, the source paused                       */
/* ------------------------------------------------------------------------ */

static gboolean
domain_active(ferry_domain_obj *obj)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);

    return ferry_domain_obj_is_active(obj);
}

static gboolean
step_stop(ferry_mig_job *job, gpointer data, GError **error)
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
static void
confirm_ok(ferry_mig_job *job, const ferry_migration_cookie *finished)
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
    ferry_mig_run_step(job, STEP_STOP, step_stop, NULL);
}

/* The destination does not and will not run it: the source runs again. */
static void
confirm_cancelled(ferry_mig_job *job, ferry_mig_state final)
{
    ferry_mig_move(job, FERRY_MIG_PHASE_CONFIRM, FERRY_MIG_STATE_RUNNING);
    rollback(job, final);
}

/* Goes to the destination's daemon: to finish the migration (the client
 * is gone, or Finish's answer was lost), or to cancel it (abort). */
static void
ask_peer(ferry_mig_job *job, peer_kind intent)
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
            confirm_ok(job, finished);
            return;
        }
        set_failure(job, ev->error);
        ctl->end_code = FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                  "the destination did not take the guest (%s); it runs on "
                                  "the source again", ev->error->message);
        confirm_cancelled(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    /* PEER_CANCEL */
    if (ev->ok) {
        confirm_cancelled(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED
                                             : FERRY_MIG_STATE_FAILED);
        return;
    }
    if (g_error_matches(ev->error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID)) {
        /* Too late: the destination runs it.  The abort fails; the
         * migration completed. */
        ferry_mig_job_set_message(job, 0, "too late to abort: %s", ev->error->message);
        ctl->aborting = FALSE;
        confirm_ok(job, NULL);
        return;
    }
    /* Any other refusal still means it does not run there. */
    confirm_cancelled(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED : FERRY_MIG_STATE_FAILED);
}

/* Events in the commit zone and while in doubt. */
static void
committed_event(ferry_mig_job *job, ferry_mig_event *ev)
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
            ask_peer(job, PEER_FINISH);
        }
        return;
    case EV_CONN_CLOSED:
        if (!doubt) {
            ferry_mig_job_set_message(job, 0, "the client driving it disconnected after "
                                      "everything was sent: the daemon finishes the migration "
                                      "itself");
            ask_peer(job, PEER_FINISH);
        }
        return;
    case EV_BACKEND:
        if (ev->kind == FERRY_MIG_EV_EXITED && ev->value == FERRY_SHUTOFF_DESTROYED) {
            /* Destroyed on purpose: the destination must not run it either. */
            ctl->was_running = FALSE;
            ctl->end_code = FERRY_ERROR_MIGRATE;
            ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE, "the domain was destroyed on "
                                      "the source");
            ask_peer(job, PEER_CANCEL);
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
            confirm_ok(job, ev->cookie);
        } else if (ev->outcome == FERRY_CONFIRM_CANCELLED && ctl->sent_finish) {
            /* The client says Finish never reached the destination, but
             * this daemon sent one of its own: only the destination can
             * say.  (Found by the model: model/README.md.) */
            ctl->phase_task = g_steal_pointer(&ev->task);
            ask_peer(job, PEER_FINISH);
        } else if (ev->outcome == FERRY_CONFIRM_CANCELLED) {
            ctl->phase_task = g_steal_pointer(&ev->task);
            ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                      "the destination did not take the guest; it runs on the "
                                      "source again");
            confirm_cancelled(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED
                                                 : FERRY_MIG_STATE_FAILED);
        } else {
            /* The caller does not know Finish's outcome: ask. */
            ctl->phase_task = g_steal_pointer(&ev->task);
            ask_peer(job, ctl->doubt_intent ? ctl->doubt_intent : PEER_FINISH);
        }
        return;
    case REQ_ABORT:
        abort_reason(job, ev->message);
        ferry_mig_add_waiter(job, ev);
        ask_peer(job, PEER_CANCEL);
        return;
    case REQ_CANCEL:
        /* The destination's own word that it dropped the guest. */
        if (ctl->busy) {
            ferry_mig_add_waiter(job, ev);
            return;
        }
        abort_reason(job, ev->message);
        ferry_mig_add_waiter(job, ev);
        ferry_mig_timer_stop(job, TIMER_RETRY);
        ferry_mig_timer_stop(job, TIMER_WATCHDOG);
        confirm_cancelled(job, FERRY_MIG_STATE_CANCELLED);
        return;
    default:
        fail_request(job, ev);
        return;
    }
}

/* ------------------------------------------------------------------------ */
/* Rollback and the end                                                      */
/* ------------------------------------------------------------------------ */

static gboolean
step_rollback(ferry_mig_job *job, gpointer data, GError **error)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    gboolean active = FALSE;

    if (ctl->xfer != XFER_NONE && ctl->xfer != XFER_SENT && ctl->xfer != XFER_CANCELLING)
        backend_of(job)->cancel_transfer(job);
    if (job->obj) {
        g_mutex_lock(&job->obj->lock);
        active = ferry_domain_obj_is_active(job->obj);
        g_mutex_unlock(&job->obj->lock);
    }
    if (active && (ctl->was_running || ctl->suspended)) {
        /* Taken again first: if someone else holds it, the guest may run
         * there, and must not run here too. */
        if (!ferry_mig_lease_acquire(job, error))
            return FALSE;
        if (!backend_of(job)->resume(job, error)) {
            ferry_mig_probe probe;

            /* A QEMU that died while the daemon was busy (or stopped):
             * its exit may not have been seen yet.  Say what happened, not
             * that the guest stays paused. */
            backend_of(job)->probe(job, &probe);
            if (probe.transfer == FERRY_MIG_PROBE_GONE) {
                g_clear_error(error);
                ctl->was_running = FALSE;
                ctl->end_code = FERRY_ERROR_MIGRATE;
                ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                          "migration of domain '%s' failed: the source QEMU "
                                          "exited unexpectedly", job->dom_name);
                return TRUE;
            }
            return FALSE;
        }
    }
    return TRUE;
}

/* Resumes the source if it ran before, then ends the job in @final. */
static void
rollback(ferry_mig_job *job, ferry_mig_state final)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->postcopy >= PC_ACTIVE) {
        /* Its pages and devices' state went to the destination: the
         * source can never run it again. */
        postcopy_lost(job, job->message ? job->message : "the destination did not take it");
        return;
    }
    ferry_mig_timer_stop(job, TIMER_PROGRESS);
    ferry_mig_timer_stop(job, TIMER_TIMEOUT);
    ferry_mig_timer_stop(job, TIMER_WATCHDOG);
    ferry_mig_timer_stop(job, TIMER_RETRY);
    if (final == FERRY_MIG_STATE_CANCELLED)
        ctl->aborting = TRUE;
    ferry_mig_move(job, job->phase, FERRY_MIG_STATE_ROLLBACK);
    ferry_mig_run_step(job, STEP_ROLLBACK, step_rollback, NULL);
}

/* Post-copy failed: the guest's memory is split between the hosts and
 * the half here can never run again (QEMU has sent the devices' state and
 * pages the destination may have changed).  The source stays paused --
 * never run twice -- and the job says so; only destroying it ends it. */
static void
postcopy_lost(ferry_mig_job *job, const char *why)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    g_autofree char *what = g_strdup(why);
    g_autoptr(GError) error = NULL;

    ferry_mig_timer_stop(job, TIMER_PROGRESS);
    ferry_mig_timer_stop(job, TIMER_TIMEOUT);
    ferry_mig_timer_stop(job, TIMER_WATCHDOG);
    ferry_mig_timer_stop(job, TIMER_RETRY);
    ctl->end_code = FERRY_ERROR_MIGRATE;
    ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
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
    error = g_error_new_literal(FERRY_ERROR, FERRY_ERROR_MIGRATE, job->message);
    g_mutex_unlock(&job->lock);
    if (ctl->phase_task)
        ferry_mig_reply_error(job, error);
    ferry_mig_end(job, FERRY_MIG_STATE_FAILED);
}

static void
rollback_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    gboolean resumed = FALSE;

    if (!ev->ok) {
        g_warning("domain '%s': migration %s: cannot resume the source: %s", job->dom_name,
                  job->id, ev->error->message);
        /* The job says what is true: the guest stays paused here. */
        ferry_mig_job_set_message(job, ctl->end_code ? ctl->end_code : FERRY_ERROR_MIGRATE,
                                  "the migration did not complete, and domain '%s' stays "
                                  "paused on host '%s': %s", job->dom_name,
                                  engine_of(job)->hostname, ev->error->message);
    } else if (job->obj) {
        g_mutex_lock(&job->obj->lock);
        resumed = ferry_domain_obj_is_active(job->obj) && (ctl->was_running || ctl->suspended);
        g_mutex_unlock(&job->obj->lock);
    }
    if (resumed) {
        int before;

        g_mutex_lock(&job->obj->lock);
        before = job->obj->state;
        g_mutex_unlock(&job->obj->lock);
        ferry_mig_set_domain_state(job, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATION_CANCELED,
                                   before != FERRY_DOMAIN_RUNNING ? FERRY_LIFECYCLE_RESUMED : -1);
    }
    /* The pending call learns why. */
    if (ctl->phase_task) {
        if (ctl->confirm_outcome == FERRY_CONFIRM_CANCELLED &&
            g_task_get_task_data(ctl->phase_task) == GINT_TO_POINTER(REQ_CONFIRM)) {
            /* Confirm(CANCELLED) did what it was asked. */
            ferry_mig_reply(job, g_new0(ferry_phase_result, 1));
        } else {
            g_mutex_lock(&job->lock);
            {
                g_autoptr(GError) error = g_error_new_literal(
                    FERRY_ERROR, ctl->end_code ? ctl->end_code : FERRY_ERROR_MIGRATE,
                    job->message ? job->message : "the migration failed");

                g_mutex_unlock(&job->lock);
                ferry_mig_reply_error(job, error);
            }
        }
    }
    tell_peer_to_cancel(job);
    ferry_mig_end(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED : FERRY_MIG_STATE_FAILED);
    if (resumed)
        g_message("domain '%s': migration %s given up; the source runs again", job->dom_name,
                  job->id);
}

static void
stop_done(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!ev->ok) {
        /* The destination runs the guest, and the source could not be
         * stopped.  The caller learns it; the job keeps the domain (paused,
         * refusing a resume) and tries again. */
        /* One warning; the retries are logged less loudly. */
        if (ctl->stop_failures++ == 0)
            g_warning("domain '%s': migration %s: the destination runs the guest but the "
                      "source could not be stopped: %s; trying again", job->dom_name, job->id,
                      ev->error->message);
        else
            g_message("domain '%s': migration %s: stopping the source failed again: %s",
                      job->dom_name, job->id, ev->error->message);
        ferry_mig_job_set_message(job, 0, "the destination runs the guest; stopping the "
                                  "source failed (%s): trying again", ev->error->message);
        ferry_mig_reply_error(job, ev->error);
        ferry_mig_timer_start(job, TIMER_RETRY, ctl->retry_delay_s * 1000, FALSE);
        ctl->retry_delay_s = MIN(ctl->retry_delay_s * 2, RETRY_MAX_SECONDS);
        return;
    }
    if (ctl->phase_task) {
        ferry_phase_result *r = g_new0(ferry_phase_result, 1);

        /* The end computes the split; the cookie carries it. */
        ferry_mig_end(job, FERRY_MIG_STATE_COMPLETED);
        r->cookie = format_stats(job);
        ferry_mig_reply(job, r);
        return;
    }
    ferry_mig_end(job, FERRY_MIG_STATE_COMPLETED);
}

/* ------------------------------------------------------------------------ */
/* Calls in states that do not take them                                     */
/* ------------------------------------------------------------------------ */

static void
fail_request(ferry_mig_job *job, ferry_mig_event *ev)
{
    g_autofree char *phase = g_strdup(ferry_mig_phase_to_string(job->phase));
    const char *what = ev->kind == REQ_PERFORM ? "Perform" : ev->kind == REQ_CONFIRM
                       ? "Confirm" : ev->kind == REQ_ABORT ? "abort" : "this call";

    g_task_return_new_error(ev->task, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                            "%s: domain '%s': migration %s is in phase %s (%s), not ready for "
                            "it", what, job->dom_name, job->id, *phase ? phase : "none",
                            ferry_mig_state_to_string(job->state));
    g_clear_object(&ev->task);
}

/* A call that came after the end: answered from the outcome. */
static void
ended_request(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_waiter w = { .task = g_steal_pointer(&ev->task), .kind = ev->kind,
                           .conn = ev->conn };

    if (ev->kind == REQ_CONFIRM && ev->outcome == FERRY_CONFIRM_CANCELLED &&
        job->state != FERRY_MIG_STATE_COMPLETED) {
        /* Confirm(CANCELLED) of a job that already gave up: done. */
        ferry_phase_task_return(w.task, g_new0(ferry_phase_result, 1));
        return;
    }
    if (ev->kind == REQ_CONFIRM && job->state == FERRY_MIG_STATE_COMPLETED) {
        ferry_phase_result *r = g_new0(ferry_phase_result, 1);

        r->cookie = format_stats(job);
        ferry_phase_task_return(w.task, r);
        return;
    }
    ferry_mig_answer_waiter(job, &w);
}

/* ------------------------------------------------------------------------ */
/* Restart recovery                                                          */
/* ------------------------------------------------------------------------ */

void
ferry_mig_source_recover(ferry_mig_job *job, const ferry_mig_probe *probe,
                         ferry_mig_recovery_action action)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    /* Nobody drives it any more: this daemon carries it to its end. */
    ctl->client_gone = TRUE;
    ctl->was_running = probe->cpus_running || probe->migration_paused;
    ctl->out = ferry_mig_cookie_new(job);
    if (action == FERRY_MIG_RECOVER_ROLLBACK) {
        /* What QEMU still has of the transfer goes: the memory stream,
         * and the disk mirrors a storage migration may have left even
         * before the memory started (the probe handed them to the
         * backend). */
        ctl->xfer = probe->transfer == FERRY_MIG_PROBE_SENDING ? XFER_MEMORY
                    : (job->params->p.flags & (FERRY_MIGRATE_NON_SHARED_DISK |
                                               FERRY_MIGRATE_NON_SHARED_INC)) ? XFER_DISKS
                    : XFER_NONE;
        ctl->end_code = FERRY_ERROR_MIGRATE;
        ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                  "ferryd of host '%s' restarted before everything was sent: "
                                  "the migration was given up", engine_of(job)->hostname);
        if (job->state == FERRY_MIG_STATE_ROLLBACK)
            ferry_mig_run_step(job, STEP_ROLLBACK, step_rollback, NULL);
        else
            rollback(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    if (probe->postcopy) {
        /* Split between the hosts: the source's process lives until every
         * page went (QEMU's "completed" event still comes). */
        set_postcopy(job, PC_ACTIVE);
        ferry_mig_timer_start(job, TIMER_PROGRESS, PROGRESS_INTERVAL_MS, FALSE);
        if (probe->postcopy_paused) {
            set_postcopy(job, PC_PAUSED);
            recover_later(job, "its stream broke while ferryd was down");
        }
    }
    /* Everything was sent (or the QEMU that was sending is gone): only the
     * destination can say where the guest runs.  Until it does, the source
     * stays paused. */
    if (probe->transfer != FERRY_MIG_PROBE_GONE && job->obj)
        ferry_mig_set_domain_state(job, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION, -1);
    ferry_mig_job_set_message(job, 0, "in doubt: asking %s whether it runs the guest (ferryd "
                              "restarted after everything was sent)",
                              job->peer_uri ? job->peer_uri : "the destination");
    if (job->phase == FERRY_MIG_PHASE_PERFORM && job->state == FERRY_MIG_STATE_RUNNING)
        ferry_mig_move(job, FERRY_MIG_PHASE_PERFORM, FERRY_MIG_STATE_WAITING);
    if (job->phase == FERRY_MIG_PHASE_CONFIRM && job->state == FERRY_MIG_STATE_RUNNING)
        ferry_mig_move(job, FERRY_MIG_PHASE_CONFIRM, FERRY_MIG_STATE_IN_DOUBT);
    if (job->phase == FERRY_MIG_PHASE_PERFORM) {
        ask_peer(job, PEER_FINISH);
        return;
    }
    ctl->doubt_intent = PEER_FINISH;
    ferry_mig_run_peer(job, PEER_FINISH);
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */
/* ------------------------------------------------------------------------ */

void
ferry_mig_source_handle(ferry_mig_job *job, ferry_mig_event *ev)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ferry_mig_state_is_final(job->state)) {
        if (ev->type == EV_REQUEST && (ev->kind == REQ_POSTCOPY || ev->kind == REQ_RESUME))
            ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID,
                                "the migration has ended");
        else if (ev->type == EV_REQUEST)
            ended_request(job, ev);
        return;
    }
    if (ev->type == EV_REQUEST && ev->kind == REQ_RESUME) {
        resume_by_hand(job, ev);
        return;
    }
    if (postcopy_event(job, ev))
        return;
    if (ev->type == EV_REQUEST && ev->kind == REQ_ABORT && ctl->postcopy >= PC_ACTIVE) {
        ferry_mig_fail_task(g_steal_pointer(&ev->task), FERRY_ERROR_OPERATION_INVALID,
                            "cannot abort the migration: it is in post-copy, where the "
                            "guest's memory is split between the hosts and it can only "
                            "complete");
        return;
    }
    if (ev->type == EV_SIDE_DONE) {
        ctl->side_busy = FALSE;
        return;
    }
    if (ev->type == EV_REQUEST && ev->kind == REQ_POSTCOPY &&
        !(job->phase == FERRY_MIG_PHASE_PERFORM && job->state == FERRY_MIG_STATE_RUNNING)) {
        if (ctl->postcopy >= PC_REQUESTED)
            g_task_return_boolean(ev->task, TRUE);
        else
            g_task_return_new_error(ev->task, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                                    "domain '%s': migration %s is not sending memory (phase "
                                    "%s, %s): no post-copy to switch to", job->dom_name,
                                    job->id, ferry_mig_phase_to_string(job->phase),
                                    ferry_mig_state_to_string(job->state));
        g_clear_object(&ev->task);
        return;
    }
    if (ev->type == EV_STEP_DONE) {
        switch (ev->kind) {
        case STEP_BEGIN:
            begin_done(job, ev);
            return;
        case STEP_ROLLBACK:
            rollback_done(job, ev);
            return;
        case STEP_STOP:
            stop_done(job, ev);
            return;
        case STEP_TAKE:
            if (!ev->ok) {
                set_failure(job, ev->error);
                ferry_mig_reply_error(job, ev->error);
                end_untouched(job, FERRY_MIG_STATE_FAILED);
                return;
            }
            perform_start(job, &(ferry_mig_event){ .type = EV_REQUEST, .kind = REQ_PERFORM });
            return;
        default:
            break;
        }
    }

    switch (job->phase) {
    case FERRY_MIG_PHASE_BEGIN:
        if (job->state != FERRY_MIG_STATE_WAITING)
            break;
        if (ev->type == EV_REQUEST && ev->kind == REQ_PERFORM) {
            perform_start(job, ev);
        } else if (ev->type == EV_REQUEST && ev->kind == REQ_CONFIRM) {
            /* Prepare failed: nothing moved. */
            ctl->phase_task = g_steal_pointer(&ev->task);
            ctl->confirm_outcome = FERRY_CONFIRM_CANCELLED;
            ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                      "the destination could not prepare");
            confirm_cancelled(job, FERRY_MIG_STATE_FAILED);
        } else if (ev->type == EV_REQUEST &&
                   (ev->kind == REQ_ABORT || ev->kind == REQ_CANCEL)) {
            abort_reason(job, ev->message);
            ferry_mig_add_waiter(job, ev);
            end_untouched(job, FERRY_MIG_STATE_CANCELLED);
        } else if (ev->type == EV_CONN_CLOSED) {
            abort_reason(job, "the client driving it disconnected");
            end_untouched(job, FERRY_MIG_STATE_CANCELLED);
        } else if (ev->type == EV_TIMER && ev->kind == TIMER_WATCHDOG &&
                   g_get_monotonic_time() - ctl->last_phase_us >=
                       (gint64)engine_of(job)->abandon_seconds * G_TIME_SPAN_SECOND) {
            g_autofree char *why = g_strdup_printf(
                "no phase came within migration_abandon_timeout (%u s)",
                engine_of(job)->abandon_seconds);

            abort_reason(job, why);
            end_untouched(job, FERRY_MIG_STATE_CANCELLED);
        } else if (ev->type == EV_BACKEND && ev->kind == FERRY_MIG_EV_EXITED) {
            ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                      "the source QEMU exited before the transfer");
            end_untouched(job, FERRY_MIG_STATE_FAILED);
        } else if (ev->type == EV_REQUEST) {
            fail_request(job, ev);
        }
        return;
    case FERRY_MIG_PHASE_PERFORM:
        if (job->state == FERRY_MIG_STATE_RUNNING)
            perform_event(job, ev);
        else if (job->state == FERRY_MIG_STATE_WAITING)
            committed_event(job, ev);
        else if (ev->type == EV_REQUEST)
            fail_request(job, ev);
        return;
    case FERRY_MIG_PHASE_FINISH:
    case FERRY_MIG_PHASE_CONFIRM:
        if (job->state == FERRY_MIG_STATE_IN_DOUBT || job->phase == FERRY_MIG_PHASE_FINISH) {
            committed_event(job, ev);
            return;
        }
        if (ev->type == EV_TIMER && ev->kind == TIMER_RETRY &&
            job->state == FERRY_MIG_STATE_RUNNING && !ctl->busy) {
            ferry_mig_run_step(job, STEP_STOP, step_stop, NULL);
            return;
        }
        if (ev->type == EV_REQUEST && ev->kind == REQ_ABORT) {
            fail_request(job, ev);
            return;
        }
        if (ev->type == EV_REQUEST)
            ferry_mig_add_waiter(job, ev);
        return;
    default:
        break;
    }
    if (ev->type == EV_REQUEST)
        fail_request(job, ev);
}
