/*
 * qemu-migration-net.c: where a migration's streams go, for the QEMU
 * driver's migration code (qemu-migration.c, qemu-migration-v1.c):
 * migration URIs, the incoming side's address and ports, the relays in
 * front of QEMU (src/relay), tokens, and sockets handed to QEMU.
 *
 * Owns: the port range's bookkeeping (which ports this host's incoming
 * migrations hold), the listening sockets ferryd makes for QEMU, the
 * relays of a domain.  Must not: drive a migration (qemu-migration.c does).
 */
#include "ferry-config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "qemu/qemu-migration-priv.h"
#include "qemu/qemu-migration.h"
#include "qemu/qemu-process.h"
#include "qemu/qemu-user.h"
#include "relay/relay.h"
#include "util/error.h"
#include "util/token.h"
#include "util/json-util.h"

/* ------------------------------------------------------------------ */
/* Migration URIs: host, host:port, tcp://host/, tcp://host:port/ */

void
qemu_mig_uri_clear(mig_uri *u)
{
    g_clear_pointer(&u->host, g_free);
}


static gboolean
parse_port(const char *uri, const char *text, guint *ret, GError **error)
{
    guint64 n;

    if (!g_ascii_string_to_unsigned(text, 10, 1, 65535, &n, NULL)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "migration URI '%s': port '%s' is not a number from 1 to 65535", uri, text);
        return FALSE;
    }
    *ret = (guint)n;
    return TRUE;
}

/* [v6]:port, host:port or host, from @hp (owned by the caller). */
static gboolean
parse_host_port(const char *uri, const char *hp, mig_uri *ret, GError **error)
{
    const char *colon;

    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');

        if (!end || (end[1] && end[1] != ':')) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "migration URI '%s': malformed IPv6 address", uri);
            return FALSE;
        }
        ret->host = g_strndup(hp + 1, end - hp - 1);
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(hp, ':');
        ret->host = colon ? g_strndup(hp, colon - hp) : g_strdup(hp);
    }
    if (!*ret->host || strspn(ret->host, "abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") !=
                           strlen(ret->host)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "migration URI '%s': '%s' is not a host name or address", uri, ret->host);
        qemu_mig_uri_clear(ret);
        return FALSE;
    }
    if (colon && !parse_port(uri, colon + 1, &ret->port, error)) {
        qemu_mig_uri_clear(ret);
        return FALSE;
    }
    return TRUE;
}

gboolean
qemu_mig_uri_parse(const char *uri, mig_uri *ret, GError **error)
{
    g_autofree char *hp = NULL;

    memset(ret, 0, sizeof(*ret));
    if (!uri)
        return TRUE;
    if (strstr(uri, "://")) {
        const char *rest, *slash;

        if (!g_str_has_prefix(uri, "tcp://")) {
            g_autofree char *scheme = g_strndup(uri, strstr(uri, "://") - uri);

            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "migration URI '%s': transport '%s' is not supported (use tcp)", uri,
                        scheme);
            return FALSE;
        }
        rest = uri + strlen("tcp://");
        slash = strchr(rest, '/');
        if (slash && slash[1] != '\0') {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "migration URI '%s': a path is not allowed", uri);
            return FALSE;
        }
        hp = slash ? g_strndup(rest, slash - rest) : g_strdup(rest);
    } else {
        hp = g_strdup(uri);
    }
    return parse_host_port(uri, hp, ret, error);
}

char *
qemu_mig_host_for_uri(const char *host)
{
    return strchr(host, ':') ? g_strdup_printf("[%s]", host) : g_strdup(host);
}

/* ------------------------------------------------------------------ */
/* Incoming ports */

/* A TCP socket bound to @address (any IPv4 address if it is not one) and
 * @port, or NULL with @error. */
static GSocket *
bound_socket(const char *address, guint port, GError **error)
{
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address);
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GSocket) sock = NULL;

    if (!inet)
        inet = g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
    sa = g_inet_socket_address_new(inet, (guint16)port);
    sock = g_socket_new(g_inet_address_get_family(inet), G_SOCKET_TYPE_STREAM,
                        G_SOCKET_PROTOCOL_TCP, error);
    if (!sock || !g_socket_bind(sock, sa, TRUE, error))
        return NULL;
    return g_steal_pointer(&sock);
}

static gboolean
port_bindable(const char *address, guint port)
{
    g_autoptr(GSocket) sock = bound_socket(address, port, NULL);

    return sock != NULL;
}

guint
qemu_migration_acquire_port(qemu_driver_state *state, const char *address, guint wanted,
                            GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&state->ports_lock);
    guint lo = wanted ? wanted : state->config.migration_port_min;
    guint hi = wanted ? wanted : state->config.migration_port_max;

    /* The port comes from a peer (a migration URI or disks_port): it may
     * pick one of the range, never any port of this host. */
    if (wanted && (wanted < state->config.migration_port_min ||
                   wanted > state->config.migration_port_max)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "host '%s': migration port %u is outside this host's range "
                    "migration_port_min-migration_port_max (%u-%u)", state->config.hostname,
                    wanted, state->config.migration_port_min, state->config.migration_port_max);
        return 0;
    }
    for (guint p = lo; p <= hi; p++) {
        if (g_hash_table_contains(state->ports_in_use, GUINT_TO_POINTER(p)) ||
            !port_bindable(address, p))
            continue;
        g_hash_table_add(state->ports_in_use, GUINT_TO_POINTER(p));
        return p;
    }
    if (wanted)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "host '%s': migration port %u on %s is in use", state->config.hostname,
                    wanted, address);
    else
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_LIMIT,
                    "host '%s': no free migration port in %u-%u on %s",
                    state->config.hostname, lo, hi, address);
    return 0;
}

void
qemu_migration_release_port(qemu_driver_state *state, guint port)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&state->ports_lock);

    g_hash_table_remove(state->ports_in_use, GUINT_TO_POINTER(port));
}

/* ------------------------------------------------------------------ */
/* Relays (src/relay) */

char *
qemu_migration_relay_path(qemu_driver_state *state, const char *uuid, const char *what)
{
    g_autofree char *file = g_strdup_printf("%s.%s", uuid, what);

    return g_build_filename(state->relay_dir, file, NULL);
}

void
qemu_migration_remove_relay_sockets(qemu_driver_state *state, const char *uuid)
{
    static const char *const what[] = { "in", "out", "nbd-in", "nbd-out" };

    for (gsize i = 0; i < G_N_ELEMENTS(what); i++) {
        g_autofree char *path = qemu_migration_relay_path(state, uuid, what[i]);

        g_unlink(path);
    }
}

guint
qemu_migration_relay_give_up(const ferry_migrate_params *params)
{
    if (params->retry_s == FERRY_MIGRATE_RETRY_NEVER)
        return 0;
    return params->retry_s ? (guint)params->retry_s : FERRY_MIGRATE_RETRY_DEFAULT;
}

void
qemu_migration_close_relays(ferry_domain_obj *obj, gboolean memory, gboolean nbd)
{
    ferry_relay *mem = NULL, *nbd_relay = NULL;

    g_mutex_lock(&obj->lock);
    if (obj->priv) {
        qemu_domain_priv *priv = obj->priv;

        if (memory)
            mem = g_steal_pointer(&priv->mig_relay);
        if (nbd)
            nbd_relay = g_steal_pointer(&priv->mig_nbd_relay);
        /* What they did stays in the job's statistics. */
        priv->mig_reconnects += (mem ? ferry_relay_reconnects(mem) : 0) +
                                (nbd_relay ? ferry_relay_reconnects(nbd_relay) : 0);
    }
    g_mutex_unlock(&obj->lock);
    ferry_relay_close(mem);
    ferry_relay_close(nbd_relay);
}

/* @relay becomes @obj's memory (or @nbd) relay; the one before is closed. */
static gboolean
keep_relay(ferry_domain_obj *obj, gboolean nbd, ferry_relay *relay)
{
    qemu_domain_priv *priv;

    if (!relay)
        return FALSE;
    qemu_migration_close_relays(obj, !nbd, nbd);
    g_mutex_lock(&obj->lock);
    priv = qemu_domain_priv_get(obj);
    if (nbd)
        priv->mig_nbd_relay = relay;
    else
        priv->mig_relay = relay;
    g_mutex_unlock(&obj->lock);
    return TRUE;
}

static char *
relay_name(ferry_domain_obj *obj, gboolean nbd)
{
    return g_strdup_printf("domain '%s': %s", obj->name, nbd ? "disks" : "memory stream");
}

gboolean
qemu_migration_relay_listen(ferry_domain_obj *obj, gboolean nbd, const char *address,
                            guint port, const char *path, const char *token, GError **error)
{
    g_autofree char *name = relay_name(obj, nbd);

    return keep_relay(obj, nbd, ferry_relay_listen(name, address, port, path, token, error));
}

gboolean
qemu_migration_relay_dial(ferry_domain_obj *obj, gboolean nbd, const char *path,
                          const char *host, guint port, const char *token,
                          const ferry_migrate_params *params, GError **error)
{
    g_autofree char *name = relay_name(obj, nbd);
    qemu_driver_state *state = qemu_driver_get_state();

    /* QEMU connects to the relay's socket: the QEMU user's to open. */
    return keep_relay(obj, nbd, ferry_relay_dial(name, path, host, port, token,
                                                 qemu_migration_relay_give_up(params),
                                                 error)) &&
           (!state || qemu_user_hand_socket(state, path, name, error));
}

/* A secret for a peer to present (the relay's, v1's): util/token.h. */
char *
qemu_mig_new_token(GError **error)
{
    return ferry_token_new(error);
}


/* ------------------------------------------------------------------ */
/* The incoming side's address and socket */

/* 0.0.0.0, ::, or :: with IPv4's 0.0.0.0 mapped in: every address. */
static gboolean
is_wildcard(GInetAddress *inet)
{
    static const guint8 mapped_any[16] = { [10] = 0xff, [11] = 0xff };

    return g_inet_address_get_is_any(inet) ||
           (g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6 &&
            memcmp(g_inet_address_to_bytes(inet), mapped_any, sizeof(mapped_any)) == 0);
}

/* The first address this host's name resolves to that another host can
 * reach: loopback and wildcard addresses are passed over, and a name with
 * nothing else is refused. */
static char *
hostname_address(const ferry_qemu_config *config, GError **error)
{
    g_autoptr(GResolver) resolver = g_resolver_get_default();
    g_autoptr(GError) local = NULL;
    GList *addrs = g_resolver_lookup_by_name(resolver, config->hostname, NULL, &local);
    char *found = NULL;

    if (!addrs) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "host '%s': its name does not resolve to an address to listen on for "
                    "incoming migrations (%s); set migration_address in ferryd.conf",
                    config->hostname, local->message);
        return NULL;
    }
    for (GList *l = addrs; l && !found; l = l->next) {
        if (!g_inet_address_get_is_loopback(l->data) && !is_wildcard(l->data))
            found = g_inet_address_to_string(l->data);
    }
    if (!found) {
        g_autofree char *first = g_inet_address_to_string(addrs->data);

        g_set_error(error, FERRY_ERROR, FERRY_ERROR_CONFIG,
                    "host '%s': its name resolves only to addresses no other host reaches "
                    "(%s); set migration_address in ferryd.conf to the address peers migrate "
                    "to", config->hostname, first);
    }
    g_resolver_free_addresses(addrs);
    return found;
}

/* Where incoming connections are accepted (qemu-migration.h). */
char *
qemu_migration_listen_address(const ferry_qemu_config *config, const char *want_host,
                              GError **error)
{
    if (want_host && g_hostname_is_ip_address(want_host)) {
        g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(want_host);

        if (!inet || is_wildcard(inet)) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                        "migration URI names '%s', which is not one address: host '%s' "
                        "listens for incoming migrations on one of its addresses only",
                        want_host, config->hostname);
            return NULL;
        }
        return g_strdup(want_host);
    }
    if (config->migration_address)
        return g_strdup(config->migration_address);
    return hostname_address(config, error);
}

/* The migration port's listening socket, made by ferryd (close-on-exec:
 * no other QEMU inherits it).  A source that connects before QEMU runs
 * waits in its backlog, its first megabytes in the kernel's buffers. */
GSocket *
qemu_mig_bind_incoming(const char *listen, guint port, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GSocket) sock = bound_socket(listen, port, &local);

    if (sock) {
        /* Every channel of a multifd stream may come before QEMU accepts. */
        g_socket_set_listen_backlog(sock, 64);
        /* What the source sends while QEMU starts waits in the kernel's
         * receive buffer, left to autotuning (a few MiB).  A larger fixed
         * one (8 or 16 MiB) let the source send on through QEMU's whole
         * start, but stays that large: the backlog QEMU's switch-over
         * cannot see made its pause exceed 50 ms in a quarter of the
         * runs (docs/performance.md). */
        if (!g_socket_listen(sock, &local))
            g_clear_object(&sock);
    }
    if (!sock)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE,
                    "cannot listen on migration port %s:%u: %s", listen, port,
                    local->message);
    return g_steal_pointer(&sock);
}

/* ------------------------------------------------------------------ */
/* Sockets handed to QEMU */

/* Hands @sock to QEMU under @fdname (getfd), then closes ferryd's copy:
 * the tunnel's end of file must come when QEMU closes its own. */
gboolean
qemu_mig_give_socket(ferry_domain_obj *obj, const char *fdname, GSocket *sock, GError **error)
{
    g_autoptr(json_object) fdargs = json_object_new_object();
    g_autoptr(ferry_qmp) qmp = qemu_process_get_qmp(obj, error);
    g_autoptr(json_object) fdret = NULL;

    json_object_object_add(fdargs, "fdname", json_object_new_string(fdname));
    if (!qmp || !(fdret = ferry_qmp_command_sync_fd(qmp, "getfd", fdargs, g_socket_get_fd(sock),
                                                    error)))
        return FALSE;
    g_socket_close(sock, NULL);
    return TRUE;
}
