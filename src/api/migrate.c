/*
 * migrate.c: migration in the public API: the phase calls of
 * migrate-internal.h (asynchronous, and synchronous wrappers of them),
 * ferry_domain_migrate() and ferry_domain_migrate_to_uri(), and the calls
 * on a running job (abort, tunables, statistics).
 *
 * Owns: checking what a caller passes, choosing the protocol from what both
 * hosts offer, and the default flags.  Must not: order the phases (the
 * sequence does, src/migration/migration-sequence.c) or know how a driver
 * carries a phase out, or log above debug.
 *
 * Every call has the shape of the other public wrappers: check the
 * arguments, call the driver entry or say that the driver lacks it,
 * normalise the error.  Output parameters are set only on success.  A
 * synchronous call runs the asynchronous one on a private main context of
 * the calling thread and iterates it until the answer comes.
 */
#include "ferry-config.h"

#include "api/api-internal.h"
#include "api/migrate-internal.h"
#include "conf/migration-cookie.h"
#include "migration/migration-sequence.h"
#include "util/uri.h"

#define KNOWN_FLAGS                                                                   \
    ((guint)(FERRY_MIGRATE_LIVE | FERRY_MIGRATE_PEER2PEER | FERRY_MIGRATE_PERSIST_DEST | \
             FERRY_MIGRATE_UNDEFINE_SOURCE | FERRY_MIGRATE_PAUSED |                     \
             FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_NON_SHARED_DISK |                    \
             FERRY_MIGRATE_NON_SHARED_INC | FERRY_MIGRATE_RELAY | FERRY_MIGRATE_NO_RELAY | \
             FERRY_MIGRATE_TLS | FERRY_MIGRATE_NO_TLS | FERRY_MIGRATE_POSTCOPY |            \
             FERRY_MIGRATE_POSTCOPY_AFTER_PRECOPY | FERRY_MIGRATE_PARALLEL |              \
             FERRY_MIGRATE_COMPRESSED | FERRY_MIGRATE_AUTO_CONVERGE |                     \
             FERRY_MIGRATE_NO_POLICY | FERRY_MIGRATE_NO_POSTCOPY | FERRY_MIGRATE_FORCE |  \
             FERRY_MIGRATE_TUNNELLED))
#define KNOWN_COMP_METHODS ((guint)(FERRY_MIGRATE_COMP_XBZRLE | FERRY_MIGRATE_COMP_ZSTD))

/* QEMU's largest downtime-limit (2000 s). */
#define MAX_DOWNTIME_MS ((guint)FERRY_MIGRATE_DOWNTIME_MAX)
/* 1 TiB/s: beyond any link, and within QEMU's byte counter. */
#define MAX_BANDWIDTH_MIB (1024u * 1024u)

/* Whether a call may carry FERRY_MIGRATE_PEER2PEER. */
typedef enum {
    P2P_FORBIDDEN,      /* every phase but Perform3, and ferry_domain_migrate() */
    P2P_ALLOWED,        /* Perform3 (checked against dconn_uri), the p2p runner */
} p2p_rule;

/* ------------------------------------------------------------------------ */
/* Argument checks                                                           */
/* ------------------------------------------------------------------------ */

static gboolean
check_nonnull(gconstpointer arg, const char *name, const char *what, GError **error)
{
    if (arg)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                "%s: %s must not be NULL", what, name);
    return FALSE;
}

static gboolean
check_string(const char *arg, const char *name, const char *what, GError **error)
{
    if (arg && *arg)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                "%s: %s must not be empty", what, name);
    return FALSE;
}

static gboolean
check_name(const char *name, const char *param, const char *what, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (ferry_domain_name_is_valid(name, &local))
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "%s: %s: %s", what, param,
                local->message);
    return FALSE;
}

static gboolean
flags_error(const char *what, const char *reason, GError **error)
{
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "%s: params->flags: %s",
                what, reason);
    return FALSE;
}

#define NON_SHARED ((guint)(FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC))

/* A disk target as domain XML names it: [a-z]+[a-z0-9]*. */
static gboolean
is_disk_target(const char *name)
{
    const char *c = name;

    if (!g_ascii_islower(*c))
        return FALSE;
    while (g_ascii_islower(*c))
        c++;
    while (g_ascii_islower(*c) || g_ascii_isdigit(*c))
        c++;
    return *c == '\0';
}

static gboolean
storage_error(const char *what, const char *param, GError **error)
{
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                "%s: params->%s is only for storage migration: it needs "
                "FERRY_MIGRATE_NON_SHARED_DISK or FERRY_MIGRATE_NON_SHARED_INC", what, param);
    return FALSE;
}

/* The storage migration parameters: migrate_disks and disks_port. */
static gboolean
check_storage(const ferry_migrate_params *p, const char *what, GError **error)
{
    const char *const *disks = p->migrate_disks;
    g_autoptr(GHashTable) seen = NULL;

    if ((p->flags & NON_SHARED) == NON_SHARED)
        return flags_error(what, "FERRY_MIGRATE_NON_SHARED_DISK (copy whole disks) and "
                           "FERRY_MIGRATE_NON_SHARED_INC (copy top images) exclude each "
                           "other", error);
    if ((p->flags & FERRY_MIGRATE_RELAY) && (p->flags & FERRY_MIGRATE_NO_RELAY))
        return flags_error(what, "FERRY_MIGRATE_RELAY and FERRY_MIGRATE_NO_RELAY exclude "
                           "each other", error);
    if ((p->flags & FERRY_MIGRATE_TLS) && (p->flags & FERRY_MIGRATE_NO_TLS))
        return flags_error(what, "FERRY_MIGRATE_TLS and FERRY_MIGRATE_NO_TLS exclude "
                           "each other", error);
    if (disks && !(p->flags & NON_SHARED))
        return storage_error(what, "migrate_disks", error);
    if (p->disks_port && !(p->flags & NON_SHARED))
        return storage_error(what, "disks_port", error);
    if (p->disks_port > G_MAXUINT16) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->disks_port: %u is not a TCP port (1 to 65535, or 0 to let "
                    "the destination choose)", what, p->disks_port);
        return FALSE;
    }
    if (disks && !disks[0]) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->migrate_disks is empty (NULL copies every disk that is not "
                    "read-only)", what);
        return FALSE;
    }
    if (!disks)
        return TRUE;
    /* A hash set: the list may come from a peer, and may be long. */
    seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (gsize i = 0; disks[i]; i++) {
        if (i == FERRY_MIGRATE_DISKS_MAX) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "%s: params->migrate_disks names more than %u disks, the most a "
                        "migration copies", what, FERRY_MIGRATE_DISKS_MAX);
            return FALSE;
        }
        if (strlen(disks[i]) > FERRY_MIGRATE_DISK_TARGET_MAX) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "%s: params->migrate_disks: a target of %" G_GSIZE_FORMAT " bytes is "
                        "longer than a disk target may be (%u)", what, strlen(disks[i]),
                        FERRY_MIGRATE_DISK_TARGET_MAX);
            return FALSE;
        }
        if (!is_disk_target(disks[i])) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "%s: params->migrate_disks: '%s' is not a disk target such as "
                        "'vda' (lower-case letters, then letters or digits)", what, disks[i]);
            return FALSE;
        }
        if (!g_hash_table_add(seen, (gpointer)disks[i])) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                        "%s: params->migrate_disks names disk '%s' twice", what, disks[i]);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
needs_flag(const char *what, const char *param, const char *flag, GError **error)
{
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "%s: params->%s needs %s",
                what, param, flag);
    return FALSE;
}

static gboolean
check_percent(guint value, const char *param, const char *what, GError **error)
{
    if (value <= 99)
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                "%s: params->%s: %u is not a percentage from 1 to 99 (0: QEMU's default)",
                what, param, value);
    return FALSE;
}

/* The convergence parameters: post-copy, parallel connections,
 * compression, auto-converge (docs/convergence.md). */
static gboolean
check_convergence(const ferry_migrate_params *p, const char *what, GError **error)
{
    if ((p->flags & FERRY_MIGRATE_POSTCOPY_AFTER_PRECOPY) && !(p->flags & FERRY_MIGRATE_POSTCOPY))
        return flags_error(what, "FERRY_MIGRATE_POSTCOPY_AFTER_PRECOPY needs "
                           "FERRY_MIGRATE_POSTCOPY", error);
    if ((p->flags & FERRY_MIGRATE_POSTCOPY) && (p->flags & FERRY_MIGRATE_NO_POSTCOPY))
        return flags_error(what, "FERRY_MIGRATE_POSTCOPY and FERRY_MIGRATE_NO_POSTCOPY "
                           "contradict each other", error);
    if ((p->flags & FERRY_MIGRATE_POSTCOPY) && (p->flags & FERRY_MIGRATE_OFFLINE))
        return flags_error(what, "FERRY_MIGRATE_POSTCOPY is for a running guest, not "
                           "FERRY_MIGRATE_OFFLINE", error);
    if (p->postcopy_bandwidth_mib && !(p->flags & FERRY_MIGRATE_POSTCOPY))
        return needs_flag(what, "postcopy_bandwidth_mib", "FERRY_MIGRATE_POSTCOPY", error);
    if (p->postcopy_bandwidth_mib > MAX_BANDWIDTH_MIB) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->postcopy_bandwidth_mib: %" G_GUINT64_FORMAT " MiB/s is more "
                    "than %u MiB/s", what, p->postcopy_bandwidth_mib, MAX_BANDWIDTH_MIB);
        return FALSE;
    }
    if (p->parallel_connections && !(p->flags & FERRY_MIGRATE_PARALLEL))
        return needs_flag(what, "parallel_connections", "FERRY_MIGRATE_PARALLEL", error);
    if (p->parallel_connections > FERRY_MIGRATE_PARALLEL_MAX) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->parallel_connections: %u is more than %u", what,
                    p->parallel_connections, FERRY_MIGRATE_PARALLEL_MAX);
        return FALSE;
    }
    if (p->comp_methods && !(p->flags & FERRY_MIGRATE_COMPRESSED))
        return needs_flag(what, "comp_methods", "FERRY_MIGRATE_COMPRESSED", error);
    if (p->comp_methods & ~KNOWN_COMP_METHODS) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->comp_methods: unknown methods 0x%x", what,
                    p->comp_methods & ~KNOWN_COMP_METHODS);
        return FALSE;
    }
    if ((p->comp_methods & FERRY_MIGRATE_COMP_ZSTD) && !(p->flags & FERRY_MIGRATE_PARALLEL))
        return needs_flag(what, "comp_methods FERRY_MIGRATE_COMP_ZSTD",
                          "FERRY_MIGRATE_PARALLEL (QEMU compresses each parallel connection)",
                          error);
    if ((p->auto_converge_initial || p->auto_converge_increment) &&
        !(p->flags & FERRY_MIGRATE_AUTO_CONVERGE))
        return needs_flag(what, p->auto_converge_initial ? "auto_converge_initial"
                                                         : "auto_converge_increment",
                          "FERRY_MIGRATE_AUTO_CONVERGE", error);
    return check_percent(p->auto_converge_initial, "auto_converge_initial", what, error) &&
           check_percent(p->auto_converge_increment, "auto_converge_increment", what, error);
}

/* What a tunnelled migration cannot be combined with: it has one stream,
 * QEMU's memory, on the daemons' connection. */
static gboolean
check_tunnelled(guint flags, const char *what, GError **error)
{
    if (flags & NON_SHARED)
        return flags_error(what, "FERRY_MIGRATE_TUNNELLED cannot copy disks "
                           "(FERRY_MIGRATE_NON_SHARED_*): their NBD connections go from QEMU "
                           "to QEMU, outside the tunnel", error);
    if (flags & FERRY_MIGRATE_RELAY)
        return flags_error(what, "FERRY_MIGRATE_TUNNELLED and FERRY_MIGRATE_RELAY exclude "
                           "each other: the tunnel is the daemons' connection", error);
    if (flags & FERRY_MIGRATE_PARALLEL)
        return flags_error(what, "FERRY_MIGRATE_TUNNELLED carries one stream: "
                           "FERRY_MIGRATE_PARALLEL needs several connections", error);
    if (flags & FERRY_MIGRATE_TLS)
        return flags_error(what, "FERRY_MIGRATE_TUNNELLED and FERRY_MIGRATE_TLS exclude "
                           "each other: the tunnel is as encrypted as the daemons' connection "
                           "(qemu+tls://)", error);
    if (flags & FERRY_MIGRATE_OFFLINE)
        return flags_error(what, "FERRY_MIGRATE_TUNNELLED moves a running guest's memory: "
                           "FERRY_MIGRATE_OFFLINE has none", error);
    return TRUE;
}

/*
 * Checks @params (NULL means all defaults) and copies it to @ret_params, so
 * that drivers never see NULL.  @what names the call in errors.
 */
static gboolean
check_params(const ferry_migrate_params *params, p2p_rule p2p, const char *what,
             ferry_migrate_params *ret_params, GError **error)
{
    ferry_migrate_params p = { 0 };

    if (params)
        p = *params;
    if (p.flags & ~KNOWN_FLAGS) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->flags: unknown flags 0x%x", what, p.flags & ~KNOWN_FLAGS);
        return FALSE;
    }
    if ((p.flags & FERRY_MIGRATE_OFFLINE) && (p.flags & FERRY_MIGRATE_LIVE))
        return flags_error(what, "FERRY_MIGRATE_OFFLINE and FERRY_MIGRATE_LIVE exclude "
                           "each other", error);
    if ((p.flags & FERRY_MIGRATE_OFFLINE) && !(p.flags & FERRY_MIGRATE_PERSIST_DEST))
        return flags_error(what, "FERRY_MIGRATE_OFFLINE needs FERRY_MIGRATE_PERSIST_DEST: "
                           "a domain that does not run exists only as its persistent "
                           "definition", error);
    if ((p.flags & FERRY_MIGRATE_OFFLINE) && (p.flags & NON_SHARED))
        return flags_error(what, "FERRY_MIGRATE_OFFLINE cannot copy disks "
                           "(FERRY_MIGRATE_NON_SHARED_*)", error);
    if (p2p == P2P_FORBIDDEN && (p.flags & FERRY_MIGRATE_PEER2PEER))
        return flags_error(what, "FERRY_MIGRATE_PEER2PEER is only for Perform3 with a "
                           "destination URI; use ferry_domain_migrate_to_uri()", error);
    if ((p.flags & FERRY_MIGRATE_TUNNELLED) && !check_tunnelled(p.flags, what, error))
        return FALSE;
    if (p.dname && !check_name(p.dname, "params->dname", what, error))
        return FALSE;
    if (p.uri && !*p.uri) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->uri is empty (NULL lets the destination choose)", what);
        return FALSE;
    }
    if (p.dxml && !*p.dxml) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->dxml is empty (NULL uses the domain's own XML)", what);
        return FALSE;
    }
    if (p.timeout_s > FERRY_MIGRATE_TIMEOUT_MAX) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->timeout_s: %u s is more than the most allowed, %u s (a day)",
                    what, p.timeout_s, FERRY_MIGRATE_TIMEOUT_MAX);
        return FALSE;
    }
    if (p.timeout_action != FERRY_MIGRATE_TIMEOUT_ABORT &&
        p.timeout_action != FERRY_MIGRATE_TIMEOUT_SUSPEND) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->timeout_action: %d is neither FERRY_MIGRATE_TIMEOUT_ABORT "
                    "nor FERRY_MIGRATE_TIMEOUT_SUSPEND", what, p.timeout_action);
        return FALSE;
    }
    if (p.timeout_action != FERRY_MIGRATE_TIMEOUT_ABORT && !p.timeout_s) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->timeout_action needs params->timeout_s", what);
        return FALSE;
    }
    if (p.max_downtime_ms > MAX_DOWNTIME_MS) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->max_downtime_ms: %" G_GUINT64_FORMAT " ms is more than the "
                    "most QEMU takes, %u ms", what, p.max_downtime_ms, MAX_DOWNTIME_MS);
        return FALSE;
    }
    if (p.max_downtime_cap_ms > MAX_DOWNTIME_MS) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->max_downtime_cap_ms: %" G_GUINT64_FORMAT " ms is more than "
                    "the most QEMU takes, %u ms", what, p.max_downtime_cap_ms, MAX_DOWNTIME_MS);
        return FALSE;
    }
    if (p.max_downtime_cap_ms && p.max_downtime_ms > p.max_downtime_cap_ms) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->max_downtime_ms (%" G_GUINT64_FORMAT " ms) is above "
                    "params->max_downtime_cap_ms (%" G_GUINT64_FORMAT " ms): QEMU would plan "
                    "for a pause the cap forbids", what, p.max_downtime_ms,
                    p.max_downtime_cap_ms);
        return FALSE;
    }
    if (p.max_downtime_cap_ms && (p.flags & FERRY_MIGRATE_OFFLINE))
        return flags_error(what, "params->max_downtime_cap_ms is for a live migration: "
                           "FERRY_MIGRATE_OFFLINE pauses nothing", error);
    if (p.retry_s != FERRY_MIGRATE_RETRY_NEVER &&
        (p.retry_s < 0 || p.retry_s > FERRY_MIGRATE_RETRY_MAX)) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: params->retry_s: %d is neither FERRY_MIGRATE_RETRY_NEVER nor "
                    "0 to %d seconds", what, p.retry_s, FERRY_MIGRATE_RETRY_MAX);
        return FALSE;
    }
    if (!check_storage(&p, what, error) || !check_convergence(&p, what, error))
        return FALSE;
    *ret_params = p;
    return TRUE;
}

/* Checks the handle and the parameters of a phase run on the source. */
static gboolean
check_source_phase(ferry_domain *dom, const ferry_migrate_params *params, p2p_rule p2p,
                   const char *phase, ferry_migrate_params *ret_params, GError **error)
{
    g_autofree char *what = g_strdup_printf("migration phase '%s'", phase);

    return check_nonnull(dom, "dom", what, error) &&
           check_params(params, p2p, what, ret_params, error);
}

/* Checks the connection and the parameters of a phase run on the
 * destination; @dname, when not NULL, must be a valid name. */
static gboolean
check_dest_phase(ferry_conn *dconn, const ferry_migrate_params *params,
                 const char *phase, const char *dname, gboolean need_dname,
                 ferry_migrate_params *ret_params, GError **error)
{
    g_autofree char *what = g_strdup_printf("migration phase '%s'", phase);

    if (!check_nonnull(dconn, "dconn", what, error) ||
        !check_params(params, P2P_FORBIDDEN, what, ret_params, error))
        return FALSE;
    return !need_dname || check_name(dname, "dname", what, error);
}

static gboolean
phase_unsupported(ferry_conn *conn, const char *phase, GError **error)
{
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                "driver '%s' does not support migration phase '%s'", conn->driver->name,
                phase);
    return FALSE;
}

/* Answers an asynchronous call that failed its checks: the callback still
 * runs, once, from the caller's context. */
static void
fail_async(GError *error, GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, NULL, callback, user_data);

    g_task_return_error(task, error);
    g_object_unref(task);
}

/* ------------------------------------------------------------------------ */
/* The phases, asynchronous (migrate-internal.h)                             */
/* ------------------------------------------------------------------------ */

void
ferry_domain_migrate_begin3_async(ferry_domain *dom, const ferry_migrate_params *params,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_source_phase(dom, params, P2P_FORBIDDEN, "Begin3", &p, &error) ||
        (!dom->conn->driver->domain_migrate_begin3 &&
         !phase_unsupported(dom->conn, "Begin3", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dom->conn->driver->domain_migrate_begin3(dom, &p, cancellable, callback, user_data);
}

void
ferry_conn_migrate_prepare3_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                  const char *dom_xml, const char *cookie_in,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_dest_phase(dconn, params, "Prepare3", NULL, FALSE, &p, &error) ||
        !check_string(dom_xml, "dom_xml", "migration phase 'Prepare3'", &error) ||
        ((p.flags & FERRY_MIGRATE_TUNNELLED) &&
         !flags_error("migration phase 'Prepare3'", "FERRY_MIGRATE_TUNNELLED is for "
                      "PrepareTunnel3, which gets the tunnel", &error)) ||
        (!dconn->driver->conn_migrate_prepare3 &&
         !phase_unsupported(dconn, "Prepare3", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dconn->driver->conn_migrate_prepare3(dconn, &p, dom_xml, cookie_in, cancellable, callback,
                                         user_data);
}

void
ferry_conn_migrate_prepare_tunnel3_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                         const char *dom_xml, const char *cookie_in,
                                         GSocket *tunnel, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
    const char *what = "migration phase 'PrepareTunnel3'";
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_dest_phase(dconn, params, "PrepareTunnel3", NULL, FALSE, &p, &error) ||
        !check_string(dom_xml, "dom_xml", what, &error) ||
        !check_nonnull(tunnel, "tunnel", what, &error) ||
        (!(p.flags & FERRY_MIGRATE_TUNNELLED) &&
         !flags_error(what, "needs FERRY_MIGRATE_TUNNELLED", &error)) ||
        (p.uri && !flags_error(what, "a tunnelled migration has no migration URI "
                               "(params->uri)", &error)) ||
        (!dconn->driver->conn_migrate_prepare_tunnel3 &&
         !phase_unsupported(dconn, "PrepareTunnel3", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dconn->driver->conn_migrate_prepare_tunnel3(dconn, &p, dom_xml, cookie_in, tunnel,
                                                cancellable, callback, user_data);
}

void
ferry_domain_migrate_perform3_async(ferry_domain *dom, const ferry_migrate_params *params,
                                    const char *dconn_uri, const char *cookie_in,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_source_phase(dom, params, P2P_ALLOWED, "Perform3", &p, &error))
        goto fail;
    if ((p.flags & FERRY_MIGRATE_TUNNELLED) && !(p.flags & FERRY_MIGRATE_PEER2PEER)) {
        flags_error("migration phase 'Perform3'", "FERRY_MIGRATE_TUNNELLED needs "
                    "FERRY_MIGRATE_PEER2PEER: only the source's daemon holds the tunnel",
                    &error);
        goto fail;
    }
    if (dconn_uri && !(p.flags & FERRY_MIGRATE_PEER2PEER)) {
        flags_error("migration phase 'Perform3'", "a destination connection URI (dconn_uri) "
                    "needs FERRY_MIGRATE_PEER2PEER", &error);
        goto fail;
    }
    if ((p.flags & FERRY_MIGRATE_PEER2PEER) &&
        !check_string(dconn_uri, "dconn_uri", "migration phase 'Perform3' with "
                      "FERRY_MIGRATE_PEER2PEER", &error))
        goto fail;
    if (!dom->conn->driver->domain_migrate_perform3 &&
        !phase_unsupported(dom->conn, "Perform3", &error))
        goto fail;
    dom->conn->driver->domain_migrate_perform3(dom, &p, dconn_uri, cookie_in, cancellable,
                                               callback, user_data);
    return;

fail:
    fail_async(error, callback, user_data);
}

void
ferry_conn_migrate_finish3_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                 const char *dname, const char *cookie_in, gboolean cancelled,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_dest_phase(dconn, params, "Finish3", dname, TRUE, &p, &error) ||
        (!dconn->driver->conn_migrate_finish3 &&
         !phase_unsupported(dconn, "Finish3", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dconn->driver->conn_migrate_finish3(dconn, &p, dname, cookie_in, cancelled, cancellable,
                                        callback, user_data);
}

void
ferry_domain_migrate_confirm3_async(ferry_domain *dom, const ferry_migrate_params *params,
                                    const char *cookie_in, int outcome,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_source_phase(dom, params, P2P_FORBIDDEN, "Confirm3", &p, &error))
        goto fail;
    if (outcome != FERRY_CONFIRM_OK && outcome != FERRY_CONFIRM_CANCELLED &&
        outcome != FERRY_CONFIRM_UNKNOWN) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "migration phase 'Confirm3': outcome %d is not a ferry_confirm_outcome",
                    outcome);
        goto fail;
    }
    if (!dom->conn->driver->domain_migrate_confirm3 &&
        !phase_unsupported(dom->conn, "Confirm3", &error))
        goto fail;
    dom->conn->driver->domain_migrate_confirm3(dom, &p, cookie_in, outcome, cancellable,
                                               callback, user_data);
    return;

fail:
    fail_async(error, callback, user_data);
}

void
ferry_conn_migrate_prepare2_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                  const char *dom_xml, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_dest_phase(dconn, params, "Prepare2", NULL, FALSE, &p, &error) ||
        !check_string(dom_xml, "dom_xml", "migration phase 'Prepare2'", &error) ||
        (!dconn->driver->conn_migrate_prepare2 &&
         !phase_unsupported(dconn, "Prepare2", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dconn->driver->conn_migrate_prepare2(dconn, &p, dom_xml, cancellable, callback, user_data);
}

void
ferry_domain_migrate_perform_async(ferry_domain *dom, const ferry_migrate_params *params,
                                   const char *cookie_in, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_source_phase(dom, params, P2P_FORBIDDEN, "Perform", &p, &error) ||
        (!dom->conn->driver->domain_migrate_perform &&
         !phase_unsupported(dom->conn, "Perform", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dom->conn->driver->domain_migrate_perform(dom, &p, cookie_in, cancellable, callback,
                                              user_data);
}

void
ferry_conn_migrate_finish2_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                 const char *dname, const char *cookie_in, gboolean ok,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_dest_phase(dconn, params, "Finish2", dname, TRUE, &p, &error) ||
        (!dconn->driver->conn_migrate_finish2 &&
         !phase_unsupported(dconn, "Finish2", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dconn->driver->conn_migrate_finish2(dconn, &p, dname, cookie_in, ok, cancellable, callback,
                                        user_data);
}

void
ferry_conn_migrate_prepare_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_dest_phase(dconn, params, "Prepare", NULL, FALSE, &p, &error) ||
        (!dconn->driver->conn_migrate_prepare &&
         !phase_unsupported(dconn, "Prepare", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dconn->driver->conn_migrate_prepare(dconn, &p, cancellable, callback, user_data);
}

void
ferry_conn_migrate_finish_async(ferry_conn *dconn, const ferry_migrate_params *params,
                                const char *dname, const char *cookie_in,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
    ferry_migrate_params p;
    GError *error = NULL;

    if (!check_dest_phase(dconn, params, "Finish", dname, TRUE, &p, &error) ||
        (!dconn->driver->conn_migrate_finish &&
         !phase_unsupported(dconn, "Finish", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dconn->driver->conn_migrate_finish(dconn, &p, dname, cookie_in, cancellable, callback,
                                       user_data);
}

void
ferry_domain_abort_job_async(ferry_domain *dom, guint flags, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    GError *error = NULL;

    if (!check_nonnull(dom, "dom", "aborting a job", &error) ||
        (flags && (g_set_error(&error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                               "aborting a job: unknown flags 0x%x", flags), TRUE)) ||
        (!dom->conn->driver->domain_abort_job &&
         !ferry_api_unsupported(dom->conn, "aborting a job", &error))) {
        fail_async(error, callback, user_data);
        return;
    }
    dom->conn->driver->domain_abort_job(dom, flags, cancellable, callback, user_data);
}

void
ferry_conn_migrate_query_async(ferry_conn *dconn, const char *id, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    GError *error = NULL;

    if (!check_nonnull(dconn, "dconn", "asking about a migration", &error))
        goto fail;
    if (!id || !g_uuid_string_is_valid(id)) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "asking about a migration: '%s' is not a migration id (a uuid)",
                    id ? id : "(null)");
        goto fail;
    }
    if (!dconn->driver->conn_migrate_query &&
        !ferry_api_unsupported(dconn, "asking about a migration", &error))
        goto fail;
    dconn->driver->conn_migrate_query(dconn, id, cancellable, callback, user_data);
    return;

fail:
    fail_async(error, callback, user_data);
}

void
ferry_conn_migrate_postcopy_recover_async(ferry_conn *dconn, const char *id,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
    const char *what = "resuming a migration's post-copy";
    GError *error = NULL;

    if (!check_nonnull(dconn, "dconn", what, &error))
        goto fail;
    if (!id || !g_uuid_string_is_valid(id)) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: '%s' is not a migration id (a uuid)", what, id ? id : "(null)");
        goto fail;
    }
    if (!dconn->driver->conn_migrate_postcopy_recover &&
        !ferry_api_unsupported(dconn, what, &error))
        goto fail;
    dconn->driver->conn_migrate_postcopy_recover(dconn, id, cancellable, callback, user_data);
    return;

fail:
    fail_async(error, callback, user_data);
}

void
ferry_conn_migrate_cancel_async(ferry_conn *dconn, const char *id, const char *reason,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
    GError *error = NULL;

    if (!check_nonnull(dconn, "dconn", "cancelling a migration", &error))
        goto fail;
    if (!id || !g_uuid_string_is_valid(id)) {
        g_set_error(&error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "cancelling a migration: '%s' is not a migration id (a uuid)",
                    id ? id : "(null)");
        goto fail;
    }
    if (!dconn->driver->conn_migrate_cancel &&
        !ferry_api_unsupported(dconn, "cancelling a migration", &error))
        goto fail;
    dconn->driver->conn_migrate_cancel(dconn, id, reason, cancellable, callback, user_data);
    return;

fail:
    fail_async(error, callback, user_data);
}

/* ------------------------------------------------------------------------ */
/* Waiting for an asynchronous call                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    GMainContext *context;
    GAsyncResult *result;
} waiter;

static void
waiter_store(GObject *source, GAsyncResult *result, gpointer data)
{
    ((waiter *)data)->result = g_object_ref(result);
}

/* Makes @w's private context the thread-default: start the call after. */
static void
waiter_init(waiter *w)
{
    w->context = g_main_context_new();
    w->result = NULL;
    g_main_context_push_thread_default(w->context);
}

/* Iterates until the call answered; returns its result (owned). */
static GAsyncResult *
waiter_wait(waiter *w)
{
    while (!w->result)
        g_main_context_iteration(w->context, TRUE);
    g_main_context_pop_thread_default(w->context);
    g_main_context_unref(w->context);
    return w->result;
}

/* The phase result of an asynchronous call waited for. */
static ferry_phase_result *
wait_phase(waiter *w, GError **error)
{
    g_autoptr(GAsyncResult) result = waiter_wait(w);

    return ferry_phase_finish(result, error);
}

/* ------------------------------------------------------------------------ */
/* The phases, synchronous (for tests and tools)                             */
/* ------------------------------------------------------------------------ */

char *
ferry_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                            char **ret_cookie_out, GError **error)
{
    g_autoptr(ferry_phase_result) r = NULL;
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    waiter_init(&w);
    ferry_domain_migrate_begin3_async(dom, params, NULL, waiter_store, &w);
    if (!(r = wait_phase(&w, error)))
        return NULL;
    if (ret_cookie_out)
        *ret_cookie_out = g_steal_pointer(&r->cookie);
    return g_steal_pointer(&r->xml);
}

/* Hands the outputs of a Prepare phase to the caller. */
static gboolean
prepare_result(ferry_phase_result *r, char **ret_cookie_out, char **ret_uri_out)
{
    if (!r)
        return FALSE;
    if (ret_cookie_out)
        *ret_cookie_out = g_steal_pointer(&r->cookie);
    if (ret_uri_out)
        *ret_uri_out = g_steal_pointer(&r->uri);
    ferry_phase_result_free(r);
    return TRUE;
}

gboolean
ferry_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                            const char *dom_xml, const char *cookie_in,
                            char **ret_cookie_out, char **ret_uri_out, GError **error)
{
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    waiter_init(&w);
    ferry_conn_migrate_prepare3_async(dconn, params, dom_xml, cookie_in, NULL, waiter_store,
                                      &w);
    return prepare_result(wait_phase(&w, error), ret_cookie_out, ret_uri_out);
}

gboolean
ferry_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                              const char *dconn_uri, const char *cookie_in,
                              char **ret_cookie_out, GError **error)
{
    g_autoptr(ferry_phase_result) r = NULL;
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    waiter_init(&w);
    ferry_domain_migrate_perform3_async(dom, params, dconn_uri, cookie_in, NULL, waiter_store,
                                        &w);
    if (!(r = wait_phase(&w, error)))
        return FALSE;
    if (ret_cookie_out)
        *ret_cookie_out = g_steal_pointer(&r->cookie);
    return TRUE;
}

ferry_domain *
ferry_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dname, const char *cookie_in, char **ret_cookie_out,
                           gboolean cancelled, GError **error)
{
    g_autoptr(ferry_phase_result) r = NULL;
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    waiter_init(&w);
    ferry_conn_migrate_finish3_async(dconn, params, dname, cookie_in, cancelled, NULL,
                                     waiter_store, &w);
    if (!(r = wait_phase(&w, error)))
        return NULL;
    if (!r->dom) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "Finish3 on '%s' returned no domain and no error",
                    ferry_conn_get_uri(dconn));
        return NULL;
    }
    if (ret_cookie_out)
        *ret_cookie_out = g_steal_pointer(&r->cookie);
    return g_steal_pointer(&r->dom);
}

gboolean
ferry_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                              const char *cookie_in, gboolean cancelled, GError **error)
{
    g_autoptr(ferry_phase_result) r = NULL;
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    waiter_init(&w);
    ferry_domain_migrate_confirm3_async(dom, params, cookie_in,
                                        cancelled ? FERRY_CONFIRM_CANCELLED : FERRY_CONFIRM_OK,
                                        NULL, waiter_store, &w);
    r = wait_phase(&w, error);
    return r != NULL;
}

gboolean
ferry_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                            const char *dom_xml, char **ret_cookie_out, char **ret_uri_out,
                            GError **error)
{
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    waiter_init(&w);
    ferry_conn_migrate_prepare2_async(dconn, params, dom_xml, NULL, waiter_store, &w);
    return prepare_result(wait_phase(&w, error), ret_cookie_out, ret_uri_out);
}

gboolean
ferry_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *cookie_in, GError **error)
{
    g_autoptr(ferry_phase_result) r = NULL;
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    waiter_init(&w);
    ferry_domain_migrate_perform_async(dom, params, cookie_in, NULL, waiter_store, &w);
    r = wait_phase(&w, error);
    return r != NULL;
}

/* The domain a Finish (v1/v2) returned. */
static ferry_domain *
finish_result(ferry_phase_result *r, ferry_conn *dconn, const char *phase, GError **error)
{
    g_autoptr(ferry_phase_result) owned = r;

    if (!owned)
        return NULL;
    if (!owned->dom)
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "%s on '%s' returned no domain and no error", phase,
                    ferry_conn_get_uri(dconn));
    return g_steal_pointer(&owned->dom);
}

ferry_domain *
ferry_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dname, const char *cookie_in, gboolean ok,
                           GError **error)
{
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    waiter_init(&w);
    ferry_conn_migrate_finish2_async(dconn, params, dname, cookie_in, ok, NULL, waiter_store,
                                     &w);
    return finish_result(wait_phase(&w, error), dconn, "Finish2", error);
}

gboolean
ferry_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                           char **ret_cookie_out, char **ret_uri_out, GError **error)
{
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    waiter_init(&w);
    ferry_conn_migrate_prepare_async(dconn, params, NULL, waiter_store, &w);
    return prepare_result(wait_phase(&w, error), ret_cookie_out, ret_uri_out);
}

ferry_domain *
ferry_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                          const char *dname, const char *cookie_in, GError **error)
{
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    waiter_init(&w);
    ferry_conn_migrate_finish_async(dconn, params, dname, cookie_in, NULL, waiter_store, &w);
    return finish_result(wait_phase(&w, error), dconn, "Finish", error);
}

gboolean
ferry_conn_migrate_query(ferry_conn *dconn, const char *id, int *ret_status,
                         char **ret_message, GError **error)
{
    g_autoptr(ferry_phase_result) r = NULL;
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    waiter_init(&w);
    ferry_conn_migrate_query_async(dconn, id, NULL, waiter_store, &w);
    if (!(r = wait_phase(&w, error)))
        return FALSE;
    if (ret_status)
        *ret_status = r->status;
    if (ret_message)
        *ret_message = g_steal_pointer(&r->message);
    return TRUE;
}

gboolean
ferry_conn_migrate_cancel(ferry_conn *dconn, const char *id, const char *reason,
                          GError **error)
{
    g_autoptr(ferry_phase_result) r = NULL;
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    waiter_init(&w);
    ferry_conn_migrate_cancel_async(dconn, id, reason, NULL, waiter_store, &w);
    r = wait_phase(&w, error);
    return r != NULL;
}

/* ------------------------------------------------------------------------ */
/* A running job                                                             */
/* ------------------------------------------------------------------------ */

gboolean
ferry_domain_get_job_stats(ferry_domain *dom, guint flags, ferry_job_info *ret_info,
                           GError **error)
{
    ferry_job_info info = { 0 };

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_nonnull(dom, "dom", "job information", error) ||
        !check_nonnull(ret_info, "ret_info", "job information", error))
        return FALSE;
    if (flags & ~(guint)FERRY_JOB_STATS_COMPLETED) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "job information: unknown flags 0x%x",
                    flags & ~(guint)FERRY_JOB_STATS_COMPLETED);
        return FALSE;
    }
    if (!dom->conn->driver->domain_get_job_stats)
        return ferry_api_unsupported(dom->conn, "job information", error);
    if (!dom->conn->driver->domain_get_job_stats(dom, flags, &info, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    /* Strings from a peer: always terminated here. */
    info.phase[sizeof(info.phase) - 1] = '\0';
    info.state[sizeof(info.state) - 1] = '\0';
    info.role[sizeof(info.role) - 1] = '\0';
    info.id[sizeof(info.id) - 1] = '\0';
    info.message[sizeof(info.message) - 1] = '\0';
    *ret_info = info;
    return TRUE;
}

gboolean
ferry_domain_get_job_info(ferry_domain *dom, ferry_job_info *ret_info, GError **error)
{
    return ferry_domain_get_job_stats(dom, 0, ret_info, error);
}

gboolean
ferry_domain_abort_job(ferry_domain *dom, guint flags, GError **error)
{
    g_autoptr(ferry_phase_result) r = NULL;
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    waiter_init(&w);
    ferry_domain_abort_job_async(dom, flags, NULL, waiter_store, &w);
    r = wait_phase(&w, error);
    return r != NULL;
}

/* The checks of a call on a running job: @dom, no flags (none exist yet),
 * and @supported, whether the driver has the entry. */
static gboolean
check_job_call(ferry_domain *dom, guint flags, const char *what, gboolean supported,
               GError **error)
{
    if (!check_nonnull(dom, "dom", what, error))
        return FALSE;
    if (flags) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG, "%s: unknown flags 0x%x",
                    what, flags);
        return FALSE;
    }
    return supported || ferry_api_unsupported(dom->conn, what, error);
}

/* The checks of the four tunable calls; returns the driver entry's
 * availability. */
static gboolean
check_tunable(ferry_domain *dom, guint flags, const char *what, gboolean set, GError **error)
{
    return check_job_call(dom, flags, what,
                          set ? dom && dom->conn->driver->domain_migrate_set_tunable
                              : dom && dom->conn->driver->domain_migrate_get_tunable,
                          error);
}

static gboolean
set_tunable(ferry_domain *dom, int tunable, guint64 value, guint flags, const char *what,
            GError **error)
{
    if (!check_tunable(dom, flags, what, TRUE, error))
        return FALSE;
    if (!dom->conn->driver->domain_migrate_set_tunable(dom, tunable, value, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    return TRUE;
}

static gboolean
get_tunable(ferry_domain *dom, int tunable, guint64 *ret_value, guint flags, const char *what,
            GError **error)
{
    guint64 value = 0;

    if (!check_tunable(dom, flags, what, FALSE, error) ||
        !check_nonnull(ret_value, "ret_value", what, error))
        return FALSE;
    if (!dom->conn->driver->domain_migrate_get_tunable(dom, tunable, &value, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    *ret_value = value;
    return TRUE;
}

gboolean
ferry_domain_migrate_set_max_downtime(ferry_domain *dom, guint64 downtime_ms, guint flags,
                                      GError **error)
{
    const char *what = "setting the migration's maximum downtime";

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (downtime_ms == 0 || downtime_ms > MAX_DOWNTIME_MS) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: %" G_GUINT64_FORMAT " ms is not between 1 and %u ms", what,
                    downtime_ms, MAX_DOWNTIME_MS);
        return FALSE;
    }
    return set_tunable(dom, FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME, downtime_ms, flags, what, error);
}

gboolean
ferry_domain_migrate_get_max_downtime(ferry_domain *dom, guint64 *ret_downtime_ms, guint flags,
                                      GError **error)
{
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    return get_tunable(dom, FERRY_MIGRATE_TUNABLE_MAX_DOWNTIME, ret_downtime_ms, flags,
                       "reading the migration's maximum downtime", error);
}

gboolean
ferry_domain_migrate_set_max_speed(ferry_domain *dom, guint64 bandwidth_mib, guint flags,
                                   GError **error)
{
    const char *what = "setting the migration's bandwidth";

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (bandwidth_mib > MAX_BANDWIDTH_MIB) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG,
                    "%s: %" G_GUINT64_FORMAT " MiB/s is more than %u MiB/s", what,
                    bandwidth_mib, MAX_BANDWIDTH_MIB);
        return FALSE;
    }
    return set_tunable(dom, FERRY_MIGRATE_TUNABLE_MAX_SPEED, bandwidth_mib, flags, what, error);
}

gboolean
ferry_domain_migrate_get_max_speed(ferry_domain *dom, guint64 *ret_bandwidth_mib, guint flags,
                                   GError **error)
{
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    return get_tunable(dom, FERRY_MIGRATE_TUNABLE_MAX_SPEED, ret_bandwidth_mib, flags,
                       "reading the migration's bandwidth", error);
}

/* ------------------------------------------------------------------------ */
/* Whole migrations                                                          */
/* ------------------------------------------------------------------------ */

static gboolean
supports(ferry_conn *conn, ferry_feature feature, gboolean *ret_supported, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (ferry_conn_supports_feature(conn, feature, ret_supported, &local))
        return TRUE;
    g_set_error(error, local->domain, local->code,
                "cannot ask '%s' which migration features it offers: %s",
                ferry_conn_get_uri(conn), local->message);
    return FALSE;
}

/* Storage migration copies disks over NBD, and only over NBD: both hosts
 * must offer it. */
static gboolean
check_nbd(ferry_conn *sconn, ferry_conn *dconn, const char *what, GError **error)
{
    ferry_conn *conns[2] = { sconn, dconn };

    for (gsize i = 0; i < G_N_ELEMENTS(conns); i++) {
        gboolean nbd = FALSE;

        if (!conns[i])
            continue;
        if (!supports(conns[i], FERRY_FEATURE_MIGRATION_NBD, &nbd, error))
            return FALSE;
        if (!nbd) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                        "%s: storage migration needs NBD on both hosts: host '%s' does not "
                        "offer it", what, ferry_conn_get_uri(conns[i]));
            return FALSE;
        }
    }
    return TRUE;
}

/* "v3, v2, v1", or "none". */
static char *
describe_offer(const gboolean offers[4])
{
    GString *s = g_string_new(NULL);

    for (int v = 3; v >= 1; v--) {
        if (offers[v])
            g_string_append_printf(s, "%sv%d", s->len ? ", " : "", v);
    }
    if (!s->len)
        g_string_append(s, "none");
    return g_string_free(s, FALSE);
}

/* The highest protocol both hosts offer. */
static gboolean
negotiate(ferry_conn *sconn, ferry_conn *dconn, int *ret_protocol, GError **error)
{
    static const ferry_feature features[4] = {
        0, FERRY_FEATURE_MIGRATION_V1, FERRY_FEATURE_MIGRATION_V2, FERRY_FEATURE_MIGRATION_V3,
    };
    gboolean src[4] = { FALSE };
    gboolean dst[4] = { FALSE };
    g_autofree char *src_offer = NULL;
    g_autofree char *dst_offer = NULL;

    for (int v = 3; v >= 1; v--) {
        if (!supports(sconn, features[v], &src[v], error) ||
            !supports(dconn, features[v], &dst[v], error))
            return FALSE;
        if (src[v] && dst[v]) {
            *ret_protocol = v;
            return TRUE;
        }
    }
    src_offer = describe_offer(src);
    dst_offer = describe_offer(dst);
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                "no migration protocol is offered by both hosts: source '%s' offers %s, "
                "destination '%s' offers %s", ferry_conn_get_uri(sconn), src_offer,
                ferry_conn_get_uri(dconn), dst_offer);
    return FALSE;
}

/* Without LIVE or OFFLINE, a running (or paused) domain migrates live and
 * a shut-off one offline, keeping its persistent definition.  A
 * destination reached over TLS gets its data encrypted too, unless NO_TLS:
 * whoever chose to protect the control connection meant the guest's
 * memory and disks as well. */
static gboolean
default_flags(ferry_domain *dom, const char *dest_uri, ferry_migrate_params *p,
              GError **error)
{
    g_autoptr(ferry_uri) uri = dest_uri ? ferry_uri_parse(dest_uri, NULL) : NULL;
    ferry_domain_info info;

    /* A tunnel is the daemons' connection: encrypted as that is. */
    if (uri && g_strcmp0(uri->transport, "tls") == 0 &&
        !(p->flags & (FERRY_MIGRATE_NO_TLS | FERRY_MIGRATE_TUNNELLED)))
        p->flags |= FERRY_MIGRATE_TLS;
    if (p->flags & (FERRY_MIGRATE_LIVE | FERRY_MIGRATE_OFFLINE))
        return TRUE;
    if (!ferry_domain_get_info(dom, &info, error))
        return FALSE;
    if (info.state == FERRY_DOMAIN_SHUTOFF)
        p->flags |= FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_PERSIST_DEST;
    else
        p->flags |= FERRY_MIGRATE_LIVE;
    return TRUE;
}

ferry_domain *
ferry_domain_migrate(ferry_domain *dom, ferry_conn *dconn, const ferry_migrate_params *params,
                     ferry_migrate_stats *ret_stats, GError **error)
{
    gint64 start = g_get_monotonic_time();
    ferry_migrate_stats stats = { 0 };
    g_autofree char *what = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    ferry_migrate_params p;
    ferry_domain *ddom;
    int protocol = 0;
    waiter w;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_nonnull(dom, "dom", "migration", error))
        return NULL;
    what = g_strdup_printf("migration of domain '%s'", dom->name);
    if (params && (params->flags & FERRY_MIGRATE_TUNNELLED)) {
        flags_error(what, "FERRY_MIGRATE_TUNNELLED needs peer-to-peer migration "
                    "(ferry_domain_migrate_to_uri(), ferry migrate --p2p): the tunnel is the "
                    "source daemon's connection to the destination's", error);
        return NULL;
    }
    if (!check_nonnull(dconn, "dconn", what, error) ||
        !check_params(params, P2P_FORBIDDEN, what, &p, error) ||
        !negotiate(dom->conn, dconn, &protocol, error) ||
        !default_flags(dom, ferry_conn_get_uri(dconn), &p, error))
        return NULL;
    if ((p.flags & FERRY_MIGRATE_OFFLINE) && protocol < 3) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "%s: offline migration needs protocol v3, but the best both hosts "
                    "offer is v%d", what, protocol);
        return NULL;
    }
    if (p.flags & NON_SHARED) {
        if (!check_nbd(dom->conn, dconn, what, error))
            return NULL;
        /* The NBD port travels in v3's cookies. */
        if (protocol < 3) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                        "%s: storage migration needs protocol v3, but the best both hosts "
                        "offer is v%d", what, protocol);
            return NULL;
        }
    }
    g_debug("%s to '%s': protocol v%d, flags 0x%x", what, ferry_conn_get_uri(dconn), protocol,
            p.flags);
    waiter_init(&w);
    ferry_mig_sequence_run(dom, dconn, protocol, &p, NULL, waiter_store, &w);
    result = waiter_wait(&w);
    ddom = ferry_mig_sequence_finish(result, &stats, error);
    ferry_error_normalize(error);
    stats.protocol = protocol;
    stats.wall_ms = (g_get_monotonic_time() - start) / 1000;
    if (ret_stats)
        *ret_stats = stats;
    return ddom;
}

gboolean
ferry_domain_migrate_to_uri(ferry_domain *dom, const char *dconn_uri,
                            const ferry_migrate_params *params,
                            ferry_migrate_stats *ret_stats, GError **error)
{
    gint64 start = g_get_monotonic_time();
    ferry_migrate_stats stats = { .protocol = 3 };
    g_autofree char *what = NULL;
    g_autofree char *cookie = NULL;
    ferry_migrate_params p;
    gboolean p2p = FALSE;
    gboolean ok;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_nonnull(dom, "dom", "peer-to-peer migration", error))
        return FALSE;
    what = g_strdup_printf("peer-to-peer migration of domain '%s'", dom->name);
    if (!check_string(dconn_uri, "dconn_uri", what, error) ||
        !check_params(params, P2P_ALLOWED, what, &p, error))
        return FALSE;
    p.flags |= FERRY_MIGRATE_PEER2PEER;
    if (!supports(dom->conn, FERRY_FEATURE_MIGRATION_P2P, &p2p, error))
        return FALSE;
    if (!p2p) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "%s: source '%s' does not offer peer-to-peer migration", what,
                    ferry_conn_get_uri(dom->conn));
        return FALSE;
    }
    /* The source daemon asks the destination. */
    if ((p.flags & NON_SHARED) && !check_nbd(dom->conn, NULL, what, error))
        return FALSE;
    if (!default_flags(dom, dconn_uri, &p, error))
        return FALSE;

    ok = ferry_domain_migrate_perform3(dom, &p, dconn_uri, NULL, &cookie, error);
    ferry_mig_stats_from_cookie(cookie, &stats);
    stats.wall_ms = (g_get_monotonic_time() - start) / 1000;
    if (ret_stats)
        *ret_stats = stats;
    return ok;
}

/* A destination URI a call takes as given: it must parse. */
static gboolean
check_dest_uri(const char *dest_uri, const char *what, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(ferry_uri) uri = NULL;

    if (!check_nonnull(dest_uri, "dest_uri", what, error))
        return FALSE;
    if (!(uri = ferry_uri_parse(dest_uri, &local))) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI,
                    "%s: the destination URI '%s': %s", what, dest_uri, local->message);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_domain_migrate_estimate(ferry_domain *dom, const char *dest_uri,
                              const ferry_migrate_params *params,
                              ferry_migrate_estimate *ret_estimate, guint flags, GError **error)
{
    const char *what = "estimating the migration";
    ferry_migrate_params p;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    /* The arguments first: they are wrong whatever the driver. */
    if (!check_job_call(dom, flags, what, TRUE, error) ||
        !check_nonnull(ret_estimate, "ret_estimate", what, error) ||
        !check_dest_uri(dest_uri, what, error) ||
        !check_params(params, P2P_ALLOWED, what, &p, error))
        return FALSE;
    if (p.flags & FERRY_MIGRATE_OFFLINE)
        return flags_error(what, "FERRY_MIGRATE_OFFLINE moves no memory: there is nothing "
                           "to estimate", error);
    if (!dom->conn->driver->domain_migrate_estimate && !ferry_api_unsupported(dom->conn, what,
                                                                              error))
        return FALSE;
    memset(ret_estimate, 0, sizeof(*ret_estimate));
    if (!dom->conn->driver->domain_migrate_estimate(dom, dest_uri, &p, ret_estimate, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_conn_migrate_probe(ferry_conn *dconn, GBytes *data, guint64 *ret_received,
                         gboolean *ret_postcopy, GError **error)
{
    const char *what = "measuring the link";

    if (!check_nonnull(dconn, "dconn", what, error) ||
        !check_nonnull(data, "data", what, error))
        return FALSE;
    if (!dconn->driver->conn_migrate_probe && !ferry_api_unsupported(dconn, what, error))
        return FALSE;
    if (!dconn->driver->conn_migrate_probe(dconn, data, ret_received, ret_postcopy, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_conn_migrate_snapshots(ferry_conn *conn, const char *id, const char *token,
                             GPtrArray **ret_docs, GError **error)
{
    const char *what = "taking a migration's snapshots";

    if (!check_nonnull(conn, "conn", what, error) || !check_nonnull(id, "id", what, error) ||
        !check_nonnull(token, "token", what, error))
        return FALSE;
    if (!conn->driver->conn_migrate_snapshots && !ferry_api_unsupported(conn, what, error))
        return FALSE;
    if (!conn->driver->conn_migrate_snapshots(conn, id, token, ret_docs, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_domain_migrate_postcopy_resume(ferry_domain *dom, const char *dest_uri, guint flags,
                                     GError **error)
{
    const char *what = "resuming the migration's post-copy";

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (dest_uri && !*dest_uri)
        dest_uri = NULL;
    if (!check_job_call(dom, flags, what, TRUE, error) ||
        (dest_uri && !check_dest_uri(dest_uri, what, error)) ||
        !check_job_call(dom, flags, what,
                        dom->conn->driver->domain_migrate_postcopy_resume != NULL, error))
        return FALSE;
    if (!dom->conn->driver->domain_migrate_postcopy_resume(dom, dest_uri, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    return TRUE;
}

gboolean
ferry_domain_migrate_start_postcopy(ferry_domain *dom, guint flags, GError **error)
{
    const char *what = "switching the migration to post-copy";

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_job_call(dom, flags, what,
                        dom && dom->conn->driver->domain_migrate_start_postcopy, error))
        return FALSE;
    if (!dom->conn->driver->domain_migrate_start_postcopy(dom, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    return TRUE;
}
