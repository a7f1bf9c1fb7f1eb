/*
 * migrate.c: migration in the public API: the phase calls of
 * migrate-internal.h and the sequencer behind ferry_domain_migrate() and
 * ferry_domain_migrate_to_uri().
 *
 * Owns: the order of the phases of each protocol (v3, v2, v1, after
 * libvirt's virDomainMigrateVersion1/2/3), choosing the protocol from what
 * both hosts offer, the default flags, the rule that Perform's error is the
 * one the caller sees, and the statistics read from Perform's cookie.
 * Must not: know how a driver carries a phase out (drivers do), or log above
 * debug: a failure that follows Perform's is logged at debug level only,
 * since the caller sees Perform's.
 *
 * Every phase call has the shape of the other public wrappers: check the
 * arguments, call the driver entry or say that the driver lacks it,
 * normalise the error.  Output parameters are set only on success.
 */
#include "ferry-config.h"

#include "api/api-internal.h"
#include "api/migrate-internal.h"
#include "conf/migration-cookie.h"

#define KNOWN_FLAGS                                                                   \
    ((guint)(FERRY_MIGRATE_LIVE | FERRY_MIGRATE_PEER2PEER | FERRY_MIGRATE_PERSIST_DEST | \
             FERRY_MIGRATE_UNDEFINE_SOURCE | FERRY_MIGRATE_PAUSED |                     \
             FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_NON_SHARED_DISK |                    \
             FERRY_MIGRATE_NON_SHARED_INC))

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
    if (!check_storage(&p, what, error))
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

/* ------------------------------------------------------------------------ */
/* The phases (migrate-internal.h)                                           */
/* ------------------------------------------------------------------------ */

char *
ferry_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                            char **ret_cookie_out, GError **error)
{
    ferry_migrate_params p;
    g_autofree char *cookie = NULL;
    char *xml;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_source_phase(dom, params, P2P_FORBIDDEN, "Begin3", &p, error))
        return NULL;
    if (!dom->conn->driver->domain_migrate_begin3) {
        phase_unsupported(dom->conn, "Begin3", error);
        return NULL;
    }
    xml = dom->conn->driver->domain_migrate_begin3(dom, &p, &cookie, error);
    ferry_error_normalize(error);
    if (xml && ret_cookie_out)
        *ret_cookie_out = g_steal_pointer(&cookie);
    return xml;
}

/* Hands the outputs of a Prepare phase to the caller. */
static gboolean
prepare_result(gboolean ok, char **cookie, char **uri, char **ret_cookie_out,
               char **ret_uri_out, GError **error)
{
    ferry_error_normalize(error);
    if (!ok)
        return FALSE;
    if (ret_cookie_out)
        *ret_cookie_out = g_steal_pointer(cookie);
    if (ret_uri_out)
        *ret_uri_out = g_steal_pointer(uri);
    return TRUE;
}

gboolean
ferry_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                            const char *dom_xml, const char *cookie_in,
                            char **ret_cookie_out, char **ret_uri_out, GError **error)
{
    ferry_migrate_params p;
    g_autofree char *cookie = NULL;
    g_autofree char *uri = NULL;
    gboolean ok;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_dest_phase(dconn, params, "Prepare3", NULL, FALSE, &p, error) ||
        !check_string(dom_xml, "dom_xml", "migration phase 'Prepare3'", error))
        return FALSE;
    if (!dconn->driver->conn_migrate_prepare3)
        return phase_unsupported(dconn, "Prepare3", error);
    ok = dconn->driver->conn_migrate_prepare3(dconn, &p, dom_xml, cookie_in, &cookie, &uri,
                                              error);
    return prepare_result(ok, &cookie, &uri, ret_cookie_out, ret_uri_out, error);
}

gboolean
ferry_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                              const char *dconn_uri, const char *cookie_in,
                              char **ret_cookie_out, GError **error)
{
    ferry_migrate_params p;
    g_autofree char *cookie = NULL;
    gboolean ok;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_source_phase(dom, params, P2P_ALLOWED, "Perform3", &p, error))
        return FALSE;
    if (dconn_uri && !(p.flags & FERRY_MIGRATE_PEER2PEER))
        return flags_error("migration phase 'Perform3'", "a destination connection URI "
                           "(dconn_uri) needs FERRY_MIGRATE_PEER2PEER", error);
    if ((p.flags & FERRY_MIGRATE_PEER2PEER) &&
        !check_string(dconn_uri, "dconn_uri", "migration phase 'Perform3' "
                      "with FERRY_MIGRATE_PEER2PEER", error))
        return FALSE;
    if (!dom->conn->driver->domain_migrate_perform3)
        return phase_unsupported(dom->conn, "Perform3", error);
    ok = dom->conn->driver->domain_migrate_perform3(dom, &p, dconn_uri, cookie_in, &cookie,
                                                    error);
    ferry_error_normalize(error);
    if (ok && ret_cookie_out)
        *ret_cookie_out = g_steal_pointer(&cookie);
    return ok;
}

ferry_domain *
ferry_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dname, const char *cookie_in, char **ret_cookie_out,
                           gboolean cancelled, GError **error)
{
    ferry_migrate_params p;
    g_autofree char *cookie = NULL;
    ferry_domain *ddom;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_dest_phase(dconn, params, "Finish3", dname, TRUE, &p, error))
        return NULL;
    if (!dconn->driver->conn_migrate_finish3) {
        phase_unsupported(dconn, "Finish3", error);
        return NULL;
    }
    ddom = dconn->driver->conn_migrate_finish3(dconn, &p, dname, cookie_in, &cookie,
                                               cancelled, error);
    ferry_error_normalize(error);
    if (ddom && ret_cookie_out)
        *ret_cookie_out = g_steal_pointer(&cookie);
    return ddom;
}

gboolean
ferry_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                              const char *cookie_in, gboolean cancelled, GError **error)
{
    ferry_migrate_params p;
    gboolean ok;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_source_phase(dom, params, P2P_FORBIDDEN, "Confirm3", &p, error))
        return FALSE;
    if (!dom->conn->driver->domain_migrate_confirm3)
        return phase_unsupported(dom->conn, "Confirm3", error);
    ok = dom->conn->driver->domain_migrate_confirm3(dom, &p, cookie_in, cancelled, error);
    ferry_error_normalize(error);
    return ok;
}

gboolean
ferry_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                            const char *dom_xml, char **ret_cookie_out, char **ret_uri_out,
                            GError **error)
{
    ferry_migrate_params p;
    g_autofree char *cookie = NULL;
    g_autofree char *uri = NULL;
    gboolean ok;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_dest_phase(dconn, params, "Prepare2", NULL, FALSE, &p, error) ||
        !check_string(dom_xml, "dom_xml", "migration phase 'Prepare2'", error))
        return FALSE;
    if (!dconn->driver->conn_migrate_prepare2)
        return phase_unsupported(dconn, "Prepare2", error);
    ok = dconn->driver->conn_migrate_prepare2(dconn, &p, dom_xml, &cookie, &uri, error);
    return prepare_result(ok, &cookie, &uri, ret_cookie_out, ret_uri_out, error);
}

gboolean
ferry_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *cookie_in, GError **error)
{
    ferry_migrate_params p;
    gboolean ok;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_source_phase(dom, params, P2P_FORBIDDEN, "Perform", &p, error))
        return FALSE;
    if (!dom->conn->driver->domain_migrate_perform)
        return phase_unsupported(dom->conn, "Perform", error);
    ok = dom->conn->driver->domain_migrate_perform(dom, &p, cookie_in, error);
    ferry_error_normalize(error);
    return ok;
}

ferry_domain *
ferry_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dname, const char *cookie_in, gboolean ok,
                           GError **error)
{
    ferry_migrate_params p;
    ferry_domain *ddom;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_dest_phase(dconn, params, "Finish2", dname, TRUE, &p, error))
        return NULL;
    if (!dconn->driver->conn_migrate_finish2) {
        phase_unsupported(dconn, "Finish2", error);
        return NULL;
    }
    ddom = dconn->driver->conn_migrate_finish2(dconn, &p, dname, cookie_in, ok, error);
    ferry_error_normalize(error);
    return ddom;
}

gboolean
ferry_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                           char **ret_cookie_out, char **ret_uri_out, GError **error)
{
    ferry_migrate_params p;
    g_autofree char *cookie = NULL;
    g_autofree char *uri = NULL;
    gboolean ok;

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_dest_phase(dconn, params, "Prepare", NULL, FALSE, &p, error))
        return FALSE;
    if (!dconn->driver->conn_migrate_prepare)
        return phase_unsupported(dconn, "Prepare", error);
    ok = dconn->driver->conn_migrate_prepare(dconn, &p, &cookie, &uri, error);
    return prepare_result(ok, &cookie, &uri, ret_cookie_out, ret_uri_out, error);
}

ferry_domain *
ferry_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                          const char *dname, const char *cookie_in, GError **error)
{
    ferry_migrate_params p;
    ferry_domain *ddom;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_dest_phase(dconn, params, "Finish", dname, TRUE, &p, error))
        return NULL;
    if (!dconn->driver->conn_migrate_finish) {
        phase_unsupported(dconn, "Finish", error);
        return NULL;
    }
    ddom = dconn->driver->conn_migrate_finish(dconn, &p, dname, cookie_in, error);
    ferry_error_normalize(error);
    return ddom;
}

gboolean
ferry_domain_get_job_info(ferry_domain *dom, ferry_job_info *ret_info, GError **error)
{
    ferry_job_info info = { 0 };

    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (!check_nonnull(dom, "dom", "job information", error) ||
        !check_nonnull(ret_info, "ret_info", "job information", error))
        return FALSE;
    if (!dom->conn->driver->domain_get_job_info)
        return ferry_api_unsupported(dom->conn, "job information", error);
    if (!dom->conn->driver->domain_get_job_info(dom, &info, error)) {
        ferry_error_normalize(error);
        return FALSE;
    }
    info.phase[sizeof(info.phase) - 1] = '\0';
    *ret_info = info;
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The sequencer                                                             */
/* ------------------------------------------------------------------------ */

/* Logs an error that the caller will not see (an earlier one wins). */
static void
log_dropped(const char *phase, ferry_conn *conn, const GError *error)
{
    if (!error)
        return;
    g_debug("migration: %s on '%s' also failed (the caller sees the earlier error): %s",
            phase, ferry_conn_get_uri(conn), error->message);
}

/* The error of a sequence that produced no domain: Perform's if it failed,
 * else Finish's (which a driver must set when it returns no domain). */
static void
sequence_error(GError **perform_error, GError **finish_error, const char *phase,
               ferry_conn *dconn, GError **error)
{
    if (*perform_error) {
        log_dropped(phase, dconn, *finish_error);
        g_propagate_error(error, g_steal_pointer(perform_error));
    } else if (*finish_error) {
        g_propagate_error(error, g_steal_pointer(finish_error));
    } else {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                    "%s on '%s' returned no domain and no error", phase,
                    ferry_conn_get_uri(dconn));
    }
}

/* Fills the statistics of @stats from a Perform cookie, if it has them. */
static void
stats_from_cookie(const char *cookie, ferry_migrate_stats *stats)
{
    g_autoptr(ferry_migration_cookie) parsed = NULL;
    g_autoptr(GError) local = NULL;

    if (!cookie)
        return;
    parsed = ferry_migration_cookie_parse(cookie, "statistics", &local);
    if (!parsed) {
        g_debug("migration: no statistics: %s", local->message);
        return;
    }
    if (!parsed->has_stats)
        return;
    stats->total_ms = parsed->total_ms;
    stats->downtime_ms = parsed->downtime_ms;
    stats->setup_ms = parsed->setup_ms;
    stats->data_total = parsed->data_total;
    stats->data_transferred = parsed->data_transferred;
    stats->disk_total = parsed->disk_total;
    stats->disk_transferred = parsed->disk_transferred;
}

static gint64
ms_since(gint64 start_us)
{
    return (g_get_monotonic_time() - start_us) / 1000;
}

/* A source that is paused before the migration stays paused after it
 * (libvirt's v3 does the same). */
static void
keep_paused(ferry_domain *dom, ferry_migrate_params *p)
{
    int state = FERRY_DOMAIN_NOSTATE;
    g_autoptr(GError) local = NULL;

    if (!ferry_domain_get_state(dom, &state, NULL, &local))
        g_debug("migration: state of '%s' unknown: %s", dom->name, local->message);
    else if (state == FERRY_DOMAIN_PAUSED)
        p->flags |= FERRY_MIGRATE_PAUSED;
}

/* The destination name and the migration URI Prepare chose. */
static const char *
dest_name(ferry_domain *dom, const ferry_migrate_params *p)
{
    return p->dname ? p->dname : dom->name;
}

static gboolean
check_prepared_uri(ferry_conn *dconn, const char *phase, const char *uri_out,
                   const ferry_migrate_params *p, GError **error)
{
    if (uri_out || p->uri || (p->flags & FERRY_MIGRATE_OFFLINE))
        return TRUE;
    g_set_error(error, FERRY_ERROR, FERRY_ERROR_INTERNAL,
                "%s on '%s' chose no migration URI and the caller gave none", phase,
                ferry_conn_get_uri(dconn));
    return FALSE;
}

/* The v3 sequence with checked parameters @params. */
static ferry_domain *
run_v3(ferry_domain *dom, ferry_conn *dconn, const ferry_migrate_params *params,
       ferry_migrate_stats *ret_stats, GError **error)
{
    gint64 start = g_get_monotonic_time();
    ferry_migrate_stats stats = { .protocol = 3 };
    ferry_migrate_params p = *params;
    g_autofree char *dom_xml = NULL;
    g_autofree char *cookie_begin = NULL;
    g_autofree char *cookie_prepare = NULL;
    g_autofree char *uri_out = NULL;
    g_autofree char *cookie_perform = NULL;
    g_autofree char *cookie_finish = NULL;
    g_autoptr(GError) perform_error = NULL;
    g_autoptr(GError) finish_error = NULL;
    g_autoptr(GError) confirm_error = NULL;
    gboolean cancelled = FALSE;
    ferry_domain *ddom;

    /* Begin takes the source's migration job: from here on, Confirm ends it. */
    dom_xml = ferry_domain_migrate_begin3(dom, &p, &cookie_begin, error);
    if (!dom_xml)
        return NULL;
    keep_paused(dom, &p);

    if (!ferry_conn_migrate_prepare3(dconn, &p, dom_xml, cookie_begin, &cookie_prepare,
                                     &uri_out, error)) {
        if (!ferry_domain_migrate_confirm3(dom, &p, NULL, TRUE, &confirm_error))
            log_dropped("Confirm3", dom->conn, confirm_error);
        return NULL;
    }

    if (!check_prepared_uri(dconn, "Prepare3", uri_out, &p, &perform_error)) {
        cancelled = TRUE;
    } else if (!(p.flags & FERRY_MIGRATE_OFFLINE)) {
        /* Offline: only the definition travels, there is nothing to send. */
        if (uri_out)
            p.uri = uri_out;
        cancelled = !ferry_domain_migrate_perform3(dom, &p, NULL, cookie_prepare,
                                                   &cookie_perform, &perform_error);
    }

    /* Finish learns Perform's result; without Perform's cookie it gets
     * Begin's, which names the migration too. */
    ddom = ferry_conn_migrate_finish3(dconn, &p, dest_name(dom, &p),
                                      cookie_perform ? cookie_perform : cookie_begin,
                                      &cookie_finish, cancelled, &finish_error);

    /* Confirm kills the source if the destination has the domain, else
     * resumes it.  Its failure cannot undo what Finish did. */
    if (!ferry_domain_migrate_confirm3(dom, &p, cookie_finish, ddom == NULL, &confirm_error))
        log_dropped("Confirm3", dom->conn, confirm_error);

    stats_from_cookie(cookie_perform, &stats);
    stats.wall_ms = ms_since(start);
    if (ret_stats)
        *ret_stats = stats;
    if (!ddom)
        sequence_error(&perform_error, &finish_error, "Finish3", dconn, error);
    return ddom;
}

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

ferry_domain *
ferry_migrate_run_v3(ferry_domain *dom, ferry_conn *dconn, const ferry_migrate_params *params,
                     ferry_migrate_stats *ret_stats, GError **error)
{
    const char *what = "migration (protocol v3)";
    ferry_migrate_params p;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_nonnull(dom, "dom", what, error) || !check_nonnull(dconn, "dconn", what, error) ||
        !check_params(params, P2P_ALLOWED, what, &p, error))
        return NULL;
    /* The caller is the runner: the phases themselves are not peer-to-peer. */
    p.flags &= ~(guint)FERRY_MIGRATE_PEER2PEER;
    /* Peer-to-peer, the client could only ask the source: this is where
     * the destination is asked. */
    if ((p.flags & NON_SHARED) && !check_nbd(dom->conn, dconn, what, error))
        return NULL;
    return run_v3(dom, dconn, &p, ret_stats, error);
}

/*
 * v2: DumpXML, Prepare2, Perform (kills the source on success), Finish2.
 * Weaker than v3: once Perform killed the source, a failing Finish2 loses
 * the domain.
 */
static ferry_domain *
migrate_v2(ferry_domain *dom, ferry_conn *dconn, ferry_migrate_params *p, GError **error)
{
    g_autofree char *dom_xml = NULL;
    g_autofree char *cookie = NULL;
    g_autofree char *uri_out = NULL;
    g_autoptr(GError) perform_error = NULL;
    g_autoptr(GError) finish_error = NULL;
    gboolean ok = FALSE;
    ferry_domain *ddom;

    dom_xml = p->dxml ? g_strdup(p->dxml) : ferry_domain_get_xml(dom, 0, error);
    if (!dom_xml)
        return NULL;
    keep_paused(dom, p);
    if (!ferry_conn_migrate_prepare2(dconn, p, dom_xml, &cookie, &uri_out, error))
        return NULL;
    if (check_prepared_uri(dconn, "Prepare2", uri_out, p, &perform_error)) {
        if (uri_out)
            p->uri = uri_out;
        ok = ferry_domain_migrate_perform(dom, p, cookie, &perform_error);
    }
    ddom = ferry_conn_migrate_finish2(dconn, p, dest_name(dom, p), cookie, ok,
                                      &finish_error);
    if (!ddom)
        sequence_error(&perform_error, &finish_error, "Finish2", dconn, error);
    return ddom;
}

/*
 * v1: Prepare, Perform, Finish.  The destination learns the definition from
 * its hypervisor; Finish only runs after a successful Perform.
 */
static ferry_domain *
migrate_v1(ferry_domain *dom, ferry_conn *dconn, ferry_migrate_params *p, GError **error)
{
    g_autofree char *cookie = NULL;
    g_autofree char *uri_out = NULL;

    keep_paused(dom, p);
    if (!ferry_conn_migrate_prepare(dconn, p, &cookie, &uri_out, error) ||
        !check_prepared_uri(dconn, "Prepare", uri_out, p, error))
        return NULL;
    if (uri_out)
        p->uri = uri_out;
    if (!ferry_domain_migrate_perform(dom, p, cookie, error))
        return NULL;
    return ferry_conn_migrate_finish(dconn, p, dest_name(dom, p), cookie, error);
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
 * a shut-off one offline, keeping its persistent definition. */
static gboolean
default_flags(ferry_domain *dom, ferry_migrate_params *p, GError **error)
{
    ferry_domain_info info;

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
    ferry_migrate_params p;
    ferry_domain *ddom = NULL;

    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_nonnull(dom, "dom", "migration", error))
        return NULL;
    what = g_strdup_printf("migration of domain '%s'", dom->name);
    if (!check_nonnull(dconn, "dconn", what, error) ||
        !check_params(params, P2P_FORBIDDEN, what, &p, error) ||
        !negotiate(dom->conn, dconn, &stats.protocol, error) ||
        !default_flags(dom, &p, error))
        return NULL;
    if ((p.flags & FERRY_MIGRATE_OFFLINE) && stats.protocol < 3) {
        g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                    "%s: offline migration needs protocol v3, but the best both hosts "
                    "offer is v%d", what, stats.protocol);
        return NULL;
    }
    if (p.flags & NON_SHARED) {
        if (!check_nbd(dom->conn, dconn, what, error))
            return NULL;
        /* The NBD port travels in v3's cookies. */
        if (stats.protocol < 3) {
            g_set_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                        "%s: storage migration needs protocol v3, but the best both hosts "
                        "offer is v%d", what, stats.protocol);
            return NULL;
        }
    }
    g_debug("%s to '%s': protocol v%d, flags 0x%x", what, ferry_conn_get_uri(dconn),
            stats.protocol, p.flags);

    switch (stats.protocol) {
    case 3:
        ddom = run_v3(dom, dconn, &p, &stats, error);
        break;
    case 2:
        ddom = migrate_v2(dom, dconn, &p, error);
        break;
    default:
        ddom = migrate_v1(dom, dconn, &p, error);
        break;
    }
    stats.wall_ms = ms_since(start);
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
    /* The source daemon asks the destination (ferry_migrate_run_v3). */
    if ((p.flags & NON_SHARED) && !check_nbd(dom->conn, NULL, what, error))
        return FALSE;
    if (!default_flags(dom, &p, error))
        return FALSE;

    ok = ferry_domain_migrate_perform3(dom, &p, dconn_uri, NULL, &cookie, error);
    stats_from_cookie(cookie, &stats);
    stats.wall_ms = ms_since(start);
    if (ret_stats)
        *ret_stats = stats;
    return ok;
}
