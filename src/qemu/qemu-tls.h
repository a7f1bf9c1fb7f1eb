/*
 * qemu-tls.h: QEMU's own TLS for migration data (the memory stream and the
 * NBD disk copy), with x509 credentials from ferryd's PKI directory.
 *
 * Owns: the directory of QEMU-named links to those files, or copies of
 * them for a QEMU user (qemu-user.h) (QEMU wants
 * ca-cert.pem, server-cert.pem, ... where ferryd keeps cacert.pem,
 * servercert.pem, ...), the tls-creds-x509 object of a QEMU, and the
 * migration parameters that turn TLS on or off.  Must not decide whether a
 * migration is encrypted: the migration's flags (FERRY_MIGRATE_TLS) do.
 */
#pragma once

#include "qemu/qemu-domain.h"

G_BEGIN_DECLS

/** The id of the credentials object in a QEMU. */
#define QEMU_TLS_CREDS_ID "ferry-tls-creds"

/**
 * qemu_tls_add_creds:
 * @state: the driver
 * @obj: a running domain
 * @server: TRUE on the destination (QEMU listens: its server certificate),
 *   FALSE on the source (its client certificate)
 * @error: return location for an error naming the file that is missing
 *
 * Gives QEMU a tls-creds-x509 object QEMU_TLS_CREDS_ID that verifies its
 * peer against the CA, replacing one a previous migration left.
 *
 * Returns: TRUE on success.
 */
gboolean qemu_tls_add_creds(qemu_driver_state *state, ferry_domain_obj *obj, gboolean server,
                            GError **error);

/**
 * qemu_tls_set_migration:
 * @obj: a running domain
 * @on: encrypt its next migration stream
 * @hostname: (nullable): on the source, the name the destination's
 *   certificate must carry (the migration address dialled)
 * @error: return location for an error
 *
 * Sets QEMU's tls-creds (and tls-hostname) migration parameters, or clears
 * them, so that a migration after an encrypted one is not encrypted by
 * accident, and the other way round.
 *
 * Returns: TRUE on success.
 */
gboolean qemu_tls_set_migration(ferry_domain_obj *obj, gboolean on, const char *hostname,
                                GError **error);

G_END_DECLS
