/*
 * test-migrate-snapshots.c: a domain's snapshot metadata follows its
 * migration between two in-process test hosts
 * (src/migration/migration-snapshots.c), and the snapshot safety rule
 * (FERRY_ERROR_MIGRATE_SNAPSHOTS) with and without FERRY_MIGRATE_FORCE.
 *
 * The source's domain web1 has the chain s1 -> s2 -> s3 and then reverts
 * to s2, so that the current snapshot is not the last one: the destination
 * must learn it from the stream, not guess it.  The test driver carries
 * the snapshots through the same bytes and decoder as two daemons do
 * (conn_migrate_snapshots), so its URI can spoil them
 * (snapshot_stream=truncated|bad-xml), and a host opened with
 * snapshots=no takes none, as a daemon older than 0.6.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "migrate-test-util.h"

#define DST_UUID "5e0c9a54-7a43-4f2b-8d35-0a2b7c6f9e11"
#define DST_URI "test:///dst?host_uuid=" DST_UUID

static void
snapshot(ferry_domain *dom, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = g_strdup_printf("<domainsnapshot><name>%s</name></domainsnapshot>",
                                           name);
    g_autofree char *got = ferry_domain_snapshot_create_xml(dom, xml, 0, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(got, ==, name);
}

/* web1 running on @src with s1 -> s2 -> s3, s2 current. */
static ferry_domain *
source_with_chain(ferry_conn *src)
{
    g_autoptr(GError) error = NULL;
    ferry_domain *dom = mt_domain_start(src, mt_web1_disks_xml);

    snapshot(dom, "s1");
    snapshot(dom, "s2");
    snapshot(dom, "s3");
    g_assert_true(ferry_domain_snapshot_revert(dom, "s2", 0, &error));
    g_assert_no_error(error);
    return dom;
}

/* "name<parent" of each snapshot, parents first, "*" on the current. */
static char *
tree_of(ferry_conn *conn)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_domain) dom = ferry_domain_lookup_by_name(conn, "web1", &error);
    g_autoptr(GPtrArray) infos = NULL;
    GString *out = g_string_new(NULL);

    g_assert_no_error(error);
    g_assert_true(ferry_domain_snapshot_list(dom, 0, &infos, &error));
    g_assert_no_error(error);
    for (guint i = 0; i < infos->len; i++) {
        const ferry_snapshot_info *info = infos->pdata[i];

        g_string_append_printf(out, "%s%s<%s%s", i ? " " : "", info->name,
                               info->parent ? info->parent : "-", info->current ? "*" : "");
    }
    return g_string_free(out, FALSE);
}

#define CHAIN "s1<- s2<s1* s3<s2"

typedef struct {
    const char *path;
    const char *src_params;
    const char *dst_params;     /* appended to host_uuid= */
    guint flags;
    gboolean p2p;               /* ferry_domain_migrate_to_uri() */
    /* What must happen: */
    int error_code;             /* 0: the guest moves */
    const char *text;           /* in the error, or in the left-behind note */
    const char *text2;          /* a second one, or NULL */
    const char *log;            /* forced: what the source's log says, or NULL */
    gboolean after_prepare;     /* refused at Perform: the source was resumed after a
                                 * failed migration ("migration canceled") */
} snap_case;

#define ALL_THREE "snapshots 's1', 's2', 's3'"
#define NBD "nbd=yes"
#define COPY FERRY_MIGRATE_NON_SHARED_DISK
#define FORCE FERRY_MIGRATE_FORCE

static const snap_case cases[] = {
    /* They follow: same parents, same current one. */
    { "/migrate-snapshots/moved/v3", .p2p = FALSE },
    { "/migrate-snapshots/moved/p2p", .p2p = TRUE },
    /* Storage migration: the internal snapshots stay in the source's images. */
    { "/migrate-snapshots/storage/refused", NBD, NBD, COPY,
      .error_code = FERRY_ERROR_MIGRATE_SNAPSHOTS,
      .text = "domain 'web1': migration refused as unsafe (1 problem; FERRY_MIGRATE_FORCE, "
              "ferry migrate --force, migrates anyway): its " ALL_THREE " are inside its "
              "qcow2 images, and a storage migration copies what the guest sees",
      .text2 = "they would stay on host 'test-src' only (--force migrates without them)" },
    { "/migrate-snapshots/storage/forced", NBD, NBD, COPY | FORCE,
      .text = "domain 'web1': " ALL_THREE " stayed on host 'test-src' (a storage migration "
              "does not copy the internal snapshots of the qcow2 images)",
      .log = "forced despite: its " ALL_THREE " are inside its qcow2 images" },
    { "/migrate-snapshots/storage/forced-p2p", NBD, NBD, COPY | FORCE, TRUE,
      .text = "domain 'web1': " ALL_THREE " stayed on host 'test-src'",
      .log = "forced despite: its " ALL_THREE },
    /* A destination that takes none (older than 0.6): known at Perform. */
    { "/migrate-snapshots/old-destination/refused", NULL, "snapshots=no", 0,
      .error_code = FERRY_ERROR_MIGRATE_SNAPSHOTS,
      .text = "its " ALL_THREE " cannot follow it: the destination, host 'test-dst', did not "
              "take them",
      .text2 = "--force migrates without them", .after_prepare = TRUE },
    { "/migrate-snapshots/old-destination/forced", NULL, "snapshots=no", FORCE,
      .text = "domain 'web1': " ALL_THREE " stayed on host 'test-src' (the destination did "
              "not take them)",
      .log = "forced despite: its " ALL_THREE " cannot follow it" },
    { "/migrate-snapshots/old-destination/forced-p2p", NULL, "snapshots=no", FORCE, TRUE,
      .text = "(the destination did not take them)", .log = "forced despite: its " },
    /* Protocol v2 has no Begin to offer them in. */
    { "/migrate-snapshots/v2/refused", NULL, "migration=v2", 0,
      .error_code = FERRY_ERROR_MIGRATE_SNAPSHOTS,
      .text = "its " ALL_THREE " cannot follow it over migration protocol v2" },
    { "/migrate-snapshots/v2/forced", NULL, "migration=v2", FORCE,
      .text = "stayed on host 'test-src' (only migration protocol v3 carries them)",
      .log = "forced despite: its " ALL_THREE " cannot follow it over migration protocol v2" },
    /* What the destination cannot take fails Prepare: FORCE or not. */
    { "/migrate-snapshots/stream/truncated", "snapshot_stream=truncated", NULL, FORCE,
      .error_code = FERRY_ERROR_RPC,
      .text = "domain 'web1': its snapshots cannot follow it to host 'test-dst': fetching 3 "
              "snapshots from host 'test-src' at 'test:///peer?host_uuid=",
      .text2 = "the stream ended inside document 3 of 3" },
    { "/migrate-snapshots/stream/bad-xml", "snapshot_stream=bad-xml", NULL, 0,
      .error_code = FERRY_ERROR_MIGRATE_SNAPSHOTS,
      .text = "domain 'web1': its snapshots cannot follow it to host 'test-dst': snapshot 1 "
              "of 3 from host 'test-src'" },
};

static void
run_case(gconstpointer data)
{
    const snap_case *c = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *dst_params = g_strdup_printf("host_uuid=%s%s%s", DST_UUID,
                                                  c->dst_params ? "&" : "",
                                                  c->dst_params ? c->dst_params : "");
    g_autoptr(ferry_conn) src = mt_open_test_host("src", c->src_params);
    g_autoptr(ferry_conn) dst = mt_open_test_host("dst", dst_params);
    g_autoptr(ferry_domain) dom = source_with_chain(src);
    g_autofree char *dst_uri = g_strdup_printf("test:///dst?%s", dst_params);
    ferry_migrate_params params = { .flags = c->flags };
    ferry_migrate_stats stats = { 0 };
    gboolean ok;

    if (c->p2p) {
        ok = ferry_domain_migrate_to_uri(dom, dst_uri, &params, &stats, &error);
    } else {
        g_autoptr(ferry_domain) ddom = ferry_domain_migrate(dom, dst, &params, &stats, &error);

        ok = ddom != NULL;
    }
    if (c->error_code) {
        g_autofree char *tree = NULL;

        g_assert_false(ok);
        g_assert_error(error, FERRY_ERROR, c->error_code);
        if (!strstr(error->message, c->text))
            g_error("error '%s' lacks '%s'", error->message, c->text);
        if (c->text2 && !strstr(error->message, c->text2))
            g_error("error '%s' lacks '%s'", error->message, c->text2);
        /* The source runs on with everything it had; the destination
         * has nothing, no domain and no stray metadata. */
        /* Reverted to s2: running, "unpaused"; refused at Perform, the
         * engine resumed it as after any failed migration. */
        mt_assert_state(src, "web1", FERRY_DOMAIN_RUNNING,
                        c->after_prepare ? FERRY_RUNNING_MIGRATION_CANCELED
                                         : FERRY_RUNNING_UNPAUSED);
        tree = tree_of(src);
        g_assert_cmpstr(tree, ==, CHAIN);
        g_assert_cmpuint(mt_count_domains(dst), ==, 0);
    } else if (!c->text) {
        g_autofree char *tree = NULL;

        g_assert_no_error(error);
        g_assert_true(ok);
        mt_assert_state(dst, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
        tree = tree_of(dst);
        g_assert_cmpstr(tree, ==, CHAIN);
        g_assert_cmpuint(stats.snapshots_moved, ==, 3);
        g_assert_cmpuint(stats.snapshots_left, ==, 0);
        g_assert_cmpstr(stats.snapshots_note, ==, "");
    } else {
        g_autofree char *tree = NULL;

        /* Forced: the guest moved without them; the caller is told which
         * stayed where. */
        g_assert_no_error(error);
        g_assert_true(ok);
        mt_assert_state(dst, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
        tree = tree_of(dst);
        g_assert_cmpstr(tree, ==, "");
        g_assert_cmpuint(stats.snapshots_moved, ==, 0);
        g_assert_cmpuint(stats.snapshots_left, ==, 3);
        if (!strstr(stats.snapshots_note, c->text))
            g_error("note '%s' lacks '%s'", stats.snapshots_note, c->text);
        g_assert_cmpuint(mt_log_take(c->log), ==, 1);
        g_assert_cmpuint(mt_log_take("stayed on host 'test-src'"), ==, 1);
    }
    mt_log_assert_empty();
}

/* After the move the destination's snapshots are its own: a revert works,
 * and a migration back brings them home with the same tree. */
static void
test_revert_and_back(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(ferry_conn) src = mt_open_test_host("src", NULL);
    g_autoptr(ferry_conn) dst = mt_open_test_host("dst", "host_uuid=" DST_UUID);
    g_autoptr(ferry_domain) dom = source_with_chain(src);
    g_autoptr(ferry_domain) ddom = ferry_domain_migrate(dom, dst, NULL, NULL, &error);
    g_autoptr(ferry_domain) back = NULL;
    g_autofree char *current = NULL;
    g_autofree char *tree = NULL;

    g_assert_no_error(error);
    g_assert_true(ferry_domain_snapshot_revert(ddom, "s3", 0, &error));
    g_assert_no_error(error);
    current = ferry_domain_snapshot_current(ddom, &error);
    g_assert_cmpstr(current, ==, "s3");
    back = ferry_domain_migrate(ddom, src, NULL, NULL, &error);
    g_assert_no_error(error);
    tree = tree_of(src);
    g_assert_cmpstr(tree, ==, "s1<- s2<s1 s3<s2*");
    mt_log_assert_empty();
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    mt_log_init();
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        g_test_add_data_func(cases[i].path, &cases[i], run_case);
    g_test_add_func("/migrate-snapshots/revert-and-back", test_revert_and_back);
    return g_test_run();
}
