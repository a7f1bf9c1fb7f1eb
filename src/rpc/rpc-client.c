/*
 * rpc-client.c: a connection to a ferryd, with its own I/O thread.
 *
 * Owns: connecting, the I/O thread and its GMainContext, the table of
 * pending calls and matching replies to them.  Must not interpret
 * procedures nor log above debug.
 *
 * Threads and locking: the channel and the event callback run in the I/O
 * thread; callers wait in their own threads on a per-call GCond under
 * `lock`, which guards `pending`, `next_serial` and `closed`.  The I/O
 * thread does not hold a reference: the last unref stops and joins it.
 */
#include "ferry-config.h"

#include <gio/gunixsocketaddress.h>

#include "rpc/rpc-channel.h"
#include "rpc/rpc-client.h"
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

    GMutex lock;
    GHashTable *pending;        /* serial -> pending_call*, on the callers' stacks */
    guint32 next_serial;
    GError *closed;             /* why the connection ended, once it has */
};

typedef struct {
    GCond cond;
    gboolean done;
    guint32 procedure;
    GBytes *reply;
    GError *error;
} pending_call;

/* ------------------------------------------------------------------------ */
/* The I/O thread                                                            */
/* ------------------------------------------------------------------------ */

static void
complete_call(pending_call *pc, GBytes *reply, GError *error)
{
    pc->reply = reply;
    pc->error = error;
    pc->done = TRUE;
    g_cond_signal(&pc->cond);
}

static void
handle_reply(ferry_rpc_client *client, const Ferry__Packet *packet)
{
    pending_call *pc;

    g_mutex_lock(&client->lock);
    pc = g_hash_table_lookup(client->pending, GUINT_TO_POINTER(packet->serial));
    if (!pc) {
        g_mutex_unlock(&client->lock);
        g_debug("%s: reply to serial %u that nobody waits for (timed out?)",
                client->desc, packet->serial);
        return;
    }
    g_hash_table_remove(client->pending, GUINT_TO_POINTER(packet->serial));
    if (packet->procedure != pc->procedure) {
        complete_call(pc, NULL,
                      g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                  "%s answered call %u of %s with a reply of %s",
                                  client->desc, packet->serial,
                                  ferry_rpc_procedure_name(pc->procedure),
                                  ferry_rpc_procedure_name(packet->procedure)));
    } else if (packet->status == FERRY__PACKET_STATUS__OK) {
        complete_call(pc, ferry_rpc_packet_body(packet), NULL);
    } else if (packet->status == FERRY__PACKET_STATUS__ERROR) {
        g_autoptr(GBytes) body = ferry_rpc_packet_body(packet);

        complete_call(pc, NULL, ferry_rpc_error_unpack(body, packet->procedure));
    } else {
        complete_call(pc, NULL,
                      g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                  "%s answered %s with status CONTINUE, which only "
                                  "streams use", client->desc,
                                  ferry_rpc_procedure_name(pc->procedure)));
    }
    g_mutex_unlock(&client->lock);
}

static void
on_packet(ferry_rpc_channel *chan, const Ferry__Packet *packet, gpointer user_data)
{
    ferry_rpc_client *client = user_data;

    switch (packet->type) {
    case FERRY__PACKET_TYPE__REPLY:
        handle_reply(client, packet);
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
                                                  "%s sent an unexpected %s packet (%s)",
                                                  client->desc,
                                                  packet->type == FERRY__PACKET_TYPE__CALL ?
                                                  "CALL" : "STREAM",
                                                  ferry_rpc_procedure_name(packet->procedure)));
        return;
    }
}

static void
on_closed(ferry_rpc_channel *chan, const GError *reason, gpointer user_data)
{
    ferry_rpc_client *client = user_data;
    GHashTableIter iter;
    gpointer value;

    g_debug("%s: connection closed: %s", client->desc, reason->message);
    g_mutex_lock(&client->lock);
    client->closed = g_error_new(FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED,
                                 "connection to %s lost: %s", client->desc,
                                 reason->message);
    g_hash_table_iter_init(&iter, client->pending);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        complete_call(value, NULL, g_error_copy(client->closed));
        g_hash_table_iter_remove(&iter);
    }
    g_mutex_unlock(&client->lock);
}

static gpointer
io_thread(gpointer data)
{
    ferry_rpc_client *client = data;

    g_main_context_push_thread_default(client->context);
    ferry_rpc_channel_start(client->chan);
    g_main_loop_run(client->loop);
    ferry_rpc_channel_close(client->chan, NULL);
    while (ferry_rpc_channel_is_busy(client->chan))
        g_main_context_iteration(client->context, TRUE);
    g_main_context_pop_thread_default(client->context);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Connecting                                                                */
/* ------------------------------------------------------------------------ */

/* Builds the client around a connected stream and starts its thread. */
static ferry_rpc_client *
client_new(GSocketConnection *conn, char *desc, const ferry_rpc_client_config *config)
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
    if (client->config.keepalive_interval_ms != FERRY_RPC_KEEPALIVE_OFF)
        chan_config.keepalive_interval_ms = client->config.keepalive_interval_ms;

    g_mutex_init(&client->lock);
    client->pending = g_hash_table_new(NULL, NULL);
    client->context = g_main_context_new();
    client->loop = g_main_loop_new(client->context, FALSE);
    client->chan = ferry_rpc_channel_new(G_IO_STREAM(conn), client->context, &chan_config,
                                         on_packet, on_closed, client);
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
    return client_new(conn, g_strdup_printf("ferryd at UNIX socket '%s'", path), config);
}

ferry_rpc_client *
ferry_rpc_client_new_tcp(const char *host, guint16 port,
                         const ferry_rpc_client_config *config, GError **error)
{
    g_autoptr(GSocketClient) sc = socket_client_new(config);
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) local = NULL;

    conn = g_socket_client_connect_to_host(sc, host, port, NULL, &local);
    if (!conn) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT,
                    "cannot connect to ferryd at TCP %s port %u: %s", host, port,
                    local->message);
        return NULL;
    }
    clear_io_timeout(conn);
    return client_new(conn, g_strdup_printf("ferryd at TCP %s port %u", host, port),
                      config);
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

    g_assert(g_hash_table_size(client->pending) == 0);
    g_hash_table_unref(client->pending);
    g_clear_error(&client->closed);
    g_mutex_clear(&client->lock);
    ferry_rpc_channel_unref(client->chan);
    g_main_loop_unref(client->loop);
    g_main_context_unref(client->context);
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

/* Waits, with the lock held, until @pc is done or @end_us (0: never). */
static void
wait_call(ferry_rpc_client *client, pending_call *pc, guint32 serial, gint64 end_us,
          guint timeout_ms)
{
    while (!pc->done) {
        if (!end_us) {
            g_cond_wait(&pc->cond, &client->lock);
        } else if (!g_cond_wait_until(&pc->cond, &client->lock, end_us) && !pc->done) {
            g_hash_table_remove(client->pending, GUINT_TO_POINTER(serial));
            pc->error = g_error_new(FERRY_ERROR, FERRY_ERROR_TIMEOUT,
                                    "%s did not answer %s within %u ms", client->desc,
                                    ferry_rpc_procedure_name(pc->procedure), timeout_ms);
            pc->done = TRUE;
        }
    }
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

GBytes *
ferry_rpc_client_call(ferry_rpc_client *client, guint32 procedure, GBytes *args,
                      guint timeout_ms, GError **error)
{
    pending_call pc = { .procedure = procedure };
    g_autoptr(GBytes) frame = NULL;
    gint64 end_us = timeout_ms ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : 0;
    guint32 serial;

    g_return_val_if_fail(g_thread_self() != client->thread, NULL);
    g_cond_init(&pc.cond);

    g_mutex_lock(&client->lock);
    if (client->closed) {
        g_propagate_error(error, g_error_copy(client->closed));
        g_mutex_unlock(&client->lock);
        g_cond_clear(&pc.cond);
        return NULL;
    }
    serial = ++client->next_serial;
    if (serial == 0)
        serial = ++client->next_serial;
    frame = ferry_rpc_frame_new(procedure, FERRY__PACKET_TYPE__CALL, serial,
                                FERRY__PACKET_STATUS__OK, args);
    if (!check_call_size(client, frame, procedure, error)) {
        g_mutex_unlock(&client->lock);
        g_cond_clear(&pc.cond);
        return NULL;
    }
    g_hash_table_insert(client->pending, GUINT_TO_POINTER(serial), &pc);
    /* If the channel is already closed, its closed callback fails the call. */
    ferry_rpc_channel_send(client->chan, frame);
    wait_call(client, &pc, serial, end_us, timeout_ms);
    g_mutex_unlock(&client->lock);
    g_cond_clear(&pc.cond);

    if (pc.error) {
        g_propagate_error(error, pc.error);
        return NULL;
    }
    return pc.reply;
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
