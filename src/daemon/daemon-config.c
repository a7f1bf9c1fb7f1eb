/*
 * daemon-config.c: parsing and checking ferryd.conf.
 *
 * The settings are a table (name, type, where it goes, range) so that the
 * parser, the error messages and the documentation cannot drift apart.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <gio/gio.h>
#include <grp.h>
#include <string.h>

#include "daemon/daemon-config.h"
#include "rpc/rpc-tls.h"
#include "util/user.h"

typedef enum { SETTING_STRING, SETTING_UINT, SETTING_BOOL, SETTING_PATH } setting_type;

typedef struct {
    const char *name;
    setting_type type;
    gsize offset;
    guint min, max;             /* SETTING_UINT only */
} setting;

#define S(name, type) { #name, type, G_STRUCT_OFFSET(ferry_daemon_config, name), 0, 0 }
#define U(name, lo, hi) { #name, SETTING_UINT, G_STRUCT_OFFSET(ferry_daemon_config, name), lo, hi }

static const setting settings[] = {
    S(unix_socket_path, SETTING_PATH),
    U(unix_socket_mode, 0, 0777),
    S(unix_socket_group, SETTING_STRING),
    S(unix_socket_ro, SETTING_BOOL),
    S(unix_socket_ro_path, SETTING_PATH),
    U(unix_socket_ro_mode, 0, 0777),
    S(state_dir, SETTING_PATH),
    S(host_uuid, SETTING_STRING),
    S(hostname, SETTING_STRING),
    S(qemu_binary, SETTING_PATH),
    S(tcp_listen_address, SETTING_STRING),
    U(tcp_port, 1, 65535),
    S(listen_insecure_tcp, SETTING_BOOL),
    S(tls_listen_address, SETTING_STRING),
    U(tls_port, 1, 65535),
    S(pki_dir, SETTING_PATH),
    S(tls_allowed_names, SETTING_STRING),
    U(max_clients, 1, 100000),
    U(max_unix_clients, 1, 100000),
    U(max_clients_per_address, 1, 100000),
    U(max_calls_per_client, 1, 1024),
    U(max_frame_size, 4096, 256 * 1024 * 1024),
    U(max_call_bytes_per_client, 4096, 1024 * 1024 * 1024),
    U(max_domains, 1, 1000000),
    U(workers, 1, 256),
    U(priority_workers, 1, 64),
    U(keepalive_interval, 0, 3600),
    U(keepalive_count, 1, 100),
    U(frame_timeout, 1, 3600),
    S(log_file, SETTING_PATH),
    S(log_level, SETTING_STRING),
    S(pid_file, SETTING_PATH),
    S(migration_address, SETTING_STRING),
    U(migration_port_min, 1024, 65535),
    U(migration_port_max, 1024, 65535),
    U(migration_max_protocol, 1, 3),
    S(hook_path, SETTING_PATH),
    S(debug_inject_failure, SETTING_STRING),
    S(storage_dirs, SETTING_STRING),
    S(file_dirs, SETTING_STRING),
    S(shared_storage_dirs, SETTING_STRING),
    S(user, SETTING_STRING),
    S(group, SETTING_STRING),
    U(migration_abandon_timeout, 1, 3600),
    S(migration_relay, SETTING_BOOL),
    S(lock_manager, SETTING_STRING),
    S(lockspace_dir, SETTING_PATH),
};

ferry_daemon_config *
ferry_daemon_config_new_defaults(void)
{
    ferry_daemon_config *c = g_new0(ferry_daemon_config, 1);

    c->unix_socket_path = g_strdup(FERRY_DEFAULT_SOCKET);
    c->unix_socket_mode = 0600;
    c->unix_socket_ro = TRUE;
    c->unix_socket_ro_mode = 0666;
    c->state_dir = g_strdup(FERRY_DEFAULT_STATE_DIR);
    c->qemu_binary = g_strdup(FERRY_QEMU_BINARY);
    c->tcp_port = FERRY_DEFAULT_TCP_PORT;
    c->tls_port = FERRY_DEFAULT_TLS_PORT;
    c->pki_dir = g_strdup(FERRY_TLS_DEFAULT_PKI_DIR);
    c->max_clients = 64;
    c->max_unix_clients = 64;
    c->max_clients_per_address = 32;
    c->max_calls_per_client = 16;
    c->max_frame_size = 4 * 1024 * 1024;
    c->max_call_bytes_per_client = 8 * 1024 * 1024;
    c->max_domains = 1024;
    c->workers = 8;
    c->priority_workers = 2;
    c->keepalive_interval = 5;
    c->keepalive_count = 5;
    c->frame_timeout = 30;
    c->log_level = g_strdup("info");
    c->migration_port_min = 49152;
    c->migration_port_max = 49215;
    c->migration_max_protocol = 3;
    c->migration_abandon_timeout = 60;
    c->migration_relay = TRUE;
    c->lock_manager = g_strdup("none");
    return c;
}

void
ferry_daemon_config_free(ferry_daemon_config *c)
{
    if (!c)
        return;
    for (gsize i = 0; i < G_N_ELEMENTS(settings); i++) {
        if (settings[i].type == SETTING_STRING || settings[i].type == SETTING_PATH)
            g_free(G_STRUCT_MEMBER(char *, c, settings[i].offset));
    }
    g_free(c);
}

/* Parses a double-quoted string starting at @p; sets *@end after it. */
static char *
parse_quoted(const char *p, const char **end)
{
    GString *out = g_string_new(NULL);

    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
            p++;
        g_string_append_c(out, *p);
    }
    if (*p != '"') {
        g_string_free(out, TRUE);
        return NULL;
    }
    *end = p + 1;
    return g_string_free(out, FALSE);
}

static gboolean
parse_bool(const char *v, gboolean *ret)
{
    if (!g_ascii_strcasecmp(v, "yes") || !g_ascii_strcasecmp(v, "true") || !strcmp(v, "1"))
        *ret = TRUE;
    else if (!g_ascii_strcasecmp(v, "no") || !g_ascii_strcasecmp(v, "false") || !strcmp(v, "0"))
        *ret = FALSE;
    else
        return FALSE;
    return TRUE;
}

static gboolean
apply(ferry_daemon_config *c, const setting *s, const char *value, gboolean quoted,
      const char *where, GError **error)
{
    switch (s->type) {
    case SETTING_STRING:
    case SETTING_PATH:
        if (!quoted) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                        "%s: setting '%s': expected a string in double quotes, got '%s'",
                        where, s->name, value);
            return FALSE;
        }
        if (s->type == SETTING_PATH && !g_path_is_absolute(value)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                        "%s: setting '%s': '%s' is not an absolute path", where,
                        s->name, value);
            return FALSE;
        }
        g_free(G_STRUCT_MEMBER(char *, c, s->offset));
        G_STRUCT_MEMBER(char *, c, s->offset) = g_strdup(value);
        return TRUE;
    case SETTING_UINT: {
        guint64 n;
        /* Octal for modes (0600), decimal otherwise. */
        guint base = (value[0] == '0' && value[1]) ? 8 : 10;

        if (quoted || !g_ascii_string_to_unsigned(value, base, s->min, s->max, &n, NULL)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                        "%s: setting '%s': expected an integer from %u to %u, got '%s'",
                        where, s->name, s->min, s->max, value);
            return FALSE;
        }
        G_STRUCT_MEMBER(guint, c, s->offset) = (guint)n;
        return TRUE;
    }
    case SETTING_BOOL:
        if (quoted || !parse_bool(value, &G_STRUCT_MEMBER(gboolean, c, s->offset))) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                        "%s: setting '%s': expected yes or no, got '%s'", where,
                        s->name, value);
            return FALSE;
        }
        return TRUE;
    }
    g_assert_not_reached();
}

static gboolean
parse_line(ferry_daemon_config *c, const char *line, const char *where, GError **error)
{
    const char *p = line, *eq;
    g_autofree char *key = NULL;
    g_autofree char *value = NULL;
    gboolean quoted = FALSE;
    const setting *s = NULL;

    while (g_ascii_isspace(*p))
        p++;
    if (!*p || *p == '#')
        return TRUE;
    eq = strchr(p, '=');
    if (!eq) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: expected 'setting = value', got '%s'", where, p);
        return FALSE;
    }
    key = g_strstrip(g_strndup(p, eq - p));
    for (gsize i = 0; i < G_N_ELEMENTS(settings); i++) {
        if (strcmp(settings[i].name, key) == 0)
            s = &settings[i];
    }
    if (!s) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG, "%s: unknown setting '%s'",
                    where, key);
        return FALSE;
    }
    p = eq + 1;
    while (g_ascii_isspace(*p))
        p++;
    if (*p == '"') {
        const char *end = NULL;

        value = parse_quoted(p, &end);
        if (!value) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                        "%s: setting '%s': unterminated string", where, key);
            return FALSE;
        }
        quoted = TRUE;
        p = end;
    } else {
        const char *start = p;

        while (*p && !g_ascii_isspace(*p) && *p != '#')
            p++;
        value = g_strndup(start, p - start);
    }
    while (g_ascii_isspace(*p))
        p++;
    if (*p && *p != '#') {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting '%s': unexpected text after the value: '%s'", where,
                    key, p);
        return FALSE;
    }
    if (!*value && !quoted) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting '%s' has no value", where, key);
        return FALSE;
    }
    return apply(c, s, value, quoted, where, error);
}

gboolean
ferry_daemon_config_parse(ferry_daemon_config *config, const char *text,
                          const char *file_name, GError **error)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (guint i = 0; lines[i]; i++) {
        g_autofree char *where = g_strdup_printf("%s:%u", file_name, i + 1);

        if (!parse_line(config, lines[i], where, error))
            return FALSE;
    }
    return TRUE;
}

/* A ':'-separated list of directories (nullable): each one absolute. */
static gboolean
check_dir_list(const char *list, const char *name, const char *file_name, GError **error)
{
    g_auto(GStrv) dirs = list ? g_strsplit(list, ":", -1) : NULL;

    for (guint i = 0; dirs && dirs[i]; i++) {
        if (!g_path_is_absolute(dirs[i])) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                        "%s: setting '%s': '%s' is not an absolute path", file_name, name,
                        dirs[i]);
            return FALSE;
        }
    }
    return TRUE;
}

/* The QEMU user and group must exist now: a ferryd that started would
 * otherwise fail every domain's start, far from the cause. */
static gboolean
check_qemu_user(const char *user, const char *group, const char *file_name, GError **error)
{
    uid_t uid;
    gid_t gid;

    if (group && !user) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'group' ('%s') needs 'user': QEMU runs as root unless "
                    "'user' names another user", file_name, group);
        return FALSE;
    }
    if (user && !ferry_user_lookup(user, &uid, NULL)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'user': there is no user '%s'", file_name, user);
        return FALSE;
    }
    if (group && !ferry_group_lookup(group, &gid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'group': there is no group '%s'", file_name, group);
        return FALSE;
    }
    return TRUE;
}

/* QEMU's migration and NBD servers, and the relays in front of them, listen
 * there: one address, so that a guest's memory and writable disks are not
 * offered on every network the host is on. */
static gboolean
check_migration_address(const char *address, const char *file_name, GError **error)
{
    g_autoptr(GInetAddress) inet = address ? g_inet_address_new_from_string(address) : NULL;

    if (!address)
        return TRUE;
    if (!inet) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'migration_address': '%s' is not an IP address",
                    file_name, address);
        return FALSE;
    }
    if (g_inet_address_get_is_any(inet)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'migration_address': '%s' is the wildcard address; name "
                    "the one address of this host that peers migrate to", file_name, address);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_daemon_config_check(const ferry_daemon_config *c, const char *file_name,
                          GError **error)
{
    static const char *const levels[] = { "debug", "info", "message", "warning", NULL };

    if (c->tcp_listen_address && !c->listen_insecure_tcp) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'tcp_listen_address' needs 'listen_insecure_tcp = yes': "
                    "plaintext TCP must be chosen explicitly (for TLS, set "
                    "'tls_listen_address')", file_name);
        return FALSE;
    }
    if (c->tcp_listen_address && c->tls_listen_address && c->tcp_port == c->tls_port) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: settings 'tcp_port' and 'tls_port' are both %u: plaintext TCP and "
                    "TLS need ports of their own", file_name, c->tcp_port);
        return FALSE;
    }
    if (c->tls_allowed_names) {
        g_auto(GStrv) names = g_strsplit(c->tls_allowed_names, ",", -1);

        for (guint i = 0; names[i]; i++) {
            if (!*g_strstrip(names[i])) {
                g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                            "%s: setting 'tls_allowed_names': name %u of '%s' is empty",
                            file_name, i + 1, c->tls_allowed_names);
                return FALSE;
            }
        }
    }
    if (c->unix_socket_ro_path && !strcmp(c->unix_socket_ro_path, c->unix_socket_path)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: settings 'unix_socket_ro_path' and 'unix_socket_path' are both '%s'",
                    file_name, c->unix_socket_path);
        return FALSE;
    }
    if (c->unix_socket_group && !getgrnam(c->unix_socket_group)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'unix_socket_group': there is no group '%s'", file_name,
                    c->unix_socket_group);
        return FALSE;
    }
    if (c->host_uuid && !g_uuid_string_is_valid(c->host_uuid)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'host_uuid': '%s' is not a uuid", file_name, c->host_uuid);
        return FALSE;
    }
    if (c->max_call_bytes_per_client < c->max_frame_size) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'max_call_bytes_per_client' (%u) is below 'max_frame_size' "
                    "(%u): a call of the largest frame would always be refused", file_name,
                    c->max_call_bytes_per_client, c->max_frame_size);
        return FALSE;
    }
    if (c->migration_port_min > c->migration_port_max) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: settings 'migration_port_min' (%u) and 'migration_port_max' (%u): "
                    "the range is empty", file_name, c->migration_port_min,
                    c->migration_port_max);
        return FALSE;
    }
    if (!check_dir_list(c->storage_dirs, "storage_dirs", file_name, error) ||
        !check_dir_list(c->file_dirs, "file_dirs", file_name, error) ||
        !check_dir_list(c->shared_storage_dirs, "shared_storage_dirs", file_name, error) ||
        !check_migration_address(c->migration_address, file_name, error) ||
        !check_qemu_user(c->user, c->group, file_name, error))
        return FALSE;
    if (c->debug_inject_failure && strcmp(c->debug_inject_failure, "finish") != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'debug_inject_failure': '%s' is not a phase that can be "
                    "made to fail (finish)", file_name, c->debug_inject_failure);
        return FALSE;
    }
    if (strcmp(c->lock_manager, "none") != 0 && strcmp(c->lock_manager, "fcntl") != 0) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'lock_manager': '%s' is not one of none, fcntl",
                    file_name, c->lock_manager);
        return FALSE;
    }
    if (strcmp(c->lock_manager, "fcntl") == 0 && !c->lockspace_dir) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'lock_manager' is \"fcntl\" but 'lockspace_dir' is not "
                    "set: the fcntl lock manager needs the directory of lease files the "
                    "hosts share", file_name);
        return FALSE;
    }
    if (strcmp(c->lock_manager, "none") == 0 && c->lockspace_dir) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'lockspace_dir' has no effect with 'lock_manager' "
                    "\"none\": set lock_manager = \"fcntl\" to use leases",
                    file_name);
        return FALSE;
    }
    if (!g_strv_contains(levels, c->log_level)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "%s: setting 'log_level': '%s' is not one of debug, info, message, "
                    "warning", file_name, c->log_level);
        return FALSE;
    }
    return TRUE;
}

ferry_daemon_config *
ferry_daemon_config_load(const char *path, GError **error)
{
    g_autoptr(ferry_daemon_config) c = ferry_daemon_config_new_defaults();
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;

    if (!g_file_get_contents(path, &text, NULL, &local)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "cannot read configuration: %s", local->message);
        return NULL;
    }
    if (!ferry_daemon_config_parse(c, text, path, error) ||
        !ferry_daemon_config_check(c, path, error))
        return NULL;
    return g_steal_pointer(&c);
}
