/*
 * test-migrate-safety.c: the migration safety rules and FERRY_MIGRATE_FORCE
 * between two in-process test hosts (src/migration/migration-source-safety.c).
 *
 * The test driver reports the facts the rules need from its URI: disks
 * whose source starts with local_storage= are on storage only that host
 * sees; block_job=vdb says a block job runs on vdb (a host device is in
 * the XML: the test driver keeps it).  Each rule is run
 * without FORCE (refused with its own error code, naming the disk, and
 * nothing moves) and with it (the guest moves, the source's log says what
 * was overridden), over v3 and v2 (whose Perform is the first phase).
 */
#include "ferry-config.h"

#include <ferry/ferry.h>
#include <string.h>

#include "migrate-test-util.h"

#define DST_UUID "5e0c9a54-7a43-4f2b-8d35-0a2b7c6f9e11"
#define LOCAL "local_storage=/var/lib/ferry/images/web1-vdb"
#define IMAGES "/var/lib/ferry/images/"

typedef struct {
    const char *path;
    const char *src_params;
    const char *xml_edit_from;  /* a text of mt_web1_disks_xml to replace, or NULL */
    const char *xml_edit_to;
    const char *dst_migration;  /* the destination's protocol (URI migration=), or NULL */
    guint flags;
    /* What must happen: */
    int error_code;             /* 0: the guest moves */
    const char *text;           /* in the error (refused) or the source's log (forced) */
    const char *text2;          /* a second one, or NULL */
} safety_case;

static char *
domain_xml(const safety_case *c)
{
    g_autofree char *xml = g_strdup(mt_web1_disks_xml);
    const char *at;
    GString *out;

    if (!c->xml_edit_from)
        return g_steal_pointer(&xml);
    at = strstr(xml, c->xml_edit_from);
    g_assert_nonnull(at);
    out = g_string_new_len(xml, at - xml);
    g_string_append(out, c->xml_edit_to);
    g_string_append(out, at + strlen(c->xml_edit_from));
    return g_string_free(out, FALSE);
}

static void
run_case(gconstpointer data)
{
    const safety_case *c = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *dst_params = g_strdup_printf("host_uuid=%s%s%s", DST_UUID,
                                                  c->dst_migration ? "&migration=" : "",
                                                  c->dst_migration ? c->dst_migration : "");
    g_autoptr(ferry_conn) src = mt_open_test_host("src", c->src_params);
    g_autoptr(ferry_conn) dst = mt_open_test_host("dst", dst_params);
    g_autofree char *xml = domain_xml(c);
    g_autoptr(ferry_domain) dom = mt_domain_start(src, xml);
    g_autoptr(ferry_domain) ddom = NULL;
    ferry_migrate_params params = { .flags = c->flags };

    ddom = ferry_domain_migrate(dom, dst, &params, NULL, &error);
    if (c->error_code) {
        g_assert_null(ddom);
        g_assert_error(error, FERRY_ERROR, c->error_code);
        if (!strstr(error->message, c->text))
            g_error("error '%s' lacks '%s'", error->message, c->text);
        if (c->text2 && !strstr(error->message, c->text2))
            g_error("error '%s' lacks '%s'", error->message, c->text2);
        /* Refused before anything moved: the guest runs on the source
         * only, and the destination has nothing. */
        mt_assert_state(src, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_BOOTED);
        g_assert_cmpuint(mt_count_domains(dst), ==, 0);
    } else {
        g_assert_no_error(error);
        g_assert_nonnull(ddom);
        mt_assert_state(dst, "web1", FERRY_DOMAIN_RUNNING, FERRY_RUNNING_MIGRATED);
        if (c->text)
            g_assert_cmpuint(mt_log_take(c->text), ==, 1);
        if (c->text2)
            g_assert_cmpuint(mt_log_take(c->text2), ==, 1);
    }
    mt_log_assert_empty();
}

#define HOSTDEV                                                             \
    "    <hostdev mode='subsystem' type='pci' managed='yes'>\n"             \
    "      <source><address domain='0x0000' bus='0x65' slot='0x00' function='0x0'/></source>\n" \
    "    </hostdev>\n"

#define UNSAFE_CACHE_FROM "type='qcow2'/>\n      <source file='" IMAGES "web1-vda"
#define UNSAFE_CACHE_TO "type='qcow2' cache='unsafe'/>\n      <source file='" IMAGES "web1-vda"

static const safety_case cases[] = {
    /* Shared storage (the test driver's default), no job: nothing to say. */
    { "/safety/none", .src_params = NULL },
    /* vdb on this host's own storage, not copied. */
    { "/safety/local-storage/refused", LOCAL, .error_code = FERRY_ERROR_MIGRATE_UNSAFE,
      .text = "disk 'vdb' (" IMAGES "web1-vdb.qcow2) is on storage only this host sees",
      .text2 = "1 problem; FERRY_MIGRATE_FORCE" },
    { "/safety/local-storage/forced", LOCAL, .flags = FERRY_MIGRATE_FORCE,
      .text = "forced despite: disk 'vdb'" },
    { "/safety/local-storage/v2-refused", LOCAL, .dst_migration = "v2",
      .error_code = FERRY_ERROR_MIGRATE_UNSAFE, .text = "disk 'vdb'" },
    { "/safety/local-storage/v2-forced", LOCAL, .dst_migration = "v2",
      .flags = FERRY_MIGRATE_FORCE, .text = "forced despite: disk 'vdb'" },
    /* A read-only disk on local storage is nothing the guest writes. */
    { "/safety/local-storage/read-only-vdc", .src_params = "local_storage=" IMAGES "web1-vdc" },
    /* Cache mode 'unsafe' on shared storage. */
    { "/safety/cache-unsafe/refused", NULL, UNSAFE_CACHE_FROM, UNSAFE_CACHE_TO,
      .error_code = FERRY_ERROR_MIGRATE_UNSAFE,
      .text = "disk 'vda' (" IMAGES "web1-vda.qcow2) has cache mode 'unsafe'" },
    { "/safety/cache-unsafe/forced", NULL, UNSAFE_CACHE_FROM, UNSAFE_CACHE_TO,
      .flags = FERRY_MIGRATE_FORCE, .text = "forced despite: disk 'vda'" },
    /* A block job. */
    { "/safety/block-job/refused", "block_job=vdb", .error_code = FERRY_ERROR_MIGRATE_BLOCK_JOB,
      .text = "a commit block job on disk 'vdb' is running, and QEMU does not move block jobs" },
    { "/safety/block-job/forced", "block_job=vdb", .flags = FERRY_MIGRATE_FORCE,
      .text = "forced despite: a commit block job on disk 'vdb'" },
    /* A host device: never, FORCE or not, and before the other rules. */
    { "/safety/hostdev/refused", LOCAL, "  </devices>", HOSTDEV "  </devices>",
      .error_code = FERRY_ERROR_MIGRATE_HOSTDEV,
      .text = "domain 'web1' cannot migrate: pci host device 0000:65:00.0 is assigned to it" },
    { "/safety/hostdev/forced", NULL, "  </devices>", HOSTDEV "  </devices>",
      .flags = FERRY_MIGRATE_FORCE, .error_code = FERRY_ERROR_MIGRATE_HOSTDEV,
      .text = "not even FERRY_MIGRATE_FORCE moves it" },
    { "/safety/hostdev/v2-forced", NULL, "  </devices>", HOSTDEV "  </devices>",
      .dst_migration = "v2", .flags = FERRY_MIGRATE_FORCE,
      .error_code = FERRY_ERROR_MIGRATE_HOSTDEV, .text = "pci host device 0000:65:00.0" },
    /* Two rules at once: both named, the first one's code. */
    { "/safety/two-problems/refused", LOCAL "&block_job=vda",
      .error_code = FERRY_ERROR_MIGRATE_UNSAFE, .text = "(2 problems;",
      .text2 = "; a commit block job on disk 'vda'" },
    { "/safety/two-problems/forced", LOCAL "&block_job=vda", .flags = FERRY_MIGRATE_FORCE,
      .text = "forced despite: disk 'vdb'", .text2 = "forced despite: a commit block job" },
};

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    mt_log_init();
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        g_test_add_data_func(cases[i].path, &cases[i], run_case);
    return g_test_run();
}
