/*
 * test-migrate.c: migration between two in-process test hosts: the v3, v2
 * and v1 sequences, their flags, the negotiation, injected failures at
 * every phase against the invariant (exactly one copy runs, nothing left
 * behind), peer-to-peer, events, job information and argument checks.
 *
 * Most cases are descriptors (migrate_case) run by one runner.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "api/migrate-internal.h"
#include "migrate-test-util.h"

#define WEB1_UUID MT_WEB1_UUID
#define DST_UUID "5e0c9a54-7a43-4f2b-8d35-0a2b7c6f9e11"

#define GONE (-1)

typedef enum {
    SOURCE_RUNNING,         /* defined and started */
    SOURCE_TRANSIENT,       /* created transient */
    SOURCE_PAUSED,          /* defined, started, suspended */
    SOURCE_SHUT_OFF,        /* defined only */
} source_kind;

typedef struct {
    const char *path;
    const char *src_params;     /* query of the source's test:/// URI */
    const char *dst_params;     /* query of the destination's */
    source_kind source;
    guint flags;
    const char *dname;
    guint64 max_downtime_ms;
    guint64 cap_ms;             /* max_downtime_cap_ms */
    /* What must happen: */
    int protocol;               /* 0: the migration fails */
    int error_code;
    const char *error_text;     /* a substring of the error message */
    int dst_state;              /* GONE: nothing on the destination */
    int dst_reason;
    gboolean dst_persistent;
    int src_state;              /* GONE: nothing left on the source */
    int src_reason;
    const char *warning;        /* a warning the engine logs */
} migrate_case;

typedef struct {
    ferry_conn *src;
    ferry_conn *dst;
    ferry_domain *dom;
} hosts;

static ferry_domain *
make_source(ferry_conn *conn, source_kind kind)
{
    g_autoptr(GError) error = NULL;
    ferry_domain *dom;

    if (kind == SOURCE_TRANSIENT) {
        dom = ferry_domain_create_xml(conn, mt_web1_xml, 0, &error);
        g_assert_no_error(error);
        return dom;
    }
    dom = ferry_domain_define_xml(conn, mt_web1_xml, &error);
    g_assert_no_error(error);
    if (kind != SOURCE_SHUT_OFF)
        g_assert_true(ferry_domain_start(dom, 0, &error));
    if (kind == SOURCE_PAUSED)
        g_assert_true(ferry_domain_suspend(dom, &error));
    g_assert_no_error(error);
    return dom;
}

static void
hosts_open(hosts *h, const char *src_params, const char *dst_params, source_kind kind)
{
    h->src = mt_open_test_host("src", src_params);
    h->dst = mt_open_test_host("dst", dst_params);
    h->dom = make_source(h->src, kind);
}

static void
hosts_close(hosts *h)
{
    ferry_domain_unref(h->dom);
    ferry_conn_unref(h->src);
    ferry_conn_unref(h->dst);
}

/* The state of the domain @name on @conn, or GONE. */
static int
state_of(ferry_conn *conn, const char *name, int *ret_reason, gboolean *ret_persistent)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_lookup_by_name(conn, name, &error);
    ferry_domain_info info = { 0 };

    if (!dom) {
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
        return GONE;
    }
    g_assert_true(ferry_domain_get_info(dom, &info, &error));
    if (ret_reason)
        *ret_reason = info.reason;
    if (ret_persistent)
        *ret_persistent = info.persistent;
    return info.state;
}

static void
assert_domain(ferry_conn *conn, const char *name, int state, int reason)
{
    int got_reason = -1;
    int got = state_of(conn, name, &got_reason, NULL);

    g_assert_cmpstr(got == GONE ? "gone" : ferry_domain_state_to_string(got), ==,
                    state == GONE ? "gone" : ferry_domain_state_to_string(state));
    if (state != GONE)
        g_assert_cmpstr(ferry_domain_state_reason_to_string(got, got_reason), ==,
                        ferry_domain_state_reason_to_string(state, reason));
}

/* How many copies of the domain have running CPUs, on both hosts. */
static guint
count_running(hosts *h)
{
    const char *names[] = { "web1", "web2" };
    guint n = 0;

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        n += state_of(h->src, names[i], NULL, NULL) == FERRY_DOMAIN_RUNNING;
        n += state_of(h->dst, names[i], NULL, NULL) == FERRY_DOMAIN_RUNNING;
    }
    return n;
}

static void
run_case(gconstpointer data)
{
    const migrate_case *c = data;
    const char *dst_name = c->dname ? c->dname : "web1";
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_migrate_params params = { .flags = c->flags, .dname = c->dname,
                                    .max_downtime_ms = c->max_downtime_ms,
                                    .max_downtime_cap_ms = c->cap_ms };
    ferry_migrate_stats stats = { 0 };
    gboolean persistent = FALSE;
    gboolean was_paused = c->source == SOURCE_PAUSED || (c->flags & FERRY_MIGRATE_PAUSED);
    hosts h;

    hosts_open(&h, c->src_params, c->dst_params, c->source);
    ddom = ferry_domain_migrate(h.dom, h.dst, &params, &stats, &error);
    if (c->protocol) {
        g_assert_no_error(error);
        g_assert_nonnull(ddom);
        g_assert_cmpint(stats.protocol, ==, c->protocol);
        g_assert_cmpstr(ferry_domain_get_name(ddom), ==, dst_name);
        g_assert_cmpstr(ferry_domain_get_uuid(ddom), ==, WEB1_UUID);
        g_assert_true(ferry_domain_get_conn(ddom) == h.dst);
    } else {
        g_assert_null(ddom);
        g_assert_error(error, FERRY_ERROR, c->error_code);
        if (!strstr(error->message, c->error_text))
            g_error("error '%s' lacks '%s'", error->message, c->error_text);
    }

    assert_domain(h.dst, dst_name, c->dst_state, c->dst_reason);
    if (c->dst_state != GONE) {
        state_of(h.dst, dst_name, NULL, &persistent);
        g_assert_cmpint(persistent, ==, c->dst_persistent);
    }
    /* Nothing else is left on the destination. */
    g_assert_cmpuint(mt_count_domains(h.dst), ==, c->dst_state == GONE ? 0 : 1);
    assert_domain(h.src, "web1", c->src_state, c->src_reason);

    /* The invariant: exactly one copy runs, unless it is paused on purpose
     * or did not run at all. */
    if (c->source != SOURCE_SHUT_OFF)
        g_assert_cmpuint(count_running(&h), ==,
                         (c->protocol ? was_paused : c->source == SOURCE_PAUSED) ? 0 : 1);
    hosts_close(&h);
    if (c->warning)
        g_assert_cmpuint(mt_log_take(c->warning), ==, 1);
    mt_log_assert_empty();
}

#define RUNNING_MIGRATED FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED
#define SHUTOFF_MIGRATED FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_MIGRATED
#define RUNNING_BOOTED FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED
#define RUNNING_CANCELED FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATION_CANCELED
#define NOTHING GONE, 0

static const migrate_case cases[] = {
    /* v3 and its flags */
    { "/migrate/v3/live", .protocol = 3,
      .dst_state = RUNNING_MIGRATED, .src_state = SHUTOFF_MIGRATED },
    { "/migrate/v3/transient", .source = SOURCE_TRANSIENT, .flags = FERRY_MIGRATE_LIVE,
      .protocol = 3, .dst_state = RUNNING_MIGRATED, .src_state = NOTHING },
    { "/migrate/v3/paused-flag", .flags = FERRY_MIGRATE_LIVE | FERRY_MIGRATE_PAUSED,
      .protocol = 3, .dst_state = FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER,
      .src_state = SHUTOFF_MIGRATED },
    { "/migrate/v3/source-paused", .source = SOURCE_PAUSED, .protocol = 3,
      .dst_state = FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER, .src_state = SHUTOFF_MIGRATED },
    { "/migrate/v3/dname", .dname = "web2", .protocol = 3,
      .dst_state = RUNNING_MIGRATED, .src_state = SHUTOFF_MIGRATED },
    { "/migrate/v3/persist-undefine",
      .flags = FERRY_MIGRATE_PERSIST_DEST | FERRY_MIGRATE_UNDEFINE_SOURCE, .protocol = 3,
      .dst_state = RUNNING_MIGRATED, .dst_persistent = TRUE, .src_state = NOTHING },
    { "/migrate/v3/persist-dname", .flags = FERRY_MIGRATE_PERSIST_DEST, .dname = "web2",
      .protocol = 3, .dst_state = RUNNING_MIGRATED, .dst_persistent = TRUE,
      .src_state = SHUTOFF_MIGRATED },
    { "/migrate/v3/offline", .source = SOURCE_SHUT_OFF,
      .flags = FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_PERSIST_DEST |
               FERRY_MIGRATE_UNDEFINE_SOURCE,
      .protocol = 3, .dst_state = FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN,
      .dst_persistent = TRUE, .src_state = NOTHING },
    { "/migrate/v3/offline-by-default", .source = SOURCE_SHUT_OFF, .protocol = 3,
      .dst_state = FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN, .dst_persistent = TRUE,
      .src_state = FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN },

    /* Negotiation */
    { "/migrate/fallback/dst-v2", .dst_params = "migration=v2", .protocol = 2,
      .dst_state = RUNNING_MIGRATED, .src_state = SHUTOFF_MIGRATED },
    { "/migrate/fallback/src-v2", .src_params = "migration=v2", .protocol = 2,
      .flags = FERRY_MIGRATE_PERSIST_DEST | FERRY_MIGRATE_UNDEFINE_SOURCE,
      .dst_state = RUNNING_MIGRATED, .dst_persistent = TRUE, .src_state = NOTHING },
    { "/migrate/fallback/v2-paused", .dst_params = "migration=v2", .source = SOURCE_PAUSED,
      .protocol = 2, .dst_state = FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER,
      .src_state = SHUTOFF_MIGRATED },
    { "/migrate/fallback/v1", .dst_params = "migration=v1", .dname = "web2", .protocol = 1,
      .dst_state = RUNNING_MIGRATED, .src_state = SHUTOFF_MIGRATED },
    { "/migrate/fallback/v1-transient", .src_params = "migration=v1",
      .source = SOURCE_TRANSIENT, .protocol = 1,
      .dst_state = RUNNING_MIGRATED, .src_state = NOTHING },
    { "/migrate/fallback/none", .dst_params = "migration=none",
      .error_code = FERRY_ERROR_NO_SUPPORT,
      .error_text = "source 'test:///src' offers v3, v2, v1, destination "
                    "'test:///dst?migration=none' offers none",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/fallback/offline-needs-v3", .dst_params = "migration=v2",
      .source = SOURCE_SHUT_OFF, .error_code = FERRY_ERROR_NO_SUPPORT,
      .error_text = "offline migration needs protocol v3",
      .dst_state = NOTHING, .src_state = FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN },

    /* Injected failures: one copy runs, nothing is left behind. */
    { "/migrate/fault/v3-begin", .src_params = "fail=begin",
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in begin",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/fault/v3-prepare", .dst_params = "fail=prepare",
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in prepare",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/fault/v3-perform", .src_params = "fail=perform",
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in perform",
      .dst_state = NOTHING, .src_state = RUNNING_CANCELED },
    { "/migrate/fault/v3-perform-and-finish", .src_params = "fail=perform",
      .dst_params = "fail=finish",
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in perform",
      .dst_state = NOTHING, .src_state = RUNNING_CANCELED },
    { "/migrate/fault/v3-finish", .dst_params = "fail=finish",
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in finish",
      .dst_state = NOTHING, .src_state = RUNNING_CANCELED },
    { "/migrate/fault/v3-finish-transient", .dst_params = "fail=finish",
      .source = SOURCE_TRANSIENT,
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in finish",
      .dst_state = NOTHING, .src_state = RUNNING_CANCELED },
    { "/migrate/fault/v3-finish-paused", .dst_params = "fail=finish",
      .source = SOURCE_PAUSED,
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in finish",
      .dst_state = NOTHING, .src_state = FERRY_DOMAIN_PAUSED, FERRY_PAUSED_USER },
    /* Confirm fails after the destination took over: the caller has the
     * domain; the source stays paused, in doubt, never running again. */
    { "/migrate/fault/v3-confirm", .src_params = "fail=confirm", .protocol = 3,
      .dst_state = RUNNING_MIGRATED,
      .src_state = FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION,
      .warning = "the destination runs the guest but the source could not be stopped" },
    { "/migrate/fault/v3-offline-finish", .dst_params = "fail=finish",
      .source = SOURCE_SHUT_OFF,
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in finish",
      .dst_state = NOTHING, .src_state = FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN },
    { "/migrate/fault/v2-prepare", .dst_params = "migration=v2&fail=prepare",
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in prepare",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/fault/v2-perform", .src_params = "migration=v2&fail=perform",
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in perform",
      .dst_state = NOTHING, .src_state = RUNNING_CANCELED },
    { "/migrate/fault/v1-perform", .src_params = "migration=v1&fail=perform",
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in perform",
      .dst_state = NOTHING, .src_state = RUNNING_CANCELED },
    { "/migrate/fault/v1-prepare", .dst_params = "migration=v1&fail=prepare",
      .error_code = FERRY_ERROR_OPERATION_FAILED, .error_text = "injected failure in prepare",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },

    /* Refusals */
    { "/migrate/refuse/bad-dname", .dname = "-web",
      .error_code = FERRY_ERROR_INVALID_ARG,
      .error_text = "migration of domain 'web1': params->dname: domain name '-web' must "
                    "not start with '-'",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/offline-and-live", .flags = FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_LIVE,
      .error_code = FERRY_ERROR_INVALID_ARG,
      .error_text = "FERRY_MIGRATE_OFFLINE and FERRY_MIGRATE_LIVE exclude each other",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/peer2peer", .flags = FERRY_MIGRATE_PEER2PEER,
      .error_code = FERRY_ERROR_INVALID_ARG, .error_text = "ferry_domain_migrate_to_uri()",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/unknown-flags", .flags = 1 << 30,
      .error_code = FERRY_ERROR_INVALID_ARG, .error_text = "unknown flags 0x40000000",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/tunnelled-not-p2p", .flags = FERRY_MIGRATE_TUNNELLED,
      .error_code = FERRY_ERROR_INVALID_ARG,
      .error_text = "FERRY_MIGRATE_TUNNELLED needs peer-to-peer migration",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/running-offline",
      .flags = FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_PERSIST_DEST,
      .error_code = FERRY_ERROR_OPERATION_INVALID,
      .error_text = "domain 'web1' is running: FERRY_MIGRATE_OFFLINE is for domains",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/inactive-live", .source = SOURCE_SHUT_OFF, .flags = FERRY_MIGRATE_LIVE,
      .error_code = FERRY_ERROR_OPERATION_INVALID,
      .error_text = "domain 'web1' is not running",
      .dst_state = NOTHING, .src_state = FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN },
    /* Convergence (issue #10): the test driver has no post-copy to switch
     * to, and says so before anything moves; the rest it accepts. */
    { "/migrate/refuse/postcopy-unsupported", .flags = FERRY_MIGRATE_POSTCOPY,
      .error_code = FERRY_ERROR_NO_SUPPORT, .error_text = "cannot migrate in post-copy",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/after-precopy-alone", .flags = FERRY_MIGRATE_POSTCOPY_AFTER_PRECOPY,
      .error_code = FERRY_ERROR_INVALID_ARG,
      .error_text = "FERRY_MIGRATE_POSTCOPY_AFTER_PRECOPY needs FERRY_MIGRATE_POSTCOPY",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/postcopy-and-no-postcopy",
      .flags = FERRY_MIGRATE_POSTCOPY | FERRY_MIGRATE_NO_POSTCOPY,
      .error_code = FERRY_ERROR_INVALID_ARG,
      .error_text = "FERRY_MIGRATE_POSTCOPY and FERRY_MIGRATE_NO_POSTCOPY contradict",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    /* The downtime cap: its arguments, and a driver that cannot check it
     * (the test driver does not switch over the way QEMU does). */
    { "/migrate/refuse/cap-unsupported", .cap_ms = 300,
      .error_code = FERRY_ERROR_NO_SUPPORT, .error_text = "cannot enforce a downtime cap",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/downtime-above-cap", .cap_ms = 300, .max_downtime_ms = 500,
      .error_code = FERRY_ERROR_INVALID_ARG,
      .error_text = "params->max_downtime_ms (500 ms) is above params->max_downtime_cap_ms "
                    "(300 ms)",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/cap-too-large", .cap_ms = 2000001,
      .error_code = FERRY_ERROR_INVALID_ARG,
      .error_text = "params->max_downtime_cap_ms: 2000001 ms is more than",
      .dst_state = NOTHING, .src_state = RUNNING_BOOTED },
    { "/migrate/refuse/cap-offline", .cap_ms = 300, .source = SOURCE_SHUT_OFF,
      .flags = FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_PERSIST_DEST,
      .error_code = FERRY_ERROR_INVALID_ARG, .error_text = "FERRY_MIGRATE_OFFLINE pauses nothing",
      .dst_state = NOTHING, .src_state = FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN },
    /* The test driver cannot receive post-copy: the policy's default
     * offer is declined, and the migration goes on in pre-copy. */
    { "/migrate/v3/no-postcopy", .flags = FERRY_MIGRATE_NO_POSTCOPY,
      .protocol = 3, .dst_state = RUNNING_MIGRATED, .src_state = SHUTOFF_MIGRATED },
    { "/migrate/refuse/postcopy-offline",
      .flags = FERRY_MIGRATE_POSTCOPY | FERRY_MIGRATE_OFFLINE | FERRY_MIGRATE_PERSIST_DEST,
      .source = SOURCE_SHUT_OFF, .error_code = FERRY_ERROR_INVALID_ARG,
      .error_text = "FERRY_MIGRATE_POSTCOPY is for a running guest",
      .dst_state = NOTHING, .src_state = FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN },
    { "/migrate/v3/parallel-compressed-auto-converge",
      .flags = FERRY_MIGRATE_PARALLEL | FERRY_MIGRATE_COMPRESSED | FERRY_MIGRATE_AUTO_CONVERGE,
      .protocol = 3, .dst_state = RUNNING_MIGRATED, .src_state = SHUTOFF_MIGRATED },
    { "/migrate/refuse/v2-inactive", .dst_params = "migration=v2", .source = SOURCE_SHUT_OFF,
      .flags = FERRY_MIGRATE_LIVE, .error_code = FERRY_ERROR_OPERATION_INVALID,
      .error_text = "domain 'web1' is not running",
      .dst_state = NOTHING, .src_state = FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN },
};

/* ------------------------------------------------------------------------ */
/* Cases that need more than a descriptor                                    */
/* ------------------------------------------------------------------------ */

static void
test_same_host(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = mt_open_test_host("src", "host_uuid=" DST_UUID);
    g_autoptr(ferry_conn) again = mt_open_test_host("again", "host_uuid=" DST_UUID);
    g_autoptr(ferry_domain) dom = make_source(src, SOURCE_RUNNING);
    g_autoptr(ferry_domain) ddom = NULL;

    ddom = ferry_domain_migrate(dom, again, NULL, NULL, &error);
    g_assert_null(ddom);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE);
    g_assert_cmpstr(error->message, ==,
                    "migration to the same host refused: host 'test-src' has uuid " DST_UUID
                    ", the same as the source's");
    assert_domain(src, "web1", RUNNING_BOOTED);
    g_assert_cmpuint(mt_count_domains(again), ==, 1);
}

static void
test_name_clash(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *other = g_strdup(mt_web1_xml);
    g_autoptr(ferry_domain) there = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    hosts h;

    memcpy(strstr(other, "3f1e6a2c"), "aaaaaaaa", 8);
    hosts_open(&h, NULL, NULL, SOURCE_RUNNING);
    there = ferry_domain_define_xml(h.dst, other, &error);
    g_assert_no_error(error);
    ddom = ferry_domain_migrate(h.dom, h.dst, NULL, NULL, &error);
    g_assert_null(ddom);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_DOMAIN_EXISTS);
    g_assert_nonnull(strstr(error->message, "web1"));
    assert_domain(h.src, "web1", RUNNING_BOOTED);
    assert_domain(h.dst, "web1", FERRY_DOMAIN_SHUTOFF, FERRY_SHUTOFF_UNKNOWN);
    g_assert_cmpuint(mt_count_domains(h.dst), ==, 1);
    hosts_close(&h);
}

static void
test_stats_and_job_info(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_migrate_stats stats = { 0 };
    ferry_job_info info = { 0 };
    hosts h;

    hosts_open(&h, NULL, NULL, SOURCE_RUNNING);
    g_assert_true(ferry_domain_get_job_info(h.dom, &info, &error));
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_NONE);
    ddom = ferry_domain_migrate(h.dom, h.dst, NULL, &stats, &error);
    g_assert_no_error(error);
    g_assert_cmpint(stats.protocol, ==, 3);
    g_assert_cmpint(stats.wall_ms, >=, 0);
    g_assert_cmpint(stats.total_ms, >, 0);
    g_assert_cmpint(stats.downtime_ms, >, 0);
    g_assert_cmpuint(stats.data_total, ==, 64 * 1024 * 1024);
    g_assert_cmpuint(stats.data_transferred, ==, 64 * 1024 * 1024);

    /* As in libvirt: the job is over, its statistics are the completed
     * job's, on both hosts. */
    g_assert_true(ferry_domain_get_job_info(h.dom, &info, &error));
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_NONE);
    g_assert_true(ferry_domain_get_job_stats(h.dom, FERRY_JOB_STATS_COMPLETED, &info, &error));
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_COMPLETED);
    g_assert_cmpstr(info.phase, ==, "");
    g_assert_cmpstr(info.role, ==, "source");
    g_assert_cmpstr(info.state, ==, "completed");
    g_assert_cmpuint(info.mem_total, ==, 64 * 1024 * 1024);
    g_assert_cmpuint(info.mem_remaining, ==, 0);
    g_assert_cmpint(info.protocol, ==, 3);
    g_assert_true(ferry_domain_get_job_stats(ddom, FERRY_JOB_STATS_COMPLETED, &info, &error));
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_COMPLETED);
    g_assert_cmpstr(info.role, ==, "destination");
    hosts_close(&h);
}

static void
test_failed_job_info(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_job_info info = { 0 };
    hosts h;

    hosts_open(&h, "fail=perform", NULL, SOURCE_RUNNING);
    ddom = ferry_domain_migrate(h.dom, h.dst, NULL, NULL, &error);
    g_assert_null(ddom);
    g_clear_error(&error);
    g_assert_true(ferry_domain_get_job_stats(h.dom, FERRY_JOB_STATS_COMPLETED, &info, &error));
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_FAILED);
    g_assert_cmpstr(info.state, ==, "failed");
    g_assert_nonnull(strstr(info.message, "perform"));
    /* The job is over: the domain takes other operations again. */
    g_assert_true(ferry_domain_suspend(h.dom, &error));
    g_assert_no_error(error);
    hosts_close(&h);
}

typedef struct {
    GPtrArray *lines;         /* lifecycle events */
    guint progress;           /* FERRY_EVENT_JOB_PROGRESS seen */
    char ended[16];           /* the state FERRY_EVENT_JOB_ENDED said, or "" */
} recorder;

static void
on_event(ferry_conn *conn, const ferry_event *ev, gpointer data)
{
    recorder *r = data;
    const char *what = ev->type == FERRY_EVENT_MIGRATION_BEGIN ? "migration-begin" :
                       ferry_lifecycle_event_to_string(ev->lifecycle);

    if (ev->type == FERRY_EVENT_JOB_PROGRESS || ev->type == FERRY_EVENT_JOB_ENDED) {
        g_assert_nonnull(ev->job);
        if (ev->type == FERRY_EVENT_JOB_PROGRESS) {
            g_assert_cmpint(ev->job->type, ==, FERRY_JOB_INFO_ACTIVE);
            r->progress++;
        } else {
            g_assert_cmpstr(r->ended, ==, "");
            g_strlcpy(r->ended, ev->job->state, sizeof(r->ended));
        }
        return;
    }

    g_ptr_array_add(r->lines,
                    g_strdup_printf("%s %s:%s:%s", ferry_domain_get_name(ev->domain), what,
                                    ferry_domain_state_to_string(ev->state),
                                    ferry_domain_state_reason_to_string(ev->state,
                                                                        ev->reason)));
}

static void
drain(void)
{
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static char *
joined(recorder *r)
{
    g_ptr_array_add(r->lines, NULL);
    return g_strjoinv("\n", (char **)r->lines->pdata);
}

static void
test_events(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    recorder rs = { .lines = g_ptr_array_new_with_free_func(g_free) };
    recorder rd = { .lines = g_ptr_array_new_with_free_func(g_free) };
    g_autofree char *src_events = NULL;
    g_autofree char *dst_events = NULL;
    ferry_migrate_params params = { .flags = FERRY_MIGRATE_PERSIST_DEST |
                                             FERRY_MIGRATE_UNDEFINE_SOURCE };
    guint ids, idd;
    hosts h;

    hosts_open(&h, NULL, NULL, SOURCE_RUNNING);
    ids = ferry_conn_subscribe_events(h.src, on_event, &rs, NULL, &error);
    idd = ferry_conn_subscribe_events(h.dst, on_event, &rd, NULL, &error);
    g_assert_no_error(error);
    ddom = ferry_domain_migrate(h.dom, h.dst, &params, NULL, &error);
    g_assert_no_error(error);
    drain();
    src_events = joined(&rs);
    dst_events = joined(&rd);
    g_assert_cmpstr(src_events, ==,
                    "web1 migration-begin:running:booted\n"
                    "web1 suspended:paused:migration\n"
                    "web1 stopped:shut off:migrated\n"
                    "web1 undefined:shut off:migrated");
    g_assert_cmpstr(dst_events, ==,
                    "web1 started:paused:migration\n"
                    "web1 defined:paused:migration\n"
                    "web1 resumed:running:migrated");
    /* The job's own events: its passes on the source, its end on both. */
    g_assert_cmpuint(rs.progress, >, 0);
    g_assert_cmpstr(rs.ended, ==, "completed");
    g_assert_cmpstr(rd.ended, ==, "completed");
    g_assert_true(ferry_conn_unsubscribe_events(h.src, ids, &error));
    g_assert_true(ferry_conn_unsubscribe_events(h.dst, idd, &error));
    g_ptr_array_unref(rs.lines);
    g_ptr_array_unref(rd.lines);
    hosts_close(&h);
}

static void
test_p2p(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = mt_open_test_host("src", NULL);
    g_autoptr(ferry_conn) dst = mt_open_test_host("dst", "host_uuid=" DST_UUID);
    g_autoptr(ferry_domain) dom = make_source(src, SOURCE_RUNNING);
    ferry_migrate_params params = { .flags = FERRY_MIGRATE_PERSIST_DEST, .dname = "web2" };
    ferry_migrate_stats stats = { 0 };
    gboolean persistent = FALSE;

    g_assert_true(ferry_domain_migrate_to_uri(dom, "test:///dst?host_uuid=" DST_UUID,
                                              &params, &stats, &error));
    g_assert_no_error(error);
    g_assert_cmpint(stats.protocol, ==, 3);
    g_assert_cmpuint(stats.data_total, ==, 64 * 1024 * 1024);
    assert_domain(dst, "web2", RUNNING_MIGRATED);
    state_of(dst, "web2", NULL, &persistent);
    g_assert_true(persistent);
    assert_domain(src, "web1", SHUTOFF_MIGRATED);
}

/* What a tunnel cannot carry is refused before anything starts, and a
 * destination that does not offer it (the test driver) by the source's
 * engine, naming it; the domain runs on. */
static void
test_p2p_tunnelled_refused(void)
{
    static const struct {
        guint flags;
        const char *text;
    } refusals[] = {
        { FERRY_MIGRATE_NON_SHARED_DISK, "cannot copy disks" },
        { FERRY_MIGRATE_RELAY, "FERRY_MIGRATE_TUNNELLED and FERRY_MIGRATE_RELAY exclude" },
        { FERRY_MIGRATE_PARALLEL, "FERRY_MIGRATE_PARALLEL needs several connections" },
        { FERRY_MIGRATE_TLS, "FERRY_MIGRATE_TUNNELLED and FERRY_MIGRATE_TLS exclude" },
        { 0, "destination 'test:///dst?host_uuid=" DST_UUID "' does not offer tunnelled "
             "migration" },
    };
    g_autoptr(ferry_conn) src = mt_open_test_host("src", NULL);
    g_autoptr(ferry_conn) dst = mt_open_test_host("dst", "host_uuid=" DST_UUID);
    g_autoptr(ferry_domain) dom = make_source(src, SOURCE_RUNNING);

    for (guint i = 0; i < G_N_ELEMENTS(refusals); i++) {
        g_autoptr(GError) error = NULL;
        ferry_migrate_params params = { .flags = FERRY_MIGRATE_TUNNELLED | refusals[i].flags };

        g_assert_false(ferry_domain_migrate_to_uri(dom, "test:///dst?host_uuid=" DST_UUID,
                                                   &params, NULL, &error));
        g_assert_nonnull(error);
        if (!strstr(error->message, refusals[i].text))
            g_error("case %u: '%s' does not say '%s'", i, error->message, refusals[i].text);
        assert_domain(src, "web1", RUNNING_BOOTED);
    }
}

static void
test_p2p_refused(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = mt_open_test_host("src", "migration=v2");
    g_autoptr(ferry_domain) dom = make_source(src, SOURCE_RUNNING);

    g_assert_false(ferry_domain_migrate_to_uri(dom, "test:///dst", NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_assert_cmpstr(error->message, ==,
                    "peer-to-peer migration of domain 'web1': source "
                    "'test:///src?migration=v2' does not offer peer-to-peer migration");
    g_clear_error(&error);
    g_assert_false(ferry_domain_migrate_to_uri(dom, "", NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    assert_domain(src, "web1", RUNNING_BOOTED);
}

static void
test_p2p_destination_fails(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = mt_open_test_host("src", NULL);
    g_autoptr(ferry_conn) dst = mt_open_test_host("dst", "host_uuid=" DST_UUID "&fail=finish");
    g_autoptr(ferry_domain) dom = make_source(src, SOURCE_RUNNING);

    g_assert_false(ferry_domain_migrate_to_uri(dom, "test:///dst?host_uuid=" DST_UUID,
                                               NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_OPERATION_FAILED);
    g_assert_cmpstr(error->message, ==, "Finish: injected failure in finish on host 'test-dst'");
    assert_domain(src, "web1", RUNNING_CANCELED);
    g_assert_cmpuint(mt_count_domains(dst), ==, 0);
}

/* hold=perform: Perform waits for a job-information reader. */
static void
test_job_info_during_perform(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_job_info info = { 0 };
    mt_migration *m;
    hosts h;

    hosts_open(&h, "hold=perform", NULL, SOURCE_RUNNING);
    m = mt_migration_start(h.dom, h.dst, NULL);
    mt_migration_wait_progress(m);

    g_assert_true(ferry_domain_get_job_info(h.dom, &info, &error));
    g_assert_no_error(error);
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_ACTIVE);
    g_assert_cmpstr(info.phase, ==, "perform");
    g_assert_cmpuint(info.mem_total, ==, 64 * 1024 * 1024);
    g_assert_cmpuint(info.mem_remaining, ==, 64 * 1024 * 1024);
    ddom = mt_migration_finish(m, &error);
    g_assert_no_error(error);
    g_assert_nonnull(ddom);
    hosts_close(&h);
}

/* ------------------------------------------------------------------------ */
/* The phase calls                                                           */
/* ------------------------------------------------------------------------ */

static gboolean
bare_probe(const ferry_uri *uri)
{
    return TRUE;
}

static gboolean
bare_open(ferry_conn *conn, const ferry_uri *uri, GError **error)
{
    return TRUE;
}

/* A driver with no migration entry at all. */
static const ferry_driver bare_driver = {
    .name = "bare",
    .conn_probe = bare_probe,
    .conn_open = bare_open,
};

static void
test_phase_unsupported(void)
{
    static const ferry_driver *const drivers[] = { &bare_driver, NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) conn = ferry_conn_open_with_drivers("bare:///x", drivers, &error);
    g_autoptr(ferry_domain) dom = ferry_domain_new_handle(conn, "web1", WEB1_UUID);
    ferry_job_info info;

    g_assert_no_error(error);
    g_assert_false(ferry_conn_migrate_prepare3(conn, NULL, mt_web1_xml, NULL, NULL, NULL,
                                               &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_assert_cmpstr(error->message, ==,
                    "driver 'bare' does not support migration phase 'Prepare3'");
    g_clear_error(&error);
    g_assert_null(ferry_domain_migrate_begin3(dom, NULL, NULL, &error));
    g_assert_cmpstr(error->message, ==,
                    "driver 'bare' does not support migration phase 'Begin3'");
    g_clear_error(&error);
    g_assert_false(ferry_domain_get_job_info(dom, &info, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_clear_error(&error);
    /* No protocol at all: supports_feature is missing too. */
    g_assert_null(ferry_domain_migrate(dom, conn, NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    g_assert_nonnull(strstr(error->message, "no migration protocol is offered by both"));
}

/* The parameters of the convergence features, each refused naming what it
 * lacks or what is wrong with it. */
static void
test_convergence_arguments(void)
{
    static const struct {
        ferry_migrate_params p;
        const char *says;
    } bad[] = {
        { { .postcopy_bandwidth_mib = 10 },
          "params->postcopy_bandwidth_mib needs FERRY_MIGRATE_POSTCOPY" },
        { { .flags = FERRY_MIGRATE_POSTCOPY, .postcopy_bandwidth_mib = 1u << 30 },
          "params->postcopy_bandwidth_mib: 1073741824 MiB/s is more than 1048576 MiB/s" },
        { { .parallel_connections = 4 },
          "params->parallel_connections needs FERRY_MIGRATE_PARALLEL" },
        { { .flags = FERRY_MIGRATE_PARALLEL, .parallel_connections = 256 },
          "params->parallel_connections: 256 is more than 255" },
        { { .comp_methods = FERRY_MIGRATE_COMP_XBZRLE },
          "params->comp_methods needs FERRY_MIGRATE_COMPRESSED" },
        { { .flags = FERRY_MIGRATE_COMPRESSED, .comp_methods = 1u << 5 },
          "params->comp_methods: unknown methods 0x20" },
        { { .flags = FERRY_MIGRATE_COMPRESSED, .comp_methods = FERRY_MIGRATE_COMP_ZSTD },
          "params->comp_methods FERRY_MIGRATE_COMP_ZSTD needs FERRY_MIGRATE_PARALLEL" },
        { { .auto_converge_increment = 5 },
          "params->auto_converge_increment needs FERRY_MIGRATE_AUTO_CONVERGE" },
        { { .flags = FERRY_MIGRATE_AUTO_CONVERGE, .auto_converge_initial = 100 },
          "params->auto_converge_initial: 100 is not a percentage from 1 to 99" },
    };
    hosts h;

    hosts_open(&h, NULL, NULL, SOURCE_RUNNING);
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(ferry_domain) ddom = ferry_domain_migrate(h.dom, h.dst, &bad[i].p, NULL,
                                                            &error);

        g_assert_null(ddom);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        if (!strstr(error->message, bad[i].says))
            g_error("case %" G_GSIZE_FORMAT ": error '%s' lacks '%s'", i, error->message,
                    bad[i].says);
    }
    {
        g_autoptr(GError) error = NULL;

        /* No migration at all to switch. */
        g_assert_false(ferry_domain_migrate_start_postcopy(h.dom, 0, &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
        g_clear_error(&error);
        g_assert_false(ferry_domain_migrate_start_postcopy(h.dom, 1, &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        g_clear_error(&error);
        /* Nothing paused to resume; the test driver resumes nothing. */
        g_assert_false(ferry_domain_migrate_postcopy_resume(h.dom, NULL, 0, &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
        g_clear_error(&error);
        g_assert_false(ferry_domain_migrate_postcopy_resume(h.dom, "::bad", 0, &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
        g_clear_error(&error);
    }
    {
        g_autoptr(GError) error = NULL;
        ferry_migrate_estimate e;
        ferry_migrate_params offline = { .flags = FERRY_MIGRATE_OFFLINE |
                                                  FERRY_MIGRATE_PERSIST_DEST };

        /* The arguments are checked before the driver is asked. */
        g_assert_false(ferry_domain_migrate_estimate(h.dom, NULL, NULL, &e, 0, &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(error->message, "dest_uri"));
        g_clear_error(&error);
        g_assert_false(ferry_domain_migrate_estimate(h.dom, "test:///b", &offline, &e, 0,
                                                     &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(error->message, "nothing to estimate"));
        g_clear_error(&error);
        /* The test driver measures no guest. */
        g_assert_false(ferry_domain_migrate_estimate(h.dom, "test:///b", NULL, &e, 0, &error));
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_SUPPORT);
    }
    hosts_close(&h);
}

static void
test_phase_arguments(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_migrate_params p2p = { .flags = FERRY_MIGRATE_PEER2PEER };
    ferry_migrate_params live = { .flags = FERRY_MIGRATE_LIVE };
    ferry_migrate_params offline_only = { .flags = FERRY_MIGRATE_OFFLINE };
    hosts h;

    hosts_open(&h, NULL, NULL, SOURCE_RUNNING);
    g_assert_null(ferry_domain_migrate_begin3(NULL, NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "migration phase 'Begin3': dom must not be NULL");
    g_clear_error(&error);
    g_assert_null(ferry_domain_migrate(h.dom, NULL, NULL, NULL, &error));
    g_assert_cmpstr(error->message, ==, "migration of domain 'web1': dconn must not be NULL");
    g_clear_error(&error);
    g_assert_null(ferry_domain_migrate_begin3(h.dom, &p2p, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_false(ferry_domain_migrate_perform3(h.dom, &live, "test:///dst", NULL, NULL,
                                                 &error));
    g_assert_cmpstr(error->message, ==, "migration phase 'Perform3': params->flags: a "
                    "destination connection URI (dconn_uri) needs FERRY_MIGRATE_PEER2PEER");
    g_clear_error(&error);
    g_assert_false(ferry_domain_migrate_perform3(h.dom, &p2p, NULL, NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_false(ferry_conn_migrate_prepare3(h.dst, NULL, "", NULL, NULL, NULL, &error));
    g_assert_cmpstr(error->message, ==, "migration phase 'Prepare3': dom_xml must not be empty");
    g_clear_error(&error);
    g_assert_null(ferry_conn_migrate_finish3(h.dst, NULL, "a/b", NULL, NULL, FALSE, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "migration phase 'Finish3': dname:"));
    g_clear_error(&error);
    g_assert_false(ferry_conn_migrate_prepare2(h.dst, &offline_only, mt_web1_xml, NULL, NULL,
                                               &error));
    g_assert_nonnull(strstr(error->message, "needs FERRY_MIGRATE_PERSIST_DEST"));
    g_clear_error(&error);
    /* Perform3 without Begin3: the domain has no migration job. */
    g_assert_false(ferry_domain_migrate_perform3(h.dom, &live, NULL, NULL, NULL, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_COOKIE);
    g_clear_error(&error);
    /* Finish3 of a migration that never came. */
    ddom = ferry_conn_migrate_finish3(h.dst, &live, "web1", NULL, NULL, FALSE, &error);
    g_assert_null(ddom);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_NO_DOMAIN);
    g_clear_error(&error);
    /* Nothing of this touched the domain. */
    assert_domain(h.src, "web1", RUNNING_BOOTED);
    hosts_close(&h);
}

/* Phase by phase, as a daemon's dispatch would call them. */
static void
test_phases_by_hand(void)
{
    g_autoptr(GError) error = NULL;
    ferry_migrate_params params = { .flags = FERRY_MIGRATE_LIVE };
    g_autofree char *xml = NULL;
    g_autofree char *cookie1 = NULL;
    g_autofree char *cookie2 = NULL;
    g_autofree char *cookie3 = NULL;
    g_autofree char *cookie4 = NULL;
    g_autofree char *uri = NULL;
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_job_info info = { 0 };
    hosts h;

    hosts_open(&h, NULL, NULL, SOURCE_RUNNING);
    xml = ferry_domain_migrate_begin3(h.dom, &params, &cookie1, &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(xml, "<name>web1</name>"));
    g_assert_true(ferry_domain_get_job_info(h.dom, &info, &error));
    g_assert_cmpint(info.type, ==, FERRY_JOB_INFO_ACTIVE);
    g_assert_cmpstr(info.phase, ==, "begin");
    /* Another job waits for the migration job: not tried here (30 s). */

    g_assert_true(ferry_conn_migrate_prepare3(h.dst, &params, xml, cookie1, &cookie2, &uri,
                                              &error));
    g_assert_no_error(error);
    g_assert_true(g_str_has_prefix(uri, "test://"));
    assert_domain(h.dst, "web1", FERRY_DOMAIN_PAUSED, FERRY_PAUSED_MIGRATION);
    /* Finish before Perform: the memory never arrived; the copy goes. */
    ddom = ferry_conn_migrate_finish3(h.dst, &params, "web1", cookie1, &cookie4, FALSE,
                                      &error);
    g_assert_null(ddom);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE);
    g_assert_nonnull(strstr(error->message, "never arrived"));
    g_clear_error(&error);
    g_assert_cmpuint(mt_count_domains(h.dst), ==, 0);
    g_assert_true(ferry_domain_migrate_confirm3(h.dom, &params, NULL, TRUE, &error));
    g_assert_no_error(error);
    assert_domain(h.src, "web1", RUNNING_BOOTED);

    /* Perform to a URI that names no host of this process. */
    g_clear_pointer(&xml, g_free);
    g_clear_pointer(&cookie1, g_free);
    xml = ferry_domain_migrate_begin3(h.dom, &params, &cookie1, &error);
    g_assert_no_error(error);
    g_clear_pointer(&cookie2, g_free);
    g_clear_pointer(&uri, g_free);
    g_assert_true(ferry_conn_migrate_prepare3(h.dst, &params, xml, cookie1, &cookie2, &uri,
                                              &error));
    params.uri = "test://00000000-0000-4000-8000-000000000000/";
    g_assert_false(ferry_domain_migrate_perform3(h.dom, &params, NULL, cookie2, &cookie3,
                                                 &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_MIGRATE);
    g_assert_nonnull(strstr(error->message, "no test host with uuid"));
    g_clear_error(&error);
    g_assert_null(cookie3);
    params.uri = NULL;
    g_assert_null(ferry_conn_migrate_finish3(h.dst, &params, "web1", cookie1, NULL, TRUE,
                                             &error));
    g_clear_error(&error);
    g_assert_true(ferry_domain_migrate_confirm3(h.dom, &params, NULL, TRUE, &error));
    assert_domain(h.src, "web1", RUNNING_CANCELED);
    g_assert_cmpuint(mt_count_domains(h.dst), ==, 0);
    hosts_close(&h);
}

static void
test_uri_parameters(void)
{
    const char *bad[] = {
        "test:///x?migration=v4", "test:///x?fail=later", "test:///x?hold=confirm",
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) first = mt_open_test_host("a", "host_uuid=" DST_UUID "&migration=v2");
    g_autoptr(ferry_conn) same = NULL;
    g_autoptr(ferry_conn) other = NULL;
    gboolean supported = TRUE;

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(ferry_conn) conn = ferry_conn_open(bad[i], &error);

        g_assert_null(conn);
        g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
        g_clear_error(&error);
    }
    /* Reconnecting reaches the same host, with its settings. */
    same = ferry_conn_open("test:///b?host_uuid=" DST_UUID, &error);
    g_assert_no_error(error);
    g_assert_true(ferry_conn_supports_feature(same, FERRY_FEATURE_MIGRATION_V3, &supported,
                                              &error));
    g_assert_false(supported);
    g_assert_true(ferry_conn_supports_feature(same, FERRY_FEATURE_MIGRATION_V2, &supported,
                                              &error));
    g_assert_true(supported);
    g_assert_true(ferry_conn_supports_feature(same, FERRY_FEATURE_MIGRATION_P2P, &supported,
                                              &error));
    g_assert_false(supported);
    other = ferry_conn_open("test:///c?host_uuid=" DST_UUID "&migration=v3", &error);
    g_assert_null(other);
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_URI);
    g_assert_nonnull(strstr(error->message, "already exists with migration=v2, not v3"));
    g_clear_error(&error);
    {
        g_autoptr(ferry_domain) dom = ferry_domain_define_xml(first, mt_web1_xml, &error);

        g_assert_no_error(error);
        g_assert_cmpuint(mt_count_domains(same), ==, 1);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    mt_log_init();
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        g_test_add_data_func(cases[i].path, &cases[i], run_case);
    g_test_add_func("/migrate/refuse/same-host", test_same_host);
    g_test_add_func("/migrate/refuse/name-clash", test_name_clash);
    g_test_add_func("/migrate/stats-and-job-info", test_stats_and_job_info);
    g_test_add_func("/migrate/failed-job-info", test_failed_job_info);
    g_test_add_func("/migrate/events", test_events);
    g_test_add_func("/migrate/p2p/live", test_p2p);
    g_test_add_func("/migrate/p2p/refused", test_p2p_refused);
    g_test_add_func("/migrate/p2p/tunnelled-refused", test_p2p_tunnelled_refused);
    g_test_add_func("/migrate/p2p/destination-fails", test_p2p_destination_fails);
    g_test_add_func("/migrate/job-info-during-perform", test_job_info_during_perform);
    g_test_add_func("/migrate/phases/unsupported", test_phase_unsupported);
    g_test_add_func("/migrate/phases/arguments", test_phase_arguments);
    g_test_add_func("/migrate/convergence-arguments", test_convergence_arguments);
    g_test_add_func("/migrate/phases/by-hand", test_phases_by_hand);
    g_test_add_func("/migrate/uri-parameters", test_uri_parameters);
    return g_test_run();
}
