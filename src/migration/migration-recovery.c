/*
 * migration-recovery.c: a restarted daemon takes over the migrations its
 * predecessor left (docs/recovery.md).
 *
 * Owns: the recovery table, reading the job records back, re-creating each
 * unfinished job in the phase and state its record says, asking the
 * backend what the hypervisor says (a step: a QMP round trip), and handing
 * the job to its role's recovery entry point with the table's action.
 * Must not: resume, stop or kill anything itself (the role handlers do, on
 * the same state machine as any job), or let a source run again on its own
 * judgement where the destination may run the guest.
 */
#include "ferry-config.h"

#include <glib/gstdio.h>

#include "migration/migration-engine-private.h"

const char *
ferry_mig_recovery_action_to_string(ferry_mig_recovery_action action)
{
    switch (action) {
    case FERRY_MIG_RECOVER_KEEP:
        return "keep";
    case FERRY_MIG_RECOVER_ROLLBACK:
        return "rollback";
    case FERRY_MIG_RECOVER_ASK:
        return "ask";
    case FERRY_MIG_RECOVER_DISCARD:
        return "discard";
    case FERRY_MIG_RECOVER_ACTIVATE:
        return "activate";
    }
    return "?";
}

ferry_mig_recovery_action
ferry_mig_recovery_decide(ferry_mig_role role, ferry_mig_phase phase, ferry_mig_state state,
                          ferry_mig_probe_transfer transfer)
{
    if (ferry_mig_state_is_final(state))
        return FERRY_MIG_RECOVER_KEEP;
    if (role == FERRY_MIG_ROLE_DESTINATION) {
        /* Committed: the decision to run it here was taken (and synced)
         * before the guest ran; the source will never run it again. */
        return state == FERRY_MIG_STATE_COMMITTED ? FERRY_MIG_RECOVER_ACTIVATE
                                                  : FERRY_MIG_RECOVER_DISCARD;
    }
    /* A rollback was decided on the destination's word or before anything
     * was in doubt: it is finished. */
    if (state == FERRY_MIG_STATE_ROLLBACK)
        return FERRY_MIG_RECOVER_ROLLBACK;
    switch (phase) {
    case FERRY_MIG_PHASE_NONE:
    case FERRY_MIG_PHASE_BEGIN:
        return FERRY_MIG_RECOVER_ROLLBACK;
    case FERRY_MIG_PHASE_PERFORM:
        if (state == FERRY_MIG_STATE_RUNNING) {
            /* Still sending (or never started, or failed): the destination
             * cannot have everything; only a QEMU that completed -- or one
             * that is gone and might have -- leaves the outcome to it. */
            return transfer == FERRY_MIG_PROBE_SENT || transfer == FERRY_MIG_PROBE_GONE
                       ? FERRY_MIG_RECOVER_ASK : FERRY_MIG_RECOVER_ROLLBACK;
        }
        return FERRY_MIG_RECOVER_ASK;
    case FERRY_MIG_PHASE_PREPARE:
    case FERRY_MIG_PHASE_FINISH:
    case FERRY_MIG_PHASE_CONFIRM:
        /* Everything was sent; Finish may have run there. */
        return FERRY_MIG_RECOVER_ASK;
    }
    return FERRY_MIG_RECOVER_ASK;
}

/* ------------------------------------------------------------------------ */
/* Taking the jobs over                                                      */
/* ------------------------------------------------------------------------ */

static gboolean
step_probe(ferry_mig_job *job, gpointer data, GError **error)
{
    if (job->obj)
        backend_of(job)->probe(job, &ctl_of(job)->recovered);
    return TRUE;
}

/* Engine thread: the job waits for its probe. */
static gboolean
start_probe(gpointer data)
{
    ferry_mig_run_step(data, STEP_PROBE, step_probe, NULL);
    return G_SOURCE_REMOVE;
}

/* Engine thread, from the job's handler: the probe answered. */
void
ferry_mig_recovery_probed(ferry_mig_job *job, const ferry_mig_probe *probe)
{
    ferry_mig_recovery_action action =
        ferry_mig_recovery_decide(job->role, job->phase, job->state, probe->transfer);

    g_message("domain '%s': migration %s (%s) left in (%s, %s) by the previous ferryd; "
              "QEMU %s: %s", job->dom_name, job->id, ferry_mig_role_to_string(job->role),
              ferry_mig_phase_to_string(job->phase), ferry_mig_state_to_string(job->state),
              probe->transfer == FERRY_MIG_PROBE_GONE ? "is gone"
              : probe->transfer == FERRY_MIG_PROBE_SENT ? "had sent everything"
              : probe->transfer == FERRY_MIG_PROBE_SENDING ? "is still sending"
              : probe->cpus_running ? "runs the guest" : "holds the guest paused",
              ferry_mig_recovery_action_to_string(action));
    if (job->role == FERRY_MIG_ROLE_SOURCE)
        ferry_mig_source_recover(job, probe, action);
    else
        ferry_mig_dest_recover(job, probe, action);
}

/* The domain the job is about, held as a migration holds it. */
static void
take_domain(ferry_mig_engine *engine, ferry_mig_job *job)
{
    g_autoptr(ferry_domain_obj) obj = ferry_domain_obj_list_find_by_uuid(engine->domains,
                                                                         job->dom_uuid);
    g_autoptr(GError) error = NULL;
    g_autofree char *owner = g_strdup_printf("recovery of migration %s", job->id);

    if (!obj)
        return;
    if (!ferry_domain_obj_begin_job(obj, job->role == FERRY_MIG_ROLE_SOURCE
                                             ? FERRY_JOB_MIGRATION_OUT
                                             : FERRY_JOB_MIGRATION_IN,
                                    owner, &error)) {
        g_warning("domain '%s': %s", job->dom_name, error->message);
        return;
    }
    job->obj = g_steal_pointer(&obj);
    job->holds_domain = TRUE;
}

/* An ended job: remembered, so that "what became of migration ID?" gets
 * its true answer after the restart too. */
static void
remember(ferry_mig_engine *engine, ferry_mig_job *job)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&engine->lock);

    g_hash_table_replace(engine->by_id, g_strdup(job->id), ferry_mig_job_ref(job));
    g_hash_table_replace(engine->last, g_strdup(job->dom_uuid), ferry_mig_job_ref(job));
    g_queue_push_tail(&engine->ended, g_strdup(job->id));
}

static void
recover_record(ferry_mig_engine *engine, const ferry_mig_record *record)
{
    ferry_migrate_params params = { .flags = record->flags };
    g_autoptr(ferry_mig_job) job = ferry_mig_job_create(engine, record->id, record->role,
                                                        record->protocol, record->dom_name,
                                                        record->dom_uuid, &params);
    g_autoptr(GError) error = NULL;

    job->phase = record->phase;
    job->state = record->state;
    /* Committed before the crash: the guest may have run here, whatever
     * happens to this copy now. */
    job->may_have_run = record->may_have_run ||
                        (record->role == FERRY_MIG_ROLE_DESTINATION &&
                         record->state == FERRY_MIG_STATE_COMMITTED);
    job->peer_uri = g_strdup(record->peer_uri);
    job->message = g_strdup(record->message);
    if (record->created_images) {
        job->created_images = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; record->created_images[i]; i++)
            g_ptr_array_add(job->created_images, g_strdup(record->created_images[i]));
    }
    if (ferry_mig_state_is_final(record->state)) {
        /* Its final statistics, as the previous daemon had them; its
         * length stays what it was. */
        if (record->stats) {
            gint64 now = g_get_monotonic_time();

            job->info = *record->stats;
            job->ended_us = now;
            job->started_us = now - record->stats->elapsed_ms * 1000;
            g_strlcpy(job->info.role, ferry_mig_role_to_string(job->role),
                      sizeof(job->info.role));
            g_strlcpy(job->info.id, job->id, sizeof(job->info.id));
        }
        remember(engine, job);
        return;
    }
    if (!ferry_mig_job_register(job, &error)) {
        g_warning("migration %s of domain '%s' not recovered: %s", record->id,
                  record->dom_name, error->message);
        return;
    }
    take_domain(engine, job);
    g_main_context_invoke_full(engine->context, G_PRIORITY_DEFAULT, start_probe,
                               ferry_mig_job_ref(job), (GDestroyNotify)ferry_mig_job_unref);
}

void
ferry_mig_engine_recover(ferry_mig_engine *engine)
{
    g_autoptr(GDir) dir = NULL;
    const char *file;

    if (!engine->record_dir || !(dir = g_dir_open(engine->record_dir, 0, NULL)))
        return;
    while ((file = g_dir_read_name(dir))) {
        g_autofree char *path = NULL;
        g_autoptr(ferry_mig_record) record = NULL;
        g_autoptr(GError) error = NULL;

        if (!g_str_has_suffix(file, ".json"))
            continue;
        path = g_build_filename(engine->record_dir, file, NULL);
        record = ferry_mig_record_read(path, &error);
        if (!record) {
            g_warning("skipping migration record: %s", error->message);
            continue;
        }
        recover_record(engine, record);
    }
}
