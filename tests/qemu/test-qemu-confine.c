/*
 * test-qemu-confine.c: which paths of a definition or a cookie the QEMU
 * driver holds against storage_dirs and file_dirs (src/qemu/qemu-confine.c).
 *
 * Data-driven, with golden files (see golden.h):
 *  - tests/data/confine-domain/<case>.xml: domain XML a confined caller
 *    sends (a define over TCP, Prepare's XML); qemu_confine_def();
 *  - tests/data/confine-cookie/<case>.xml: a migration cookie arriving at
 *    Prepare from a confined caller, its <persistent> definition standing
 *    in for Prepare's XML too; qemu_confine_incoming().
 * A case is accepted (<case>.out.xml: the document formatted) or refused
 * with FERRY_ERROR_INVALID_ARG and the message in <case>.err.
 *
 * The directories do not exist: a path that does not exist is resolved as
 * written (tests/util/test-confine.c covers symlinks on a real tree).  The
 * rest checks what a trusted caller may still not do.
 */
#include "ferry-config.h"

#include <ferry/ferry.h>

#include "../conf/golden.h"
#include "qemu/qemu-confine.h"

static char *storage_dirs[] = { (char *)"/srv/ferry-test/images",
                                (char *)"/srv/ferry-test/base", NULL };
static char *file_dirs[] = { (char *)"/srv/ferry-test/files", NULL };

static const ferry_qemu_config config = {
    .hostname = (char *)"host-b",
    .storage_dirs = storage_dirs,
    .file_dirs = file_dirs,
};

static char *
confine_domain(const char *input, const char *source, GError **error)
{
    g_autoptr(ferry_domain_def) def = ferry_domain_def_parse_string(input, source, 0, error);

    if (!def || !qemu_confine_def(&config, def, error))
        return NULL;
    return ferry_domain_def_format(def);
}

static char *
confine_cookie(const char *input, const char *source, GError **error)
{
    g_autoptr(ferry_migration_cookie) cookie = ferry_migration_cookie_parse(input, "Prepare",
                                                                            error);

    if (!cookie || !qemu_confine_incoming(&config, cookie->persistent, cookie, TRUE, error))
        return NULL;
    return ferry_migration_cookie_format(cookie);
}

static ferry_migration_cookie *
cookie_from_case(const char *name)
{
    g_autofree char *dir = golden_data_dir("confine-cookie");
    g_autofree char *file = g_strconcat(name, ".xml", NULL);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autofree char *text = golden_read(path);
    g_autoptr(GError) error = NULL;
    ferry_migration_cookie *cookie = ferry_migration_cookie_parse(text, "Prepare", &error);

    g_assert_no_error(error);
    return cookie;
}

/* A trusted caller's definitions name what they like; the backing file and
 * the images of a storage copy stay in storage_dirs for everyone. */
static void
test_trusted(void)
{
    g_autoptr(ferry_migration_cookie) kernel = cookie_from_case("persistent-kernel-outside");
    g_autoptr(ferry_migration_cookie) backing = cookie_from_case("backing-outside");
    g_autoptr(ferry_migration_cookie) image = cookie_from_case("storage-disk-outside");
    g_autoptr(GError) error = NULL;

    g_assert_true(qemu_confine_incoming(&config, kernel->persistent, kernel, FALSE, &error));
    g_assert_no_error(error);

    g_assert_false(qemu_confine_incoming(&config, NULL, backing, FALSE, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "disk 'vda': backing file '/etc/shadow' is outside "
                    "storage_dirs (/srv/ferry-test/images:/srv/ferry-test/base)");
    g_clear_error(&error);

    g_assert_false(qemu_confine_incoming(&config, image->persistent, image, FALSE, &error));
    g_assert_error(error, FERRY_ERROR, FERRY_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "domain 'web1': disk 'vda': image "
                    "'/var/lib/other/web1.qcow2' is outside storage_dirs "
                    "(/srv/ferry-test/images:/srv/ferry-test/base)");
}

/* Only the disks the cookie lists are copied in: another disk of a trusted
 * caller's definition may lie anywhere. */
static void
test_storage_disk_not_listed(void)
{
    g_autoptr(ferry_migration_cookie) cookie = cookie_from_case("storage-disk-outside");
    ferry_cookie_disk other = { .target = (char *)"vdb", .format = (char *)"raw",
                                .capacity = 1 };
    g_autoptr(GError) error = NULL;

    g_assert_true(qemu_confine_storage_disk(&config, cookie->persistent, &other, &error));
    g_assert_no_error(error);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    golden_add_cases_with_code("confine-domain", confine_domain, FERRY_ERROR_INVALID_ARG);
    golden_add_cases_with_code("confine-cookie", confine_cookie, FERRY_ERROR_INVALID_ARG);
    g_test_add_func("/qemu-confine/trusted", test_trusted);
    g_test_add_func("/qemu-confine/storage-disk-not-listed", test_storage_disk_not_listed);
    return g_test_run();
}
