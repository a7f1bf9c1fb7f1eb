/*
 * test-socket.c: ferry_socket_pair() gives two connected ends, both
 * close-on-exec, and what one writes the other reads.
 */
#include "ferry-config.h"

#include <fcntl.h>

#include "util/socket.h"

static void
test_pair(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) a = NULL;
    g_autoptr(GSocket) b = NULL;
    char buf[8] = { 0 };

    g_assert_true(ferry_socket_pair(&a, &b, &error));
    g_assert_no_error(error);
    g_assert_true(fcntl(g_socket_get_fd(a), F_GETFD) & FD_CLOEXEC);
    g_assert_true(fcntl(g_socket_get_fd(b), F_GETFD) & FD_CLOEXEC);
    g_assert_cmpint(g_socket_send(a, "ping", 4, NULL, &error), ==, 4);
    g_assert_cmpint(g_socket_receive(b, buf, sizeof(buf), NULL, &error), ==, 4);
    g_assert_cmpstr(buf, ==, "ping");
    g_socket_close(a, NULL);
    g_assert_cmpint(g_socket_receive(b, buf, sizeof(buf), NULL, &error), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/util/socket/pair", test_pair);
    return g_test_run();
}
