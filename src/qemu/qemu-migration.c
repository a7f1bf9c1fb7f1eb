/*
 * qemu-migration.c: the QEMU driver's migration: its entries of the driver
 * table (the phases themselves are in qemu-migration-phases.c), which hand
 * work to the host's migration engine (src/migration/), and the engine's
 * backend for QEMU -- QMP's
 * migrate-incoming, migrate, migrate_cancel, migrate-set-parameters,
 * query-migrate, cont/stop, with the disks of qemu-storage.c.
 *
 * Owns: QEMU's migration capabilities and parameters, which way the
 * stream goes (QEMU to QEMU, through the relays, a tunnel, or v1's
 * connection: qemu-migration-net.c and qemu-migration-v1.c have the
 * sockets), turning QEMU's MIGRATION, MIGRATION_PASS, STOP and
 * BLOCK_JOB_* events into the engine's events, and reading QEMU's
 * statistics.  Must not: decide what follows what (the engine does) or
 * spawn and kill processes itself (qemu-process.c does).
 *
 * Threads: backend operations run on the engine's step threads and may
 * send QMP commands and wait for their answers; the event handlers run on
 * the monitor thread, never wait, and only post to the engine (a failure's
 * reason is fetched with an asynchronous query-migrate).
 */
#include "ferry-config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "conf/migration-cookie.h"
#include "migration/migration-policy.h"
#include "qemu/qemu-confine.h"
#include "qemu/qemu-converge.h"
#include "qemu/qemu-migration.h"
#include "qemu/qemu-migration-priv.h"
#include "qemu/qemu-snapshot.h"
#include "qemu/qemu-net.h"
#include "qemu/qemu-process.h"
#include "qemu/qemu-storage.h"
#include "qemu/qemu-tls.h"
#include "qemu/qemu-user.h"
#include "util/error.h"
#include "util/json-util.h"

/* QEMU 7.2 limits migration to 32 MiB/s unless told otherwise. */
#define UNLIMITED_BANDWIDTH (G_GUINT64_CONSTANT(1) << 40)
/* How long a cancelled migration may take to say it stopped. */
#define CANCEL_WAIT_SECONDS 10
/* How long a new transfer waits for the clean-up of the previous one. */
#define CLEANUP_WAIT_SECONDS 5
#define CLEANUP_POLL_MS 100

static qemu_driver_state *
state_of(ferry_conn *conn)
{
    return conn->driver_data;
}

static qemu_driver_state *
job_state(ferry_mig_job *job)
{
    return ferry_mig_engine_get_backend_self(job->engine);
}

/* ------------------------------------------------------------------ */
/* QMP helpers */

static gint64
json_get_int(json_object *obj, const char *key)
{
    json_object *v;

    return obj && json_object_object_get_ex(obj, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *
json_get_string(json_object *obj, const char *key)
{
    json_object *v;

    return obj && json_object_object_get_ex(obj, key, &v) &&
                   json_object_is_type(v, json_type_string)
               ? json_object_get_string(v) : NULL;
}

/* migrate-set-parameters with one integer parameter. */
static gboolean
set_parameter(ferry_domain_obj *obj, const char *name, guint64 value, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;

    json_object_object_add(args, name, json_object_new_int64((gint64)value));
    ret = qemu_process_command(obj, "migrate-set-parameters", args, error);
    return ret != NULL;
}

static gboolean
set_limits(ferry_mig_job *job, GError **error)
{
    const ferry_migrate_params *p = &job->params->p;
    guint64 bandwidth, downtime;

    g_mutex_lock(&job->lock);
    bandwidth = p->bandwidth_mib ? p->bandwidth_mib << 20 : UNLIMITED_BANDWIDTH;
    /* Always set: QEMU keeps the last migration's limit (a raise by the
     * policy, a --max-downtime) for the next. */
    downtime = ferry_policy_cap_target(p->max_downtime_ms, p->max_downtime_cap_ms);
    g_mutex_unlock(&job->lock);
    return set_parameter(job->obj, "max-bandwidth", bandwidth, error) &&
           set_parameter(job->obj, "downtime-limit", downtime, error) &&
           qemu_converge_set_parameters(job->obj, p, FALSE, error);
}

/* ------------------------------------------------------------------ */
/* QEMU's events -> the engine's (monitor thread) */

typedef struct {
    ferry_mig_job *job;
    ferry_qmp *qmp;             /* NULL when QEMU is gone: no reason to ask for */
    char *relay_why;            /* what the relay saw, if QEMU's stream went through one */
    int stop_reason;            /* FERRY_SHUTOFF_DESTROYED: the stream failed because
                                 * someone destroyed this QEMU; else 0 */
} failure_query;

/* The reason of a failed migration, asked without waiting, then handed to
 * the engine.  Called either from QMP's reply or straight from
 * report_failure(), which holds the domain's lock: it must not take it. */
static void
on_failure_reason(GObject *source, GAsyncResult *res, gpointer data)
{
    failure_query *fq = data;
    g_autoptr(json_object) info = fq->qmp ? ferry_qmp_command_finish(fq->qmp, res, NULL)
                                          : NULL;
    json_object *desc = NULL;
    const char *qemu_why = info && json_object_object_get_ex(info, "error-desc", &desc)
                               ? json_object_get_string(desc) : "QEMU gave no reason";
    g_autofree char *why = NULL;

    /* Through a relay QEMU only saw its socket close: the relay knows why. */
    why = fq->relay_why ? g_strdup_printf("%s (the relay: %s)", qemu_why, fq->relay_why)
                        : g_strdup(qemu_why);
    ferry_mig_job_notify(fq->job, fq->job->role == FERRY_MIG_ROLE_SOURCE
                                      ? FERRY_MIG_EV_TRANSFER_FAILED
                                      : FERRY_MIG_EV_INCOMING_FAILED, fq->stop_reason, why);
    ferry_mig_job_unref(fq->job);
    if (fq->qmp)
        ferry_qmp_unref(fq->qmp);
    g_free(fq->relay_why);
    g_free(fq);
}

/* Lock of @obj held.  The relay's reason is read now: by the time QEMU
 * says "failed", the relay has already given its stream up. */
static void
report_failure(ferry_domain_obj *obj, qemu_domain_priv *priv, ferry_mig_job *job)
{
    failure_query *fq = g_new0(failure_query, 1);

    fq->job = ferry_mig_job_ref(job);
    if (priv->mig_relay)
        fq->relay_why = ferry_relay_last_error(priv->mig_relay);
    /* A QEMU told to stop (SIGTERM) fails its stream on the way out: that
     * is the destroy, not a broken link. */
    if (priv->expect_exit && priv->stop_reason == FERRY_SHUTOFF_DESTROYED)
        fq->stop_reason = FERRY_SHUTOFF_DESTROYED;
    if (!priv->qmp || priv->exited) {
        on_failure_reason(NULL, NULL, fq);
        return;
    }
    fq->qmp = ferry_qmp_ref(priv->qmp);
    ferry_qmp_command_async(priv->qmp, "query-migrate", NULL, -1, NULL, on_failure_reason, fq);
}

static gboolean
status_is(qemu_domain_priv *priv, const char *st)
{
    return priv->mig_status && strcmp(priv->mig_status, st) == 0;
}

/* Waits (lock of @obj held) for QEMU's next MIGRATION status or its exit,
 * until @deadline (monotonic).  FALSE once it exited or the time is up. */
static gboolean
wait_status_change(ferry_domain_obj *obj, qemu_domain_priv *priv, gint64 deadline)
{
    return !priv->exited && g_cond_wait_until(&priv->exit_cond, &obj->lock, deadline);
}

/* A MIGRATION status event; lock of @obj held. */
static void
on_status(ferry_domain_obj *obj, qemu_domain_priv *priv, ferry_mig_job *job, const char *st,
          gint64 timestamp_us)
{
    /* A post-copy that went on over a new connection after a break. */
    if (!strcmp(st, "postcopy-active") && status_is(priv, "postcopy-recover"))
        priv->mig_reconnects++;
    g_free(priv->mig_status);
    priv->mig_status = g_strdup(st);
    if (strcmp(st, "active") == 0 && !priv->mig_active_ts)
        priv->mig_active_ts = timestamp_us;
    else if (strcmp(st, "completed") == 0)
        priv->mig_completed_ts = timestamp_us;
    else if (strcmp(st, "postcopy-active") == 0)
        priv->mig_stop_ts = 0;      /* not a switch-over's stop: the guest runs on there */
    /* Bounded waits of a step (a cancel) watch the status too. */
    g_cond_broadcast(&priv->exit_cond);
    if (!job)
        return;
    if (!strcmp(st, "postcopy-paused")) {
        ferry_mig_job_notify(job, FERRY_MIG_EV_POSTCOPY_PAUSED, 0,
                             "QEMU paused post-copy: its migration stream broke");
        return;
    }
    if (job->role == FERRY_MIG_ROLE_SOURCE) {
        if (!strcmp(st, "pre-switchover"))
            ferry_mig_job_notify(job, FERRY_MIG_EV_SWITCHOVER, 0, NULL);
        else if (!strcmp(st, "postcopy-active"))
            ferry_mig_job_notify(job, FERRY_MIG_EV_POSTCOPY, 0, NULL);
        else if (!strcmp(st, "completed"))
            ferry_mig_job_notify(job, FERRY_MIG_EV_SENT, 0, NULL);
        else if (!strcmp(st, "failed"))
            report_failure(obj, priv, job);
        else if (!strcmp(st, "cancelled"))
            ferry_mig_job_notify(job, FERRY_MIG_EV_TRANSFER_FAILED, 0, "cancelled");
    } else {
        if (!strcmp(st, "active")) {
            ferry_mig_job_notify(job, FERRY_MIG_EV_INCOMING_ACTIVE, 0, NULL);
        } else if (!strcmp(st, "postcopy-active")) {
            /* The devices' state is here: the guest can run, pulling the
             * pages it lacks. */
            priv->mig_postcopy = TRUE;
            ferry_mig_job_notify(job, FERRY_MIG_EV_INCOMING_DONE, 2, NULL);
        } else if (!strcmp(st, "completed")) {
            ferry_mig_job_notify(job, FERRY_MIG_EV_INCOMING_DONE, priv->mig_postcopy ? 1 : 0,
                                 NULL);
        }
        else if (!strcmp(st, "failed"))
            report_failure(obj, priv, job);
    }
}

/* A BLOCK_JOB_* event of a mirror; lock held. */
static void
on_block_job(qemu_domain_priv *priv, ferry_mig_job *job, const char *event, json_object *data)
{
    json_object *dev = NULL, *err = NULL;
    const char *id = json_object_object_get_ex(data, "device", &dev)
                         ? json_object_get_string(dev) : NULL;
    g_autofree char *why = NULL;
    char *st;

    if (!id || !g_hash_table_contains(priv->mig_jobs, id))
        return;
    if (!strcmp(event, "BLOCK_JOB_READY"))
        st = g_strdup("ready");
    else if (!strcmp(event, "BLOCK_JOB_CANCELLED"))
        st = g_strdup("cancelled");
    else if (!strcmp(event, "BLOCK_JOB_COMPLETED") &&
             !json_object_object_get_ex(data, "error", &err))
        st = g_strdup("completed");
    else if (!strcmp(event, "BLOCK_JOB_COMPLETED"))
        st = g_strdup_printf("error: %s", json_object_get_string(err));
    else if (!strcmp(event, "BLOCK_JOB_ERROR"))
        /* Not final: the job still exists until it completes or is
         * cancelled. */
        st = g_strdup("failing: I/O error on the copy");
    else
        return;
    g_hash_table_replace(priv->mig_jobs, g_strdup(id), st);
    g_cond_broadcast(&priv->exit_cond);
    if (!job || priv->mig_disks_ready)
        return;
    switch (qemu_storage_mirrors_state(priv, &why)) {
    case QEMU_MIRRORS_READY:
        priv->mig_disks_ready = TRUE;
        ferry_mig_job_notify(job, FERRY_MIG_EV_DISKS_READY, 0, NULL);
        break;
    case QEMU_MIRRORS_FAILED:
        priv->mig_disks_ready = TRUE;   /* reported once */
        ferry_mig_job_notify(job, FERRY_MIG_EV_TRANSFER_FAILED, 0, why);
        break;
    default:
        break;
    }
}

gboolean
qemu_migration_handle_event(qemu_driver_state *state, ferry_domain_obj *obj,
                            const char *event, json_object *data, gint64 timestamp_us)
{
    g_autoptr(ferry_mig_job) job = NULL;
    qemu_domain_priv *priv;
    json_object *v = NULL;

    if (strcmp(event, "MIGRATION") != 0 && strcmp(event, "MIGRATION_PASS") != 0 &&
        !g_str_has_prefix(event, "BLOCK_JOB_") &&
        !(strcmp(event, "STOP") == 0 && obj->job == FERRY_JOB_MIGRATION_OUT))
        return FALSE;
    job = ferry_mig_engine_find_job(state->engine, obj->uuid);
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    if (!strcmp(event, "MIGRATION")) {
        if (data && json_object_object_get_ex(data, "status", &v))
            on_status(obj, priv, job, json_object_get_string(v), timestamp_us);
    } else if (!strcmp(event, "MIGRATION_PASS")) {
        if (job && data && json_object_object_get_ex(data, "pass", &v))
            ferry_mig_job_notify(job, FERRY_MIG_EV_PASS, json_object_get_int64(v), NULL);
    } else if (g_str_has_prefix(event, "BLOCK_JOB_")) {
        if (priv->mig_jobs && data)
            on_block_job(priv, job, event, data);
    } else if (job) {
        /* STOP during an outgoing migration: the guest's downtime starts. */
        priv->mig_stop_ts = timestamp_us;
        ferry_mig_job_notify(job, FERRY_MIG_EV_SOURCE_STOPPED, timestamp_us, NULL);
    }
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

void
qemu_migration_process_exited(qemu_driver_state *state, ferry_domain_obj *obj, int reason,
                              int status)
{
    g_autoptr(ferry_mig_job) job = ferry_mig_engine_find_job(state->engine, obj->uuid);
    g_autofree char *how = status >= 0 ? g_strdup_printf("QEMU exited with status %d", status)
                                       : NULL;

    if (job)
        ferry_mig_job_notify(job, FERRY_MIG_EV_EXITED, reason, how);
}

/* ------------------------------------------------------------------ */
/* The backend: source */

static gboolean
qemu_list_disks(ferry_mig_job *job, ferry_migration_cookie *cookie, GError **error)
{
    return qemu_storage_begin(job_state(job), job->obj, &job->params->p, cookie, error);
}

/* The host and port of the job's migration URI. */
static gboolean
transfer_target(ferry_mig_job *job, mig_uri *uri, GError **error)
{
    const char *text = job->params->p.uri;

    if (!qemu_mig_uri_parse(text, uri, error))
        return FALSE;
    if (!uri->host || !uri->port) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "Perform: migration URI '%s' must name a host and a port",
                    text ? text : "(none)");
        return FALSE;
    }
    return TRUE;
}

/* The source's QEMU encrypts its streams to @host (the name the
 * destination's certificate must carry) when the migration asks for it,
 * and stops encrypting if an earlier migration of it did. */
static gboolean
source_tls(ferry_mig_job *job, const char *host, GError **error)
{
    gboolean tls = (job->params->p.flags & FERRY_MIGRATE_TLS) != 0;
    qemu_domain_priv *priv;
    gboolean was;

    g_mutex_lock(&job->obj->lock);
    priv = qemu_domain_priv_get(job->obj);
    was = priv->mig_tls;
    priv->mig_tls = tls;
    g_mutex_unlock(&job->obj->lock);
    if (tls)
        return qemu_tls_add_creds(job_state(job), job->obj, FALSE, error) &&
               qemu_tls_set_migration(job->obj, TRUE, host, error);
    return !was || qemu_tls_set_migration(job->obj, FALSE, NULL, error);
}

/* Resets what QEMU's events recorded of a previous migration. */
static void
reset_status(ferry_domain_obj *obj)
{
    qemu_domain_priv *priv;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    g_clear_pointer(&priv->mig_status, g_free);
    priv->mig_active_ts = priv->mig_completed_ts = priv->mig_stop_ts = 0;
    priv->mig_reconnects = 0;
    priv->mig_postcopy = FALSE;
    g_mutex_unlock(&obj->lock);
}

/* Whether QEMU still holds its "migration" yank instance: it does from
 * `migrate` until the clean-up of that migration ran. */
static gboolean
previous_migration_held(ferry_domain_obj *obj)
{
    g_autoptr(json_object) r = qemu_process_command(obj, "query-yank", NULL, NULL);

    /* A QEMU without the command has no such instance to trip over. */
    for (size_t i = 0; r && json_object_is_type(r, json_type_array) &&
                       i < json_object_array_length(r); i++) {
        const char *type = json_get_string(json_object_array_get_idx(r, i), "type");

        if (type && strcmp(type, "migration") == 0)
            return TRUE;
    }
    return FALSE;
}

/* Before a new transfer: QEMU must have cleaned up its previous migration.
 * A `migrate` before that fails ("duplicate yank instance") and leaves
 * QEMU's migration state in "setup" for good: no later migration, not even
 * a capability change, is accepted.  QEMU 7.2 gets there when a multifd
 * channel breaks under its sender (the destination QEMU died, the link
 * reset): the migration thread waits for the dead channel for ever.  A
 * clean-up under way ends within moments; one that does not is said. */
static gboolean
previous_migration_gone(ferry_mig_job *job, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + CLEANUP_WAIT_SECONDS * G_TIME_SPAN_SECOND;

    while (previous_migration_held(job->obj)) {
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                        "Perform: domain '%s': its QEMU never finished cleaning up its "
                        "previous migration (a QEMU 7.2 multifd migration whose connection "
                        "broke leaves its sending thread waiting for ever): the guest runs "
                        "on, but this QEMU cannot migrate it again; shut the guest down and "
                        "start it again (or on the destination) to move it",
                        job->dom_name);
            return FALSE;
        }
        g_usleep(CLEANUP_POLL_MS * 1000);
    }
    return TRUE;
}

static gboolean
qemu_start_disks(ferry_mig_job *job, const ferry_migration_cookie *prepared, GError **error)
{
    g_auto(mig_uri) uri = { 0 };
    g_autoptr(GError) local = NULL;

    if (!transfer_target(job, &uri, error) || !previous_migration_gone(job, error))
        return FALSE;
    reset_status(job->obj);
    if (!qemu_converge_set_capabilities(job->obj, &job->params->p, TRUE, FALSE, &local) ||
        !set_limits(job, &local) ||
        !source_tls(job, uri.host, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE, "Perform: domain '%s': %s",
                    job->dom_name, local->message);
        return FALSE;
    }
    return qemu_storage_start_mirrors(job_state(job), job->obj, &job->params->p, uri.host,
                                      prepared, error);
}

/* Tunnelled (docs/tunnelled.md): takes this host's QEMU's end of the
 * tunnel from the job, once. */
static GSocket *
take_tunnel(ferry_mig_job *job)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

    return g_steal_pointer(&job->tunnel);
}

/* Tunnelled Perform: QEMU writes its migration into the tunnel's end. */
static gboolean
start_memory_tunnelled(ferry_mig_job *job, GSocket *tunnel, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;

    if (!previous_migration_gone(job, error))
        return FALSE;
    reset_status(job->obj);
    if (!qemu_converge_set_capabilities(job->obj, &job->params->p, FALSE, FALSE, &local) ||
        !set_limits(job, &local) || !source_tls(job, NULL, &local) ||
        !qemu_mig_give_socket(job->obj, "migration-out", tunnel, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE, "Perform: domain '%s': %s",
                    job->dom_name, local->message);
        return FALSE;
    }
    json_object_object_add(args, "uri", json_object_new_string("fd:migration-out"));
    ret = qemu_process_command(job->obj, "migrate", args, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Perform: domain '%s': QEMU refused to migrate into the tunnel: %s",
                    job->dom_name, local->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean
qemu_start_memory(ferry_mig_job *job, GError **error)
{
    gboolean storage = (job->params->p.flags & (FERRY_MIGRATE_NON_SHARED_DISK |
                                                FERRY_MIGRATE_NON_SHARED_INC)) != 0;
    g_auto(mig_uri) uri = { 0 };
    g_autoptr(GError) local = NULL;
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    g_autofree char *host = NULL;
    g_autofree char *qemu_uri = NULL;
    ferry_migration_cookie *prepared;
    g_autoptr(GSocket) tunnel = take_tunnel(job);

    if (tunnel)
        return start_memory_tunnelled(job, tunnel, error);
    if (!transfer_target(job, &uri, error) || (!storage && !previous_migration_gone(job, error)))
        return FALSE;
    if (!storage) {
        reset_status(job->obj);
        if (!qemu_converge_set_capabilities(job->obj, &job->params->p, FALSE, FALSE, &local) ||
            !set_limits(job, &local) || !source_tls(job, uri.host, &local)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE, "Perform: domain '%s': %s",
                        job->dom_name, local->message);
            return FALSE;
        }
    }
    host = qemu_mig_host_for_uri(uri.host);
    prepared = ferry_mig_job_get_prepared(job);
    if (prepared && prepared->definition_token) {
        /* v1: the definition first, then QEMU's stream, on one connection. */
        g_autoptr(GSocket) sock = qemu_mig_v1_connect(job, uri.host, uri.port, &local);

        if (!sock || !qemu_mig_give_socket(job->obj, "migration-out", sock, &local)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE, "Perform: domain '%s': %s",
                        job->dom_name, local->message);
            return FALSE;
        }
        qemu_uri = g_strdup("fd:migration-out");
    } else if (prepared && prepared->relay_token) {
        /* Through this ferryd's relay, to the destination's. */
        g_autofree char *path = qemu_migration_relay_path(job_state(job), job->dom_uuid, "out");

        if (!qemu_migration_relay_dial(job->obj, FALSE, path, uri.host, uri.port,
                                       prepared->relay_token, &job->params->p, &local)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE, "Perform: %s", local->message);
            return FALSE;
        }
        qemu_uri = g_strdup_printf("unix:%s", path);
    } else {
        qemu_uri = g_strdup_printf("tcp:%s:%u", host, uri.port);
    }
    json_object_object_add(args, "uri", json_object_new_string(qemu_uri));
    ret = qemu_process_command(job->obj, "migrate", args, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Perform: domain '%s': QEMU refused to migrate to %s: %s", job->dom_name,
                    qemu_uri, local->message);
        return FALSE;
    }
    return TRUE;
}

/* At pre-switchover the source is paused before the last RAM pass: finish
 * the disk copies now, while no guest write can come, then let QEMU
 * switch over. */
static gboolean
qemu_switch_over(ferry_mig_job *job, ferry_migration_cookie *stats, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;
    ferry_migration_cookie *disks = ferry_mig_job_get_prepared(job);

    if (!qemu_storage_complete(job_state(job), job->obj, &job->params->p, disks, stats, error))
        return FALSE;
    json_object_object_add(args, "state", json_object_new_string("pre-switchover"));
    ret = qemu_process_command(job->obj, "migrate-continue", args, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Perform: domain '%s': QEMU did not continue at the switch-over: %s",
                    job->dom_name, local->message);
        return FALSE;
    }
    return TRUE;
}


/* At pre-switchover: what is left, by QEMU's count at its last look at the
 * dirty pages (just before it decided to switch over), plus what the disks'
 * mirrors still hold (qemu_switch_over() completes them during the pause,
 * over the same link), and the rate of the memory stream's last measured
 * stretch ("mbps", megabits per second). */
static gboolean
qemu_switch_figures(ferry_mig_job *job, guint64 *ret_remaining, guint64 *ret_rate_bps,
                    GError **error)
{
    g_autoptr(json_object) q = NULL;
    g_autoptr(GError) local = NULL;
    json_object *ram = NULL, *mbps = NULL;

    q = qemu_process_command(job->obj, "query-migrate", NULL, &local);
    if (!q || !json_object_object_get_ex(q, "ram", &ram)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "Perform: domain '%s': QEMU did not say what is left to send at the "
                    "switch-over: %s", job->dom_name,
                    local ? local->message : "no \"ram\" in query-migrate");
        return FALSE;
    }
    *ret_remaining = (guint64)json_get_int(ram, "remaining");
    *ret_rate_bps = json_object_object_get_ex(ram, "mbps", &mbps)
                    ? (guint64)(json_object_get_double(mbps) * 1e6 / 8) : 0;
    if (job->params->p.flags & (FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC)) {
        g_autoptr(json_object) jobs = qemu_process_command(job->obj, "query-block-jobs", NULL,
                                                           NULL);
        guint64 total, done;

        /* Unknown (QEMU did not answer): the memory's figure alone, as
         * before the disks were counted; the pause then shows it. */
        if (qemu_storage_mirrors_sum(jobs, &total, &done) && total > done) {
            g_debug("domain '%s': switch-over: the disks' mirrors still hold %" G_GUINT64_FORMAT
                    " bytes", job->dom_name, total - done);
            *ret_remaining += total - done;
        }
    }
    return TRUE;
}

static gboolean
qemu_start_postcopy(ferry_mig_job *job, GError **error)
{
    return qemu_converge_start_postcopy(job->obj, error);
}

/* Post-copy's destination registers the guest's memory with userfaultfd.
 * QEMU 7.2 opens it with the system call, which a QEMU that is not root
 * may use only with vm.unprivileged_userfaultfd = 1. */
gboolean
qemu_migration_postcopy_possible(qemu_driver_state *state, char **why_not)
{
    g_autofree char *sysctl = NULL;

    if (!qemu_user_enabled(state))
        return TRUE;
    if (g_file_get_contents("/proc/sys/vm/unprivileged_userfaultfd", &sysctl, NULL, NULL) &&
        g_strstrip(sysctl)[0] == '1')
        return TRUE;
    if (why_not)
        *why_not = g_strdup("QEMU runs as an unprivileged user and "
                            "vm.unprivileged_userfaultfd is not 1");
    return FALSE;
}

static gboolean
qemu_postcopy_possible(ferry_mig_job *job, char **why_not)
{
    return qemu_migration_postcopy_possible(job_state(job), why_not);
}

static gboolean
qemu_throttle(ferry_mig_job *job, GError **error)
{
    return qemu_converge_throttle(job->obj, error);
}

static gboolean
qemu_postcopy_resume(ferry_mig_job *job, const char *uri, GError **error)
{
    g_auto(mig_uri) u = { 0 };
    g_autofree char *host = NULL;
    g_autofree char *qemu_uri = NULL;
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;

    if (!qemu_mig_uri_parse(uri, &u, error))
        return FALSE;
    if (!u.host || !u.port) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "post-copy recovery: '%s' names no host and port", uri);
        return FALSE;
    }
    host = qemu_mig_host_for_uri(u.host);
    qemu_uri = g_strdup_printf("tcp:%s:%u", host, u.port);
    json_object_object_add(args, "uri", json_object_new_string(qemu_uri));
    json_object_object_add(args, "resume", json_object_new_boolean(TRUE));
    ret = qemu_process_command(job->obj, "migrate", args, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "domain '%s': QEMU did not resume post-copy to %s: %s", job->dom_name,
                    qemu_uri, local->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean
qemu_cancel_transfer(ferry_mig_job *job)
{
    ferry_domain_obj *obj = job->obj;
    gint64 deadline = g_get_monotonic_time() + CANCEL_WAIT_SECONDS * G_TIME_SPAN_SECOND;
    g_autoptr(json_object) r = NULL;
    qemu_domain_priv *priv;
    gboolean stopped;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    stopped = !priv->mig_status || status_is(priv, "failed") || status_is(priv, "cancelled");
    g_mutex_unlock(&obj->lock);
    if (!stopped)
        r = qemu_process_command(obj, "migrate_cancel", NULL, NULL);
    qemu_storage_abort(job_state(job), obj);
    /* migrate_cancel only asks: wait (bounded) for QEMU to say it stopped,
     * or that it had completed after all. */
    g_mutex_lock(&obj->lock);
    while (priv->mig_status && !status_is(priv, "failed") && !status_is(priv, "cancelled") &&
           !status_is(priv, "completed") && wait_status_change(obj, priv, deadline))
        ;
    stopped = !status_is(priv, "completed");
    g_mutex_unlock(&obj->lock);
    return stopped;
}

static void
qemu_collect_stats(ferry_mig_job *job, ferry_job_info *info, gboolean final)
{
    ferry_domain_obj *obj = job->obj;
    g_autoptr(json_object) q = NULL;
    json_object *ram = NULL, *mbps = NULL;
    qemu_domain_priv *priv;
    guint64 page_size;
    gboolean started;

    /* While only the disks copy, QEMU has no migration to report: each
     * question would only take its big lock from the mirrors. */
    g_mutex_lock(&obj->lock);
    started = qemu_domain_priv_get(obj)->mig_status != NULL;
    g_mutex_unlock(&obj->lock);
    if (started || final)
        q = qemu_process_command(obj, "query-migrate", NULL, NULL);

    if (q && json_object_object_get_ex(q, "ram", &ram)) {
        info->mem_total = (guint64)json_get_int(ram, "total");
        info->mem_processed = (guint64)json_get_int(ram, "transferred");
        info->mem_remaining = (guint64)json_get_int(ram, "remaining");
        /* "mbps" is a float in megabits per second. */
        if (json_object_object_get_ex(ram, "mbps", &mbps))
            info->rate_bps = (guint64)(json_object_get_double(mbps) * 1e6 / 8);
        page_size = (guint64)json_get_int(ram, "page-size");
        info->dirty_rate_bps = (guint64)json_get_int(ram, "dirty-pages-rate") *
                               (page_size ? page_size : 4096);
        if (json_get_int(ram, "dirty-sync-count") > 0)
            info->passes = (guint64)json_get_int(ram, "dirty-sync-count");
    }
    qemu_converge_read_stats(q, info);
    if (q) {
        info->expected_downtime_ms = json_get_int(q, "expected-downtime");
        info->setup_ms = json_get_int(q, "setup-time");
        if (final) {
            info->total_ms = json_get_int(q, "total-time");
            info->downtime_ms = json_get_int(q, "downtime");
        }
    }
    /* QEMU 7.2 sometimes reports 0 right after completing (a QEMU 7.2 quirk):
     * take the total from its own event timestamps then. */
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    if (final && !info->total_ms && priv->mig_active_ts && priv->mig_completed_ts)
        info->total_ms = (priv->mig_completed_ts - priv->mig_active_ts) / 1000;
    /* And its downtime, which it sometimes leaves out: from the stop of
     * the CPUs to "completed", as QEMU counts it. */
    if (final && !info->downtime_ms && priv->mig_stop_ts &&
        priv->mig_completed_ts > priv->mig_stop_ts)
        info->downtime_ms = MAX((priv->mig_completed_ts - priv->mig_stop_ts) / 1000, 1);
    info->reconnects = priv->mig_reconnects +
                       (priv->mig_relay ? ferry_relay_reconnects(priv->mig_relay) : 0) +
                       (priv->mig_nbd_relay ? ferry_relay_reconnects(priv->mig_nbd_relay) : 0);
    g_mutex_unlock(&obj->lock);
    if (!final)
        qemu_storage_job_info(obj, info);
}

static gboolean
qemu_set_tunable(ferry_mig_job *job, int tunable, guint64 value, GError **error)
{
    g_autoptr(GError) local = NULL;
    gboolean ok;

    if (tunable == FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME)
        ok = set_parameter(job->obj, "downtime-limit", value, &local);
    else
        ok = set_parameter(job->obj, "max-bandwidth", value ? value << 20 : UNLIMITED_BANDWIDTH,
                           &local) &&
             qemu_storage_set_speed(job->obj, value, &local);
    if (!ok)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': QEMU did not take the new %s: %s", job->dom_name,
                    tunable == FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME ? "downtime limit"
                                                                 : "bandwidth",
                    local->message);
    return ok;
}

static gboolean
qemu_get_tunable(ferry_mig_job *job, int tunable, guint64 *ret_value, GError **error)
{
    g_autoptr(json_object) q = qemu_process_command(job->obj, "query-migrate-parameters", NULL,
                                                    error);
    guint64 value;

    if (!q)
        return FALSE;
    if (tunable == FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME) {
        *ret_value = (guint64)json_get_int(q, "downtime-limit");
        return TRUE;
    }
    value = (guint64)json_get_int(q, "max-bandwidth");
    *ret_value = value >= UNLIMITED_BANDWIDTH ? 0 : value >> 20;
    return TRUE;
}

/* One QMP command without arguments, named in the error. */
static gboolean
run_command(ferry_mig_job *job, const char *command, const char *what, GError **error)
{
    g_autoptr(json_object) r = NULL;
    g_autoptr(GError) local = NULL;

    r = qemu_process_command(job->obj, command, NULL, &local);
    if (!r)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': cannot %s its CPUs: %s", job->dom_name, what, local->message);
    return r != NULL;
}

static gboolean
qemu_pause(ferry_mig_job *job, GError **error)
{
    return run_command(job, "stop", "stop", error);
}

static gboolean
qemu_resume(ferry_mig_job *job, GError **error)
{
    return run_command(job, "cont", "restart", error);
}

/* After a restart: QEMU's run state and migration status, which also
 * becomes the backend's view of the transfer (so that a cancel acts). */
static void
qemu_probe(ferry_mig_job *job, ferry_mig_probe *ret)
{
    ferry_domain_obj *obj = job->obj;
    g_autoptr(json_object) st = NULL;
    g_autoptr(json_object) mig = NULL;
    const char *run = NULL;
    const char *status = NULL;

    memset(ret, 0, sizeof(*ret));
    st = qemu_process_command(obj, "query-status", NULL, NULL);
    if (!st) {
        ret->transfer = FERRY_MIG_PROBE_GONE;
        return;
    }
    /* Its mirrors and NBD server become this ferryd's to remove. */
    qemu_storage_adopt(obj);
    run = json_get_string(st, "status");
    ret->cpus_running = g_strcmp0(run, "running") == 0;
    ret->migration_paused = g_strcmp0(run, "postmigrate") == 0 ||
                            g_strcmp0(run, "finish-migrate") == 0;
    mig = qemu_process_command(obj, "query-migrate", NULL, NULL);
    status = mig ? json_get_string(mig, "status") : NULL;
    ret->postcopy = status && g_str_has_prefix(status, "postcopy-");
    ret->postcopy_paused = g_strcmp0(status, "postcopy-paused") == 0;
    if (!status || !strcmp(status, "none"))
        ret->transfer = FERRY_MIG_PROBE_IDLE;
    else if (!strcmp(status, "completed") || ret->postcopy)
        /* In post-copy the guest is split: the source's CPUs never run
         * again, and only the destination's word decides (never a
         * rollback). */
        ret->transfer = FERRY_MIG_PROBE_SENT;
    else if (!strcmp(status, "failed") || !strcmp(status, "cancelled"))
        ret->transfer = FERRY_MIG_PROBE_FAILED;
    else
        ret->transfer = FERRY_MIG_PROBE_SENDING;
    if (status && strcmp(status, "none") != 0) {
        g_mutex_lock(&obj->lock);
        g_free(qemu_domain_priv_get(obj)->mig_status);
        qemu_domain_priv_get(obj)->mig_status = g_strdup(status);
        if (ret->postcopy && job->role == FERRY_MIG_ROLE_DESTINATION)
            qemu_domain_priv_get(obj)->mig_postcopy = TRUE;
        g_mutex_unlock(&obj->lock);
    }
}

static gboolean
qemu_stop_source(ferry_mig_job *job, GError **error)
{
    return qemu_process_destroy(job_state(job), job->obj, FERRY_SHUTOFF_MIGRATED, error);
}

/* ------------------------------------------------------------------ */
/* The backend: destination */

/* Starts QEMU waiting for the incoming stream on @qemu_uri.  With
 * @listener, QEMU gets that socket (getfd) and listens on it: the
 * connections already made are its first. */
gboolean
qemu_mig_start_incoming_qemu(qemu_driver_state *state, ferry_domain_obj *obj,
                    const ferry_migrate_params *params, gboolean storage, const char *qemu_uri,
                    GSocket *listener, GError **error)
{
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;

    if (!qemu_process_start(state, obj, QEMU_PROCESS_START_INCOMING, error))
        return FALSE;  /* the cleanup released the port */
    if (!qemu_converge_set_capabilities(obj, params, storage, TRUE, error) ||
        !qemu_converge_set_parameters(obj, params, TRUE, error))
        return FALSE;
    /* Encrypted: QEMU requires the source's client certificate, for the
     * memory stream and (the same object) the NBD server. */
    if ((params->flags & FERRY_MIGRATE_TLS) && (!qemu_tls_add_creds(state, obj, TRUE, error) ||
                !qemu_tls_set_migration(obj, TRUE, NULL, error)))
        return FALSE;
    if (listener) {
        g_autoptr(json_object) fdargs = json_object_new_object();
        g_autoptr(ferry_qmp) qmp = qemu_process_get_qmp(obj, error);
        g_autoptr(json_object) fdret = NULL;

        json_object_object_add(fdargs, "fdname", json_object_new_string("migration-in"));
        if (!qmp || !(fdret = ferry_qmp_command_sync_fd(qmp, "getfd", fdargs,
                                                        g_socket_get_fd(listener), error)))
            return FALSE;
    }
    json_object_object_add(args, "uri", json_object_new_string(qemu_uri));
    reset_status(obj);
    ret = qemu_process_command(obj, "migrate-incoming", args, error);
    return ret != NULL;
}

/* Makes the incoming side listen: ferryd's relay, QEMU's own socket, or
 * (@early) only the port's socket, QEMU to start after Prepare answered
 * (qemu_launch_incoming()). */
static gboolean
listen_incoming(qemu_driver_state *state, ferry_domain_obj *obj, const mig_uri *want,
                const char *listen, const ferry_migrate_params *params, gboolean storage,
                const char *relay_token, gboolean early, char **ret_uri_out, GError **error)
{
    g_autofree char *relay_path = NULL;
    g_autofree char *listen_host = NULL;
    g_autofree char *advertise = NULL;
    g_autofree char *qemu_uri = NULL;
    guint port;

    port = qemu_migration_acquire_port(state, listen, want->port, error);
    if (!port)
        return FALSE;
    g_mutex_lock(&obj->lock);
    qemu_domain_priv_get(obj)->mig_port = port;
    g_mutex_unlock(&obj->lock);

    listen_host = qemu_mig_host_for_uri(listen);
    advertise = qemu_mig_host_for_uri(want->host ? want->host : listen);
    if (early) {
        GSocket *listener = qemu_mig_bind_incoming(listen, port, error);

        if (!listener)
            return FALSE;   /* qemu_discard_incoming() releases the port */
        g_mutex_lock(&obj->lock);
        qemu_domain_priv_get(obj)->mig_listener = listener;
        g_mutex_unlock(&obj->lock);
        *ret_uri_out = g_strdup_printf("tcp://%s:%u/", advertise, port);
        return TRUE;
    }
    if (relay_token) {
        /* QEMU listens on a unix socket; this ferryd's relay on the port. */
        relay_path = qemu_migration_relay_path(state, obj->uuid, "in");
        g_unlink(relay_path);
        qemu_uri = g_strdup_printf("unix:%s", relay_path);
    } else {
        qemu_uri = g_strdup_printf("tcp:%s:%u", listen_host, port);
    }
    if (!qemu_mig_start_incoming_qemu(state, obj, params, storage, qemu_uri, NULL, error))
        return FALSE;
    if (relay_token &&
        !qemu_migration_relay_listen(obj, FALSE, listen, port, relay_path, relay_token, error))
        return FALSE;
    /* Where it listens, unless the caller named where to connect. */
    *ret_uri_out = g_strdup_printf("tcp://%s:%u/", advertise, port);
    return TRUE;
}

/* After Prepare answered (the engine's launch step): QEMU starts and takes
 * the socket Prepare listens on.  Nothing to do when Prepare started it. */
static gboolean
qemu_launch_incoming(ferry_mig_job *job, GError **error)
{
    qemu_driver_state *state = job_state(job);
    ferry_domain_obj *obj = job->obj;
    g_autoptr(GSocket) listener = NULL;
    g_autoptr(GSocket) tunnel = NULL;

    if (job->protocol == 1)
        return qemu_mig_v1_launch(job, error);
    tunnel = take_tunnel(job);
    if (tunnel) {
        /* QEMU reads the tunnel's end; ferryd's copy closes at once, so
         * that QEMU closing its own ends the stream. */
        if (!qemu_mig_start_incoming_qemu(state, obj, &job->params->p, FALSE, "fd:migration-in",
                                          tunnel, error))
            return FALSE;
        g_socket_close(tunnel, NULL);
        return TRUE;
    }
    g_mutex_lock(&obj->lock);
    listener = qemu_domain_priv_get(obj)->mig_listener
                   ? g_object_ref(qemu_domain_priv_get(obj)->mig_listener) : NULL;
    g_mutex_unlock(&obj->lock);
    if (!listener)
        return TRUE;
    if (!qemu_mig_start_incoming_qemu(state, obj, &job->params->p, FALSE, "tcp:fd:migration-in",
                             listener, error))
        return FALSE;
    /* QEMU holds its own copy now: this one closes. */
    g_mutex_lock(&obj->lock);
    g_clear_object(&qemu_domain_priv_get(obj)->mig_listener);
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

static void
qemu_discard_incoming(ferry_mig_job *job)
{
    qemu_driver_state *state = job_state(job);
    ferry_domain_obj *obj = job->obj;
    qemu_domain_priv *priv;
    gboolean running;
    guint port, nbd_port;

    g_autoptr(GSocket) tunnel = take_tunnel(job);

    /* v1 before its domain came: only the port to free. */
    qemu_mig_v1_discard(job);
    /* A tunnel QEMU never got: its end closes, and with it the stream. */
    if (tunnel)
        g_socket_close(tunnel, NULL);
    if (!obj)
        return;
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    running = obj->live && priv->pid > 0 && !priv->cleaned;
    g_mutex_unlock(&obj->lock);
    if (running) {
        qemu_storage_stop_nbd(state, obj);
        qemu_process_destroy(state, obj, FERRY_SHUTOFF_FAILED, NULL);
    }
    /* A QEMU that never started left its ports to us; its cleanup frees
     * them otherwise. */
    qemu_migration_close_relays(obj, TRUE, TRUE);
    g_mutex_lock(&obj->lock);
    /* A source connected to it sees its connection reset. */
    g_clear_object(&priv->mig_listener);
    port = priv->mig_port;
    nbd_port = priv->mig_nbd_port;
    priv->mig_port = priv->mig_nbd_port = 0;
    g_mutex_unlock(&obj->lock);
    if (port)
        qemu_migration_release_port(state, port);
    if (nbd_port)
        qemu_migration_release_port(state, nbd_port);
    qemu_storage_discard(state, obj);
}

static gboolean
qemu_start_incoming(ferry_mig_job *job, const ferry_migration_cookie *cookie_in,
                    ferry_migration_cookie *cookie_out, char **ret_uri, GError **error)
{
    qemu_driver_state *state = job_state(job);
    ferry_domain_obj *obj = job->obj;
    gboolean storage = (job->params->p.flags & (FERRY_MIGRATE_NON_SHARED_DISK |
                                                FERRY_MIGRATE_NON_SHARED_INC)) != 0;
    g_auto(mig_uri) uri = { 0 };
    g_autofree char *uri_out = NULL;
    g_autofree char *token = NULL;
    g_autofree char *listen = NULL;
    qemu_domain_priv *priv;
    gboolean early;
    gboolean tunnelled;

    if (job->protocol == 1)
        return qemu_mig_v1_listen(job, cookie_out, ret_uri, error);
    g_mutex_lock(&job->lock);
    tunnelled = job->tunnel != NULL;
    g_mutex_unlock(&job->lock);
    /* Tunnelled: no port at all.  QEMU starts after Prepare answered
     * (qemu_launch_incoming()), as for a plain stream: what the source
     * sends meanwhile waits in the tunnel's window. */
    if (tunnelled)
        return qemu_process_check_not_running(state, "receive", obj->name, obj->uuid, error);
    if (!qemu_mig_uri_parse(job->params->p.uri, &uri, error) ||
        !(listen = qemu_migration_listen_address(&state->config, uri.host, error)) ||
        !qemu_process_check_not_running(state, "receive", obj->name, obj->uuid, error))
        return FALSE;
    /* The streams go through the relays when the source can dial them. */
    if (state->config.migration_relay && cookie_in && cookie_in->features &&
        g_ptr_array_find_with_equal_func(cookie_in->features, "relay", g_str_equal, NULL) &&
        !(token = qemu_mig_new_token(error)))
        return FALSE;
    /* A plain memory stream: QEMU's start (~0.1 s) leaves Prepare's answer,
     * and so the migration's critical path.  Relayed streams and copied
     * disks need their QEMU (and its NBD server) before the source goes on. */
    early = !token && !storage;
    if ((storage && !qemu_storage_prepare_images(state, obj, obj->live, cookie_in, error)) ||
        !listen_incoming(state, obj, &uri, listen, &job->params->p, storage, token,
                         early, &uri_out, error) ||
        (storage && !qemu_storage_prepare_nbd(state, obj, listen, &job->params->p, token,
                                              cookie_in, cookie_out, error))) {
        qemu_discard_incoming(job);
        return FALSE;
    }
    /* The images it created go in the job's record, for a restart. */
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    if (priv->mig_images) {
        g_mutex_lock(&job->lock);
        g_clear_pointer(&job->created_images, g_ptr_array_unref);
        job->created_images = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < priv->mig_images->len; i++)
            g_ptr_array_add(job->created_images, g_strdup(priv->mig_images->pdata[i]));
        g_mutex_unlock(&job->lock);
    }
    g_mutex_unlock(&obj->lock);
    cookie_out->relay_token = g_steal_pointer(&token);
    *ret_uri = g_steal_pointer(&uri_out);
    return TRUE;
}

/* The source asks to resume only once its own end of the stream broke,
 * but this end may not know yet: a reset that never reached this host, or
 * a link that came back after the source's socket was gone, leaves QEMU
 * here "postcopy-active" on a dead connection until TCP gives up -- with
 * nothing to send, never.  migrate-recover is refused in that state, so
 * the old stream is dropped here first (migrate-pause) and QEMU's word that
 * it paused awaited, bounded. */
static gboolean
pause_stale_stream(ferry_mig_job *job, GError **error)
{
    ferry_domain_obj *obj = job->obj;
    gint64 deadline = g_get_monotonic_time() + CANCEL_WAIT_SECONDS * G_TIME_SPAN_SECOND;
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;
    qemu_domain_priv *priv;
    gboolean active, paused;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    active = status_is(priv, "postcopy-active");
    g_mutex_unlock(&obj->lock);
    if (!active)
        return TRUE;
    g_message("domain '%s': migration %s: the source's stream broke, this end still held "
              "it: dropping it to listen again", job->dom_name, job->id);
    ret = qemu_process_command(obj, "migrate-pause", NULL, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "domain '%s': QEMU cannot drop its broken post-copy stream: %s",
                    job->dom_name, local->message);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    while (status_is(priv, "postcopy-active") && wait_status_change(obj, priv, deadline))
        ;
    paused = status_is(priv, "postcopy-paused");
    g_mutex_unlock(&obj->lock);
    if (!paused)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "domain '%s': QEMU did not pause its post-copy within %u s of "
                    "migrate-pause", job->dom_name, CANCEL_WAIT_SECONDS);
    return paused;
}

/* Post-copy paused here: QEMU listens again, on a new port of the range. */
static gboolean
qemu_postcopy_listen(ferry_mig_job *job, char **ret_uri, GError **error)
{
    qemu_driver_state *state = job_state(job);
    ferry_domain_obj *obj = job->obj;
    g_autofree char *listen = NULL;
    g_autofree char *host = NULL;
    g_autofree char *qemu_uri = NULL;
    g_autoptr(json_object) args = json_object_new_object();
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;
    guint port, old;

    if (!pause_stale_stream(job, error))
        return FALSE;
    if (!(listen = qemu_migration_listen_address(&state->config, NULL, error)))
        return FALSE;
    port = qemu_migration_acquire_port(state, listen, 0, error);
    if (!port)
        return FALSE;
    host = qemu_mig_host_for_uri(listen);
    qemu_uri = g_strdup_printf("tcp:%s:%u", host, port);
    json_object_object_add(args, "uri", json_object_new_string(qemu_uri));
    ret = qemu_process_command(obj, "migrate-recover", args, &local);
    if (!ret) {
        qemu_migration_release_port(state, port);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "domain '%s': QEMU cannot listen again for its post-copy: %s",
                    job->dom_name, local->message);
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    old = qemu_domain_priv_get(obj)->mig_port;
    qemu_domain_priv_get(obj)->mig_port = port;
    g_mutex_unlock(&obj->lock);
    if (old)
        qemu_migration_release_port(state, old);
    *ret_uri = g_strdup_printf("tcp://%s:%u/", host, port);
    return TRUE;
}

static gboolean
qemu_activate(ferry_mig_job *job, gboolean run, GError **error)
{
    qemu_driver_state *state = job_state(job);
    ferry_domain_obj *obj = job->obj;
    qemu_domain_priv *priv;
    gboolean postcopy;
    guint port;

    /* Every disk write has arrived (Perform completed the mirrors while the
     * source was paused): no more NBD clients, and the images stay. */
    qemu_storage_stop_nbd(state, obj);
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    postcopy = priv->mig_postcopy && !status_is(priv, "completed");
    g_mutex_unlock(&obj->lock);
    /* The whole stream has arrived too -- unless in post-copy, where pages
     * still come over it until the end of the job. */
    qemu_migration_close_relays(obj, !postcopy, TRUE);
    g_mutex_lock(&obj->lock);
    port = priv->mig_port;
    priv->mig_port = 0;
    g_mutex_unlock(&obj->lock);
    if (port)
        qemu_migration_release_port(state, port);
    if (run && !run_command(job, "cont", "start", error))
        return FALSE;   /* the images it created go with the discarded copy */
    /* Its segment learns where it runs now (never fatal: see qemu-net.c). */
    if (run)
        qemu_net_announce_migrated(obj);
    /* The guest is here now: its images stay. */
    g_mutex_lock(&obj->lock);
    g_clear_pointer(&priv->mig_images, g_ptr_array_unref);
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* The backend: the rest */

static ferry_domain_def *
qemu_parse_def(gpointer self, const char *xml, const char *what, GError **error)
{
    return qemu_driver_parse_def(xml, error);
}

static gboolean
qemu_check_paths(gpointer self, const ferry_domain_def *def,
                 const ferry_migration_cookie *cookie, gboolean confined, GError **error)
{
    return qemu_confine_incoming(&((qemu_driver_state *)self)->config, def, cookie, confined,
                                 error);
}

static gboolean
qemu_save_def(gpointer self, const ferry_domain_def *def, GError **error)
{
    return qemu_domain_save_def(self, def, error);
}

static gboolean
qemu_delete_def(gpointer self, const char *name, GError **error)
{
    return qemu_domain_delete_def(self, name, error);
}

static void
qemu_save_state(gpointer self, ferry_domain_obj *obj)
{
    g_autoptr(GError) error = NULL;

    if (!qemu_domain_save_status(self, obj, &error))
        g_warning("domain '%s': %s", obj->name, error->message);
}

static void
qemu_end_domain_job(gpointer self, ferry_domain_obj *obj)
{
    guint port = 0;

    /* The migration is over, one way or the other: its streams too, and a
     * port a paused post-copy listened on again. */
    qemu_migration_close_relays(obj, TRUE, TRUE);
    g_mutex_lock(&obj->lock);
    if (obj->priv && qemu_domain_priv_get(obj)->pid > 0 && !qemu_domain_priv_get(obj)->exited) {
        port = qemu_domain_priv_get(obj)->mig_port;
        qemu_domain_priv_get(obj)->mig_port = 0;
    }
    g_mutex_unlock(&obj->lock);
    if (port)
        qemu_migration_release_port(self, port);
    qemu_migration_remove_relay_sockets(self, obj->uuid);
    qemu_process_end_job(self, obj);
}

const ferry_mig_backend qemu_mig_backend = {
    .parse_def = qemu_parse_def,
    .check_paths = qemu_check_paths,
    .save_def = qemu_save_def,
    .delete_def = qemu_delete_def,
    .save_state = qemu_save_state,
    .end_domain_job = qemu_end_domain_job,
    .list_disks = qemu_list_disks,
    .disk_storage = qemu_safety_disk_storage,
    .block_jobs = qemu_safety_block_jobs,
    .start_disks = qemu_start_disks,
    .start_memory = qemu_start_memory,
    .switch_over = qemu_switch_over,
    .switch_figures = qemu_switch_figures,
    .cancel_transfer = qemu_cancel_transfer,
    .collect_stats = qemu_collect_stats,
    .set_tunable = qemu_set_tunable,
    .start_postcopy = qemu_start_postcopy,
    .postcopy_possible = qemu_postcopy_possible,
    .throttle = qemu_throttle,
    .postcopy_resume = qemu_postcopy_resume,
    .postcopy_listen = qemu_postcopy_listen,
    .get_tunable = qemu_get_tunable,
    .pause = qemu_pause,
    .resume = qemu_resume,
    .stop_source = qemu_stop_source,
    .start_incoming = qemu_start_incoming,
    .launch_incoming = qemu_launch_incoming,
    .activate = qemu_activate,
    .discard_incoming = qemu_discard_incoming,
    .snapshots_export = qemu_snapshot_mig_export,
    .snapshots_import = qemu_snapshot_mig_import,
    .snapshots_drop = qemu_snapshot_mig_drop,
    .probe = qemu_probe,
};

/* ------------------------------------------------------------------ */
/* A restart: migrations the previous ferryd left */

/* What the previous ferryd left is resolved by the engine's recovery table
 * (docs/recovery.md); the backend only says what QEMU says (qemu_probe). */
void
qemu_migration_recover(qemu_driver_state *state)
{
    ferry_mig_engine_recover(state->engine);
}

gboolean
qemu_domain_get_job_stats(ferry_domain *dom, guint flags, ferry_job_info *ret_info,
                          GError **error)
{
    return ferry_mig_engine_get_job_stats(state_of(dom->conn)->engine, dom, flags, ret_info,
                                          error);
}

void
qemu_domain_abort_job(ferry_domain *dom, guint flags, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
    ferry_mig_engine_abort(state_of(dom->conn)->engine, dom, cancellable, callback, user_data);
}

gboolean
qemu_domain_migrate_set_tunable(ferry_domain *dom, int tunable, guint64 value, GError **error)
{
    return ferry_mig_engine_set_tunable(state_of(dom->conn)->engine, dom, tunable, value,
                                        error);
}

void
qemu_conn_migrate_postcopy_recover(ferry_conn *dconn, const char *id,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
    ferry_mig_engine_postcopy_recover(state_of(dconn)->engine, id, cancellable, callback,
                                      user_data);
}

gboolean
qemu_domain_migrate_start_postcopy(ferry_domain *dom, GError **error)
{
    return ferry_mig_engine_start_postcopy(state_of(dom->conn)->engine, dom, error);
}

gboolean
qemu_domain_migrate_postcopy_resume(ferry_domain *dom, const char *dest_uri, GError **error)
{
    return ferry_mig_engine_postcopy_resume(state_of(dom->conn)->engine, dom, dest_uri, error);
}

gboolean
qemu_domain_migrate_get_tunable(ferry_domain *dom, int tunable, guint64 *ret_value,
                                GError **error)
{
    return ferry_mig_engine_get_tunable(state_of(dom->conn)->engine, dom, tunable, ret_value,
                                        error);
}

void
qemu_conn_migrate_query(ferry_conn *dconn, const char *id, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
    ferry_mig_engine_query(state_of(dconn)->engine, id, cancellable, callback, user_data);
}

void
qemu_conn_migrate_cancel(ferry_conn *dconn, const char *id, const char *reason,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
    ferry_mig_engine_cancel(state_of(dconn)->engine, id, reason, cancellable, callback,
                            user_data);
}
