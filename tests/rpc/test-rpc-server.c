/*
 * test-rpc-server.c: the RPC server and client together, with a small
 * handler of the test's own: calls, errors, limits, bad peers, keepalive,
 * deferred calls, priority workers, and the client's asynchronous calls.
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
 * CONNECT_GET_HOSTNAME answers "echo-host" and is the one priority call;
 * CONNECT_GET_CAPABILITIES answers 2000 bytes; DOMAIN_START waits until the
 * test opens the gate; DOMAIN_LOOKUP_BY_NAME fails with NO_DOMAIN;
 * DOMAIN_SUSPEND is deferred: its call is kept in `deferred` for the test
 * to complete; EVENTS_REGISTER sends an EVENT_LIFECYCLE before its reply.
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
    guint calls;            /* calls that reached the handler */
    GPtrArray *deferred;    /* DOMAIN_SUSPEND calls not completed yet */
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

/* Completes @call with a packed message (freed) and returns. */
static void
return_message(ferry_rpc_call *call, const ProtobufCMessage *msg)
{
    g_autoptr(GBytes) body = ferry_rpc_message_pack(msg);

    ferry_rpc_call_return(call, body);
}

static void
echo_call(gpointer handler_data, ferry_rpc_server_client *client, gpointer client_data,
          guint32 procedure, GBytes *args, ferry_rpc_call *call)
{
    g_mutex_lock(&echo.lock);
    echo.calls++;
    g_mutex_unlock(&echo.lock);

    switch (procedure) {
    case FERRY__PROCEDURE__CONNECT_GET_HOSTNAME: {
        Ferry__ConnectGetHostnameRet ret = FERRY__CONNECT_GET_HOSTNAME_RET__INIT;

        ret.hostname = (char *)"echo-host";
        return_message(call, &ret.base);
        return;
    }
    case FERRY__PROCEDURE__CONNECT_GET_CAPABILITIES: {
        Ferry__ConnectGetCapabilitiesRet ret = FERRY__CONNECT_GET_CAPABILITIES_RET__INIT;
        g_autofree char *big = g_strnfill(2000, 'x');

        ret.capabilities = big;
        return_message(call, &ret.base);
        return;
    }
    case FERRY__PROCEDURE__DOMAIN_START:
        g_mutex_lock(&echo.lock);
        echo.waiting++;
        g_cond_broadcast(&echo.cond);
        while (!echo.gate_open)
            g_cond_wait(&echo.cond, &echo.lock);
        echo.waiting--;
        g_mutex_unlock(&echo.lock);
        ferry_rpc_call_return(call, NULL);
        return;
    case FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME: {
        GError *error = NULL;
        g_autoptr(ProtobufCMessage) msg =
            ferry_rpc_message_unpack(&ferry__domain_lookup_by_name_args__descriptor, args,
                                     "the arguments", &error);

        if (msg)
            g_set_error(&error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN, "no domain named '%s'",
                        ((Ferry__DomainLookupByNameArgs *)msg)->name);
        ferry_rpc_call_return_error(call, error);
        return;
    }
    case FERRY__PROCEDURE__DOMAIN_SUSPEND:
        /* Returns with the call pending: the worker is free again. */
        g_mutex_lock(&echo.lock);
        g_ptr_array_add(echo.deferred, call);
        g_cond_broadcast(&echo.cond);
        g_mutex_unlock(&echo.lock);
        return;
    case FERRY__PROCEDURE__EVENTS_REGISTER: {
        g_autoptr(GBytes) body = g_bytes_new_static("event", 5);

        ferry_rpc_server_client_send_event(client, FERRY__PROCEDURE__EVENT_LIFECYCLE, body);
        ferry_rpc_call_return(call, NULL);
        return;
    }
    default:
        ferry_rpc_call_return_error(call, g_error_new(FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                                                      "not in this test"));
        return;
    }
}

static gboolean
echo_is_priority(gpointer handler_data, guint32 procedure)
{
    return procedure == FERRY__PROCEDURE__CONNECT_GET_HOSTNAME;
}

static const ferry_rpc_handler echo_handler = {
    .client_open = echo_client_open,
    .call = echo_call,
    .is_priority = echo_is_priority,
    .client_close = echo_client_close,
    .client_free = echo_client_free,
};

/* The same without priority calls. */
static const ferry_rpc_handler echo_handler_no_priority = {
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
    echo.opened = echo.unix_peers = echo.closed = echo.freed = echo.calls = 0;
    /* A test that failed may have left calls: they are not ours any more. */
    g_ptr_array_set_size(echo.deferred, 0);
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

/* Asks the hostname, waiting up to @timeout_ms (0: no limit); returns the
 * error, or NULL after checking the answer. */
static GError *
hostname_call_within(ferry_rpc_client *client, guint timeout_ms)
{
    Ferry__ConnectGetHostnameArgs args = FERRY__CONNECT_GET_HOSTNAME_ARGS__INIT;
    GError *error = NULL;
    g_autoptr(ProtobufCMessage) ret =
        ferry_rpc_client_call_message(client, FERRY__PROCEDURE__CONNECT_GET_HOSTNAME,
                                      &args.base, timeout_ms, &error);

    if (!ret)
        return error;
    g_assert_cmpstr(((Ferry__ConnectGetHostnameRet *)ret)->hostname, ==, "echo-host");
    return NULL;
}

static GError *
hostname_call(ferry_rpc_client *client)
{
    return hostname_call_within(client, 0);
}

static void
assert_hostname_works(ferry_rpc_client *client)
{
    g_autoptr(GError) error = hostname_call(client);

    g_assert_no_error(error);
}

/* For a call that a bug would leave waiting: fails rather than hangs. */
static void
assert_hostname_answers_soon(ferry_rpc_client *client)
{
    g_autoptr(GError) error = hostname_call_within(client, 5000);

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
    /* Logged once, naming the client, with its peer for the rate limit. */
    {
        g_autofree char *line = g_strdup_printf("[unix uid %u] client * (unix, pid %d, uid %u): "
                                                "call DOMAIN_LOOKUP_BY_NAME (serial *) failed: "
                                                "no domain named 'web1'", (guint)getuid(),
                                                (int)getpid(), (guint)getuid());

        g_assert_cmpuint(test_log_info_count(line), ==, 1);
    }

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
    g_assert_cmpuint(test_log_info_count("[unix uid *] client * (unix, *): call "
                                         "CONNECT_GET_HOSTNAME (serial *) failed: call "
                                         "CONNECT_GET_HOSTNAME (serial *) refused: this "
                                         "connection already has 2 calls in flight, the limit"),
                     ==, 1);

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

/* A server that is not ferryd: it reads the first call, answers @reply
 * (with its write side shut when @shut), and waits for the client to go. */
typedef struct {
    GSocketListener *listener;
    const char *reply;
    gsize len;
    gboolean shut;
} stranger;

static gpointer
stranger_main(gpointer data)
{
    stranger *st = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) conn = g_socket_listener_accept(st->listener, NULL, NULL,
                                                                 &error);
    GSocket *sock;
    char buf[4096];

    g_assert_no_error(error);
    sock = g_socket_connection_get_socket(conn);
    g_assert_cmpint(g_socket_receive(sock, buf, sizeof(buf), NULL, &error), >, 0);
    g_assert_cmpint(g_socket_send(sock, st->reply, st->len, NULL, &error), ==, (gssize)st->len);
    if (st->shut)
        g_socket_shutdown(sock, FALSE, TRUE, NULL);
    while (g_socket_receive(sock, buf, sizeof(buf), NULL, NULL) > 0)
        ;
    return NULL;
}

/* Whatever a server that is not ferryd answers, the error says so and
 * carries none of its bytes: a peer-to-peer URI can point a daemon at any
 * server, and its answer must not come back to the client or the log. */
static void
test_not_a_ferry_daemon(void)
{
    static const struct {
        const char *reply;
        gsize len;
        gboolean shut;
    } cases[] = {
        /* "HTTP" read as a frame length: 1213486160. */
        { "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 47, FALSE },
        /* A length, then the server closes mid-frame. */
        { "\x00\x00\x10\x00SSH", 7, TRUE },
        /* A whole frame that is no packet. */
        { "\x00\x00\x00\x05\xff\xff\xff\xff\xff", 9, FALSE },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GSocketListener) listener = g_socket_listener_new();
        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
        g_autoptr(GSocketAddress) bound = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(ferry_rpc_client) client = NULL;
        stranger st = { listener, cases[i].reply, cases[i].len, cases[i].shut };
        GThread *thread;
        guint16 port;

        g_assert_true(g_socket_listener_add_address(listener, addr, G_SOCKET_TYPE_STREAM,
                                                    G_SOCKET_PROTOCOL_TCP, NULL, &bound,
                                                    &error));
        port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
        thread = g_thread_new("stranger", stranger_main, &st);
        client = ferry_rpc_client_new_tcp("127.0.0.1", port, NULL, &error);
        g_assert_no_error(error);
        g_clear_error(&error);
        error = hostname_call(client);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
        g_assert_true(g_str_has_suffix(error->message, " lost: it is not a ferry daemon (what "
                                       "it sent is not ferry's protocol)"));
        g_assert_null(strstr(error->message, "HTTP"));
        g_assert_null(strstr(error->message, "1213486160"));
        g_assert_null(strstr(error->message, "4096"));
        g_clear_pointer(&client, ferry_rpc_client_unref);
        g_thread_join(thread);
    }
}

/* ------------------------------------------------------------------------ */
/* Deferred calls and priority workers                                       */
/* ------------------------------------------------------------------------ */

static test_server *
start_server_with(ferry_rpc_server_config *config, const ferry_rpc_handler *handler)
{
    echo_reset();
    config->handler = handler;
    return test_server_start(config);
}

/* Waits (up to 10 s) until the handler holds @n deferred calls. */
static void
deferred_wait_for(guint n)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    g_mutex_lock(&echo.lock);
    while (echo.deferred->len < n) {
        if (!g_cond_wait_until(&echo.cond, &echo.lock, end))
            g_error("the handler holds %u deferred calls, not %u, after 10 s",
                    echo.deferred->len, n);
    }
    g_mutex_unlock(&echo.lock);
}

/* Takes the oldest deferred call from the handler. */
static ferry_rpc_call *
deferred_take(void)
{
    ferry_rpc_call *call;

    g_mutex_lock(&echo.lock);
    g_assert_cmpuint(echo.deferred->len, >, 0);
    call = g_ptr_array_steal_index(echo.deferred, 0);
    g_mutex_unlock(&echo.lock);
    return call;
}

static guint
echo_count(const guint *counter)
{
    guint n;

    g_mutex_lock(&echo.lock);
    n = *counter;
    g_mutex_unlock(&echo.lock);
    return n;
}

typedef struct {
    ferry_rpc_call *call;
    GBytes *body;
    GError *error;
} completion;

static gpointer
complete_thread(gpointer data)
{
    completion *c = data;

    if (c->error)
        ferry_rpc_call_return_error(c->call, c->error);
    else
        ferry_rpc_call_return(c->call, c->body);
    return NULL;
}

/* Completes @call from a thread of its own, as a handler finishing later
 * does: with @body on success, else with @error (taken). */
static void
complete_from_thread(ferry_rpc_call *call, GBytes *body, GError *error)
{
    completion c = { .call = call, .body = body, .error = error };

    g_thread_join(g_thread_new("complete", complete_thread, &c));
}

/* A synchronous DOMAIN_SUSPEND (deferred by the handler) on a thread. */
typedef struct {
    ferry_rpc_client *client;
    GThread *thread;
    GBytes *reply;
    GError *error;
} suspend_call;

static gpointer
suspend_thread(gpointer data)
{
    suspend_call *sc = data;

    sc->reply = ferry_rpc_client_call(sc->client, FERRY__PROCEDURE__DOMAIN_SUSPEND, NULL, 0,
                                      &sc->error);
    return NULL;
}

static void
suspend_start(suspend_call *sc, ferry_rpc_client *client)
{
    sc->client = client;
    sc->thread = g_thread_new("suspend", suspend_thread, sc);
}

/* Joins the call's thread; its outcome is in @sc, to be cleared. */
static void
suspend_join(suspend_call *sc)
{
    g_thread_join(sc->thread);
}

static void
suspend_clear(suspend_call *sc)
{
    g_clear_pointer(&sc->reply, g_bytes_unref);
    g_clear_error(&sc->error);
}

/* DOMAIN_LOOKUP_BY_NAME: answered (with NO_DOMAIN) by a normal worker,
 * within 5 s. */
static void
assert_lookup_answered(ferry_rpc_client *client)
{
    Ferry__DomainLookupByNameArgs args = FERRY__DOMAIN_LOOKUP_BY_NAME_ARGS__INIT;
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) ret = NULL;

    args.name = (char *)"web1";
    ret = ferry_rpc_client_call_message(client, FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME,
                                        &args.base, 5000, &error);
    g_assert_null(ret);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
}

static void
test_deferred_call(void)
{
    /* One normal worker: answering another call proves it was free. */
    ferry_rpc_server_config config = { .max_workers = 1, .max_frame = 1024 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    g_autoptr(GBytes) body = g_bytes_new_static("done later", 10);
    g_autoptr(GBytes) big = g_bytes_new_take(g_strnfill(2000, 'x'), 2000);
    suspend_call sc = { 0 };

    suspend_start(&sc, client);
    deferred_wait_for(1);
    /* Pending, holding no worker: the same client's next call is served. */
    assert_lookup_answered(client);
    g_assert_cmpuint(echo_count(&echo.deferred->len), ==, 1);
    complete_from_thread(deferred_take(), body, NULL);
    suspend_join(&sc);
    g_assert_no_error(sc.error);
    g_assert_true(g_bytes_equal(sc.reply, body));
    suspend_clear(&sc);

    /* An error completed later arrives with its code and message. */
    suspend_start(&sc, client);
    deferred_wait_for(1);
    complete_from_thread(deferred_take(), NULL,
                         g_error_new(FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED,
                                     "the guest refused to pause"));
    suspend_join(&sc);
    g_assert_null(sc.reply);
    g_assert_error(sc.error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED);
    g_assert_cmpstr(sc.error->message, ==, "the guest refused to pause");
    suspend_clear(&sc);

    /* A late reply too big for the client becomes an error, as at once. */
    suspend_start(&sc, client);
    deferred_wait_for(1);
    complete_from_thread(deferred_take(), big, NULL);
    suspend_join(&sc);
    g_assert_error(sc.error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    g_assert_true(g_str_has_prefix(sc.error->message, "the reply to DOMAIN_SUSPEND would be "
                                   "a frame of "));
    suspend_clear(&sc);

    assert_hostname_works(client);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
    g_assert_cmpuint(echo.freed, ==, 1);
}

static void
test_priority_workers(void)
{
    ferry_rpc_server_config config = { .max_workers = 1 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    g_autoptr(GError) error = NULL;
    GThread *t1 = g_thread_new("start-1", start_call, client);
    GThread *t2;

    /* The one normal worker is held at the gate... */
    gate_wait_for(1);
    /* ...and the priority call answers all the same. */
    assert_hostname_answers_soon(client);

    /* A second normal call waits for that worker. */
    t2 = g_thread_new("start-2", start_call, client);
    g_usleep(100 * 1000);
    g_assert_cmpuint(echo_count(&echo.waiting), ==, 1);
    assert_hostname_answers_soon(client);
    gate_open();
    g_thread_join(t1);
    g_thread_join(t2);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);

    /* Without is_priority, the same call waits behind the held worker. */
    config = (ferry_rpc_server_config){ .max_workers = 1 };
    ts = start_server_with(&config, &echo_handler_no_priority);
    client = connect_client(ts, NULL);
    t1 = g_thread_new("start-1", start_call, client);
    gate_wait_for(1);
    {
        Ferry__ConnectGetHostnameArgs args = FERRY__CONNECT_GET_HOSTNAME_ARGS__INIT;
        g_autoptr(ProtobufCMessage) ret =
            ferry_rpc_client_call_message(client, FERRY__PROCEDURE__CONNECT_GET_HOSTNAME,
                                          &args.base, 200, &error);

        g_assert_null(ret);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_TIMEOUT);
    }
    gate_open();
    g_thread_join(t1);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
}

static void
test_deferred_client_gone(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *gone = connect_client(ts, NULL);
    ferry_rpc_client *other = connect_client(ts, NULL);
    g_autoptr(GBytes) body = g_bytes_new_static("too late", 8);
    suspend_call sc = { 0 };

    suspend_start(&sc, gone);
    deferred_wait_for(1);
    ferry_rpc_client_close(gone);
    suspend_join(&sc);
    g_assert_error(sc.error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    suspend_clear(&sc);
    ferry_rpc_client_unref(gone);
    test_server_wait_n_clients(ts, 1);

    /* The pending call keeps the closed client's data until completed. */
    g_assert_cmpuint(echo_count(&echo.closed), ==, 1);
    g_assert_cmpuint(echo_count(&echo.freed), ==, 0);
    complete_from_thread(deferred_take(), body, NULL);
    g_assert_cmpuint(echo_count(&echo.freed), ==, 1);

    /* The server goes on serving the others, and nothing was wrong. */
    assert_hostname_works(other);
    assert_lookup_answered(other);
    g_assert_cmpuint(test_log_count(""), ==, 0);
    ferry_rpc_client_unref(other);
    test_server_stop(ts);
}

typedef struct {
    test_server *ts;
    gint stopped;           /* atomic */
} stopper;

static gpointer
stop_thread(gpointer data)
{
    stopper *st = data;

    test_server_stop(st->ts);
    g_atomic_int_set(&st->stopped, 1);
    return NULL;
}

static void
test_deferred_at_stop(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    g_autoptr(GBytes) body = g_bytes_new_static("after the end", 13);
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    stopper st = { .ts = ts };
    suspend_call sc = { 0 };
    GThread *thread;

    suspend_start(&sc, client);
    deferred_wait_for(1);
    /* The stop must not wait for the pending call, which is completed only
     * after the stop returned. */
    thread = g_thread_new("stop", stop_thread, &st);
    while (!g_atomic_int_get(&st.stopped)) {
        if (g_get_monotonic_time() > end)
            g_error("ferry_rpc_server_stop() still waits after 10 s");
        g_usleep(2000);
    }
    g_thread_join(thread);
    suspend_join(&sc);
    g_assert_error(sc.error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    suspend_clear(&sc);

    /* Completing it now, with the server gone, is harmless. */
    g_assert_cmpuint(echo_count(&echo.freed), ==, 0);
    complete_from_thread(deferred_take(), body, NULL);
    g_assert_cmpuint(echo_count(&echo.freed), ==, 1);
    ferry_rpc_client_unref(client);
}

static void
test_deferred_in_flight_limit(void)
{
    ferry_rpc_server_config config = { .max_calls_per_client = 2, .max_workers = 1 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    g_autoptr(GError) error = NULL;
    suspend_call sc[2] = { 0 };

    suspend_start(&sc[0], client);
    suspend_start(&sc[1], client);
    deferred_wait_for(2);
    /* No worker is busy, yet the two deferred calls are in flight. */
    error = hostname_call(client);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT);
    g_assert_true(g_str_has_suffix(error->message, ") refused: this connection already "
                                   "has 2 calls in flight, the limit"));
    g_clear_error(&error);

    /* Completing one makes room at once. */
    ferry_rpc_call_return(deferred_take(), NULL);
    assert_hostname_works(client);
    complete_from_thread(deferred_take(), NULL, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(sc); i++) {
        suspend_join(&sc[i]);
        g_assert_no_error(sc[i].error);
        g_assert_cmpuint(g_bytes_get_size(sc[i].reply), ==, 0);
        suspend_clear(&sc[i]);
    }
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
}

/* ------------------------------------------------------------------------ */
/* Limits and bad peers                                                      */
/* ------------------------------------------------------------------------ */

static void
test_max_clients(void)
{
    ferry_rpc_server_config config = { .max_unix_clients = 1 };
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
    logged = test_log_wait("refused: the limit of 1 connected UNIX clients is reached; "
                           "closing");
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

/* ------------------------------------------------------------------------ */
/* Asynchronous client calls                                                 */
/* ------------------------------------------------------------------------ */

static void
hostname_async(ferry_rpc_client *client, guint timeout_ms, test_async *ar)
{
    Ferry__ConnectGetHostnameArgs args = FERRY__CONNECT_GET_HOSTNAME_ARGS__INIT;

    ferry_rpc_client_call_message_async(client, FERRY__PROCEDURE__CONNECT_GET_HOSTNAME,
                                        &args.base, timeout_ms, NULL, test_async_message_cb,
                                        test_async_prepare(ar, client));
}

static void
assert_hostname_reply(test_async *ar)
{
    g_assert_no_error(ar->error);
    g_assert_nonnull(ar->msg);
    g_assert_cmpstr(((Ferry__ConnectGetHostnameRet *)ar->msg)->hostname, ==, "echo-host");
}

static void
test_async_reply_and_error(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    GMainContext *context = test_context_push();
    Ferry__DomainLookupByNameArgs lookup = FERRY__DOMAIN_LOOKUP_BY_NAME_ARGS__INIT;
    g_autoptr(GBytes) junk = g_bytes_new_static("\xff\xff\xff", 3);
    test_async host = { 0 }, missing = { 0 }, bad = { 0 };

    hostname_async(client, 0, &host);
    lookup.name = (char *)"web1";
    ferry_rpc_client_call_message_async(client, FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME,
                                        &lookup.base, 0, NULL, test_async_message_cb,
                                        test_async_prepare(&missing, client));
    ferry_rpc_client_call_async(client, FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME, junk, 0,
                                NULL, test_async_bytes_cb, test_async_prepare(&bad, client));
    /* Callbacks run only when this thread's context does. */
    g_usleep(50 * 1000);
    g_assert_cmpuint(test_async_count(&host) + test_async_count(&missing) + test_async_count(&bad), ==, 0);

    test_async_wait(&host, 1);
    assert_hostname_reply(&host);
    test_async_wait(&missing, 1);
    g_assert_error(missing.error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_assert_cmpstr(missing.error->message, ==, "no domain named 'web1'");
    test_async_wait(&bad, 1);
    g_assert_error(bad.error, FERRY_ERROR, FERRY_ERROR_RPC);

    test_context_drain(context);
    g_assert_cmpuint(test_async_count(&host) + test_async_count(&missing) + test_async_count(&bad), ==, 3);
    test_async_clear(&host);
    test_async_clear(&missing);
    test_async_clear(&bad);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
    test_context_pop(context);
}

static void
test_async_timeout(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    GMainContext *context = test_context_push();
    g_autoptr(GBytes) body = g_bytes_new_static("late", 4);
    g_autofree char *expected = NULL;
    test_async ar = { 0 }, host = { 0 };

    ferry_rpc_client_call_async(client, FERRY__PROCEDURE__DOMAIN_SUSPEND, NULL, 50, NULL,
                                test_async_bytes_cb, test_async_prepare(&ar, client));
    test_async_wait(&ar, 1);
    g_assert_error(ar.error, FERRY_ERROR, FERRY_ERROR_TIMEOUT);
    expected = g_strdup_printf("ferryd at UNIX socket '%s' did not answer DOMAIN_SUSPEND "
                               "within 50 ms", test_server_socket(ts));
    g_assert_cmpstr(ar.error->message, ==, expected);

    /* The late reply is dropped; the connection goes on. */
    deferred_wait_for(1);
    ferry_rpc_call_return(deferred_take(), body);
    hostname_async(client, 1000, &host);
    test_async_wait(&host, 1);
    assert_hostname_reply(&host);
    test_context_drain(context);
    g_assert_cmpuint(test_async_count(&ar), ==, 1);
    g_assert_true(ferry_rpc_client_is_alive(client));

    test_async_clear(&ar);
    test_async_clear(&host);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
    test_context_pop(context);
}

static void
test_async_cancel(void)
{
    /* One normal worker: calls reach the handler in the order sent. */
    ferry_rpc_server_config config = { .max_workers = 1 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    GMainContext *context = test_context_push();
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GBytes) body = g_bytes_new_static("late", 4);
    test_async ar = { 0 }, early = { 0 };
    guint calls;

    ferry_rpc_client_call_async(client, FERRY__PROCEDURE__DOMAIN_SUSPEND, NULL, 0,
                                cancellable, test_async_bytes_cb, test_async_prepare(&ar, client));
    deferred_wait_for(1);
    g_cancellable_cancel(cancellable);
    test_async_wait(&ar, 1);
    g_assert_null(ar.reply);
    g_assert_error(ar.error, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED);
    g_assert_cmpstr(ar.error->message, ==, "call DOMAIN_SUSPEND cancelled");

    /* The reply coming after is dropped; the connection goes on. */
    ferry_rpc_call_return(deferred_take(), body);
    assert_hostname_works(client);
    assert_lookup_answered(client);
    test_context_drain(context);
    g_assert_cmpuint(test_async_count(&ar), ==, 1);

    /* Cancelled before it starts: it fails, later, and is never sent. */
    calls = echo_count(&echo.calls);
    ferry_rpc_client_call_async(client, FERRY__PROCEDURE__DOMAIN_SUSPEND, NULL, 0,
                                cancellable, test_async_bytes_cb, test_async_prepare(&early, client));
    g_assert_cmpuint(test_async_count(&early), ==, 0);
    test_async_wait(&early, 1);
    g_assert_error(early.error, FERRY_ERROR, FERRY_ERROR_OPERATION_ABORTED);
    /* A call sent after it would reach the one worker after it. */
    assert_lookup_answered(client);
    g_assert_cmpuint(echo_count(&echo.calls), ==, calls + 1);
    g_assert_cmpuint(echo_count(&echo.deferred->len), ==, 0);

    test_async_clear(&ar);
    test_async_clear(&early);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
    test_context_pop(context);
}

static void
test_async_connection_lost(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);
    GMainContext *context = test_context_push();
    ferry_rpc_call *orphan;
    test_async ar = { 0 }, after = { 0 };

    ferry_rpc_client_call_async(client, FERRY__PROCEDURE__DOMAIN_SUSPEND, NULL, 0, NULL,
                                test_async_bytes_cb, test_async_prepare(&ar, client));
    deferred_wait_for(1);
    orphan = deferred_take();
    test_server_stop(ts);
    test_async_wait(&ar, 1);
    g_assert_error(ar.error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    g_assert_true(g_str_has_prefix(ar.error->message, "connection to ferryd at UNIX socket '"));

    /* A call on the lost connection fails too, through its callback. */
    hostname_async(client, 0, &after);
    g_assert_cmpuint(test_async_count(&after), ==, 0);
    test_async_wait(&after, 1);
    g_assert_error(after.error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);

    ferry_rpc_call_return(orphan, NULL);
    test_context_drain(context);
    g_assert_cmpuint(test_async_count(&ar) + test_async_count(&after), ==, 2);
    test_async_clear(&ar);
    test_async_clear(&after);
    ferry_rpc_client_unref(client);
    test_context_pop(context);
}

#define MANY_CALLS 300

static gpointer
many_calls_thread(gpointer data)
{
    ferry_rpc_client *client = data;
    GMainContext *context = test_context_push();
    Ferry__DomainLookupByNameArgs lookup = FERRY__DOMAIN_LOOKUP_BY_NAME_ARGS__INIT;
    test_async *results = g_new0(test_async, MANY_CALLS);

    lookup.name = (char *)"web1";
    for (guint i = 0; i < MANY_CALLS; i++) {
        if (i % 3 == 0)
            hostname_async(client, 0, &results[i]);
        else if (i % 3 == 1)
            ferry_rpc_client_call_message_async(client,
                                                FERRY__PROCEDURE__DOMAIN_LOOKUP_BY_NAME,
                                                &lookup.base, 10000, NULL, test_async_message_cb,
                                                test_async_prepare(&results[i], client));
        else
            ferry_rpc_client_call_async(client, FERRY__PROCEDURE__CONNECT_GET_HOSTNAME, NULL,
                                        0, NULL, test_async_bytes_cb,
                                        test_async_prepare(&results[i], client));
    }
    for (guint i = 0; i < MANY_CALLS; i++)
        test_async_wait(&results[i], 1);
    test_context_drain(context);
    for (guint i = 0; i < MANY_CALLS; i++) {
        test_async *ar = &results[i];

        g_assert_cmpuint(ar->n_callbacks, ==, 1);
        if (i % 3 == 0)
            assert_hostname_reply(ar);
        else if (i % 3 == 1)
            g_assert_error(ar->error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
        else
            g_assert_nonnull(ar->reply);
        test_async_clear(ar);
    }
    g_free(results);
    test_context_pop(context);
    return NULL;
}

static void
test_async_many(void)
{
    ferry_rpc_server_config config = { .max_calls_per_client = 2 * MANY_CALLS };
    test_server *ts = start_server(&config);
    ferry_rpc_client *client = connect_client(ts, NULL);

    /* From a thread with a context of its own: every callback runs there
     * (async_called() checks it). */
    g_thread_join(g_thread_new("caller", many_calls_thread, client));
    g_assert_cmpuint(echo_count(&echo.calls), ==, MANY_CALLS);
    ferry_rpc_client_unref(client);
    test_server_stop(ts);
}

/* What the event callback does: one asynchronous call, from the I/O
 * thread, of `procedure`. */
typedef struct {
    guint32 procedure;
    test_async result;
} event_call;

static void
on_event(ferry_rpc_client *client, guint32 procedure, GBytes *body, gpointer user_data)
{
    event_call *ec = user_data;

    g_assert_cmpuint(procedure, ==, FERRY__PROCEDURE__EVENT_LIFECYCLE);
    if (ec->procedure == FERRY__PROCEDURE__CONNECT_GET_HOSTNAME)
        hostname_async(client, 0, &ec->result);
    else
        ferry_rpc_client_call_async(client, ec->procedure, NULL, 0, NULL, test_async_bytes_cb,
                                    test_async_prepare(&ec->result, client));
}

/* Asks for an event: the event callback runs before this returns. */
static void
trigger_event(ferry_rpc_client *client)
{
    Ferry__EventsRegisterArgs args = FERRY__EVENTS_REGISTER_ARGS__INIT;
    g_autoptr(GError) error = NULL;
    g_autoptr(ProtobufCMessage) ret =
        ferry_rpc_client_call_message(client, FERRY__PROCEDURE__EVENTS_REGISTER, &args.base,
                                      0, &error);

    g_assert_no_error(error);
    g_assert_nonnull(ret);
}

static void
test_async_from_event(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    event_call ec = { .procedure = FERRY__PROCEDURE__CONNECT_GET_HOSTNAME };
    ferry_rpc_client_config cc = { .event_func = on_event, .event_data = &ec };
    ferry_rpc_client *client = connect_client(ts, &cc);

    trigger_event(client);
    /* The callback ran in the I/O thread (async_called() checks it). */
    test_async_wait_elsewhere(&ec.result);
    g_assert_true(ec.result.thread != g_thread_self());
    assert_hostname_reply(&ec.result);
    ferry_rpc_client_unref(client);
    g_assert_cmpuint(ec.result.n_callbacks, ==, 1);
    test_async_clear(&ec.result);
    test_server_stop(ts);
}

static void
test_async_unref(void)
{
    ferry_rpc_server_config config = { 0 };
    test_server *ts = start_server(&config);
    event_call ec = { .procedure = FERRY__PROCEDURE__DOMAIN_SUSPEND };
    ferry_rpc_client_config cc = { .event_func = on_event, .event_data = &ec };
    ferry_rpc_client *client = connect_client(ts, &cc);
    GMainContext *context = test_context_push();
    test_async ar = { 0 };

    /* Two calls the daemon will not answer: one made here, one made from
     * the I/O thread. */
    ferry_rpc_client_call_async(client, FERRY__PROCEDURE__DOMAIN_SUSPEND, NULL, 0, NULL,
                                test_async_bytes_cb, test_async_prepare(&ar, client));
    trigger_event(client);
    deferred_wait_for(2);

    ferry_rpc_client_unref(client);
    /* The I/O thread's call completed there, before the unref returned... */
    g_assert_cmpuint(test_async_count(&ec.result), ==, 1);
    g_assert_error(ec.result.error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);
    /* ...and this thread's call completes in this thread's context. */
    g_assert_cmpuint(test_async_count(&ar), ==, 0);
    test_async_wait(&ar, 1);
    g_assert_error(ar.error, FERRY_ERROR, FERRY_ERROR_CONNECTION_CLOSED);

    complete_from_thread(deferred_take(), NULL, NULL);
    complete_from_thread(deferred_take(), NULL, NULL);
    test_context_drain(context);
    g_assert_cmpuint(test_async_count(&ar) + test_async_count(&ec.result), ==, 2);
    test_async_clear(&ar);
    test_async_clear(&ec.result);
    test_server_wait_n_clients(ts, 0);
    test_server_stop(ts);
    test_context_pop(context);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_init();
    g_mutex_init(&echo.lock);
    g_cond_init(&echo.cond);
    echo.deferred = g_ptr_array_new();

    g_test_add_func("/rpc/server/call-and-error", test_call_and_error);
    g_test_add_func("/rpc/server/concurrent-calls", test_concurrent_calls);
    g_test_add_func("/rpc/server/calls-in-flight-limit", test_calls_in_flight_limit);
    g_test_add_func("/rpc/server/call-timeout", test_call_timeout);
    g_test_add_func("/rpc/server/oversized-messages", test_oversized_messages);
    g_test_add_func("/rpc/server/tcp", test_tcp);
    g_test_add_func("/rpc/server/connect-refused", test_connect_refused);
    g_test_add_func("/rpc/server/not-a-ferry-daemon", test_not_a_ferry_daemon);
    g_test_add_func("/rpc/server/max-clients", test_max_clients);
    g_test_add_func("/rpc/server/bad-peers", test_bad_peers);
    g_test_add_func("/rpc/server/bad-peer-tcp", test_bad_peer_tcp);
    g_test_add_func("/rpc/server/unexpected-reply", test_unexpected_reply);
    g_test_add_func("/rpc/keepalive/dead-client", test_keepalive_dead_client);
    g_test_add_func("/rpc/keepalive/answered", test_keepalive_answered);
    g_test_add_func("/rpc/keepalive/dead-server", test_keepalive_dead_server);
    g_test_add_func("/rpc/server/server-gone", test_server_gone);
    g_test_add_func("/rpc/server/deferred-call", test_deferred_call);
    g_test_add_func("/rpc/server/priority-workers", test_priority_workers);
    g_test_add_func("/rpc/server/deferred-client-gone", test_deferred_client_gone);
    g_test_add_func("/rpc/server/deferred-at-stop", test_deferred_at_stop);
    g_test_add_func("/rpc/server/deferred-in-flight-limit", test_deferred_in_flight_limit);
    g_test_add_func("/rpc/client/async-reply-and-error", test_async_reply_and_error);
    g_test_add_func("/rpc/client/async-timeout", test_async_timeout);
    g_test_add_func("/rpc/client/async-cancel", test_async_cancel);
    g_test_add_func("/rpc/client/async-connection-lost", test_async_connection_lost);
    g_test_add_func("/rpc/client/async-many", test_async_many);
    g_test_add_func("/rpc/client/async-from-event", test_async_from_event);
    g_test_add_func("/rpc/client/async-unref", test_async_unref);
    return g_test_run();
}
