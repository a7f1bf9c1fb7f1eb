/*
 * qemu-process.c: the life of one QEMU process -- spawn, attach to its
 * monitor, follow its events, stop it, notice its death, re-attach to it
 * after a daemon restart.
 *
 * Owns: the process (pid, pidfd), its exit watch, its QMP connection and its
 * runtime files.  Must not: parse XML or build the command line (that is
 * qemu-command.c), or decide policy such as "may this domain start" (that is
 * qemu-driver.c).
 *
 * Why a pidfd: QEMU outlives ferryd on purpose, so after a restart it is no
 * longer our child and waitpid() cannot watch it.  A pidfd works for a child
 * and a stranger alike, becomes readable the moment the process exits (before
 * anyone reaps it), and cannot be fooled by pid reuse.  GSubprocess still
 * reaps our own children.
 *
 * Who cleans up after an exit: whoever holds the domain's job.  The exit
 * watch (monitor thread) only sets `exited` and cleans up itself when it can
 * take the job without waiting; otherwise the job holder does it in
 * qemu_process_end_job().  Both decisions are made under obj->lock, so
 * exactly one of them runs the cleanup.
 */
#include "ferry-config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>

#include "qemu/qemu-command.h"
#include "qemu/qemu-migration.h"
#include "qemu/qemu-net.h"
#include "qemu/qemu-process.h"
#include "qemu/qemu-snapshot.h"
#include "qemu/qemu-user.h"
#include "util/error.h"
#include "util/json-util.h"

#define MONITOR_TIMEOUT_MS 30000
/* Where QEMU finds the monitor socket ferryd made for it. */
#define MONITOR_CHILD_FD 3
/* Where QEMU finds the taps, the first at this number, the next above. */
#define TAP_CHILD_FD 4
#define TERM_GRACE_SECONDS 5
#define KILL_WAIT_SECONDS 5
#define LOG_QUOTE_MAX 400
/* VNC display 0 listens on this TCP port. */
#define VNC_PORT_BASE 5900

/* ------------------------------------------------------------------ */
/* Small helpers */

static void
set_state_unlocked(ferry_domain_obj *obj, int st, int reason)
{
    g_mutex_lock(&obj->lock);
    ferry_domain_obj_set_state(obj, st, reason);
    g_mutex_unlock(&obj->lock);
}

/* Runs on the monitor context: drops the domain's QMP connection. */
static gboolean
close_qmp_cb(gpointer data)
{
    ferry_qmp *qmp = data;

    ferry_qmp_close(qmp);
    return G_SOURCE_REMOVE;
}

static void
close_qmp(qemu_driver_state *state, ferry_qmp *qmp)
{
    if (!qmp)
        return;
    g_main_context_invoke_full(state->monitor_ctx, G_PRIORITY_DEFAULT, close_qmp_cb,
                               qmp, (GDestroyNotify)ferry_qmp_unref);
}

static gboolean
send_signal(qemu_domain_priv *priv, int sig)
{
    if (priv->pidfd >= 0)
        return pidfd_send_signal(priv->pidfd, sig, NULL, 0) == 0 || errno == ESRCH;
    return FALSE;
}

/* Waits (lock held) until the process has exited or @seconds passed. */
static gboolean
wait_exit_locked(ferry_domain_obj *obj, qemu_domain_priv *priv, int seconds)
{
    gint64 deadline = g_get_monotonic_time() + seconds * G_TIME_SPAN_SECOND;

    while (!priv->exited) {
        if (!g_cond_wait_until(&priv->exit_cond, &obj->lock, deadline))
            return priv->exited;
    }
    return TRUE;
}

/* What QEMU wrote to its log since @offset, trimmed, for error messages. */
static char *
read_log_since(const char *path, goffset offset)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    const char *start;

    if (!path || !g_file_get_contents(path, &text, &len, NULL) || (gsize)offset >= len)
        return g_strdup("(no output)");
    start = text + offset;
    if (strlen(start) > LOG_QUOTE_MAX)
        start += strlen(start) - LOG_QUOTE_MAX;
    return g_strstrip(g_strdup(start));
}

/* ------------------------------------------------------------------ */
/* Cleanup after the process is gone */

/* Called with the job held (or at load time), lock NOT held.  Idempotent. */
static void
process_cleanup(qemu_driver_state *state, ferry_domain_obj *obj)
{
    qemu_domain_priv *priv;
    g_autoptr(ferry_qmp) qmp = NULL;
    g_autofree char *monitor = NULL;
    GSource *exit_source;
    gboolean transient;
    guint port, nbd_port;
    int pidfd;
    int reason;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    if (priv->cleaned || !obj->live) {
        g_mutex_unlock(&obj->lock);
        return;
    }
    priv->cleaned = TRUE;
    if (priv->expect_exit)
        reason = priv->stop_reason;
    else if (priv->guest_shutdown)
        reason = FERRY_SHUTOFF_SHUTDOWN;
    else
        reason = FERRY_SHUTOFF_CRASHED;
    ferry_domain_obj_set_state(obj, FERRY_DOMAIN_SHUTOFF, reason);
    qmp = g_steal_pointer(&priv->qmp);
    exit_source = g_steal_pointer(&priv->exit_source);
    pidfd = priv->pidfd;
    priv->pidfd = -1;
    g_clear_object(&priv->proc);
    monitor = g_steal_pointer(&priv->monitor_path);
    port = priv->mig_port;
    priv->mig_port = 0;
    nbd_port = priv->mig_nbd_port;
    priv->mig_nbd_port = 0;
    g_clear_pointer(&obj->live, ferry_domain_def_free);
    transient = obj->def == NULL;
    g_mutex_unlock(&obj->lock);

    /* Before its ports go back: the relays listen on them. */
    qemu_migration_close_relays(obj, TRUE, TRUE);
    qemu_migration_remove_relay_sockets(state, obj->uuid);

    /* No QEMU, no lease to keep (a no-op where none was held). */
    if (state->locks)
        ferry_lock_manager_release(state->locks, obj->uuid);
    if (!priv->expect_exit)
        g_message("domain '%s': QEMU (pid %" G_GINT64_FORMAT ") exited unexpectedly (%s)",
                  obj->name, priv->pid,
                  reason == FERRY_SHUTOFF_SHUTDOWN ? "guest shut down" : "crashed");
    if (exit_source) {
        g_source_destroy(exit_source);
        g_source_unref(exit_source);
    }
    if (pidfd >= 0)
        close(pidfd);
    close_qmp(state, g_steal_pointer(&qmp));
    if (monitor) {
        g_autofree char *pid_path = qemu_domain_pid_path(state, obj->uuid);

        g_unlink(monitor);
        /* QEMU removes it on a clean exit, not when killed. */
        g_unlink(pid_path);
    }
    if (port)
        qemu_migration_release_port(state, port);
    if (nbd_port)
        qemu_migration_release_port(state, nbd_port);
    /* QEMU is gone: what it was given goes back (before the status that
     * remembers it does). */
    qemu_user_restore_domain(state, obj);
    qemu_domain_delete_status(state, obj->uuid);
    if (transient)
        ferry_domain_obj_list_remove(state->domains, obj);
    qemu_domain_emit_lifecycle(state, obj, FERRY_LIFECYCLE_STOPPED);
}

/* How the process of @pidfd ended, without reaping it (GSubprocess does):
 * its exit status, or -1 if a signal ended it (or it cannot be told). */
static int
exit_status(int pidfd)
{
    siginfo_t info = { 0 };

    if (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG | WNOWAIT) < 0 ||
        info.si_code != CLD_EXITED)
        return -1;
    return info.si_status;
}

/* Tells a migration that QEMU exited (monitor thread), once the monitor
 * is read to its end.  The pidfd turns readable after the kernel closed
 * QEMU's sockets, but the monitor may still hold unread events, and the
 * migration decides by them: a destination QEMU whose stream failed says
 * so in a MIGRATION event, then exits by itself; read in the other order
 * the exit looks like a death and the source's retry would be refused.
 * EXIT_NOTICE_WAIT_MS bounds the wait for a monitor that never ends. */
#define EXIT_NOTICE_WAIT_MS 2000

static void
exit_notice_send(qemu_driver_state *state, ferry_domain_obj *obj)
{
    qemu_domain_priv *priv;
    GSource *pending;
    int reason, code;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    pending = g_steal_pointer(&priv->exit_pending);
    reason = priv->exit_reason;
    code = priv->exit_code;
    g_mutex_unlock(&obj->lock);
    if (!pending)
        return;
    g_source_destroy(pending);
    g_source_unref(pending);
    qemu_migration_process_exited(state, obj, reason, code);
}

static gboolean
exit_notice_timeout(gpointer data)
{
    qemu_driver_state *state = qemu_driver_get_state();

    if (state)
        exit_notice_send(state, data);
    return G_SOURCE_REMOVE;
}

static void
exit_notice(qemu_driver_state *state, ferry_domain_obj *obj, int reason, int code)
{
    qemu_domain_priv *priv;
    gboolean now;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    now = !priv->qmp || priv->qmp_eof;
    if (!now && !priv->exit_pending) {
        priv->exit_reason = reason;
        priv->exit_code = code;
        priv->exit_pending = g_timeout_source_new(EXIT_NOTICE_WAIT_MS);
        g_source_set_callback(priv->exit_pending, exit_notice_timeout,
                              ferry_domain_obj_ref(obj), (GDestroyNotify)ferry_domain_obj_unref);
        g_source_attach(priv->exit_pending, state->monitor_ctx);
    }
    g_mutex_unlock(&obj->lock);
    if (now)
        qemu_migration_process_exited(state, obj, reason, code);
}

/* The exit watch: runs on the monitor thread when the pidfd turns readable. */
static gboolean
on_process_exit(gint fd, GIOCondition cond, gpointer data)
{
    ferry_domain_obj *obj = data;
    qemu_driver_state *state = qemu_driver_get_state();
    qemu_domain_priv *priv;
    gboolean claim = FALSE;

    int reason;
    gboolean migrating;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    priv->exited = TRUE;
    g_cond_broadcast(&priv->exit_cond);
    reason = priv->expect_exit ? priv->stop_reason
             : priv->guest_shutdown ? FERRY_SHUTOFF_SHUTDOWN : FERRY_SHUTOFF_CRASHED;
    migrating = obj->job == FERRY_JOB_MIGRATION_OUT || obj->job == FERRY_JOB_MIGRATION_IN;
    /* Take the job only if nobody holds it: this thread must never wait. */
    if (obj->job == FERRY_JOB_NONE && !obj->removed) {
        obj->job = FERRY_JOB_MODIFY;
        obj->job_owner = g_strdup("process exit");
        claim = TRUE;
    }
    g_mutex_unlock(&obj->lock);

    if (claim && state) {
        process_cleanup(state, obj);
        ferry_domain_obj_end_job(obj);
    }
    /* A migration holds the domain: its engine learns it now (it ends the
     * job and the cleanup follows), not when the migration would. */
    if (migrating && state)
        exit_notice(state, obj, reason, exit_status(fd));
    return G_SOURCE_REMOVE;
}

static void
watch_exit(qemu_driver_state *state, ferry_domain_obj *obj, qemu_domain_priv *priv)
{
    GSource *source = g_unix_fd_source_new(priv->pidfd, G_IO_IN);

    /* A new process, a new monitor (the obj and its priv outlive both). */
    priv->qmp_eof = FALSE;
    if (priv->exit_pending) {
        g_source_destroy(priv->exit_pending);
        g_clear_pointer(&priv->exit_pending, g_source_unref);
    }
    g_source_set_callback(source, (GSourceFunc)(void (*)(void))on_process_exit,
                          ferry_domain_obj_ref(obj),
                          (GDestroyNotify)ferry_domain_obj_unref);
    g_source_set_static_name(source, "ferry qemu exit watch");
    priv->exit_source = source;
    g_source_attach(source, state->monitor_ctx);
}

void
qemu_process_end_job(qemu_driver_state *state, ferry_domain_obj *obj)
{
    gboolean cleanup;

    g_mutex_lock(&obj->lock);
    cleanup = obj->priv && ((qemu_domain_priv *)obj->priv)->exited &&
              !((qemu_domain_priv *)obj->priv)->cleaned && obj->live;
    g_mutex_unlock(&obj->lock);
    /* The exit watch saw the job held and left the cleanup to us; it cannot
     * be running it concurrently, since it only does so holding the job. */
    if (cleanup)
        process_cleanup(state, obj);
    ferry_domain_obj_end_job(obj);
}

/* ------------------------------------------------------------------ */
/* QMP events */

static void
on_qmp_event(ferry_qmp *qmp, const char *event, json_object *data,
             gint64 timestamp_us, gpointer user_data)
{
    ferry_domain_obj *obj = user_data;
    qemu_driver_state *state = qemu_driver_get_state();
    qemu_domain_priv *priv;
    int emit = -1;

    if (!state)
        return;
    /* Migration events are the migration backend's (qemu-migration.c). */
    if (qemu_migration_handle_event(state, obj, event, data, timestamp_us) ||
        qemu_snapshot_handle_event(obj, event, data))
        return;
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    if (strcmp(event, "SHUTDOWN") == 0) {
        json_object *guest = NULL;

        if (data && json_object_object_get_ex(data, "guest", &guest) &&
            json_object_get_boolean(guest))
            priv->guest_shutdown = TRUE;
    } else if (obj->job == FERRY_JOB_NONE && obj->live && !priv->exited) {
        /* With no job running these changes come from outside ferry (the
         * guest, QEMU itself): follow them.  A job sets states itself. */
        if (strcmp(event, "STOP") == 0 && obj->state == FERRY_DOMAIN_RUNNING) {
            ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_UNKNOWN);
            emit = FERRY_LIFECYCLE_SUSPENDED;
        } else if (strcmp(event, "RESUME") == 0 && obj->state == FERRY_DOMAIN_PAUSED) {
            ferry_domain_obj_set_state(obj, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_UNPAUSED);
            emit = FERRY_LIFECYCLE_RESUMED;
        }
    }
    g_mutex_unlock(&obj->lock);
    if (emit >= 0) {
        g_autoptr(GError) error = NULL;

        g_mutex_lock(&obj->lock);
        if (!qemu_domain_save_status(state, obj, &error))
            g_warning("domain '%s': %s", obj->name, error->message);
        g_mutex_unlock(&obj->lock);
        qemu_domain_emit_lifecycle(state, obj, emit);
    }
}

static void
on_qmp_close(ferry_qmp *qmp, const GError *reason, gpointer user_data)
{
    ferry_domain_obj *obj = user_data;
    gboolean exited;

    qemu_driver_state *state = qemu_driver_get_state();

    g_mutex_lock(&obj->lock);
    exited = obj->priv && ((qemu_domain_priv *)obj->priv)->exited;
    if (obj->priv)
        ((qemu_domain_priv *)obj->priv)->qmp_eof = TRUE;
    g_mutex_unlock(&obj->lock);
    /* Every event QEMU sent has been handled: a migration may learn that it
     * exited (exit_notice()). */
    if (state)
        exit_notice_send(state, obj);
    /* QEMU closes its monitor when it exits; the exit watch handles that.
     * A monitor that closes while QEMU lives is worth a line in the log. */
    if (!exited)
        g_message("domain '%s': monitor closed: %s", obj->name,
                  reason ? reason->message : "end of file");
}

/* ------------------------------------------------------------------ */
/* Connecting to the monitor, cancellably */

typedef struct {
    GMutex lock;
    GCond cond;
    gboolean done;
    GError *error;
    ferry_qmp *qmp;
    char *path;
    GCancellable *cancellable;
} connect_wait;

static void
connect_done(GObject *source, GAsyncResult *res, gpointer data)
{
    connect_wait *w = data;
    GError *error = NULL;

    ferry_qmp_connect_finish(w->qmp, res, &error);
    g_mutex_lock(&w->lock);
    w->error = error;
    w->done = TRUE;
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
}

static gboolean
connect_start(gpointer data)
{
    connect_wait *w = data;

    ferry_qmp_connect_async(w->qmp, w->path, MONITOR_TIMEOUT_MS, w->cancellable,
                            connect_done, w);
    return G_SOURCE_REMOVE;
}

/* Connects @qmp on the monitor thread; gives up early if QEMU exits
 * (the exit watch cancels @cancellable). */
static gboolean
connect_monitor(qemu_driver_state *state, ferry_qmp *qmp, const char *path,
                GCancellable *cancellable, GError **error)
{
    connect_wait w = { .qmp = qmp, .path = (char *)path, .cancellable = cancellable };
    gboolean ok;

    g_mutex_init(&w.lock);
    g_cond_init(&w.cond);
    g_main_context_invoke(state->monitor_ctx, connect_start, &w);
    g_mutex_lock(&w.lock);
    while (!w.done)
        g_cond_wait(&w.cond, &w.lock);
    g_mutex_unlock(&w.lock);
    ok = (w.error == NULL);
    if (w.error)
        g_propagate_error(error, w.error);
    g_mutex_clear(&w.lock);
    g_cond_clear(&w.cond);
    return ok;
}

/* Watches for exit while connecting: cancels the connect when QEMU dies. */
static gboolean
cancel_on_exit(gint fd, GIOCondition cond, gpointer data)
{
    g_cancellable_cancel(data);
    return G_SOURCE_REMOVE;
}

static gboolean
attach_monitor(qemu_driver_state *state, ferry_domain_obj *obj, qemu_domain_priv *priv,
               GError **error)
{
    g_autofree char *name = g_strdup_printf("domain '%s'", obj->name);
    g_autoptr(ferry_qmp) qmp = ferry_qmp_new(state->monitor_ctx, name);
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GError) local = NULL;
    GSource *watch = g_unix_fd_source_new(priv->pidfd, G_IO_IN);
    gboolean ok;

    g_source_set_callback(watch, (GSourceFunc)(void (*)(void))cancel_on_exit,
                          g_object_ref(cancellable), g_object_unref);
    g_source_attach(watch, state->monitor_ctx);
    ferry_qmp_set_event_handler(qmp, on_qmp_event, ferry_domain_obj_ref(obj),
                                (GDestroyNotify)ferry_domain_obj_unref);
    ferry_qmp_set_close_handler(qmp, on_qmp_close, ferry_domain_obj_ref(obj),
                                (GDestroyNotify)ferry_domain_obj_unref);
    ok = connect_monitor(state, qmp, priv->monitor_path, cancellable, &local);
    g_source_destroy(watch);
    g_source_unref(watch);
    if (!ok) {
        if (g_cancellable_is_cancelled(cancellable))
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                        "domain '%s': QEMU exited before its monitor answered",
                        obj->name);
        else
            g_propagate_prefixed_error(error, g_steal_pointer(&local),
                                       "domain '%s': cannot reach QEMU's monitor: ",
                                       obj->name);
        close_qmp(state, g_steal_pointer(&qmp));
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    priv->qmp = g_steal_pointer(&qmp);
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

/* Reads QEMU's run state ("running", "paused", "prelaunch"…). */
static char *
query_run_state(ferry_qmp *qmp, GError **error)
{
    g_autoptr(json_object) ret = ferry_qmp_command_sync(qmp, "query-status", NULL, error);
    json_object *status;

    if (!ret)
        return NULL;
    if (!json_object_object_get_ex(ret, "status", &status) ||
        !json_object_is_type(status, json_type_string)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_QMP,
                    "query-status returned no 'status' string");
        return NULL;
    }
    return g_strdup(json_object_get_string(status));
}

/* ------------------------------------------------------------------ */
/* Devices finished over QMP, before the CPUs start
 *
 * These read the live definition without its lock: they run for the job
 * holder, and only a job holder changes the definition or frees it.  What
 * they learn is written back under the lock. */

/* The displays' passwords: never on QEMU's command line, which any local
 * user reads in /proc, and never in a log (FERRY_QMP_TRACE leaves
 * set_password's arguments out).  A migration's destination sets them on
 * its own QEMU: they are host-side, not part of what migrates. */
static gboolean
set_passwords(ferry_qmp *qmp, const ferry_domain_def *def, GError **error)
{
    for (guint i = 0; def->graphics && i < def->graphics->len; i++) {
        const ferry_graphics_def *graphics = g_ptr_array_index(def->graphics, i);
        g_autoptr(json_object) args = NULL;
        g_autoptr(json_object) ret = NULL;
        g_autoptr(GError) local = NULL;

        if (!graphics->passwd)
            continue;
        /* No "display": QEMU's first VNC display, the one ferry makes (one
         * display of each type, as in libvirt). */
        args = json_object_new_object();
        json_object_object_add(args, "protocol", json_object_new_string(graphics->type));
        json_object_object_add(args, "password", json_object_new_string(graphics->passwd));
        ret = ferry_qmp_command_sync(qmp, "set_password", args, &local);
        if (!ret) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                        "domain '%s': cannot set the password of its %s display: %s",
                        def->name, graphics->type, local->message);
            return FALSE;
        }
    }
    return TRUE;
}

/* The balloon's target, when <currentMemory> holds some of the memory
 * back.  Not on a migration's destination: the target is guest state that
 * comes with the stream (virtio-balloon migrates it), and the source's --
 * which may have been changed since its start -- must win. */
static gboolean
set_balloon(ferry_qmp *qmp, const ferry_domain_def *def, GError **error)
{
    g_autoptr(json_object) args = NULL;
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GError) local = NULL;

    if (!def->memballoon || g_strcmp0(def->memballoon->model, "virtio") != 0 ||
        def->current_memory_kib == 0 || def->current_memory_kib >= def->memory_kib)
        return TRUE;
    args = json_object_new_object();
    json_object_object_add(args, "value",
                           json_object_new_int64((int64_t)(def->current_memory_kib * 1024)));
    ret = ferry_qmp_command_sync(qmp, "balloon", args, &local);
    if (!ret) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': cannot set its balloon to %" G_GUINT64_FORMAT " KiB "
                    "(currentMemory): %s", def->name, def->current_memory_kib, local->message);
        return FALSE;
    }
    return TRUE;
}

/* A console on a serial port rather than a virtio console: it shows the
 * port's chardev (the serial's, when a serial names the port). */
static gboolean
console_is_serial(const ferry_chr_def *chr)
{
    return chr->device == FERRY_CHR_DEVICE_CONSOLE &&
           (!chr->target_type || strcmp(chr->target_type, "serial") == 0);
}

/* The id of chardev @i of @def on QEMU's command line (qemu-command.c):
 * "serialP" for a serial port P and a console on it; "consoleN" and
 * "channelN" for the Nth virtio console and channel. */
static char *
chr_id(const ferry_domain_def *def, guint i)
{
    const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);
    guint n = 0;

    if (chr->device == FERRY_CHR_DEVICE_SERIAL || console_is_serial(chr))
        return g_strdup_printf("serial%u", chr->target_port);
    for (guint j = 0; j < i; j++) {
        const ferry_chr_def *other = g_ptr_array_index(def->chardevs, j);

        n += other->device == chr->device && !console_is_serial(other);
    }
    return g_strdup_printf("%s%u", chr->device == FERRY_CHR_DEVICE_CONSOLE ? "console"
                                                                            : "channel", n);
}

/* The ptys QEMU allocated (`-chardev pty` picks a free /dev/pts/N), into
 * the live definition's source paths, as libvirt's live XML shows them:
 * that is how a user finds the console.  On a migration's destination they
 * are this host's ptys, whatever the source's XML said. */
static gboolean
learn_ptys(ferry_qmp *qmp, ferry_domain_obj *obj, GError **error)
{
    const ferry_domain_def *def = obj->live;
    g_autoptr(json_object) ret = NULL;
    g_autoptr(GHashTable) files = NULL;
    g_autoptr(GPtrArray) paths = NULL;
    gboolean any = FALSE;

    for (guint i = 0; def->chardevs && i < def->chardevs->len; i++)
        any |= ((const ferry_chr_def *)g_ptr_array_index(def->chardevs, i))->source.type ==
               FERRY_CHR_PTY;
    if (!any)
        return TRUE;
    ret = ferry_qmp_command_sync(qmp, "query-chardev", NULL, error);
    if (!ret) {
        g_prefix_error(error, "domain '%s': cannot learn its ptys: ", obj->name);
        return FALSE;
    }
    files = g_hash_table_new(g_str_hash, g_str_equal);
    for (gsize i = 0; json_object_is_type(ret, json_type_array) &&
                      i < json_object_array_length(ret); i++) {
        json_object *entry = json_object_array_get_idx(ret, i);
        json_object *label, *filename;

        if (json_object_object_get_ex(entry, "label", &label) &&
            json_object_object_get_ex(entry, "filename", &filename))
            g_hash_table_insert(files, (char *)json_object_get_string(label),
                                (char *)json_object_get_string(filename));
    }
    paths = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < def->chardevs->len; i++) {
        const ferry_chr_def *chr = g_ptr_array_index(def->chardevs, i);
        g_autofree char *id = NULL;
        const char *file;

        g_ptr_array_add(paths, NULL);
        if (chr->source.type != FERRY_CHR_PTY)
            continue;
        id = chr_id(def, i);
        file = g_hash_table_lookup(files, id);
        if (!file) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                        "domain '%s': QEMU has no chardev '%s' to read its pty from",
                        obj->name, id);
            return FALSE;
        }
        if (!g_str_has_prefix(file, "pty:")) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                        "domain '%s': chardev '%s' is '%s', not a pty", obj->name, id, file);
            return FALSE;
        }
        paths->pdata[i] = g_strdup(file + strlen("pty:"));
    }
    g_mutex_lock(&obj->lock);
    for (guint i = 0; i < paths->len; i++) {
        ferry_chr_def *chr = g_ptr_array_index(obj->live->chardevs, i);

        if (!paths->pdata[i])
            continue;
        g_free(chr->source.path);
        chr->source.path = g_steal_pointer(&paths->pdata[i]);
    }
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

/* The port a VNC display with autoport took (QEMU tries from 5900 up),
 * into the live definition, as libvirt's live XML shows it.  query-vnc
 * describes QEMU's first display, the one of the first <graphics
 * type='vnc'> (libvirt has at most one). */
static gboolean
learn_vnc_port(ferry_qmp *qmp, ferry_domain_obj *obj, GError **error)
{
    const ferry_domain_def *def = obj->live;
    ferry_graphics_def *vnc = NULL;
    g_autoptr(json_object) ret = NULL;
    json_object *service = NULL;
    gint64 port;

    for (guint i = 0; def->graphics && i < def->graphics->len && !vnc; i++) {
        if (g_strcmp0(((ferry_graphics_def *)g_ptr_array_index(def->graphics, i))->type,
                      "vnc") == 0)
            vnc = g_ptr_array_index(def->graphics, i);
    }
    if (!vnc || (!vnc->autoport && vnc->port >= VNC_PORT_BASE))
        return TRUE;
    ret = ferry_qmp_command_sync(qmp, "query-vnc", NULL, error);
    if (!ret) {
        g_prefix_error(error, "domain '%s': cannot learn its VNC port: ", obj->name);
        return FALSE;
    }
    port = json_object_object_get_ex(ret, "service", &service)
           ? g_ascii_strtoll(json_object_get_string(service), NULL, 10) : 0;
    if (port < VNC_PORT_BASE || port > G_MAXUINT16) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': QEMU's VNC display has no port: %s", obj->name,
                    json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN));
        return FALSE;
    }
    g_mutex_lock(&obj->lock);
    vnc->port = (int)port;
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

/* What QEMU's command line cannot say, or cannot know before QEMU runs. */
static gboolean
setup_devices(ferry_domain_obj *obj, qemu_domain_priv *priv, gboolean incoming,
              GError **error)
{
    return set_passwords(priv->qmp, obj->live, error) &&
           (incoming || set_balloon(priv->qmp, obj->live, error)) &&
           learn_ptys(priv->qmp, obj, error) && learn_vnc_port(priv->qmp, obj, error);
}

/* ------------------------------------------------------------------ */
/* Start */

static int
open_log(const char *path, goffset *ret_offset, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format_iso8601(now);
    g_autofree char *line = g_strdup_printf("ferry: starting QEMU at %s\n", stamp);

    if (fd < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot open log file '%s'", path);
        return -1;
    }
    if (write(fd, line, strlen(line)) < 0) {
        /* The log is a convenience; a full disk must not stop the VM. */
    }
    *ret_offset = lseek(fd, 0, SEEK_END);
    return fd;
}

/* The QMP socket, bound and listening before QEMU runs: ferryd connects at
 * once and QEMU's greeting comes as soon as it is ready, instead of ferryd
 * retrying a path that QEMU has not created yet (each miss cost up to a
 * retry interval on every start, the destination's in every migration). */
static GSocket *
listen_monitor(const char *dom_name, const char *path, GError **error)
{
    g_autoptr(GSocket) sock = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GError) local = NULL;

    sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &local);
    addr = sock ? g_unix_socket_address_new(path) : NULL;
    if (!sock || !g_socket_bind(sock, addr, FALSE, &local) ||
        !g_socket_listen(sock, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "domain '%s': cannot listen on its monitor socket '%s': %s",
                    dom_name, path, local->message);
        return NULL;
    }
    return g_steal_pointer(&sock);
}

/* Fails a start: kills what was spawned and leaves the domain shut off. */
/*
 * Host paths a definition may leave to the host, filled in on the live
 * definition before QEMU starts.  A channel that listens on a unix socket
 * with no path (a guest agent's, as virsh dumpxml writes an inactive
 * definition) gets one in this host's run directory, as libvirt does; so
 * does one whose path lies there already, because that path was another
 * host's (a migration's live XML) or an earlier run's.  The directory is
 * created here; qemu_user_hand_domain() then gives it to the QEMU user.
 */
static gboolean
place_channels(qemu_driver_state *state, ferry_domain_obj *obj, GError **error)
{
    g_autofree char *base = g_build_filename(state->run_dir, "channel", NULL);
    g_autofree char *dir = g_build_filename(base, obj->uuid, NULL);
    gboolean made = FALSE;

    for (guint i = 0; i < obj->live->chardevs->len; i++) {
        ferry_chr_def *chr = g_ptr_array_index(obj->live->chardevs, i);

        if (chr->device != FERRY_CHR_DEVICE_CHANNEL || chr->source.type != FERRY_CHR_UNIX ||
            !chr->source.server || !chr->target_name ||
            (chr->source.path && !g_str_has_prefix(chr->source.path, base)))
            continue;
        /* The base is searchable by all, as run_dir is: an unprivileged
         * QEMU reaches its own directory, handed to it, through it. */
        if (!made && (g_mkdir_with_parents(base, 0711) < 0 ||
                      g_mkdir_with_parents(dir, 0700) < 0)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                        "domain '%s': cannot create the channel directory %s: %s", obj->name,
                        dir, g_strerror(errno));
            return FALSE;
        }
        made = TRUE;
        g_free(chr->source.path);
        chr->source.path = g_build_filename(dir, chr->target_name, NULL);
    }
    return TRUE;
}

/*
 * A SPICE display with autoport: QEMU's SPICE server takes a port number
 * and cannot look for a free one (its VNC server can: to=), so ferryd
 * finds one from 5900 up on the display's listen address, as libvirt does,
 * and writes it into the live definition.  The port is free when probed;
 * another process could take it before QEMU binds it, and then QEMU fails
 * to start, naming the port -- a start to try again, nothing lost.
 */
static gboolean
reserve_spice_port(ferry_domain_obj *obj, guint *ret_port, GError **error)
{
    for (guint i = 0; i < obj->live->graphics->len; i++) {
        ferry_graphics_def *g = g_ptr_array_index(obj->live->graphics, i);
        const char *listen = g->listen ? g->listen : "127.0.0.1";
        g_autoptr(GInetAddress) addr = NULL;

        if (g_strcmp0(g->type, "spice") != 0 || (!g->autoport && g->port > 0))
            continue;
        addr = g_inet_address_new_from_string(listen);
        if (!addr) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                        "domain '%s': graphics spice: listen address '%s' is not an IP "
                        "address", obj->name, listen);
            return FALSE;
        }
        for (guint port = 5900; port <= 65535; port++) {
            g_autoptr(GSocket) sock = g_socket_new(g_inet_address_get_family(addr),
                                                   G_SOCKET_TYPE_STREAM,
                                                   G_SOCKET_PROTOCOL_TCP, NULL);
            g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(addr, port);

            if (sock && g_socket_bind(sock, sa, FALSE, NULL)) {
                g->port = (int)port;
                *ret_port = port;
                return TRUE;
            }
        }
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': graphics spice: no free TCP port from 5900 on %s",
                    obj->name, listen);
        return FALSE;
    }
    return TRUE;
}

/* UEFI variables: a domain's own store, made from its template the first
 * time (as libvirt does); the template itself is never written. */
static gboolean
make_nvram(const ferry_domain_obj *obj, GError **error)
{
    const ferry_domain_def *def = obj->live;
    g_autoptr(GFile) from = NULL;
    g_autoptr(GFile) to = NULL;
    g_autoptr(GError) local = NULL;

    if (!def->nvram || g_file_test(def->nvram, G_FILE_TEST_EXISTS))
        return TRUE;
    if (!def->nvram_template) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': nvram '%s' does not exist and no template is given to "
                    "create it from", obj->name, def->nvram);
        return FALSE;
    }
    from = g_file_new_for_path(def->nvram_template);
    to = g_file_new_for_path(def->nvram);
    if (!g_file_copy(from, to, G_FILE_COPY_NONE, NULL, NULL, NULL, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': cannot create nvram '%s' from template '%s': %s",
                    obj->name, def->nvram, def->nvram_template, local->message);
        return FALSE;
    }
    return TRUE;
}

static void
abort_start(qemu_driver_state *state, ferry_domain_obj *obj, qemu_domain_priv *priv)
{
    g_mutex_lock(&obj->lock);
    priv->expect_exit = TRUE;
    priv->stop_reason = FERRY_SHUTOFF_FAILED;
    if (!priv->exited && send_signal(priv, SIGKILL))
        wait_exit_locked(obj, priv, KILL_WAIT_SECONDS);
    g_mutex_unlock(&obj->lock);
    process_cleanup(state, obj);
}

gboolean
qemu_process_start(qemu_driver_state *state, ferry_domain_obj *obj, guint flags,
                   GError **error)
{
    qemu_domain_priv *priv;
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GSocket) monitor = NULL;
    g_autoptr(qemu_net_taps) taps = NULL;
    g_autofree char *log_file = NULL;
    g_autofree char *pid_path = NULL;
    g_autofree int *tap_fds = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) local = NULL;
    ferry_qemu_command_opts opts = { .qemu_binary = state->config.qemu_binary };
    goffset log_offset = 0;
    gboolean paused = (flags & (QEMU_PROCESS_START_PAUSED | QEMU_PROCESS_START_INCOMING)) != 0;
    int log_fd;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    priv->exited = priv->cleaned = priv->guest_shutdown = priv->expect_exit = FALSE;
    priv->stop_reason = FERRY_SHUTOFF_UNKNOWN;
    g_free(priv->monitor_path);
    priv->monitor_path = qemu_domain_monitor_path(state, obj->uuid);
    log_file = g_strdup_printf("%s.log", obj->name);
    g_free(priv->log_path);
    priv->log_path = g_build_filename(state->log_dir, log_file, NULL);
    opts.monitor_path = priv->monitor_path;
    opts.monitor_fd = MONITOR_CHILD_FD;
    pid_path = qemu_domain_pid_path(state, obj->uuid);
    opts.pid_path = pid_path;
    opts.incoming_defer = (flags & QEMU_PROCESS_START_INCOMING) != 0;
    /* Where QEMU will find each interface's tap (the taps themselves are
     * opened below). */
    opts.n_tap_fds = obj->live->nets ? obj->live->nets->len : 0;
    tap_fds = g_new(int, MAX(opts.n_tap_fds, 1));
    for (guint i = 0, next = TAP_CHILD_FD; i < opts.n_tap_fds; i++)
        tap_fds[i] = qemu_net_needs_tap(g_ptr_array_index(obj->live->nets, i)) ? (int)next++
                                                                                : -1;
    opts.tap_fds = tap_fds;
    /* What define checked, again: an incoming migration's definition (or
     * one an older ferry accepted) was never defined here. */
    if (!place_channels(state, obj, error) || !make_nvram(obj, error) ||
        !reserve_spice_port(obj, &opts.spice_port, error) ||
        !ferry_qemu_command_check(obj->live, &opts, error)) {
        g_mutex_unlock(&obj->lock);
        goto fail_unspawned;
    }
    argv = ferry_qemu_build_argv(obj->live, &opts);
    ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_STARTING_UP);
    g_mutex_unlock(&obj->lock);

    /* Everything QEMU opens by name becomes the QEMU user's first. */
    if (!qemu_user_hand_domain(state, obj, pid_path, error))
        goto fail_unspawned;
    g_unlink(priv->monitor_path);
    monitor = listen_monitor(obj->name, priv->monitor_path, error);
    if (!monitor)
        goto fail_unspawned;
    /* The taps, created and plugged before QEMU runs -- on a migration's
     * destination too, so that the guest has its port on this host's
     * bridge before it resumes here.  Read without the lock as the device
     * set-up below is; their names go into the live XML. */
    taps = qemu_net_taps_open(obj->live, error);
    if (!taps)
        goto fail_unspawned;
    g_mutex_lock(&obj->lock);
    qemu_net_taps_record(taps, obj->live);
    g_mutex_unlock(&obj->lock);
    log_fd = open_log(priv->log_path, &log_offset, error);
    if (log_fd < 0)
        goto fail_unspawned;

    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_set_stdin_file_path(launcher, "/dev/null");
    g_subprocess_launcher_take_stdout_fd(launcher, dup(log_fd));
    g_subprocess_launcher_take_stderr_fd(launcher, log_fd);
    g_subprocess_launcher_take_fd(launcher, dup(g_socket_get_fd(monitor)), MONITOR_CHILD_FD);
    for (guint i = 0; i < taps->n; i++) {
        if (taps->fds[i] >= 0) {
            g_subprocess_launcher_take_fd(launcher, taps->fds[i], tap_fds[i]);
            taps->fds[i] = -1;
        }
    }
    g_subprocess_launcher_set_child_setup(launcher, qemu_user_child_setup, state, NULL);
    proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv, &local);
    /* QEMU has its copies; ferryd's own would keep the socket alive after
     * QEMU died, and a connect would wait for a greeting that never comes,
     * and would keep the taps too: a tap must go with its QEMU. */
    g_clear_object(&launcher);
    g_clear_object(&monitor);
    if (!proc) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': cannot run '%s': %s", obj->name, argv[0],
                    local->message);
        goto fail_unspawned;
    }

    g_mutex_lock(&obj->lock);
    priv->pid = g_ascii_strtoll(g_subprocess_get_identifier(proc), NULL, 10);
    priv->proc = g_object_ref(proc);
    priv->started_at = g_get_real_time();
    priv->pidfd = pidfd_open((pid_t)priv->pid, 0);
    if (priv->pidfd < 0) {
        int err = errno;

        g_mutex_unlock(&obj->lock);
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, err,
                              "domain '%s': cannot watch QEMU (pid %" G_GINT64_FORMAT ")",
                              obj->name, priv->pid);
        g_subprocess_force_exit(proc);
        g_subprocess_wait(proc, NULL, NULL);
        goto fail_unspawned;
    }
    /* The pid goes to disk before anything else can fail: a ferryd that
     * dies from here on must find this QEMU again. */
    if (!qemu_domain_save_status(state, obj, &local))
        g_warning("domain '%s': %s", obj->name, local->message);
    g_clear_error(&local);
    watch_exit(state, obj, priv);
    g_mutex_unlock(&obj->lock);

    if (!attach_monitor(state, obj, priv, &local)) {
        g_autofree char *out = NULL;

        abort_start(state, obj, priv);
        out = read_log_since(priv->log_path, log_offset);
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "%s; QEMU said: %s", local->message, out);
        return FALSE;
    }

    if (!setup_devices(obj, priv, (flags & QEMU_PROCESS_START_INCOMING) != 0, &local)) {
        abort_start(state, obj, priv);
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (!paused) {
        g_autoptr(json_object) reply = ferry_qmp_command_sync(priv->qmp, "cont", NULL, &local);

        if (!reply) {
            abort_start(state, obj, priv);
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                        "domain '%s': cannot start its CPUs: %s", obj->name,
                        local->message);
            return FALSE;
        }
    }
    g_mutex_lock(&obj->lock);
    if (flags & QEMU_PROCESS_START_INCOMING)
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION);
    else if (paused)
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER);
    else
        ferry_domain_obj_set_state(obj, FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED);
    if (!qemu_domain_save_status(state, obj, &local))
        g_warning("domain '%s': %s", obj->name, local->message);
    g_mutex_unlock(&obj->lock);
    g_debug("domain '%s': QEMU pid %" G_GINT64_FORMAT " started", obj->name, priv->pid);
    return TRUE;

fail_unspawned:
    g_mutex_lock(&obj->lock);
    priv->expect_exit = TRUE;
    priv->stop_reason = FERRY_SHUTOFF_FAILED;
    priv->exited = TRUE;
    g_mutex_unlock(&obj->lock);
    process_cleanup(state, obj);
    return FALSE;
}

/* ------------------------------------------------------------------ */
/* Destroy */

gboolean
qemu_process_destroy(qemu_driver_state *state, ferry_domain_obj *obj, int reason,
                     GError **error)
{
    qemu_domain_priv *priv;
    gboolean gone;

    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    priv->expect_exit = TRUE;
    priv->stop_reason = reason;
    gone = priv->exited;
    if (!gone && send_signal(priv, SIGTERM))
        gone = wait_exit_locked(obj, priv, TERM_GRACE_SECONDS);
    if (!gone) {
        g_message("domain '%s': QEMU (pid %" G_GINT64_FORMAT ") ignored SIGTERM for %d s; "
                  "sending SIGKILL", obj->name, priv->pid, TERM_GRACE_SECONDS);
        if (send_signal(priv, SIGKILL))
            gone = wait_exit_locked(obj, priv, KILL_WAIT_SECONDS);
    }
    g_mutex_unlock(&obj->lock);
    if (!gone) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                    "domain '%s': QEMU (pid %" G_GINT64_FORMAT ") is still there %d s "
                    "after SIGKILL", obj->name, priv->pid, KILL_WAIT_SECONDS);
        return FALSE;
    }
    process_cleanup(state, obj);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Re-attach after a daemon restart */

/* The arguments of process @pid; NULL if it is gone, or a zombie (whose
 * cmdline is empty). */
static GStrv
read_cmdline(gint64 pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/cmdline", pid);
    g_autofree char *text = NULL;
    GPtrArray *argv;
    gsize len = 0;

    if (!g_file_get_contents(path, &text, &len, NULL) || len == 0)
        return NULL;
    argv = g_ptr_array_new();
    /* g_file_get_contents() ends the text with a NUL of its own. */
    for (gsize i = 0; i < len; i += strlen(text + i) + 1)
        g_ptr_array_add(argv, g_strdup(text + i));
    g_ptr_array_add(argv, NULL);
    return (GStrv)g_ptr_array_free(argv, FALSE);
}

/* The value that follows @opt in @argv, or NULL. */
static const char *
argv_value(char **argv, const char *opt)
{
    for (guint i = 0; argv[i] && argv[i + 1]; i++) {
        if (strcmp(argv[i], opt) == 0)
            return argv[i + 1];
    }
    return NULL;
}

/* Is @pid the QEMU of the domain with @uuid?  Guards against pid reuse. */
static gboolean
pid_is_domain_qemu(gint64 pid, const char *uuid)
{
    g_auto(GStrv) argv = read_cmdline(pid);
    const char *value = argv ? argv_value(argv, "-uuid") : NULL;

    return value && g_ascii_strcasecmp(value, uuid) == 0;
}

/* The uuid @argv runs if it is a QEMU of this ferryd: its -pidfile is this
 * run directory's file of its -uuid.  A QEMU of another ferryd on the same
 * machine (another state directory) runs the same uuid during a migration
 * between them, and is not ours. */
static char *
argv_own_uuid(qemu_driver_state *state, char **argv)
{
    const char *pid_file = argv_value(argv, "-pidfile");
    const char *uuid = argv_value(argv, "-uuid");
    g_autofree char *lower = NULL;
    g_autofree char *expected = NULL;

    if (!pid_file || !uuid || !g_uuid_string_is_valid(uuid))
        return NULL;
    lower = g_ascii_strdown(uuid, -1);
    expected = qemu_domain_pid_path(state, lower);
    return strcmp(pid_file, expected) == 0 ? g_steal_pointer(&lower) : NULL;
}

static void
running_free(qemu_running *r)
{
    g_strfreev(r->argv);
    g_free(r);
}

/* Every QEMU of this ferryd in /proc, or only the one of @uuid (nullable). */
static GHashTable *
scan_running(qemu_driver_state *state, const char *uuid)
{
    GHashTable *found = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify)running_free);
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        gint64 pid = g_ascii_strtoll(name, NULL, 10);
        g_auto(GStrv) argv = NULL;
        g_autofree char *own = NULL;
        qemu_running *r;

        if (pid <= 0 || !g_ascii_isdigit(name[0]) || !(argv = read_cmdline(pid)) ||
            !(own = argv_own_uuid(state, argv)) || (uuid && g_ascii_strcasecmp(own, uuid) != 0))
            continue;
        r = g_new0(qemu_running, 1);
        r->pid = pid;
        r->argv = g_steal_pointer(&argv);
        g_hash_table_replace(found, g_steal_pointer(&own), r);
    }
    return found;
}

GHashTable *
qemu_process_list_running(qemu_driver_state *state)
{
    return scan_running(state, NULL);
}

gboolean
qemu_process_check_not_running(qemu_driver_state *state, const char *what,
                               const char *name, const char *uuid, GError **error)
{
    g_autoptr(GHashTable) found = scan_running(state, uuid);
    GHashTableIter iter;
    qemu_running *r;

    g_hash_table_iter_init(&iter, found);
    if (!g_hash_table_iter_next(&iter, NULL, (gpointer *)&r))
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                "cannot %s domain '%s': its uuid %s already runs on host '%s' in QEMU "
                "pid %" G_GINT64_FORMAT ", and a domain never runs twice",
                what, name, uuid, state->config.hostname, r->pid);
    return FALSE;
}

gboolean
qemu_process_reattach(qemu_driver_state *state, ferry_domain_obj *obj, GError **error)
{
    qemu_domain_priv *priv;
    g_autofree char *run_state = NULL;
    g_autoptr(GError) local = NULL;
    int st, reason;

    if (!ferry_domain_obj_begin_job(obj, FERRY_JOB_MODIFY, "re-attach", error))
        return FALSE;
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    /* A new life for the process watch: the domain may have had another
     * before (a status file naming a dead pid, then its QEMU found by its
     * command line). */
    priv->exited = priv->cleaned = priv->guest_shutdown = priv->expect_exit = FALSE;
    st = obj->state;
    reason = obj->reason;
    if (pid_is_domain_qemu(priv->pid, obj->uuid))
        priv->pidfd = pidfd_open((pid_t)priv->pid, 0);
    if (priv->pidfd < 0) {
        g_autoptr(GHashTable) other = NULL;

        g_mutex_unlock(&obj->lock);
        g_message("domain '%s': QEMU (pid %" G_GINT64_FORMAT ") is gone", obj->name,
                  priv->pid);
        /* A QEMU of the uuid under another pid (the status file was wrong)
         * keeps its monitor socket and pid file: it is re-attached next,
         * from its command line (qemu_domain_load_all()). */
        other = scan_running(state, obj->uuid);
        g_mutex_lock(&obj->lock);
        if (g_hash_table_size(other) > 0)
            g_clear_pointer(&priv->monitor_path, g_free);
        priv->exited = TRUE;
        g_mutex_unlock(&obj->lock);
        process_cleanup(state, obj);
        ferry_domain_obj_end_job(obj);
        return TRUE;
    }
    watch_exit(state, obj, priv);
    g_mutex_unlock(&obj->lock);

    if (!attach_monitor(state, obj, priv, &local) ||
        !(run_state = query_run_state(priv->qmp, &local))) {
        abort_start(state, obj, priv);
        g_propagate_prefixed_error(error, g_steal_pointer(&local),
                                   "stopped QEMU (pid %" G_GINT64_FORMAT ") after "
                                   "restart: ", priv->pid);
        ferry_domain_obj_end_job(obj);
        return FALSE;
    }
    if (strcmp(run_state, "running") == 0) {
        if (st != FERRY_DOMAIN_RUNNING)
            reason = FERRY_RUNNING_UNPAUSED;
        st = FERRY_DOMAIN_RUNNING;
    } else {
        if (st != FERRY_DOMAIN_PAUSED)
            reason = FERRY_PAUSED_UNKNOWN;
        st = FERRY_DOMAIN_PAUSED;
    }
    set_state_unlocked(obj, st, reason);
    g_message("domain '%s': re-attached to QEMU pid %" G_GINT64_FORMAT " (%s)",
              obj->name, priv->pid, run_state);
    /* The lease died with the previous ferryd: taken again for a guest that
     * runs or that its user paused; one paused by a migration is the
     * migration's to settle (docs/recovery.md). */
    if (strcmp(run_state, "running") == 0 ||
        (strcmp(run_state, "paused") == 0 && reason == FERRY_PAUSED_USER)) {
        g_autoptr(GError) lease_error = NULL;

        if (!ferry_lock_manager_acquire(state->locks, obj->uuid, obj->name,
                                        state->config.hostname, &lease_error))
            g_warning("domain '%s' runs without its lease: %s", obj->name,
                      lease_error->message);
    }
    qemu_process_end_job(state, obj);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Accessors */

ferry_qmp *
qemu_process_get_qmp(ferry_domain_obj *obj, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&obj->lock);
    qemu_domain_priv *priv = obj->priv;

    if (!obj->live || !priv || !priv->qmp || priv->exited) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_INVALID,
                    "domain '%s' is not running", obj->name);
        return NULL;
    }
    return ferry_qmp_ref(priv->qmp);
}

json_object *
qemu_process_command(ferry_domain_obj *obj, const char *command, json_object *arguments,
                     GError **error)
{
    g_autoptr(ferry_qmp) qmp = qemu_process_get_qmp(obj, error);

    if (!qmp)
        return NULL;
    return ferry_qmp_command_sync(qmp, command, arguments, error);
}

guint64
qemu_process_cpu_time(gint64 pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/stat", pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) fields = NULL;
    const char *after;
    long ticks = sysconf(_SC_CLK_TCK);

    if (pid <= 0 || ticks <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    /* The command name may contain spaces: fields start after its ')'. */
    after = strrchr(text, ')');
    if (!after)
        return 0;
    fields = g_strsplit(after + 2, " ", 0);
    /* After ')': state is field 3 of the whole line, utime 14, stime 15. */
    if (g_strv_length(fields) < 13)
        return 0;
    return (g_ascii_strtoull(fields[11], NULL, 10) + g_ascii_strtoull(fields[12], NULL, 10)) *
           (G_TIME_SPAN_SECOND * 1000 / ticks);
}

void
qemu_process_detach(qemu_driver_state *state, ferry_domain_obj *obj)
{
    g_autoptr(ferry_qmp) qmp = NULL;
    GSource *exit_source;
    int pidfd;

    g_mutex_lock(&obj->lock);
    if (!obj->priv) {
        g_mutex_unlock(&obj->lock);
        return;
    }
    qemu_domain_priv *priv = obj->priv;
    qmp = g_steal_pointer(&priv->qmp);
    exit_source = g_steal_pointer(&priv->exit_source);
    pidfd = priv->pidfd;
    priv->pidfd = -1;
    g_clear_object(&priv->proc);
    g_mutex_unlock(&obj->lock);

    if (exit_source) {
        g_source_destroy(exit_source);
        g_source_unref(exit_source);
    }
    if (pidfd >= 0)
        close(pidfd);
    close_qmp(state, g_steal_pointer(&qmp));
}
