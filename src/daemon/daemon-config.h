/*
 * daemon-config.h: ferryd's configuration file.
 *
 * Owns: the file's syntax, the list of settings, their types, ranges and
 * defaults, and the cross-checks between settings.  Must not: act on any
 * setting (no sockets, no directories created here).
 *
 * Syntax, one setting per line:
 *
 *   # comment
 *   key = "string"          strings in double quotes (\" and \\ escapes)
 *   key = 42                non-negative integers
 *   key = yes               booleans: yes/no (also true/false, 1/0)
 *
 * Every error names the file, the line and the setting.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    char *unix_socket_path;     /* default FERRY_DEFAULT_SOCKET */
    guint unix_socket_mode;     /* default 0600 */
    char *unix_socket_group;    /* a group whose members may use the socket too (the
                                 * socket file gets this group); NULL: root only */
    gboolean unix_socket_ro;    /* a read-only socket for queries, default yes */
    char *unix_socket_ro_path;  /* default: ferryd-ro.sock beside unix_socket_path */
    guint unix_socket_ro_mode;  /* default 0666: any local user may query */
    char *state_dir;            /* default FERRY_DEFAULT_STATE_DIR */
    char *host_uuid;            /* default: STATE_DIR/host-uuid, created once */
    char *hostname;             /* default: g_get_host_name() */
    char *qemu_binary;          /* default FERRY_QEMU_BINARY */
    char *tcp_listen_address;   /* NULL: no TCP listener */
    guint tcp_port;             /* default FERRY_DEFAULT_TCP_PORT */
    gboolean listen_insecure_tcp; /* plaintext TCP allowed: needed by tcp_listen_address */
    char *tls_listen_address;   /* NULL: no TLS listener */
    guint tls_port;             /* default FERRY_DEFAULT_TLS_PORT (16514) */
    char *pki_dir;              /* cacert.pem, server and client certificates and keys;
                                 * default FERRY_TLS_DEFAULT_PKI_DIR (/etc/pki/ferry) */
    char *tls_allowed_names;    /* ','-separated patterns of TLS clients' certificate
                                 * names (CN); NULL: any client the CA signed */
    guint max_clients;          /* TCP clients at once, default 64 */
    guint max_unix_clients;     /* UNIX-socket clients at once, counted apart, default 64 */
    guint max_clients_per_address; /* TCP clients at once from one address, default 32 */
    guint max_calls_per_client; /* calls in flight per client, default 16 */
    guint max_frame_size;       /* bytes, default 4 MiB */
    guint max_call_bytes_per_client; /* bytes of arguments of a client's calls in flight,
                                      * default 8 MiB; at least max_frame_size */
    guint max_domains;          /* domains this host keeps at most (defined, running,
                                 * incoming), default 1024 */
    guint workers;              /* dispatch threads, default 8 */
    guint priority_workers;     /* threads for the quick queries only (lookups, info,
                                 * job progress), so they never wait behind long
                                 * calls; default 2 */
    guint keepalive_interval;   /* seconds between pings to an idle peer, 0 = off; default 5 */
    guint keepalive_count;      /* unanswered pings before closing, default 5 */
    guint frame_timeout;        /* seconds a peer may take to finish a frame it began,
                                 * default 30 */
    char *log_file;             /* NULL: stderr */
    char *log_level;            /* "debug", "info", "message", "warning"; default "info" */
    char *pid_file;             /* NULL: none */
    char *migration_address;    /* the IP address incoming migrations listen on, never a
                                 * wildcard; NULL: the address the hostname resolves to */
    guint migration_port_min;   /* incoming migration ports, default 49152 */
    guint migration_port_max;   /* default 49215 */
    guint migration_max_protocol; /* the newest migration protocol offered, 2 or 3 (default);
                                   * 2 plays an older host's part */
    char *hook_path;            /* executable run at migration phases; NULL: none */
    char *storage_dirs;         /* ':'-separated directories where incoming disks may be
                                 * created, and where every disk and backing file a peer
                                 * or an untrusted client names must lie; NULL:
                                 * STATE_DIR/images */
    char *file_dirs;            /* ':'-separated directories where the other files a peer
                                 * or an untrusted client names (kernels, initrds, serial
                                 * logs) must lie (docs/security.md); NULL: STATE_DIR/files */
    char *shared_storage_dirs;  /* ':'-separated directories the other hosts see too (an
                                 * NFS mount, say): a disk in them may migrate without
                                 * being copied (docs/migration-safety.md); NULL: none
                                 * beyond shared and cluster file systems */
    char *user;                 /* the user QEMU runs as: a name or "+UID"; NULL: root
                                 * (docs/security.md, "The QEMU user") */
    char *group;                /* its only group: a name or "+GID"; NULL: the user's
                                 * primary group */
    gboolean migration_relay;   /* relay incoming streams through ferryd (src/relay), default yes */
    guint migration_abandon_timeout; /* seconds a migration may wait between phases, default 60 */
    char *lock_manager;         /* leases on domains: "none" (default) or "fcntl" */
    char *lockspace_dir;        /* the directory of lease files the hosts share; required
                                 * by lock_manager = "fcntl" (docs/leases.md) */
    char *debug_inject_failure; /* for tests: the migration phase to fail ("finish") */
} ferry_daemon_config;

/**
 * ferry_daemon_config_new_defaults:
 *
 * Returns: (transfer full): the configuration used when no file sets anything.
 */
ferry_daemon_config *ferry_daemon_config_new_defaults(void);

/**
 * ferry_daemon_config_parse:
 * @config: settings to update (start from the defaults)
 * @text: the file's contents
 * @file_name: how errors name the file
 * @error: return location for an error (FERRY_ERROR_CONFIG) such as
 *   "ferryd.conf:7: setting 'max_clients': expected an integer, got 'many'"
 *
 * Returns: TRUE if every line was valid; on error @config may be partly
 *   updated and must be discarded.
 */
gboolean ferry_daemon_config_parse(ferry_daemon_config *config, const char *text,
                                   const char *file_name, GError **error);

/**
 * ferry_daemon_config_load:
 * @path: the file
 * @error: return location for an error
 *
 * Reads the defaults, then @path, then checks the settings together
 * (ferry_daemon_config_check()).
 *
 * Returns: (transfer full): the configuration, or NULL on error.
 */
ferry_daemon_config *ferry_daemon_config_load(const char *path, GError **error);

/**
 * ferry_daemon_config_check:
 * @config: a configuration
 * @file_name: how errors name its file
 * @error: return location for an error
 *
 * Cross-checks: a TCP listener needs listen_insecure_tcp = yes until TLS
 * exists; host_uuid must be a uuid; paths must be absolute (also each of
 * storage_dirs and file_dirs); migration_address is one IP address, not a
 * wildcard (0.0.0.0, ::); user and group exist (group needs user); lock_manager is
 * "none" or "fcntl", and lockspace_dir is set exactly when it is "fcntl".
 *
 * Returns: TRUE if consistent.
 */
gboolean ferry_daemon_config_check(const ferry_daemon_config *config,
                                   const char *file_name, GError **error);

/**
 * ferry_daemon_config_free:
 * @config: (nullable): a configuration
 */
void ferry_daemon_config_free(ferry_daemon_config *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ferry_daemon_config, ferry_daemon_config_free)

G_END_DECLS
