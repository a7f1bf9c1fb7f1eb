/*
 * rpc-splice.c: a stream of an RPC connection joined to a local socket
 * (rpc-splice.h says what it owns).
 *
 * Two pumps run on the splice's own thread and GMainContext, so that the
 * stream's completions (which arrive in the context of the thread that
 * started each operation) never wait behind a daemon's other work:
 *
 *   up:   socket --read--> stream_write   (end of file: stream_end)
 *   down: stream_read --> socket write    (the peer's end: shutdown(SHUT_WR))
 *
 * Each pump has exactly one operation pending while it runs, so cancelling
 * the splice's GCancellable ends both.  A socket whose reader went away
 * while the peer still sends (the QEMU on this side closed its end once its
 * migration was complete, and the other QEMU's last return-path messages
 * are on their way) is not an error: the down pump then drains the stream
 * without writing, so that the peer's forward data, still in flight, is not
 * cut short by an abort.
 */
#include "ferry-config.h"

#include <errno.h>
#include <sys/socket.h>

#include "rpc/rpc-splice.h"
#include "util/error.h"

/* Bytes per read on either side: the stream's default data packet. */
#define SPLICE_CHUNK FERRY_RPC_STREAM_DEFAULT_CHUNK

struct ferry_rpc_splice {
    gint ref;
    char *name;
    ferry_rpc_stream *stream;
    GSocket *socket;
    GIOStream *io;
    GMainContext *context;
    GMainLoop *loop;
    GCancellable *cancellable;
    GThread *thread;

    /* Splice thread only. */
    gboolean up_running;
    gboolean down_running;
    gboolean draining;          /* the socket's reader is gone: drop what comes */
    GBytes *pending_out;        /* the data the down pump is writing */

    GMutex lock;
    GCond cond;
    gboolean done;
    char *error;                /* the first breakage */
    guint64 to_stream;
    guint64 to_socket;
};

ferry_rpc_splice *
ferry_rpc_splice_ref(ferry_rpc_splice *splice)
{
    g_atomic_int_inc(&splice->ref);
    return splice;
}

void
ferry_rpc_splice_unref(ferry_rpc_splice *splice)
{
    if (!splice || !g_atomic_int_dec_and_test(&splice->ref))
        return;
    if (splice->thread)
        g_thread_unref(splice->thread);
    g_free(splice->name);
    ferry_rpc_stream_unref(splice->stream);
    g_clear_object(&splice->io);
    g_clear_object(&splice->socket);
    g_main_loop_unref(splice->loop);
    g_main_context_unref(splice->context);
    g_clear_object(&splice->cancellable);
    g_clear_pointer(&splice->pending_out, g_bytes_unref);
    g_mutex_clear(&splice->lock);
    g_cond_clear(&splice->cond);
    g_free(splice->error);
    g_free(splice);
}

/* Splice thread: quits the loop once neither pump runs. */
static void
check_done(ferry_rpc_splice *splice)
{
    if (!splice->up_running && !splice->down_running)
        g_main_loop_quit(splice->loop);
}

/* Splice thread: something broke.  The stream is aborted (the peer's
 * splice closes its socket in turn), this side's socket closed, and the
 * pump still waiting is cancelled. */
static void
splice_fail(ferry_rpc_splice *splice, const char *what, const GError *error)
{
    g_autoptr(GError) reason = g_error_new(error->domain == FERRY_ERROR ? error->domain
                                                                        : FERRY_ERROR,
                                           error->domain == FERRY_ERROR ? error->code
                                                                        : FERRY_ERROR_SYSTEM,
                                           "%s: %s: %s", splice->name, what, error->message);

    g_mutex_lock(&splice->lock);
    if (!splice->error)
        splice->error = g_strdup(reason->message);
    g_mutex_unlock(&splice->lock);
    ferry_rpc_stream_abort(splice->stream, reason);
    g_socket_close(splice->socket, NULL);
    g_cancellable_cancel(splice->cancellable);
}

static void up_read(ferry_rpc_splice *splice);
static void down_read(ferry_rpc_splice *splice);

static void
up_written(GObject *source, GAsyncResult *result, gpointer data)
{
    ferry_rpc_splice *splice = data;
    g_autoptr(GError) error = NULL;

    if (!ferry_rpc_stream_write_finish(splice->stream, result, &error)) {
        splice->up_running = FALSE;
        if (!g_cancellable_is_cancelled(splice->cancellable))
            splice_fail(splice, "sending", error);
        check_done(splice);
        return;
    }
    up_read(splice);
}

static void
up_got(GObject *source, GAsyncResult *result, gpointer data)
{
    ferry_rpc_splice *splice = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;

    bytes = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);
    if (!bytes) {
        splice->up_running = FALSE;
        if (!g_cancellable_is_cancelled(splice->cancellable))
            splice_fail(splice, "reading the local socket", error);
        check_done(splice);
        return;
    }
    if (g_bytes_get_size(bytes) == 0) {
        /* This side's writer is done: the peer reads what was sent, then
         * the end. */
        splice->up_running = FALSE;
        if (!ferry_rpc_stream_end(splice->stream, &error))
            splice_fail(splice, "ending the stream", error);
        check_done(splice);
        return;
    }
    g_mutex_lock(&splice->lock);
    splice->to_stream += g_bytes_get_size(bytes);
    g_mutex_unlock(&splice->lock);
    ferry_rpc_stream_write_async(splice->stream, bytes, splice->cancellable, up_written, splice);
}

static void
up_read(ferry_rpc_splice *splice)
{
    g_input_stream_read_bytes_async(g_io_stream_get_input_stream(splice->io), SPLICE_CHUNK,
                                    G_PRIORITY_DEFAULT, splice->cancellable, up_got, splice);
}

/* Whether a write error means only that nobody reads this socket any more. */
static gboolean
reader_gone(const GError *error)
{
    return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
           g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
           (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_FAILED &&
            g_strrstr(error->message, g_strerror(ECONNRESET)) != NULL);
}

static void
down_written(GObject *source, GAsyncResult *result, gpointer data)
{
    ferry_rpc_splice *splice = data;
    g_autoptr(GError) error = NULL;

    g_clear_pointer(&splice->pending_out, g_bytes_unref);
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        if (g_cancellable_is_cancelled(splice->cancellable)) {
            splice->down_running = FALSE;
            check_done(splice);
            return;
        }
        if (!reader_gone(error)) {
            splice->down_running = FALSE;
            splice_fail(splice, "writing the local socket", error);
            check_done(splice);
            return;
        }
        splice->draining = TRUE;
    }
    down_read(splice);
}

static void
down_got(GObject *source, GAsyncResult *result, gpointer data)
{
    ferry_rpc_splice *splice = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;

    bytes = ferry_rpc_stream_read_finish(splice->stream, result, &error);
    if (!bytes) {
        splice->down_running = FALSE;
        if (!g_cancellable_is_cancelled(splice->cancellable))
            splice_fail(splice, "receiving", error);
        check_done(splice);
        return;
    }
    if (g_bytes_get_size(bytes) == 0) {
        /* The peer's writer is done: this side's reader sees the end. */
        splice->down_running = FALSE;
        if (!splice->draining)
            g_socket_shutdown(splice->socket, FALSE, TRUE, NULL);
        check_done(splice);
        return;
    }
    if (splice->draining) {
        down_read(splice);
        return;
    }
    g_mutex_lock(&splice->lock);
    splice->to_socket += g_bytes_get_size(bytes);
    g_mutex_unlock(&splice->lock);
    splice->pending_out = g_bytes_ref(bytes);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(splice->io),
                                    g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes),
                                    G_PRIORITY_DEFAULT, splice->cancellable, down_written,
                                    splice);
}

static void
down_read(ferry_rpc_splice *splice)
{
    ferry_rpc_stream_read_async(splice->stream, SPLICE_CHUNK, splice->cancellable, down_got,
                                splice);
}

static gpointer
splice_thread(gpointer data)
{
    ferry_rpc_splice *splice = data;

    g_main_context_push_thread_default(splice->context);
    splice->up_running = TRUE;
    splice->down_running = TRUE;
    up_read(splice);
    down_read(splice);
    g_main_loop_run(splice->loop);
    /* Both pumps stopped: whatever the stream still holds is the peer's
     * to finish; the socket is this side's to close. */
    g_socket_close(splice->socket, NULL);
    while (g_main_context_iteration(splice->context, FALSE))
        ;
    g_main_context_pop_thread_default(splice->context);

    g_mutex_lock(&splice->lock);
    splice->done = TRUE;
    g_cond_broadcast(&splice->cond);
    g_mutex_unlock(&splice->lock);
    ferry_rpc_splice_unref(splice);
    return NULL;
}

ferry_rpc_splice *
ferry_rpc_splice_start(const char *name, ferry_rpc_stream *stream, GSocket *socket,
                       GError **error)
{
    g_autoptr(ferry_rpc_splice) splice = g_new0(ferry_rpc_splice, 1);
    GThread *thread;

    splice->ref = 1;
    splice->name = g_strdup(name);
    splice->stream = ferry_rpc_stream_ref(stream);
    splice->socket = g_object_ref(socket);
    g_socket_set_blocking(socket, FALSE);
    splice->io = G_IO_STREAM(g_socket_connection_factory_create_connection(socket));
    splice->context = g_main_context_new();
    splice->loop = g_main_loop_new(splice->context, FALSE);
    splice->cancellable = g_cancellable_new();
    g_mutex_init(&splice->lock);
    g_cond_init(&splice->cond);

    thread = g_thread_try_new("ferry-splice", splice_thread, ferry_rpc_splice_ref(splice),
                              error);
    if (!thread) {
        g_prefix_error(error, "%s: cannot start its thread: ", name);
        ferry_rpc_splice_unref(splice);
        return NULL;
    }
    splice->thread = thread;
    return g_steal_pointer(&splice);
}

gboolean
ferry_rpc_splice_wait(ferry_rpc_splice *splice, gint64 timeout_us)
{
    gint64 deadline = timeout_us < 0 ? G_MAXINT64 : g_get_monotonic_time() + timeout_us;
    gboolean done;

    g_mutex_lock(&splice->lock);
    while (!splice->done) {
        if (timeout_us < 0)
            g_cond_wait(&splice->cond, &splice->lock);
        else if (!g_cond_wait_until(&splice->cond, &splice->lock, deadline))
            break;
    }
    done = splice->done;
    g_mutex_unlock(&splice->lock);
    return done;
}

/* The splice's thread: fails it as ferry_rpc_splice_stop() asked. */
static gboolean
stop_in_thread(gpointer data)
{
    gpointer *args = data;
    ferry_rpc_splice *splice = args[0];
    const GError *reason = args[1];

    if (splice->up_running || splice->down_running)
        splice_fail(splice, "stopped", reason);
    return G_SOURCE_REMOVE;
}

void
ferry_rpc_splice_stop(ferry_rpc_splice *splice, const GError *reason)
{
    gpointer args[2] = { splice, (gpointer)reason };
    gboolean done;

    g_mutex_lock(&splice->lock);
    done = splice->done;
    g_mutex_unlock(&splice->lock);
    if (!done) {
        g_autoptr(GSource) source = g_idle_source_new();

        g_source_set_callback(source, stop_in_thread, args, NULL);
        g_source_attach(source, splice->context);
        /* The source may never run if the loop quit meanwhile: the wait
         * ends on done either way, and the source goes with the context. */
        ferry_rpc_splice_wait(splice, -1);
        g_source_destroy(source);
    }
}

char *
ferry_rpc_splice_get_error(ferry_rpc_splice *splice)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&splice->lock);

    return g_strdup(splice->error);
}

void
ferry_rpc_splice_get_counts(ferry_rpc_splice *splice, guint64 *ret_to_stream,
                            guint64 *ret_to_socket)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&splice->lock);

    if (ret_to_stream)
        *ret_to_stream = splice->to_stream;
    if (ret_to_socket)
        *ret_to_socket = splice->to_socket;
}
