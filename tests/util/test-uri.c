/*
 * test-uri.c: connection URI parsing (src/util/uri.c).
 *
 * Good URIs are checked field by field and through ferry_uri_to_string();
 * bad ones by their exact error message, which users see.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "util/uri.h"

typedef struct {
    const char *uri;
    const char *driver;
    const char *transport;
    const char *host;
    int port;
    const char *path;
    const char *socket;       /* the "socket" parameter, or NULL */
    guint n_params;
    const char *canonical;    /* ferry_uri_to_string() */
} good_uri;

static const good_uri good_uris[] = {
    { "test:///default", "test", NULL, NULL, -1, "/default", NULL, 0, "test:///default" },
    { "qemu:///system", "qemu", NULL, NULL, -1, "/system", NULL, 0, "qemu:///system" },
    { "qemu+unix:///system?socket=/run/x.sock", "qemu", "unix", NULL, -1, "/system",
      "/run/x.sock", 1, "qemu+unix:///system?socket=/run/x.sock" },
    { "qemu+tcp://host:1234/system", "qemu", "tcp", "host", 1234, "/system", NULL, 0,
      "qemu+tcp://host:1234/system" },
    { "qemu+tcp://[::1]/system", "qemu", "tcp", "::1", -1, "/system", NULL, 0,
      "qemu+tcp://[::1]/system" },
    { "qemu+tcp://10.0.0.2:16514", "qemu", "tcp", "10.0.0.2", 16514, "/", NULL, 0,
      "qemu+tcp://10.0.0.2:16514/" },
    { "QEMU:///system", "qemu", NULL, NULL, -1, "/system", NULL, 0, "qemu:///system" },
    { "qemu+tls://hostb/system", "qemu", "tls", "hostb", -1, "/system", NULL, 0,
      "qemu+tls://hostb/system" },
    /* Another host, no transport: TLS, as in libvirt. */
    { "qemu://10.0.0.2:16600/system", "qemu", "tls", "10.0.0.2", 16600, "/system", NULL, 0,
      "qemu+tls://10.0.0.2:16600/system" },
    { "qemu+tls://hostb/system?pkipath=/etc/x", "qemu", "tls", "hostb", -1, "/system", NULL,
      1, "qemu+tls://hostb/system?pkipath=/etc/x" },
    { "qemu+ssh://root@hostb:2222/system?socket=/run/f.sock", "qemu", "ssh", "hostb", 2222,
      "/system", "/run/f.sock", 1, "qemu+ssh://root@hostb:2222/system?socket=/run/f.sock" },
    { "qemu+unix:///system?socket=%2Frun%2Fa%20b.sock&mode=ro", "qemu", "unix", NULL, -1,
      "/system", "/run/a b.sock", 2, "qemu+unix:///system?mode=ro&socket=/run/a%20b.sock" },
};

static void
test_good(gconstpointer data)
{
    const good_uri *want = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_uri) uri = ferry_uri_parse(want->uri, &error);
    g_autoptr(ferry_uri) again = NULL;
    g_autofree char *text = NULL;
    g_autofree char *text_again = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(uri->original, ==, want->uri);
    g_assert_cmpstr(uri->driver, ==, want->driver);
    g_assert_cmpstr(uri->transport, ==, want->transport);
    g_assert_cmpstr(uri->host, ==, want->host);
    g_assert_cmpint(uri->port, ==, want->port);
    g_assert_cmpstr(uri->path, ==, want->path);
    g_assert_cmpstr(ferry_uri_get_param(uri, "socket"), ==, want->socket);
    g_assert_cmpuint(g_hash_table_size(uri->params), ==, want->n_params);

    text = ferry_uri_to_string(uri);
    g_assert_cmpstr(text, ==, want->canonical);
    again = ferry_uri_parse(text, &error);
    g_assert_no_error(error);
    text_again = ferry_uri_to_string(again);
    g_assert_cmpstr(text_again, ==, text);
}

typedef struct {
    const char *uri;
    const char *message;      /* exact, or a prefix when prefix is TRUE */
    gboolean prefix;
} bad_uri;

static const bad_uri bad_uris[] = {
    { "", "empty URI", FALSE },
    { "system", "URI 'system' is malformed: ", TRUE },
    { "qemu:system",
      "URI 'qemu:system' must have the form DRIVER[+TRANSPORT]://[HOST[:PORT]]/PATH", FALSE },
    { "qemu+foo:///system",
      "URI 'qemu+foo:///system' has unknown transport 'foo' (expected 'unix', 'tls', 'ssh' or 'tcp')", FALSE },
    { "+tcp://host/system", "URI '+tcp://host/system' is malformed: ", TRUE },
    { "qemu.x+tcp://host/system",
      "URI 'qemu.x+tcp://host/system' has an invalid driver name 'qemu.x'", FALSE },
    { "qemu+://host/system",
      "URI 'qemu+://host/system' has unknown transport '' (expected 'unix', 'tls', 'ssh' or 'tcp')", FALSE },
    { "qemu+tcp://host:99999/system", "URI 'qemu+tcp://host:99999/system' is malformed: ", TRUE },
    { "qemu+tcp://host:abc/system", "URI 'qemu+tcp://host:abc/system' is malformed: ", TRUE },
    { "qemu+tcp://host:0/system",
      "URI 'qemu+tcp://host:0/system' has port 0, which cannot be connected to", FALSE },
    { "qemu+tcp://ho%20st/system",
      "URI 'qemu+tcp://ho%20st/system' has an invalid host 'ho st'", FALSE },
    { "qemu+tcp:///system",
      "URI 'qemu+tcp:///system' uses the tcp transport but names no host", FALSE },
    { "qemu+tls:///system",
      "URI 'qemu+tls:///system' uses the tls transport but names no host", FALSE },
    { "qemu+unix://host/system",
      "URI 'qemu+unix://host/system' names a host, but only the tls, ssh and tcp "
      "transports reach another host (did you mean 'qemu+tls://...'?)", FALSE },
    { "qemu+ssh://root:pw@host/system",
      "URI 'qemu+ssh://root:pw@host/system' has an invalid user 'root:pw' (a login name, no "
      "password)", FALSE },
    { "qemu+tcp://user@host/system",
      "URI 'qemu+tcp://user@host/system' must not have user information (only ssh has a "
      "user) or a fragment", FALSE },
    { "qemu:///system#frag",
      "URI 'qemu:///system#frag' must not have user information (only ssh has a user) or a "
      "fragment", FALSE },
    { "qemu:///system?flag", "URI 'qemu:///system?flag' has a malformed query: ", TRUE },
    { "qemu:///system?a=%zz", "URI 'qemu:///system?a=%zz' is malformed: ", TRUE },
};

static void
test_bad(gconstpointer data)
{
    const bad_uri *want = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_uri) uri = ferry_uri_parse(want->uri, &error);

    g_assert_null(uri);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
    if (want->prefix)
        g_assert_true(g_str_has_prefix(error->message, want->message));
    else
        g_assert_cmpstr(error->message, ==, want->message);
}

static void
test_null(void)
{
    g_autoptr(GError) error = NULL;

    g_assert_null(ferry_uri_parse(NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
    g_assert_cmpstr(error->message, ==, "empty URI");
    ferry_uri_free(NULL);
}

static void
test_check_params(void)
{
    static const char *const socket_only[] = { "socket", NULL };
    static const char *const none[] = { NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_uri) uri = ferry_uri_parse("qemu+unix:///system?socket=/run/x.sock", &error);
    g_autoptr(ferry_uri) plain = ferry_uri_parse("qemu:///system", &error);

    g_assert_no_error(error);
    g_assert_true(ferry_uri_check_params(uri, socket_only, &error));
    g_assert_no_error(error);
    g_assert_true(ferry_uri_check_params(plain, NULL, &error));
    g_assert_no_error(error);

    g_assert_false(ferry_uri_check_params(uri, none, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
    g_assert_cmpstr(error->message, ==,
                    "URI 'qemu+unix:///system?socket=/run/x.sock' has unknown parameter 'socket'");
    g_clear_error(&error);
    g_assert_false(ferry_uri_check_params(uri, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
    g_assert_null(ferry_uri_get_param(uri, "mode"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (guint i = 0; i < G_N_ELEMENTS(good_uris); i++) {
        g_autofree char *path = g_strdup_printf("/util/uri/good/%u", i);

        g_test_add_data_func(path, &good_uris[i], test_good);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad_uris); i++) {
        g_autofree char *path = g_strdup_printf("/util/uri/bad/%u", i);

        g_test_add_data_func(path, &bad_uris[i], test_bad);
    }
    g_test_add_func("/util/uri/null", test_null);
    g_test_add_func("/util/uri/check-params", test_check_params);
    return g_test_run();
}
