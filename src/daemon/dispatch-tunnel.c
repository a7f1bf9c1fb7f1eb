/*
 * dispatch-tunnel.c: the daemon's end of a tunnelled migration's stream
 * (dispatch-tunnel.h).  Owns: the socketpair and the splice; must not
 * know what travels (the QEMU driver's Prepare hands its end to QEMU).
 */
#include "ferry-config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/dispatch-tunnel.h"
#include "rpc/rpc-splice.h"
#include "util/error.h"

GSocket *
ferry_dispatch_open_tunnel(ferry_rpc_call *rpc, GError **error)
{
    g_autoptr(ferry_rpc_stream) stream = NULL;
    g_autoptr(ferry_rpc_splice) splice = NULL;
    g_autoptr(GSocket) near = NULL;
    g_autoptr(GSocket) far = NULL;
    g_autofree char *name = NULL;
    GError *local = NULL;
    int fds[2];

    stream = ferry_rpc_call_open_stream(rpc, NULL, &local);
    if (!stream)
        goto fail;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        local = g_error_new(FERRY_ERROR, FERRY_ERROR_SYSTEM,
                            "tunnelled migration: socketpair: %s", g_strerror(errno));
        goto fail;
    }
    near = g_socket_new_from_fd(fds[0], &local);
    if (!near) {
        close(fds[0]);
        close(fds[1]);
        goto fail;
    }
    far = g_socket_new_from_fd(fds[1], &local);
    if (!far) {
        close(fds[1]);
        goto fail;
    }
    name = g_strdup_printf("the tunnel of %s", ferry_rpc_stream_get_description(stream));
    splice = ferry_rpc_splice_start(name, stream, far, &local);
    if (!splice)
        goto fail;
    return g_steal_pointer(&near);

fail:
    if (stream)
        ferry_rpc_stream_abort(stream, local);
    g_propagate_error(error, local);
    return NULL;
}
