/*
 * migration-peer.c: what a job asks the other host's daemon: to run Finish
 * for a client that is gone, to say whether it runs the guest (the commit
 * point, "in doubt"), or to cancel its side.
 *
 * Owns: opening the connection to that daemon (a step: connecting may take
 * a while), one call at a time per job, with the answer coming back to the
 * job as an EV_PEER_DONE event; and the one blocking call, made from a step
 * thread, that tells the other side of an abort before the stream breaks.
 * Also the link probe of --estimate, which belongs to no job.
 * Must not decide anything: the role handlers read the answers.
 */
#include "ferry-config.h"

#include "migration/migration-engine-private.h"

/* A connection to the other host's daemon at @uri, with this host's peer
 * drivers; the error names the address. */
static ferry_conn *
open_peer(ferry_mig_engine *engine, const char *uri, GError **error)
{
    g_autoptr(GError) local = NULL;
    ferry_conn *conn = ferry_conn_open_with_drivers(uri, engine->peer_drivers, &local);

    if (!conn)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "cannot reach the daemon of the other host at '%s': %s", uri,
                    local->message);
    return conn;
}

/* Opens the connection to the peer's daemon (a step: connecting may take
 * a while). */
static gboolean
step_peer_open(ferry_mig_job *job, gpointer data, GError **error)
{
    g_autofree char *uri = NULL;
    ferry_conn *conn;

    g_mutex_lock(&job->lock);
    uri = g_strdup(job->peer_uri);
    g_mutex_unlock(&job->lock);
    if (!uri) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "migration %s: the other host's daemon did not say how to reach it",
                    job->id);
        return FALSE;
    }
    if (!(conn = open_peer(job->engine, uri, error)))
        return FALSE;
    ctl_of(job)->peer = conn;
    return TRUE;
}

typedef struct {
    ferry_mig_job *job;
    peer_kind kind;
} peer_call;

static void
on_peer_done(GObject *source, GAsyncResult *res, gpointer data)
{
    peer_call *pc = data;
    ferry_mig_event *ev = ferry_mig_event_new(EV_PEER_DONE, pc->kind);

    ev->result = ferry_phase_finish(res, &ev->error);
    ev->ok = ev->result != NULL;
    ferry_mig_job_post(pc->job, ev);
    ferry_mig_job_unref(pc->job);
    g_free(pc);
}

/* The destination's name: what the domain is called there. */
static const char *
dest_name(ferry_mig_job *job)
{
    return job->params->p.dname ? job->params->p.dname : job->dom_name;
}

void
ferry_mig_peer_call_start(ferry_mig_job *job, peer_kind kind)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);
    ferry_conn *peer = ctl->peer;
    peer_call *pc = g_new0(peer_call, 1);

    pc->job = ferry_mig_job_ref(job);
    pc->kind = kind;
    ctl->busy = TRUE;
    ctl->busy_what = kind;
    if (kind == PEER_FINISH && peer->driver->conn_migrate_finish3) {
        g_autofree char *cookie = ferry_migration_cookie_format(ctl->out);

        ctl->sent_finish = TRUE;
        peer->driver->conn_migrate_finish3(peer, &job->params->p, dest_name(job), cookie,
                                           FALSE, NULL, on_peer_done, pc);
    } else if (kind == PEER_CANCEL && peer->driver->conn_migrate_cancel) {
        g_mutex_lock(&job->lock);
        {
            g_autofree char *reason = g_strdup(job->message ? job->message : "aborted");

            g_mutex_unlock(&job->lock);
            peer->driver->conn_migrate_cancel(peer, job->id, reason, NULL, on_peer_done, pc);
        }
    } else if (kind == PEER_QUERY && peer->driver->conn_migrate_query) {
        peer->driver->conn_migrate_query(peer, job->id, NULL, on_peer_done, pc);
    } else if (kind == PEER_RECOVER && peer->driver->conn_migrate_postcopy_recover) {
        peer->driver->conn_migrate_postcopy_recover(peer, job->id, NULL, on_peer_done, pc);
    } else {
        ferry_mig_event *ev = ferry_mig_event_new(EV_PEER_DONE, kind);

        ev->error = g_error_new(FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                                "the daemon at '%s' (driver %s) cannot be asked about "
                                "migrations", ferry_conn_get_uri(peer), peer->driver->name);
        ferry_mig_job_post(job, ev);
        ferry_mig_job_unref(pc->job);
        g_free(pc);
    }
}

void
ferry_mig_run_peer(ferry_mig_job *job, peer_kind kind)
{
    ferry_mig_job_ctl *ctl = ctl_of(job);

    g_assert(!ctl->busy);
    if (ctl->peer && !ferry_conn_is_alive(ctl->peer))
        g_clear_pointer(&ctl->peer, ferry_conn_unref);
    if (ctl->peer) {
        ferry_mig_peer_call_start(job, kind);
        return;
    }
    /* The call is made once the connection is open (handle()). */
    ctl->peer_next = kind;
    ferry_mig_run_step(job, STEP_PEER_OPEN, step_peer_open, NULL);
}

void
ferry_mig_store_result(GObject *source, GAsyncResult *result, gpointer data)
{
    *(GAsyncResult **)data = g_object_ref(result);
}

/* How long an abort waits for the other host to take its cancel. */
#define PEER_CANCEL_WAIT_S 10

static gboolean
cancel_on_timeout(gpointer data)
{
    g_cancellable_cancel(data);
    return G_SOURCE_REMOVE;
}

void
ferry_mig_peer_cancel_sync(ferry_mig_job *job)
{
    g_autoptr(ferry_conn) peer = NULL;
    g_autoptr(GMainContext) context = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GCancellable) cancellable = NULL;
    g_autoptr(GSource) timeout = NULL;
    g_autoptr(ferry_phase_result) r = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *reason = NULL;
    g_autofree char *uri = NULL;

    g_mutex_lock(&job->lock);
    uri = g_strdup(job->peer_uri);
    reason = g_strdup(job->message ? job->message : "the other host gave it up");
    g_mutex_unlock(&job->lock);
    if (!uri)
        return;
    peer = ferry_conn_open_with_drivers(uri, job->engine->peer_drivers, &local);
    if (!peer || !peer->driver->conn_migrate_cancel) {
        g_debug("migration %s: the other host was not told: %s", job->id,
                local ? local->message : "its driver cannot be asked");
        return;
    }
    context = g_main_context_new();
    g_main_context_push_thread_default(context);
    /* A courtesy, not a verdict: the source learns the end from the
     * stream anyway.  A source daemon that takes the call but never
     * answers must not keep this side's rollback from finishing. */
    cancellable = g_cancellable_new();
    timeout = g_timeout_source_new_seconds(PEER_CANCEL_WAIT_S);
    g_source_set_callback(timeout, cancel_on_timeout, cancellable, NULL);
    g_source_attach(timeout, context);
    peer->driver->conn_migrate_cancel(peer, job->id, reason, cancellable,
                                      ferry_mig_store_result, &result);
    while (!result)
        g_main_context_iteration(context, TRUE);
    g_source_destroy(timeout);
    g_main_context_pop_thread_default(context);
    r = ferry_phase_finish(result, &local);
    if (!r)
        g_debug("migration %s: the other host did not drop it: %s", job->id, local->message);
}

gboolean
ferry_mig_error_is_doubt(const GError *error)
{
    return error && error->domain == FERRY_ERROR &&
           (error->code == FERRY_ERROR_CONNECTION_CLOSED || error->code == FERRY_ERROR_NO_CONNECT ||
            error->code == FERRY_ERROR_TIMEOUT || error->code == FERRY_ERROR_RPC);
}

/* The link probe's calls: this much each, for about this long, at most
 * this much in all (a fast link is measured well enough by then). */
#define PROBE_CHUNK (1024 * 1024)
#define PROBE_MS 500
#define PROBE_MAX_BYTES (256u * 1024 * 1024)

gboolean
ferry_mig_engine_probe_link(ferry_mig_engine *engine, const char *dest_uri, guint64 *ret_bps,
                            gboolean *ret_postcopy, GError **error)
{
    g_autoptr(ferry_conn) peer = NULL;
    g_autoptr(GBytes) chunk = g_bytes_new_take(g_malloc0(PROBE_CHUNK), PROBE_CHUNK);
    g_autoptr(GError) local = NULL;
    guint64 sent = 0, received = 0;
    gint64 start = 0, elapsed = 0;

    if (!(peer = open_peer(engine, dest_uri, error)))
        return FALSE;
    if (!peer->driver->conn_migrate_probe) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "the daemon at '%s' cannot be asked to measure the link", dest_uri);
        return FALSE;
    }
    for (guint i = 0;; i++) {
        if (!peer->driver->conn_migrate_probe(peer, chunk, &received, ret_postcopy, &local)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                        "measuring the link to '%s': %s", dest_uri, local->message);
            return FALSE;
        }
        if (received != PROBE_CHUNK) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_RPC,
                        "measuring the link to '%s': the destination received %" G_GUINT64_FORMAT
                        " bytes of %d", dest_uri, received, PROBE_CHUNK);
            return FALSE;
        }
        if (i == 0) {
            start = g_get_monotonic_time();
            continue;
        }
        sent += received;
        elapsed = g_get_monotonic_time() - start;
        if (elapsed >= PROBE_MS * G_TIME_SPAN_MILLISECOND || sent >= PROBE_MAX_BYTES)
            break;
    }
    *ret_bps = (guint64)((double)sent * G_TIME_SPAN_SECOND / (double)MAX(elapsed, 1));
    return TRUE;
}
