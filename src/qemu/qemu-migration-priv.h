/*
 * qemu-migration-priv.h: what the QEMU driver's migration files share
 * (qemu-migration.c and qemu-migration-v1.c): migration URIs, the incoming
 * port's socket, starting the incoming QEMU, handing QEMU a socket.  Not
 * for the rest of the driver.
 */
#pragma once

#include "migration/migration-backend.h"
#include "qemu/qemu-domain.h"

G_BEGIN_DECLS

/** mig_uri: a migration URI's host and port (host, host:port, tcp://host[:port]/). */
typedef struct {
    char *host;       /* NULL when not given */
    guint port;       /* 0 when not given */
} mig_uri;

/** qemu_mig_uri_clear: frees what @u holds. */
void qemu_mig_uri_clear(mig_uri *u);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(mig_uri, qemu_mig_uri_clear)

/**
 * qemu_mig_uri_parse:
 * @uri: (nullable): a migration URI; NULL gives an empty @ret
 * @ret: (out caller-allocates): filled
 * @error: return location for an error (FERRY_ERROR_INVALID_URI)
 *
 * Returns: TRUE if @uri is one ferry takes.
 */
gboolean qemu_mig_uri_parse(const char *uri, mig_uri *ret, GError **error);

/** qemu_mig_host_for_uri: Returns: (transfer full): @host, in brackets if IPv6. */
char *qemu_mig_host_for_uri(const char *host);

/** qemu_mig_new_token: Returns: (transfer full): 128 random bits in hex, or NULL. */
char *qemu_mig_new_token(GError **error);

/**
 * qemu_mig_give_socket:
 * @obj: a domain whose QEMU runs
 * @fdname: the name QEMU keeps it under
 * @sock: a socket; closed here once QEMU holds its own copy
 * @error: return location for an error
 *
 * Hands @sock to QEMU (QMP getfd).  Returns: TRUE on success.
 */
gboolean qemu_mig_give_socket(ferry_domain_obj *obj, const char *fdname, GSocket *sock,
                              GError **error);

/**
 * qemu_mig_bind_incoming:
 * @listen: the address
 * @port: the port
 * @error: return location for an error
 *
 * Returns: (transfer full): the migration port's listening socket, or NULL.
 */
GSocket *qemu_mig_bind_incoming(const char *listen, guint port, GError **error);

/**
 * qemu_mig_start_incoming_qemu:
 * @state: the driver
 * @obj: the incoming domain
 * @params: the migration's parameters
 * @storage: disks are copied too
 * @qemu_uri: what migrate-incoming gets
 * @sock: (nullable): a socket QEMU gets first as "migration-in" (getfd)
 * @error: return location for an error
 *
 * Starts QEMU paused, waiting for the incoming stream.  Returns: TRUE on
 * success.
 */
gboolean qemu_mig_start_incoming_qemu(qemu_driver_state *state, ferry_domain_obj *obj,
                                      const ferry_migrate_params *params, gboolean storage,
                                      const char *qemu_uri, GSocket *sock, GError **error);

/* ---- protocol v1 (qemu-migration-v1.c) ---- */

/**
 * qemu_mig_v1_listen:
 * @job: a destination job of protocol v1 (no domain yet)
 * @cookie_out: gets the token the source must send with the definition
 * @ret_uri: (out): where the source connects
 * @error: return location for an error
 *
 * Prepare of v1: takes a migration port and listens on it; nothing starts.
 */
gboolean qemu_mig_v1_listen(ferry_mig_job *job, ferry_migration_cookie *cookie_out,
                            char **ret_uri, GError **error);

/**
 * qemu_mig_v1_launch:
 * @job: the job qemu_mig_v1_listen() prepared
 * @error: return location for an error
 *
 * Accepts the source's connection, reads the token and the domain XML it
 * sends first, gives the job its domain and starts QEMU with the rest of
 * the connection as its incoming stream.  TRUE at once for a job that is
 * not of v1.
 */
gboolean qemu_mig_v1_launch(ferry_mig_job *job, GError **error);

/**
 * qemu_mig_v1_read_greeting:
 * @conn: a connected socket (made blocking, with a timeout)
 * @token: the token it must present (32 hex digits)
 * @error: return location for an error naming what is wrong
 *
 * Reads "FERRY-V1 TOKEN LENGTH\n" and LENGTH bytes of domain XML, and not
 * one byte more (the rest is QEMU's).
 *
 * Returns: (transfer full): the XML, or NULL.
 */
char *qemu_mig_v1_read_greeting(GSocket *conn, const char *token, GError **error);

/** qemu_mig_v1_discard: closes what qemu_mig_v1_listen() made, if anything. */
void qemu_mig_v1_discard(ferry_mig_job *job);

/**
 * qemu_mig_v1_connect:
 * @job: a source job whose Prepare cookie carries a definition token
 * @host: the destination's migration host
 * @port: its port
 * @error: return location for an error
 *
 * Perform of v1: connects, sends the token and the domain's XML.
 * Returns: (transfer full): the connected socket for QEMU, or NULL.
 */
GSocket *qemu_mig_v1_connect(ferry_mig_job *job, const char *host, guint port, GError **error);

G_END_DECLS
