/*
 * test-qemu-listen.c: where an incoming migration listens
 * (qemu_migration_listen_address()): one address of the host, never a
 * wildcard, whether the caller's URI, the configuration or the host's name
 * says which.
 *
 * Host names here are IP literals or "localhost", which resolve without
 * asking a name server.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "qemu/qemu-migration.h"

typedef struct {
    const char *name;
    const char *hostname;
    const char *migration_address;
    const char *want_host;      /* the migration URI's host */
    const char *address;        /* the answer, or NULL for a refusal */
    int code;
    const char *message;        /* the refusal */
} listen_case;

static const listen_case cases[] = {
    { "uri-address", "10.1.2.3", "10.0.0.9", "10.0.0.5", "10.0.0.5", 0, NULL },
    { "uri-v6-address", "10.1.2.3", NULL, "fd00::5", "fd00::5", 0, NULL },
    { "uri-name-uses-config", "10.1.2.3", "10.0.0.9", "host-b.example", "10.0.0.9", 0, NULL },
    { "config", "10.1.2.3", "10.0.0.9", NULL, "10.0.0.9", 0, NULL },
    { "hostname", "10.1.2.3", NULL, NULL, "10.1.2.3", 0, NULL },
    { "uri-any-v4", "host-b", NULL, "0.0.0.0", NULL, FERRY_ERROR_INVALID_URI,
      "migration URI names '0.0.0.0', which is not one address: host 'host-b' listens for "
      "incoming migrations on one of its addresses only" },
    { "uri-any-v6", "host-b", "10.0.0.9", "::", NULL, FERRY_ERROR_INVALID_URI,
      "migration URI names '::', which is not one address: host 'host-b' listens for "
      "incoming migrations on one of its addresses only" },
    { "uri-any-v4-mapped", "host-b", "10.0.0.9", "::ffff:0.0.0.0", NULL,
      FERRY_ERROR_INVALID_URI,
      "migration URI names '::ffff:0.0.0.0', which is not one address: host 'host-b' "
      "listens for incoming migrations on one of its addresses only" },
    { "hostname-loopback", "127.0.0.1", NULL, NULL, NULL, FERRY_ERROR_CONFIG,
      "host '127.0.0.1': its name resolves only to addresses no other host reaches "
      "(127.0.0.1); set migration_address in ferryd.conf to the address peers migrate to" },
    { "hostname-any", "0.0.0.0", NULL, NULL, NULL, FERRY_ERROR_CONFIG,
      "host '0.0.0.0': its name resolves only to addresses no other host reaches "
      "(0.0.0.0); set migration_address in ferryd.conf to the address peers migrate to" },
};

static void
test_case(gconstpointer data)
{
    const listen_case *c = data;
    ferry_qemu_config config = {
        .hostname = (char *)c->hostname,
        .migration_address = (char *)c->migration_address,
    };
    g_autoptr(GError) error = NULL;
    g_autofree char *address = qemu_migration_listen_address(&config, c->want_host, &error);

    if (c->address) {
        g_assert_no_error(error);
        g_assert_cmpstr(address, ==, c->address);
    } else {
        g_assert_null(address);
        g_assert_error(error, FERRY_ERROR, c->code);
        g_assert_cmpstr(error->message, ==, c->message);
    }
}

/* "localhost" resolves (from /etc/hosts) to loopback addresses only. */
static void
test_localhost(void)
{
    ferry_qemu_config config = { .hostname = (char *)"localhost" };
    g_autoptr(GError) error = NULL;
    g_autofree char *address = qemu_migration_listen_address(&config, NULL, &error);

    g_assert_null(address);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG);
    g_assert_true(g_str_has_prefix(error->message, "host 'localhost': its name resolves only "
                                                   "to addresses no other host reaches ("));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = g_strdup_printf("/qemu-listen/%s", cases[i].name);

        g_test_add_data_func(name, &cases[i], test_case);
    }
    g_test_add_func("/qemu-listen/localhost", test_localhost);
    return g_test_run();
}
