/*
 * dispatch.h: what ferryd does with each procedure of the wire protocol.
 *
 * Owns: the server side of every CALL procedure: for each client, the
 * ferry_conn its CONNECT_OPEN opened (with the drivers the daemon offers),
 * decoding the procedure's Args, calling the public API
 * (include/ferry/ferry.h) -- or, for the migration phases, the library's
 * phase calls (src/api/migrate-internal.h) -- on that connection, and
 * encoding the Ret or the
 * error; relaying the connection's events to the client once it sent
 * EVENTS_REGISTER.  Must not listen, frame or keep connections alive (the
 * RPC server, src/rpc/rpc-server.h, does) nor call driver entries directly.
 *
 * Use, in the daemon's main thread:
 *
 *   static const ferry_driver *const drivers[] = { &ferry_qemu_driver,
 *                                                  &ferry_test_driver, NULL };
 *   g_autoptr(ferry_dispatch) dispatch = ferry_dispatch_new(drivers);
 *   ferry_rpc_server_config config = { .max_clients = 32 };
 *   ferry_dispatch_configure(dispatch, &config);
 *   g_autoptr(ferry_rpc_server) srv = ferry_rpc_server_new(&config, &error);
 *   ferry_rpc_server_add_unix(srv, FERRY_DEFAULT_SOCKET, 0600, &error);
 *   ... run the main loop ...
 *   ferry_rpc_server_stop(srv);   -- before the dispatch goes
 *
 * The server must be stopped (or freed) before the dispatch is freed: the
 * autoptr declarations above free in the right order.
 *
 * Logging (G_LOG_DOMAIN "ferryd"): which client opened which URI, at info.
 */
#pragma once

#include "driver/driver.h"
#include "rpc/rpc-server.h"

G_BEGIN_DECLS

typedef struct ferry_dispatch ferry_dispatch;

/**
 * ferry_dispatch_new:
 * @drivers: the NULL-terminated list of drivers a client's CONNECT_OPEN may
 *   reach, probed in order (copied; the drivers themselves must be static)
 *
 * Starts the dispatch's event thread, where its event subscriptions run.
 *
 * Returns: (transfer full): a dispatch to plug into a server with
 *   ferry_dispatch_configure().
 */
ferry_dispatch *ferry_dispatch_new(const ferry_driver *const *drivers);

/**
 * ferry_dispatch_free:
 * @dispatch: (nullable): a dispatch whose server is stopped
 *
 * Stops the event thread and frees @dispatch.
 */
void ferry_dispatch_free(ferry_dispatch *dispatch);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_dispatch, ferry_dispatch_free)

/**
 * ferry_dispatch_configure:
 * @dispatch: a dispatch
 * @config: a server configuration
 *
 * Sets @config's handler and handler_data so that the server built from it
 * runs its calls through @dispatch.
 */
void ferry_dispatch_configure(ferry_dispatch *dispatch, ferry_rpc_server_config *config);

G_END_DECLS
