/*
 * test-daemon-config.c: ferryd.conf parsing: every setting type, defaults,
 * and errors that name the file, the line and the setting.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "daemon/daemon-config.h"

static void
test_defaults(void)
{
    g_autoptr(ferry_daemon_config) c = ferry_daemon_config_new_defaults();
    g_autoptr(GError) error = NULL;

    g_assert_cmpstr(c->unix_socket_path, ==, FERRY_DEFAULT_SOCKET);
    g_assert_cmpuint(c->tcp_port, ==, FERRY_DEFAULT_TCP_PORT);
    g_assert_cmpuint(c->tcp_port, ==, 16509);
    g_assert_cmpuint(c->tls_port, ==, 16514);
    g_assert_cmpstr(c->pki_dir, ==, "/etc/pki/ferry");
    g_assert_null(c->tls_listen_address);
    g_assert_null(c->tls_allowed_names);
    g_assert_true(c->unix_socket_ro);
    g_assert_cmpuint(c->unix_socket_ro_mode, ==, 0666);
    g_assert_null(c->unix_socket_ro_path);
    g_assert_null(c->unix_socket_group);
    g_assert_null(c->tcp_listen_address);
    g_assert_false(c->listen_insecure_tcp);
    g_assert_cmpuint(c->workers, ==, 8);
    g_assert_cmpuint(c->priority_workers, ==, 2);
    g_assert_cmpstr(c->lock_manager, ==, "none");
    g_assert_null(c->lockspace_dir);
    /* NULL: STATE_DIR/images and STATE_DIR/files (ferryd fills them in). */
    g_assert_null(c->storage_dirs);
    g_assert_null(c->file_dirs);
    g_assert_null(c->migration_address);
    /* No QEMU user: QEMU runs as root, as before the setting existed. */
    g_assert_null(c->user);
    g_assert_null(c->group);
    g_assert_true(ferry_daemon_config_check(c, "x", &error));
    g_assert_no_error(error);
}

static void
test_all_types(void)
{
    g_autoptr(ferry_daemon_config) c = ferry_daemon_config_new_defaults();
    g_autoptr(GError) error = NULL;
    const char *text =
        "# ferryd test configuration\n"
        "\n"
        "unix_socket_path = \"/tmp/x/ferryd.sock\"   # trailing comment\n"
        "unix_socket_mode = 0660\n"
        "  state_dir=\"/tmp/x/state\"\n"
        "host_uuid = \"8d2c6b43-9f3e-4c8e-9a43-0a6f3c1b2d55\"\n"
        "hostname = \"host \\\"a\\\"\"\n"
        "tcp_listen_address = \"10.0.0.1\"\n"
        "tcp_port = 16600\n"
        "listen_insecure_tcp = yes\n"
        "tls_listen_address = \"10.0.0.1\"\n"
        "tls_port = 16601\n"
        "pki_dir = \"/srv/pki\"\n"
        "tls_allowed_names = \"admin, host*\"\n"
        "max_clients = 3\n"
        "workers = 3\n"
        "priority_workers = 5\n"
        "keepalive_interval = 0\n"
        "lock_manager = \"fcntl\"\n"
        "lockspace_dir = \"/srv/ferry/leases\"\n"
        "storage_dirs = \"/srv/images:/srv/base\"\n"
        "file_dirs = \"/srv/kernels:/var/log/guests\"\n"
        "migration_address = \"fd00::2\"\n"
        "user = \"+4242\"\n"
        "group = \"+4243\"\n";

    g_assert_true(ferry_daemon_config_parse(c, text, "t.conf", &error));
    g_assert_no_error(error);
    g_assert_cmpstr(c->unix_socket_path, ==, "/tmp/x/ferryd.sock");
    g_assert_cmpuint(c->unix_socket_mode, ==, 0660);
    g_assert_cmpstr(c->state_dir, ==, "/tmp/x/state");
    g_assert_cmpstr(c->hostname, ==, "host \"a\"");
    g_assert_cmpstr(c->tcp_listen_address, ==, "10.0.0.1");
    g_assert_cmpuint(c->tcp_port, ==, 16600);
    g_assert_cmpstr(c->tls_listen_address, ==, "10.0.0.1");
    g_assert_cmpuint(c->tls_port, ==, 16601);
    g_assert_cmpstr(c->pki_dir, ==, "/srv/pki");
    g_assert_cmpstr(c->tls_allowed_names, ==, "admin, host*");
    g_assert_true(c->listen_insecure_tcp);
    g_assert_cmpuint(c->max_clients, ==, 3);
    g_assert_cmpuint(c->workers, ==, 3);
    g_assert_cmpuint(c->priority_workers, ==, 5);
    g_assert_cmpuint(c->keepalive_interval, ==, 0);
    g_assert_cmpstr(c->lock_manager, ==, "fcntl");
    g_assert_cmpstr(c->lockspace_dir, ==, "/srv/ferry/leases");
    g_assert_cmpstr(c->storage_dirs, ==, "/srv/images:/srv/base");
    g_assert_cmpstr(c->file_dirs, ==, "/srv/kernels:/var/log/guests");
    g_assert_cmpstr(c->migration_address, ==, "fd00::2");
    g_assert_cmpstr(c->user, ==, "+4242");
    g_assert_cmpstr(c->group, ==, "+4243");
    g_assert_true(ferry_daemon_config_check(c, "t.conf", &error));
}

/* The QEMU user by name: root and its group exist on every system. */
static void
test_qemu_user_names(void)
{
    g_autoptr(ferry_daemon_config) c = ferry_daemon_config_new_defaults();
    g_autoptr(GError) error = NULL;

    g_assert_true(ferry_daemon_config_parse(c, "user = \"root\"\ngroup = \"root\"\n",
                                            "t.conf", &error));
    g_assert_true(ferry_daemon_config_check(c, "t.conf", &error));
    g_assert_no_error(error);
    g_assert_cmpstr(c->user, ==, "root");
    g_assert_cmpstr(c->group, ==, "root");
}

/* The limits of issue #9: their defaults, and each one set. */
static void
test_limits(void)
{
    g_autoptr(ferry_daemon_config) c = ferry_daemon_config_new_defaults();
    g_autoptr(GError) error = NULL;
    const char *text =
        "max_clients = 10\n"
        "max_unix_clients = 7\n"
        "max_clients_per_address = 3\n"
        "frame_timeout = 5\n"
        "max_call_bytes_per_client = 9000000\n"
        "max_domains = 12\n";

    g_assert_cmpuint(c->max_clients, ==, 64);
    g_assert_cmpuint(c->max_unix_clients, ==, 64);
    g_assert_cmpuint(c->max_clients_per_address, ==, 32);
    g_assert_cmpuint(c->frame_timeout, ==, 30);
    g_assert_cmpuint(c->max_call_bytes_per_client, ==, 8 * 1024 * 1024);
    g_assert_cmpuint(c->max_domains, ==, 1024);
    g_assert_true(ferry_daemon_config_parse(c, text, "t.conf", &error));
    g_assert_no_error(error);
    g_assert_cmpuint(c->max_clients, ==, 10);
    g_assert_cmpuint(c->max_unix_clients, ==, 7);
    g_assert_cmpuint(c->max_clients_per_address, ==, 3);
    g_assert_cmpuint(c->frame_timeout, ==, 5);
    g_assert_cmpuint(c->max_call_bytes_per_client, ==, 9000000);
    g_assert_cmpuint(c->max_domains, ==, 12);
    g_assert_true(ferry_daemon_config_check(c, "t.conf", &error));
    g_assert_no_error(error);
}

typedef struct {
    const char *text;
    const char *message;
} bad_case;

static const bad_case bad_cases[] = {
    { "a = 1\n", "t.conf:1: unknown setting 'a'" },
    { "\n\nmax_clients = many\n",
      "t.conf:3: setting 'max_clients': expected an integer from 1 to 100000, got 'many'" },
    { "max_clients = 0\n",
      "t.conf:1: setting 'max_clients': expected an integer from 1 to 100000, got '0'" },
    { "max_unix_clients = 0\n",
      "t.conf:1: setting 'max_unix_clients': expected an integer from 1 to 100000, got '0'" },
    { "max_clients_per_address = 0\n",
      "t.conf:1: setting 'max_clients_per_address': expected an integer from 1 to 100000, "
      "got '0'" },
    { "frame_timeout = 0\n",
      "t.conf:1: setting 'frame_timeout': expected an integer from 1 to 3600, got '0'" },
    { "priority_workers = 0\n",
      "t.conf:1: setting 'priority_workers': expected an integer from 1 to 64, got '0'" },
    { "workers = 4\npriority_workers = 65\n",
      "t.conf:2: setting 'priority_workers': expected an integer from 1 to 64, got '65'" },
    { "priority_workers = \"2\"\n",
      "t.conf:1: setting 'priority_workers': expected an integer from 1 to 64, got '2'" },
    { "tcp_port = 70000\n",
      "t.conf:1: setting 'tcp_port': expected an integer from 1 to 65535, got '70000'" },
    { "state_dir = relative\n",
      "t.conf:1: setting 'state_dir': expected a string in double quotes, got 'relative'" },
    { "state_dir = \"relative/dir\"\n",
      "t.conf:1: setting 'state_dir': 'relative/dir' is not an absolute path" },
    { "hostname = \"open\n", "t.conf:1: setting 'hostname': unterminated string" },
    { "listen_insecure_tcp = maybe\n",
      "t.conf:1: setting 'listen_insecure_tcp': expected yes or no, got 'maybe'" },
    { "just words\n", "t.conf:1: expected 'setting = value', got 'just words'" },
    { "tcp_port = 1 2\n", "t.conf:1: setting 'tcp_port': unexpected text after the value: '2'" },
    { "tcp_port =\n", "t.conf:1: setting 'tcp_port' has no value" },
    { "lock_manager = fcntl\n",
      "t.conf:1: setting 'lock_manager': expected a string in double quotes, got 'fcntl'" },
    { "lockspace_dir = \"leases\"\n",
      "t.conf:1: setting 'lockspace_dir': 'leases' is not an absolute path" },
    /* Cross-checks */
    { "tcp_listen_address = \"0.0.0.0\"\n",
      "t.conf: setting 'tcp_listen_address' needs 'listen_insecure_tcp = yes': plaintext "
      "TCP must be chosen explicitly (for TLS, set 'tls_listen_address')" },
    { "tls_listen_address = \"::\"\ntcp_listen_address = \"::\"\nlisten_insecure_tcp = yes\n"
      "tcp_port = 16514\n",
      "t.conf: settings 'tcp_port' and 'tls_port' are both 16514: plaintext TCP and TLS need "
      "ports of their own" },
    { "tls_allowed_names = \"admin,,host*\"\n",
      "t.conf: setting 'tls_allowed_names': name 2 of 'admin,,host*' is empty" },
    { "pki_dir = \"pki\"\n", "t.conf:1: setting 'pki_dir': 'pki' is not an absolute path" },
    { "unix_socket_group = \"no-such-group-here\"\n",
      "t.conf: setting 'unix_socket_group': there is no group 'no-such-group-here'" },
    { "unix_socket_ro_path = \"/run/ferry/ferryd.sock\"\n",
      "t.conf: settings 'unix_socket_ro_path' and 'unix_socket_path' are both "
      "'/run/ferry/ferryd.sock'" },
    { "host_uuid = \"nope\"\n", "t.conf: setting 'host_uuid': 'nope' is not a uuid" },
    { "migration_port_min = 50000\nmigration_port_max = 49999\n",
      "t.conf: settings 'migration_port_min' (50000) and 'migration_port_max' (49999): the "
      "range is empty" },
    { "max_frame_size = 8388608\nmax_call_bytes_per_client = 4194304\n",
      "t.conf: setting 'max_call_bytes_per_client' (4194304) is below 'max_frame_size' "
      "(8388608): a call of the largest frame would always be refused" },
    { "log_level = \"loud\"\n",
      "t.conf: setting 'log_level': 'loud' is not one of debug, info, message, warning" },
    { "lock_manager = \"sanlock\"\n",
      "t.conf: setting 'lock_manager': 'sanlock' is not one of none, fcntl" },
    { "lock_manager = \"fcntl\"\n",
      "t.conf: setting 'lock_manager' is \"fcntl\" but 'lockspace_dir' is not set: the "
      "fcntl lock manager needs the directory of lease files the hosts share" },
    { "lockspace_dir = \"/srv/ferry/leases\"\n",
      "t.conf: setting 'lockspace_dir' has no effect with 'lock_manager' \"none\": set "
      "lock_manager = \"fcntl\" to use leases" },
    { "storage_dirs = \"/srv/images:images\"\n",
      "t.conf: setting 'storage_dirs': 'images' is not an absolute path" },
    { "file_dirs = \"/srv/kernels::/srv/logs\"\n",
      "t.conf: setting 'file_dirs': '' is not an absolute path" },
    { "file_dirs = \"logs\"\n", "t.conf: setting 'file_dirs': 'logs' is not an absolute path" },
    { "file_dirs = /srv/kernels\n",
      "t.conf:1: setting 'file_dirs': expected a string in double quotes, got '/srv/kernels'" },
    { "migration_address = \"0.0.0.0\"\n",
      "t.conf: setting 'migration_address': '0.0.0.0' is the wildcard address; name the one "
      "address of this host that peers migrate to" },
    { "migration_address = \"::\"\n",
      "t.conf: setting 'migration_address': '::' is the wildcard address; name the one "
      "address of this host that peers migrate to" },
    { "user = \"ferry-no-such-user\"\n",
      "t.conf: setting 'user': there is no user 'ferry-no-such-user'" },
    { "user = \"+qemu\"\n", "t.conf: setting 'user': there is no user '+qemu'" },
    { "user = \"root\"\ngroup = \"ferry-no-such-group\"\n",
      "t.conf: setting 'group': there is no group 'ferry-no-such-group'" },
    { "group = \"root\"\n",
      "t.conf: setting 'group' ('root') needs 'user': QEMU runs as root unless 'user' "
      "names another user" },
    { "user = nobody\n",
      "t.conf:1: setting 'user': expected a string in double quotes, got 'nobody'" },
    { "migration_address = \"host-b.example\"\n",
      "t.conf: setting 'migration_address': 'host-b.example' is not an IP address" },
};

static void
test_bad(gconstpointer data)
{
    const bad_case *bc = data;
    g_autoptr(ferry_daemon_config) c = ferry_daemon_config_new_defaults();
    g_autoptr(GError) error = NULL;

    g_assert_false(ferry_daemon_config_parse(c, bc->text, "t.conf", &error) &&
                   ferry_daemon_config_check(c, "t.conf", &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG);
    g_assert_cmpstr(error->message, ==, bc->message);
}

static void
test_load_missing(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_daemon_config) c = ferry_daemon_config_load("/nonexistent/ferryd.conf", &error);

    g_assert_null(c);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG);
    g_assert_nonnull(strstr(error->message, "/nonexistent/ferryd.conf"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/daemon-config/defaults", test_defaults);
    g_test_add_func("/daemon-config/all-types", test_all_types);
    g_test_add_func("/daemon-config/limits", test_limits);
    g_test_add_func("/daemon-config/qemu-user-names", test_qemu_user_names);
    g_test_add_func("/daemon-config/load-missing", test_load_missing);
    for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_autofree char *path = g_strdup_printf("/daemon-config/bad/%zu", i);

        g_test_add_data_func(path, &bad_cases[i], test_bad);
    }
    return g_test_run();
}
