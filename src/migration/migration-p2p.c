/*
 * migration-p2p.c: peer-to-peer migration: the source host's daemon runs
 * the whole sequence itself (migration-sequence.c), so the migration goes
 * on if its client leaves.
 *
 * Owns: opening the connection to the destination's daemon (on a thread of
 * its own: connecting may take a while), checking what it offers, running
 * the sequence on the engine's thread, and answering the client's Perform
 * with the statistics.  The engine keeps the runners, so that it can stop
 * them when it goes away.
 */
#include "ferry-config.h"

#include "migration/migration-engine-private.h"
#include "migration/migration-sequence.h"
#include "util/error.h"

#define NON_SHARED ((guint)(FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC))

struct ferry_mig_runner {
    ferry_mig_engine *engine;
    ferry_domain *dom;
    ferry_mig_params *params;
    char *dconn_uri;
    GTask *task;                /* the client's Perform3 */
    GCancellable *cancellable;  /* stops the sequence when the engine goes */
    ferry_phase_result *result; /* the answer, once the sequence ended */
    GError *error;
    GError *stopped;            /* engine->lock: why its job ended before Perform */
};

static void
runner_free(ferry_mig_runner *r)
{
    ferry_domain_unref(r->dom);
    ferry_mig_params_free(r->params);
    g_free(r->dconn_uri);
    g_clear_object(&r->task);
    g_clear_object(&r->cancellable);
    ferry_phase_result_free(r->result);
    g_clear_error(&r->error);
    g_clear_error(&r->stopped);
    g_free(r);
}

/* Engine thread: the runner ended; forget it and wake a waiting free. */
static void
runner_end(ferry_mig_runner *r)
{
    ferry_mig_engine *engine = r->engine;

    g_mutex_lock(&engine->lock);
    g_ptr_array_remove(engine->runners, r);
    g_cond_broadcast(&engine->runners_cond);
    g_mutex_unlock(&engine->lock);
    runner_free(r);
}

static gboolean
offers(ferry_conn *conn, ferry_feature feature, const char *what, GError **error)
{
    gboolean yes = FALSE;
    g_autoptr(GError) local = NULL;

    if (!conn->driver->conn_supports_feature ||
        !conn->driver->conn_supports_feature(conn, feature, &yes, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "cannot ask '%s' which migration features it offers: %s",
                    ferry_conn_get_uri(conn), local ? local->message : "not supported");
        return FALSE;
    }
    if (!yes)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "peer-to-peer migration: destination '%s' does not offer %s",
                    ferry_conn_get_uri(conn), what);
    return yes;
}

/* A thread of GLib's pool: connects and checks the destination. */
static void
connect_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    ferry_mig_runner *r = data;
    g_autoptr(ferry_conn) dconn = NULL;
    GError *error = NULL;

    dconn = ferry_conn_open_with_drivers(r->dconn_uri, r->engine->peer_drivers, &error);
    if (!dconn) {
        g_prefix_error(&error, "peer-to-peer migration of '%s': ", r->dom->name);
        g_task_return_error(task, error);
        return;
    }
    if (!offers(dconn, FERRY_FEATURE_MIGRATION_V3, "migration protocol v3", &error) ||
        ((r->params->p.flags & NON_SHARED) &&
         !offers(dconn, FERRY_FEATURE_MIGRATION_NBD, "storage migration over NBD", &error)) ||
        ((r->params->p.flags & FERRY_MIGRATE_TUNNELLED) &&
         !offers(dconn, FERRY_FEATURE_MIGRATION_TUNNEL, "tunnelled migration", &error))) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_pointer(task, g_steal_pointer(&dconn), (GDestroyNotify)ferry_conn_unref);
}

/* Engine thread, once the sequence let go of the destination's
 * connection: the client hears the outcome only now, so that when it acts
 * on it no reference of this migration holds either host any more. */
static gboolean
answer(gpointer data)
{
    ferry_mig_runner *r = data;
    GTask *task = g_steal_pointer(&r->task);
    ferry_phase_result *result = g_steal_pointer(&r->result);
    GError *error = g_steal_pointer(&r->error);

    runner_end(r);
    if (error) {
        g_task_return_error(task, error);
        g_object_unref(task);
    } else {
        ferry_phase_task_return(task, result);
    }
    return G_SOURCE_REMOVE;
}

static void
on_sequence_done(GObject *src, GAsyncResult *res, gpointer data)
{
    ferry_mig_runner *r = data;
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(ferry_migration_cookie) cookie = NULL;
    ferry_migrate_stats stats = { 0 };

    ddom = ferry_mig_sequence_finish(res, &stats, &r->error);
    g_mutex_lock(&r->engine->lock);
    if (!ddom && r->stopped) {
        /* Not the cancellation it caused: what ended the job. */
        g_clear_error(&r->error);
        r->error = g_steal_pointer(&r->stopped);
    }
    g_mutex_unlock(&r->engine->lock);
    if (ddom) {
        cookie = ferry_migration_cookie_new(NULL, r->engine->host_uuid, r->engine->hostname);
        cookie->has_stats = TRUE;
        cookie->total_ms = stats.total_ms;
        cookie->downtime_ms = stats.downtime_ms;
        cookie->setup_ms = stats.setup_ms;
        cookie->data_total = stats.data_total;
        cookie->data_transferred = stats.data_transferred;
        cookie->disk_total = stats.disk_total;
        cookie->disk_transferred = stats.disk_transferred;
        cookie->passes = stats.passes;
        cookie->guest_downtime_ms = stats.guest_downtime_ms;
        cookie->time_setup_ms = stats.time_setup_ms;
        cookie->time_disk_ms = stats.time_disk_ms;
        cookie->time_memory_ms = stats.time_memory_ms;
        cookie->time_switchover_ms = stats.time_switchover_ms;
        cookie->time_overhead_ms = stats.time_overhead_ms;
        cookie->attempts = stats.attempts;
        cookie->reconnects = stats.reconnects;
        if (stats.snapshots_moved) {
            cookie->has_snapshots_received = TRUE;
            cookie->snapshots_received = stats.snapshots_moved;
        }
        if (stats.snapshots_left) {
            cookie->snapshots_left = MIN(stats.snapshots_left, FERRY_COOKIE_MAX_SNAPSHOTS);
            cookie->snapshots_note = g_strdup(stats.snapshots_note);
        }
        r->result = g_new0(ferry_phase_result, 1);
        r->result->cookie = ferry_migration_cookie_format(cookie);
    }
    /* The sequence's task, which holds the connection, is released once
     * this returns. */
    {
        g_autoptr(GSource) later = g_idle_source_new();

        g_source_set_callback(later, answer, r, NULL);
        g_source_attach(later, r->engine->context);
    }
}

static void
on_connected(GObject *src, GAsyncResult *res, gpointer data)
{
    ferry_mig_runner *r = data;
    g_autoptr(ferry_conn) dconn = NULL;
    GError *error = NULL;

    dconn = g_task_propagate_pointer(G_TASK(res), &error);
    if (!dconn) {
        ferry_error_normalize(&error);
        /* runner_end() drops the task's last reference. */
        g_task_return_error(r->task, error);
        runner_end(r);
        return;
    }
    ferry_mig_sequence_run(r->dom, dconn, 3, &r->params->p, r->cancellable, on_sequence_done, r);
}

/* Engine thread. */
static gboolean
launch(gpointer data)
{
    ferry_mig_runner *r = data;
    ferry_mig_engine *engine = r->engine;
    g_autoptr(GTask) connect = NULL;
    gboolean stopping;

    g_mutex_lock(&engine->lock);
    stopping = engine->stopping;
    if (!stopping)
        g_ptr_array_add(engine->runners, r);
    g_mutex_unlock(&engine->lock);
    if (stopping) {
        g_task_return_new_error(r->task, FERRY_ERROR,
                                FERRY_ERROR_OPERATION_ABORTED,
                                "host '%s' is shutting down: no new migration",
                                engine->hostname);
        runner_free(r);
        return G_SOURCE_REMOVE;
    }
    connect = g_task_new(NULL, r->cancellable, on_connected, r);
    g_task_set_task_data(connect, r, NULL);
    g_task_run_in_thread(connect, connect_thread);
    return G_SOURCE_REMOVE;
}

void
ferry_mig_p2p_start(ferry_mig_engine *engine, ferry_domain *dom,
                    const ferry_migrate_params *params, const char *dconn_uri, GTask *task)
{
    ferry_mig_runner *r;

    if (g_atomic_int_get(&engine->halted)) {
        g_task_return_new_error(task, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                                "host '%s' is shutting down: no new migration",
                                engine->hostname);
        g_object_unref(task);
        return;
    }
    r = g_new0(ferry_mig_runner, 1);
    r->engine = engine;
    r->dom = ferry_domain_ref(dom);
    r->params = ferry_mig_params_new(params);
    r->params->p.flags &= ~(guint)FERRY_MIGRATE_PEER2PEER;
    r->dconn_uri = g_strdup(dconn_uri);
    r->task = task;
    r->cancellable = g_cancellable_new();
    g_main_context_invoke(engine->context, launch, r);
}

gboolean
ferry_mig_p2p_is_runner(ferry_mig_engine *engine, GCancellable *cancellable)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&engine->lock);

    for (guint i = 0; cancellable && i < engine->runners->len; i++) {
        if (((ferry_mig_runner *)engine->runners->pdata[i])->cancellable == cancellable)
            return TRUE;
    }
    return FALSE;
}

void
ferry_mig_p2p_stop_runner(ferry_mig_engine *engine, GCancellable *cancellable, GError *why)
{
    g_autoptr(GError) owned = why;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&engine->lock);

    for (guint i = 0; i < engine->runners->len; i++) {
        ferry_mig_runner *r = engine->runners->pdata[i];

        if (r->cancellable != cancellable)
            continue;
        if (!r->stopped)
            r->stopped = g_steal_pointer(&owned);
        /* Its handlers take no engine lock: they only schedule the failure
         * of the calls in flight. */
        g_cancellable_cancel(cancellable);
        return;
    }
}

void
ferry_mig_p2p_stop_all(ferry_mig_engine *engine)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;

    g_mutex_lock(&engine->lock);
    for (guint i = 0; i < engine->runners->len; i++)
        g_cancellable_cancel(((ferry_mig_runner *)engine->runners->pdata[i])->cancellable);
    while (engine->runners->len > 0) {
        if (!g_cond_wait_until(&engine->runners_cond, &engine->lock, deadline)) {
            g_warning("host '%s': %u peer-to-peer migration(s) still running as the engine "
                      "stops", engine->hostname, engine->runners->len);
            break;
        }
    }
    g_mutex_unlock(&engine->lock);
}
