/*
 * daemon-server.c: ferryd's RPC server set up from its configuration.
 */
#include "ferry-config.h"

#include <errno.h>
#include <ferry/ferry.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <unistd.h>

#include "daemon/daemon-server.h"
#include "daemon/dispatch.h"
#include "rpc/rpc-server.h"
#include "rpc/rpc-tls.h"
#include "util/error.h"

struct ferry_daemon_server {
    ferry_dispatch *dispatch;
    ferry_rpc_server *rpc;
    gboolean stopped;
};

/* Is a live daemon answering on @path?  Its socket must not be stolen. */
static gboolean
socket_in_use(const char *path)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GSocketConnection) conn = NULL;

    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return FALSE;
    conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, NULL);
    return conn != NULL;
}

void
ferry_daemon_server_stop(ferry_daemon_server *server)
{
    if (server->rpc && !server->stopped)
        ferry_rpc_server_stop(server->rpc);
    server->stopped = TRUE;
}

void
ferry_daemon_server_free(ferry_daemon_server *server)
{
    if (!server)
        return;
    /* The server first: its calls in flight still use the dispatch. */
    ferry_daemon_server_stop(server);
    ferry_rpc_server_free(server->rpc);
    ferry_dispatch_free(server->dispatch);
    g_free(server);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_daemon_server, ferry_daemon_server_free)

ferry_daemon_server *
ferry_daemon_server_new(const ferry_daemon_config *cfg, const ferry_driver *const *drivers,
                        GError **error)
{
    g_autoptr(ferry_daemon_server) server = g_new0(ferry_daemon_server, 1);
    g_autofree char *dir = g_path_get_dirname(cfg->unix_socket_path);
    ferry_rpc_server_config rcfg = {
        .max_clients = cfg->max_clients,
        .max_unix_clients = cfg->max_unix_clients,
        .max_clients_per_address = cfg->max_clients_per_address,
        .max_calls_per_client = cfg->max_calls_per_client,
        .max_call_bytes_per_client = cfg->max_call_bytes_per_client,
        .max_workers = cfg->workers,
        .max_priority_workers = cfg->priority_workers,
        .max_frame = cfg->max_frame_size,
        /* keepalive_interval = 0 in ferryd.conf: never ping (the RPC
         * server's own 0 means its default). */
        .keepalive_interval_ms = cfg->keepalive_interval ? cfg->keepalive_interval * 1000
                                                         : FERRY_RPC_KEEPALIVE_OFF,
        .keepalive_count = cfg->keepalive_count,
        .frame_timeout_ms = cfg->frame_timeout * 1000,
    };

    if (g_mkdir_with_parents(dir, 0755) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot create the socket directory '%s'", dir);
        return NULL;
    }
    if (socket_in_use(cfg->unix_socket_path)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "another daemon is already serving on '%s'", cfg->unix_socket_path);
        return NULL;
    }
    server->dispatch = ferry_dispatch_new(drivers);
    ferry_dispatch_configure(server->dispatch, &rcfg);
    if (cfg->unix_socket_group) {
        /* The configuration check found it; it may have gone since. */
        struct group *gr = getgrnam(cfg->unix_socket_group);

        if (!gr) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                        "setting 'unix_socket_group': there is no group '%s'",
                        cfg->unix_socket_group);
            return NULL;
        }
        rcfg.unix_group_set = TRUE;
        rcfg.unix_gid = gr->gr_gid;
    }
    server->rpc = ferry_rpc_server_new(&rcfg, error);
    if (!server->rpc ||
        !ferry_rpc_server_add_unix(server->rpc, cfg->unix_socket_path, cfg->unix_socket_mode,
                                   error))
        return NULL;
    if (rcfg.unix_group_set && chown(cfg->unix_socket_path, (uid_t)-1, rcfg.unix_gid) < 0) {
        ferry_set_error_errno(error, FERRY_ERROR_SYSTEM, errno,
                              "cannot give UNIX socket '%s' to group '%s'",
                              cfg->unix_socket_path, cfg->unix_socket_group);
        return NULL;
    }
    if (cfg->unix_socket_ro) {
        g_autofree char *ro = cfg->unix_socket_ro_path
                                  ? g_strdup(cfg->unix_socket_ro_path)
                                  : g_build_filename(dir, "ferryd-ro.sock", NULL);

        if (!ferry_rpc_server_add_unix_read_only(server->rpc, ro, cfg->unix_socket_ro_mode,
                                                 error))
            return NULL;
        g_info("read-only socket for queries: '%s' (mode %04o)", ro,
               cfg->unix_socket_ro_mode);
    }
    if (cfg->tcp_listen_address) {
        guint16 port = 0;

        /* The configuration check made sure plaintext was asked for. */
        if (!ferry_rpc_server_add_tcp(server->rpc, cfg->tcp_listen_address,
                                      (guint16)cfg->tcp_port, &port, error))
            return NULL;
        g_warning("listening on plaintext TCP %s:%u (listen_insecure_tcp = yes): anyone "
                  "who can reach it controls this host's VMs", cfg->tcp_listen_address, port);
    }
    if (cfg->tls_listen_address) {
        g_auto(GStrv) names = cfg->tls_allowed_names
                                  ? g_strsplit(cfg->tls_allowed_names, ",", -1) : NULL;
        g_autoptr(ferry_rpc_tls) tls = NULL;
        guint16 port = 0;

        for (guint i = 0; names && names[i]; i++)
            g_strstrip(names[i]);
        tls = ferry_rpc_tls_new_server(cfg->pki_dir, (const char *const *)names, error);
        if (!tls || !ferry_rpc_server_add_tls(server->rpc, cfg->tls_listen_address,
                                              (guint16)cfg->tls_port, tls, &port, error))
            return NULL;
        g_info("listening for TLS clients on %s:%u (certificates in '%s'; clients allowed: "
               "%s)", cfg->tls_listen_address, port, cfg->pki_dir,
               cfg->tls_allowed_names ? cfg->tls_allowed_names : "any the CA signed");
    }
    return g_steal_pointer(&server);
}
