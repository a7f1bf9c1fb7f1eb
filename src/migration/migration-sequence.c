/*
 * migration-sequence.c: the phases of v3, v2 and v1 in order, each call
 * asynchronous, each outcome leading to the next call (see
 * migration-sequence.h).
 *
 * v3, after libvirt's virDomainMigrateVersion3:
 *   Begin -> Prepare -> Perform -> Finish -> Confirm
 *   Prepare fails: Confirm(CANCELLED).
 *   Perform fails: Finish(cancelled) -> Confirm(CANCELLED).
 *   Finish fails: Confirm(CANCELLED) -- or, when its answer was lost
 *   (connection closed, no answer), Confirm(UNKNOWN): the source's daemon
 *   keeps the guest paused and asks the destination's daemon; Confirm
 *   answers once it knows.
 *   A v3 attempt whose connection broke (FERRY_ERROR_MIGRATE_BROKEN, or a
 *   destination daemon out of reach) and that Confirm(CANCELLED) resolved
 *   with the guest running on the source is started over from Begin, with
 *   back-off, within params->retry_s (docs/recovery.md).
 * v2: Prepare2 -> Perform (kills the source on success) -> Finish2.
 * v1: Prepare -> Perform -> Finish (only after a successful Perform).
 */
#include "ferry-config.h"

#include <string.h>

#include "conf/migration-cookie.h"
#include "migration/migration-engine-private.h"
#include "migration/migration-policy.h"
#include "migration/migration-sequence.h"
#include "util/error.h"
#include "util/socket.h"

typedef struct {
    ferry_domain *dom;
    ferry_conn *dconn;
    int protocol;
    ferry_mig_params *params;
    gint64 start_us;
    char *xml;
    char *cookie_begin;
    char *cookie_prepare;
    char *cookie_perform;
    char *cookie_finish;
    char *user_uri;             /* the caller's migration URI (Prepare may choose one) */
    GSocket *tunnel;            /* tunnelled: the source QEMU's end, until Perform has it */
    guint retry_delay_ms;       /* the next back-off before another attempt */
    GError *first_error;        /* Perform's (or Prepare's): what the caller sees */
    GError *finish_error;
    ferry_domain *ddom;
    ferry_migrate_stats stats;
} seq;

static void
seq_free(seq *s)
{
    ferry_domain_unref(s->dom);
    ferry_conn_unref(s->dconn);
    ferry_mig_params_free(s->params);
    g_free(s->xml);
    g_free(s->cookie_begin);
    g_free(s->cookie_prepare);
    g_free(s->cookie_perform);
    g_free(s->cookie_finish);
    g_free(s->user_uri);
    g_clear_object(&s->tunnel);
    g_clear_error(&s->first_error);
    g_clear_error(&s->finish_error);
    ferry_domain_unref(s->ddom);
    g_free(s);
}

static seq *
seq_of(GTask *task)
{
    return g_task_get_task_data(task);
}

static const char *
dest_name(seq *s)
{
    return s->params->p.dname ? s->params->p.dname : s->dom->name;
}

void
ferry_mig_stats_from_cookie(const char *cookie, ferry_migrate_stats *stats)
{
    g_autoptr(ferry_migration_cookie) c = NULL;
    g_autoptr(GError) local = NULL;

    if (!cookie)
        return;
    c = ferry_migration_cookie_parse(cookie, "statistics", &local);
    if (!c) {
        g_debug("migration: no statistics: %s", local->message);
        return;
    }
    /* Snapshots: in the source's statistics, without <statistics> when
     * nothing was sent (offline). */
    if (c->has_snapshots_received)
        stats->snapshots_moved = c->snapshots_received;
    if (c->snapshots_left) {
        stats->snapshots_left = c->snapshots_left;
        g_strlcpy(stats->snapshots_note, c->snapshots_note ? c->snapshots_note : "",
                  sizeof(stats->snapshots_note));
    }
    if (!c->has_stats)
        return;
    stats->total_ms = c->total_ms;
    stats->downtime_ms = c->downtime_ms;
    stats->setup_ms = c->setup_ms;
    stats->data_total = c->data_total;
    stats->data_transferred = c->data_transferred;
    stats->disk_total = c->disk_total;
    stats->disk_transferred = c->disk_transferred;
    stats->passes = c->passes;
    stats->guest_downtime_ms = c->guest_downtime_ms;
    stats->time_setup_ms = c->time_setup_ms;
    stats->time_disk_ms = c->time_disk_ms;
    stats->time_memory_ms = c->time_memory_ms;
    stats->time_switchover_ms = c->time_switchover_ms;
    stats->time_overhead_ms = c->time_overhead_ms;
    stats->reconnects = c->reconnects;
    /* Said only by a peer-to-peer source's daemon, which made the
     * attempts; otherwise the client's own count stands. */
    if (c->attempts)
        stats->attempts = (guint)MIN(c->attempts, G_MAXUINT);
}

/* Logs an error the caller will not see (an earlier one wins). */
static void
log_dropped(const char *phase, ferry_conn *conn, const GError *error)
{
    if (error)
        g_debug("migration: %s on '%s' also failed (the caller sees the earlier error): %s",
                phase, ferry_conn_get_uri(conn), error->message);
}

static gboolean
is_abort(const GError *error)
{
    return g_error_matches(error, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED);
}

/* Ends the sequence: @error (taken) or the domain. */
static void
done(GTask *task, GError *error)
{
    seq *s = seq_of(task);

    s->stats.protocol = s->protocol;
    s->stats.wall_ms = (g_get_monotonic_time() - s->start_us) / 1000;
    if (error) {
        g_task_return_error(task, error);
    } else {
        g_task_return_pointer(task, g_steal_pointer(&s->ddom),
                              (GDestroyNotify)ferry_domain_unref);
    }
    g_object_unref(task);
}

/* The error of a failed sequence: an abort's, else Perform's, else the
 * last phase's (@later, taken). */
static GError *
sequence_error(seq *s, GError *later, const char *phase, ferry_conn *conn)
{
    if (later && is_abort(later) && !is_abort(s->first_error)) {
        log_dropped("Perform", conn, s->first_error);
        g_clear_error(&s->first_error);
        return later;
    }
    if (s->first_error) {
        /* The destination's side had ended for a reason of its own (its
         * QEMU could not start, or died): Perform's error is only what the
         * source saw of it (a refused or reset connection). */
        if (later && later->domain == FERRY_ERROR && s->first_error->domain == FERRY_ERROR &&
            (later->code == FERRY_ERROR_MIGRATE || later->code == FERRY_ERROR_OPERATION_FAILED) &&
            !is_abort(s->first_error)) {
            GError *e = g_error_new(FERRY_ERROR, s->first_error->code, "%s (the destination: %s)",
                                    s->first_error->message, later->message);

            g_clear_error(&s->first_error);
            g_clear_error(&later);
            return e;
        }
        log_dropped(phase, conn, later);
        g_clear_error(&later);
        return g_steal_pointer(&s->first_error);
    }
    if (later)
        return later;
    return g_error_new(FERRY_ERROR, FERRY_ERROR_INTERNAL,
                       "%s on '%s' returned no domain and no error", phase,
                       ferry_conn_get_uri(conn));
}

static ferry_phase_result *
take_result(GAsyncResult *res, GError **error)
{
    return ferry_phase_finish(res, error);
}

/* Stops between phases when the caller cancelled (the phases themselves
 * are not cancelled: an abort goes through ferry_domain_abort_job()). */
static gboolean
stopped(GTask *task)
{
    return g_cancellable_is_cancelled(g_task_get_cancellable(task));
}

/* When the sequence stops trying again (monotonic us; 0: never tries). */
static gint64
retry_deadline(seq *s)
{
    int r = s->params->p.retry_s;

    if (r == FERRY_MIGRATE_RETRY_NEVER)
        return 0;
    return s->start_us + (gint64)(r ? r : FERRY_MIGRATE_RETRY_DEFAULT) * G_TIME_SPAN_SECOND;
}

/* ------------------------------------------------------------------------ */
/* v3                                                                        */
/* ------------------------------------------------------------------------ */

static void v3_after_prepare(GObject *src, GAsyncResult *res, gpointer data);
static void v3_after_perform(GObject *src, GAsyncResult *res, gpointer data);
static void v3_after_finish(GObject *src, GAsyncResult *res, gpointer data);
static void v3_after_confirm(GObject *src, GAsyncResult *res, gpointer data);

typedef enum {
    CONFIRM_AFTER_SUCCESS = 1,
    CONFIRM_AFTER_FAILURE,
    CONFIRM_AFTER_DOUBT,
} confirm_case;

static void
confirm(GTask *task, int outcome, const char *cookie)
{
    seq *s = seq_of(task);

    g_object_set_data(G_OBJECT(task), "ferry-confirm", GINT_TO_POINTER(outcome));
    s->dom->conn->driver->domain_migrate_confirm3(s->dom, &s->params->p, cookie, outcome, NULL,
                                                  v3_after_confirm, task);
}

/* Tunnelled: a socketpair joins the two QEMUs' ends.  The destination's
 * connection (the remote driver) carries one end's bytes to the
 * destination's daemon; the source's QEMU gets the other at Perform. */
static void
prepare_tunnelled(GTask *task)
{
    seq *s = seq_of(task);
    g_autoptr(GSocket) far = NULL;
    GError *error = NULL;

    g_clear_object(&s->tunnel);
    if (!s->dconn->driver->conn_migrate_prepare_tunnel3) {
        s->first_error = g_error_new(FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                                     "tunnelled migration: the connection to '%s' cannot "
                                     "carry a tunnel", ferry_conn_get_uri(s->dconn));
        confirm(task, FERRY_CONFIRM_CANCELLED, NULL);
        return;
    }
    if (!ferry_socket_pair(&s->tunnel, &far, &error)) {
        g_prefix_error(&error, "tunnelled migration of domain '%s': ", s->dom->name);
        s->first_error = error;
        confirm(task, FERRY_CONFIRM_CANCELLED, NULL);
        return;
    }
    s->dconn->driver->conn_migrate_prepare_tunnel3(s->dconn, &s->params->p, s->xml,
                                                   s->cookie_begin, far,
                                                   g_task_get_cancellable(task),
                                                   v3_after_prepare, task);
}

static void
v3_after_begin(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    g_autoptr(ferry_phase_result) r = NULL;
    GError *error = NULL;

    r = take_result(res, &error);
    if (!r) {
        done(task, error);
        return;
    }
    s->xml = g_steal_pointer(&r->xml);
    s->cookie_begin = g_steal_pointer(&r->cookie);
    if (stopped(task)) {
        s->first_error = g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                     "migration of domain '%s' stopped by its caller",
                                     s->dom->name);
        confirm(task, FERRY_CONFIRM_CANCELLED, NULL);
        return;
    }
    if (s->params->p.flags & FERRY_MIGRATE_TUNNELLED) {
        prepare_tunnelled(task);
        return;
    }
    s->dconn->driver->conn_migrate_prepare3(s->dconn, &s->params->p, s->xml, s->cookie_begin,
                                            g_task_get_cancellable(task), v3_after_prepare,
                                            task);
}

static void
v3_after_prepare(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    g_autoptr(ferry_phase_result) r = NULL;
    GError *error = NULL;

    r = take_result(res, &error);
    if (!r) {
        g_clear_object(&s->tunnel);
        s->first_error = error;
        confirm(task, FERRY_CONFIRM_CANCELLED, NULL);
        return;
    }
    s->cookie_prepare = g_steal_pointer(&r->cookie);
    if (!r->uri && !s->params->p.uri &&
        !(s->params->p.flags & (FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_TUNNELLED))) {
        s->first_error = g_error_new(FERRY_ERROR, FERRY_ERROR_INTERNAL,
                                     "Prepare3 on '%s' chose no migration URI and the caller "
                                     "gave none", ferry_conn_get_uri(s->dconn));
    } else if (stopped(task)) {
        s->first_error = g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                                     "migration of domain '%s' stopped by its caller",
                                     s->dom->name);
    }
    if (s->first_error) {
        g_autoptr(ferry_migration_cookie) c =
            ferry_migration_cookie_parse(s->cookie_begin, "Finish3", NULL);
        g_autofree char *cookie = NULL;

        /* The tunnel's end closes: the destination's side ends with it. */
        g_clear_object(&s->tunnel);
        if (c) {
            c->has_result = TRUE;
            c->result_message = g_strdup(s->first_error->message);
            cookie = ferry_migration_cookie_format(c);
        }
        g_object_set_data(G_OBJECT(task), "ferry-finish-cancelled", GINT_TO_POINTER(1));
        s->dconn->driver->conn_migrate_finish3(s->dconn, &s->params->p, dest_name(s),
                                               cookie ? cookie : s->cookie_begin, TRUE,
                                               g_task_get_cancellable(task), v3_after_finish,
                                               task);
        return;
    }
    if (s->tunnel) {
        g_autoptr(GSocket) tunnel = g_steal_pointer(&s->tunnel);

        if (!s->dom->conn->driver->domain_migrate_perform_tunnel3) {
            g_task_report_new_error(NULL, v3_after_perform, task, NULL, FERRY_ERROR,
                                    FERRY_ERROR_NO_SUPPORT, "driver '%s' cannot send a "
                                    "tunnelled migration", s->dom->conn->driver->name);
            return;
        }
        s->dom->conn->driver->domain_migrate_perform_tunnel3(s->dom, &s->params->p, tunnel,
                                                             s->cookie_prepare, NULL,
                                                             v3_after_perform, task);
        return;
    }
    if (r->uri)
        ferry_mig_params_set_uri(s->params, r->uri);
    s->dom->conn->driver->domain_migrate_perform3(s->dom, &s->params->p, NULL,
                                                  s->cookie_prepare, NULL, v3_after_perform,
                                                  task);
}

/* How long the sequence tries to reach the destination's daemon again
 * before Finish: the guest is paused meanwhile, so not for the whole retry
 * bound.  Given up, the source runs again, and the migration is tried
 * again from the start while the bound allows (retry()). */
#define RECONNECT_SECONDS 30
/* Back-off between attempts of a migration whose connection broke. */
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 30000

typedef struct {
    char *uri;
    const ferry_driver *driver;
    gint64 deadline_us;
} reopen_data;

static void
reopen_data_free(reopen_data *rd)
{
    g_free(rd->uri);
    g_free(rd);
}

/* A worker thread: opens the same URI with the same driver, with back-off,
 * until the deadline. */
static void
reopen_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    reopen_data *rd = data;
    const ferry_driver *drivers[] = { rd->driver, NULL };
    gulong delay_ms = 250;

    for (;;) {
        g_autoptr(GError) error = NULL;
        ferry_conn *conn = ferry_conn_open_with_drivers(rd->uri, drivers, &error);

        if (conn) {
            g_task_return_pointer(task, conn, (GDestroyNotify)ferry_conn_unref);
            return;
        }
        if (g_cancellable_is_cancelled(cancellable) ||
            g_get_monotonic_time() + (gint64)delay_ms * 1000 > rd->deadline_us) {
            g_task_return_error(task, g_steal_pointer(&error));
            return;
        }
        /* Back-off between attempts (a worker thread of its own). */
        g_usleep(delay_ms * 1000);
        delay_ms = MIN(delay_ms * 2, 4000);
    }
}

static void send_finish(GTask *task, gboolean cancelled, const char *cookie);

/* The connection reopen_thread() made: replaces the sequence's, or FALSE
 * with @error. */
static gboolean
take_reopened(seq *s, GAsyncResult *res, GError **error)
{
    ferry_conn *conn = g_task_propagate_pointer(G_TASK(res), error);

    if (!conn)
        return FALSE;
    ferry_conn_unref(s->dconn);
    s->dconn = conn;
    return TRUE;
}

static void
after_reopen(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    g_autoptr(GError) error = NULL;

    if (!take_reopened(s, res, &error)) {
        /* Finish never reached that daemon, so it was never told to run
         * the guest and never will be (it runs nothing without Finish):
         * certain, not in doubt.  The source runs the guest again; the
         * destination drops its copy once the source says so. */
        s->first_error = g_error_new(FERRY_ERROR, FERRY_ERROR_MIGRATE_BROKEN,
                                     "migration of domain '%s': the connection to the "
                                     "destination '%s' was lost before Finish and could not "
                                     "be made again within %d s (%s); the source runs it again",
                                     s->dom->name, ferry_conn_get_uri(s->dconn),
                                     RECONNECT_SECONDS, error->message);
        s->finish_error = g_error_copy(s->first_error);
        confirm(task, FERRY_CONFIRM_CANCELLED, NULL);
        return;
    }
    g_message("migration of domain '%s': connected again to '%s' for Finish", s->dom->name,
              ferry_conn_get_uri(s->dconn));
    send_finish(task, FALSE, NULL);
}

/* Connects to the destination's daemon again, on a worker thread, until
 * @deadline_us; @callback gets the new connection (g_task_propagate_pointer). */
static void
reopen_dest(GTask *task, gint64 deadline_us, GAsyncReadyCallback callback)
{
    seq *s = seq_of(task);
    reopen_data *rd = g_new0(reopen_data, 1);
    g_autoptr(GTask) t = g_task_new(NULL, g_task_get_cancellable(task), callback, task);

    rd->uri = g_strdup(ferry_conn_get_uri(s->dconn));
    rd->driver = s->dconn->driver;
    rd->deadline_us = deadline_us;
    g_task_set_task_data(t, rd, (GDestroyNotify)reopen_data_free);
    g_task_run_in_thread(t, reopen_thread);
}

static void
reconnect(GTask *task)
{
    seq *s = seq_of(task);

    g_message("migration of domain '%s': the connection to '%s' was lost before Finish; "
              "connecting again (at most %d s)", s->dom->name, ferry_conn_get_uri(s->dconn),
              RECONNECT_SECONDS);
    reopen_dest(task, g_get_monotonic_time() + RECONNECT_SECONDS * G_TIME_SPAN_SECOND,
                after_reopen);
}

static void
v3_after_perform(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    g_autoptr(ferry_phase_result) r = NULL;
    GError *error = NULL;
    gboolean cancelled;
    g_autofree char *cookie = NULL;

    r = take_result(res, &error);
    cancelled = r == NULL;
    if (r && !ferry_conn_is_alive(s->dconn)) {
        /* The connection to the destination's daemon was lost before
         * Finish (a keepalive gave up on a cut link, say): not a verdict.
         * Connected again within RECONNECT_SECONDS, Finish goes on. */
        s->cookie_perform = g_steal_pointer(&r->cookie);
        ferry_mig_stats_from_cookie(s->cookie_perform, &s->stats);
        reconnect(task);
        return;
    }
    if (r) {
        s->cookie_perform = g_steal_pointer(&r->cookie);
        ferry_mig_stats_from_cookie(s->cookie_perform, &s->stats);
    } else {
        /* Finish learns why, and whether it was an abort. */
        g_autoptr(ferry_migration_cookie) c =
            ferry_migration_cookie_parse(s->cookie_begin, "Finish3", NULL);

        s->first_error = error;
        if (c) {
            c->has_result = TRUE;
            c->result_aborted = is_abort(error);
            c->result_message = g_strdup(error->message);
            cookie = ferry_migration_cookie_format(c);
        }
    }
    send_finish(task, cancelled, cookie);
}

/* Finish3 on the destination: with Perform's cookie, else @cookie (a
 * result for a cancelled one), else Begin's. */
static void
send_finish(GTask *task, gboolean cancelled, const char *cookie)
{
    seq *s = seq_of(task);

    g_object_set_data(G_OBJECT(task), "ferry-finish-cancelled", GINT_TO_POINTER(cancelled));
    s->dconn->driver->conn_migrate_finish3(s->dconn, &s->params->p, dest_name(s),
                                           s->cookie_perform ? s->cookie_perform
                                           : cookie ? cookie : s->cookie_begin,
                                           cancelled, g_task_get_cancellable(task),
                                           v3_after_finish, task);
}

static void
v3_after_finish(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    g_autoptr(ferry_phase_result) r = NULL;
    GError *error = NULL;
    gboolean cancelled = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(task),
                                                           "ferry-finish-cancelled"));

    r = take_result(res, &error);
    if (cancelled) {
        /* The destination dropped its side (or had nothing): the source
         * resumes.  Finish's own failure matters only as a log line. */
        s->finish_error = error;
        confirm(task, FERRY_CONFIRM_CANCELLED, NULL);
        return;
    }
    if (r) {
        s->ddom = g_steal_pointer(&r->dom);
        s->cookie_finish = g_steal_pointer(&r->cookie);
        confirm(task, FERRY_CONFIRM_OK, s->cookie_finish);
        return;
    }
    s->finish_error = error;
    if (ferry_mig_error_is_doubt(error)) {
        /* The answer was lost: only the destination's daemon knows.  The
         * source's daemon asks it; Confirm answers with what it said. */
        confirm(task, FERRY_CONFIRM_UNKNOWN, s->cookie_perform);
        return;
    }
    confirm(task, FERRY_CONFIRM_CANCELLED, NULL);
}

static void v3_begin(GTask *task);

/* Another attempt, once the connection to the destination's daemon works. */
static void
after_retry_reopen(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    g_autoptr(GError) error = NULL;

    if (!take_reopened(s, res, &error)) {
        done(task, g_error_new(FERRY_ERROR, FERRY_ERROR_MIGRATE_BROKEN,
                               "migration of domain '%s': the destination's daemon at '%s' "
                               "could not be reached again within the retry bound (%s); the "
                               "guest runs on the source", s->dom->name,
                               ferry_conn_get_uri(s->dconn), error->message));
        return;
    }
    v3_begin(task);
}

static gboolean
retry_now(gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);

    if (stopped(task)) {
        done(task, g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED,
                               "migration of domain '%s' stopped by its caller while waiting "
                               "to try again; the guest runs on the source", s->dom->name));
        return G_SOURCE_REMOVE;
    }
    if (!ferry_conn_is_alive(s->dconn)) {
        reopen_dest(task, retry_deadline(s), after_retry_reopen);
        return G_SOURCE_REMOVE;
    }
    v3_begin(task);
    return G_SOURCE_REMOVE;
}

/* After a failed attempt that Confirm(CANCELLED) resolved (the source runs
 * again): if its connection broke -- QEMU's stream, or the destination's
 * daemon out of reach -- and the retry bound allows, starts another
 * attempt after a back-off.  Returns FALSE if it does not. */
static gboolean
retry(GTask *task)
{
    seq *s = seq_of(task);
    const GError *why = s->first_error ? s->first_error : s->finish_error;
    const GError *dest = s->finish_error;
    /* The destination's side ended for a reason of its own (its QEMU died,
     * or refused the guest): trying again would end the same way. */
    gboolean dest_failed = dest && dest->domain == FERRY_ERROR &&
                           (dest->code == FERRY_ERROR_MIGRATE ||
                            dest->code == FERRY_ERROR_OPERATION_FAILED) &&
                           ferry_conn_is_alive(s->dconn);
    /* The source held the switch-over back (the downtime cap): its
     * cancel is what ended the destination's side. */
    gboolean held = g_error_matches(why, FERRY_ERROR, FERRY_ERROR_MIGRATE_HELD);
    gboolean broke = held ||
                     (!dest_failed &&
                      (g_error_matches(why, FERRY_ERROR, FERRY_ERROR_MIGRATE_BROKEN) ||
                       (why && !is_abort(why) && !ferry_conn_is_alive(s->dconn))));
    gint64 deadline = retry_deadline(s);
    guint delay = s->retry_delay_ms ? s->retry_delay_ms : RETRY_FIRST_MS;

    if (!broke || stopped(task) || !deadline ||
        g_get_monotonic_time() + (gint64)delay * 1000 >= deadline)
        return FALSE;
    g_message("migration of domain '%s' (attempt %u): %s; the guest runs on the source; "
              "trying again in %.1f s (for at most %" G_GINT64_FORMAT " s more)", s->dom->name,
              s->stats.attempts, why->message, delay / 1000.0,
              (deadline - g_get_monotonic_time()) / G_TIME_SPAN_SECOND);
    s->retry_delay_ms = MIN(delay * 2, RETRY_MAX_MS);
    if (held) {
        /* QEMU switched over on figures that broke the cap: the next
         * attempt plans for half the pause (the convergence policy then
         * finds another way if pre-copy cannot meet it). */
        ferry_migrate_params *p = &s->params->p;

        p->max_downtime_ms = MAX(ferry_policy_cap_target(p->max_downtime_ms,
                                                         p->max_downtime_cap_ms) / 2, 1);
        g_message("migration of domain '%s': the next attempt plans for a pause of %"
                  G_GUINT64_FORMAT " ms", s->dom->name, p->max_downtime_ms);
    }
    g_clear_pointer(&s->xml, g_free);
    g_clear_pointer(&s->cookie_begin, g_free);
    g_clear_pointer(&s->cookie_prepare, g_free);
    g_clear_pointer(&s->cookie_perform, g_free);
    g_clear_pointer(&s->cookie_finish, g_free);
    g_clear_error(&s->first_error);
    g_clear_error(&s->finish_error);
    g_clear_pointer(&s->ddom, ferry_domain_unref);
    ferry_mig_params_set_uri(s->params, s->user_uri);
    {
        /* In the context the sequence runs in (a client's may be private). */
        g_autoptr(GSource) timer = g_timeout_source_new(delay);

        g_source_set_callback(timer, retry_now, task, NULL);
        g_source_attach(timer, g_task_get_context(task));
    }
    return TRUE;
}

static void
v3_after_confirm(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    int outcome = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(task), "ferry-confirm"));
    g_autoptr(ferry_phase_result) r = NULL;
    GError *error = NULL;

    r = take_result(res, &error);
    if (r && r->cookie)
        ferry_mig_stats_from_cookie(r->cookie, &s->stats);
    switch (outcome) {
    case FERRY_CONFIRM_OK:
        /* Its failure cannot undo what Finish did: the guest moved --
         * unless post-copy failed after the switch: the pages the source
         * still held are gone, and the caller must hear it. */
        if (g_error_matches(error, FERRY_ERROR, FERRY_ERROR_MIGRATE_LOST)) {
            done(task, error);
            return;
        }
        log_dropped("Confirm3", s->dom->conn, error);
        g_clear_error(&error);
        done(task, NULL);
        return;
    case FERRY_CONFIRM_UNKNOWN:
        if (r) {
            /* The destination's daemon said it runs the guest. */
            g_clear_error(&s->finish_error);
            s->ddom = ferry_domain_new_handle(s->dconn, dest_name(s), s->dom->uuid);
            done(task, NULL);
            return;
        }
        log_dropped("Finish3", s->dconn, s->finish_error);
        g_clear_error(&s->finish_error);
        done(task, sequence_error(s, error, "Confirm3", s->dom->conn));
        return;
    default:
        if (r && retry(task))
            return;
        log_dropped("Confirm3", s->dom->conn, error);
        g_clear_error(&error);
        done(task, sequence_error(s, g_steal_pointer(&s->finish_error), "Finish3", s->dconn));
        return;
    }
}

/* ------------------------------------------------------------------------ */
/* v2 and v1                                                                 */
/* ------------------------------------------------------------------------ */

static void v2_after_prepare(GObject *src, GAsyncResult *res, gpointer data);
static void v2_after_perform(GObject *src, GAsyncResult *res, gpointer data);
static void v2_after_finish(GObject *src, GAsyncResult *res, gpointer data);

/* A source that is paused before the migration stays paused after it; v3
 * says so in Begin's cookie, v1 and v2 have none. */
static void
keep_paused(seq *s)
{
    ferry_domain_info info;
    g_autoptr(GError) local = NULL;

    if (!s->dom->conn->driver->domain_get_info ||
        !s->dom->conn->driver->domain_get_info(s->dom, &info, &local))
        g_debug("migration: state of '%s' unknown: %s", s->dom->name,
                local ? local->message : "no get_info");
    else if (info.state == FERRY_DOMAIN_PAUSED)
        s->params->p.flags |= FERRY_MIGRATE_PAUSED;
}

static void
v2_start(GTask *task)
{
    seq *s = seq_of(task);
    GError *error = NULL;

    keep_paused(s);
    if (s->protocol == 1) {
        s->dconn->driver->conn_migrate_prepare(s->dconn, &s->params->p, NULL, v2_after_prepare,
                                               task);
        return;
    }
    s->xml = s->params->p.dxml ? g_strdup(s->params->p.dxml)
                               : s->dom->conn->driver->domain_get_xml(s->dom, 0, &error);
    if (!s->xml) {
        done(task, error);
        return;
    }
    s->dconn->driver->conn_migrate_prepare2(s->dconn, &s->params->p, s->xml, NULL,
                                            v2_after_prepare, task);
}

static void
v2_after_prepare(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    g_autoptr(ferry_phase_result) r = NULL;
    GError *error = NULL;

    r = take_result(res, &error);
    if (!r) {
        done(task, error);
        return;
    }
    s->cookie_prepare = g_steal_pointer(&r->cookie);
    if (!r->uri && !s->params->p.uri) {
        done(task, g_error_new(FERRY_ERROR, FERRY_ERROR_INTERNAL,
                               "Prepare on '%s' chose no migration URI and the caller gave "
                               "none", ferry_conn_get_uri(s->dconn)));
        return;
    }
    if (r->uri)
        ferry_mig_params_set_uri(s->params, r->uri);
    s->dom->conn->driver->domain_migrate_perform(s->dom, &s->params->p, s->cookie_prepare, NULL,
                                                 v2_after_perform, task);
}

static void
v2_after_perform(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    g_autoptr(ferry_phase_result) r = NULL;
    GError *error = NULL;

    r = take_result(res, &error);
    if (!r)
        s->first_error = error;
    /* Its statistics: what stayed behind of the domain's snapshots too. */
    if (r && r->cookie)
        ferry_mig_stats_from_cookie(r->cookie, &s->stats);
    if (s->protocol == 1) {
        if (!r) {
            done(task, g_steal_pointer(&s->first_error));
            return;
        }
        s->dconn->driver->conn_migrate_finish(s->dconn, &s->params->p, dest_name(s),
                                              s->cookie_prepare, NULL, v2_after_finish, task);
        return;
    }
    s->dconn->driver->conn_migrate_finish2(s->dconn, &s->params->p, dest_name(s),
                                           s->cookie_prepare, r != NULL, NULL, v2_after_finish,
                                           task);
}

static void
v2_after_finish(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    seq *s = seq_of(task);
    g_autoptr(ferry_phase_result) r = NULL;
    GError *error = NULL;

    r = take_result(res, &error);
    if (r && r->dom && !s->first_error) {
        s->ddom = g_steal_pointer(&r->dom);
        done(task, NULL);
        return;
    }
    done(task, sequence_error(s, error, s->protocol == 1 ? "Finish" : "Finish2", s->dconn));
}

/* ------------------------------------------------------------------------ */
/* Entry                                                                     */
/* ------------------------------------------------------------------------ */

void
ferry_mig_sequence_run(ferry_domain *dom, ferry_conn *dconn, int protocol,
                       const ferry_migrate_params *params, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    seq *s = g_new0(seq, 1);

    s->dom = ferry_domain_ref(dom);
    s->dconn = ferry_conn_ref(dconn);
    s->protocol = protocol;
    s->params = ferry_mig_params_new(params);
    s->params->p.flags &= ~(guint)FERRY_MIGRATE_PEER2PEER;
    s->start_us = g_get_monotonic_time();
    s->user_uri = g_strdup(s->params->p.uri);
    g_task_set_task_data(task, s, (GDestroyNotify)seq_free);
    if (protocol < 3) {
        s->stats.attempts = 1;
        v2_start(task);
        return;
    }
    v3_begin(task);
}

/* One attempt of v3, from Begin. */
static void
v3_begin(GTask *task)
{
    seq *s = seq_of(task);

    s->stats.attempts++;
    /* The cancellable also tells the engine who runs the sequence (a
     * peer-to-peer runner: the job then outlives its client). */
    s->dom->conn->driver->domain_migrate_begin3(s->dom, &s->params->p,
                                                g_task_get_cancellable(task), v3_after_begin,
                                                task);
}

ferry_domain *
ferry_mig_sequence_finish(GAsyncResult *result, ferry_migrate_stats *ret_stats, GError **error)
{
    GTask *task = G_TASK(result);
    seq *s = seq_of(task);

    if (ret_stats)
        *ret_stats = s->stats;
    return g_task_propagate_pointer(task, error);
}
