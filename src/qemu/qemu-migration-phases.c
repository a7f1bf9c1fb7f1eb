/*
 * qemu-migration-phases.c: the QEMU driver's entries of the driver table
 * for the migration phases: v3 (Begin, Prepare, Perform, Finish, Confirm)
 * and v2 (Prepare2, Perform, Finish2), each handed to the host's migration
 * engine (src/migration/), which runs the same job whichever the protocol.
 *
 * Why v2 and v1 at all: a host whose peer offers only those (an older
 * ferry, or a host limited by migration_max_protocol in ferryd.conf) still
 * migrates with them.  v2 has no Begin and no Confirm: the source is
 * killed at the end of a successful Perform, and no cookie tells the
 * destination which disks to receive, so storage migration needs v3.  v1's
 * Prepare gets no domain XML either: the destination's Prepare only takes
 * the migration port and gives a token; the source's Perform sends the
 * definition first on the migration connection, and the destination
 * starts its QEMU from it (qemu-migration.c, "v1").
 *
 * Owns: which protocols this host offers (migration_max_protocol) and the
 * refusal of a call of another.  Must not: do any phase's work itself.
 */
#include "ferry-config.h"

#include "qemu/qemu-migration.h"

#define NON_SHARED ((guint)(FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_NON_SHARED_INC))

static qemu_driver_state *
state_of(ferry_conn *conn)
{
    return conn->driver_data;
}

/* Does this host take a call of protocol @protocol (and, for v2, one with
 * these flags)?  Else answers @callback with the refusal and returns FALSE. */
static gboolean
offers(ferry_conn *conn, int protocol, const char *phase, const ferry_migrate_params *params,
       GAsyncReadyCallback callback, gpointer user_data)
{
    qemu_driver_state *state = state_of(conn);
    GError *error = NULL;
    GTask *task;

    if (protocol > (int)state->config.max_protocol)
        error = g_error_new(FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                            "%s: host '%s' offers migration protocols up to v%u "
                            "(migration_max_protocol), not v%d", phase,
                            state->config.hostname, state->config.max_protocol, protocol);
    else if (protocol == 1 && params && (params->flags & FERRY_MIGRATE_OFFLINE))
        error = g_error_new(FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                            "%s: host '%s': protocol v1 moves a running guest's memory, not "
                            "a definition alone (offline migration needs v3)", phase,
                            state->config.hostname);
    else if (protocol < 3 && params && (params->flags & NON_SHARED))
        error = g_error_new(FERRY_ERROR, FERRY_ERROR_NO_SUPPORT,
                            "%s: host '%s': storage migration (--copy-storage-*) needs "
                            "protocol v3, and this migration runs v%d", phase,
                            state->config.hostname, protocol);
    if (!error)
        return TRUE;
    task = g_task_new(NULL, NULL, callback, user_data);
    g_task_return_error(task, error);
    g_object_unref(task);
    return FALSE;
}

/* ---- v3 ---- */

void
qemu_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
    if (!offers(dom->conn, 3, "Begin3", NULL, callback, user_data))
        return;
    ferry_mig_engine_begin3(state_of(dom->conn)->engine, dom, params, cancellable, callback,
                            user_data);
}

void
qemu_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dom_xml, const char *cookie_in,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
    if (!offers(dconn, 3, "Prepare3", NULL, callback, user_data))
        return;
    ferry_mig_engine_prepare(state_of(dconn)->engine, dconn, 3, params, dom_xml, cookie_in,
                             cancellable, callback, user_data);
}

void
qemu_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *dconn_uri, const char *cookie_in,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    if (!offers(dom->conn, 3, "Perform3", NULL, callback, user_data))
        return;
    ferry_mig_engine_perform(state_of(dom->conn)->engine, dom, 3, params, dconn_uri, cookie_in,
                             cancellable, callback, user_data);
}

/* Tunnelled v3 (docs/tunnelled.md): @tunnel replaces the migration URI. */
void
qemu_conn_migrate_prepare_tunnel3(ferry_conn *dconn, const ferry_migrate_params *params,
                                  const char *dom_xml, const char *cookie_in, GSocket *tunnel,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
    if (!offers(dconn, 3, "PrepareTunnel3", NULL, callback, user_data))
        return;
    ferry_mig_engine_prepare_tunnel(state_of(dconn)->engine, dconn, 3, params, dom_xml,
                                    cookie_in, tunnel, cancellable, callback, user_data);
}

void
qemu_domain_migrate_perform_tunnel3(ferry_domain *dom, const ferry_migrate_params *params,
                                    GSocket *tunnel, const char *cookie_in,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    if (!offers(dom->conn, 3, "PerformTunnel3", NULL, callback, user_data))
        return;
    ferry_mig_engine_perform_tunnel(state_of(dom->conn)->engine, dom, 3, params, NULL,
                                    cookie_in, tunnel, cancellable, callback, user_data);
}

void
qemu_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                          const char *dname, const char *cookie_in, gboolean cancelled,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    if (!offers(dconn, 3, "Finish3", NULL, callback, user_data))
        return;
    ferry_mig_engine_finish(state_of(dconn)->engine, dconn, 3, params, dname, cookie_in,
                            cancelled, cancellable, callback, user_data);
}

void
qemu_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                             const char *cookie_in, int outcome, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    if (!offers(dom->conn, 3, "Confirm3", NULL, callback, user_data))
        return;
    ferry_mig_engine_confirm3(state_of(dom->conn)->engine, dom, params, cookie_in, outcome,
                              cancellable, callback, user_data);
}

/* ---- v2 ---- */

void
qemu_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                           const char *dom_xml, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    if (!offers(dconn, 2, "Prepare2", params, callback, user_data))
        return;
    ferry_mig_engine_prepare(state_of(dconn)->engine, dconn, 2, params, dom_xml, NULL,
                             cancellable, callback, user_data);
}

void
qemu_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                            const char *cookie_in, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    /* The Perform of v1 and v2 alike: v1's shows in Prepare's cookie. */
    if (!offers(dom->conn, 1, "Perform", params, callback, user_data))
        return;
    ferry_mig_engine_perform(state_of(dom->conn)->engine, dom, 2, params, NULL, cookie_in,
                             cancellable, callback, user_data);
}

void
qemu_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                          const char *dname, const char *cookie_in, gboolean ok,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    if (!offers(dconn, 2, "Finish2", NULL, callback, user_data))
        return;
    ferry_mig_engine_finish(state_of(dconn)->engine, dconn, 2, params, dname, cookie_in, !ok,
                            cancellable, callback, user_data);
}

/* ---- v1 ---- */

void
qemu_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    if (!offers(dconn, 1, "Prepare", params, callback, user_data))
        return;
    ferry_mig_engine_prepare(state_of(dconn)->engine, dconn, 1, params, NULL, NULL,
                             cancellable, callback, user_data);
}

void
qemu_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                         const char *dname, const char *cookie_in, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
    if (!offers(dconn, 1, "Finish", NULL, callback, user_data))
        return;
    ferry_mig_engine_finish(state_of(dconn)->engine, dconn, 1, params, dname, cookie_in, FALSE,
                            cancellable, callback, user_data);
}
