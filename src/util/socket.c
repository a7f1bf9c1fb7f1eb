/*
 * socket.c: socket pairs (socket.h).  Owns: the descriptors until both
 * are GSockets; never leaves one open on failure.
 */
#include "ferry-config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/error.h"
#include "util/socket.h"

gboolean
ferry_socket_pair(GSocket **ret_a, GSocket **ret_b, GError **error)
{
    g_autoptr(GSocket) a = NULL;
    g_autoptr(GSocket) b = NULL;
    int fds[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM, "socketpair: %s", g_strerror(errno));
        return FALSE;
    }
    a = g_socket_new_from_fd(fds[0], error);
    if (!a) {
        close(fds[0]);
        close(fds[1]);
        return FALSE;
    }
    b = g_socket_new_from_fd(fds[1], error);
    if (!b) {
        close(fds[1]);
        return FALSE;
    }
    *ret_a = g_steal_pointer(&a);
    *ret_b = g_steal_pointer(&b);
    return TRUE;
}
