/*
 * rpc-test-util.h: what the RPC tests share: an RPC server on a thread of
 * its own listening in a temporary directory, a log writer that records
 * ferry's warnings so tests can wait for a reason to be logged, and the
 * outcome of the client's asynchronous calls.
 */
#pragma once

#include "rpc/rpc-client.h"
#include "rpc/rpc-server.h"

G_BEGIN_DECLS

typedef struct test_server test_server;

/**
 * test_server_start:
 * @config: the server's configuration (handler included)
 *
 * Starts a thread running a server on a UNIX socket in a new temporary
 * directory and on a free TCP port of 127.0.0.1; returns once it listens.
 * Fails the test if it cannot.
 */
test_server *test_server_start(const ferry_rpc_server_config *config);

/**
 * test_server_start_at:
 * @config: the server's configuration (handler included)
 * @path: where to put the UNIX socket (its directory must exist)
 *
 * test_server_start() with a socket path of the caller's choice.
 */
test_server *test_server_start_at(const ferry_rpc_server_config *config, const char *path);

/**
 * test_server_start_tls:
 * @config: the server's configuration (handler included)
 * @tls: the credentials of a TLS listener on a free port of 127.0.0.1
 *
 * test_server_start() with a TLS listener too.
 */
test_server *test_server_start_tls(const ferry_rpc_server_config *config, ferry_rpc_tls *tls);

/** test_server_tls_port: Returns: the TLS listener's port on 127.0.0.1. */
guint16 test_server_tls_port(test_server *ts);

/** test_server_stop: stops the server and its thread, removes the directory. */
void test_server_stop(test_server *ts);

/** test_server_socket: Returns: the path of the server's socket. */
const char *test_server_socket(test_server *ts);

/** test_server_tcp_port: Returns: the server's TCP port on 127.0.0.1. */
guint16 test_server_tcp_port(test_server *ts);

/** test_server_n_clients: Returns: the server's client count (asked in its thread). */
guint test_server_n_clients(test_server *ts);

/** test_server_wait_n_clients: waits until the server has @n clients. */
void test_server_wait_n_clients(test_server *ts, guint n);

/**
 * test_log_init:
 *
 * Installs the log writer (once per process, before any test).  Messages
 * of level warning and above from the ferry-rpc and ferryd domains are
 * recorded and printed; the others go to GLib's default writer.
 */
void test_log_init(void);

/** test_log_clear: forgets the recorded messages. */
void test_log_clear(void);

/**
 * test_log_wait:
 * @substring: text to look for
 *
 * Waits (up to 10 s, then fails the test) until a recorded message
 * contains @substring.
 *
 * Returns: (transfer full): that message.
 */
char *test_log_wait(const char *substring);

/** test_log_count: Returns: how many recorded messages contain @substring. */
guint test_log_count(const char *substring);

/**
 * test_log_info_count:
 * @pattern: a g_pattern_match_simple() pattern ('*' and '?')
 *
 * The info lines of the ferry-rpc domain are recorded too, each as
 * "[PEER] MESSAGE" with its FERRY_PEER field.
 *
 * Returns: how many of them match @pattern.
 */
guint test_log_info_count(const char *pattern);

/**
 * test_raw_connect:
 * @path: a UNIX socket
 *
 * Returns: (transfer full): a plain connection to it, for sending bytes by
 *   hand.
 */
GSocketConnection *test_raw_connect(const char *path);

/**
 * test_raw_read_until_eof:
 * @conn: a raw connection
 *
 * Reads until the peer closes or resets the connection (failing the test
 * after 10 s).
 *
 * Returns: (transfer full): everything read.
 */
GBytes *test_raw_read_until_eof(GSocketConnection *conn);

/**
 * test_async:
 * @client: the client the call was made on
 * @thread: the thread that made it, where the callback must run
 * @context: that thread's thread-default context then (a reference)
 * @n_callbacks: how many times the callback ran (read it with
 *   test_async_count() from another thread)
 * @reply: what ferry_rpc_client_call_finish() returned
 * @msg: what ferry_rpc_client_call_message_finish() returned
 * @error: the error either returned
 *
 * The outcome of one asynchronous call, filled by test_async_bytes_cb() or
 * test_async_message_cb(), which fail the test if they run in another
 * thread or context than the call was made from.
 */
typedef struct {
    ferry_rpc_client *client;
    GThread *thread;
    GMainContext *context;
    guint n_callbacks;
    GBytes *reply;
    ProtobufCMessage *msg;
    GError *error;
} test_async;

/**
 * test_async_prepare:
 * @ta: (out caller-allocates): zeroed, or cleared
 * @client: the client the call is made on
 *
 * Records this thread and its context as where the callback must run.
 *
 * Returns: @ta, for the call's user_data.
 */
test_async *test_async_prepare(test_async *ta, ferry_rpc_client *client);

/** test_async_clear: frees what @ta holds. */
void test_async_clear(test_async *ta);

/** test_async_count: Returns: how many times @ta's callback ran; any thread. */
guint test_async_count(test_async *ta);

/** test_async_bytes_cb: the callback of ferry_rpc_client_call_async() for a test_async. */
void test_async_bytes_cb(GObject *source, GAsyncResult *result, gpointer data);

/** test_async_message_cb: the same for ferry_rpc_client_call_message_async(). */
void test_async_message_cb(GObject *source, GAsyncResult *result, gpointer data);

/**
 * test_async_wait:
 * @ta: a call made from this thread
 * @n: how many callbacks to wait for
 *
 * Iterates @ta's context until its callback ran @n times (failing the test
 * after 10 s).
 */
void test_async_wait(test_async *ta, guint n);

/**
 * test_async_wait_elsewhere:
 * @ta: a call whose callback runs in another thread (the client's I/O
 *   thread)
 *
 * Waits until the callback ran (failing the test after 10 s).
 */
void test_async_wait_elsewhere(test_async *ta);

/**
 * test_context_push:
 *
 * Returns: (transfer full): a new context, pushed as this thread's
 *   thread-default, for the callbacks of the calls this thread makes.
 */
GMainContext *test_context_push(void);

/**
 * test_context_drain:
 * @context: a context of this thread
 *
 * Lets 50 ms pass, then runs what is ready in @context: a callback that
 * should not come would show then.
 */
void test_context_drain(GMainContext *context);

/** test_context_pop: drains @context, pops it and drops it. */
void test_context_pop(GMainContext *context);

G_END_DECLS
