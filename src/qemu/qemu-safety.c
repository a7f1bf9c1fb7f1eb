/*
 * qemu-safety.c: the facts the migration safety rules ask of the QEMU
 * driver (migration-backend.h: disk_storage, block_jobs); the rules
 * themselves are the engine's (src/migration/migration-source-safety.c).
 *
 * Shared storage: a disk's image is seen by the other hosts when its file
 * system is a network or cluster one (NFS, SMB/CIFS, CephFS, GFS2, OCFS2,
 * Lustre, GPFS, AFS -- statfs(2) says), or when the administrator lists
 * its directory in shared_storage_dirs (a mount ferry cannot recognise,
 * a SAN's block devices).  Anything else -- ext4, xfs, tmpfs, a local
 * block device, a FUSE mount -- is taken as this host's own.
 *
 * Owns: those two answers.  Must not: refuse anything itself.
 */
#include "ferry-config.h"

#include <string.h>
#include <sys/vfs.h>

#include "qemu/qemu-migration.h"
#include "qemu/qemu-process.h"
#include "util/confine.h"
#include "util/json-util.h"

static const struct {
    unsigned long magic;
    const char *name;
    gboolean shared;
} file_systems[] = {
    { 0x6969, "nfs", TRUE },
    { 0x517B, "smb", TRUE },
    { 0xFE534D42, "smb2", TRUE },
    { 0xFF534D42, "cifs", TRUE },
    { 0x00C36400, "ceph", TRUE },
    { 0x01161970, "gfs2", TRUE },
    { 0x7461636F, "ocfs2", TRUE },
    { 0x0BD00BD0, "lustre", TRUE },
    { 0x47504653, "gpfs", TRUE },
    { 0x5346414F, "afs", TRUE },
    { 0x6B414653, "afs", TRUE },
    { 0xEF53, "ext2/3/4", FALSE },
    { 0x58465342, "xfs", FALSE },
    { 0x9123683E, "btrfs", FALSE },
    { 0x01021994, "tmpfs", FALSE },
    { 0x794C7630, "overlayfs", FALSE },
    { 0x2FC12FC1, "zfs", FALSE },
    { 0x65735546, "fuse", FALSE },
};

gboolean
qemu_safety_disk_storage(gpointer self, const ferry_disk_def *disk, char **ret_where)
{
    qemu_driver_state *state = self;
    const char *const *shared = (const char *const *)state->config.shared_storage_dirs;
    struct statfs fs;

    if (shared && ferry_confine_path(disk->source, "disk", shared, "shared_storage_dirs", NULL)) {
        *ret_where = g_strdup("a directory of shared_storage_dirs");
        return TRUE;
    }
    if (disk->type == FERRY_DISK_TYPE_BLOCK) {
        *ret_where = g_strdup("a block device not in shared_storage_dirs");
        return FALSE;
    }
    if (statfs(disk->source, &fs) < 0) {
        /* A missing image: the destination cannot open it either, and its
         * Prepare says so by name; nothing to add here. */
        *ret_where = g_strdup_printf("cannot tell: %s", g_strerror(errno));
        return TRUE;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(file_systems); i++) {
        if ((unsigned long)fs.f_type == file_systems[i].magic) {
            *ret_where = g_strdup_printf("%s, not in shared_storage_dirs", file_systems[i].name);
            return file_systems[i].shared;
        }
    }
    *ret_where = g_strdup_printf("file system type 0x%lx, not in shared_storage_dirs",
                                 (unsigned long)fs.f_type);
    return FALSE;
}

gboolean
qemu_safety_block_jobs(ferry_mig_job *job, GPtrArray **ret_jobs, GError **error)
{
    g_autoptr(json_object) jobs = qemu_process_command(job->obj, "query-block-jobs", NULL, error);
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

    if (!jobs)
        return FALSE;
    for (size_t i = 0; i < json_object_array_length(jobs); i++) {
        json_object *j = json_object_array_get_idx(jobs, i);
        json_object *type = NULL, *device = NULL;

        json_object_object_get_ex(j, "type", &type);
        json_object_object_get_ex(j, "device", &device);
        g_ptr_array_add(out, g_strdup_printf("%s block job '%s'",
                                             type ? json_object_get_string(type) : "?",
                                             device ? json_object_get_string(device) : "?"));
    }
    *ret_jobs = g_steal_pointer(&out);
    return TRUE;
}
