/*
 * test-cli-migrate.c: `ferry migrate` and the migration job commands as a
 * user runs them: the usage errors of their options and arguments (exit
 * status 2), a storage migration through a daemon served by this process
 * (test driver, nbd=yes) with its summary in text and JSON, domjobinfo
 * --completed after it, domjobabort and the tunables of a domain that is
 * not migrating (exit status 1), Ctrl-C during a held migration, and the
 * progress line of tools/progress.c.
 *
 * The daemon is a dispatch and an RPC server on a thread of this process;
 * the CLI is the built binary (FERRY_BUILD_DIR/tools/ferry), run to its
 * end while this process holds the two test hosts open.
 */
#include "ferry-config.h"

#include <gio/gio.h>
#include <json-c/json.h>
#include <signal.h>
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
    { "/cli-migrate/usage/timeout-zero", { "--timeout", "0" },
      "ferry: error: --timeout: '0' is not a whole number of seconds from 1 to 86400" },
    { "/cli-migrate/usage/timeout-too-long", { "--timeout=86401" },
      "ferry: error: --timeout: '86401' is not a whole number of seconds from 1 to 86400" },
    { "/cli-migrate/usage/timeout-not-a-number", { "--timeout", "5m" },
      "ferry: error: --timeout: '5m' is not a whole number of seconds" },
    { "/cli-migrate/usage/timeout-action-alone", { "--timeout-action", "suspend" },
      "ferry: error: --timeout-action needs --timeout" },
    { "/cli-migrate/usage/timeout-action-default-alone", { "--timeout-action=abort" },
      "ferry: error: --timeout-action needs --timeout" },
    { "/cli-migrate/usage/timeout-action-unknown",
      { "--timeout", "60", "--timeout-action", "pause" },
      "ferry: error: --timeout-action: 'pause' is neither 'abort' nor 'suspend'" },
    { "/cli-migrate/usage/max-downtime-zero", { "--max-downtime", "0" },
      "ferry: error: --max-downtime: '0' is not a whole number of milliseconds from 1 to "
      "2000000" },
    { "/cli-migrate/usage/max-downtime-too-long", { "--max-downtime", "2000001" },
      "ferry: error: --max-downtime: '2000001' is not a whole number of milliseconds" },
    { "/cli-migrate/usage/max-downtime-not-a-number", { "--max-downtime=short" },
      "ferry: error: --max-downtime: 'short' is not a whole number of milliseconds" },
};

/* The other migration commands: the whole command line after "-c URI". */
static const usage_case command_usage_cases[] = {
    { "/cli-migrate/usage/setmaxdowntime-zero", { "migrate-setmaxdowntime", "web1", "0" },
      "ferry: error: MS: '0' is not a whole number of milliseconds from 1 to 2000000" },
    { "/cli-migrate/usage/setmaxdowntime-too-long",
      { "migrate-setmaxdowntime", "web1", "2000001" },
      "ferry: error: MS: '2000001' is not a whole number of milliseconds from 1 to 2000000" },
    { "/cli-migrate/usage/setmaxdowntime-not-a-number",
      { "migrate-setmaxdowntime", "web1", "1e3" },
      "ferry: error: MS: '1e3' is not a whole number of milliseconds" },
    { "/cli-migrate/usage/setmaxdowntime-missing", { "migrate-setmaxdowntime", "web1" },
      "ferry: error: 'migrate-setmaxdowntime' takes 2 arguments (DOMAIN MS), got 1" },
    { "/cli-migrate/usage/setspeed-too-fast", { "migrate-setspeed", "web1", "1048577" },
      "ferry: error: MiB/s: '1048577' is not a whole number of MiB/s from 0 to 1048576" },
    { "/cli-migrate/usage/setspeed-not-a-number", { "migrate-setspeed", "web1", "fast" },
      "ferry: error: MiB/s: 'fast' is not a whole number of MiB/s" },
    { "/cli-migrate/usage/setspeed-missing", { "migrate-setspeed", "web1" },
      "ferry: error: 'migrate-setspeed' takes 2 arguments (DOMAIN MiB/s), got 1" },
    { "/cli-migrate/usage/getspeed-missing", { "migrate-getspeed" },
      "ferry: error: 'migrate-getspeed' takes 1 argument (DOMAIN), got 0" },
    { "/cli-migrate/usage/getmaxdowntime-extra", { "migrate-getmaxdowntime", "web1", "500" },
      "ferry: error: 'migrate-getmaxdowntime' takes 1 argument (DOMAIN), got 2" },
    { "/cli-migrate/usage/domjobabort-missing", { "domjobabort" },
      "ferry: error: 'domjobabort' takes 1 argument (DOMAIN), got 0" },
    { "/cli-migrate/usage/domjobinfo-missing", { "domjobinfo", "--completed" },
      "ferry: error: 'domjobinfo' takes 1 argument (DOMAIN), got 0" },
};

/* Exit status 2, nothing on stdout, and one line on stderr that says it. */
static void
assert_usage_error(const run_result *r, const char *says)
{
    g_assert_cmpint(r->status, ==, 2);
    g_assert_cmpstr(r->out, ==, "");
    if (!strstr(r->err, says))
        g_error("stderr '%s' lacks '%s'", r->err, says);
    /* Exactly one line. */
    g_assert_nonnull(strchr(r->err, '\n'));
    g_assert_cmpstr(strchr(r->err, '\n') + 1, ==, "");
}

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
    assert_usage_error(&r, c->says);
}

static void
run_command_usage_case(gconstpointer data)
{
    const usage_case *c = data;
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_auto(run_result) r = { 0 };

    /* A fresh test host has no web1: only a check made before connecting
     * gives status 2 here, not "no domain" (1). */
    g_ptr_array_add(args, "-c");
    g_ptr_array_add(args, "test:///src");
    for (gsize i = 0; c->args[i]; i++)
        g_ptr_array_add(args, (gpointer)c->args[i]);
    g_ptr_array_add(args, NULL);
    r = run_ferry((const char *const *)args->pdata);
    assert_usage_error(&r, c->says);
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

/* What a test asks of the fixture, and of itself. */
typedef struct {
    const char *src_params;     /* more URI parameters of the source host */
    const char *options[4];     /* options of `ferry migrate` */
    gboolean p2p;               /* options has --p2p: the source daemon of this
                                 * process reaches the destination in-process */
} fixture_case;

/* @data: (nullable): a fixture_case. */
static void
fixture_start(fixture *f, gconstpointer data)
{
    const fixture_case *fc = data;
    const char *src_params = fc ? fc->src_params : NULL;
    g_autoptr(ferry_domain) dom = NULL;
    g_autofree char *src_uuid = g_uuid_string_random();
    ferry_rpc_server_config config = { 0 };

    test_log_clear();
    f->dispatch = ferry_dispatch_new(daemon_drivers);
    ferry_dispatch_configure(f->dispatch, &config);
    f->ts = test_server_start(&config);
    f->dst_uuid = g_uuid_string_random();
    f->src_uri = g_strdup_printf("test+unix:///src?socket=%s&host_uuid=%s&nbd=yes%s%s",
                                 test_server_socket(f->ts), src_uuid, src_params ? "&" : "",
                                 src_params ? src_params : "");
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

static const char *const summary_keys_0_3[] = {
    "guest_downtime_ms", "passes", "time_setup_ms", "time_disk_ms", "time_memory_ms",
    "time_switchover_ms", "time_overhead_ms",
};

/* @key is in @o, and is null or a number above 0. */
static void
assert_ms_or_null(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v))
        g_error("no key '%s' in %s", key, json_object_to_json_string(o));
    if (v && !(json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0))
        g_error("'%s' is %s, neither null nor above 0", key, json_object_to_json_string(v));
}

static const char *
json_str(json_object *o, const char *key)
{
    json_object *v = NULL;

    g_assert_true(json_object_object_get_ex(o, key, &v));
    g_assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

/* A command's failure (1): nothing on stdout, one error line saying @says. */
static void
assert_failed(const run_result *r, const char *says)
{
    g_assert_cmpint(r->status, ==, 1);
    g_assert_cmpstr(r->out, ==, "");
    if (!g_str_has_prefix(r->err, "ferry: error: ") || !strstr(r->err, says))
        g_error("stderr '%s' is not an error line saying '%s'", r->err, says);
    g_assert_cmpstr(strchr(r->err, '\n') + 1, ==, "");
}

static void
assert_running(ferry_conn *conn, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_lookup_by_name(conn, name, &error);
    int state = FERRY_DOMAIN_NOSTATE, reason = 0;

    g_assert_no_error(error);
    g_assert_true(ferry_domain_get_state(dom, &state, &reason, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(ferry_domain_state_to_string(state), ==,
                    ferry_domain_state_to_string(FERRY_DOMAIN_RUNNING));
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
    /* The keys since 0.3 are there, a number or null (unknown), never 0. */
    for (gsize i = 0; i < G_N_ELEMENTS(summary_keys_0_3); i++)
        assert_ms_or_null(o, summary_keys_0_3[i]);
    g_assert_cmpint(json_int(o, "protocol"), ==, 3);
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
/* The job commands                                                          */
/* ------------------------------------------------------------------------ */

/* --completed: the last ended job, kept after the domain left; without it
 * the current job, none once it ended. */
static void
test_domjobinfo_completed(fixture *f, gconstpointer data)
{
    const char *migrate[] = { "-c", f->src_uri, "migrate", "web1", f->dst_uri, NULL };
    const char *completed_json[] = {
        "-c", f->src_uri, "domjobinfo", "--completed", "--json", "web1", NULL,
    };
    const char *completed_text[] = {
        "-c", f->src_uri, "domjobinfo", "--completed", "web1", NULL,
    };
    const char *current[] = { "-c", f->src_uri, "domjobinfo", "--json", "web1", NULL };
    g_auto(run_result) before = run_ferry(completed_json);
    g_auto(run_result) moved = { 0 };
    g_auto(run_result) json = { 0 };
    g_auto(run_result) text = { 0 };
    g_auto(run_result) now = { 0 };
    g_autofree char *id_line = NULL;
    json_object *o;

    /* A new host: no job has ended on it yet. */
    g_assert_cmpint(before.status, ==, 0);
    o = json_tokener_parse(before.out);
    g_assert_nonnull(o);
    g_assert_cmpstr(json_str(o, "type"), ==, "none");
    json_object_put(o);

    moved = run_ferry(migrate);
    g_assert_cmpstr(moved.err, ==, "");
    g_assert_cmpint(moved.status, ==, 0);

    json = run_ferry(completed_json);
    g_assert_cmpstr(json.err, ==, "");
    g_assert_cmpint(json.status, ==, 0);
    o = json_tokener_parse(json.out);
    g_assert_nonnull(o);
    g_assert_cmpstr(json_str(o, "type"), ==, "completed");
    g_assert_cmpstr(json_str(o, "role"), ==, "source");
    g_assert_cmpstr(json_str(o, "state"), ==, "completed");
    g_assert_true(g_uuid_string_is_valid(json_str(o, "id")));
    g_assert_cmpint(json_int(o, "protocol"), ==, 3);
    g_assert_cmpint(json_int(o, "mem_total"), ==, 64 * MIB);
    g_assert_cmpstr(json_str(o, "message"), ==, "");
    assert_ms_or_null(o, "guest_downtime_ms");
    assert_ms_or_null(o, "time_switchover_ms");
    assert_ms_or_null(o, "elapsed_ms");
    id_line = g_strdup_printf("\nMigration id:             %s\n", json_str(o, "id"));
    json_object_put(o);

    /* The same job in text, one "Label:  value" line each. */
    text = run_ferry(completed_text);
    g_assert_cmpint(text.status, ==, 0);
    g_assert_true(g_str_has_prefix(text.out, "Job type:                 completed\n"));
    if (!strstr(text.out, id_line) || !strstr(text.out, "\nRole:                     source\n") ||
        !strstr(text.out, "\nProtocol:                 v3\n") ||
        !strstr(text.out, "\nDowntime (guest saw it):  ") || strstr(text.out, " 0 ms"))
        g_error("domjobinfo --completed printed:\n%s", text.out);

    now = run_ferry(current);
    g_assert_cmpint(now.status, ==, 0);
    o = json_tokener_parse(now.out);
    g_assert_nonnull(o);
    g_assert_cmpstr(json_str(o, "type"), ==, "none");
    json_object_put(o);
}

/* No migration: nothing to abort, nothing to tune; the domain runs on. */
static void
test_job_commands_without_job(fixture *f, gconstpointer data)
{
    const char *abort_args[] = { "-c", f->src_uri, "domjobabort", "web1", NULL };
    const char *tunables[][6] = {
        { "-c", f->src_uri, "migrate-getspeed", "web1", NULL },
        { "-c", f->src_uri, "migrate-setspeed", "web1", "100", NULL },
        { "-c", f->src_uri, "migrate-getmaxdowntime", "web1", NULL },
        { "-c", f->src_uri, "migrate-setmaxdowntime", "web1", "500", NULL },
    };
    g_auto(run_result) r = run_ferry(abort_args);

    assert_failed(&r, "no migration job");
    for (gsize i = 0; i < G_N_ELEMENTS(tunables); i++) {
        g_auto(run_result) t = run_ferry(tunables[i]);

        assert_failed(&t, "domain 'web1' is not migrating out of host 'test-src'");
    }
    assert_running(f->src, "web1");
}

typedef struct {
    gboolean progress;          /* a job-progress event came */
    gboolean exited;            /* the CLI exited */
    gboolean timed_out;
} cli_wait;

static void
on_job_event(ferry_conn *conn, const ferry_event *ev, gpointer data)
{
    if (ev->type == FERRY_EVENT_JOB_PROGRESS)
        ((cli_wait *)data)->progress = TRUE;
}

static void
on_cli_exited(GObject *source, GAsyncResult *res, gpointer data)
{
    g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
    ((cli_wait *)data)->exited = TRUE;
}

static gboolean
on_wait_timeout(gpointer data)
{
    ((cli_wait *)data)->timed_out = TRUE;
    return G_SOURCE_REMOVE;
}

/* Ctrl-C while the transfer is held (hold=perform on the source): the
 * migration is aborted, the CLI says so in one error line naming the host
 * where the guest runs, and exits 1.  @data: a fixture_case. */
static void
test_ctrl_c_aborts(fixture *f, gconstpointer data)
{
    const fixture_case *fc = data;
    g_autofree char *dest = fc->p2p ? g_strdup_printf("test:///dst?host_uuid=%s&nbd=yes",
                                                      f->dst_uuid)
                                    : g_strdup(f->dst_uri);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocess) proc = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    const char *completed[] = {
        "-c", f->src_uri, "domjobinfo", "--completed", "--json", "web1", NULL,
    };
    g_auto(run_result) job = { 0 };
    cli_wait w = { 0 };
    guint timeout;
    guint sub;
    json_object *o;

    g_ptr_array_add(argv, g_build_filename(g_getenv("FERRY_BUILD_DIR"), "tools", "ferry",
                                           NULL));
    g_ptr_array_add(argv, g_strdup("-c"));
    g_ptr_array_add(argv, g_strdup(f->src_uri));
    g_ptr_array_add(argv, g_strdup("migrate"));
    for (gsize i = 0; fc->options[i]; i++)
        g_ptr_array_add(argv, g_strdup(fc->options[i]));
    g_ptr_array_add(argv, g_strdup("web1"));
    g_ptr_array_add(argv, g_strdup(dest));
    g_ptr_array_add(argv, NULL);

    sub = ferry_conn_subscribe_events(f->src, on_job_event, &w, NULL, &error);
    g_assert_no_error(error);
    proc = g_subprocess_newv((const char *const *)argv->pdata,
                             G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                             &error);
    g_assert_no_error(error);
    g_subprocess_wait_async(proc, NULL, on_cli_exited, &w);
    timeout = g_timeout_add_seconds(10, on_wait_timeout, &w);
    /* The transfer began: the CLI handles SIGINT by then (it does before
     * it starts the migration). */
    while (!w.progress && !w.exited && !w.timed_out)
        g_main_context_iteration(NULL, TRUE);
    g_assert_false(w.timed_out);
    if (!w.progress) {
        g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, &out, &err, &error));
        g_error("ferry exited (status %d) before the transfer began:\n%s%s",
                g_subprocess_get_exit_status(proc), out, err);
    }
    g_source_remove(timeout);
    g_subprocess_send_signal(proc, SIGINT);
    g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, &out, &err, &error));
    g_assert_no_error(error);
    g_assert_true(g_subprocess_get_if_exited(proc));
    g_assert_cmpstr(err, ==,
                    "ferry: aborting the migration of 'web1' (press Ctrl-C again to stop "
                    "waiting)\n"
                    "ferry: error: migration of 'web1' aborted by Ctrl-C: it keeps running on "
                    "test-src\n");
    g_assert_cmpstr(out, ==, "");
    g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 1);
    g_assert_true(ferry_conn_unsubscribe_events(f->src, sub, &error));
    g_assert_no_error(error);
    /* Let the wait callback run before w goes. */
    while (!w.exited)
        g_main_context_iteration(NULL, TRUE);

    assert_running(f->src, "web1");
    job = run_ferry(completed);
    g_assert_cmpint(job.status, ==, 0);
    o = json_tokener_parse(job.out);
    g_assert_nonnull(o);
    g_assert_cmpstr(json_str(o, "type"), ==, "cancelled");
    g_assert_cmpstr(json_str(o, "role"), ==, "source");
    json_object_put(o);
}

/* The source holds the transfer until it is aborted (or read about). */
static const fixture_case ctrl_c_plain = { "hold=perform", { NULL }, FALSE };
static const fixture_case ctrl_c_p2p_json = {
    "hold=perform", { "--p2p", "--json", NULL }, TRUE,
};

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

/* The time, a copy that falls behind the guest, an in-doubt job, and the
 * line before any event. */
static void
test_progress_line_states(void)
{
    ferry_job_info info = {
        .type = FERRY_JOB_INFO_ACTIVE, .phase = "perform", .state = "running",
        .elapsed_ms = 12345, .mem_total = 64 * MIB, .mem_processed = 48 * MIB,
        .mem_remaining = 16 * MIB, .passes = 3, .dirty_rate_bps = 640 * MIB,
        .bandwidth_bps = 100 * MIB, .rate_bps = 100 * MIB,
    };
    g_autofree char *behind = cli_progress_format(&info, 0, 120);
    g_autofree char *behind_narrow = cli_progress_format(&info, 0, 80);
    g_autofree char *first_pass = NULL;
    g_autofree char *by_rate = NULL;
    g_autofree char *keeping_up = NULL;
    g_autofree char *under = NULL;
    g_autofree char *in_doubt = NULL;
    g_autofree char *waiting = cli_progress_format_waiting(800, 80);

    /* The time follows the phase; the warning replaces rate and ETA. */
    g_assert_true(g_str_has_prefix(behind, "perform  12.3 s ["));
    g_assert_true(g_str_has_suffix(behind, "]  75%  16.0 MiB left  dirty rate 640.0 > link "
                                           "100.0 MiB/s: not converging"));
    g_assert_null(strstr(behind, "ETA"));
    /* On 80 columns the warning survives whole. */
    g_assert_cmpuint(strlen(behind_narrow), <, 80);
    g_assert_true(g_str_has_suffix(behind_narrow, "dirty rate 640.0 > link 100.0 MiB/s: not "
                                                  "converging"));
    /* The first pass says nothing yet. */
    info.passes = 1;
    first_pass = cli_progress_format(&info, 0, 120);
    g_assert_null(strstr(first_pass, "not converging"));
    g_assert_nonnull(strstr(first_pass, "ETA"));
    /* No limit: the link is the transfer's rate. */
    info.passes = 2;
    info.bandwidth_bps = 0;
    info.rate_bps = 50 * MIB;
    info.dirty_rate_bps = 60 * MIB;
    by_rate = cli_progress_format(&info, 0, 120);
    g_assert_nonnull(strstr(by_rate, "dirty rate 60.0 > link 50.0 MiB/s: not converging"));
    /* Just under the link: each pass barely shorter than the last. */
    info.dirty_rate_bps = 47 * MIB;
    g_assert_true(cli_progress_not_converging(&info, 0));
    under = cli_progress_format(&info, 0, 120);
    g_assert_nonnull(strstr(under, "dirty rate 47.0 ~ link 50.0 MiB/s: not converging"));
    info.dirty_rate_bps = 40 * MIB;
    keeping_up = cli_progress_format(&info, 50.0 * MIB, 120);
    g_assert_true(g_str_has_suffix(keeping_up, "]  75%  48.0 MiB sent, 16.0 MiB left  "
                                               "50.0 MiB/s  ETA 0 s"));
    g_assert_false(cli_progress_not_converging(&info, 0));
    /* In doubt: the question instead of the bar. */
    g_strlcpy(info.phase, "confirm", sizeof(info.phase));
    g_strlcpy(info.state, "in-doubt", sizeof(info.state));
    in_doubt = cli_progress_format(&info, 0, 120);
    g_assert_cmpstr(in_doubt, ==, "confirm  12.3 s  in doubt: asking the destination whether "
                                  "it runs the guest");
    g_assert_cmpstr(waiting, ==, "preparing  0.8 s");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_init();
    for (gsize i = 0; i < G_N_ELEMENTS(usage_cases); i++)
        g_test_add_data_func(usage_cases[i].path, &usage_cases[i], run_usage_case);
    for (gsize i = 0; i < G_N_ELEMENTS(command_usage_cases); i++)
        g_test_add_data_func(command_usage_cases[i].path, &command_usage_cases[i],
                             run_command_usage_case);
#define ADD(path, func) g_test_add(path, fixture, NULL, fixture_start, func, fixture_stop)
    ADD("/cli-migrate/copy-storage/text", test_copy_storage_text);
    ADD("/cli-migrate/copy-storage/json", test_copy_storage_json);
    ADD("/cli-migrate/copy-storage/refused", test_copy_storage_refused);
    ADD("/cli-migrate/domjobinfo/completed", test_domjobinfo_completed);
    ADD("/cli-migrate/job-commands/without-job", test_job_commands_without_job);
#undef ADD
    g_test_add("/cli-migrate/ctrl-c/aborts", fixture, &ctrl_c_plain, fixture_start,
               test_ctrl_c_aborts, fixture_stop);
    g_test_add("/cli-migrate/ctrl-c/aborts-p2p-json", fixture, &ctrl_c_p2p_json,
               fixture_start, test_ctrl_c_aborts, fixture_stop);
    g_test_add_func("/cli-migrate/progress-line", test_progress_line);
    g_test_add_func("/cli-migrate/progress-line/states", test_progress_line_states);
    return g_test_run();
}
