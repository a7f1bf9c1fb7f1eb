/*
 * qemu-confine.h: the paths of a domain definition or a migration cookie,
 * held against the directories this host lets others name.
 *
 * Owns: which path goes with which setting -- disk images and backing
 * files with storage_dirs; kernels, initrds and serial logs with
 * file_dirs -- and which of them are held whoever the caller is.  Must
 * not: decide who is trusted (ferryd's dispatch does, with
 * ferry_conn_set_confined()), or open, create or change any file.
 *
 * The rules (docs/security.md, "Confinement"):
 *  - always: the disks a storage migration copies in, and the backing
 *    files a cookie names, lie in storage_dirs -- Prepare creates images
 *    from them, and another host wrote the cookie;
 *  - for a caller the host does not trust: every path of the domain XML
 *    it sends (Prepare's, a define's, a cookie's <persistent> one) too.
 */
#pragma once

#include "conf/domain-conf.h"
#include "conf/migration-cookie.h"
#include "qemu/qemu-driver.h"

G_BEGIN_DECLS

/**
 * qemu_confine_def:
 * @config: the driver's configuration (storage_dirs, file_dirs)
 * @def: a definition an untrusted caller sent
 * @error: return location for an error (FERRY_ERROR_INVALID_ARG) naming
 *   the domain, the device and the path, e.g. "domain 'web1': serial log
 *   '/etc/cron.d/x' is outside file_dirs (/var/lib/ferry/files)"
 *
 * Every disk image in storage_dirs; the kernel, initrd and serial log in
 * file_dirs.
 *
 * Returns: TRUE if every path is inside.
 */
gboolean qemu_confine_def(const ferry_qemu_config *config, const ferry_domain_def *def,
                          GError **error);

/**
 * qemu_confine_storage_disk:
 * @config: the driver's configuration
 * @def: (nullable): the incoming domain's definition
 * @disk: a disk of a storage migration's cookie
 * @error: return location for an error
 *
 * The image Prepare creates (or reuses) for @disk -- @def's disk with the
 * same target -- and its backing file lie in storage_dirs.  A target @def
 * lacks is left to the caller.
 *
 * Returns: TRUE if both are inside.
 */
gboolean qemu_confine_storage_disk(const ferry_qemu_config *config,
                                   const ferry_domain_def *def,
                                   const ferry_cookie_disk *disk, GError **error);

/**
 * qemu_confine_incoming:
 * @config: the driver's configuration
 * @def: (nullable): the domain XML of Prepare
 * @cookie: (nullable): the cookie of Prepare or Finish
 * @confined: the caller is not trusted (ferry_conn_is_confined())
 * @error: return location for an error
 *
 * What a migration brings, before anything is made of it: the storage
 * rules for every disk of @cookie, always; with @confined also
 * qemu_confine_def() of @def and of the cookie's <persistent> definition.
 *
 * Returns: TRUE if nothing reaches outside.
 */
gboolean qemu_confine_incoming(const ferry_qemu_config *config, const ferry_domain_def *def,
                               const ferry_migration_cookie *cookie, gboolean confined,
                               GError **error);

G_END_DECLS
