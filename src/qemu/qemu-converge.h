/*
 * qemu-converge.h: what QEMU is told and asked about the ways a migration
 * converges -- post-copy, parallel connections (multifd), compression
 * (XBZRLE, zstd), auto-converge -- for qemu-migration.c.
 *
 * Deciding when to use them is not here: the caller's flags and the
 * engine (src/migration/) decide; this file only turns them into QMP.
 */
#pragma once

#include <json-c/json.h>

#include "driver/domain-obj.h"

G_BEGIN_DECLS

/**
 * qemu_converge_set_capabilities:
 * @obj: a domain with a running QEMU
 * @params: the migration's parameters (its flags)
 * @storage: disks are copied too (pause-before-switchover on the source,
 *   late-block-activate on the destination)
 * @incoming: @obj is the destination
 * @error: return location for an error
 *
 * Sets every migration capability ferry uses, each explicitly on or off,
 * so that nothing a previous migration of the same QEMU asked for stays:
 * events, the storage pauses, postcopy-ram, multifd, and on the source
 * xbzrle and auto-converge.
 *
 * Returns: TRUE on success; QEMU's refusal names the capability.
 */
gboolean qemu_converge_set_capabilities(ferry_domain_obj *obj,
                                        const ferry_migrate_params *params, gboolean storage,
                                        gboolean incoming, GError **error);

/**
 * qemu_converge_set_parameters:
 * @obj: a domain with a running QEMU
 * @params: the migration's parameters
 * @incoming: @obj is the destination (only what both sides must agree on:
 *   multifd's connections and compression)
 * @error: return location for an error
 *
 * Sets QEMU's parameters for the features of @params: max-postcopy-bandwidth,
 * multifd-channels, multifd-compression, cpu-throttle-initial and -increment
 * (each to its default when the feature is not asked for).
 *
 * Returns: TRUE on success.
 */
gboolean qemu_converge_set_parameters(ferry_domain_obj *obj, const ferry_migrate_params *params,
                                      gboolean incoming, GError **error);

/**
 * qemu_converge_read_stats:
 * @q: the answer of query-migrate
 * @info: (inout): the job's information; its convergence fields are set
 *
 * Reads post-copy's requests and bytes, the throttle, multifd's and
 * XBZRLE's counters, and the pages sent whole or as zeroes.
 */
void qemu_converge_read_stats(json_object *q, ferry_job_info *info);

/**
 * qemu_converge_start_postcopy:
 * @obj: the source domain, sending memory with postcopy-ram on
 * @error: return location for an error
 *
 * Tells QEMU to switch to post-copy after its current pass
 * (migrate-start-postcopy).
 *
 * Returns: TRUE if QEMU took it.
 */
gboolean qemu_converge_start_postcopy(ferry_domain_obj *obj, GError **error);

/**
 * qemu_converge_throttle:
 * @obj: the source domain, sending memory with the policy on
 * @error: return location for an error
 *
 * The convergence policy's throttle: wakes the auto-converge that
 * qemu_converge_set_capabilities() set up dormant (QEMU's own initial
 * 20 % and 10 % steps from the next pass).
 *
 * Returns: TRUE if QEMU took it.
 */
gboolean qemu_converge_throttle(ferry_domain_obj *obj, GError **error);

/**
 * qemu_converge_dirty_rate:
 * @obj: a running domain
 * @seconds: how long QEMU measures (1-60)
 * @ret_bps: (out): what the guest dirtied, bytes per second (the memory
 *   it dirtied in @seconds, divided by them)
 * @error: return location for an error
 *
 * Has QEMU measure the guest's dirty rate (calc-dirty-rate in
 * page-sampling mode, then query-dirty-rate until it says "measured").
 * Blocks for @seconds: not for the engine thread.
 *
 * Returns: TRUE on success.
 */
gboolean qemu_converge_dirty_rate(ferry_domain_obj *obj, guint seconds, guint64 *ret_bps,
                                  GError **error);

G_END_DECLS
