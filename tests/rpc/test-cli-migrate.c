/*
 * test-cli-migrate.c: `ferry migrate` as a user runs it: the storage
 * options' usage errors (exit status 2), a storage migration through a
 * daemon served by this process (test driver, nbd=yes) with its summary in
 * text and JSON, and the progress line of tools/progress.c for disks and
 * memory together.
 *
 * The daemon is a dispatch and an RPC server on a thread of this process;
 * the CLI is the built binary (FERRY_BUILD_DIR/tools/ferry), run to its
 * end while this process holds the two test hosts open.
 */
#include "ferry-config.h"

#include <json-c/json.h>
#include <string.h>

#include "daemon/dispatch.h"
#include "migrate-test-util.h"
#include "progress.h"
#include "rpc-test-util.h"
#include "test/test-driver.h"

#define MIB (1024 * 1024)

typedef struct {
    int status;                 /* the exit status */
    char *out;
    char *err;
} run_result;

static void
run_result_clear(run_result *r)
{
    g_free(r->out);
    g_free(r->err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(run_result, run_result_clear)

/* Runs the CLI with @args (NULL-terminated, without the program). */
static run_result
run_ferry(const char *const *args)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    run_result r = { 0 };
    int wait_status = 0;

    g_ptr_array_add(argv, g_build_filename(g_getenv("FERRY_BUILD_DIR"), "tools", "ferry",
                                           NULL));
    for (gsize i = 0; args[i]; i++)
        g_ptr_array_add(argv, g_strdup(args[i]));
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &r.out, &r.err, &wait_status, &error));
    g_assert_no_error(error);
    g_assert_true(WIFEXITED(wait_status));
    r.status = WEXITSTATUS(wait_status);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Usage errors: exit status 2, one line naming the options                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *path;
    const char *args[8];
    const char *says;
} usage_case;

static const usage_case usage_cases[] = {
    { "/cli-migrate/usage/both-copy-flags",
      { "--copy-storage-all", "--copy-storage-inc" },
      "ferry: error: --copy-storage-all and --copy-storage-inc exclude each other" },
    { "/cli-migrate/usage/disks-without-copy", { "--migrate-disks", "vda" },
      "ferry: error: --migrate-disks is for storage migration: it needs "
      "--copy-storage-all or --copy-storage-inc" },
    { "/cli-migrate/usage/port-without-copy", { "--disks-port", "10900" },
      "ferry: error: --disks-port is for storage migration" },
    { "/cli-migrate/usage/port-zero", { "--copy-storage-all", "--disks-port", "0" },
      "ferry: error: --disks-port: '0' is not a TCP port from 1 to 65535" },
    { "/cli-migrate/usage/port-too-big", { "--copy-storage-inc", "--disks-port", "65536" },
      "--disks-port: '65536' is not a TCP port" },
    { "/cli-migrate/usage/port-not-a-number", { "--copy-storage-all", "--disks-port=ten" },
      "--disks-port: 'ten' is not a TCP port" },
    { "/cli-migrate/usage/empty-disk", { "--copy-storage-all", "--migrate-disks", "vda,,vdb" },
      "--migrate-disks: 'vda,,vdb' is not a comma-separated list of disk targets" },
    { "/cli-migrate/usage/no-disks", { "--copy-storage-all", "--migrate-disks=" },
      "--migrate-disks: '' is not a comma-separated list" },
    { "/cli-migrate/usage/offline-copy",
      { "--offline", "--persistent", "--copy-storage-all" },
      "ferry: error: --offline moves only the definition: it copies no disks" },
};

static void
run_usage_case(gconstpointer data)
{
    const usage_case *c = data;
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_auto(run_result) r = { 0 };

    /* Nothing is connected to: the test driver would do if it were. */
    g_ptr_array_add(args, "-c");
    g_ptr_array_add(args, "test:///src");
    g_ptr_array_add(args, "migrate");
    for (gsize i = 0; c->args[i]; i++)
        g_ptr_array_add(args, (gpointer)c->args[i]);
    g_ptr_array_add(args, "web1");
    g_ptr_array_add(args, "test:///dst");
    g_ptr_array_add(args, NULL);
    r = run_ferry((const char *const *)args->pdata);
    g_assert_cmpint(r.status, ==, 2);
    g_assert_cmpstr(r.out, ==, "");
    if (!strstr(r.err, c->says))
        g_error("stderr '%s' lacks '%s'", r.err, c->says);
    /* Exactly one line. */
    g_assert_nonnull(strchr(r.err, '\n'));
    g_assert_cmpstr(strchr(r.err, '\n') + 1, ==, "");
}

/* ------------------------------------------------------------------------ */
/* A storage migration through a daemon                                      */
/* ------------------------------------------------------------------------ */

static const ferry_driver *const daemon_drivers[] = { &ferry_test_driver, NULL };

typedef struct {
    ferry_dispatch *dispatch;
    test_server *ts;
    ferry_conn *src;            /* held open: the test hosts live while it does */
    ferry_conn *dst;
    char *dst_uuid;             /* new for each test: no host outlives its test */
    char *src_uri;
    char *dst_uri;
} fixture;

static void
fixture_start(fixture *f, gconstpointer data)
{
    g_autoptr(ferry_domain) dom = NULL;
    g_autofree char *src_uuid = g_uuid_string_random();
    ferry_rpc_server_config config = { 0 };

    test_log_clear();
    f->dispatch = ferry_dispatch_new(daemon_drivers);
    ferry_dispatch_configure(f->dispatch, &config);
    f->ts = test_server_start(&config);
    f->dst_uuid = g_uuid_string_random();
    f->src_uri = g_strdup_printf("test+unix:///src?socket=%s&host_uuid=%s&nbd=yes",
                                 test_server_socket(f->ts), src_uuid);
    f->dst_uri = g_strdup_printf("test+unix:///dst?socket=%s&host_uuid=%s&nbd=yes",
                                 test_server_socket(f->ts), f->dst_uuid);
    f->src = mt_conn_open(f->src_uri);
    f->dst = mt_conn_open(f->dst_uri);
    /* vda and vdb are copied by default; vdc is read-only. */
    dom = mt_domain_start(f->src, mt_web1_disks_xml);
}

static void
fixture_stop(fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->src, ferry_conn_unref);
    g_clear_pointer(&f->dst, ferry_conn_unref);
    test_server_stop(f->ts);
    ferry_dispatch_free(f->dispatch);
    g_free(f->dst_uuid);
    g_free(f->src_uri);
    g_free(f->dst_uri);
    g_assert_cmpuint(test_log_count(""), ==, 0);
}

/* The text summary says how much disk was copied. */
static void
test_copy_storage_text(fixture *f, gconstpointer data)
{
    static const char *const vdb[] = { "vdb", NULL };
    const char *args[] = {
        "-c", f->src_uri, "migrate", "--copy-storage-all", "--migrate-disks", "vdb",
        "--disks-port", "10900", "web1", f->dst_uri, NULL,
    };
    g_auto(run_result) r = run_ferry(args);
    g_autoptr(ferry_test_storage_record) rec = NULL;

    g_assert_cmpstr(r.err, ==, "");
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "Migration of 'web1' to test-dst: done (protocol v3)"));
    g_assert_nonnull(strstr(r.out, "  data sent    64.0 MiB of 64.0 MiB RAM\n"));
    g_assert_nonnull(strstr(r.out, "  disk copied  16.0 MiB of 16.0 MiB\n"));
    /* What the destination daemon's Prepare got from the options. */
    rec = ferry_test_driver_storage_record(f->dst_uuid);
    g_assert_nonnull(rec);
    g_assert_cmphex(rec->flags & FERRY_MIGRATE_NON_SHARED_DISK, !=, 0);
    g_assert_cmpuint(g_strv_length(rec->migrate_disks), ==, 1);
    g_assert_true(g_strv_equal((const char *const *)rec->migrate_disks, vdb));
    g_assert_cmpuint(rec->disks_port, ==, 10900);
}

static gint64
json_int(json_object *o, const char *key)
{
    json_object *v = NULL;

    g_assert_true(json_object_object_get_ex(o, key, &v));
    return json_object_get_int64(v);
}

/* --json: disk_total and disk_transferred; no list copies every disk. */
static void
test_copy_storage_json(fixture *f, gconstpointer data)
{
    const char *args[] = {
        "-c", f->src_uri, "migrate", "--copy-storage-inc", "--json", "web1", f->dst_uri, NULL,
    };
    g_auto(run_result) r = run_ferry(args);
    g_autoptr(ferry_test_storage_record) rec = NULL;
    json_object *o;

    g_assert_cmpstr(r.err, ==, "");
    g_assert_cmpint(r.status, ==, 0);
    o = json_tokener_parse(r.out);
    g_assert_nonnull(o);
    g_assert_cmpint(json_int(o, "disk_total"), ==, 32 * MIB);
    g_assert_cmpint(json_int(o, "disk_transferred"), ==, 32 * MIB);
    g_assert_cmpint(json_int(o, "data_total"), ==, 64 * MIB);
    json_object_put(o);
    rec = ferry_test_driver_storage_record(f->dst_uuid);
    g_assert_nonnull(rec);
    g_assert_cmphex(rec->flags & FERRY_MIGRATE_NON_SHARED_INC, !=, 0);
    g_assert_null(rec->migrate_disks);
    g_assert_cmpuint(rec->disks_port, ==, 0);
    g_assert_cmpuint(g_strv_length(rec->disks), ==, 2);
}

/* The daemon's refusal is an operation failure (1), with its words. */
static void
test_copy_storage_refused(fixture *f, gconstpointer data)
{
    g_autofree char *plain = g_strdup_printf("test+unix:///plain?socket=%s",
                                             test_server_socket(f->ts));
    const char *unknown_disk[] = {
        "-c", f->src_uri, "migrate", "--copy-storage-all", "--migrate-disks", "vda,vdz",
        "web1", f->dst_uri, NULL,
    };
    const char *no_nbd[] = {
        "-c", f->src_uri, "migrate", "--copy-storage-all", "web1", plain, NULL,
    };
    g_auto(run_result) r1 = run_ferry(unknown_disk);
    g_auto(run_result) r2 = run_ferry(no_nbd);

    g_assert_cmpint(r1.status, ==, 1);
    g_assert_cmpstr(r1.err, ==, "ferry: error: domain 'web1' has no disk 'vdz'\n");
    g_assert_cmpint(r2.status, ==, 1);
    g_assert_nonnull(strstr(r2.err, "storage migration needs NBD on both hosts: host "
                                    "'test+unix:///plain?"));
}

/* ------------------------------------------------------------------------ */
/* The progress line                                                         */
/* ------------------------------------------------------------------------ */

static void
test_progress_line(void)
{
    ferry_job_info info = {
        .type = FERRY_JOB_INFO_ACTIVE, .phase = "perform",
        .mem_total = 64 * MIB, .mem_processed = 0, .mem_remaining = 64 * MIB,
        .disk_total = 32 * MIB, .disk_processed = 16 * MIB, .disk_remaining = 16 * MIB,
    };
    g_autofree char *disks = cli_progress_format(&info, 8.0 * MIB, 120);
    g_autofree char *narrow = cli_progress_format(&info, 8.0 * MIB, 40);
    g_autofree char *memory = NULL;
    g_autofree char *no_rate = NULL;

    /* 96 MiB in all, 80 left: 16 % done; the disks half way. */
    g_assert_true(g_str_has_prefix(disks, "perform ["));
    g_assert_true(g_str_has_suffix(disks, "]  16%  16.0 MiB sent, 80.0 MiB left (disks 50%)  "
                                          "8.0 MiB/s  ETA 10 s"));
    g_assert_cmpuint(strlen(narrow), <, 40);
    /* Without disks: memory alone, nothing said of disks. */
    info.disk_total = info.disk_processed = info.disk_remaining = 0;
    info.mem_processed = 48 * MIB;
    info.mem_remaining = 16 * MIB;
    memory = cli_progress_format(&info, 0, 120);
    g_assert_true(g_str_has_suffix(memory, "]  75%  48.0 MiB sent, 16.0 MiB left  -- MiB/s  "
                                           "ETA --"));
    g_assert_null(strstr(memory, "disks"));
    /* Begin and Prepare measure nothing yet: time only. */
    info.mem_total = info.mem_processed = info.mem_remaining = 0;
    info.elapsed_ms = 1500;
    no_rate = cli_progress_format(&info, 0, 120);
    g_assert_cmpstr(no_rate, ==, "perform  1.5 s");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_init();
    for (gsize i = 0; i < G_N_ELEMENTS(usage_cases); i++)
        g_test_add_data_func(usage_cases[i].path, &usage_cases[i], run_usage_case);
#define ADD(path, func) g_test_add(path, fixture, NULL, fixture_start, func, fixture_stop)
    ADD("/cli-migrate/copy-storage/text", test_copy_storage_text);
    ADD("/cli-migrate/copy-storage/json", test_copy_storage_json);
    ADD("/cli-migrate/copy-storage/refused", test_copy_storage_refused);
#undef ADD
    g_test_add_func("/cli-migrate/progress-line", test_progress_line);
    return g_test_run();
}
