/*
 * test-migrate-storage.c: storage migration (FERRY_MIGRATE_NON_SHARED_*)
 * between two in-process test hosts: the parameter rules of the API, the
 * NBD negotiation (both hosts must offer it, protocol v3), and what the
 * test driver's phases received, read back from its per-host record.
 *
 * The test driver copies nothing: with nbd=yes it checks the disks asked
 * for against the domain, lists them in the cookies, counts each as
 * 16 MiB and records them (ferry_test_driver_storage_record()).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "api/migrate-internal.h"
#include "migrate-test-util.h"
#include "test/test-driver.h"

#define SRC_UUID "0d9b7c44-1f6e-4a53-8c2d-7e6f5a4b3c21"
#define DST_UUID "5e0c9a54-7a43-4f2b-8d35-0a2b7c6f9e11"
#define DISK_BYTES (16 * 1024 * 1024)

#define NBD "nbd=yes"
#define SRC_NBD "host_uuid=" SRC_UUID "&nbd=yes"
#define DST_NBD "host_uuid=" DST_UUID "&nbd=yes"

typedef struct {
    ferry_conn *src;
    ferry_conn *dst;
    ferry_domain *dom;
} hosts;

/* web1 with disks vda, vdb and read-only vdc runs on "src". */
static void
hosts_open(hosts *h, const char *src_params, const char *dst_params)
{
    h->src = mt_open_test_host("src", src_params);
    h->dst = mt_open_test_host("dst", dst_params);
    h->dom = mt_domain_start(h->src, mt_web1_disks_xml);
}

static void
hosts_close(hosts *h)
{
    ferry_domain_unref(h->dom);
    ferry_conn_unref(h->src);
    ferry_conn_unref(h->dst);
}

/* The domain still runs on the source, as it was, and the destination
 * has nothing. */
static void
assert_untouched(hosts *h)
{
    g_autoptr(GError) error = NULL;
    ferry_domain_info info = { 0 };

    g_assert_true(ferry_domain_get_info(h->dom, &info, &error));
    g_assert_no_error(error);
    g_assert_cmpint(info.state, ==, FERRY_DOMAIN_RUNNING);
    g_assert_cmpint(info.reason, ==, FERRY_RUNNING_BOOTED);
    g_assert_cmpuint(mt_count_domains(h->dst), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* Refusals: a descriptor per case                                           */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *path;
    const char *src_params;
    const char *dst_params;
    guint flags;
    const char *const *disks;
    guint port;
    int error_code;
    const char *error_text;     /* a substring of the message */
} refusal;

static const char *const vda[] = { "vda", NULL };
static const char *const vdz[] = { "vda", "vdz", NULL };
static const char *const twice[] = { "vda", "vdb", "vda", NULL };
static const char *const upper[] = { "VDA", NULL };
static const char *const digit_first[] = { "1vd", NULL };
static const char *const empty_name[] = { "", NULL };
static const char *const none[] = { NULL };
/* One byte longer than FERRY_MIGRATE_DISK_TARGET_MAX. */
static const char *const too_long[] = { "vdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL };

#define COPY FERRY_MIGRATE_NON_SHARED_DISK
#define INC FERRY_MIGRATE_NON_SHARED_INC

static const refusal refusals[] = {
    /* NBD negotiation: the message names the host that lacks it. */
    { "/migrate-storage/refuse/dst-lacks-nbd", NBD, NULL, COPY, NULL, 0,
      FERRY_ERROR_NO_SUPPORT,
      "migration of domain 'web1': storage migration needs NBD on both hosts: "
      "host 'test:///dst' does not offer it" },
    { "/migrate-storage/refuse/src-lacks-nbd", "nbd=no", NBD, INC, vda, 0,
      FERRY_ERROR_NO_SUPPORT,
      "storage migration needs NBD on both hosts: host 'test:///src?nbd=no' does not "
      "offer it" },
    { "/migrate-storage/refuse/v2", NBD, "nbd=yes&migration=v2", COPY, NULL, 0,
      FERRY_ERROR_NO_SUPPORT,
      "storage migration needs protocol v3, but the best both hosts offer is v2" },
    /* Parameter rules. */
    { "/migrate-storage/refuse/both-flags", NBD, NBD, COPY | INC, NULL, 0,
      FERRY_ERROR_INVALID_ARG,
      "params->flags: FERRY_MIGRATE_NON_SHARED_DISK (copy whole disks) and "
      "FERRY_MIGRATE_NON_SHARED_INC (copy top images) exclude each other" },
    { "/migrate-storage/refuse/disks-without-flag", NBD, NBD, 0, vda, 0,
      FERRY_ERROR_INVALID_ARG,
      "migration of domain 'web1': params->migrate_disks is only for storage migration: "
      "it needs FERRY_MIGRATE_NON_SHARED_DISK or FERRY_MIGRATE_NON_SHARED_INC" },
    { "/migrate-storage/refuse/port-without-flag", NBD, NBD, FERRY_MIGRATE_LIVE, NULL, 10900,
      FERRY_ERROR_INVALID_ARG, "params->disks_port is only for storage migration" },
    { "/migrate-storage/refuse/port-too-big", NBD, NBD, COPY, NULL, 65536,
      FERRY_ERROR_INVALID_ARG,
      "params->disks_port: 65536 is not a TCP port (1 to 65535, or 0 to let the "
      "destination choose)" },
    { "/migrate-storage/refuse/empty-list", NBD, NBD, COPY, none, 0, FERRY_ERROR_INVALID_ARG,
      "params->migrate_disks is empty (NULL copies every disk that is not read-only)" },
    { "/migrate-storage/refuse/twice", NBD, NBD, COPY, twice, 0, FERRY_ERROR_INVALID_ARG,
      "params->migrate_disks names disk 'vda' twice" },
    { "/migrate-storage/refuse/upper-case", NBD, NBD, COPY, upper, 0, FERRY_ERROR_INVALID_ARG,
      "params->migrate_disks: 'VDA' is not a disk target such as 'vda'" },
    { "/migrate-storage/refuse/digit-first", NBD, NBD, COPY, digit_first, 0,
      FERRY_ERROR_INVALID_ARG, "params->migrate_disks: '1vd' is not a disk target" },
    { "/migrate-storage/refuse/empty-name", NBD, NBD, COPY, empty_name, 0,
      FERRY_ERROR_INVALID_ARG, "params->migrate_disks: '' is not a disk target" },
    { "/migrate-storage/refuse/long-name", NBD, NBD, COPY, too_long, 0,
      FERRY_ERROR_INVALID_ARG, "params->migrate_disks: a target of 33 bytes is longer than a "
      "disk target may be (32)" },
    { "/migrate-storage/refuse/offline", NBD, NBD,
      COPY | FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_PERSIST_DEST, NULL, 0,
      FERRY_ERROR_INVALID_ARG, "FERRY_MIGRATE_OFFLINE cannot copy disks" },
    /* The driver's checks against the domain. */
    { "/migrate-storage/refuse/unknown-disk", NBD, NBD, COPY, vdz, 0, FERRY_ERROR_INVALID_ARG,
      "domain 'web1' has no disk 'vdz'" },
};

static void
run_refusal(gconstpointer data)
{
    const refusal *c = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_migrate_params params = {
        .flags = c->flags, .migrate_disks = c->disks, .disks_port = c->port,
    };
    hosts h;

    hosts_open(&h, c->src_params, c->dst_params);
    ddom = ferry_domain_migrate(h.dom, h.dst, &params, NULL, &error);
    g_assert_null(ddom);
    g_assert_error(error, FERRY_ERROR, c->error_code);
    if (!strstr(error->message, c->error_text))
        g_error("error '%s' lacks '%s'", error->message, c->error_text);
    assert_untouched(&h);
    hosts_close(&h);
}

/* More disks than a migration copies (FERRY_MIGRATE_DISKS_MAX): refused
 * before anything moves. */
static void
test_too_many_disks(void)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_migrate_params params = { .flags = COPY };
    hosts h;

    for (guint i = 0; i <= FERRY_MIGRATE_DISKS_MAX; i++)
        g_ptr_array_add(names, g_strdup_printf("vd%u", i));
    g_ptr_array_add(names, NULL);
    params.migrate_disks = (const char *const *)names->pdata;
    hosts_open(&h, NBD, NBD);
    ddom = ferry_domain_migrate(h.dom, h.dst, &params, NULL, &error);
    g_assert_null(ddom);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "params->migrate_disks names more than 256 disks, "
                            "the most a migration copies"));
    assert_untouched(&h);
    hosts_close(&h);
}

/* ------------------------------------------------------------------------ */
/* Storage migrations that succeed                                           */
/* ------------------------------------------------------------------------ */

/* The disks named travel to the port asked for; the records of both
 * hosts say what their phases got. */
static void
test_named_disks(void)
{
    static const char *const vdb[] = { "vdb", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(ferry_test_storage_record) src = NULL;
    g_autoptr(ferry_test_storage_record) dst = NULL;
    ferry_migrate_params params = {
        .flags = FERRY_MIGRATE_LIVE | COPY, .migrate_disks = vdb, .disks_port = 10900,
    };
    ferry_migrate_stats stats = { 0 };
    ferry_job_info info = { 0 };
    hosts h;

    hosts_open(&h, SRC_NBD, DST_NBD);
    ddom = ferry_domain_migrate(h.dom, h.dst, &params, &stats, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ddom);
    g_assert_cmpint(stats.protocol, ==, 3);
    g_assert_cmpuint(stats.disk_total, ==, DISK_BYTES);
    g_assert_cmpuint(stats.disk_transferred, ==, DISK_BYTES);
    g_assert_cmpuint(stats.data_total, ==, 64 * 1024 * 1024);
    g_assert_true(ferry_domain_get_job_stats(h.dom, FERRY_JOB_STATS_COMPLETED, &info, &error));
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_COMPLETED);
    g_assert_cmpuint(info.disk_total, ==, DISK_BYTES);
    g_assert_cmpuint(info.disk_remaining, ==, 0);

    src = ferry_test_driver_storage_record(SRC_UUID);
    g_assert_nonnull(src);
    g_assert_cmphex(src->flags, ==, params.flags);
    mt_assert_strv(src->migrate_disks, vdb);
    g_assert_cmpuint(src->disks_port, ==, 10900);
    mt_assert_strv(src->disks, vdb);
    g_assert_cmpuint(src->nbd_port, ==, 0);

    dst = ferry_test_driver_storage_record(DST_UUID);
    g_assert_nonnull(dst);
    g_assert_cmphex(dst->flags, ==, params.flags);
    mt_assert_strv(dst->migrate_disks, vdb);
    g_assert_cmpuint(dst->disks_port, ==, 10900);
    mt_assert_strv(dst->disks, vdb);
    g_assert_cmpuint(dst->nbd_port, ==, 10900);
    hosts_close(&h);
}

/* A read-only disk is copied when named (as libvirt does). */
static void
test_read_only_named(void)
{
    static const char *const vdc[] = { "vdc", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(ferry_test_storage_record) dst = NULL;
    ferry_migrate_params params = { .flags = INC, .migrate_disks = vdc };
    ferry_migrate_stats stats = { 0 };
    hosts h;

    hosts_open(&h, NBD, DST_NBD);
    ddom = ferry_domain_migrate(h.dom, h.dst, &params, &stats, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(stats.disk_total, ==, DISK_BYTES);
    dst = ferry_test_driver_storage_record(DST_UUID);
    g_assert_nonnull(dst);
    mt_assert_strv(dst->disks, vdc);
    hosts_close(&h);
}

/* No list: every disk that is not read-only; the destination picks the
 * port. */
static void
test_default_disks(void)
{
    static const char *const writable[] = { "vda", "vdb", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    g_autoptr(ferry_test_storage_record) src = NULL;
    g_autoptr(ferry_test_storage_record) dst = NULL;
    ferry_migrate_params params = { .flags = INC };
    ferry_migrate_stats stats = { 0 };
    hosts h;

    hosts_open(&h, SRC_NBD, DST_NBD);
    ddom = ferry_domain_migrate(h.dom, h.dst, &params, &stats, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(stats.disk_total, ==, 2 * DISK_BYTES);
    src = ferry_test_driver_storage_record(SRC_UUID);
    dst = ferry_test_driver_storage_record(DST_UUID);
    g_assert_nonnull(src);
    g_assert_nonnull(dst);
    /* The default flags (LIVE) were added by the API. */
    g_assert_cmphex(src->flags, ==, INC | FERRY_MIGRATE_LIVE);
    g_assert_null(src->migrate_disks);
    g_assert_cmpuint(src->disks_port, ==, 0);
    mt_assert_strv(src->disks, writable);
    mt_assert_strv(dst->disks, writable);
    g_assert_cmpuint(dst->nbd_port, ==, 10809);
    hosts_close(&h);
}

/* Peer-to-peer: the client asks the source; the source asks the
 * destination before Begin. */
static void
test_p2p(void)
{
    static const char *const vda_vdb[] = { "vda", "vdb", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) plain = mt_open_test_host("plain", "host_uuid=" SRC_UUID);
    g_autoptr(ferry_test_storage_record) dst = NULL;
    ferry_migrate_params params = { .flags = COPY, .migrate_disks = vda_vdb };
    ferry_migrate_stats stats = { 0 };
    hosts h;

    hosts_open(&h, NBD, DST_NBD);
    /* A destination without NBD, found by the source "daemon". */
    g_assert_false(ferry_domain_migrate_to_uri(h.dom, "test:///plain?host_uuid=" SRC_UUID,
                                               &params, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_assert_cmpstr(error->message, ==,
                    "peer-to-peer migration: destination 'test:///plain?host_uuid=" SRC_UUID
                    "' does not offer storage migration over NBD");
    g_clear_error(&error);
    assert_untouched(&h);

    g_assert_true(ferry_domain_migrate_to_uri(h.dom, "test:///dst?host_uuid=" DST_UUID,
                                              &params, &stats, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(stats.disk_total, ==, 2 * DISK_BYTES);
    g_assert_cmpuint(stats.disk_transferred, ==, 2 * DISK_BYTES);
    dst = ferry_test_driver_storage_record(DST_UUID);
    g_assert_nonnull(dst);
    mt_assert_strv(dst->migrate_disks, vda_vdb);
    mt_assert_strv(dst->disks, vda_vdb);
    g_assert_cmpuint(mt_count_domains(h.dst), ==, 1);
    hosts_close(&h);
}

static void
test_p2p_source_lacks_nbd(void)
{
    g_autoptr(GError) error = NULL;
    ferry_migrate_params params = { .flags = COPY };
    hosts h;

    hosts_open(&h, NULL, DST_NBD);
    g_assert_false(ferry_domain_migrate_to_uri(h.dom, "test:///dst?host_uuid=" DST_UUID,
                                               &params, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_assert_cmpstr(error->message, ==,
                    "peer-to-peer migration of domain 'web1': storage migration needs NBD "
                    "on both hosts: host 'test:///src' does not offer it");
    assert_untouched(&h);
    hosts_close(&h);
}

/* ------------------------------------------------------------------------ */
/* Job information while the disks are "copied"                              */
/* ------------------------------------------------------------------------ */

static void
test_job_info_during_perform(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_migrate_params params = { .flags = COPY };
    ferry_job_info info = { 0 };
    mt_migration *m;
    hosts h;

    hosts_open(&h, "hold=perform&" NBD, NBD);
    m = mt_migration_start(h.dom, h.dst, &params);
    mt_migration_wait_progress(m);

    g_assert_true(ferry_domain_get_job_info(h.dom, &info, &error));
    g_assert_no_error(error);
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_ACTIVE);
    g_assert_cmpstr(info.phase, ==, "perform");
    g_assert_cmpuint(info.disk_total, ==, 2 * DISK_BYTES);
    g_assert_cmpuint(info.disk_processed, ==, 0);
    g_assert_cmpuint(info.disk_remaining, ==, 2 * DISK_BYTES);
    ddom = mt_migration_finish(m, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ddom);
    hosts_close(&h);
}

/* ------------------------------------------------------------------------ */
/* The test driver's own rules                                               */
/* ------------------------------------------------------------------------ */

static void
test_feature_and_uri(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) plain = mt_open_test_host("plain", NULL);
    g_autoptr(ferry_conn) nbd = mt_open_test_host("nbd", "host_uuid=" DST_UUID "&nbd=yes");
    g_autoptr(ferry_conn) again = NULL;
    g_autoptr(ferry_conn) bad = NULL;
    gboolean supported = TRUE;

    g_assert_true(ferry_conn_supports_feature(plain, FERRY_FEATURE_MIGRATION_NBD, &supported,
                                              &error));
    g_assert_false(supported);
    g_assert_true(ferry_conn_supports_feature(nbd, FERRY_FEATURE_MIGRATION_NBD, &supported,
                                              &error));
    g_assert_true(supported);
    bad = ferry_conn_open("test:///x?nbd=maybe", &error);
    g_assert_null(bad);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
    g_assert_nonnull(strstr(error->message, "nbd 'maybe' is not one of yes, no"));
    g_clear_error(&error);
    again = ferry_conn_open("test:///y?host_uuid=" DST_UUID "&nbd=no", &error);
    g_assert_null(again);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
    g_assert_nonnull(strstr(error->message, "already exists with nbd=yes, not no"));
    g_clear_error(&error);
    /* No phase ran on a host: no record. */
    g_assert_null(ferry_test_driver_storage_record(DST_UUID));
    g_assert_null(ferry_test_driver_storage_record("00000000-0000-4000-8000-000000000000"));
}

/* The phases called one by one refuse what the sequencer would not send. */
static void
test_phases(void)
{
    g_autoptr(GError) error = NULL;
    ferry_migrate_params copy = { .flags = FERRY_MIGRATE_LIVE | COPY };
    g_autofree char *xml = NULL;
    g_autofree char *cookie = NULL;
    hosts h;

    /* A destination without NBD refuses Prepare3 of a storage migration. */
    hosts_open(&h, NBD, NULL);
    xml = ferry_domain_migrate_begin3(h.dom, &copy, &cookie, &error);
    g_assert_no_error(error);
    g_assert_false(ferry_conn_migrate_prepare3(h.dst, &copy, xml, cookie, NULL, NULL,
                                               &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_assert_cmpstr(error->message, ==,
                    "Prepare3: host 'test-dst' does not offer storage migration over NBD");
    g_clear_error(&error);
    g_assert_true(ferry_domain_migrate_confirm3(h.dom, &copy, NULL, TRUE, &error));
    g_assert_no_error(error);
    assert_untouched(&h);

    /* Protocol v2 has no cookie to carry the NBD port in. */
    g_assert_false(ferry_conn_migrate_prepare2(h.dst, &copy, xml, NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_assert_cmpstr(error->message, ==, "Prepare2: storage migration "
                    "(FERRY_MIGRATE_NON_SHARED_*) needs protocol v3");
    g_clear_error(&error);
    assert_untouched(&h);
    hosts_close(&h);

    /* A source without NBD refuses Begin3. */
    hosts_open(&h, NULL, NBD);
    g_clear_pointer(&cookie, g_free);
    g_assert_null(ferry_domain_migrate_begin3(h.dom, &copy, &cookie, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_assert_cmpstr(error->message, ==,
                    "Begin3: host 'test-src' does not offer storage migration over NBD");
    g_clear_error(&error);
    assert_untouched(&h);
    hosts_close(&h);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(refusals); i++)
        g_test_add_data_func(refusals[i].path, &refusals[i], run_refusal);
    g_test_add_func("/migrate-storage/refuse/too-many", test_too_many_disks);
    g_test_add_func("/migrate-storage/named-disks", test_named_disks);
    g_test_add_func("/migrate-storage/default-disks", test_default_disks);
    g_test_add_func("/migrate-storage/read-only-named", test_read_only_named);
    g_test_add_func("/migrate-storage/p2p", test_p2p);
    g_test_add_func("/migrate-storage/p2p-source-lacks-nbd", test_p2p_source_lacks_nbd);
    g_test_add_func("/migrate-storage/job-info-during-perform", test_job_info_during_perform);
    g_test_add_func("/migrate-storage/feature-and-uri", test_feature_and_uri);
    g_test_add_func("/migrate-storage/phases", test_phases);
    return g_test_run();
}
