/*
 * migration-engine-query.c: what a caller asks of a running (or ended)
 * migration job besides its phases: its statistics (domjobinfo), its
 * tunables (downtime limit, bandwidth), and the post-copy switch and
 * resume by hand.
 *
 * Owns: finding the job a domain's call is about and either reading it
 * under its lock or posting the call to its queue and waiting.
 * Must not: change a job's phase or state itself; everything that acts on
 * a job goes through its queue (migration-engine.c), where the role
 * handlers decide.
 */
#include "ferry-config.h"

#include <string.h>

#include "migration/migration-engine-private.h"
#include "util/error.h"

gboolean
ferry_mig_engine_get_job_stats(ferry_mig_engine *engine, ferry_domain *dom, guint flags,
                               ferry_job_info *ret_info, GError **error)
{
    g_autoptr(ferry_mig_job) job = NULL;

    memset(ret_info, 0, sizeof(*ret_info));
    if (flags & FERRY_JOB_STATS_COMPLETED) {
        g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&engine->lock);
        ferry_mig_job *last = g_hash_table_lookup(engine->last, dom->uuid);

        job = last ? ferry_mig_job_ref(last) : NULL;
    } else {
        job = ferry_mig_engine_find_job(engine, dom->uuid);
    }
    if (job)
        ferry_mig_job_get_info(job, ret_info);
    return TRUE;
}

/* The active outgoing job of @dom, or an error naming why there is none. */
static ferry_mig_job *
outgoing_job(ferry_mig_engine *engine, ferry_domain *dom, GError **error)
{
    ferry_mig_job *job = ferry_mig_engine_find_job(engine, dom->uuid);

    if (!job || job->role != FERRY_MIG_ROLE_SOURCE) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not migrating out of host '%s'", dom->name,
                    engine->hostname);
        g_clear_pointer(&job, ferry_mig_job_unref);
    }
    return job;
}

gboolean
ferry_mig_engine_set_tunable(ferry_mig_engine *engine, ferry_domain *dom, int tunable,
                             guint64 value, GError **error)
{
    g_autoptr(ferry_mig_job) job = outgoing_job(engine, dom, error);
    gboolean transferring;

    if (!job)
        return FALSE;
    g_mutex_lock(&job->lock);
    if (tunable == FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME && job->params->p.max_downtime_cap_ms &&
        value > job->params->p.max_downtime_cap_ms) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "domain '%s': migration %s: a downtime limit of %" G_GUINT64_FORMAT
                    " ms is above its cap of %" G_GUINT64_FORMAT " ms (--max-downtime-cap)",
                    job->dom_name, job->id, value, job->params->p.max_downtime_cap_ms);
        g_mutex_unlock(&job->lock);
        return FALSE;
    }
    transferring = job->phase == FERRY_MIG_PHASE_PERFORM && job->state == FERRY_MIG_STATE_RUNNING;
    if (tunable == FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME) {
        job->params->p.max_downtime_ms = value;
        job->info.max_downtime_ms = (gint64)value;
    } else {
        job->params->p.bandwidth_mib = value;
        job->info.bandwidth_bps = value << 20;
    }
    g_mutex_unlock(&job->lock);
    /* Before the transfer, the value waits for it; during it, the
     * hypervisor takes it at once. */
    if (!transferring)
        return TRUE;
    return engine->backend->set_tunable(job, tunable, value, error);
}

/* request_and_wait() waits for its call's answer here. */
typedef struct {
    gboolean done;
    GError *error;
} request_wait;

static void
request_answered(GObject *source, GAsyncResult *res, gpointer data)
{
    request_wait *w = data;

    g_task_propagate_boolean(G_TASK(res), &w->error);
    w->done = TRUE;
}

/* Posts @kind to @job and waits for its answer.  The job's queue orders
 * it with everything else that happens to the job (an abort, the end of
 * the transfer); this caller waits on a context of its own. */
static gboolean
request_and_wait(ferry_mig_job *job, req_kind kind, ferry_domain *dom, const char *message,
                 GError **error)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    request_wait w = { 0 };
    GTask *task;

    g_main_context_push_thread_default(context);
    task = ferry_mig_task_new(NULL, request_answered, &w, kind);
    ferry_mig_post_request(job, kind, task, dom->conn, NULL, NULL, 0, message);
    while (!w.done)
        g_main_context_iteration(context, TRUE);
    g_main_context_pop_thread_default(context);
    if (w.error) {
        g_propagate_error(error, w.error);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_mig_engine_start_postcopy(ferry_mig_engine *engine, ferry_domain *dom, GError **error)
{
    g_autoptr(ferry_mig_job) job = outgoing_job(engine, dom, error);

    if (!job)
        return FALSE;
    if (!engine->backend->start_postcopy) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "domain '%s': host '%s' cannot migrate in post-copy", dom->name,
                    engine->hostname);
        return FALSE;
    }
    return request_and_wait(job, REQ_POSTCOPY, dom, NULL, error);
}

gboolean
ferry_mig_engine_postcopy_resume(ferry_mig_engine *engine, ferry_domain *dom,
                                 const char *dest_uri, GError **error)
{
    g_autoptr(ferry_mig_job) job = outgoing_job(engine, dom, error);

    if (!job)
        return FALSE;
    if (!engine->backend->postcopy_resume) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "domain '%s': host '%s' cannot resume a post-copy", dom->name,
                    engine->hostname);
        return FALSE;
    }
    return request_and_wait(job, REQ_RESUME, dom, dest_uri, error);
}

gboolean
ferry_mig_engine_get_tunable(ferry_mig_engine *engine, ferry_domain *dom, int tunable,
                             guint64 *ret_value, GError **error)
{
    g_autoptr(ferry_mig_job) job = outgoing_job(engine, dom, error);
    gboolean transferring;

    if (!job)
        return FALSE;
    g_mutex_lock(&job->lock);
    transferring = job->phase == FERRY_MIG_PHASE_PERFORM && job->state == FERRY_MIG_STATE_RUNNING;
    *ret_value = tunable == FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME ? job->params->p.max_downtime_ms
                                                               : job->params->p.bandwidth_mib;
    g_mutex_unlock(&job->lock);
    if (!transferring)
        return TRUE;
    return engine->backend->get_tunable(job, tunable, ret_value, error);
}
