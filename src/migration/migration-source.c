/*
 * migration-source.c: a migration as the source host sees it -- Begin,
 * Perform, Confirm (v3), Perform alone (v2/v1) -- and everything that can
 * happen around them: abort, timeout, a transfer that fails, a QEMU that
 * dies, a client that vanishes, a destination that does not answer.
 *
 * The rule this file keeps (docs/migration-engine.md, "The commit point"): once everything was sent
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

#include "migration/migration-source-private.h"
#include "util/error.h"

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
void
ferry_mig_src_set_failure(ferry_mig_job *job, const GError *error)
{
    ctl_of(job)->end_code = error->domain == FERRY_ERROR ? error->code : FERRY_ERROR_MIGRATE;
    ferry_mig_job_set_message(job, ctl_of(job)->end_code, "%s", error->message);
}

/* The statistics cookie of Perform, and of Confirm once ended. */
ferry_migration_cookie *
ferry_mig_src_stats_cookie(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (!ctl->out) {
        ctl->out = ferry_mig_cookie_new(job);
        ctl->out->has_stats = TRUE;
    }
    ferry_mig_snap_fill(job, ctl->out);
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
    ferry_migration_cookie *out = ferry_mig_src_stats_cookie(job);

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
void
ferry_mig_src_abort_reason(ferry_mig_job *job, const char *why)
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
    /* The destination's QEMU is built from this XML and receives the
     * running guest's state: it must be the same machine to the guest. */
    if (!ferry_domain_def_check_abi_stability(offline ? obj->def : obj->live, def, error))
        return NULL;
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

    if (!ferry_mig_src_check_safety(job, error) || !ferry_mig_snap_offer(job, cookie, error))
        return FALSE;
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
    return ferry_mig_src_check_safety(job, error);
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
        ferry_mig_src_set_failure(job, ev->error);
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

/* @data: check the downtime cap first. */
static gboolean
step_switchover(ferry_mig_job *job, gpointer data, GError **error)
{
    ctl_of(job)->xfer = XFER_SWITCHOVER;
    if (GPOINTER_TO_INT(data) && !ferry_mig_src_check_cap(job, error))
        return FALSE;
    return backend_of(job)->switch_over(job, ferry_mig_src_stats_cookie(job), error);
}

/* Reads the backend's figures into the job's information (a step, or a
 * side step during post-copy): only what the backend measures -- the
 * engine's own fields (and the limits another thread may set meanwhile)
 * are kept as they are now. */
gboolean
ferry_mig_src_step_progress(ferry_mig_job *job, gpointer data, GError **error)
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
    ferry_mig_run_step(job, STEP_PROGRESS, ferry_mig_src_step_progress, GINT_TO_POINTER(FALSE));
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

/* Post-copy: migration-source-postcopy.c; the convergence policy's
 * decisions and the downtime cap: migration-source-converge.c; the commit
 * zone and Confirm: migration-source-confirm.c. */

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

    if (job->protocol == 3) {
        g_autoptr(GError) refusal = NULL;

        /* Nothing was sent yet: refused, the source runs on as it was. */
        if (!ferry_mig_src_check_snapshots_taken(job, ctl->prepared, &refusal)) {
            ferry_mig_src_set_failure(job, refusal);
            ferry_mig_reply_error(job, refusal);
            ferry_mig_src_rollback(job, FERRY_MIG_STATE_FAILED);
            return;
        }
    }
    if (p->flags & FERRY_MIGRATE_OFFLINE) {
        /* Only the definition travels: there is nothing to send. */
        ferry_migration_cookie *out = ferry_mig_src_stats_cookie(job);
        g_autoptr(GError) error = NULL;

        if (!ferry_mig_inject(job, "perform", &error)) {
            ferry_mig_src_set_failure(job, error);
            ferry_mig_reply_error(job, error);
            ferry_mig_src_rollback(job, FERRY_MIG_STATE_FAILED);
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
        ferry_mig_src_rollback(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    if (p->timeout_s)
        ferry_mig_timer_start(job, TIMER_TIMEOUT, p->timeout_s * 1000, FALSE);
    ferry_mig_src_policy_start(job);
    /* The first figures come soon, then every interval and pass. */
    ctl->progress_us = g_get_monotonic_time();
    ferry_mig_timer_start(job, TIMER_PROGRESS, FIRST_PROGRESS_MS, FALSE);
    ferry_mig_run_step(job, STEP_START, step_start, NULL);
}

/* What the source knows once it is paused for good (everything sent, or
 * the switch to post-copy): the disks' final figures, and the definition
 * the destination persists. */
void
ferry_mig_src_record_handover(ferry_mig_job *job, ferry_migration_cookie *out)
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
void
ferry_mig_src_answer_perform(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    ferry_phase_result *r;

    if (job->protocol < 3) {
        /* v1 and v2 have no Confirm: Perform stops the source itself, and
         * answers once it did (stop_done()). */
        ferry_mig_src_confirm_ok(job, NULL);
        return;
    }
    r = g_new0(ferry_phase_result, 1);
    r->cookie = format_stats(job);
    ferry_mig_reply(job, r);
    if (ctl->client_gone) {
        ferry_mig_job_set_message(job, 0, "the client driving it disconnected: the daemon "
                                  "finishes the migration itself");
        ferry_mig_src_ask_peer(job, PEER_FINISH);
    } else {
        ferry_mig_timer_start(job, TIMER_WATCHDOG, 1000, TRUE);
    }
}

/* The source's part is done: everything went, the source is paused. */
void
ferry_mig_src_sent(ferry_mig_job *job)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    ferry_mig_timer_stop(job, TIMER_PROGRESS);
    ferry_mig_timer_stop(job, TIMER_TIMEOUT);
    ctl->xfer = XFER_SENT;
    ferry_mig_src_record_handover(job, ferry_mig_src_stats_cookie(job));
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
    ferry_mig_src_answer_perform(job);
}

/* The source's CPUs stopped (@ev's value: when, real time): the guest's
 * downtime starts. */
void
ferry_mig_src_record_stop(ferry_mig_job *job, ferry_mig_event *ev)
{
    g_mutex_lock(&job->lock);
    job->stopped_real = ev->value;
    job->stopped_us = g_get_monotonic_time() - (g_get_real_time() - ev->value);
    g_mutex_unlock(&job->lock);
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
    ferry_mig_src_rollback(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED : FERRY_MIG_STATE_FAILED);
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
            if (ctl->policy_pass && ctl->progress_us < ctl->policy_pass_us) {
                /* Asked before the pass began: the figures of the last
                 * one's end (little left), not what the guest dirtied. */
                collect_progress(job);
            } else if (ctl->policy_pass) {
                guint64 pass = ctl->policy_pass;

                ctl->policy_pass = 0;
                ferry_mig_src_policy_pass(job, pass);
            }
        } else if (ev->kind == STEP_SENT) {
            ferry_mig_src_sent(job);
            return;
        } else if (ev->kind == STEP_CANCEL) {
            if (ev->ok)
                transfer_failed(job, "cancelled");
            /* else: too late, SENT follows. */
            return;
        } else if (ev->kind == STEP_POSTCOPY) {
            ferry_mig_src_postcopy_told(job, ev);
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
                ferry_mig_src_set_failure(job, ev->error);
            ferry_mig_src_rollback(job, ctl->aborting ? FERRY_MIG_STATE_CANCELLED
                                                      : FERRY_MIG_STATE_FAILED);
            return;
        }
        if (ctl->aborting && ctl->xfer != XFER_CANCELLING && ctl->xfer != XFER_SENT) {
            cancel_transfer(job);
        } else {
            ferry_mig_src_postcopy_go(job);
            ferry_mig_src_policy_go(job);
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
                    ferry_mig_src_policy_go(job);
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
                ferry_mig_src_postcopy_request(job, NULL, "after the first pass over memory "
                                 "(--postcopy-after-precopy)");
            if (ctl->policy && ev->value >= 2) {
                /* The policy judges the figures of the pass's start, when
                 * what is left is all the guest dirtied: asked now (or
                 * once the step in flight is done), never the last ones,
                 * taken before the pass began -- near the end of the last
                 * pass little is left, and the policy would see a guest
                 * that converges (a whole pass lost, seen in make bench). */
                ctl->policy_pass = (guint64)ev->value;
                ctl->policy_pass_us = g_get_monotonic_time();
                if (!ctl->busy) {
                    collect_progress(job);
                    return;
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
            ferry_mig_src_record_stop(job, ev);
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
            ferry_mig_run_step(job, STEP_SENT, ferry_mig_src_step_progress, GINT_TO_POINTER(TRUE));
            return;
        case FERRY_MIG_EV_POSTCOPY:
            ferry_mig_src_postcopy_began(job);
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
            ferry_mig_src_rollback(job, FERRY_MIG_STATE_FAILED);
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

                ferry_mig_src_abort_reason(job, why);
                ctl->tell_dest = TRUE;
                cancel_transfer(job);
            }
        }
        return;
    case EV_REQUEST:
        if (ev->kind == REQ_POSTCOPY) {
            ferry_mig_src_postcopy_request(job, ev, "asked for (ferry migrate-postcopy)");
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
            ferry_mig_src_abort_reason(job, ev->message);
            ctl->tell_dest = ctl->tell_dest || ev->kind == REQ_ABORT;
            ferry_mig_add_waiter(job, ev);
            cancel_transfer(job);
            return;
        }
        break;
    case EV_CONN_CLOSED:
        if (ctl->postcopy >= PC_REQUESTED) {
            /* Too late to give up: the daemon finishes it (ferry_mig_src_postcopy_began()
             * sees client_gone). */
            return;
        }
        ferry_mig_src_abort_reason(job, "the client driving it disconnected");
        ctl->tell_dest = TRUE;
        cancel_transfer(job);
        return;
    default:
        return;
    }
    if (ev->type == EV_REQUEST)
        ferry_mig_src_fail_request(job, ev);
}

/* ------------------------------------------------------------------------ */
/* The commit zone: everything sent, the source paused                       */
/* ------------------------------------------------------------------------ */

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
void
ferry_mig_src_rollback(ferry_mig_job *job, ferry_mig_state final)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    if (ctl->postcopy >= PC_ACTIVE) {
        /* Its pages and devices' state went to the destination: the
         * source can never run it again. */
        ferry_mig_src_postcopy_lost(job, job->message ? job->message
                                                      : "the destination did not take it");
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

void
ferry_mig_src_fail_request(ferry_mig_job *job, ferry_mig_event *ev)
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
            ferry_mig_src_rollback(job, FERRY_MIG_STATE_FAILED);
        return;
    }
    if (probe->postcopy) {
        /* Split between the hosts: the source's process lives until every
         * page went (QEMU's "completed" event still comes). */
        ferry_mig_src_set_postcopy(job, PC_ACTIVE);
        ferry_mig_timer_start(job, TIMER_PROGRESS, PROGRESS_INTERVAL_MS, FALSE);
        if (probe->postcopy_paused) {
            ferry_mig_src_set_postcopy(job, PC_PAUSED);
            ferry_mig_src_recover_later(job, "its stream broke while ferryd was down");
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
        ferry_mig_src_ask_peer(job, PEER_FINISH);
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
        ferry_mig_src_resume_by_hand(job, ev);
        return;
    }
    if (ferry_mig_src_postcopy_event(job, ev))
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
                ferry_mig_src_set_failure(job, ev->error);
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
            ferry_mig_src_confirm_cancelled(job, FERRY_MIG_STATE_FAILED);
        } else if (ev->type == EV_REQUEST &&
                   (ev->kind == REQ_ABORT || ev->kind == REQ_CANCEL)) {
            ferry_mig_src_abort_reason(job, ev->message);
            ferry_mig_add_waiter(job, ev);
            end_untouched(job, FERRY_MIG_STATE_CANCELLED);
        } else if (ev->type == EV_CONN_CLOSED) {
            ferry_mig_src_abort_reason(job, "the client driving it disconnected");
            end_untouched(job, FERRY_MIG_STATE_CANCELLED);
        } else if (ev->type == EV_TIMER && ev->kind == TIMER_WATCHDOG &&
                   g_get_monotonic_time() - ctl->last_phase_us >=
                       (gint64)engine_of(job)->abandon_seconds * G_TIME_SPAN_SECOND) {
            g_autofree char *why = g_strdup_printf(
                "no phase came within migration_abandon_timeout (%u s)",
                engine_of(job)->abandon_seconds);

            ferry_mig_src_abort_reason(job, why);
            end_untouched(job, FERRY_MIG_STATE_CANCELLED);
        } else if (ev->type == EV_BACKEND && ev->kind == FERRY_MIG_EV_EXITED) {
            ferry_mig_job_set_message(job, FERRY_ERROR_MIGRATE,
                                      "the source QEMU exited before the transfer");
            end_untouched(job, FERRY_MIG_STATE_FAILED);
        } else if (ev->type == EV_REQUEST) {
            ferry_mig_src_fail_request(job, ev);
        }
        return;
    case FERRY_MIG_PHASE_PERFORM:
        if (job->state == FERRY_MIG_STATE_RUNNING)
            perform_event(job, ev);
        else if (job->state == FERRY_MIG_STATE_WAITING)
            ferry_mig_src_committed_event(job, ev);
        else if (ev->type == EV_REQUEST)
            ferry_mig_src_fail_request(job, ev);
        return;
    case FERRY_MIG_PHASE_FINISH:
    case FERRY_MIG_PHASE_CONFIRM:
        if (job->state == FERRY_MIG_STATE_IN_DOUBT || job->phase == FERRY_MIG_PHASE_FINISH) {
            ferry_mig_src_committed_event(job, ev);
            return;
        }
        if (ev->type == EV_TIMER && ev->kind == TIMER_RETRY &&
            job->state == FERRY_MIG_STATE_RUNNING && !ctl->busy) {
            ferry_mig_run_step(job, STEP_STOP, ferry_mig_src_step_stop, NULL);
            return;
        }
        if (ev->type == EV_REQUEST && ev->kind == REQ_ABORT) {
            ferry_mig_src_fail_request(job, ev);
            return;
        }
        if (ev->type == EV_REQUEST)
            ferry_mig_add_waiter(job, ev);
        return;
    default:
        break;
    }
    if (ev->type == EV_REQUEST)
        ferry_mig_src_fail_request(job, ev);
}
