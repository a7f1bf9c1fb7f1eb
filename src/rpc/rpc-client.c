/*
 * rpc-client.c: a connection to a ferryd, with its own I/O thread.
 *
 * Owns: connecting, the I/O thread and its GMainContext, the table of
 * pending calls (synchronous and asynchronous alike), matching replies to
 * them and failing them when the connection ends.  Must not interpret
 * procedures nor log above debug.
 *
 * Threads and locking: the channel, the event callback, and the timeouts
 * and cancellations of asynchronous calls run in the I/O thread.  `lock`
 * guards `pending`, `next_serial`, `closed` and the outcome of every
 * pending call.  A synchronous caller waits in its own thread on its call's
 * GCond; an asynchronous call's GTask is returned outside the lock by the
 * thread that completed it, and GTask runs the callback in the caller's
 * context.  Neither the I/O thread nor a pending call holds a reference on
 * the client: the last unref closes the connection, which fails every call
 * still pending, and joins the thread.
 */
#include "ferry-config.h"

#include <gio/gunixsocketaddress.h>

#include "rpc/rpc-channel.h"
#include "rpc/rpc-client.h"
#include "rpc/rpc-stream.h"
#include "rpc/rpc-tls.h"
#include "util/error.h"

#define DEFAULT_KEEPALIVE_MS 5000
#define DEFAULT_CONNECT_TIMEOUT_S 30

struct ferry_rpc_client {
    gint ref;
    char *desc;
    ferry_rpc_client_config config;
    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    ferry_rpc_channel *chan;
    ferry_rpc_stream_table *streams; /* streams of calls made with call_stream_async */
    GSubprocess *proc;          /* a command carrying the stream (ssh), or NULL */
    gboolean heard;             /* I/O thread: a valid packet came from the peer */

    GMutex lock;
    GHashTable *pending;        /* serial -> pending_call*, holding a reference */
    guint32 next_serial;
    GError *closed;             /* why the connection ended, once it has */
};

/*
 * A call sent and not answered yet; one record for both kinds, so that
 * matching replies, timing out and failing on close are written once.  A
 * synchronous caller waits on `cond`; an asynchronous call has a `task`,
 * returned when the call completes.  References: the pending table's (the
 * completion takes it over), the caller's while it uses the record, and one
 * for each source watching an asynchronous call.
 */
typedef struct {
    gint ref;                   /* atomic */
    ferry_rpc_client *client;   /* not a reference: see the top of the file */
    guint32 serial;
    guint32 procedure;
    guint timeout_ms;
    gboolean done;              /* lock: and so out of the table */
    GBytes *reply;              /* lock: the outcome, until taken */
    GError *error;
    GCond cond;                 /* synchronous calls wait on it */
    GTask *task;                /* asynchronous calls: returned once done */
    GSource *timeout_source;    /* asynchronous calls, in the I/O context */
    /* Asynchronous calls: the caller's cancellable and our handler on it.
     * Not a GCancellableSource: GLib 2.74 can leak one whose cancellable is
     * cancelled in another thread while the source is being destroyed. */
    GCancellable *cancellable;
    gulong cancel_handler;
} pending_call;

static pending_call *
pending_new(ferry_rpc_client *client, guint32 procedure, guint timeout_ms, GTask *task)
{
    pending_call *pc = g_new0(pending_call, 1);

    pc->ref = 1;
    pc->client = client;
    pc->procedure = procedure;
    pc->timeout_ms = timeout_ms;
    pc->task = task;
    g_cond_init(&pc->cond);
    return pc;
}

static pending_call *
pending_ref(pending_call *pc)
{
    g_atomic_int_inc(&pc->ref);
    return pc;
}

static void
pending_unref(pending_call *pc)
{
    if (!g_atomic_int_dec_and_test(&pc->ref))
        return;
    /* The sources hold references: they are gone by now. */
    g_cond_clear(&pc->cond);
    g_clear_pointer(&pc->reply, g_bytes_unref);
    g_clear_error(&pc->error);
    g_clear_object(&pc->task);
    g_clear_object(&pc->cancellable);
    g_free(pc);
}

static GError *
timeout_error(pending_call *pc)
{
    return g_error_new(FERRY_ERROR, FERRY_ERROR_TIMEOUT, "%s did not answer %s within %u ms",
                       pc->client->desc, ferry_rpc_procedure_name(pc->procedure),
                       pc->timeout_ms);
}

static GError *
cancelled_error(guint32 procedure)
{
    return g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED, "call %s cancelled",
                       ferry_rpc_procedure_name(procedure));
}

/*
 * With the lock held: records the outcome of @pc (@reply or @error, taken)
 * and takes it out of the table, unless it is done already (a reply racing
 * a timeout or a cancellation: the first wins).  The table's reference goes
 * to @completed, for deliver() to finish once the lock is released.
 */
static void
complete_locked(ferry_rpc_client *client, pending_call *pc, GBytes *reply, GError *error,
                GPtrArray *completed)
{
    if (pc->done) {
        g_clear_pointer(&reply, g_bytes_unref);
        g_clear_error(&error);
        return;
    }
    g_hash_table_remove(client->pending, GUINT_TO_POINTER(pc->serial));
    pc->reply = reply;
    pc->error = error;
    pc->done = TRUE;
    g_cond_signal(&pc->cond);
    g_ptr_array_add(completed, pc);
}

/*
 * Without the lock: returns the tasks of the asynchronous calls of
 * @completed (GTask runs their callbacks in their callers' contexts, or at
 * once when that is this thread dispatching) and drops the table's
 * references.  A synchronous caller was woken already and takes its
 * outcome itself.
 */
static void
deliver(GPtrArray *completed)
{
    for (guint i = 0; i < completed->len; i++) {
        pending_call *pc = g_ptr_array_index(completed, i);

        if (pc->task) {
            if (pc->timeout_source) {
                g_source_destroy(pc->timeout_source);
                g_clear_pointer(&pc->timeout_source, g_source_unref);
            }
            if (pc->cancellable) {
                /* Waits for a handler running in another thread: it only
                 * schedules an idle and takes no lock. */
                g_cancellable_disconnect(pc->cancellable, pc->cancel_handler);
                g_clear_object(&pc->cancellable);
            }
            if (pc->error)
                g_task_return_error(pc->task, g_steal_pointer(&pc->error));
            else
                g_task_return_pointer(pc->task, g_steal_pointer(&pc->reply),
                                      (GDestroyNotify)g_bytes_unref);
            g_clear_object(&pc->task);
        }
        pending_unref(pc);
    }
    g_ptr_array_set_size(completed, 0);
}

/* Fails @pc with @error (taken) if it is still pending; any thread. */
static void
abandon(pending_call *pc, GError *error)
{
    ferry_rpc_client *client = pc->client;
    g_autoptr(GPtrArray) completed = g_ptr_array_new();

    g_mutex_lock(&client->lock);
    complete_locked(client, pc, NULL, error, completed);
    g_mutex_unlock(&client->lock);
    deliver(completed);
}

/* ------------------------------------------------------------------------ */
/* The I/O thread                                                            */
/* ------------------------------------------------------------------------ */

static void
handle_reply(ferry_rpc_client *client, const Ferry__Packet *packet)
{
    g_autoptr(GPtrArray) completed = g_ptr_array_new();
    g_autoptr(GError) failed = NULL;
    pending_call *pc;

    g_mutex_lock(&client->lock);
    pc = g_hash_table_lookup(client->pending, GUINT_TO_POINTER(packet->serial));
    if (!pc) {
        g_mutex_unlock(&client->lock);
        g_debug("%s: reply to serial %u that nobody waits for (timed out or cancelled?)",
                client->desc, packet->serial);
        return;
    }
    if (packet->procedure != pc->procedure) {
        complete_locked(client, pc, NULL,
                        g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                    "%s answered call %u of %s with a reply of %s",
                                    client->desc, packet->serial,
                                    ferry_rpc_procedure_name(pc->procedure),
                                    ferry_rpc_procedure_name(packet->procedure)),
                        completed);
    } else if (packet->status == FERRY__PACKET_STATUS__OK) {
        complete_locked(client, pc, ferry_rpc_packet_body(packet), NULL, completed);
    } else if (packet->status == FERRY__PACKET_STATUS__ERROR) {
        g_autoptr(GBytes) body = ferry_rpc_packet_body(packet);

        failed = ferry_rpc_error_unpack(body, packet->procedure);
        complete_locked(client, pc, NULL, g_error_copy(failed), completed);
    } else {
        failed = g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                             "%s answered %s with status %u, which only streams use",
                             client->desc, ferry_rpc_procedure_name(pc->procedure),
                             (guint)packet->status);
        complete_locked(client, pc, NULL, g_error_copy(failed), completed);
    }
    g_mutex_unlock(&client->lock);
    deliver(completed);
    /* The call's stream, if it has one, ends with a failed call, or with a
     * successful one that did not open it. */
    ferry_rpc_stream_table_call_replied(client->streams, packet->serial, failed, TRUE);
}

static void
on_packet(ferry_rpc_channel *chan, const Ferry__Packet *packet, gpointer user_data)
{
    ferry_rpc_client *client = user_data;

    client->heard = TRUE;
    switch (packet->type) {
    case FERRY__PACKET_TYPE__REPLY:
        handle_reply(client, packet);
        return;
    case FERRY__PACKET_TYPE__STREAM:
        /* A bad one aborts its stream only; the connection goes on. */
        ferry_rpc_stream_table_handle_packet(client->streams, packet);
        return;
    case FERRY__PACKET_TYPE__EVENT:
        if (client->config.event_func) {
            g_autoptr(GBytes) body = ferry_rpc_packet_body(packet);

            client->config.event_func(client, packet->procedure, body,
                                      client->config.event_data);
        }
        return;
    default:
        ferry_rpc_channel_close(chan, g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                                  "%s sent an unexpected CALL packet (%s)",
                                                  client->desc,
                                                  ferry_rpc_procedure_name(packet->procedure)));
        return;
    }
}

static void
on_closed(ferry_rpc_channel *chan, const GError *reason, gpointer user_data)
{
    ferry_rpc_client *client = user_data;
    g_autoptr(GPtrArray) completed = g_ptr_array_new();
    /* What a stranger answered (an HTTP server's "HTTP", read as a frame
     * length) must not come back in errors and logs: a URI can point a
     * daemon at any server. */
    const char *why = !client->heard && g_error_matches(reason, FERRY_ERROR, FERRY_ERROR_RPC)
                      ? "it is not a ferry daemon (what it sent is not ferry's protocol)"
                      : reason->message;
    g_autoptr(GError) lost = NULL;
    GList *calls;

    g_debug("%s: connection closed: %s", client->desc, why);
    g_mutex_lock(&client->lock);
    client->closed = g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                 "connection to %s lost: %s", client->desc, why);
    /* Completing takes a call out of the table: walk a list of them. */
    calls = g_hash_table_get_values(client->pending);
    for (GList *l = calls; l; l = l->next)
        complete_locked(client, l->data, NULL, g_error_copy(client->closed), completed);
    g_list_free(calls);
    lost = g_error_copy(client->closed);
    g_mutex_unlock(&client->lock);
    deliver(completed);
    ferry_rpc_stream_table_close_all(client->streams, lost);
}

static gpointer
io_thread(gpointer data)
{
    ferry_rpc_client *client = data;

    g_main_context_push_thread_default(client->context);
    ferry_rpc_channel_start(client->chan);
    g_main_loop_run(client->loop);
    /* The last unref: fails the calls still pending. */
    ferry_rpc_channel_close(client->chan, NULL);
    while (ferry_rpc_channel_is_busy(client->chan))
        g_main_context_iteration(client->context, TRUE);
    /* GTask queues the callbacks of asynchronous calls made from this
     * thread (an event callback) here: the loop above has usually run
     * them, but not when the channel closed earlier and was idle; they run
     * now, while the client is still there, rather than never. */
    while (g_main_context_iteration(client->context, FALSE))
        ;
    g_main_context_pop_thread_default(client->context);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Connecting                                                                */
/* ------------------------------------------------------------------------ */

/* A STREAM packet refused (the daemon got an abort naming the stream). */
static void
on_stream_refusal(const char *message, gpointer user_data)
{
    ferry_rpc_client *client = user_data;

    g_debug("%s: %s", client->desc, message);
}

/* Builds the client around a connected stream and starts its thread. */
static ferry_rpc_client *
client_new(GIOStream *stream, char *desc, const ferry_rpc_client_config *config)
{
    ferry_rpc_client *client = g_new0(ferry_rpc_client, 1);
    ferry_rpc_channel_config chan_config = { 0 };

    client->ref = 1;
    client->desc = desc;
    if (config)
        client->config = *config;
    if (!client->config.max_frame)
        client->config.max_frame = FERRY_RPC_DEFAULT_MAX_FRAME;
    if (!client->config.keepalive_interval_ms)
        client->config.keepalive_interval_ms = DEFAULT_KEEPALIVE_MS;
    chan_config.max_frame = client->config.max_frame;
    chan_config.keepalive_count = client->config.keepalive_count;
    chan_config.frame_timeout_ms = client->config.frame_timeout_ms
                                       ? client->config.frame_timeout_ms
                                       : FERRY_RPC_DEFAULT_FRAME_TIMEOUT_MS;
    if (client->config.keepalive_interval_ms != FERRY_RPC_KEEPALIVE_OFF)
        chan_config.keepalive_interval_ms = client->config.keepalive_interval_ms;

    g_mutex_init(&client->lock);
    client->pending = g_hash_table_new(NULL, NULL);
    client->context = g_main_context_new();
    client->loop = g_main_loop_new(client->context, FALSE);
    client->chan = ferry_rpc_channel_new(stream, client->context, &chan_config,
                                         on_packet, on_closed, client);
    client->streams = ferry_rpc_stream_table_new(client->chan, client->config.max_frame,
                                                 client->config.max_streams,
                                                 on_stream_refusal, client);
    client->thread = g_thread_new("ferry-rpc-client", io_thread, client);
    return client;
}

static GSocketClient *
socket_client_new(const ferry_rpc_client_config *config)
{
    GSocketClient *sc = g_socket_client_new();
    guint timeout = config && config->connect_timeout_s ? config->connect_timeout_s
                                                         : DEFAULT_CONNECT_TIMEOUT_S;

    g_socket_client_set_timeout(sc, timeout);
    /* A daemon is reached directly, never through an HTTP or SOCKS proxy. */
    g_socket_client_set_enable_proxy(sc, FALSE);
    return sc;
}

/* The connect timeout also applies to the socket's I/O: lift it. */
static void
clear_io_timeout(GSocketConnection *conn)
{
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 0);
}

ferry_rpc_client *
ferry_rpc_client_new_unix(const char *path, const ferry_rpc_client_config *config,
                          GError **error)
{
    g_autoptr(GSocketClient) sc = socket_client_new(config);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) local = NULL;

    conn = g_socket_client_connect(sc, G_SOCKET_CONNECTABLE(addr), NULL, &local);
    if (!conn) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "cannot connect to ferryd at UNIX socket '%s': %s", path,
                    local->message);
        return NULL;
    }
    clear_io_timeout(conn);
    return client_new(G_IO_STREAM(conn), g_strdup_printf("ferryd at UNIX socket '%s'", path),
                      config);
}

/* A TCP connection to @host:@port (@what: "TCP" or "TLS"), with the
 * connect timeout still set on its socket. */
static GSocketConnection *
connect_tcp(const char *host, guint16 port, const char *what,
            const ferry_rpc_client_config *config, GError **error)
{
    g_autoptr(GSocketClient) sc = socket_client_new(config);
    g_autoptr(GError) local = NULL;
    GSocketConnection *conn = g_socket_client_connect_to_host(sc, host, port, NULL, &local);

    if (!conn)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "cannot connect to ferryd at %s %s port %u: %s", what, host, port,
                    local->message);
    return conn;
}

ferry_rpc_client *
ferry_rpc_client_new_tcp(const char *host, guint16 port,
                         const ferry_rpc_client_config *config, GError **error)
{
    g_autoptr(GSocketConnection) conn = connect_tcp(host, port, "TCP", config, error);

    if (!conn)
        return NULL;
    clear_io_timeout(conn);
    return client_new(G_IO_STREAM(conn), g_strdup_printf("ferryd at TCP %s port %u", host, port),
                      config);
}

ferry_rpc_client *
ferry_rpc_client_new_command(const char *const *argv, const char *desc,
                             const ferry_rpc_client_config *config, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GIOStream) stream = NULL;
    ferry_rpc_client *client;

    proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                       G_SUBPROCESS_FLAGS_STDOUT_PIPE, &local);
    if (!proc) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT, "cannot reach %s: cannot run "
                    "'%s': %s", desc, argv[0], local->message);
        return NULL;
    }
    stream = g_simple_io_stream_new(g_subprocess_get_stdout_pipe(proc),
                                    g_subprocess_get_stdin_pipe(proc));
    client = client_new(stream, g_strdup(desc), config);
    client->proc = g_steal_pointer(&proc);
    return client;
}

ferry_rpc_client *
ferry_rpc_client_new_tls(const char *host, guint16 port, ferry_rpc_tls *tls,
                         const ferry_rpc_client_config *config, GError **error)
{
    g_autoptr(GSocketConnection) conn = connect_tcp(host, port, "TLS", config, error);
    g_autoptr(GIOStream) stream = NULL;

    if (!conn)
        return NULL;
    /* The connect timeout still bounds the handshake: a server that takes
     * the connection and says nothing is not waited for forever. */
    stream = ferry_rpc_tls_client_handshake(tls, conn, host, port, error);
    if (!stream)
        return NULL;
    clear_io_timeout(conn);
    return client_new(stream, g_strdup_printf("ferryd at TLS %s port %u", host, port), config);
}

/* ------------------------------------------------------------------------ */
/* Use                                                                       */
/* ------------------------------------------------------------------------ */

ferry_rpc_client *
ferry_rpc_client_ref(ferry_rpc_client *client)
{
    g_atomic_int_inc(&client->ref);
    return client;
}

static gboolean
quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void
ferry_rpc_client_unref(ferry_rpc_client *client)
{
    g_autoptr(GSource) quit = NULL;

    if (!client || !g_atomic_int_dec_and_test(&client->ref))
        return;
    g_return_if_fail(g_thread_self() != client->thread);

    /* A source, not g_main_loop_quit(): the loop may not run yet. */
    quit = g_idle_source_new();
    g_source_set_callback(quit, quit_loop, client->loop, NULL);
    g_source_attach(quit, client->context);
    g_thread_join(client->thread);

    /* Closing failed every pending call, and nobody can start one now. */
    g_assert(g_hash_table_size(client->pending) == 0);
    g_hash_table_unref(client->pending);
    g_clear_error(&client->closed);
    g_mutex_clear(&client->lock);
    ferry_rpc_stream_table_unref(client->streams);
    ferry_rpc_channel_unref(client->chan);
    g_main_loop_unref(client->loop);
    g_main_context_unref(client->context);
    if (client->proc) {
        /* Its pipes are closed: ssh ends by itself; a stuck one is ended. */
        if (!g_subprocess_get_if_exited(client->proc))
            g_subprocess_force_exit(client->proc);
        g_subprocess_wait(client->proc, NULL, NULL);
        g_object_unref(client->proc);
    }
    g_free(client->desc);
    g_free(client);
}

const char *
ferry_rpc_client_get_description(ferry_rpc_client *client)
{
    return client->desc;
}

gboolean
ferry_rpc_client_is_alive(ferry_rpc_client *client)
{
    gboolean alive;

    g_mutex_lock(&client->lock);
    alive = client->closed == NULL;
    g_mutex_unlock(&client->lock);
    return alive;
}

void
ferry_rpc_client_close(ferry_rpc_client *client)
{
    ferry_rpc_channel_close(client->chan, NULL);
}

/* A call the daemon would hang up on is refused here instead. */
static gboolean
check_call_size(ferry_rpc_client *client, GBytes *frame, guint32 procedure,
                GError **error)
{
    g_autofree char *what = g_strdup_printf("the call %s",
                                            ferry_rpc_procedure_name(procedure));

    return ferry_rpc_frame_check_size(frame, client->config.max_frame, what, error);
}

/* Watches an asynchronous call from the I/O context; the source holds a
 * reference on @pc. */
static GSource *
watch_call(pending_call *pc, GSource *source, GSourceFunc func)
{
    g_source_set_callback(source, func, pending_ref(pc), (GDestroyNotify)pending_unref);
    g_source_attach(source, pc->client->context);
    return source;
}

static gboolean
on_call_timeout(gpointer data)
{
    pending_call *pc = data;

    abandon(pc, timeout_error(pc));
    return G_SOURCE_REMOVE;
}

static gboolean
on_call_cancelled(gpointer data)
{
    pending_call *pc = data;

    abandon(pc, cancelled_error(pc->procedure));
    return G_SOURCE_REMOVE;
}

/* The cancellable's "cancelled" signal, in whatever thread cancels (or at
 * once, in send_call, under the client's lock): the call is failed from
 * the I/O thread. */
static void
on_cancel_signal(GCancellable *cancellable, gpointer data)
{
    g_autoptr(GSource) idle = g_idle_source_new();

    watch_call(data, idle, on_call_cancelled);
}

/*
 * Enters @pc in the table and sends its CALL; for an asynchronous call,
 * also starts its timeout and its watch on @cancellable; with @ret_stream,
 * opens the call's stream first, so that the daemon's answer on it cannot
 * come before it is known.  Fails, with nothing pending, if the connection
 * is gone, the call too big or the stream refused.
 */
static gboolean
send_call(ferry_rpc_client *client, pending_call *pc, GBytes *args,
          GCancellable *cancellable, const ferry_rpc_stream_config *stream_config,
          ferry_rpc_stream **ret_stream, GError **error)
{
    g_autoptr(GBytes) frame = NULL;

    g_mutex_lock(&client->lock);
    if (client->closed) {
        g_propagate_error(error, g_error_copy(client->closed));
        g_mutex_unlock(&client->lock);
        return FALSE;
    }
    pc->serial = ++client->next_serial;
    if (pc->serial == 0)
        pc->serial = ++client->next_serial;
    frame = ferry_rpc_frame_new(pc->procedure, FERRY__PACKET_TYPE__CALL, pc->serial,
                                FERRY__PACKET_STATUS__OK, args);
    if (!check_call_size(client, frame, pc->procedure, error)) {
        g_mutex_unlock(&client->lock);
        return FALSE;
    }
    if (ret_stream) {
        *ret_stream = ferry_rpc_stream_table_open(client->streams, pc->procedure, pc->serial,
                                                  stream_config, TRUE, error);
        if (!*ret_stream) {
            g_mutex_unlock(&client->lock);
            return FALSE;
        }
    }
    g_hash_table_insert(client->pending, GUINT_TO_POINTER(pc->serial), pending_ref(pc));
    /* Under the lock, so that whoever completes the call (after taking the
     * lock) finds its sources set. */
    if (pc->task && pc->timeout_ms)
        pc->timeout_source = watch_call(pc, g_timeout_source_new(pc->timeout_ms),
                                        on_call_timeout);
    if (pc->task && cancellable) {
        pc->cancellable = g_object_ref(cancellable);
        pc->cancel_handler = g_cancellable_connect(cancellable, G_CALLBACK(on_cancel_signal),
                                                   pending_ref(pc),
                                                   (GDestroyNotify)pending_unref);
    }
    /* If the channel is already closed, its closed callback fails the call. */
    ferry_rpc_channel_send(client->chan, frame);
    g_mutex_unlock(&client->lock);
    return TRUE;
}

GBytes *
ferry_rpc_client_call(ferry_rpc_client *client, guint32 procedure, GBytes *args,
                      guint timeout_ms, GError **error)
{
    g_autoptr(GPtrArray) completed = g_ptr_array_new();
    gint64 end_us = timeout_ms ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : 0;
    pending_call *pc;
    GBytes *reply;
    GError *local;

    g_return_val_if_fail(g_thread_self() != client->thread, NULL);

    pc = pending_new(client, procedure, timeout_ms, NULL);
    if (!send_call(client, pc, args, NULL, NULL, NULL, error)) {
        pending_unref(pc);
        return NULL;
    }
    g_mutex_lock(&client->lock);
    while (!pc->done) {
        if (!end_us)
            g_cond_wait(&pc->cond, &client->lock);
        else if (!g_cond_wait_until(&pc->cond, &client->lock, end_us))
            complete_locked(client, pc, NULL, timeout_error(pc), completed);
    }
    reply = g_steal_pointer(&pc->reply);
    local = g_steal_pointer(&pc->error);
    g_mutex_unlock(&client->lock);
    deliver(completed);
    pending_unref(pc);

    if (local) {
        g_propagate_error(error, local);
        return NULL;
    }
    return reply;
}

ProtobufCMessage *
ferry_rpc_client_call_message(ferry_rpc_client *client, guint32 procedure,
                              const ProtobufCMessage *args, guint timeout_ms,
                              GError **error)
{
    const ProtobufCMessageDescriptor *ret_desc = ferry_rpc_procedure_ret(procedure);
    g_autoptr(GBytes) packed = NULL;
    g_autoptr(GBytes) reply = NULL;
    g_autofree char *what = NULL;

    g_return_val_if_fail(ret_desc != NULL, NULL);
    g_return_val_if_fail(args->descriptor == ferry_rpc_procedure_args(procedure), NULL);

    packed = ferry_rpc_message_pack(args);
    reply = ferry_rpc_client_call(client, procedure, packed, timeout_ms, error);
    if (!reply)
        return NULL;
    what = g_strdup_printf("the reply of %s to %s", client->desc,
                           ferry_rpc_procedure_name(procedure));
    return ferry_rpc_message_unpack(ret_desc, reply, what, error);
}

/* ------------------------------------------------------------------------ */
/* Asynchronous calls                                                        */
/* ------------------------------------------------------------------------ */

void
ferry_rpc_client_call_async(ferry_rpc_client *client, guint32 procedure, GBytes *args,
                            guint timeout_ms, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task;
    pending_call *pc;
    GError *error = NULL;

    g_return_if_fail(client != NULL);

    /* No cancellable for GTask itself: it would turn a reply that came
     * before the cancellation into G_IO_ERROR_CANCELLED. */
    task = g_task_new(NULL, NULL, callback, user_data);
    g_task_set_source_tag(task, ferry_rpc_client_call_async);
    if (g_cancellable_is_cancelled(cancellable)) {
        /* GTask defers the callback: never from inside this function. */
        g_task_return_error(task, cancelled_error(procedure));
        g_object_unref(task);
        return;
    }
    pc = pending_new(client, procedure, timeout_ms, task);
    if (!send_call(client, pc, args, cancellable, NULL, NULL, &error))
        g_task_return_error(task, error);
    pending_unref(pc);
}

ferry_rpc_stream *
ferry_rpc_client_call_stream_async(ferry_rpc_client *client, guint32 procedure, GBytes *args,
                                   const ferry_rpc_stream_config *config,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
    ferry_rpc_stream *stream = NULL;
    pending_call *pc;
    GError *error = NULL;
    GTask *task;

    g_return_val_if_fail(client != NULL, NULL);

    task = g_task_new(NULL, NULL, callback, user_data);
    /* Its outcome is a call's: ferry_rpc_client_call_finish() takes it. */
    g_task_set_source_tag(task, ferry_rpc_client_call_async);
    pc = pending_new(client, procedure, 0, task);
    if (!send_call(client, pc, args, NULL, config, &stream, &error)) {
        stream = ferry_rpc_stream_new_failed(procedure, error);
        g_task_return_error(task, error);
    }
    pending_unref(pc);
    return stream;
}

GBytes *
ferry_rpc_client_call_finish(ferry_rpc_client *client, GAsyncResult *result, GError **error)
{
    /* @client may be gone by now (see the header): it is not used. */
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) ==
                         ferry_rpc_client_call_async, NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* What an asynchronous message call keeps until its reply is unpacked. */
typedef struct {
    ferry_rpc_client *client;   /* not a reference: only passed on */
    const ProtobufCMessageDescriptor *ret_desc;
    char *what;                 /* how unpacking errors name the reply */
} message_call;

static void
message_call_free(message_call *mc)
{
    g_free(mc->what);
    g_free(mc);
}

static void
on_message_reply(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autoptr(GTask) task = data;
    message_call *mc = g_task_get_task_data(task);
    g_autoptr(GBytes) reply = NULL;
    ProtobufCMessage *msg;
    GError *error = NULL;

    reply = ferry_rpc_client_call_finish(mc->client, result, &error);
    if (!reply) {
        g_task_return_error(task, error);
        return;
    }
    msg = ferry_rpc_message_unpack(mc->ret_desc, reply, mc->what, &error);
    if (msg)
        g_task_return_pointer(task, msg, (GDestroyNotify)ferry_rpc_message_free);
    else
        g_task_return_error(task, error);
}

void
ferry_rpc_client_call_message_async(ferry_rpc_client *client, guint32 procedure,
                                    const ProtobufCMessage *args, guint timeout_ms,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    const ProtobufCMessageDescriptor *ret_desc = ferry_rpc_procedure_ret(procedure);
    g_autoptr(GBytes) packed = NULL;
    message_call *mc;
    GTask *task;

    g_return_if_fail(ret_desc != NULL);
    g_return_if_fail(args->descriptor == ferry_rpc_procedure_args(procedure));

    task = g_task_new(NULL, NULL, callback, user_data);
    g_task_set_source_tag(task, ferry_rpc_client_call_message_async);
    mc = g_new0(message_call, 1);
    mc->client = client;
    mc->ret_desc = ret_desc;
    mc->what = g_strdup_printf("the reply of %s to %s", client->desc,
                               ferry_rpc_procedure_name(procedure));
    g_task_set_task_data(task, mc, (GDestroyNotify)message_call_free);
    packed = ferry_rpc_message_pack(args);
    /* The inner call's callback runs in this thread's context too: so does
     * the outer one, returned from it. */
    ferry_rpc_client_call_async(client, procedure, packed, timeout_ms, cancellable,
                                on_message_reply, task);
}

ProtobufCMessage *
ferry_rpc_client_call_message_finish(ferry_rpc_client *client, GAsyncResult *result,
                                     GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) ==
                         ferry_rpc_client_call_message_async, NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
