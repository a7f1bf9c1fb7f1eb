/*
 * migration-sequence.h: the order of the phases of a migration across two
 * hosts -- v3 (Begin, Prepare, Perform, Finish, Confirm), v2 and v1 --
 * driven through the driver table from one place: the client library
 * (ferry_domain_migrate()) or, peer-to-peer, the source host's engine.
 *
 * Owns: which phase follows which outcome of the one before, the rule
 * that Perform's error is the one the caller sees (an abort's error wins
 * over it), and what Confirm is told when Finish's answer is lost
 * (FERRY_CONFIRM_UNKNOWN: the source's daemon then asks the destination's).
 * Must not: know how a phase is carried out (the engine does).
 */
#pragma once

#include "driver/driver.h"

G_BEGIN_DECLS

/**
 * ferry_mig_sequence_run:
 * @dom: the domain on the source connection
 * @dconn: the destination connection
 * @protocol: 3, 2 or 1 (negotiated by the caller)
 * @params: checked parameters (PEER2PEER cleared; copied)
 * @cancellable: (nullable): stops the sequence between phases (the
 *   migration itself is aborted with ferry_domain_abort_job())
 * @callback: called once it ended, in the caller's thread-default context
 * @user_data: for @callback
 *
 * Runs the phases asynchronously.
 */
void ferry_mig_sequence_run(ferry_domain *dom, ferry_conn *dconn, int protocol,
                            const ferry_migrate_params *params, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);

/**
 * ferry_mig_sequence_finish:
 * @result: what the callback got
 * @ret_stats: (out) (optional): the statistics, also on failure as far as
 *   known
 * @error: return location for an error
 *
 * Returns: (transfer full): the domain on the destination, or NULL.
 */
ferry_domain *ferry_mig_sequence_finish(GAsyncResult *result, ferry_migrate_stats *ret_stats,
                                        GError **error);

/**
 * ferry_mig_stats_from_cookie:
 * @cookie: (nullable): a cookie document with statistics
 * @stats: filled with what it has
 */
void ferry_mig_stats_from_cookie(const char *cookie, ferry_migrate_stats *stats);

G_END_DECLS
