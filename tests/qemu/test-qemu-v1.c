/*
 * test-qemu-v1.c: the greeting a protocol-v1 source sends first on the
 * migration connection (qemu-migration-v1.c): taken when it carries the
 * token, refused -- naming what is wrong -- when it does not, when it is
 * not a greeting, when its length is out of bounds or its XML is cut
 * short; and not one byte of what follows it (QEMU's stream) is read.
 */
#include "ferry-config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ferry/ferry.h>

#include "qemu/qemu-migration-priv.h"

#define TOKEN "0123456789abcdef0123456789abcdef"

/* Sends @bytes (then closes, when @close_after) on one end of a
 * socketpair and reads the greeting on the other. */
static char *
greet(const char *bytes, gsize len, gboolean close_after, char *ret_next, GError **error)
{
    g_autoptr(GSocket) sock = NULL;
    int fds[2];
    char *xml;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
    g_assert_cmpint(write(fds[1], bytes, len), ==, (ssize_t)len);
    if (close_after) {
        close(fds[1]);
        fds[1] = -1;
    }
    sock = g_socket_new_from_fd(fds[0], NULL);
    xml = qemu_mig_v1_read_greeting(sock, TOKEN, error);
    if (ret_next) {
        g_assert_cmpint(read(fds[0], ret_next, 1), ==, 1);
    }
    if (fds[1] >= 0)
        close(fds[1]);
    return xml;
}

static void
test_taken(void)
{
    const char msg[] = "FERRY-V1 " TOKEN " 9\n<domain/>Q";
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    char next = 0;

    xml = greet(msg, strlen(msg), FALSE, &next, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(xml, ==, "<domain/>");
    /* QEMU's first byte is still there for QEMU. */
    g_assert_cmpint(next, ==, 'Q');
}

typedef struct {
    const char *name;
    const char *bytes;
    int code;
    const char *message;
} refusal;

static const refusal refusals[] = {
    { "wrong-token", "FERRY-V1 ffffffffffffffffffffffffffffffff 9\n<domain/>",
      FERRY_ERROR_ACCESS_DENIED, "it did not present this migration's token" },
    { "not-a-greeting", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", FERRY_ERROR_MIGRATE,
      "are not a v1 greeting" },
    { "line-too-long", "FERRY-V1 " TOKEN " 9999999999999999999999999999999999999\n",
      FERRY_ERROR_MIGRATE, "are not a v1 greeting" },
    { "length-zero", "FERRY-V1 " TOKEN " 0\n", FERRY_ERROR_MIGRATE,
      "a domain XML length that is not between 1 and 4194304" },
    { "length-too-large", "FERRY-V1 " TOKEN " 4194305\n", FERRY_ERROR_MIGRATE,
      "a domain XML length that is not between 1 and 4194304" },
    { "length-not-a-number", "FERRY-V1 " TOKEN " 12ab\n", FERRY_ERROR_MIGRATE,
      "a domain XML length that is not between 1 and 4194304" },
    { "xml-cut-short", "FERRY-V1 " TOKEN " 100\n<domain>", FERRY_ERROR_MIGRATE,
      "reading its domain XML: the connection closed after 8 of 100 bytes" },
    { "closed-at-once", "", FERRY_ERROR_MIGRATE, "the connection closed after 0 of 1 bytes" },
};

static void
test_refused(gconstpointer data)
{
    const refusal *r = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = greet(r->bytes, strlen(r->bytes), TRUE, NULL, &error);

    g_assert_null(xml);
    g_assert_error(error, FERRY_ERROR, r->code);
    if (!strstr(error->message, r->message))
        g_error("%s: '%s' does not say '%s'", r->name, error->message, r->message);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu/v1/greeting-taken", test_taken);
    for (gsize i = 0; i < G_N_ELEMENTS(refusals); i++) {
        g_autofree char *path = g_strdup_printf("/qemu/v1/greeting-refused/%s",
                                                refusals[i].name);

        g_test_add_data_func(path, &refusals[i], test_refused);
    }
    return g_test_run();
}
