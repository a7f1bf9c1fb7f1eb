/*
 * socket.h: a connected pair of local stream sockets, as GSockets: the
 * two ends of a tunnel (one for a QEMU, one for a splice).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * ferry_socket_pair:
 * @ret_a: (out) (transfer full): one end
 * @ret_b: (out) (transfer full): the other
 * @error: return location for an error (FERRY_ERROR_SYSTEM)
 *
 * A socketpair(AF_UNIX, SOCK_STREAM), close-on-exec: no process the
 * daemon spawns inherits an end it did not hand over.
 *
 * Returns: TRUE on success; on failure nothing is left open.
 */
gboolean ferry_socket_pair(GSocket **ret_a, GSocket **ret_b, GError **error);

G_END_DECLS
