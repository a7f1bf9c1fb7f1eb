/*
 * migration-source-safety.c: the rules that refuse a migration which
 * would lose or corrupt the guest's data, checked on the source before
 * anything moves (Begin of v3, the first Perform of v2 and v1).
 *
 * Why here and not in a driver: the rules are the same whatever runs the
 * guest; a driver only reports facts (migration-backend.h: disk_storage,
 * block_jobs).  After libvirt's qemuMigrationSrcIsAllowed/IsSafe:
 *  - host devices: refused always, FERRY_MIGRATE_FORCE or not; the device
 *    is not on the other host, and QEMU cannot move its state.
 *  - a writable disk that is not copied and not on storage the
 *    destination sees (a local file system): the destination would run
 *    the guest on another image, or none.  FERRY_ERROR_MIGRATE_UNSAFE.
 *  - a disk that is not copied, with cache mode 'unsafe': QEMU ignores
 *    the guest's flushes, so what the guest wrote may be only in this
 *    host's page cache when the destination opens the image.  Other cache
 *    modes are safe on shared storage: QEMU (since 4.0) drops the page
 *    cache of an image it activates after a migration.
 *  - a block job running: QEMU does not move it; FERRY_ERROR_MIGRATE_BLOCK_JOB.
 *  - snapshots that cannot follow the domain (migration-snapshots.c): a
 *    storage migration copies what the guest sees, not the internal
 *    snapshots inside the qcow2 images; v2 and v1 have no Begin to offer
 *    them in; and a destination whose Prepare did not take them (checked
 *    at Perform).  FERRY_ERROR_MIGRATE_SNAPSHOTS.  Forced, the snapshots
 *    stay on the source and the caller's statistics say which.
 * FERRY_MIGRATE_FORCE overrides all but the first; the source's log says
 * what it overrode.
 *
 * Owns: ferry_mig_src_check_safety().  Must not: change the domain or
 * start anything: a refusal leaves everything as it was.
 */
#include "ferry-config.h"

#include <string.h>

#include "migration/migration-source-private.h"

typedef struct {
    int code;
    gboolean forceable;
    char *text;
    const char *left_why;     /* snapshots: why they stay here, if forced */
} finding;

static void
finding_free(finding *f)
{
    g_free(f->text);
    g_free(f);
}

static void G_GNUC_PRINTF(4, 5)
add(GPtrArray *found, int code, gboolean forceable, const char *format, ...)
{
    finding *f = g_new0(finding, 1);
    va_list ap;

    va_start(ap, format);
    f->text = g_strdup_vprintf(format, ap);
    va_end(ap);
    f->code = code;
    f->forceable = forceable;
    g_ptr_array_add(found, f);
}

/* By default, every disk only this guest writes to on this host: not a
 * read-only one (a cdrom's medium is read-only too), not a shareable one
 * (its other users see the same storage from wherever they run), not a
 * network disk (it is on its server already), not a drive with no medium. */
gboolean
ferry_mig_disk_selected(const ferry_migrate_params *params, const ferry_disk_def *disk)
{
    if (params->migrate_disks)
        return g_strv_contains((const char *const *)params->migrate_disks, disk->target);
    return !disk->readonly && !disk->shareable && disk->source &&
           disk->type != FERRY_DISK_TYPE_NETWORK;
}

static void
check_disks(ferry_mig_job *job, const ferry_domain_def *def, GPtrArray *found)
{
    const ferry_mig_backend *backend = backend_of(job);
    const ferry_migrate_params *p = &job->params->p;

    for (guint i = 0; i < def->disks->len; i++) {
        const ferry_disk_def *disk = g_ptr_array_index(def->disks, i);
        g_autofree char *where = NULL;

        /* Nothing the guest writes, or nothing of this host's: a drive
         * without medium, a read-only image, a network disk (on its
         * server already). */
        if (!disk->source || disk->readonly || disk->type == FERRY_DISK_TYPE_NETWORK ||
            ((p->flags & NON_SHARED) && ferry_mig_disk_selected(p, disk)))
            continue;
        /* shareable: the definition says other hosts use the image too. */
        if (!disk->shareable && backend->disk_storage &&
            !backend->disk_storage(engine_of(job)->backend_self, disk, &where)) {
            add(found, FERRY_ERROR_MIGRATE_UNSAFE, TRUE,
                "disk '%s' (%s) is on storage only this host sees (%s) and is not copied: "
                "the destination would run the guest on another image; copy it "
                "(--copy-storage-all), or put it on shared storage",
                disk->target, disk->source, where ? where : "local");
            continue;
        }
        if (g_strcmp0(disk->cache, "unsafe") == 0)
            add(found, FERRY_ERROR_MIGRATE_UNSAFE, TRUE,
                "disk '%s' (%s) has cache mode 'unsafe', which ignores the guest's flushes: "
                "what the guest wrote may not have reached the image when the destination "
                "opens it", disk->target, disk->source);
    }
}

/* The rules' verdict on what was found: the first rule FORCE cannot
 * override, else all the others unless FORCE. */
static gboolean
verdict(ferry_mig_job *job, GPtrArray *found, GError **error)
{
    gboolean force = (job->params->p.flags & FERRY_MIGRATE_FORCE) != 0;
    g_autoptr(GString) text = NULL;
    const finding *first = NULL;
    guint n = 0;

    for (guint i = 0; i < found->len; i++) {
        const finding *f = g_ptr_array_index(found, i);

        if (!f->forceable) {
            g_set_error(error, FERRY_ERROR, f->code, "domain '%s' cannot migrate: %s",
                        job->dom_name, f->text);
            return FALSE;
        }
    }
    for (guint i = 0; i < found->len; i++) {
        const finding *f = g_ptr_array_index(found, i);

        if (force) {
            g_warning("domain '%s': migration %s forced despite: %s", job->dom_name, job->id,
                      f->text);
            continue;
        }
        if (!first) {
            first = f;
            text = g_string_new(f->text);
        } else {
            g_string_append_printf(text, "; %s", f->text);
        }
        n++;
    }
    if (!first) {
        /* Forced (or nothing found): what stays behind is said once more,
         * for the caller's statistics. */
        for (guint i = 0; i < found->len; i++) {
            const finding *f = g_ptr_array_index(found, i);

            if (f->left_why)
                ferry_mig_snap_leave(job, f->left_why);
        }
        return TRUE;
    }
    g_set_error(error, FERRY_ERROR, first->code,
                "domain '%s': migration refused as unsafe (%u %s; FERRY_MIGRATE_FORCE, "
                "ferry migrate --force, migrates anyway): %s", job->dom_name, n,
                n == 1 ? "problem" : "problems", text->str);
    return FALSE;
}

/* The snapshot rule: @problem says why they cannot follow, @why the same
 * for the note of what stayed behind. */
static void
add_snapshots(ferry_mig_job *job, GPtrArray *found, const char *problem, const char *why)
{
    g_autofree char *names = NULL;
    guint n;
    finding *f;

    g_mutex_lock(&job->lock);
    n = ctl_of(job)->snap_names ? ctl_of(job)->snap_names->len : 0;
    if (n)
        names = ferry_mig_snap_names_text(ctl_of(job)->snap_names);
    g_mutex_unlock(&job->lock);
    if (!n)
        return;
    add(found, FERRY_ERROR_MIGRATE_SNAPSHOTS, TRUE,
        "its %s %s %s: they would stay on host '%s' only (--force migrates without them)",
        n == 1 ? "snapshot" : "snapshots", names, problem, engine_of(job)->hostname);
    f = g_ptr_array_index(found, found->len - 1);
    f->left_why = why;
}

#define WHY_STORAGE "a storage migration does not copy the internal snapshots of the qcow2 images"

gboolean
ferry_mig_src_check_snapshots_taken(ferry_mig_job *job, const ferry_migration_cookie *prepared,
                                    GError **error)
{
    g_autoptr(GPtrArray) found = NULL;
    g_autofree char *problem = NULL;
    const char *dest;

    if (ferry_mig_snap_taken(job, prepared))
        return TRUE;
    found = g_ptr_array_new_with_free_func((GDestroyNotify)finding_free);
    dest = prepared && prepared->hostname ? prepared->hostname : "?";
    problem = g_strdup_printf("cannot follow it: the destination, host '%s', did not take "
                              "them (its daemon keeps no snapshot metadata)", dest);
    add_snapshots(job, found, problem, "the destination did not take them");
    return verdict(job, found, error);
}

gboolean
ferry_mig_src_check_safety(ferry_mig_job *job, GError **error)
{
    const ferry_mig_backend *backend = backend_of(job);
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func((GDestroyNotify)finding_free);
    g_autoptr(ferry_domain_def) def = NULL;

    g_mutex_lock(&job->obj->lock);
    def = ferry_domain_def_copy(job->obj->live ? job->obj->live : job->obj->def);
    g_mutex_unlock(&job->obj->lock);
    if (!def)
        return TRUE;

    /* Nothing of a host device moves with the guest: not the device, not
     * its state (QEMU refuses to migrate vfio devices, and a USB device
     * stays plugged into this host).  Offline too: the definition would
     * name a device the other host may not have. */
    for (guint i = 0; def->hostdevs && i < def->hostdevs->len; i++) {
        g_autofree char *what = ferry_hostdev_describe(g_ptr_array_index(def->hostdevs, i));

        add(found, FERRY_ERROR_MIGRATE_HOSTDEV, FALSE,
            "%s is assigned to it, and a host device stays with its host (not even "
            "FERRY_MIGRATE_FORCE moves it): detach it first", what);
    }
    /* The snapshots follow the domain in Begin's cookie, if they can. */
    ferry_mig_snap_collect(job);
    if (job->params->p.flags & NON_SHARED)
        add_snapshots(job, found, "are inside its qcow2 images, and a storage migration "
                      "copies what the guest sees, not the images' internal snapshots",
                      WHY_STORAGE);
    else if (job->protocol < 3) {
        g_autofree char *problem = g_strdup_printf("cannot follow it over migration protocol "
                                                   "v%d (only v3 carries them)", job->protocol);

        add_snapshots(job, found, problem, "only migration protocol v3 carries them");
    }
    /* Offline: only the definition moves; no running disk, no job. */
    if (!(job->params->p.flags & FERRY_MIGRATE_OFFLINE)) {
        check_disks(job, def, found);
        if (backend->block_jobs) {
            g_autoptr(GPtrArray) jobs = NULL;

            if (!backend->block_jobs(job, &jobs, error))
                return FALSE;
            for (guint i = 0; jobs && i < jobs->len; i++)
                add(found, FERRY_ERROR_MIGRATE_BLOCK_JOB, TRUE,
                    "a %s is running, and QEMU does not move block jobs: wait for it or "
                    "abort it", (const char *)g_ptr_array_index(jobs, i));
        }
    }
    return verdict(job, found, error);
}
