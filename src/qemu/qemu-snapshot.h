/*
 * qemu-snapshot.h: the QEMU driver's snapshots (qemu-snapshot.c): internal
 * qcow2 snapshots through QEMU's snapshot jobs or qemu-img, and their
 * metadata files under STATE/qemu/snapshots.
 */
#pragma once

#include <json-c/json.h>

#include "qemu/qemu-domain.h"

G_BEGIN_DECLS

/**
 * qemu_snapshot_load_all:
 * @state: the driver state, its domains loaded
 *
 * Reads every domain's snapshot metadata into state->snapshots; a file
 * that does not parse, or whose parent is missing, is skipped with a
 * warning naming it.
 */
void qemu_snapshot_load_all(qemu_driver_state *state);

/**
 * qemu_snapshot_handle_event:
 * @obj: the domain whose QEMU sent @event
 * @event: the event's name
 * @data: (nullable): its data
 *
 * For the monitor's event handler: a JOB_STATUS_CHANGE of a snapshot job
 * this file waits for.
 *
 * Returns: TRUE if the event was one (and is handled).
 */
gboolean qemu_snapshot_handle_event(ferry_domain_obj *obj, const char *event,
                                    json_object *data);

/* The snapshot entries of the QEMU driver table. */
char *qemu_domain_snapshot_create_xml(ferry_domain *dom, const char *xml, guint flags,
                                      GError **error);
gboolean qemu_domain_snapshot_list(ferry_domain *dom, guint flags, GPtrArray **ret_snapshots,
                                   GError **error);
char *qemu_domain_snapshot_get_xml(ferry_domain *dom, const char *name, guint flags,
                                   GError **error);
char *qemu_domain_snapshot_current(ferry_domain *dom, GError **error);
gboolean qemu_domain_snapshot_revert(ferry_domain *dom, const char *name, guint flags,
                                     GError **error);
gboolean qemu_domain_snapshot_delete(ferry_domain *dom, const char *name, guint flags,
                                     GError **error);

/* The snapshot operations of the QEMU migration backend
 * (migration-backend.h): the metadata store plus its files. */
GPtrArray *qemu_snapshot_mig_export(gpointer self, ferry_domain_obj *obj, GPtrArray **ret_names);
gboolean qemu_snapshot_mig_import(gpointer self, ferry_domain_obj *obj, const GPtrArray *defs,
                                  GError **error);
void qemu_snapshot_mig_drop(gpointer self, ferry_domain_obj *obj);
/* The driver table's conn_migrate_snapshots: what this host's Begin kept. */
gboolean qemu_conn_migrate_snapshots(ferry_conn *conn, const char *id, const char *token,
                                     GPtrArray **ret_docs, GError **error);

G_END_DECLS
