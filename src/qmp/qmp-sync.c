/*
 * qmp-sync.c: the *_sync() calls of qmp.h, built on the async API.
 *
 * Owns: waiting for one async call from any thread.  A thread that can own
 * the monitor's context (it already does, or nobody does) iterates it until
 * the call completes; any other thread hands the call to the thread
 * iterating the context (qmp.c does that for every entry point) and sleeps
 * on a condition until the callback, run there, signals it.
 * Must not: touch the monitor's internals; sleep without a condition.
 */
#include "ferry-config.h"

#include "qmp/qmp.h"

typedef struct {
    GMutex lock;
    GCond cond;
    GAsyncResult *result;
} qmp_sync;

static void
qmp_sync_clear(gpointer data)
{
    qmp_sync *s = data;

    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
    g_clear_object(&s->result);
}

static void
qmp_sync_release(qmp_sync *s)
{
    g_atomic_rc_box_release_full(s, qmp_sync_clear);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(qmp_sync, qmp_sync_release)

static qmp_sync *
qmp_sync_new(void)
{
    qmp_sync *s = g_atomic_rc_box_new0(qmp_sync);

    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    return s;
}

/* The async callback; user_data holds a reference of its own. */
static void
qmp_sync_done(GObject *source, GAsyncResult *result, gpointer data)
{
    qmp_sync *s = data;

    g_mutex_lock(&s->lock);
    s->result = g_object_ref(result);
    g_cond_signal(&s->cond);
    g_mutex_unlock(&s->lock);
    qmp_sync_release(s);
}

static gboolean
qmp_sync_is_done(qmp_sync *s)
{
    gboolean done;

    g_mutex_lock(&s->lock);
    done = s->result != NULL;
    g_mutex_unlock(&s->lock);
    return done;
}

/*
 * Begins a sync call: when this thread can own the context it does, and
 * qmp_sync_wait() will iterate it; otherwise the work goes to the thread
 * iterating it and qmp_sync_wait() sleeps on the condition.
 */
static gboolean
qmp_sync_begin(ferry_qmp *qmp)
{
    if (!g_main_context_acquire(ferry_qmp_get_context(qmp)))
        return FALSE;
    g_main_context_push_thread_default(ferry_qmp_get_context(qmp));
    return TRUE;
}

static GAsyncResult *
qmp_sync_wait(ferry_qmp *qmp, qmp_sync *s, gboolean owner)
{
    if (owner) {
        while (!qmp_sync_is_done(s))
            g_main_context_iteration(ferry_qmp_get_context(qmp), TRUE);
        g_main_context_pop_thread_default(ferry_qmp_get_context(qmp));
        g_main_context_release(ferry_qmp_get_context(qmp));
    } else {
        g_mutex_lock(&s->lock);
        while (!s->result)
            g_cond_wait(&s->cond, &s->lock);
        g_mutex_unlock(&s->lock);
    }
    return s->result;
}

gboolean
ferry_qmp_connect_sync(ferry_qmp *qmp, const char *path, guint timeout_ms, GError **error)
{
    g_autoptr(qmp_sync) s = qmp_sync_new();
    gboolean owner;

    g_return_val_if_fail(qmp != NULL, FALSE);
    g_return_val_if_fail(path != NULL, FALSE);
    owner = qmp_sync_begin(qmp);
    ferry_qmp_connect_async(qmp, path, timeout_ms, NULL, qmp_sync_done, g_atomic_rc_box_acquire(s));
    return ferry_qmp_connect_finish(qmp, qmp_sync_wait(qmp, s, owner), error);
}

json_object *
ferry_qmp_command_sync_fd(ferry_qmp *qmp, const char *command, json_object *arguments, int fd,
                          GError **error)
{
    g_autoptr(qmp_sync) s = qmp_sync_new();
    gboolean owner;

    g_return_val_if_fail(qmp != NULL, NULL);
    g_return_val_if_fail(command != NULL, NULL);
    owner = qmp_sync_begin(qmp);
    ferry_qmp_command_async(qmp, command, arguments, fd, NULL, qmp_sync_done,
                            g_atomic_rc_box_acquire(s));
    return ferry_qmp_command_finish(qmp, qmp_sync_wait(qmp, s, owner), error);
}

json_object *
ferry_qmp_command_sync(ferry_qmp *qmp, const char *command, json_object *arguments,
                       GError **error)
{
    return ferry_qmp_command_sync_fd(qmp, command, arguments, -1, error);
}
