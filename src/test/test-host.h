/*
 * test-host.h: what the test driver's files share: the simulated host, the
 * process-wide registry of hosts, and the migration entries of the driver
 * table (test-migrate.c).
 *
 * Owns nothing by itself: test-driver.c owns hosts and the registry,
 * test-migrate.c the migration phases.  Must not be included outside
 * src/test/.
 */
#pragma once

#include "driver/event-bus.h"
#include "driver/domain-obj.h"
#include "driver/snapshot-list.h"
#include "migration/migration-engine.h"
#include "test/test-driver.h"

G_BEGIN_DECLS

/*
 * test_host: one simulated host.  Connections share it: the first open of
 * a host uuid creates it, later opens of the same uuid (URI parameter
 * host_uuid=) reach it, and it goes when the last connection closes.
 * Immutable after creation except through its own locks.
 */
typedef struct {
    gint ref;                       /* atomic, changed under the registry lock */
    char *host_uuid;
    char *hostname;
    int migration;                  /* highest protocol offered: 3, 2, 1 or 0 */
    char *fail;                     /* phase that fails (URI fail=), or NULL */
    char *hold;                     /* phase that waits for a job-info reader, or NULL */
    gboolean nbd;                   /* offers storage migration (URI nbd=yes) */
    char *state_dir;                /* where the engine keeps job records (URI state_dir=),
                                     * or NULL: none */
    guint abandon_seconds;          /* URI abandon_timeout=, 0: the engine's default */
    char *local_storage;            /* URI local_storage=: disks on this host's own storage */
    char *block_job;                /* URI block_job=: the disk a block job runs on */
    ferry_domain_obj_list *domains;
    ferry_event_bus *bus;
    ferry_mig_engine *engine;       /* the host's migrations */
    GMutex lock;                    /* guards record */
    ferry_test_storage_record *record; /* what the v3 phases last got, or NULL */
    ferry_snapshot_store *snapshots;   /* the domains' snapshot metadata (test-snapshot.c) */
    gboolean snapshots_migrate;     /* migrations carry snapshot metadata (URI snapshots=) */
    char *snapshot_stream;          /* URI snapshot_stream=: how the snapshots it hands over
                                     * are spoilt (tests), or NULL */
} test_host;

/**
 * test_host_of:
 * @conn: a test driver connection
 *
 * Returns: (transfer none): its host.
 */
test_host *test_host_of(ferry_conn *conn);

/**
 * test_host_find:
 * @uuid: a host uuid (lower case)
 *
 * Returns: (transfer full) (nullable): the host of this process with that
 *   uuid; release it with test_host_unref().
 */
test_host *test_host_find(const char *uuid);

/**
 * test_host_unref:
 * @host: (nullable): a host
 *
 * Drops a reference; the last one removes the host from the registry and
 * frees it with its domains.
 */
void test_host_unref(test_host *host);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(test_host, test_host_unref)

/* The migration engine's backend of simulated hosts (test-migrate.c). */
extern const ferry_mig_backend ferry_test_mig_backend;

/* The migration entries of the test driver table (test-migrate.c). */
void test_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
void test_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                                const char *dom_xml, const char *cookie_in,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
void test_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                                  const char *dconn_uri, const char *cookie_in,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
void test_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                               const char *dname, const char *cookie_in, gboolean cancelled,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
void test_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                                  const char *cookie_in, int outcome,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
void test_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                                const char *dom_xml, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
void test_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                                 const char *cookie_in, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
void test_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                               const char *dname, const char *cookie_in, gboolean ok,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
void test_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
void test_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                              const char *dname, const char *cookie_in,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);
gboolean test_domain_get_job_stats(ferry_domain *dom, guint flags, ferry_job_info *ret_info,
                                   GError **error);
void test_domain_abort_job(ferry_domain *dom, guint flags, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
gboolean test_domain_migrate_set_tunable(ferry_domain *dom, int tunable, guint64 value,
                                         GError **error);
gboolean test_domain_migrate_get_tunable(ferry_domain *dom, int tunable, guint64 *ret_value,
                                         GError **error);
void test_conn_migrate_query(ferry_conn *dconn, const char *id, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
void test_conn_migrate_cancel(ferry_conn *dconn, const char *id, const char *reason,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);

/**
 * ferry_test_mig_backend_without_snapshots:
 *
 * Returns: (transfer none): the test backend (ferry_test_mig_backend)
 *   without snapshot operations
 *   operations: a host whose migrations carry no snapshot metadata (URI
 *   snapshots=no).
 */
const ferry_mig_backend *ferry_test_mig_backend_without_snapshots(void);
/** ferry_test_mig_backend_with_snapshots: Returns: (transfer none): the
 * whole test backend, snapshot operations included. */
const ferry_mig_backend *ferry_test_mig_backend_with_snapshots(void);

/* The snapshot entries of the test driver table (test-snapshot.c). */
char *test_domain_snapshot_create_xml(ferry_domain *dom, const char *xml, guint flags,
                                      GError **error);
gboolean test_domain_snapshot_list(ferry_domain *dom, guint flags, GPtrArray **ret_snapshots,
                                   GError **error);
char *test_domain_snapshot_get_xml(ferry_domain *dom, const char *name, guint flags,
                                   GError **error);
char *test_domain_snapshot_current(ferry_domain *dom, GError **error);
gboolean test_domain_snapshot_revert(ferry_domain *dom, const char *name, guint flags,
                                     GError **error);
gboolean test_conn_migrate_snapshots(ferry_conn *conn, const char *id, const char *token,
                                     GPtrArray **ret_docs, GError **error);
gboolean test_domain_snapshot_delete(ferry_domain *dom, const char *name, guint flags,
                                     GError **error);

G_END_DECLS
