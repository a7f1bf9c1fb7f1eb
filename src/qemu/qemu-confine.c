/*
 * qemu-confine.c: domain definitions and cookies held against storage_dirs
 * and file_dirs (see qemu-confine.h).
 *
 * Owns: the list of the paths a definition or a cookie holds and the
 * setting each one belongs to.  Must not: touch the files, or know who the
 * caller is beyond the one flag it is given.
 */
#include "ferry-config.h"

#include "qemu/qemu-confine.h"
#include "util/confine.h"

/* @path of domain @name, described by @what, inside @dirs (named @setting). */
static gboolean
confine(const char *path, const char *name, const char *what, char **dirs,
        const char *setting, GError **error)
{
    g_autofree char *described = name ? g_strdup_printf("domain '%s': %s", name, what)
                                      : g_strdup(what);

    return ferry_confine_path(path, described, (const char *const *)dirs, setting, error);
}

gboolean
qemu_confine_def(const ferry_qemu_config *config, const ferry_domain_def *def,
                 GError **error)
{
    for (guint i = 0; i < def->disks->len; i++) {
        const ferry_disk_def *disk = g_ptr_array_index(def->disks, i);
        g_autofree char *what = g_strdup_printf("disk '%s': image", disk->target);

        if (!confine(disk->source, def->name, what, config->storage_dirs, "storage_dirs",
                     error))
            return FALSE;
    }
    return (!def->kernel || confine(def->kernel, def->name, "kernel", config->file_dirs,
                                    "file_dirs", error)) &&
           (!def->initrd || confine(def->initrd, def->name, "initrd", config->file_dirs,
                                    "file_dirs", error)) &&
           (!def->serial_log || confine(def->serial_log, def->name, "serial log",
                                        config->file_dirs, "file_dirs", error));
}

gboolean
qemu_confine_storage_disk(const ferry_qemu_config *config, const ferry_domain_def *def,
                          const ferry_cookie_disk *disk, GError **error)
{
    const ferry_disk_def *mine = def ? ferry_domain_def_find_disk(def, disk->target) : NULL;
    const char *name = def ? def->name : NULL;
    g_autofree char *image = g_strdup_printf("disk '%s': image", disk->target);
    g_autofree char *backing = g_strdup_printf("disk '%s': backing file", disk->target);

    return (!mine || confine(mine->source, name, image, config->storage_dirs, "storage_dirs",
                             error)) &&
           (!disk->backing || confine(disk->backing, name, backing, config->storage_dirs,
                                      "storage_dirs", error));
}

gboolean
qemu_confine_incoming(const ferry_qemu_config *config, const ferry_domain_def *def,
                      const ferry_migration_cookie *cookie, gboolean confined,
                      GError **error)
{
    for (guint i = 0; cookie && i < cookie->disks->len; i++) {
        if (!qemu_confine_storage_disk(config, def, g_ptr_array_index(cookie->disks, i),
                                       error))
            return FALSE;
    }
    if (!confined)
        return TRUE;
    return (!def || qemu_confine_def(config, def, error)) &&
           (!cookie || !cookie->persistent ||
            qemu_confine_def(config, cookie->persistent, error));
}
