/*
 * dispatch-tunnel.c: the daemon's end of a tunnelled migration's stream
 * (dispatch-tunnel.h).  Owns: the socketpair and the splice; must not
 * know what travels (the QEMU driver's Prepare hands its end to QEMU).
 */
#include "ferry-config.h"

#include "daemon/dispatch-tunnel.h"
#include "rpc/rpc-splice.h"
#include "util/error.h"
#include "util/socket.h"

GSocket *
ferry_dispatch_open_tunnel(ferry_rpc_call *rpc, GError **error)
{
    g_autoptr(ferry_rpc_stream) stream = NULL;
    g_autoptr(ferry_rpc_splice) splice = NULL;
    g_autoptr(GSocket) near = NULL;
    g_autoptr(GSocket) far = NULL;
    g_autofree char *name = NULL;
    GError *local = NULL;

    stream = ferry_rpc_call_open_stream(rpc, NULL, &local);
    if (!stream || !ferry_socket_pair(&near, &far, &local))
        goto fail;
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
