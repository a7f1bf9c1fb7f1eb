/*
 * ferryd.c: the per-host daemon.
 *
 * Owns: the daemon's process-level duties -- command line, configuration,
 * logging, the host's identity, the pid file, signals, readiness -- and
 * wiring the QEMU driver to the RPC server.  Must not: implement any
 * operation itself; every call goes through the public API to a driver.
 *
 * Shutdown (SIGTERM, SIGINT): stop accepting, let the calls in flight
 * finish, close the clients, detach from every QEMU and exit 0.  The VMs
 * keep running; the next ferryd re-attaches to them from their status files.
 */
#include "ferry-config.h"

#include <errno.h>
#include <fcntl.h>
#include <ferry/ferry.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "daemon/daemon-config.h"
#include "daemon/daemon-server.h"
#include "daemon/log-filter.h"
#include "qemu/qemu-driver.h"
#include "remote/remote-driver.h"
#include "test/test-driver.h"
#include "util/error.h"

/* ------------------------------------------------------------------ */
/* Logging: one line per message, to the log file or stderr, cut and
 * escaped, the lines a peer causes rate-limited (log-filter.h): the peer
 * is a line's FERRY_PEER field (the RPC server's lines about a client),
 * else the one the thread works for (a call's, set by the dispatch). */

static FILE *log_out;
static GLogLevelFlags log_max = G_LOG_LEVEL_INFO;
static GMutex log_lock;
static ferry_log_filter *log_filter;

static int
level_rank(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return 0;
    if (level & G_LOG_LEVEL_WARNING)
        return 1;
    if (level & G_LOG_LEVEL_MESSAGE)
        return 2;
    if (level & G_LOG_LEVEL_INFO)
        return 3;
    return 4;
}

static const char *
level_name(GLogLevelFlags level)
{
    static const char *const names[] = { "error", "warning", "message", "info", "debug" };

    return names[level_rank(level)];
}

/* Writes one line; log_lock held. */
static void
write_line(const char *stamp, const char *level, const char *domain, const char *text)
{
    fprintf(log_out ? log_out : stderr, "%.23s %d %s %s: %s\n", stamp, (int)getpid(), level,
            domain, text);
}

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
    const char *message = NULL, *domain = NULL, *peer = NULL;
    g_autoptr(GDateTime) now = NULL;
    g_autofree char *stamp = NULL;
    g_autofree char *line = NULL;
    g_auto(GStrv) reports = NULL;

    if (level_rank(level) > level_rank(log_max))
        return G_LOG_WRITER_HANDLED;
    for (gsize i = 0; i < n_fields; i++) {
        if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
        else if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
        else if (strcmp(fields[i].key, "FERRY_PEER") == 0)
            peer = fields[i].value;
    }
    if (!peer)
        peer = ferry_log_get_thread_peer();
    line = ferry_log_filter_apply(log_filter, peer, message ? message : "",
                                  g_get_monotonic_time(), &reports);
    if (!line && !reports)
        return G_LOG_WRITER_HANDLED;
    now = g_date_time_new_now_utc();
    stamp = g_date_time_format(now, "%Y-%m-%d %H:%M:%S.%f");
    g_mutex_lock(&log_lock);
    for (guint i = 0; reports && reports[i]; i++)
        write_line(stamp, "warning", "ferryd", reports[i]);
    if (line)
        write_line(stamp, level_name(level), domain ? domain : "ferryd", line);
    fflush(log_out ? log_out : stderr);
    g_mutex_unlock(&log_lock);
    return G_LOG_WRITER_HANDLED;
}

static gboolean
setup_logging(const ferry_daemon_config *cfg, gboolean verbose, GError **error)
{
    if (cfg->log_file) {
        g_autofree char *dir = g_path_get_dirname(cfg->log_file);

        g_mkdir_with_parents(dir, 0755);
        log_out = fopen(cfg->log_file, "ae");
        if (!log_out) {
            ferry_set_error_errno(error, FERRY_ERROR_CONFIG, errno,
                                  "cannot open log file '%s'", cfg->log_file);
            return FALSE;
        }
    }
    if (verbose || strcmp(cfg->log_level, "debug") == 0)
        log_max = G_LOG_LEVEL_DEBUG;
    else if (strcmp(cfg->log_level, "message") == 0)
        log_max = G_LOG_LEVEL_MESSAGE;
    else if (strcmp(cfg->log_level, "warning") == 0)
        log_max = G_LOG_LEVEL_WARNING;
    else
        log_max = G_LOG_LEVEL_INFO;
    log_filter = ferry_log_filter_new(FERRY_LOG_PEER_BURST, FERRY_LOG_PEER_RATE);
    g_log_set_writer_func(log_writer, NULL, NULL);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Host identity */

/* The host uuid: from the configuration, else the one ferryd created in the
 * state directory on its first start, so it survives restarts. */
static char *
resolve_host_uuid(const ferry_daemon_config *cfg, GError **error)
{
    g_autofree char *path = g_build_filename(cfg->state_dir, "host-uuid", NULL);
    g_autofree char *text = NULL;
    g_autofree char *fresh = NULL;
    g_autoptr(GError) local = NULL;

    if (cfg->host_uuid)
        return g_ascii_strdown(cfg->host_uuid, -1);
    if (g_file_get_contents(path, &text, NULL, NULL)) {
        g_strstrip(text);
        if (!g_uuid_string_is_valid(text)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                        "'%s' does not hold a uuid; fix it or set host_uuid", path);
            return NULL;
        }
        return g_ascii_strdown(text, -1);
    }
    fresh = g_uuid_string_random();
    text = g_strdup_printf("%s\n", fresh);
    if (!g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
                                  &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM,
                    "cannot record the host uuid: %s", local->message);
        return NULL;
    }
    return g_steal_pointer(&fresh);
}

/* How another host's ferryd reaches this one, for the questions a source
 * asks a destination about a migration: the TLS listener if there is one,
 * else the plaintext one, at an address a peer can dial (not a wildcard). */
static char *
peer_uri_of(const ferry_daemon_config *cfg)
{
    gboolean tls = cfg->tls_listen_address != NULL;
    const char *host = tls ? cfg->tls_listen_address : cfg->tcp_listen_address;
    g_autofree char *bracketed = NULL;

    if (!host)
        return NULL;
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
        host = cfg->migration_address ? cfg->migration_address
                                      : cfg->hostname ? cfg->hostname : g_get_host_name();
    if (strchr(host, ':'))
        host = bracketed = g_strdup_printf("[%s]", host);
    return g_strdup_printf("qemu+%s://%s:%u/system", tls ? "tls" : "tcp", host,
                           tls ? cfg->tls_port : cfg->tcp_port);
}

/* ------------------------------------------------------------------ */
/* Signals and readiness */

static gboolean
on_quit_signal(gpointer data)
{
    GMainLoop *loop = data;

    g_message("signal received: shutting down, leaving the VMs running");
    g_main_loop_quit(loop);
    return G_SOURCE_CONTINUE;
}

static gboolean
write_pid_file(const char *path, GError **error)
{
    g_autofree char *text = g_strdup_printf("%d\n", (int)getpid());
    g_autoptr(GError) local = NULL;

    if (!g_file_set_contents(path, text, -1, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_SYSTEM, "cannot write pid file: %s",
                    local->message);
        return FALSE;
    }
    return TRUE;
}

static void
notify_ready(int fd)
{
    static const char msg[] = "READY\n";

    if (fd < 0)
        return;
    if (write(fd, msg, sizeof(msg) - 1) < 0)
        g_warning("cannot write to --ready-fd %d: %s", fd, g_strerror(errno));
    close(fd);
}

/* ------------------------------------------------------------------ */

static const ferry_driver *const daemon_drivers[] = {
    &ferry_qemu_driver,
    &ferry_test_driver,
    NULL,
};

static int
die(const char *what, const GError *error)
{
    fprintf(stderr, "ferryd: %s: %s\n", what, error->message);
    if (log_out)
        g_critical("%s: %s", what, error->message);
    return EXIT_FAILURE;
}

int
main(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    gboolean verbose = FALSE;
    int ready_fd = -1;
    GOptionEntry entries[] = {
        { "config", 'f', 0, G_OPTION_ARG_FILENAME, &config_path,
          "Configuration file (default " FERRY_DEFAULT_CONFIG ")", "FILE" },
        { "ready-fd", 0, 0, G_OPTION_ARG_INT, &ready_fd,
          "Write READY to this file descriptor once serving", "FD" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- the ferry daemon");
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_daemon_config) cfg = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    g_autofree char *host_uuid = NULL;
    g_autofree char *peer_uri = NULL;
    g_auto(GStrv) storage_dirs = NULL;
    g_auto(GStrv) file_dirs = NULL;
    g_auto(GStrv) shared_dirs = NULL;
    ferry_daemon_server *server = NULL;
    ferry_qemu_config qcfg = { 0 };

    setlocale(LC_ALL, "");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        return die("bad arguments", error);
    if (ready_fd >= 0)
        fcntl(ready_fd, F_SETFD, FD_CLOEXEC);

    if (config_path)
        cfg = ferry_daemon_config_load(config_path, &error);
    else if (g_file_test(FERRY_DEFAULT_CONFIG, G_FILE_TEST_EXISTS))
        cfg = ferry_daemon_config_load(FERRY_DEFAULT_CONFIG, &error);
    else
        cfg = ferry_daemon_config_new_defaults();
    if (!cfg)
        return die("bad configuration", error);
    if (!setup_logging(cfg, verbose, &error))
        return die("cannot log", error);
    if (g_mkdir_with_parents(cfg->state_dir, 0700) < 0) {
        ferry_set_error_errno(&error, FERRY_ERROR_SYSTEM, errno,
                              "cannot create state directory '%s'", cfg->state_dir);
        return die("cannot start", error);
    }
    host_uuid = resolve_host_uuid(cfg, &error);
    if (!host_uuid)
        return die("cannot start", error);

    /* QEMUs we start are our children; those re-attached after a restart
     * are not, and would be reaped by a slow init: become their reaper. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    /* A client vanishing mid-write must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);

    g_message("ferryd %s starting: host '%s' (uuid %s), state in '%s'", FERRY_VERSION,
              cfg->hostname ? cfg->hostname : g_get_host_name(), host_uuid, cfg->state_dir);
    qcfg.state_dir = cfg->state_dir;
    qcfg.qemu_binary = cfg->qemu_binary;
    qcfg.host_uuid = host_uuid;
    qcfg.hostname = cfg->hostname;
    qcfg.migration_address = cfg->migration_address;
    qcfg.migration_port_min = cfg->migration_port_min;
    qcfg.migration_port_max = cfg->migration_port_max;
    qcfg.hook_path = cfg->hook_path;
    qcfg.inject_failure = cfg->debug_inject_failure;
    qcfg.abandon_seconds = cfg->migration_abandon_timeout;
    qcfg.migration_relay = cfg->migration_relay;
    qcfg.max_protocol = cfg->migration_max_protocol;
    qcfg.lock_manager = cfg->lock_manager;
    qcfg.lockspace_dir = cfg->lockspace_dir;
    qcfg.max_domains = cfg->max_domains;
    qcfg.peer_uri = peer_uri = peer_uri_of(cfg);
    /* This daemon's own connections to its peers present its client
     * certificate. */
    ferry_remote_set_pki_dir(cfg->pki_dir);
    qcfg.pki_dir = cfg->pki_dir;
    storage_dirs = cfg->storage_dirs ? g_strsplit(cfg->storage_dirs, ":", -1) : NULL;
    qcfg.storage_dirs = storage_dirs;
    file_dirs = cfg->file_dirs ? g_strsplit(cfg->file_dirs, ":", -1) : NULL;
    qcfg.file_dirs = file_dirs;
    shared_dirs = cfg->shared_storage_dirs ? g_strsplit(cfg->shared_storage_dirs, ":", -1)
                                           : NULL;
    qcfg.shared_storage_dirs = shared_dirs;
    qcfg.user = cfg->user;
    qcfg.group = cfg->group;
    if (cfg->debug_inject_failure)
        g_warning("debug_inject_failure = %s: migrations to this host will fail on purpose",
                  cfg->debug_inject_failure);
    if (!ferry_qemu_driver_initialize(&qcfg, &error))
        return die("cannot start the QEMU driver", error);

    loop = g_main_loop_new(NULL, FALSE);
    server = ferry_daemon_server_new(cfg, daemon_drivers, &error);
    if (!server) {
        ferry_qemu_driver_shutdown();
        return die("cannot serve", error);
    }
    if (cfg->pid_file && !write_pid_file(cfg->pid_file, &error)) {
        ferry_daemon_server_free(server);
        ferry_qemu_driver_shutdown();
        return die("cannot start", error);
    }
    g_unix_signal_add(SIGTERM, on_quit_signal, loop);
    g_unix_signal_add(SIGINT, on_quit_signal, loop);
    g_message("serving on '%s'%s%s%s%s", cfg->unix_socket_path,
              cfg->tls_listen_address ? ", TLS " : "",
              cfg->tls_listen_address ? cfg->tls_listen_address : "",
              cfg->tcp_listen_address ? ", plaintext TCP " : "",
              cfg->tcp_listen_address ? cfg->tcp_listen_address : "");
    notify_ready(ready_fd);

    g_main_loop_run(loop);

    /* No new calls; the driver's migration engine stops next, which ends
     * the calls still waiting on its jobs, so that freeing the server
     * completes them and closes the clients' connections; the driver goes
     * last. */
    ferry_daemon_server_stop(server);
    ferry_qemu_driver_stop_migrations();
    ferry_daemon_server_free(server);
    ferry_qemu_driver_shutdown();
    if (cfg->pid_file)
        g_unlink(cfg->pid_file);
    g_message("ferryd stopped");
    if (log_out)
        fclose(log_out);
    return EXIT_SUCCESS;
}
