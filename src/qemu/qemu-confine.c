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

/* A disk's path, by what it is: an image, a device node or a medium, all
 * in storage_dirs.  A network disk names none, nor does an empty drive. */
static gboolean
confine_disk(const ferry_qemu_config *config, const ferry_domain_def *def,
             const ferry_disk_def *disk, GError **error)
{
    g_autofree char *what = NULL;

    if (disk->type == FERRY_DISK_TYPE_NETWORK || !disk->source)
        return TRUE;
    what = g_strdup_printf("disk '%s': %s", disk->target,
                           disk->type == FERRY_DISK_TYPE_BLOCK ? "block device"
                           : disk->device == FERRY_DISK_DEVICE_DISK ? "image" : "medium");
    return confine(disk->source, def->name, what, config->storage_dirs, "storage_dirs",
                   error);
}

/* A chardev's file or unix socket, in file_dirs (a pty, TCP or null one
 * names no path of this host). */
static gboolean
confine_chr(const ferry_qemu_config *config, const ferry_domain_def *def,
            const ferry_chr_def *chr, GError **error)
{
    g_autofree char *what = NULL;

    if (!chr->source.path ||
        (chr->source.type != FERRY_CHR_FILE && chr->source.type != FERRY_CHR_UNIX))
        return TRUE;
    if (chr->device == FERRY_CHR_DEVICE_CHANNEL)
        what = g_strdup_printf("channel '%s': %s",
                               chr->target_name ? chr->target_name : "(unnamed)",
                               chr->source.type == FERRY_CHR_FILE ? "file" : "socket");
    else
        what = g_strdup_printf("%s %u: %s",
                               chr->device == FERRY_CHR_DEVICE_SERIAL ? "serial" : "console",
                               chr->target_port,
                               chr->source.type == FERRY_CHR_FILE ? "file" : "socket");
    return confine(chr->source.path, def->name, what, config->file_dirs, "file_dirs", error);
}

gboolean
qemu_confine_def(const ferry_qemu_config *config, const ferry_domain_def *def,
                 GError **error)
{
    /* Each setting names its own paths; the firmware files go with the
     * kernel (file_dirs), which QEMU reads the same way. */
    const struct {
        const char *path;
        const char *what;
    } files[] = {
        { def->kernel, "kernel" },
        { def->initrd, "initrd" },
        { def->serial_log, "serial log" },
        { def->dtb, "device tree" },
        { def->loader, "loader" },
        { def->nvram, "nvram" },
        { def->nvram_template, "nvram template" },
    };

    for (guint i = 0; i < def->disks->len; i++) {
        if (!confine_disk(config, def, g_ptr_array_index(def->disks, i), error))
            return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        if (files[i].path && !confine(files[i].path, def->name, files[i].what,
                                      config->file_dirs, "file_dirs", error))
            return FALSE;
    }
    for (guint i = 0; def->chardevs && i < def->chardevs->len; i++) {
        if (!confine_chr(config, def, g_ptr_array_index(def->chardevs, i), error))
            return FALSE;
    }
    return TRUE;
}

gboolean
qemu_confine_storage_disk(const ferry_qemu_config *config, const ferry_domain_def *def,
                          const ferry_cookie_disk *disk, GError **error)
{
    const ferry_disk_def *mine = def ? ferry_domain_def_find_disk(def, disk->target) : NULL;
    const char *name = def ? def->name : NULL;
    g_autofree char *image = g_strdup_printf("disk '%s': image", disk->target);
    g_autofree char *backing = g_strdup_printf("disk '%s': backing file", disk->target);

    return (!mine || !mine->source ||
            confine(mine->source, name, image, config->storage_dirs, "storage_dirs", error)) &&
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
