/*
 * rpc-test-util.h: what the RPC tests share: an RPC server on a thread of
 * its own listening in a temporary directory, and a log writer that records
 * ferry's warnings so tests can wait for a reason to be logged.
 */
#pragma once

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

G_END_DECLS
