/*
 * ferry-ssh-helper: what the ssh transport runs on the daemon's host.
 *
 *   ferry-ssh-helper SOCKET
 *
 * Connects to ferryd's UNIX socket SOCKET and copies bytes both ways
 * between it and its own stdin/stdout -- which ssh connects to the client
 * -- until either side ends.  The daemon sees a UNIX peer with the
 * credentials of the user ssh logged in as, and checks them as it checks
 * any local client.  Must not interpret the bytes, and must not print
 * anything on stdout (that is the client's stream): errors go to stderr,
 * which ssh shows the client.
 */
#include "ferry-config.h"

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <gio/gunixsocketaddress.h>
#include <locale.h>
#include <stdio.h>

static void
on_spliced(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;

    /* One side closed (the client left, or the daemon did): done.  A
     * broken pipe at that moment is the normal way for it to end. */
    if (!g_io_stream_splice_finish(res, &error) &&
        !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) &&
        !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
        g_printerr("ferry-ssh-helper: %s\n", error->message);
    g_main_loop_quit(data);
}

int
main(int argc, char **argv)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GInputStream) in = NULL;
    g_autoptr(GOutputStream) out = NULL;
    g_autoptr(GIOStream) stdio = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    g_autoptr(GError) error = NULL;

    setlocale(LC_ALL, "");
    if (argc != 2 || argv[1][0] != '/') {
        g_printerr("usage: ferry-ssh-helper SOCKET (the absolute path of ferryd's UNIX "
                   "socket)\n");
        return 2;
    }
    addr = g_unix_socket_address_new(argv[1]);
    conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &error);
    if (!conn) {
        g_printerr("ferry-ssh-helper: cannot connect to ferryd at UNIX socket '%s': %s\n",
                   argv[1], error->message);
        return 1;
    }
    in = g_unix_input_stream_new(0, FALSE);
    out = g_unix_output_stream_new(1, FALSE);
    stdio = g_simple_io_stream_new(in, out);
    loop = g_main_loop_new(NULL, FALSE);
    g_io_stream_splice_async(G_IO_STREAM(conn), stdio, G_IO_STREAM_SPLICE_NONE,
                             G_PRIORITY_DEFAULT, NULL, on_spliced, loop);
    g_main_loop_run(loop);
    return 0;
}
