/*
 * rpc-server.c: listening sockets, per-client channels and limits, and the
 * worker pools that run calls.
 *
 * Owns: accepting and refusing connections, turning CALL packets into
 * calls for the handler (on the normal or the priority pool) and their
 * completions into REPLY packets, and the log line of every refused or
 * closed connection and of every call answered with an error (with the
 * peer, for the daemon's per-peer rate limit).  Must not interpret
 * procedures.
 *
 * Threads: everything but run_call(), the completion of calls and the
 * client accessors runs in the server's context.  A client is referenced by
 * the server's table until its channel closed, by each of its calls until
 * completed, and by whoever sends it events.
 */
#include "ferry-config.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <gio/gunixconnection.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc/rpc-channel.h"
#include "rpc/rpc-server.h"
#include "rpc/rpc-stream.h"
#include "rpc/rpc-tls.h"
#include "util/error.h"

#define DEFAULT_MAX_CLIENTS 64
#define DEFAULT_MAX_UNIX_CLIENTS 64
#define DEFAULT_MAX_CALLS 16
#define DEFAULT_MAX_CALL_BYTES (8u * 1024u * 1024u)
#define DEFAULT_MAX_WORKERS 4
#define DEFAULT_PRIORITY_WORKERS 2
#define DEFAULT_KEEPALIVE_MS 5000
/* A TLS client has this long to finish its handshake. */
#define TLS_HANDSHAKE_MS 10000

struct ferry_rpc_server {
    ferry_rpc_server_config config;
    ferry_rpc_channel_config channel_config;
    GMainContext *context;
    GSocketService *service;
    GSource *start_source;      /* starts accepting once the context runs */
    GThreadPool *pool;
    GThreadPool *prio_pool;     /* quick calls (handler->is_priority) */
    GHashTable *clients;        /* ferry_rpc_server_client* -> itself, one reference */
    guint n_unix;               /* clients on a UNIX socket */
    guint n_tcp;                /* the others */
    GHashTable *per_address;    /* TCP peer address -> its client count (GUINT_TO_POINTER) */
    GPtrArray *draining;        /* closed channels with operations outstanding */
    GPtrArray *unix_paths;      /* socket files to remove when stopping */
    ferry_rpc_tls *tls;         /* the TLS listener's credentials, once added */
    GObject *tls_marker;        /* the TLS listener's source object in "incoming" */
    GObject *ro_marker;         /* the read-only UNIX listener's */
    GPtrArray *handshakes;      /* tls_accept*: TLS clients not through their handshake */
    guint next_id;
    gboolean stopped;
};

struct ferry_rpc_server_client {
    gint ref;
    guint id;
    char *desc;
    gboolean is_unix;           /* on a UNIX socket, else TCP */
    char *address;              /* a TCP peer's address, without the port; else NULL */
    gboolean counted;           /* in the server's counts until closed */
    gboolean has_creds;         /* a UNIX peer whose credentials were read */
    gint64 pid;
    gint64 uid;
    gboolean read_only;         /* came in on the read-only socket */
    ferry_rpc_server *server;   /* NULL once closed; context only */
    ferry_rpc_channel *chan;
    ferry_rpc_stream_table *streams; /* the streams the handler opened on calls */
    const ferry_rpc_handler *handler;
    gpointer handler_data;
    gpointer client_data;
    guint max_calls;
    gsize max_frame;
    gint in_flight;             /* atomic: calls queued, running or deferred */
    char *tls_name;             /* a TLS client's certificate name; NULL otherwise */
    char *peer;                 /* who it is for the daemon's log rate limit: "unix uid
                                 * 0", "tcp 10.0.0.1" (no port: one budget per host) */
    gsize max_call_bytes;
    gint bytes_in_flight;       /* atomic: the size of their arguments */
};

/*
 * One CALL from its packet until the handler completed it.  Two references
 * while the handler's call function runs: the worker's, dropped when it
 * returns, and the completion's; so a second completion from inside the
 * call function finds the call still there and is caught.
 */
struct ferry_rpc_call {
    gint ref;                   /* atomic */
    gint completed;             /* atomic: set by the first completion */
    ferry_rpc_server_client *client; /* a reference */
    guint32 procedure;
    guint32 serial;
    GBytes *args;               /* until the handler's call function returned */
    gboolean has_stream;        /* the handler opened a stream on it */
    gint size;                  /* of args: counted in the client's bytes_in_flight */
};

/* ------------------------------------------------------------------------ */
/* Clients                                                                   */
/* ------------------------------------------------------------------------ */

ferry_rpc_server_client *
ferry_rpc_server_client_ref(ferry_rpc_server_client *client)
{
    g_atomic_int_inc(&client->ref);
    return client;
}

void
ferry_rpc_server_client_unref(ferry_rpc_server_client *client)
{
    if (!client || !g_atomic_int_dec_and_test(&client->ref))
        return;
    if (client->handler->client_free && client->client_data)
        client->handler->client_free(client->client_data);
    ferry_rpc_stream_table_unref(client->streams);
    ferry_rpc_channel_unref(client->chan);
    g_free(client->address);
    g_free(client->desc);
    g_free(client->tls_name);
    g_free(client->peer);
    g_free(client);
}

const char *
ferry_rpc_server_client_get_description(ferry_rpc_server_client *client)
{
    return client->desc;
}

const char *
ferry_rpc_server_client_get_peer(ferry_rpc_server_client *client)
{
    return client->peer;
}

/* Logs a line about @client (its description first), with its peer in the
 * FERRY_PEER field: the daemon rate-limits what each peer causes. */
static void G_GNUC_PRINTF(3, 4)
log_client(ferry_rpc_server_client *client, GLogLevelFlags level, const char *format, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, format);
    text = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_log_structured(G_LOG_DOMAIN, level, "FERRY_PEER", client->peer ? client->peer : "unknown",
                     "MESSAGE", "%s: %s", client->desc, text);
}

gboolean
ferry_rpc_server_client_send_event(ferry_rpc_server_client *client, guint32 procedure,
                                   GBytes *body)
{
    g_autoptr(GBytes) frame = ferry_rpc_frame_new(procedure, FERRY__PACKET_TYPE__EVENT, 0,
                                                  FERRY__PACKET_STATUS__OK, body);

    return ferry_rpc_channel_send(client->chan, frame);
}

/* Reads the credentials of a UNIX peer into @client. */
static void
read_credentials(ferry_rpc_server_client *client, GSocketConnection *conn, GError **error)
{
    GSocket *socket = g_socket_connection_get_socket(conn);
    g_autoptr(GCredentials) creds = g_socket_get_credentials(socket, error);

    if (!creds)
        return;
    client->pid = g_credentials_get_unix_pid(creds, NULL);
    client->uid = g_credentials_get_unix_user(creds, NULL);
    client->has_creds = TRUE;
}

/* Does the "Gid:" or "Groups:" line @key of a /proc status @text list
 * @gid? */
static gboolean
status_lists_gid(const char *text, const char *key, guint32 gid)
{
    const char *line = strstr(text, key);

    if (!line)
        return FALSE;
    for (line += strlen(key); *line && *line != '\n';) {
        char *end;
        guint64 g = g_ascii_strtoull(line, &end, 10);

        if (end == line) {
            line++;
            continue;
        }
        if (g == gid)
            return TRUE;
        line = end;
    }
    return FALSE;
}

/* Is the UNIX peer @client in group @gid, as its group or one of its
 * supplementary groups?  GIO's credentials carry neither: they are read
 * from /proc while the peer is connected. */
static gboolean
peer_in_group(ferry_rpc_server_client *client, guint32 gid)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/status", client->pid);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return FALSE;
    return status_lists_gid(text, "\nGid:", gid) || status_lists_gid(text, "\nGroups:", gid);
}

/* May this UNIX peer use the read-write socket?  Root, the daemon's own
 * user, and the configured group: what the socket's permissions are meant
 * to let in, checked again on the credentials the kernel gives. */
static gboolean
unix_peer_allowed(ferry_rpc_server *srv, ferry_rpc_server_client *client, char **ret_why)
{
    if (!client->has_creds) {
        *ret_why = g_strdup("its credentials could not be read");
        return FALSE;
    }
    if (client->uid == 0 || client->uid == (gint64)geteuid())
        return TRUE;
    if (srv->config.unix_group_set && peer_in_group(client, srv->config.unix_gid))
        return TRUE;
    *ret_why = srv->config.unix_group_set
        ? g_strdup_printf("uid %" G_GINT64_FORMAT " is neither root nor in group %u",
                          client->uid, srv->config.unix_gid)
        : g_strdup_printf("uid %" G_GINT64_FORMAT " is not root", client->uid);
    return FALSE;
}

/* Names a peer for the logs, with its credentials on a UNIX socket. */
static char *
describe_peer(ferry_rpc_server_client *client, GSocketConnection *conn, gboolean tls,
              gboolean read_only)
{
    g_autoptr(GSocketAddress) remote = NULL;
    g_autoptr(GError) local = NULL;

    if (G_IS_UNIX_CONNECTION(conn)) {
        read_credentials(client, conn, &local);
        const char *kind = read_only ? "unix read-only" : "unix";

        if (!client->has_creds) {
            client->peer = g_strdup("unix, credentials unknown");
            return g_strdup_printf("client %u (%s, credentials unknown: %s)", client->id,
                                   kind, local->message);
        }
        client->peer = g_strdup_printf("unix uid %" G_GINT64_FORMAT, client->uid);
        return g_strdup_printf("client %u (%s, pid %" G_GINT64_FORMAT ", uid %"
                               G_GINT64_FORMAT ")", client->id, kind, client->pid,
                               client->uid);
    }
    remote = g_socket_connection_get_remote_address(conn, NULL);
    if (G_IS_INET_SOCKET_ADDRESS(remote)) {
        GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS(remote);
        GInetAddress *addr = g_inet_socket_address_get_address(inet);
        g_autofree char *text = g_inet_address_to_string(addr);
        gboolean v6 = g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6;

        client->peer = g_strdup_printf("%s %s", tls ? "tls" : "tcp", text);
        client->address = g_strdup(text);
        return g_strdup_printf("client %u (%s, %s%s%s:%u)", client->id, tls ? "tls" : "tcp",
                               v6 ? "[" : "",
                               text, v6 ? "]" : "", g_inet_socket_address_get_port(inet));
    }
    return g_strdup_printf("client %u (unknown transport)", client->id);
}

gboolean
ferry_rpc_server_client_get_credentials(ferry_rpc_server_client *client, gint64 *ret_pid,
                                        gint64 *ret_uid)
{
    if (!client->has_creds)
        return FALSE;
    if (ret_pid)
        *ret_pid = client->pid;
    if (ret_uid)
        *ret_uid = client->uid;
    return TRUE;
}

/* The one log line of a call answered with @error. */
static void
log_failed_call(ferry_rpc_server_client *client, guint32 procedure, guint32 serial,
                const GError *error)
{
    log_client(client, G_LOG_LEVEL_INFO, "call %s (serial %u) failed: %s",
               ferry_rpc_procedure_name(procedure), serial, error->message);
}

/* Answers a call at once with @err (taken). */
static void
reply_error(ferry_rpc_server_client *client, const Ferry__Packet *call, GError *err)
{
    g_autoptr(GError) owned = err;
    g_autoptr(GBytes) frame = ferry_rpc_frame_new_error(call->procedure, call->serial, owned);

    log_failed_call(client, call->procedure, call->serial, owned);

    ferry_rpc_channel_send(client->chan, frame);
}

static void
queue_call(ferry_rpc_server_client *client, const Ferry__Packet *packet)
{
    ferry_rpc_server *srv = client->server;
    ferry_rpc_call *call;
    gsize size;
    gsize held;

    if ((guint)g_atomic_int_get(&client->in_flight) >= client->max_calls) {
        reply_error(client, packet,
                    g_error_new(FERRY_ERROR, FERRY_ERROR_LIMIT,
                                "call %s (serial %u) refused: this connection already "
                                "has %u calls in flight, the limit",
                                ferry_rpc_procedure_name(packet->procedure),
                                packet->serial, client->max_calls));
        return;
    }
    /* What a client's calls hold until they are answered -- their
     * arguments, decoded (within a budget, ferry_rpc_message_unpack()) and
     * kept by a deferred call -- is bounded with what it sent. */
    size = packet->has_body ? packet->body.len : 0;
    held = (gsize)g_atomic_int_get(&client->bytes_in_flight);
    if (size > client->max_call_bytes - MIN(held, client->max_call_bytes)) {
        reply_error(client, packet,
                    g_error_new(FERRY_ERROR, FERRY_ERROR_LIMIT,
                                "call %s (serial %u) refused: its %" G_GSIZE_FORMAT " bytes of "
                                "arguments, with the %" G_GSIZE_FORMAT " of this connection's "
                                "calls in flight, pass the limit of %" G_GSIZE_FORMAT,
                                ferry_rpc_procedure_name(packet->procedure), packet->serial,
                                size, held, client->max_call_bytes));
        return;
    }
    call = g_new0(ferry_rpc_call, 1);
    call->ref = 1;
    call->client = ferry_rpc_server_client_ref(client);
    call->procedure = packet->procedure;
    call->serial = packet->serial;
    call->args = ferry_rpc_packet_body(packet);
    call->size = (gint)size;
    /* Counted out when completed, not when the worker returns: a deferred
     * call is in flight too, and the limit must bound those as well. */
    g_atomic_int_inc(&client->in_flight);
    g_atomic_int_add(&client->bytes_in_flight, call->size);
    /* The pools are unbounded in queued calls; the per-client limit bounds
     * them.  Quick calls have workers of their own, so that they never wait
     * behind long ones. */
    if (client->handler->is_priority &&
        client->handler->is_priority(client->handler_data, packet->procedure))
        g_thread_pool_push(srv->prio_pool, call, NULL);
    else
        g_thread_pool_push(srv->pool, call, NULL);
}

static void
on_packet(ferry_rpc_channel *chan, const Ferry__Packet *packet, gpointer user_data)
{
    ferry_rpc_server_client *client = user_data;
    const char *proc = ferry_rpc_procedure_name(packet->procedure);

    switch (packet->type) {
    case FERRY__PACKET_TYPE__CALL:
        queue_call(client, packet);
        return;
    case FERRY__PACKET_TYPE__REPLY:
        ferry_rpc_channel_close(chan, g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                                  "unexpected REPLY packet (%s, serial %u): "
                                                  "the server makes no calls",
                                                  proc, packet->serial));
        return;
    case FERRY__PACKET_TYPE__EVENT:
        ferry_rpc_channel_close(chan, g_error_new(FERRY_ERROR, FERRY_ERROR_RPC,
                                                  "unexpected EVENT packet %s (%u) "
                                                  "from a client", proc, packet->procedure));
        return;
    default:
        /* A bad one aborts its stream only; the connection goes on. */
        ferry_rpc_stream_table_handle_packet(client->streams, packet);
        return;
    }
}

/* ------------------------------------------------------------------------ */
/* Counting clients                                                          */
/* ------------------------------------------------------------------------ */

static guint
address_count(ferry_rpc_server *srv, const char *address)
{
    return GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_address, address));
}

/*
 * Why a new client may not be served, or NULL.  UNIX and TCP clients are
 * counted apart, so that no number of TCP peers locks out the local
 * socket, where root administers the host; and the TCP clients of one
 * address apart, so that one peer cannot take every TCP place.
 */
static GError *
refusal(ferry_rpc_server *srv, ferry_rpc_server_client *client)
{
    const ferry_rpc_server_config *c = &srv->config;

    if (client->is_unix) {
        if (srv->n_unix >= c->max_unix_clients)
            return g_error_new(FERRY_ERROR, FERRY_ERROR_LIMIT,
                               "the limit of %u connected UNIX clients is reached",
                               c->max_unix_clients);
        return NULL;
    }
    if (srv->n_tcp >= c->max_clients)
        return g_error_new(FERRY_ERROR, FERRY_ERROR_LIMIT,
                           "the limit of %u connected TCP clients is reached", c->max_clients);
    if (client->address && c->max_clients_per_address &&
        address_count(srv, client->address) >= c->max_clients_per_address)
        return g_error_new(FERRY_ERROR, FERRY_ERROR_LIMIT,
                           "the limit of %u connected clients from address %s is reached",
                           c->max_clients_per_address, client->address);
    return NULL;
}

static void
count_in(ferry_rpc_server *srv, ferry_rpc_server_client *client)
{
    client->counted = TRUE;
    if (client->is_unix) {
        srv->n_unix++;
        return;
    }
    srv->n_tcp++;
    if (client->address)
        g_hash_table_insert(srv->per_address, g_strdup(client->address),
                            GUINT_TO_POINTER(address_count(srv, client->address) + 1));
}

static void
count_out(ferry_rpc_server *srv, ferry_rpc_server_client *client)
{
    guint n;

    if (!client->counted)
        return;
    client->counted = FALSE;
    if (client->is_unix) {
        srv->n_unix--;
        return;
    }
    srv->n_tcp--;
    if (!client->address)
        return;
    n = address_count(srv, client->address);
    if (n <= 1)
        g_hash_table_remove(srv->per_address, client->address);
    else
        g_hash_table_insert(srv->per_address, g_strdup(client->address),
                            GUINT_TO_POINTER(n - 1));
}

static void
on_closed(ferry_rpc_channel *chan, const GError *reason, gpointer user_data)
{
    ferry_rpc_server_client *client = user_data;
    ferry_rpc_server *srv = client->server;

    if (g_error_matches(reason, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED))
        log_client(client, G_LOG_LEVEL_INFO, "disconnected: %s", reason->message);
    else
        log_client(client, G_LOG_LEVEL_WARNING, "%s; closing", reason->message);

    ferry_rpc_stream_table_close_all(client->streams, reason);
    if (client->handler->client_close)
        client->handler->client_close(client->handler_data, client, client->client_data);
    count_out(srv, client);
    client->server = NULL;
    if (ferry_rpc_channel_is_busy(chan))
        g_ptr_array_add(srv->draining, ferry_rpc_channel_ref(chan));
    /* Drops the table's reference: last, since it may free the client. */
    g_hash_table_remove(srv->clients, client);
}

/* Forgets the closed channels whose operations have all come back. */
static void
prune_draining(ferry_rpc_server *srv)
{
    for (guint i = srv->draining->len; i > 0; i--) {
        if (!ferry_rpc_channel_is_busy(g_ptr_array_index(srv->draining, i - 1)))
            g_ptr_array_remove_index_fast(srv->draining, i - 1);
    }
}

/* A STREAM packet refused: the peer got an abort naming the stream; the
 * connection stays. */
static void
on_stream_refusal(const char *message, gpointer user_data)
{
    log_client(user_data, G_LOG_LEVEL_WARNING, "%s", message);
}

/* Serves @client on @stream from now on. */
static void
client_start(ferry_rpc_server *srv, ferry_rpc_server_client *client, GIOStream *stream)
{
    client->server = srv;
    client->handler_data = srv->config.handler_data;
    client->max_calls = srv->config.max_calls_per_client;
    client->max_call_bytes = srv->config.max_call_bytes_per_client;
    client->max_frame = srv->config.max_frame;
    client->chan = ferry_rpc_channel_new(stream, srv->context, &srv->channel_config,
                                         on_packet, on_closed, client);
    client->streams = ferry_rpc_stream_table_new(client->chan, client->max_frame,
                                                 srv->config.max_streams_per_client,
                                                 on_stream_refusal, client);
    g_hash_table_add(srv->clients, client);
    log_client(client, G_LOG_LEVEL_INFO, "connected");
    if (client->handler->client_open)
        client->client_data = client->handler->client_open(client->handler_data, client);
    ferry_rpc_channel_start(client->chan);
}

typedef struct {
    ferry_rpc_server *srv;
    ferry_rpc_server_client *client;
    GSocketConnection *conn;
} tls_accept;

static void
on_tls_handshake(GObject *source, GAsyncResult *res, gpointer data)
{
    tls_accept *ta = data;
    ferry_rpc_server *srv = ta->srv;
    ferry_rpc_server_client *client = ta->client;
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *name = NULL;

    stream = ferry_rpc_tls_server_handshake_finish(res, &name, &local);
    if (srv)
        g_ptr_array_remove_fast(srv->handshakes, ta);
    if (!stream || !srv || srv->stopped) {
        /* Refused before any frame was read: nothing of it reached a
         * handler. */
        if (!stream && srv)
            log_client(client, G_LOG_LEVEL_WARNING, "refused: %s; closing", local->message);
        if (srv)
            count_out(srv, client);
        g_io_stream_close(G_IO_STREAM(ta->conn), NULL, NULL);
        ferry_rpc_server_client_unref(client);
    } else {
        /* "client 4 (tls, 10.0.0.1:5000)" -> "..., certificate 'web1')" */
        char *desc = g_strdup_printf("%.*s, certificate '%s')", (int)strlen(client->desc) - 1,
                                     client->desc, name);

        g_free(client->desc);
        client->desc = desc;
        client->tls_name = g_steal_pointer(&name);
        client_start(srv, client, stream);
    }
    g_object_unref(ta->conn);
    g_free(ta);
}

static gboolean
on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source_object,
            gpointer user_data)
{
    ferry_rpc_server *srv = user_data;
    ferry_rpc_server_client *client;
    gboolean tls = source_object && source_object == srv->tls_marker;
    gboolean read_only = source_object && source_object == srv->ro_marker;
    g_autofree char *why = NULL;
    g_autoptr(GError) refused = NULL;

    if (srv->stopped)
        return TRUE;
    prune_draining(srv);
    client = g_new0(ferry_rpc_server_client, 1);
    client->ref = 1;
    client->id = ++srv->next_id;
    client->is_unix = G_IS_UNIX_CONNECTION(conn);
    client->desc = describe_peer(client, conn, tls, read_only);
    client->handler = srv->config.handler;
    client->read_only = read_only;
    refused = refusal(srv, client);
    if (refused) {
        log_client(client, G_LOG_LEVEL_WARNING, "refused: %s; closing", refused->message);
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        ferry_rpc_server_client_unref(client);
        return TRUE;
    }
    if (client->is_unix && !read_only && !unix_peer_allowed(srv, client, &why)) {
        log_client(client, G_LOG_LEVEL_WARNING, "refused: %s; closing", why);
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        ferry_rpc_server_client_unref(client);
        return TRUE;
    }
    /* Counted from now on, its TLS handshake included. */
    count_in(srv, client);
    if (tls) {
        tls_accept *ta = g_new0(tls_accept, 1);

        ta->srv = srv;
        ta->client = client;
        ta->conn = g_object_ref(conn);
        g_ptr_array_add(srv->handshakes, ta);
        g_main_context_push_thread_default(srv->context);
        ferry_rpc_tls_server_handshake_async(srv->tls, conn, TLS_HANDSHAKE_MS,
                                             on_tls_handshake, ta);
        g_main_context_pop_thread_default(srv->context);
        return TRUE;
    }
    client_start(srv, client, G_IO_STREAM(conn));
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Calls, on worker threads                                                  */
/* ------------------------------------------------------------------------ */

static void
call_unref(ferry_rpc_call *call)
{
    if (!g_atomic_int_dec_and_test(&call->ref))
        return;
    g_clear_pointer(&call->args, g_bytes_unref);
    /* May free the client, and run the handler's client_free. */
    ferry_rpc_server_client_unref(call->client);
    g_free(call);
}

/* Claims the completion of @call; FALSE (with a critical) if it was taken. */
static gboolean
claim_completion(ferry_rpc_call *call)
{
    if (g_atomic_int_compare_and_exchange(&call->completed, 0, 1))
        return TRUE;
    g_critical("call %s (serial %u) of %s completed twice: the handler must complete "
               "each call exactly once", ferry_rpc_procedure_name(call->procedure),
               call->serial, call->client->desc);
    return FALSE;
}

/* Sends the reply of @call, @ret (nullable: no body) on success or else
 * @error, and drops the completion's reference. */
static void
send_reply(ferry_rpc_call *call, GBytes *ret, const GError *error)
{
    ferry_rpc_server_client *client = call->client;
    g_autoptr(GBytes) frame = NULL;
    g_autoptr(GError) local = NULL;

    if (!error) {
        g_autofree char *what = g_strdup_printf("the reply to %s",
                                                ferry_rpc_procedure_name(call->procedure));

        frame = ferry_rpc_frame_new(call->procedure, FERRY__PACKET_TYPE__REPLY,
                                    call->serial, FERRY__PACKET_STATUS__OK, ret);
        /* The client would hang up on it: answer that instead. */
        if (!ferry_rpc_frame_check_size(frame, client->max_frame, what, &local)) {
            g_clear_pointer(&frame, g_bytes_unref);
            error = local;
        }
    }
    if (!frame) {
        log_failed_call(client, call->procedure, call->serial, error);
        frame = ferry_rpc_frame_new_error(call->procedure, call->serial, error);
        /* The client fails the call's stream when it reads the reply. */
        if (call->has_stream)
            ferry_rpc_stream_table_call_replied(client->streams, call->serial, error, FALSE);
    }
    /* Counted out before the reply leaves, so that a client answering at
     * once never meets its own finished call in the limit. */
    g_atomic_int_add(&client->in_flight, -1);
    g_atomic_int_add(&client->bytes_in_flight, -call->size);
    /* A closed channel drops it: the client is gone, and the call's
     * reference kept the channel until now. */
    ferry_rpc_channel_send(client->chan, frame);
    call_unref(call);
}

void
ferry_rpc_call_return(ferry_rpc_call *call, GBytes *ret_body)
{
    g_return_if_fail(call != NULL);
    if (claim_completion(call))
        send_reply(call, ret_body, NULL);
}

void
ferry_rpc_call_return_error(ferry_rpc_call *call, GError *error)
{
    g_autoptr(GError) owned = error;

    g_return_if_fail(call != NULL);
    if (!claim_completion(call))
        return;
    if (!owned)
        owned = g_error_new(FERRY_ERROR, FERRY_ERROR_INTERNAL,
                            "the handler of %s failed without saying why",
                            ferry_rpc_procedure_name(call->procedure));
    send_reply(call, NULL, owned);
}

guint32
ferry_rpc_call_get_procedure(ferry_rpc_call *call)
{
    return call->procedure;
}

ferry_rpc_stream *
ferry_rpc_call_open_stream(ferry_rpc_call *call, const ferry_rpc_stream_config *config,
                           GError **error)
{
    ferry_rpc_stream *stream;

    g_return_val_if_fail(call != NULL, NULL);
    g_return_val_if_fail(!g_atomic_int_get(&call->completed), NULL);
    g_return_val_if_fail(!call->has_stream, NULL);
    stream = ferry_rpc_stream_table_open(call->client->streams, call->procedure, call->serial,
                                         config, FALSE, error);
    call->has_stream = stream != NULL;
    return stream;
}

/* A worker: hands one call to the handler, which completes it now or later. */
static void
run_call(gpointer data, gpointer user_data)
{
    ferry_rpc_call *call = data;
    ferry_rpc_server_client *client = call->client;

    if (ferry_rpc_channel_is_closed(client->chan)) {
        /* Nobody to answer: the handler never sees it. */
        g_atomic_int_add(&client->in_flight, -1);
        g_atomic_int_add(&client->bytes_in_flight, -call->size);
        call_unref(call);
        return;
    }
    g_atomic_int_inc(&call->ref);       /* the completion's */
    client->handler->call(client->handler_data, client, client->client_data,
                          call->procedure, call->args, call);
    /* A deferred call keeps what it decoded, not the bytes. */
    g_clear_pointer(&call->args, g_bytes_unref);
    call_unref(call);
}

/* ------------------------------------------------------------------------ */
/* The server                                                                */
/* ------------------------------------------------------------------------ */

/*
 * The service starts accepting from an idle source rather than at once, so
 * that every listener added before the context runs is in place first:
 * adding a listener to an accepting GSocketService cancels its pending
 * accept, and a connection accepted at that instant would be dropped.
 */
static gboolean
start_accepting(gpointer data)
{
    ferry_rpc_server *srv = data;

    g_clear_pointer(&srv->start_source, g_source_unref);
    g_main_context_push_thread_default(srv->context);
    g_socket_service_start(srv->service);
    g_main_context_pop_thread_default(srv->context);
    return G_SOURCE_REMOVE;
}

ferry_rpc_server *
ferry_rpc_server_new(const ferry_rpc_server_config *config, GError **error)
{
    g_autoptr(ferry_rpc_server) srv = NULL;
    ferry_rpc_server_config *c;

    g_return_val_if_fail(config != NULL && config->handler != NULL, NULL);
    g_return_val_if_fail(config->handler->call != NULL, NULL);

    srv = g_new0(ferry_rpc_server, 1);
    c = &srv->config;
    *c = *config;
    if (!c->max_clients)
        c->max_clients = DEFAULT_MAX_CLIENTS;
    if (!c->max_unix_clients)
        c->max_unix_clients = DEFAULT_MAX_UNIX_CLIENTS;
    if (!c->max_calls_per_client)
        c->max_calls_per_client = DEFAULT_MAX_CALLS;
    if (!c->max_call_bytes_per_client)
        c->max_call_bytes_per_client = DEFAULT_MAX_CALL_BYTES;
    /* Kept in an atomic int; beyond the largest frame it changes nothing
     * for one call, and 1 GiB is far more than a client needs. */
    c->max_call_bytes_per_client = MIN(c->max_call_bytes_per_client, G_MAXINT / 2);
    if (!c->max_workers)
        c->max_workers = DEFAULT_MAX_WORKERS;
    if (!c->max_priority_workers)
        c->max_priority_workers = DEFAULT_PRIORITY_WORKERS;
    if (!c->max_frame)
        c->max_frame = FERRY_RPC_DEFAULT_MAX_FRAME;
    if (!c->keepalive_interval_ms)
        c->keepalive_interval_ms = DEFAULT_KEEPALIVE_MS;
    srv->channel_config.max_frame = c->max_frame;
    srv->channel_config.keepalive_interval_ms =
        c->keepalive_interval_ms == FERRY_RPC_KEEPALIVE_OFF ? 0 : c->keepalive_interval_ms;
    srv->channel_config.keepalive_count = c->keepalive_count;
    if (!c->frame_timeout_ms)
        c->frame_timeout_ms = FERRY_RPC_DEFAULT_FRAME_TIMEOUT_MS;
    srv->channel_config.frame_timeout_ms = c->frame_timeout_ms;

    srv->context = g_main_context_ref_thread_default();
    srv->clients = g_hash_table_new_full(NULL, NULL,
                                         (GDestroyNotify)ferry_rpc_server_client_unref,
                                         NULL);
    srv->per_address = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    srv->draining = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_rpc_channel_unref);
    srv->unix_paths = g_ptr_array_new_with_free_func(g_free);
    srv->handshakes = g_ptr_array_new();
    srv->service = g_socket_service_new();
    g_socket_service_stop(srv->service);
    g_signal_connect(srv->service, "incoming", G_CALLBACK(on_incoming), srv);
    srv->start_source = g_idle_source_new();
    g_source_set_name(srv->start_source, "ferry-rpc-server-start");
    g_source_set_callback(srv->start_source, start_accepting, srv, NULL);
    g_source_attach(srv->start_source, srv->context);
    srv->pool = g_thread_pool_new(run_call, srv, (gint)c->max_workers, FALSE, error);
    if (srv->pool)
        srv->prio_pool = g_thread_pool_new(run_call, srv, (gint)c->max_priority_workers,
                                           FALSE, error);
    if (!srv->pool || !srv->prio_pool) {
        ferry_error_normalize(error);
        return NULL;
    }
    return g_steal_pointer(&srv);
}

static gboolean
add_unix(ferry_rpc_server *srv, const char *path, guint mode, GObject *source, GError **error)
{
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GError) local = NULL;
    GStatBuf st;

    g_return_val_if_fail(!srv->stopped, FALSE);
    /* A socket file left by a daemon that died; a live daemon is kept out
     * by the daemon's pid file, not here. */
    if (g_lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        g_unlink(path);
    addr = g_unix_socket_address_new(path);
    if (!g_socket_listener_add_address(G_SOCKET_LISTENER(srv->service), addr,
                                       G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                       source, NULL, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "cannot listen on UNIX socket '%s': %s", path, local->message);
        return FALSE;
    }
    g_ptr_array_add(srv->unix_paths, g_strdup(path));
    if (g_chmod(path, (int)mode) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot set the permissions of UNIX socket '%s' to %04o",
                              path, mode);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_rpc_server_add_unix(ferry_rpc_server *srv, const char *path, guint mode,
                          GError **error)
{
    return add_unix(srv, path, mode, NULL, error);
}

gboolean
ferry_rpc_server_add_unix_read_only(ferry_rpc_server *srv, const char *path, guint mode,
                                    GError **error)
{
    if (!srv->ro_marker)
        srv->ro_marker = g_object_new(G_TYPE_OBJECT, NULL);
    return add_unix(srv, path, mode, srv->ro_marker, error);
}

/* Adds the TCP listener; returns the port listened on, 0 on failure. */
static guint16
listen_tcp(GSocketListener *listener, const char *address, guint16 port, GObject *source,
           GError **error)
{
    g_autoptr(GInetAddress) inet = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GSocketAddress) effective = NULL;

    if (!address && port == 0)
        return g_socket_listener_add_any_inet_port(listener, source, error);
    if (!address)
        return g_socket_listener_add_inet_port(listener, port, source, error) ? port : 0;
    inet = g_inet_address_new_from_string(address);
    if (!inet) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "'%s' is not an IP address", address);
        return 0;
    }
    addr = g_inet_socket_address_new(inet, port);
    if (!g_socket_listener_add_address(listener, addr, G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_TCP, source, &effective, error))
        return 0;
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
}

gboolean
ferry_rpc_server_add_tcp(ferry_rpc_server *srv, const char *address, guint16 port,
                         guint16 *ret_port, GError **error)
{
    g_autoptr(GError) local = NULL;
    guint16 actual;

    g_return_val_if_fail(!srv->stopped, FALSE);
    actual = listen_tcp(G_SOCKET_LISTENER(srv->service), address, port, NULL, &local);
    if (actual == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "cannot listen on TCP address %s port %u: %s",
                    address ? address : "(any)", port, local->message);
        return FALSE;
    }
    if (ret_port)
        *ret_port = actual;
    return TRUE;
}

gboolean
ferry_rpc_server_add_tls(ferry_rpc_server *srv, const char *address, guint16 port,
                         ferry_rpc_tls *tls, guint16 *ret_port, GError **error)
{
    g_autoptr(GError) local = NULL;
    guint16 actual;

    g_return_val_if_fail(!srv->stopped && !srv->tls, FALSE);
    srv->tls_marker = g_object_new(G_TYPE_OBJECT, NULL);
    actual = listen_tcp(G_SOCKET_LISTENER(srv->service), address, port, srv->tls_marker,
                        &local);
    if (actual == 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "cannot listen for TLS on address %s port %u: %s",
                    address ? address : "(any)", port, local->message);
        return FALSE;
    }
    srv->tls = ferry_rpc_tls_ref(tls);
    if (ret_port)
        *ret_port = actual;
    return TRUE;
}

gboolean
ferry_rpc_server_client_is_read_only(ferry_rpc_server_client *client)
{
    return client->read_only;
}

const char *
ferry_rpc_server_client_get_tls_name(ferry_rpc_server_client *client)
{
    return client->tls_name;
}

guint
ferry_rpc_server_get_n_clients(ferry_rpc_server *srv)
{
    return g_hash_table_size(srv->clients);
}

void
ferry_rpc_server_stop(ferry_rpc_server *srv)
{
    g_autoptr(GPtrArray) clients = NULL;
    GHashTableIter iter;
    gpointer key;

    if (srv->stopped)
        return;
    srv->stopped = TRUE;
    if (srv->start_source) {
        g_source_destroy(srv->start_source);
        g_clear_pointer(&srv->start_source, g_source_unref);
    }
    g_socket_service_stop(srv->service);
    g_socket_listener_close(G_SOCKET_LISTENER(srv->service));

    /* Closing a client removes it from the table: walk a copy. */
    clients = g_ptr_array_new_with_free_func((GDestroyNotify)ferry_rpc_server_client_unref);
    g_hash_table_iter_init(&iter, srv->clients);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(clients, ferry_rpc_server_client_ref(key));
    for (guint i = 0; i < clients->len; i++) {
        ferry_rpc_server_client *client = g_ptr_array_index(clients, i);

        ferry_rpc_channel_close(client->chan, NULL);
    }
    g_clear_pointer(&clients, g_ptr_array_unref);
    /* A client still in its TLS handshake fails it at once. */
    for (guint i = 0; i < srv->handshakes->len; i++)
        g_io_stream_close(G_IO_STREAM(((tls_accept *)srv->handshakes->pdata[i])->conn), NULL,
                          NULL);

    /* Waits for the handlers' call functions running on the workers (the
     * calls still queued are dropped unseen: their channels are closed);
     * their replies go nowhere.  A deferred call is not waited for: it may
     * last minutes.  It holds its client, whose closed channel drops the
     * reply of its late completion. */
    if (srv->pool)
        g_thread_pool_free(g_steal_pointer(&srv->pool), FALSE, TRUE);
    if (srv->prio_pool)
        g_thread_pool_free(g_steal_pointer(&srv->prio_pool), FALSE, TRUE);

    for (guint i = 0; i < srv->unix_paths->len; i++)
        g_unlink(g_ptr_array_index(srv->unix_paths, i));

    /* Lets the cancelled operations of the closed connections come back,
     * so that nothing is left behind if the context is not iterated again. */
    for (;;) {
        prune_draining(srv);
        if (srv->draining->len == 0 && srv->handshakes->len == 0)
            break;
        g_main_context_iteration(srv->context, TRUE);
    }
}

void
ferry_rpc_server_free(ferry_rpc_server *srv)
{
    if (!srv)
        return;
    if (srv->service) {
        ferry_rpc_server_stop(srv);
        g_signal_handlers_disconnect_by_data(srv->service, srv);
        g_object_unref(srv->service);
    }
    if (srv->pool)
        g_thread_pool_free(srv->pool, FALSE, TRUE);
    if (srv->prio_pool)
        g_thread_pool_free(srv->prio_pool, FALSE, TRUE);
    if (srv->clients)
        g_hash_table_unref(srv->clients);
    if (srv->per_address)
        g_hash_table_unref(srv->per_address);
    g_ptr_array_unref(srv->draining);
    g_ptr_array_unref(srv->unix_paths);
    g_ptr_array_unref(srv->handshakes);
    ferry_rpc_tls_unref(srv->tls);
    g_clear_object(&srv->tls_marker);
    g_clear_object(&srv->ro_marker);
    g_main_context_unref(srv->context);
    g_free(srv);
}
