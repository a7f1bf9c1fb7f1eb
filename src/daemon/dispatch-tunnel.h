/*
 * dispatch-tunnel.h: the daemon's end of a tunnelled migration's stream
 * (docs/tunnelled.md), for CONNECT_MIGRATE_PREPARE_TUNNEL3 in dispatch.c.
 */
#pragma once

#include <gio/gio.h>

#include "rpc/rpc-server.h"

G_BEGIN_DECLS

/**
 * ferry_dispatch_open_tunnel:
 * @rpc: the call of CONNECT_MIGRATE_PREPARE_TUNNEL3, not completed yet
 * @error: return location for an error
 *
 * Opens the call's stream and splices it (on a thread of its own) to one
 * end of a socketpair: what the incoming QEMU reads and writes on the
 * other end travels over the caller's connection.  The splice ends when
 * either end closes, or the connection does; if the call is then
 * answered with an error, the stream fails on both hosts.
 *
 * Returns: (transfer full): the end for the incoming QEMU, or NULL (the
 *   stream, if it was opened, is aborted with @error).
 */
GSocket *ferry_dispatch_open_tunnel(ferry_rpc_call *rpc, GError **error);

G_END_DECLS
