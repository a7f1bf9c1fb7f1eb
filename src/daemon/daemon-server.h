/*
 * daemon-server.h: ferryd's listeners, built from its configuration.
 *
 * Owns: turning the configuration into an RPC server (limits, keepalive,
 * the UNIX socket, the optional TCP listener) with the dispatch table behind
 * it, and refusing to start over a socket another ferryd still serves.
 * Must not: know any procedure (that is dispatch.c) or any driver.
 */
#pragma once

#include "daemon/daemon-config.h"
#include "driver/driver.h"

G_BEGIN_DECLS

typedef struct ferry_daemon_server ferry_daemon_server;

/**
 * ferry_daemon_server_new:
 * @cfg: the daemon's configuration
 * @drivers: NULL-terminated drivers clients may open connections to
 * @error: return location for an error
 *
 * Creates the server and all its listeners; they accept once the default
 * main context runs.
 *
 * Returns: (transfer full): the server, or NULL on error.
 */
ferry_daemon_server *ferry_daemon_server_new(const ferry_daemon_config *cfg,
                                             const ferry_driver *const *drivers,
                                             GError **error);

/**
 * ferry_daemon_server_stop:
 * @server: a server
 *
 * Stops listening, lets the calls running on workers finish, closes every
 * client and removes the socket file.  Calls the daemon answers later (a
 * migration phase waiting on its job) stay pending until their job ends:
 * shut the drivers down next, which ends them, then free the server.
 */
void ferry_daemon_server_stop(ferry_daemon_server *server);

/**
 * ferry_daemon_server_free:
 * @server: (nullable): a server
 *
 * Stops it if ferry_daemon_server_stop() did not, completes the calls
 * whose answers are due (their replies go nowhere) and frees it.
 */
void ferry_daemon_server_free(ferry_daemon_server *server);

G_END_DECLS
