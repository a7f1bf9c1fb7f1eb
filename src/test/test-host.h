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

#include "api/event-bus.h"
#include "driver/domain-obj.h"
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
    ferry_domain_obj_list *domains;
    ferry_event_bus *bus;
    GMutex lock;                    /* guards pending_v1 and record */
    GHashTable *pending_v1;         /* ids of v1 migrations Prepare announced */
    ferry_test_storage_record *record; /* what the v3 phases last got, or NULL */
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

/* The migration entries of the test driver table (test-migrate.c). */
char *test_domain_migrate_begin3(ferry_domain *dom, const ferry_migrate_params *params,
                                 char **ret_cookie_out, GError **error);
gboolean test_conn_migrate_prepare3(ferry_conn *dconn, const ferry_migrate_params *params,
                                    const char *dom_xml, const char *cookie_in,
                                    char **ret_cookie_out, char **ret_uri_out,
                                    GError **error);
gboolean test_domain_migrate_perform3(ferry_domain *dom, const ferry_migrate_params *params,
                                      const char *dconn_uri, const char *cookie_in,
                                      char **ret_cookie_out, GError **error);
ferry_domain *test_conn_migrate_finish3(ferry_conn *dconn, const ferry_migrate_params *params,
                                        const char *dname, const char *cookie_in,
                                        char **ret_cookie_out, gboolean cancelled,
                                        GError **error);
gboolean test_domain_migrate_confirm3(ferry_domain *dom, const ferry_migrate_params *params,
                                      const char *cookie_in, gboolean cancelled,
                                      GError **error);
gboolean test_conn_migrate_prepare2(ferry_conn *dconn, const ferry_migrate_params *params,
                                    const char *dom_xml, char **ret_cookie_out,
                                    char **ret_uri_out, GError **error);
gboolean test_domain_migrate_perform(ferry_domain *dom, const ferry_migrate_params *params,
                                     const char *cookie_in, GError **error);
ferry_domain *test_conn_migrate_finish2(ferry_conn *dconn, const ferry_migrate_params *params,
                                        const char *dname, const char *cookie_in,
                                        gboolean ok, GError **error);
gboolean test_conn_migrate_prepare(ferry_conn *dconn, const ferry_migrate_params *params,
                                   char **ret_cookie_out, char **ret_uri_out,
                                   GError **error);
ferry_domain *test_conn_migrate_finish(ferry_conn *dconn, const ferry_migrate_params *params,
                                       const char *dname, const char *cookie_in,
                                       GError **error);
gboolean test_domain_get_job_info(ferry_domain *dom, ferry_job_info *ret_info,
                                  GError **error);

G_END_DECLS
