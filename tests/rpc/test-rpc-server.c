/*
 * test-rpc-server.c: the RPC server and client together, with a small
 * handler of the test's own: calls, errors, limits, bad peers, keepalive.
 */
#include "ferry-config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "rpc-test-util.h"
#include "rpc/rpc-client.h"

/* ------------------------------------------------------------------------ */
/* The handler                                                               */
/* ------------------------------------------------------------------------ */

/*
 * CONNECT_GET_HOSTNAME answers "echo-host"; CONNECT_GET_CAPABILITIES answers
 * 2000 bytes; DOMAIN_START waits until the test opens the gate;
 * DOMAIN_LOOKUP_BY_NAME fails with NO_DOMAIN.
 */
typedef struct {
    GMutex lock;
    GCond cond;
    guint waiting;          /* DOMAIN_START calls at the gate */
    gboolean gate_open;
    guint opened;
    guint unix_peers;
    guint closed;
    guint freed;
} echo_state;

static echo_state echo;

static gpointer
echo_client_open(gpointer handler_data, ferry_rpc_server_client *client)
{
    gint64 pid = 0;
    gint64 uid = -1;
    gboolean unix_peer = ferry_rpc_server_client_get_credentials(client, &pid, &uid);

    /* Every peer of these tests is this process, on either transport. */
    if (unix_peer) {
        g_assert_cmpint(pid, ==, getpid());
        g_assert_cmpint(uid, ==, getuid());
    } else {
        g_assert_true(strstr(ferry_rpc_server_client_get_description(client), "(tcp, "));
    }
    g_mutex_lock(&echo.lock);
    echo.unix_peers += unix_peer;
    echo.opened++;
    g_mutex_unlock(&echo.lock);
    return &echo;
}

static void
echo_client_close(gpointer handler_data, ferry_rpc_server_client *client,
                  gpointer client_data)
{
    g_mutex_lock(&echo.lock);
    echo.closed++;
    g_mutex_unlock(&echo.lock);
}

static void
echo_client_free(gpointer client_data)
{
    g_mutex_lock(&echo.lock);
    echo.freed++;
    g_mutex_unlock(&echo.lock);
}

static gboolean
echo_call(gpointer handler_data, ferry_rpc_server_client *client, gpointer client_data,
          guint32 procedure, GBytes *args, GBytes **ret_body, GError **error)
{
    switch (procedure) {
    case FERRY__PROCEDURE__CONNECT_GET_HOSTNAME: {
        Ferry__ConnectGetHostnameRet ret = FERRY__CONNECT_GET_HOSTNAME_RET__INIT;

        ret.hostname = (char *)"echo-host";
        *ret_body = ferry_rpc_message_pack(&ret.base);
        return TRUE;
    }
    case FERRY__PROCEDURE__CONNECT_GET_CAPABILITIES: {
        Ferry__ConnectGetCapabilitiesRet ret = FERRY__CONNECT_GET_CAPABILITIES_RET__INIT;
        g_autofree char *big = g_strnfill(2000, 'x');

        ret.capabilities = big;
        *ret_body = ferry_rpc_message_pack(&ret.base);
        return TRUE;
    }
    case FERRY__PROCEDURE__DOMAIN_START:
        g_mutex_lock(&echo.lock);
        echo.waiting++;
        g_cond_broadcast(&echo.cond);
        while (!echo.gate_open)
            g_cond_wait(&echo.cond, &echo.lock);
        echo.waiting--;
        g_mutex_unlock(&echo.lock);
        *ret_body = NULL;
        return TRUE;
    case FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME: {
        g_autoptr(ProtobufCMessage) msg =
            ferry_rpc_message_unpack(&ferry__domain_lookup_by_name_args__descriptor, args,
                                     "the arguments", error);

        if (msg)
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN, "no domain named '%s'",
                        ((Ferry__DomainLookupByNameArgs *)msg)->name);
        return FALSE;
    }
    default:
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT, "not in this test");
        return FALSE;
    }
}

static const ferry_rpc_handler echo_handler = {
    .client_open = echo_client_open,
    .call = echo_call,
    .client_close = echo_client_close,
    .client_free = echo_client_free,
};

static void
echo_reset(void)
{
    g_mutex_lock(&echo.lock);
    echo.waiting = 0;
    echo.gate_open = FALSE;
    echo.opened = echo.unix_peers = echo.closed = echo.freed = 0;
    g_mutex_unlock(&echo.lock);
    test_log_clear();
}

static void
gate_wait_for(guint n)
{
    g_mutex_lock(&echo.lock);
    while (echo.waiting < n)
        g_cond_wait(&echo.cond, &echo.lock);
    g_mutex_unlock(&echo.lock);
}

static void
gate_open(void)
{
    g_mutex_lock(&echo.lock);
    echo.gate_open = TRUE;
    g_cond_broadcast(&echo.cond);
    g_mutex_unlock(&echo.lock);
}

static test_server *
start_server(ferry_rpc_server_config *config)
{
    echo_reset();
    config->handler = &echo_handler;
    return test_server_start(config);
}

static ferry_rpc_client *
connect_client(test_server *ts, const ferry_rpc_client_config *config)
{
    g_autoptr(GError) error = NULL;
    ferry_rpc_client *client = ferry_rpc_client_new_unix(test_server_socket(ts), config,
                                                         &error);

    g_assert_no_error(error);
    return client;
}

/* Asks the hostname; returns the error, or NULL after checking the answer. */
static GError *
hostname_call(ferry_rpc_client *client)
{
    Ferry__ConnectGetHostnameArgs args = FERRY__CONNECT_GET_HOSTNAME_ARGS__INIT;
    GError *error = NULL;
    g_autoptr(ProtobufCMessage) ret =
        ferry_rpc_client_call_message(client, FERRY__PROCEDURE__CONNECT_GET_HOSTNAME,
                                      &args.base, 0, &error);

    if (!ret)
        return error;
    g_assert_cmpstr(((Ferry__ConnectGetHostnameRet *)ret)->hostname, ==, "echo-host");
    return NULL;
}

static void
assert_hostname_works(ferry_rpc_client *client)
{
    g_autoptr(GError) error = hostname_call(client);

    g_assert_no_error(error);
}

/* ------------------------------------------------------------------------ */
/* Calls                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_call_and_error(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    Ferry__DomainLookupByNameArgs args = FERRY__DOMAIN_LOOKUP_BY_NAME_ARGS__INIT;
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) ret = NULL;

    assert_hostname_works(client);
    g_assert_true(ferry_rpc_client_is_alive(client));

    /* The handler's error arrives with its code and message. */
    args.name = (char *)"web1";
    ret = ferry_rpc_client_call_message(client, FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME,
                                        &args.base, 0, &error);
    g_assert_null(ret);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_assert_cmpstr(error->message, ==, "no domain named 'web1'");
    g_clear_error(&error);

    /* A body that does not decode never reaches the handler's logic. */
    {
        g_autoptr(GBytes) junk = g_bytes_new_static("\xff\xff\xff", 3);
        g_autoptr(GBytes) reply = ferry_rpc_client_call(
            client, FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME, junk, 0, &error);

        g_assert_null(reply);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_RPC);
        g_clear_error(&error);
    }

    ferry_rpc_client_unref(client);
    test_server_wait_n_clients(ts, 0);
    g_mutex_lock(&echo.lock);
    g_assert_cmpuint(echo.opened, ==, 1);
    g_assert_cmpuint(echo.unix_peers, ==, 1);
    g_assert_cmpuint(echo.closed, ==, 1);
    g_mutex_unlock(&echo.lock);
    /* A client leaving cleanly is no warning. */
    g_assert_cmpuint(test_log_count(""), ==, 0);
    /* Its data goes once the last worker let go of it, at the latest when
     * the server stops. */
    test_server_stop(ts);
    g_assert_cmpuint(echo.freed, ==, 1);
}

static gpointer
hostname_hammer(gpointer data)
{
    for (guint i = 0; i < 50; i++)
        assert_hostname_works(data);
    return NULL;
}

static void
test_concurrent_calls(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    GThread *threads[8];

    for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
        threads[i] = g_thread_new("hammer", hostname_hammer, client);
    for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
        g_thread_join(threads[i]);
    g_assert_true(ferry_rpc_client_is_alive(client));
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
}

static gpointer
start_call(gpointer data)
{
    Ferry__DomainStartArgs args = FERRY__DOMAIN_START_ARGS__INIT;
    Ferry__Domain dom = FERRY__DOMAIN__INIT;
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) ret = NULL;

    dom.name = (char *)"web1";
    dom.uuid = (char *)"c7a5fdbd-cdaf-9455-926a-d65c16db1809";
    args.dom = &dom;
    ret = ferry_rpc_client_call_message(data, FERRY__PROCEDURE__DOMAIN_START, &args.base,
                                        0, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ret);
    return NULL;
}

static void
test_calls_in_flight_limit(void)
{
    ferry_rpc_server_config config = { .max_calls_per_client = 2, .max_workers = 4 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    g_autoptr(GError) error = NULL;
    GThread *t1 = g_thread_new("start-1", start_call, client);
    GThread *t2 = g_thread_new("start-2", start_call, client);

    gate_wait_for(2);
    /* Two calls run: the third is refused, the connection stays. */
    error = hostname_call(client);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    g_assert_true(g_str_has_prefix(error->message, "call CONNECT_GET_HOSTNAME (serial "));
    g_assert_true(g_str_has_suffix(error->message, ") refused: this connection already "
                                   "has 2 calls in flight, the limit"));
    g_assert_true(ferry_rpc_client_is_alive(client));

    gate_open();
    g_thread_join(t1);
    g_thread_join(t2);
    assert_hostname_works(client);
    g_assert_cmpuint(test_server_n_clients(ts), ==, 1);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
}

static void
test_call_timeout(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    Ferry__DomainStartArgs args = FERRY__DOMAIN_START_ARGS__INIT;
    Ferry__Domain dom = FERRY__DOMAIN__INIT;
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) ret = NULL;
    g_autofree char *expected = NULL;

    dom.name = (char *)"web1";
    dom.uuid = (char *)"c7a5fdbd-cdaf-9455-926a-d65c16db1809";
    args.dom = &dom;
    ret = ferry_rpc_client_call_message(client, FERRY__PROCEDURE__DOMAIN_START, &args.base,
                                        50, &error);
    g_assert_null(ret);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT);
    expected = g_strdup_printf("ferryd at UNIX socket '%s' did not answer DOMAIN_START "
                               "within 50 ms", test_server_socket(ts));
    g_assert_cmpstr(error->message, ==, expected);

    /* The late reply is dropped; the connection goes on. */
    gate_open();
    assert_hostname_works(client);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
}

static void
test_oversized_messages(void)
{
    ferry_rpc_server_config config = { .max_frame = 1024 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    ferry_rpc_client_config cc = { .max_frame = 64 };
    ferry_rpc_client *small = connect_client(ts, &cc);
    Ferry__ConnectGetCapabilitiesArgs caps = FERRY__CONNECT_GET_CAPABILITIES_ARGS__INIT;
    Ferry__DomainLookupByNameArgs lookup = FERRY__DOMAIN_LOOKUP_BY_NAME_ARGS__INIT;
    g_autofree char *long_name = g_strnfill(100, 'n');
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) ret = NULL;

    /* A reply above the limit becomes an error, not a frame the client refuses. */
    ret = ferry_rpc_client_call_message(client, FERRY__PROCEDURE__CONNECT_GET_CAPABILITIES,
                                        &caps.base, 0, &error);
    g_assert_null(ret);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    g_assert_true(g_str_has_prefix(error->message, "the reply to CONNECT_GET_CAPABILITIES "
                                   "would be a frame of "));
    g_assert_true(g_str_has_suffix(error->message, " bytes, above the limit of 1024"));
    g_clear_error(&error);

    /* A call above the client's own limit never leaves. */
    lookup.name = long_name;
    ret = ferry_rpc_client_call_message(small, FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME,
                                        &lookup.base, 0, &error);
    g_assert_null(ret);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    g_assert_true(g_str_has_prefix(error->message, "the call DOMAIN_LOOKUP_BY_NAME would be "
                                   "a frame of "));
    g_assert_true(g_str_has_suffix(error->message, " bytes, above the limit of 64"));

    assert_hostname_works(client);
    assert_hostname_works(small);
    g_assert_cmpuint(test_log_count(""), ==, 0);
    ferry_rpc_client_unref(small);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
}

static void
test_tcp(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    g_autoptr(GError) error = NULL;
    ferry_rpc_client *client =
        ferry_rpc_client_new_tcp("127.0.0.1", test_server_tcp_port(ts), NULL, &error);
    g_autofree char *desc = g_strdup_printf("ferryd at TCP 127.0.0.1 port %u",
                                            test_server_tcp_port(ts));

    g_assert_no_error(error);
    g_assert_cmpstr(ferry_rpc_client_get_description(client), ==, desc);
    assert_hostname_works(client);
    ferry_rpc_client_unref(client);
    test_server_wait_n_clients(ts, 0);
    g_mutex_lock(&echo.lock);
    g_assert_cmpuint(echo.opened, ==, 1);
    g_assert_cmpuint(echo.unix_peers, ==, 0);
    g_mutex_unlock(&echo.lock);
    test_server_stop(ts);
}

static void
test_connect_refused(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_rpc_client) client =
        ferry_rpc_client_new_unix("/nonexistent/ferryd.sock", NULL, &error);

    g_assert_null(client);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_CONNECT);
    g_assert_true(g_str_has_prefix(error->message, "cannot connect to ferryd at UNIX socket "
                                   "'/nonexistent/ferryd.sock': "));
}

/* ------------------------------------------------------------------------ */
/* Limits and bad peers                                                      */
/* ------------------------------------------------------------------------ */

static void
test_max_clients(void)
{
    ferry_rpc_server_config config = { .max_clients = 1 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *first = connect_client(ts, NULL);
    ferry_rpc_client *second = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *logged = NULL;

    assert_hostname_works(first);
    /* Accepted by the kernel, then closed by the server. */
    second = connect_client(ts, NULL);
    error = hostname_call(second);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_false(ferry_rpc_client_is_alive(second));
    logged = test_log_wait("refused: the limit of 1 connected clients is reached; closing");
    g_assert_true(g_str_has_prefix(logged, "client 2 (unix, pid "));

    assert_hostname_works(first);
    g_assert_cmpuint(test_server_n_clients(ts), ==, 1);
    ferry_rpc_client_unref(second);
    ferry_rpc_client_unref(first);
    test_server_stop(ts);
}

typedef struct {
    const char *name;
    const guint8 *data;
    gsize len;
    gboolean shut_write;    /* end the stream after the bytes */
    const char *reason;
} bad_peer_case;

static const guint8 huge_length[] = { 0xff, 0xff, 0xff, 0xff, 'x' };
static const guint8 zero_length[] = { 0, 0, 0, 0 };
static const guint8 junk_packet[] = { 0, 0, 0, 6, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff };
static const guint8 half_frame[] = { 0, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static const bad_peer_case bad_peers[] = {
    { "huge", huge_length, sizeof(huge_length), FALSE,
      "frame length 4294967295 exceeds limit 4194304; closing" },
    { "zero", zero_length, sizeof(zero_length), FALSE,
      "frame length 0 is invalid: a frame holds at least a packet header; closing" },
    { "junk", junk_packet, sizeof(junk_packet), FALSE,
      "frame of 6 bytes is not a valid Packet; closing" },
    { "half", half_frame, sizeof(half_frame), TRUE,
      "connection closed in the middle of a frame: 10 of 100 bytes received; closing" },
};

static void
test_bad_peers(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *good = connect_client(ts, NULL);
    g_autofree char *who = g_strdup_printf("(unix, pid %ld, uid %ld): ", (long)getpid(),
                                           (long)getuid());

    for (guint i = 0; i < G_N_ELEMENTS(bad_peers); i++) {
        const bad_peer_case *c = &bad_peers[i];
        g_autoptr(GSocketConnection) raw = test_raw_connect(test_server_socket(ts));
        GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(raw));
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) rest = NULL;
        g_autofree char *logged = NULL;

        g_test_message("bad peer: %s", c->name);
        test_log_clear();
        g_output_stream_write_all(out, c->data, c->len, NULL, NULL, &error);
        g_assert_no_error(error);
        if (c->shut_write)
            g_socket_shutdown(g_socket_connection_get_socket(raw), FALSE, TRUE, &error);
        g_assert_no_error(error);

        /* The server hangs up on this peer, says why and who it was... */
        rest = test_raw_read_until_eof(raw);
        g_assert_cmpuint(g_bytes_get_size(rest), ==, 0);
        logged = test_log_wait(c->reason);
        g_assert_true(g_str_has_prefix(logged, "client "));
        g_assert_nonnull(strstr(logged, who));

        /* ...and the other client does not notice. */
        assert_hostname_works(good);
        test_server_wait_n_clients(ts, 1);
    }
    ferry_rpc_client_unref(good);
    test_server_stop(ts);
}

static void
test_bad_peer_tcp(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) raw =
        g_socket_client_connect_to_host(sc, "127.0.0.1", test_server_tcp_port(ts), NULL,
                                        &error);
    g_autofree char *logged = NULL;
    g_autoptr(GBytes) rest = NULL;

    g_assert_no_error(error);
    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(raw)), huge_length,
                              sizeof(huge_length), NULL, NULL, &error);
    g_assert_no_error(error);
    logged = test_log_wait("frame length 4294967295 exceeds limit 4194304; closing");
    g_assert_true(g_str_has_prefix(logged, "client 1 (tcp, 127.0.0.1:"));
    g_socket_set_timeout(g_socket_connection_get_socket(raw), 10);
    rest = test_raw_read_until_eof(raw);
    test_server_stop(ts);
}

static void
test_unexpected_reply(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    g_autoptr(GSocketConnection) raw = test_raw_connect(test_server_socket(ts));
    g_autoptr(GBytes) frame = ferry_rpc_frame_new(FERRY__PROCEDURE__DOMAIN_START,
                                                  FERRY__PACKET_TYPE__REPLY, 4,
                                                  FERRY__PACKET_STATUS__OK, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) rest = NULL;
    g_autofree char *logged = NULL;

    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(raw)),
                              g_bytes_get_data(frame, NULL), g_bytes_get_size(frame), NULL,
                              NULL, &error);
    g_assert_no_error(error);
    rest = test_raw_read_until_eof(raw);
    logged = test_log_wait("unexpected REPLY packet (DOMAIN_START, serial 4): the server "
                           "makes no calls; closing");
    g_assert_nonnull(logged);
    test_server_stop(ts);
}

/* ------------------------------------------------------------------------ */
/* Keepalive                                                                 */
/* ------------------------------------------------------------------------ */

static void
test_keepalive_dead_client(void)
{
    ferry_rpc_server_config config = { .keepalive_interval_ms = 40, .keepalive_count = 2 };
    test_server *ts = start_server(&config);
    g_autoptr(GSocketConnection) raw = test_raw_connect(test_server_socket(ts));
    g_autoptr(GBytes) received = NULL;
    g_autoptr(ferry_rpc_decoder) dec = ferry_rpc_decoder_new(0);
    g_autofree char *logged = NULL;
    guint pings = 0;

    /* The peer never answers: the server pings it, then gives up. */
    received = test_raw_read_until_eof(raw);
    logged = test_log_wait("the peer answered none of 2 keepalive pings in ");
    g_assert_true(g_str_has_suffix(logged, " ms; closing"));

    ferry_rpc_decoder_feed(dec, g_bytes_get_data(received, NULL), g_bytes_get_size(received));
    for (;;) {
        g_autoptr(Ferry__Packet) packet = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true(ferry_rpc_decoder_next(dec, &packet, &error));
        if (!packet)
            break;
        g_assert_cmpint(packet->type, ==, FERRY__PACKET_TYPE__EVENT);
        g_assert_cmpuint(packet->procedure, ==, FERRY__PROCEDURE__KEEPALIVE_PING);
        pings++;
    }
    g_assert_cmpuint(pings, ==, 2);
    test_server_wait_n_clients(ts, 0);
    test_server_stop(ts);
}

static void
test_keepalive_answered(void)
{
    ferry_rpc_server_config config = { .keepalive_interval_ms = 50, .keepalive_count = 4 };
    test_server *ts = start_server(&config);
    /* This client never pings by itself, but answers the server's pings. */
    ferry_rpc_client_config cc = { .keepalive_interval_ms = FERRY_RPC_KEEPALIVE_OFF };
    ferry_rpc_client *client = connect_client(ts, &cc);

    /* Many keepalive periods of silence from the client's side. */
    g_usleep(400 * 1000);
    g_assert_true(ferry_rpc_client_is_alive(client));
    assert_hostname_works(client);
    g_assert_cmpuint(test_log_count("keepalive"), ==, 0);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
}

static void
test_keepalive_dead_server(void)
{
    g_autofree char *dir = g_dir_make_tmp("ferry-rpc-test-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "silent.sock", NULL);
    g_autoptr(GSocket) listener = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                               G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    ferry_rpc_client_config cc = { .keepalive_interval_ms = 30, .keepalive_count = 2 };
    g_autoptr(GError) error = NULL;
    ferry_rpc_client *client;

    /* A socket that accepts connections (in its backlog) and never speaks. */
    g_socket_bind(listener, addr, FALSE, &error);
    g_assert_no_error(error);
    g_socket_listen(listener, &error);
    g_assert_no_error(error);

    client = ferry_rpc_client_new_unix(path, &cc, &error);
    g_assert_no_error(error);
    /* Waits without a timeout: only keepalive can end it. */
    error = hostname_call(client);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_nonnull(strstr(error->message, "the peer answered none of 2 keepalive pings"));
    g_assert_false(ferry_rpc_client_is_alive(client));
    ferry_rpc_client_unref(client);
    g_unlink(path);
    g_rmdir(dir);
}

static void
test_server_gone(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) again = NULL;

    assert_hostname_works(client);
    test_server_stop(ts);
    error = hostname_call(client);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_true(g_str_has_prefix(error->message, "connection to ferryd at UNIX socket '"));
    g_assert_false(ferry_rpc_client_is_alive(client));
    again = hostname_call(client);
    g_assert_error(again, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    ferry_rpc_client_unref(client);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_init();
    g_mutex_init(&echo.lock);
    g_cond_init(&echo.cond);

    g_test_add_func("/rpc/server/call-and-error", test_call_and_error);
    g_test_add_func("/rpc/server/concurrent-calls", test_concurrent_calls);
    g_test_add_func("/rpc/server/calls-in-flight-limit", test_calls_in_flight_limit);
    g_test_add_func("/rpc/server/call-timeout", test_call_timeout);
    g_test_add_func("/rpc/server/oversized-messages", test_oversized_messages);
    g_test_add_func("/rpc/server/tcp", test_tcp);
    g_test_add_func("/rpc/server/connect-refused", test_connect_refused);
    g_test_add_func("/rpc/server/max-clients", test_max_clients);
    g_test_add_func("/rpc/server/bad-peers", test_bad_peers);
    g_test_add_func("/rpc/server/bad-peer-tcp", test_bad_peer_tcp);
    g_test_add_func("/rpc/server/unexpected-reply", test_unexpected_reply);
    g_test_add_func("/rpc/keepalive/dead-client", test_keepalive_dead_client);
    g_test_add_func("/rpc/keepalive/answered", test_keepalive_answered);
    g_test_add_func("/rpc/keepalive/dead-server", test_keepalive_dead_server);
    g_test_add_func("/rpc/server/server-gone", test_server_gone);
    return g_test_run();
}
