/*
 * test-rpc-migrate.c: migration through two daemons: two dispatches and two
 * RPC servers in this process, each serving the test driver on its own
 * socket, reached with test+unix:///NAME?socket=... URIs.  The same
 * sequences as tests/api/test-migrate.c, but every phase crosses the wire;
 * plus job information read on the source's connection while another
 * thread waits in Perform, and peer-to-peer run by the source daemon.
 * Storage migration parameters make the round trip through both daemons:
 * the test driver records what its phases received.
 */
#include "ferry-config.h"

#include <string.h>

#include "daemon/dispatch.h"
#include "migrate-test-util.h"
#include "rpc-test-util.h"
#include "test/test-driver.h"

#define DST_UUID "8b1d2f60-2c4e-4e0a-9f3b-6d5c4b3a2918"
#define SRC_UUID "c4a1e2d3-9b8f-4e7a-8d6c-5b4a39281706"

static const ferry_driver *const daemon_drivers[] = { &ferry_test_driver, NULL };

typedef struct {
    ferry_dispatch *dispatch[2];
    test_server *ts[2];             /* 0: source daemon, 1: destination daemon */
} daemons;

static void
daemons_start(daemons *f, gconstpointer data)
{
    test_log_clear();
    for (int i = 0; i < 2; i++) {
        ferry_rpc_server_config config = { 0 };

        f->dispatch[i] = ferry_dispatch_new(daemon_drivers);
        ferry_dispatch_configure(f->dispatch[i], &config);
        f->ts[i] = test_server_start(&config);
    }
}

static void
daemons_stop(daemons *f, gconstpointer data)
{
    for (int i = 0; i < 2; i++) {
        test_server_stop(f->ts[i]);
        ferry_dispatch_free(f->dispatch[i]);
    }
    /* Nothing here is a reason for a daemon to warn. */
    g_assert_cmpuint(test_log_count(""), ==, 0);
}

/* The URI of test host @name on daemon @i, with extra parameters. */
static char *
daemon_uri(daemons *f, int i, const char *name, const char *params)
{
    return g_strdup_printf("test+unix:///%s?socket=%s%s%s", name,
                           test_server_socket(f->ts[i]), params ? "&" : "",
                           params ? params : "");
}

static ferry_conn *
open_on(daemons *f, int i, const char *name, const char *params)
{
    g_autofree char *uri = daemon_uri(f, i, name, params);

    return mt_conn_open(uri);
}

static void
test_v3(daemons *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = open_on(f, 0, "src", NULL);
    g_autoptr(ferry_conn) dst = open_on(f, 1, "dst", NULL);
    g_autoptr(ferry_domain) dom = mt_domain_start(src, mt_web1_xml);
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_migrate_params params = { .flags = FERRY_MIGRATE_LIVE | FERRY_MIGRATE_PERSIST_DEST,
                                    .dname = "web2" };
    ferry_migrate_stats stats = { 0 };
    ferry_job_info info = { 0 };

    ddom = ferry_domain_migrate(dom, dst, &params, &stats, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ferry_domain_get_name(ddom), ==, "web2");
    g_assert_true(ferry_domain_get_conn(ddom) == dst);
    g_assert_cmpint(stats.protocol, ==, 3);
    g_assert_cmpuint(stats.data_total, ==, 64 * 1024 * 1024);
    g_assert_cmpint(stats.downtime_ms, >, 0);
    mt_assert_state(dst, "web2", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
    mt_assert_state(src, "web1", FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_MIGRATED);
    g_assert_true(ferry_domain_get_job_stats(ddom, FERRY_JOB_STATS_COMPLETED, &info, &error));
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_COMPLETED);
    g_assert_cmpuint(info.mem_total, ==, 64 * 1024 * 1024);
}

static void
test_fallback(daemons *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = open_on(f, 0, "src", NULL);
    g_autoptr(ferry_conn) dst2 = open_on(f, 1, "dst2", "migration=v2");
    g_autoptr(ferry_conn) dst1 = open_on(f, 1, "dst1", "migration=v1");
    g_autoptr(ferry_domain) dom = mt_domain_start(src, mt_web1_xml);
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(ferry_domain) back = NULL;
    ferry_migrate_stats stats = { 0 };
    gboolean supported = TRUE;

    /* The daemon's answer, forwarded. */
    g_assert_true(ferry_conn_supports_feature(dst1, FERRY_FEATURE_MIGRATION_V3, &supported,
                                              &error));
    g_assert_false(supported);
    g_assert_true(ferry_conn_supports_feature(dst1, FERRY_FEATURE_MIGRATION_V1, &supported,
                                              &error));
    g_assert_true(supported);

    ddom = ferry_domain_migrate(dom, dst2, NULL, &stats, &error);
    g_assert_no_error(error);
    g_assert_cmpint(stats.protocol, ==, 2);
    mt_assert_state(dst2, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
    mt_assert_state(src, "web1", FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_MIGRATED);

    back = ferry_domain_migrate(ddom, dst1, NULL, &stats, &error);
    g_assert_no_error(error);
    g_assert_cmpint(stats.protocol, ==, 1);
    mt_assert_state(dst1, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
    g_assert_cmpuint(mt_count_domains(dst2), ==, 0);
}

static void
test_fault(daemons *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = open_on(f, 0, "src", "fail=perform");
    g_autoptr(ferry_conn) dst = open_on(f, 1, "dst", "fail=finish");
    g_autoptr(ferry_domain) dom = mt_domain_start(src, mt_web1_xml);
    g_autoptr(ferry_domain) ddom = NULL;

    ddom = ferry_domain_migrate(dom, dst, NULL, NULL, &error);
    g_assert_null(ddom);
    /* Perform's error, with its code and words, across the wire. */
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED);
    g_assert_cmpstr(error->message, ==, "injected failure in perform on host 'test-src'");
    mt_assert_state(src, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATION_CANCELED);
    g_assert_cmpuint(mt_count_domains(dst), ==, 0);
}

/*
 * hold=perform makes the source daemon's Perform wait until the job's
 * information is read: the reading call runs on the same connection as the
 * Perform in flight, from another thread.
 */
static void
test_job_info_during_perform(daemons *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = open_on(f, 0, "src", "hold=perform");
    g_autoptr(ferry_conn) dst = open_on(f, 1, "dst", NULL);
    g_autoptr(ferry_domain) dom = mt_domain_start(src, mt_web1_xml);
    g_autoptr(ferry_domain) ddom = NULL;
    mt_migration *m = mt_migration_start(dom, dst, NULL);
    ferry_job_info info = { 0 };

    mt_migration_wait_progress(m);
    g_assert_true(ferry_domain_get_job_info(dom, &info, &error));
    g_assert_no_error(error);
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_ACTIVE);
    g_assert_cmpstr(info.phase, ==, "perform");
    g_assert_cmpint(info.elapsed_ms, >=, 0);
    g_assert_cmpuint(info.mem_total, ==, 64 * 1024 * 1024);

    ddom = mt_migration_finish(m, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ddom);
    mt_assert_state(dst, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
}

/* The source daemon runs the sequence, reaching the destination daemon
 * itself. */
static void
test_p2p(daemons *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = open_on(f, 0, "src", NULL);
    g_autoptr(ferry_conn) dst = open_on(f, 1, "dst", "host_uuid=" DST_UUID);
    g_autoptr(ferry_domain) dom = mt_domain_start(src, mt_web1_xml);
    g_autofree char *dconn_uri = daemon_uri(f, 1, "dst", "host_uuid=" DST_UUID);
    ferry_migrate_stats stats = { 0 };

    ferry_domain_migrate_to_uri(dom, dconn_uri, NULL, &stats, &error);
    g_assert_no_error(error);
    g_assert_cmpint(stats.protocol, ==, 3);
    g_assert_cmpuint(stats.data_transferred, ==, 64 * 1024 * 1024);
    mt_assert_state(dst, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
    mt_assert_state(src, "web1", FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_MIGRATED);
}

/*
 * migrate_disks and disks_port cross the wire to both daemons: the source
 * daemon's Begin and the destination daemon's Prepare record what they
 * got; with no list, NULL arrives (every writable disk).
 */
static void
test_storage_params(daemons *f, gconstpointer data)
{
    static const char *const vdb_vda[] = { "vdb", "vda", NULL };
    static const char *const vdz[] = { "vdz", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = open_on(f, 0, "src", "host_uuid=" SRC_UUID "&nbd=yes");
    g_autoptr(ferry_conn) dst = open_on(f, 1, "dst", "host_uuid=" DST_UUID "&nbd=yes");
    g_autoptr(ferry_domain) dom = mt_domain_start(src, mt_web1_disks_xml);
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(ferry_domain) back = NULL;
    g_autoptr(ferry_test_storage_record) srec = NULL;
    g_autoptr(ferry_test_storage_record) drec = NULL;
    ferry_migrate_params params = { .flags = FERRY_MIGRATE_NON_SHARED_DISK,
                                    .migrate_disks = vdz, .disks_port = 10900 };
    ferry_migrate_stats stats = { 0 };
    gboolean supported = FALSE;

    g_assert_true(ferry_conn_supports_feature(dst, FERRY_FEATURE_MIGRATION_NBD, &supported,
                                              &error));
    g_assert_true(supported);
    /* The source daemon's refusal, with its code and words. */
    g_assert_null(ferry_domain_migrate(dom, dst, &params, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "domain 'web1' has no disk 'vdz'");
    g_clear_error(&error);
    g_assert_cmpuint(mt_count_domains(dst), ==, 0);

    params.migrate_disks = vdb_vda;
    ddom = ferry_domain_migrate(dom, dst, &params, &stats, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ddom);
    g_assert_cmpuint(stats.disk_total, ==, 2 * 16 * 1024 * 1024);
    g_assert_cmpuint(stats.disk_transferred, ==, 2 * 16 * 1024 * 1024);
    srec = ferry_test_driver_storage_record(SRC_UUID);
    drec = ferry_test_driver_storage_record(DST_UUID);
    g_assert_nonnull(srec);
    g_assert_nonnull(drec);
    g_assert_cmphex(srec->flags, ==, FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_LIVE);
    mt_assert_strv(srec->migrate_disks, vdb_vda);
    g_assert_cmpuint(srec->disks_port, ==, 10900);
    mt_assert_strv(srec->disks, vdb_vda);
    g_assert_cmphex(drec->flags, ==, FERRY_MIGRATE_NON_SHARED_DISK | FERRY_MIGRATE_LIVE);
    mt_assert_strv(drec->migrate_disks, vdb_vda);
    g_assert_cmpuint(drec->disks_port, ==, 10900);
    mt_assert_strv(drec->disks, vdb_vda);
    g_assert_cmpuint(drec->nbd_port, ==, 10900);
    g_clear_pointer(&srec, ferry_test_storage_record_free);
    g_clear_pointer(&drec, ferry_test_storage_record_free);

    /* Back, incremental, no list and no port: absent on the wire. */
    params = (ferry_migrate_params){ .flags = FERRY_MIGRATE_NON_SHARED_INC };
    back = ferry_domain_migrate(ddom, src, &params, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(back);
    srec = ferry_test_driver_storage_record(SRC_UUID);
    drec = ferry_test_driver_storage_record(DST_UUID);
    g_assert_cmphex(drec->flags, ==, FERRY_MIGRATE_NON_SHARED_INC | FERRY_MIGRATE_LIVE);
    g_assert_null(drec->migrate_disks);
    g_assert_cmpuint(drec->disks_port, ==, 0);
    mt_assert_strv(drec->disks, (const char *const[]){ "vda", "vdb", NULL });
    g_assert_null(srec->migrate_disks);
    g_assert_cmpuint(srec->disks_port, ==, 0);
    g_assert_cmpuint(srec->nbd_port, ==, 10809);
    mt_assert_state(src, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
}

/* Peer-to-peer: the source daemon asks the destination daemon about NBD,
 * and the parameters travel on from it. */
static void
test_storage_p2p(daemons *f, gconstpointer data)
{
    static const char *const vda[] = { "vda", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = open_on(f, 0, "src", "nbd=yes");
    g_autoptr(ferry_conn) plain = open_on(f, 1, "plain", "host_uuid=" SRC_UUID);
    g_autoptr(ferry_conn) dst = open_on(f, 1, "dst", "host_uuid=" DST_UUID "&nbd=yes");
    g_autoptr(ferry_domain) dom = mt_domain_start(src, mt_web1_disks_xml);
    g_autofree char *plain_uri = daemon_uri(f, 1, "plain", "host_uuid=" SRC_UUID);
    g_autofree char *dst_uri = daemon_uri(f, 1, "dst", "host_uuid=" DST_UUID "&nbd=yes");
    g_autoptr(ferry_test_storage_record) drec = NULL;
    ferry_migrate_params params = { .flags = FERRY_MIGRATE_NON_SHARED_DISK,
                                    .migrate_disks = vda, .disks_port = 10901 };

    g_assert_false(ferry_domain_migrate_to_uri(dom, plain_uri, &params, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    /* The URI as the connection spells it (parameters in its order). */
    g_assert_true(g_str_has_prefix(error->message, "peer-to-peer migration: destination "
                                   "'test+unix:///plain?"));
    g_assert_true(g_str_has_suffix(error->message,
                                   "' does not offer storage migration over NBD"));
    g_clear_error(&error);
    mt_assert_state(src, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED);

    g_assert_true(ferry_domain_migrate_to_uri(dom, dst_uri, &params, NULL, &error));
    g_assert_no_error(error);
    drec = ferry_test_driver_storage_record(DST_UUID);
    g_assert_nonnull(drec);
    mt_assert_strv(drec->migrate_disks, vda);
    mt_assert_strv(drec->disks, vda);
    g_assert_cmpuint(drec->nbd_port, ==, 10901);
    mt_assert_state(dst, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_init();
#define ADD(path, func) g_test_add(path, daemons, NULL, daemons_start, func, daemons_stop)
    ADD("/rpc-migrate/v3", test_v3);
    ADD("/rpc-migrate/fallback", test_fallback);
    ADD("/rpc-migrate/fault", test_fault);
    ADD("/rpc-migrate/job-info-during-perform", test_job_info_during_perform);
    ADD("/rpc-migrate/p2p", test_p2p);
    ADD("/rpc-migrate/storage-params", test_storage_params);
    ADD("/rpc-migrate/storage-p2p", test_storage_p2p);
#undef ADD
    return g_test_run();
}
