/*
 * qemu-storage.h: storage migration without shared storage (README,
 * --copy-storage-*; docs/relay.md): the destination exports pre-created images over NBD from its
 * incoming QEMU, the source mirrors its disks into them before the memory
 * moves and completes the mirrors while it is paused.
 *
 * Called by the phases in qemu-migration.c with the domain's migration job
 * held.  Every function that fails leaves nothing behind it created.
 */
#pragma once

#include "conf/migration-cookie.h"
#include "qemu/qemu-domain.h"

G_BEGIN_DECLS

/**
 * qemu_storage_run_qemu_img:
 * @args: qemu-img's arguments after the binary, NULL-terminated
 * @error: return location for an error (FERRY_ERROR_STORAGE with its stderr)
 *
 * Returns: (transfer full): what qemu-img wrote to stdout, or NULL if it failed.
 */
char *qemu_storage_run_qemu_img(const char *const *args, GError **error);

/** Does @params ask for storage to be copied? */
gboolean qemu_storage_wanted(const ferry_migrate_params *params);

/**
 * qemu_storage_check_no_mirror_filter:
 * @name: the domain's name, for the message
 * @blocks: QEMU's answer to query-named-block-nodes
 * @error: return location for an error
 *
 * With no block job running, a mirror's filter node ("mirror_top") among
 * @blocks was left by QEMU: the disk under it cannot be mirrored again
 * until QEMU restarts.  Returns FALSE with an error that names the node,
 * the image and the way out if there is one.
 */
gboolean qemu_storage_check_no_mirror_filter(const char *name, json_object *blocks,
                                             GError **error);

/**
 * qemu_storage_begin:
 * Source, Begin: refuses when a block job runs; lists each disk to copy
 * (target, format, virtual size, backing file for an incremental copy) in
 * @cookie.
 */
gboolean qemu_storage_begin(qemu_driver_state *state, ferry_domain_obj *obj,
                            const ferry_migrate_params *params,
                            ferry_migration_cookie *cookie, GError **error);

/**
 * qemu_storage_prepare_images:
 * Destination, Prepare, before QEMU starts: checks each disk of @cookie_in
 * against @def (same target, path inside an allowed storage directory,
 * enough free space) and creates the missing images with the same format
 * and size.  What it created is recorded for qemu_storage_discard().
 */
gboolean qemu_storage_prepare_images(qemu_driver_state *state, ferry_domain_obj *obj,
                                     const ferry_domain_def *def,
                                     const ferry_migration_cookie *cookie_in, GError **error);

/**
 * qemu_storage_prepare_nbd:
 * Destination, Prepare, after the incoming QEMU started: starts its NBD
 * server on @listen (port @params->disks_port or one from the range) and
 * exports every disk of @cookie_in writable; fills the <nbd> section of
 * @cookie_out with the port.  With @relay_token the NBD server listens on
 * a unix socket and a relay (src/relay) on the port.
 */
gboolean qemu_storage_prepare_nbd(qemu_driver_state *state, ferry_domain_obj *obj,
                                  const char *listen, const ferry_migrate_params *params,
                                  const char *relay_token,
                                  const ferry_migration_cookie *cookie_in,
                                  ferry_migration_cookie *cookie_out, GError **error);

/**
 * qemu_storage_start_mirrors:
 * Source, Perform: starts mirroring every disk of @cookie_in (Prepare's)
 * to the destination's exports on @host (through a relay when @cookie_in
 * names one), and returns.  QMP events tell
 * when every mirror is ready (qemu_storage_mirrors_state()).  On failure
 * the mirrors started are cancelled.
 */
gboolean qemu_storage_start_mirrors(qemu_driver_state *state, ferry_domain_obj *obj,
                                    const ferry_migrate_params *params, const char *host,
                                    const ferry_migration_cookie *cookie_in, GError **error);

/** What qemu_storage_mirrors_state() says of the mirrors. */
enum {
    QEMU_MIRRORS_NONE,      /* no mirror was started */
    QEMU_MIRRORS_COPYING,   /* some are not in sync yet */
    QEMU_MIRRORS_READY,     /* all in sync */
    QEMU_MIRRORS_FAILED,    /* one failed (*ret_why says which and how) */
};

/**
 * qemu_storage_mirrors_state:
 * @priv: a source domain's runtime data (its domain's lock held)
 * @ret_why: (out) (optional): for FAILED, which disk and what happened
 *
 * Returns: one of QEMU_MIRRORS_*.
 */
int qemu_storage_mirrors_state(qemu_domain_priv *priv, char **ret_why);

/**
 * qemu_storage_complete:
 * Source, Perform, once the source is paused: completes the mirrors (the
 * destination then has every write) and records disk statistics in
 * @cookie_out (sizes from Prepare's @cookie_in).
 */
gboolean qemu_storage_complete(qemu_driver_state *state, ferry_domain_obj *obj,
                               const ferry_migrate_params *params,
                               const ferry_migration_cookie *cookie_in,
                               ferry_migration_cookie *cookie_out, GError **error);

/**
 * qemu_storage_abort:
 * Source: cancels the mirrors and removes their NBD clients.  Idempotent.
 */
void qemu_storage_abort(qemu_driver_state *state, ferry_domain_obj *obj);

/**
 * qemu_storage_adopt:
 * @obj: a domain whose QEMU a previous ferryd ran a migration with
 *
 * After a restart: takes over what QEMU still has of a migration -- mirror
 * jobs and their NBD client nodes ("mig-TARGET") on a source, an NBD server
 * on a destination -- so that qemu_storage_abort() and
 * qemu_storage_stop_nbd() remove them as if this ferryd had made them.
 */
void qemu_storage_adopt(ferry_domain_obj *obj);

/**
 * qemu_storage_stop_nbd:
 * Destination: stops the NBD server and frees its port.  Idempotent.
 */
void qemu_storage_stop_nbd(qemu_driver_state *state, ferry_domain_obj *obj);

/**
 * qemu_storage_discard:
 * Destination, after a failure (QEMU already stopped): deletes the images
 * Prepare created.
 */
void qemu_storage_discard(qemu_driver_state *state, ferry_domain_obj *obj);

/**
 * qemu_storage_set_speed:
 * Source: changes the speed limit of the running mirrors (0: none).
 */
gboolean qemu_storage_set_speed(ferry_domain_obj *obj, guint64 bandwidth_mib, GError **error);

/**
 * qemu_storage_mirrors_sum:
 * @jobs: QEMU's answer to query-block-jobs
 * @ret_total: (out): the bytes the migration's mirrors (devices "mig-*")
 *     have to copy, as QEMU counts them now ("len": it grows with the
 *     guest's writes)
 * @ret_done: (out): the bytes they copied ("offset"); @ret_total less
 *     @ret_done is what they still hold
 *
 * Other block jobs (a user's backup, a stream) are not counted.
 *
 * Returns: the number of the migration's mirrors.
 */
guint qemu_storage_mirrors_sum(json_object *jobs, guint64 *ret_total, guint64 *ret_done);

/**
 * qemu_storage_job_info:
 * Fills the disk part of @info from the running mirrors.
 */
void qemu_storage_job_info(ferry_domain_obj *obj, ferry_job_info *info);

G_END_DECLS
